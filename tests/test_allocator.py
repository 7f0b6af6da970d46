"""The allocator tuning chainrule applies at import (see chainrule/_allocator.py)."""

import platform
import sys

import pytest

from chainrule._allocator import tune_allocator


def test_thresholds_are_set_on_glibc_and_skipped_elsewhere():
    on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert tune_allocator() is on_glibc


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_freed_large_arrays_are_reused_after_tuning():
    np = pytest.importorskip("numpy")
    tune_allocator()
    first = np.empty(4 * 1024 * 1024 // 8)  # 4 MiB: above glibc's default mmap threshold
    address = first.__array_interface__["data"][0]
    del first
    second = np.empty(4 * 1024 * 1024 // 8)
    # With the default thresholds the block comes from a fresh mmap and is unmapped on free;
    # tuned, the heap block is handed back out for the same request.
    assert second.__array_interface__["data"][0] == address
