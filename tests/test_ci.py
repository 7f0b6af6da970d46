"""The test harness's own switches (tests/conftest.py): CHAINRULE_TEST_WITHOUT_TORCH hides
PyTorch, and under CI=true a missing PyTorch fails the oracle tests instead of skipping them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# one PyTorch oracle test, quick to run
ORACLE_TEST = "tests/test_lr_scheduler.py::test_step_with_epoch_uses_the_closed_form_as_pytorch"


def _pytest(
    tmp_path: Path, *options: str, fake_missing_torch: bool = False, **env: str
) -> subprocess.CompletedProcess:
    paths = [str(ROOT)]
    if fake_missing_torch:  # a torch package that fails to import, as if PyTorch were absent
        (tmp_path / "torch").mkdir()
        (tmp_path / "torch" / "__init__.py").write_text(
            "raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n"
        )
        paths.insert(0, str(tmp_path))
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CI", "CHAINRULE_TEST_WITHOUT_TORCH", "PYTEST_ADDOPTS")
    }
    environment.update(PYTHONPATH=os.pathsep.join(paths), **env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider", *options, ORACLE_TEST],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_missing_pytorch_skips_the_oracle_outside_ci(tmp_path):
    result = _pytest(tmp_path, fake_missing_torch=True)
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout


# README's test line runs the suite under pytest-xdist: the skip becomes a failure in a
# worker, and the failure must reach the report the controller prints (one worker takes the
# same path as many, at half the start-up cost). "-p no:xdist" runs the suite without xdist.
@pytest.mark.parametrize("options", [("-p", "no:xdist"), ("-n", "1")], ids=["serial", "xdist"])
def test_a_missing_pytorch_fails_the_oracle_in_ci(tmp_path, options):
    if options[0] == "-n":
        pytest.importorskip("xdist")
    result = _pytest(tmp_path, *options, fake_missing_torch=True, CI="true")
    assert result.returncode == 1, result.stdout
    assert "1 failed" in result.stdout
    assert "CI=true needs PyTorch for the oracle tests" in result.stdout


def test_hiding_pytorch_skips_the_oracle_even_in_ci(tmp_path):
    result = _pytest(tmp_path, CI="true", CHAINRULE_TEST_WITHOUT_TORCH="1")
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout
    assert "hidden by CHAINRULE_TEST_WITHOUT_TORCH=1" in result.stdout
