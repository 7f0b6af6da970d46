"""Submodules reachable as attributes after ``import chainrule`` (PEP 562), imported on first
use, so ``import chainrule`` does not pay for the workflow and insight packages.

Checked in a fresh interpreter: in the test process, other tests have imported the submodules
already, and an imported submodule is an attribute of its package whatever chainrule does."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import chainrule

REPO = Path(__file__).resolve().parent.parent
LAZY = ("data", "datasets", "diagnostics", "fairness", "interpret", "train")
ATTRIBUTES = (
    "diagnostics.GradientFlowMonitor",
    "interpret.integrated_gradients",
    "fairness.group_metrics",
    "data.check",
    "datasets.load",
    "train.Trainer",
    "learning.apply_rule",
    "onnx.export",
    "distributed.all_reduce",
    "utils.data.DataLoader",
)
SCRIPT = f"""
import json, sys
import chainrule
imported_up_front = [name for name in {LAZY!r} if "chainrule." + name in sys.modules]
listed = [name for name in {LAZY!r} if name in dir(chainrule)]
missing = []
for path in {ATTRIBUTES!r}:
    value = chainrule
    try:
        for part in path.split("."):
            value = getattr(value, part)
    except AttributeError:
        missing.append(path)
print(json.dumps([imported_up_front, listed, missing]))
"""


def test_submodules_are_attributes_imported_on_first_use():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    imported_up_front, listed, missing = json.loads(result.stdout)
    assert imported_up_front == [], f"`import chainrule` imported {imported_up_front} up front"
    assert listed == list(LAZY), "dir(chainrule) should list every lazy submodule"
    assert missing == [], f"not reachable from `import chainrule`: {missing}"


def test_an_unknown_attribute_still_raises_attribute_error():
    with pytest.raises(AttributeError, match="module 'chainrule' has no attribute 'diagnostic'"):
        chainrule.diagnostic  # noqa: B018
    assert "nn" in dir(chainrule) and "diagnostic" not in dir(chainrule)
