"""docs/compat.md is current: regenerate it with `python docs/compat.py` when this fails."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "compat.py"


def _compat():
    spec = importlib.util.spec_from_file_location("compat_doc", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_chainrule_column_is_current():
    compat = _compat()
    documented = compat.parse(compat.DOC_PATH.read_text())
    assert list(documented) == compat.NAMESPACES
    stale = [
        f"{namespace}.{name}"
        for namespace, found in documented.items()
        for name, has in found.items()
        if compat.chainrule_has(namespace, name) != has
    ]
    assert not stale, f"docs/compat.md is stale for {stale[:10]}...; run python docs/compat.py"
    assert compat.DOC_PATH.read_text() == compat.render(compat.names_in_doc())


def test_pytorch_names_are_current():
    pytest.importorskip("torch")
    compat = _compat()
    assert compat.names_in_doc() == compat.torch_public_names(), "run python docs/compat.py"


def test_the_check_runs_in_a_fresh_interpreter():
    # What dir() shows of torch.nn or chainrule.utils depends on the submodules imported
    # before; the suite's own imports must not decide whether the doc is current.
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True,
                            text=True, timeout=600, cwd=SCRIPT.parents[1])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_staleness_check_notices_a_new_name(monkeypatch):
    compat = _compat()
    monkeypatch.setattr(compat, "chainrule_has", lambda namespace, name: name == "zeros")
    assert compat.DOC_PATH.read_text() != compat.render(compat.names_in_doc())
