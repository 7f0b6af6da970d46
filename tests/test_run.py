"""`chainrule run script.py` and the import swap: PyTorch-style scripts (tests/torch_scripts/)
run unchanged on chainrule and give PyTorch's numbers with the same weights; names chainrule
lacks fail naming them."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chainrule.run import MissingAttributeError, MissingModuleError, torch_alias

SCRIPTS = Path(__file__).with_name("torch_scripts")
SCRIPT_NAMES = [
    "tensor_maths", "custom_function", "module_loop", "char_lm", "vae", "rnn_classifier", "resume",
]

# What each script printed on PyTorch 2.13 (the oracle when PyTorch is not installed).
GOLDEN = {
    "tensor_maths": {
        "loss": 37.3121337890625,
        "coefficients": [0.0528843, 0.2727142, -0.0090384, -0.0107973],
    },
    "custom_function": {"loss": 0.0018903279, "parameters": [-0.0057626, -2.1400063, 0.0033191, 0.5798721]},
    "module_loop": {
        "losses": [1.1120504, 1.0801396, 1.0587223, 1.0443751],
        "accuracy": 0.4166667,
        "epoch": 4,
    },
    "char_lm": {
        "losses": [2.686936, 1.314444, 0.7121871, 0.5359618, 0.5115969],
        "first_char_probs": [0.025933, 0.3519878, 0.0039584, 0.2249979, 0.0023066, 0.0895907],
        "samples_use_the_alphabet": True,
        "sample_count": 5,
    },
    "vae": {"losses": [25.8199, 21.72491, 19.39528, 18.71906], "decoded_mean": 0.26675, "learned": True},
    "rnn_classifier": {
        "losses": [0.81503, 0.687316, 0.473911, 0.200271, 0.094954],
        "accuracy": 0.958333,
        "lr": 0.025,
    },
    "resume": {
        "losses": [2.7305827, 1.9664505, 1.1111517, 0.8802783],
        "resumed_losses_equal": True,
        "max_parameter_difference": 0.0,
        "lr": 0.001728349,
        "device": "cpu",
    },
}


def _run(command, cwd=None):
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=cwd, env=os.environ)
    return completed


def _output(completed):
    assert completed.returncode == 0, completed.stderr[-2000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _swapped(source: str) -> str:
    """The mechanical import swap of the issue: torch -> chainrule."""
    source = re.sub(r"^import torch$", "import chainrule as torch", source, flags=re.M)
    source = re.sub(r"^import torch\.(\S+) as", r"import chainrule.\1 as", source, flags=re.M)
    return re.sub(r"^from torch(\.\S+)? import", r"from chainrule\1 import", source, flags=re.M)


def _assert_close(ours, expected, path="result"):
    if isinstance(expected, dict):
        for key in expected:
            _assert_close(ours[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert len(ours) == len(expected), path
        for index, (a, b) in enumerate(zip(ours, expected)):
            _assert_close(a, b, f"{path}[{index}]")
    elif isinstance(expected, float):
        assert ours == pytest.approx(expected, rel=1e-5, abs=1e-6), path
    elif isinstance(expected, str):
        assert ours.removeprefix("torch.") == expected.removeprefix("torch."), path
    else:
        assert ours == expected, path


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_script_runs_unchanged_with_chainrule_run_and_matches_pytorch(name):
    script = SCRIPTS / f"{name}.py"
    ours = _output(_run([sys.executable, "-m", "chainrule.run", str(script)]))
    _assert_close({key: ours[key] for key in GOLDEN[name]}, GOLDEN[name])
    pytest.importorskip("torch")
    theirs = _output(_run([sys.executable, str(script)]))
    _assert_close(ours, theirs)


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_script_runs_after_the_mechanical_import_swap(name, tmp_path):
    swapped = tmp_path / f"{name}.py"
    swapped.write_text(_swapped((SCRIPTS / f"{name}.py").read_text()))
    assert "import torch\n" not in swapped.read_text()
    ours = _output(_run([sys.executable, str(swapped)]))
    _assert_close({key: ours[key] for key in GOLDEN[name]}, GOLDEN[name])


def test_the_console_command_passes_arguments_through(tmp_path):
    script = tmp_path / "echo_args.py"
    script.write_text("import sys, json, torch\nprint(json.dumps([torch.__name__, sys.argv[1:]]))\n")
    completed = _run(["chainrule", "run", str(script), "--epochs", "3", "-x"])
    assert _output(completed) == ["torch", ["--epochs", "3", "-x"]]


def test_missing_apis_fail_naming_them(tmp_path):
    script = tmp_path / "uses_fft.py"
    script.write_text("import torch\nx = torch.ones(4)\ny = torch.fft.rfft(x)\n")
    completed = _run([sys.executable, "-m", "chainrule.run", str(script)])
    assert completed.returncode == 1
    assert (
        completed.stderr.strip()
        == f"chainrule run: error: {script} line 3: chainrule has no counterpart of torch.fft yet"
    )
    script.write_text("import torch.sparse\n")
    completed = _run(["chainrule", "run", str(script)])
    assert completed.returncode == 1
    assert "chainrule has no counterpart of torch.sparse yet" in completed.stderr
    assert "Traceback" not in completed.stderr
    missing = _run(["chainrule", "run", str(tmp_path / "absent.py")])
    assert missing.returncode == 2 and missing.stderr.strip() == (
        f"chainrule run: error: no such script: {tmp_path / 'absent.py'}"
    )


def test_torch_alias_is_scoped_and_maps_submodules():
    before = {name: module for name, module in sys.modules.items() if name.split(".")[0] == "torch"}
    with torch_alias():
        import torch
        import torch.autograd.function
        import torch.nn.functional as functional
        from torch.autograd.function import Function, FunctionCtx, once_differentiable
        from torch.utils.data import DataLoader

        import chainrule

        assert torch.Tensor is chainrule.Tensor and functional.relu is chainrule.nn.functional.relu
        assert Function is chainrule.autograd.Function and callable(once_differentiable)
        assert torch.autograd.function.Function is Function and FunctionCtx is chainrule.autograd.FunctionCtx
        assert DataLoader is chainrule.utils.data.DataLoader
        assert not hasattr(torch, "fft")
        with pytest.raises(MissingAttributeError, match="no counterpart of torch.nn.LazyLinear yet"):
            torch.nn.LazyLinear  # noqa: B018
        with pytest.raises(MissingModuleError, match="no counterpart of torch.fft yet"):
            import torch.fft  # noqa: F401
        torch.backends.cudnn.deterministic = True
        assert chainrule.backends.cudnn.deterministic is True
    after = {name: module for name, module in sys.modules.items() if name.split(".")[0] == "torch"}
    assert after == before
    # binding torch.autograd.function left the library's own module of that name alone
    assert chainrule.autograd.function is sys.modules["chainrule.autograd.function"]
    assert hasattr(chainrule.autograd.function, "OP_REGISTRY")
