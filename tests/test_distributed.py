"""Data-parallel training over MPI: chainrule.distributed, DistributedDataParallel,
DistributedSampler and ``mpiexec -n 2 chainrule train``.

The MPI checks are few launches of ``mpiexec -n 2`` started by the tests themselves (each launch
pays for importing chainrule twice); every launch has a timeout, so a collective that hangs
fails the test instead of the suite.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule.utils.data.distributed import DistributedSampler

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 300  # seconds; generous, the machine running the suite may be loaded


def find_mpiexec() -> str | None:
    """The mpiexec of the MPI that mpi4py uses: the mpich wheel puts it next to the Python
    executable (a virtual environment's bin/), which need not be on PATH."""
    beside_python = shutil.which("mpiexec", path=str(Path(sys.executable).parent))
    return beside_python or shutil.which("mpiexec")


def mpi_environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["OMP_NUM_THREADS"] = "1"  # two processes on the machine's cores, as torchrun sets it
    return env


def launch(command: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("mpi4py")
    mpiexec = find_mpiexec()
    if mpiexec is None:
        pytest.skip("needs mpiexec (pip install 'chainrule[distributed]' installs mpich's)")
    return subprocess.run(
        [mpiexec, "-n", "2", *command],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=mpi_environment(),
        cwd=cwd,
    )


# ------------------------------------------------------------------ one process, no MPI
def test_sampler_shares_partition_each_epoch_and_match_one_process_order():
    dataset = range(11)
    for shuffle in (False, True):
        for drop_last in (False, True):
            shares = [
                DistributedSampler(
                    dataset, num_replicas=3, rank=r, shuffle=shuffle, seed=5, drop_last=drop_last
                )
                for r in range(3)
            ]
            for share in shares:
                share.set_epoch(2)
            drawn = [list(share) for share in shares]
            assert all(len(d) == len(shares[0]) for d in drawn)
            interleaved = [index for step in zip(*drawn) for index in step]
            expected = 9 if drop_last else 12  # 11 samples: 3 left out, or padded with 1
            # epoch 2 of seed 5 is shuffled with seed 7
            alone = list(DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=shuffle, seed=7))
            assert len(interleaved) == expected
            assert interleaved[: min(expected, 11)] == alone[: min(expected, 11)]
            if not drop_last:
                assert sorted(set(interleaved)) == list(range(11))
            else:
                assert len(set(interleaved)) == 9
    first, second = DistributedSampler(dataset, 2, 0, seed=5), DistributedSampler(dataset, 2, 0, seed=5)
    second.set_epoch(1)
    assert list(first) != list(second)  # a new epoch, a new order


def test_sampler_refuses_ranks_outside_the_world():
    with pytest.raises(ValueError, match="rank must be in"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(range(4))


def test_without_mpi4py_the_module_imports_and_says_what_to_install(monkeypatch):
    import chainrule.distributed as dist

    monkeypatch.setitem(sys.modules, "mpi4py", None)  # as if not installed
    assert not dist.is_available()
    with pytest.raises(ImportError, match=r"pip install 'chainrule\[distributed\]'"):
        dist.init_process_group("mpi")
    assert not dist.is_initialized()


def test_other_backends_and_an_uninitialised_group_are_refused():
    import chainrule.distributed as dist

    with pytest.raises(ValueError, match="backend='mpi'"):
        dist.init_process_group("nccl")
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.get_rank()


def test_post_accumulate_grad_hook_sees_the_accumulated_gradient():
    w = chainrule.ones(3, requires_grad=True)
    seen = []
    w.register_hook(lambda grad: grad * 2)  # runs first, on the incoming gradient
    handle = w.register_post_accumulate_grad_hook(lambda leaf: seen.append(leaf.grad.numpy().copy()))
    (w * 3).sum().backward()
    (w * w).sum().backward()
    np.testing.assert_array_equal(seen[0], [6, 6, 6])
    np.testing.assert_array_equal(seen[1], [10, 10, 10])  # 6 + 2 * 2w
    handle.remove()
    w.sum().backward()
    assert len(seen) == 2
    chainrule.autograd.grad((w * 2).sum(), [w])  # autograd.grad touches no .grad: no call
    assert len(seen) == 2
    with pytest.raises(RuntimeError, match="only a leaf"):
        (w * 2).register_post_accumulate_grad_hook(print)


# ------------------------------------------------------------------ mpiexec -n 2
def test_two_processes_equal_one_and_a_failing_process_ends_the_job():
    """tests/distributed_worker.py: collectives, the sampler's partition, 2 x batch 64 equal to
    1 x batch 128 after 20 SGD steps (float64, rtol 1e-10), no_sync; then rank 1 raises while
    rank 0 waits in a barrier: the job must end, nonzero, with rank 1's error."""
    result = launch([sys.executable, str(REPO / "tests" / "distributed_worker.py")])
    assert "rank 0: all checks passed" in result.stdout, result.stdout + result.stderr
    assert "rank 1: all checks passed" in result.stdout, result.stdout + result.stderr
    assert result.returncode != 0
    assert "planted failure on rank 1" in result.stderr


def test_mpiexec_chainrule_train_process_zero_alone_writes_and_metrics_equal_one_process(tmp_path):
    """``mpiexec -n 2 chainrule train``: one run folder and nothing else written, one progress
    bar and summary; the test metrics gathered from both processes equal a single process's
    ``chainrule evaluate`` of the saved model; resuming with another number of processes is
    refused in one sentence."""
    chainrule_cli = [sys.executable, "-m", "chainrule"]
    result = launch(
        [*chainrule_cli, "train", "--dataset", "digits", "--epochs", "1", "--seed", "0"], cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["runs"]
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert {"config.toml", "metrics.csv", "model.safetensors", "report.html", "checkpoint.safetensors"} <= {
        path.name for path in run_dir.iterdir()
    }
    assert result.stdout.count("Test accuracy") == 1
    assert result.stdout.count("Epoch 1/1") == 1
    reported = float(result.stdout.split("Test accuracy: ")[1].split("%")[0]) / 100
    # In this process (no second launch): the saved model scored alone, and a resume alone.
    from chainrule.errors import ConfigError
    from chainrule.train.run import evaluate_run, train_run

    metrics, _, _ = evaluate_run(run_dir)
    assert metrics["accuracy"] == pytest.approx(reported, abs=5e-5)  # printed as 89.44%
    with pytest.raises(
        ConfigError, match=r"was trained by 2 processes \(mpiexec -n 2\) but this job has one"
    ):
        train_run({"epochs": 2}, resume=run_dir, verbose=0)
