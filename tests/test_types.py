"""The package type-checks clean under mypy (settings in pyproject.toml's [tool.mypy]), so
Tensor's API and every signature stay visible to static tools and editors."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_clean() -> None:
    pytest.importorskip("mypy", reason="mypy is not installed (it comes with the [test] extra)")
    # mypy keeps an incremental cache in .mypy_cache: a cold run takes tens of seconds, later
    # ones a few.
    result = subprocess.run(
        [sys.executable, "-m", "mypy"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr
