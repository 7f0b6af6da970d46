"""Data parallelism on this machine, and on paper beyond it.

Measured: the MNIST MLP and CNN of ``benchmarks.accuracy`` (8,000 training images of the
shared MNIST test split), trained with SGD momentum at the same global batch (MLP 128, CNN 64)
two ways, one after the other in alternating rounds so both see the same machine load:

- one process with 2 BLAS threads;
- ``mpiexec -n 2``, one BLAS thread each, each process half of every batch, gradients averaged by
  ``DistributedDataParallel``, with one bucket (the default 25 MB holds all of these models'
  gradients) and with 0.25 MB buckets (several, so communication can start during backward).

Per step: wall time (median), the same step under ``no_sync()`` (compute alone), the time a
blocking Allreduce of all gradients takes, and the part of it backward still waited for. From
these, the ring-allreduce cost model ``T = 2 (n-1)/n * bytes / bandwidth + 2 (n-1) * latency``
gives the expected time per step at 8, 64 and 512 workers over common interconnects, and the
per-worker batch below which communication can no longer hide behind backward.

Run: ``python -m benchmarks.distributed`` (``--rounds``, ``--steps``); it writes its tables into
BENCHMARKS.md between the distributed markers. ``--worker`` is the per-process entry point.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- distributed:begin -->", "<!-- distributed:end -->"
GLOBAL_BATCH = {"mlp": 128, "cnn": 64}
TRAIN_IMAGES = 8000
# Assumed round figures (nominal link rates; small-message latencies typical of each fabric),
# not measured here.
INTERCONNECTS = {
    "10 Gb Ethernet (TCP)": (1.25e9, 30e-6),
    "100 Gb/s InfiniBand EDR": (12.5e9, 2e-6),
    "200 Gb/s InfiniBand HDR": (25e9, 1.5e-6),
}
WORKERS = (8, 64, 512)


# ------------------------------------------------------------------ one measurement
def worker(
    model_name: str, parallel: bool, steps: int, mnist_dir: Path, threads: int, bucket_cap_mb: float
) -> dict[str, Any] | None:
    from threadpoolctl import threadpool_limits

    import chainrule
    from benchmarks import accuracy
    from chainrule import nn, optim

    threadpool_limits(limits=threads, user_api="blas")
    rank, size, ddp = 0, 1, None
    accuracy.MNIST_DIR = mnist_dir
    x, y, _, _ = accuracy.mnist_split()
    chainrule.manual_seed(0)
    model = accuracy.mnist_mlp(chainrule) if model_name == "mlp" else accuracy.mnist_cnn(chainrule)
    if parallel:
        import chainrule.distributed as dist
        from chainrule.nn.parallel import DistributedDataParallel

        dist.init_process_group("mpi")
        rank, size = dist.get_rank(), dist.get_world_size()
        ddp = DistributedDataParallel(model, bucket_cap_mb=bucket_cap_mb)
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    batch = GLOBAL_BATCH[model_name]
    order = np.random.default_rng(0).permutation(len(x))

    def step(index: int, sync: bool) -> float:
        rows = order[(index * batch) % (len(x) - batch) :][:batch]
        share = rows[rank * batch // size : (rank + 1) * batch // size]
        inputs, targets = chainrule.from_numpy(x[share]), chainrule.from_numpy(y[share])
        started = time.perf_counter()
        optimizer.zero_grad()
        if ddp is None:
            outputs = model(inputs)
        elif sync:
            outputs = ddp(inputs)
        else:
            with ddp.no_sync():  # the same step without communication: compute alone
                outputs = ddp(inputs)
        loss_fn(outputs, targets).backward()
        optimizer.step()
        return time.perf_counter() - started

    for index in range(3):  # warm-up: numba compiles, caches fill
        step(index, sync=True)
    if ddp is not None:
        ddp._reducer.wait_seconds = 0.0
    synced = [step(index, sync=True) for index in range(steps)]
    result: dict[str, Any] = {
        "step": statistics.median(synced),
        "params": sum(p.numel() for p in model.parameters()),
    }
    if ddp is None:
        return result
    result["wait"] = ddp._reducer.wait_seconds / steps
    result["compute"] = statistics.median(step(index, sync=False) for index in range(steps))
    result["local_batch"] = batch // size
    result["bucket_cap_mb"], result["buckets"] = bucket_cap_mb, len(ddp._reducer.buckets)
    result["allreduce"] = _allreduce_seconds(result["params"])
    return result if rank == 0 else None


def _allreduce_seconds(count: int, repeats: int = 10) -> float:
    """Median time of one blocking Allreduce of ``count`` float32 gradients."""
    import chainrule.distributed as dist

    comm = dist._current().comm
    mpi = dist._mpi()
    flat = np.ones(count, dtype=np.float32)
    times = []
    for _ in range(repeats):
        comm.Barrier()
        started = time.perf_counter()
        comm.Allreduce(mpi.IN_PLACE, flat)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# ----------------------------------------------------------------------- the driver
def mpiexec() -> str:
    found = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    if found is None:
        raise SystemExit("needs mpiexec: pip install 'chainrule[distributed]'")
    return found


def measure(
    model_name: str, parallel: bool, steps: int, mnist_dir: Path, threads: int, bucket_cap_mb: float
) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.distributed", "--worker", model_name, "--steps", str(steps)]
    command += ["--mnist", str(mnist_dir), "--threads", str(threads), "--bucket-cap-mb", str(bucket_cap_mb)]
    if parallel:
        command = [mpiexec(), "-n", "2", *command, "--parallel"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=3600, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ring_allreduce_seconds(count_bytes: float, workers: int, bandwidth: float, latency: float) -> float:
    """Ring allreduce: reduce-scatter then all-gather, 2 (n-1) steps each moving bytes/n."""
    return 2 * (workers - 1) / workers * count_bytes / bandwidth + 2 * (workers - 1) * latency


def tables(results: dict[str, dict[str, list[dict[str, Any]]]], load: str) -> str:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on this 2-core machine while it was shared by eight "
        f"developers' work (load average {load} during the run): wall times are noisy, read them as "
        "rough. Medians over rounds; each round runs both ways back to back.",
        "",
        "| model | params | global batch | 1 process x 2 threads: s/step | 1 process x 1 thread: s/step "
        "| 2 ranks x 1 thread: s/step | 2 ranks vs 1 x 2 threads | 2 ranks vs 1 x 1 thread "
        "| s/epoch (1 x 2 / 1 x 1 / 2 ranks) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    overlap_lines = [
        "| model | bucket_cap_mb | buckets | 2 ranks: s/step | compute alone s/step | Allreduce of all "
        "gradients | backward waited | overlap |",
        "|---|---|---|---|---|---|---|---|",
    ]
    scaling_inputs = {}
    for name in ("mlp", "cnn"):
        single, single1, step = (
            statistics.median(r["step"] for r in results[name][way])
            for way in ("single", "single1", "parallel")
        )
        steps_per_epoch = -(-TRAIN_IMAGES // GLOBAL_BATCH[name])
        runs = results[name]["parallel"]
        params = runs[0]["params"]
        lines.append(
            f"| MNIST {name.upper()} | {params:,} | {GLOBAL_BATCH[name]} | {single:.4f} | {single1:.4f} "
            f"| {step:.4f} | {single / step:.2f}x | {single1 / step:.2f}x | {single * steps_per_epoch:.1f} / "
            f"{single1 * steps_per_epoch:.1f} / {step * steps_per_epoch:.1f} |"
        )
        for way in ("parallel", "parallel_small"):
            runs = results[name][way]
            step, compute, allreduce, wait = (
                statistics.median(r[key] for r in runs) for key in ("step", "compute", "allreduce", "wait")
            )
            overlap = max(0.0, min(1.0, 1 - wait / allreduce)) if allreduce > 0 else 0.0
            overlap_lines.append(
                f"| MNIST {name.upper()} | {runs[0]['bucket_cap_mb']:g} | {runs[0]['buckets']} "
                f"| {step:.4f} | {compute:.4f} | {allreduce * 1e3:.2f} ms | {wait * 1e3:.2f} ms "
                f"| {overlap:.0%} |"
            )
        scaling_inputs[name] = (params * 4, compute / runs[0]["local_batch"])
    lines += ["", *overlap_lines]
    lines += [
        "",
        "Scaling on paper (ring allreduce, `T = 2(n-1)/n * bytes/bandwidth + 2(n-1) * latency`; float32 "
        "gradients; compute per sample measured above at one thread; bandwidths are nominal link rates "
        "and latencies assumed typical values, not measured). *comm* is one Allreduce per step; "
        "*hidden from batch* is the per-worker batch at which backward (taken as 2/3 of a step's "
        "compute) lasts as long as the Allreduce, so communication can hide behind it; below it, "
        "communication shows.",
        "",
        "| model | interconnect | comm at 8 / 64 / 512 workers | hidden from batch (per worker) "
        "at 8 / 64 / 512 |",
        "|---|---|---|---|",
    ]
    for name, (gradient_bytes, per_sample) in scaling_inputs.items():
        for fabric, (bandwidth, latency) in INTERCONNECTS.items():
            comms = [ring_allreduce_seconds(gradient_bytes, n, bandwidth, latency) for n in WORKERS]
            hidden = [max(1, int(np.ceil(c / (per_sample * 2 / 3)))) for c in comms]
            lines.append(
                f"| MNIST {name.upper()} | {fabric} | {' / '.join(f'{c * 1e3:.2f} ms' for c in comms)} | "
                f"{' / '.join(str(h) for h in hidden)} |"
            )
    return "\n".join(lines)


def write_into_benchmarks(text: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    content = path.read_text()
    if BEGIN not in content:
        raise SystemExit(f"BENCHMARKS.md has no {BEGIN} marker")
    before, rest = content.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    path.write_text(f"{before}{BEGIN}\n{text}\n{END}{after}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=sorted(GLOBAL_BATCH))
    parser.add_argument("--parallel", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads of each process")
    parser.add_argument("--bucket-cap-mb", type=float, default=25.0)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mnist", type=Path, default=ROOT.parent / "shared" / "data" / "mnist")
    args = parser.parse_args()
    if args.worker:
        result = worker(args.worker, args.parallel, args.steps, args.mnist, args.threads, args.bucket_cap_mb)
        if result is not None:
            print(json.dumps(result), flush=True)
        return
    ways = {  # (MPI?, BLAS threads, bucket_cap_mb)
        "single": (False, 2, 25.0),
        "single1": (False, 1, 25.0),
        "parallel": (True, 1, 25.0),
        "parallel_small": (True, 1, 0.25),
    }
    results: dict[str, dict[str, list[dict[str, Any]]]] = {m: {way: [] for way in ways} for m in GLOBAL_BATCH}
    loads = []
    for round_index in range(args.rounds):
        for name in ("mlp", "cnn"):
            for way, (parallel, threads, cap) in ways.items():
                loads.append(os.getloadavg()[0])
                results[name][way].append(measure(name, parallel, args.steps, args.mnist, threads, cap))
                print(f"round {round_index + 1} {name} {way} done", flush=True)
    text = tables(results, f"{min(loads):.0f}-{max(loads):.0f}")
    print(text)
    write_into_benchmarks(text)


if __name__ == "__main__":
    main()
