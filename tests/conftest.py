"""Shared test setup: every test starts with chainrule's process-wide switches at their defaults
(recording on, float32 default dtype, numba kernels on where installed), whatever the test
before it did or failed to undo."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import chainrule
from chainrule.grad_mode import _GradMode


@pytest.fixture(autouse=True)
def _restore_global_switches() -> Iterator[None]:
    dtype = chainrule.get_default_dtype()
    recording = _GradMode.enabled
    numba_enabled = chainrule.backends.numba.enabled
    yield
    _GradMode.enabled = recording
    chainrule.set_default_dtype(dtype)
    chainrule.backends.numba.enabled = numba_enabled
