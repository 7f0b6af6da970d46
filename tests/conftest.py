"""Shared test setup: every test starts with chainrule's process-wide switches at their defaults
(recording on, float32 default dtype, numba kernels on where installed), whatever the test
before it did or failed to undo."""

from __future__ import annotations

import importlib.abc
import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import chainrule
from chainrule.grad_mode import _GradMode


class _NoTorch(importlib.abc.MetaPathFinder):
    """Makes ``import torch`` fail as when PyTorch is not installed. (Not sys.modules["torch"] =
    None: libraries such as SciPy look torch up there and would break on the None.)"""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by CHAINRULE_TEST_NO_TORCH=1)",
                                      name=name)


# CHAINRULE_TEST_NO_TORCH=1 runs the suite as on a machine without PyTorch: ``import torch``
# fails, so the oracle tests skip and what is left must judge correctness on its own.
if os.environ.get("CHAINRULE_TEST_NO_TORCH") == "1":
    if "torch" in sys.modules:  # (importing chainrule does not import torch)
        raise RuntimeError("CHAINRULE_TEST_NO_TORCH=1, but torch was imported before the tests' conftest")
    sys.meta_path.insert(0, _NoTorch())


@pytest.fixture(autouse=True)
def _restore_global_switches() -> Iterator[None]:
    dtype = chainrule.get_default_dtype()
    recording = _GradMode.enabled
    numba_enabled = chainrule.backends.numba.enabled
    yield
    _GradMode.enabled = recording
    chainrule.set_default_dtype(dtype)
    chainrule.backends.numba.enabled = numba_enabled
