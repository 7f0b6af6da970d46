"""chainrule's training step under each BLAS it can choose, interleaved in one process.

    python -m benchmarks.blas_ab [--threads 1] [--rounds 7] [--cases mlp,gru] [--compiled]

Every case's chainrule step (eager, or compiled with ``--compiled``) is built once; each round
times a block of steps with ``chainrule.backends.blas.use("numpy")`` and a block with
``use("mkl")``, in an order rotated each round, by this process's CPU time and by wall time.
The table gives the medians and numpy's time / mkl's (above 1.00x: MKL is faster). At one
thread CPU time is the figure to read on a shared machine; at two, CPU time also counts the
threads' spinning, and wall time counts the other processes: quote both.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence

CHOICES = ("numpy", "mkl")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.blas_ab", description=__doc__.split("\n")[0])
    parser.add_argument("--cases", help="comma-separated parts of case names")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--block", type=float, default=0.2, help="CPU seconds per block")
    parser.add_argument("--compiled", action="store_true", help="time chainrule.compile's step")
    arguments = parser.parse_args(argv)

    import chainrule
    from benchmarks.cases import ALL_CASES
    from benchmarks.harness import describe_cpu, select

    if not chainrule.backends.blas.is_available():
        print(f"MKL is not available: {chainrule.backends.blas.mkl_error()}", file=sys.stderr)
        return 2
    from threadpoolctl import threadpool_limits

    threadpool_limits(arguments.threads)  # NumPy's OpenBLAS and MKL alike
    chainrule.backends.tune_allocator()
    builder_name = "chainrule-compiled" if arguments.compiled else "chainrule"
    cases = [c for c in ALL_CASES if c.name in select([c.name for c in ALL_CASES], arguments.cases)]
    print(f"- CPU: {describe_cpu()}")
    chainrule.backends.blas.use("mkl")
    print(f"- mkl: {chainrule.backends.blas.describe()}")
    print(f"- {arguments.threads} thread(s); {builder_name}; median of {arguments.rounds} rounds of "
          f"{arguments.block:g} s blocks, the two BLAS in an order rotated each round\n")
    print("| case | numpy CPU | mkl CPU | CPU ratio | numpy wall | mkl wall | wall ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for case in cases:
        if builder_name not in case.builders:
            continue
        steps, counts = {}, {}
        for choice in CHOICES:  # one step per BLAS: a compiled step records under its BLAS
            chainrule.backends.blas.use(choice)
            step = case.builders[builder_name](chainrule)
            for _ in range(3):
                step()
            start = time.process_time()
            step()
            steps[choice] = step
            counts[choice] = max(1, int(arguments.block / max(time.process_time() - start, 1e-6)))
        count = min(counts.values())
        cpu: dict[str, list[float]] = {choice: [] for choice in CHOICES}
        wall: dict[str, list[float]] = {choice: [] for choice in CHOICES}
        for round_index in range(arguments.rounds):
            for choice in CHOICES[round_index % 2:] + CHOICES[:round_index % 2]:
                chainrule.backends.blas.use(choice)
                start_cpu, start_wall = time.process_time(), time.perf_counter()
                for _ in range(count):
                    steps[choice]()
                cpu[choice].append((time.process_time() - start_cpu) / count)
                wall[choice].append((time.perf_counter() - start_wall) / count)
        c = {choice: statistics.median(cpu[choice]) for choice in CHOICES}
        w = {choice: statistics.median(wall[choice]) for choice in CHOICES}
        print(f"| {case.title} | {c['numpy'] * 1e3:.3f} ms | {c['mkl'] * 1e3:.3f} ms | "
              f"{c['numpy'] / c['mkl']:.2f}x | {w['numpy'] * 1e3:.3f} ms | {w['mkl'] * 1e3:.3f} ms | "
              f"{w['numpy'] / w['mkl']:.2f}x |", flush=True)
    chainrule.backends.blas.use("auto")
    return 0


if __name__ == "__main__":
    sys.exit(main())
