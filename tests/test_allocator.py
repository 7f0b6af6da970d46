"""The allocator tuning (chainrule/backends/allocator.py): an explicit call, never made by
``import chainrule``, made by the command line and the Trainer."""

import json
import os
import platform
import subprocess
import sys
import textwrap

import pytest

from chainrule.backends import tune_allocator

ON_GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# Runs in a fresh interpreter: ctypes.CDLL is wrapped before chainrule is imported, so every
# mallopt call anyone makes through ctypes is seen, with its arguments.
_PROBE = textwrap.dedent("""
    import ctypes, json, sys

    calls = []
    original_cdll = ctypes.CDLL

    class Library:
        def __init__(self, *args, **kwargs):
            self._library = original_cdll(*args, **kwargs)

        def __getattr__(self, name):
            function = getattr(self._library, name)
            if name != "mallopt":
                return function

            class Recorded:
                argtypes = None

                def __call__(self, *args):
                    calls.append(list(args))
                    return function(*args)

            return Recorded()

    ctypes.CDLL = Library
    import chainrule

    seen = {"import": list(calls)}
    for name, snippet in json.loads(sys.argv[1]).items():
        del calls[:]
        exec(snippet)
        seen[name] = list(calls)
        chainrule.backends.allocator._State.tuned = False  # so the next snippet tunes afresh
    print(json.dumps(seen))
""")


def _probe(snippets: dict[str, str]) -> dict[str, list[list[int]]]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(snippets)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not ON_GLIBC, reason="glibc's malloc only")
def test_import_leaves_malloc_alone_and_the_explicit_call_cli_and_trainer_tune_it() -> None:
    from chainrule.backends.allocator import MMAP_THRESHOLD, TRIM_THRESHOLD

    seen = _probe(
        {
            "explicit": "chainrule.backends.tune_allocator()",
            "cli": "from chainrule.cli import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit:\n    pass",
            "trainer": "from chainrule import nn, optim\nfrom chainrule.train import Trainer\n"
            "model = nn.Linear(2, 1)\n"
            "Trainer(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1))",
        }
    )
    tuning = [[-3, MMAP_THRESHOLD], [-1, TRIM_THRESHOLD]]  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
    assert seen == {"import": [], "explicit": tuning, "cli": tuning, "trainer": tuning}


@pytest.mark.skipif(not ON_GLIBC, reason="glibc's malloc only")
def test_a_scripts_first_optimizer_tunes_malloc_unless_the_environment_says_not_to() -> None:
    from chainrule.backends.allocator import MMAP_THRESHOLD, TRIM_THRESHOLD

    snippets = {
        "tensors_and_backward": "x = chainrule.ones(3, requires_grad=True)\n(x * 2).sum().backward()",
        "optimizer": "chainrule.optim.SGD([chainrule.zeros(2, requires_grad=True)], lr=0.1)",
        "switched_off": "import os\nos.environ['CHAINRULE_TUNE_ALLOCATOR'] = '0'\n"
                        "chainrule.optim.Adam([chainrule.zeros(2, requires_grad=True)])",
    }
    tuning = [[-3, MMAP_THRESHOLD], [-1, TRIM_THRESHOLD]]
    assert _probe(snippets) == {"import": [], "tensors_and_backward": [], "optimizer": tuning,
                                "switched_off": []}


def test_a_bad_tuning_setting_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    import chainrule
    from chainrule.errors import ConfigError

    monkeypatch.setenv("CHAINRULE_TUNE_ALLOCATOR", "maybe")
    with pytest.raises(ConfigError, match="CHAINRULE_TUNE_ALLOCATOR='maybe' is not a setting"):
        chainrule.optim.SGD([chainrule.zeros(1, requires_grad=True)], lr=0.1)
    environment = {**os.environ, "CHAINRULE_TUNE_ALLOCATOR": "maybe"}
    done = subprocess.run([sys.executable, "-m", "chainrule", "train", "--epochs", "1"],
                          capture_output=True, text=True, env=environment)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "chainrule: error: CHAINRULE_TUNE_ALLOCATOR='maybe' is not a setting; use 1 (tune glibc's malloc "
        "for training steps, the default) or 0 (leave it)"]


def test_thresholds_are_set_on_glibc_and_skipped_elsewhere() -> None:
    assert tune_allocator() is ON_GLIBC


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_freed_large_arrays_are_reused_after_tuning() -> None:
    np = pytest.importorskip("numpy")
    tune_allocator()
    first = np.empty(4 * 1024 * 1024 // 8)  # 4 MiB: above glibc's default mmap threshold
    address = first.__array_interface__["data"][0]
    del first
    second = np.empty(4 * 1024 * 1024 // 8)
    # With the default thresholds the block comes from a fresh mmap and is unmapped on free;
    # tuned, the heap block is handed back out for the same request.
    assert second.__array_interface__["data"][0] == address
