"""Shared test setup.

- Every test starts with chainrule's process-wide switches at their defaults (recording on,
  float32 default dtype, numba kernels on where installed), whatever the test before it did or
  failed to undo.
- ``CHAINRULE_TEST_WITHOUT_TORCH=1`` makes ``import torch`` fail for the whole run, so the
  PyTorch oracle tests skip and what remains shows that correctness stands without PyTorch
  (the mutation check, ``python -m mutation``, runs the suite this way).
- ``CHAINRULE_TEST_WITHOUT_NUMBA=1`` switches the numba kernels off for every test that does
  not switch them on itself, so the NumPy paths are the ones tested (the mutation check uses it
  for bugs planted there).
- Under CI (``CI=true``) a PyTorch oracle test that would skip because PyTorch is missing fails
  instead: CI installs PyTorch, so a missing one means the oracle silently stopped judging.
  Hiding PyTorch on purpose with ``CHAINRULE_TEST_WITHOUT_TORCH=1`` keeps the skips.
"""

from __future__ import annotations

import importlib.abc
import os
import sys
from collections.abc import Iterator

import pytest

import chainrule
from chainrule.grad_mode import GRAD_MODE

TORCH_HIDDEN = os.environ.get("CHAINRULE_TEST_WITHOUT_TORCH", "") == "1"
NUMBA_OFF = os.environ.get("CHAINRULE_TEST_WITHOUT_NUMBA", "") == "1"
IN_CI = os.environ.get("CI", "").lower() == "true"


class _TorchBlocker(importlib.abc.MetaPathFinder):
    """A meta-path finder that refuses ``torch`` and its submodules, as if not installed."""

    def find_spec(self, name, path=None, target=None):  # noqa: ANN001, ANN201
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(
                f"No module named {name!r} (hidden by CHAINRULE_TEST_WITHOUT_TORCH=1)", name=name
            )
        return None


if TORCH_HIDDEN:
    if "torch" in sys.modules:
        raise RuntimeError("CHAINRULE_TEST_WITHOUT_TORCH=1 but torch was imported before the tests")
    sys.meta_path.insert(0, _TorchBlocker())
if NUMBA_OFF:
    chainrule.backends.numba.enabled = False  # each test starts from here (the fixture below)


def _missing_torch_reason(report: pytest.TestReport | pytest.CollectReport) -> str | None:
    """The skip reason when ``report`` is a skip by ``pytest.importorskip("torch")`` (or of a
    torch submodule), else None."""
    if not report.skipped or not isinstance(report.longrepr, tuple):
        return None
    reason = str(report.longrepr[2]).removeprefix("Skipped: ")
    return reason if reason.startswith("could not import 'torch") else None


def _fail_missing_torch_in_ci(report: pytest.TestReport | pytest.CollectReport) -> None:
    reason = _missing_torch_reason(report)
    if IN_CI and not TORCH_HIDDEN and reason is not None:
        report.outcome = "failed"
        report.longrepr = (
            f"CI=true needs PyTorch for the oracle tests, but {reason}; install it with "
            "`pip install torch==2.13.0` (or set CHAINRULE_TEST_WITHOUT_TORCH=1 to test without it)"
        )


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist's mark, named here too so a run without xdist (-p no:xdist) knows it.
    config.addinivalue_line(
        "markers", "xdist_group(name): under --dist loadgroup, run these tests in one worker"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    _fail_missing_torch_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield
    _fail_missing_torch_in_ci(outcome.get_result())


@pytest.fixture(autouse=True)
def _restore_global_switches() -> Iterator[None]:
    dtype = chainrule.get_default_dtype()
    recording = GRAD_MODE.enabled
    numba_enabled = chainrule.backends.numba.enabled
    yield
    GRAD_MODE.enabled = recording
    chainrule.set_default_dtype(dtype)
    chainrule.backends.numba.enabled = numba_enabled
