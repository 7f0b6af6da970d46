"""Interleaved CPU-time medians of the benchmark cases, for a machine too busy for wall time.

    python -m benchmarks.cpu_time --cases mlp,gru --libraries pytorch,chainrule,chainrule-compiled,floor

Each round times a block of steps per (case, library) by this process's CPU time
(``time.process_time``: what other processes do is not counted, though they still share caches
and memory bandwidth), libraries in an order rotated each round; the table gives the median per
step. Run it with one BLAS thread (``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1``; PyTorch is set to
one thread here too): a second thread's spinning would be counted as CPU time, and on a loaded
machine it spins most of the time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.harness import LIBRARIES, check_libraries, select


def block_seconds(step: Any, count: int) -> float:
    start = time.process_time()
    for _ in range(count):
        step()
    return (time.process_time() - start) / count


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks.cases import ALL_CASES

    parser = argparse.ArgumentParser(prog="python -m benchmarks.cpu_time", description=__doc__.split("\n")[0])
    parser.add_argument("--cases", help="comma-separated parts of case names")
    parser.add_argument("--libraries", help="comma-separated library names")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--block", type=float, default=0.15, help="CPU seconds per block")
    arguments = parser.parse_args(argv)
    cases = [c for c in ALL_CASES if c.name in select([c.name for c in ALL_CASES], arguments.cases)]
    names = select([library.name for library in LIBRARIES], arguments.libraries)
    libraries = [library for library in LIBRARIES if library.name in names]
    availability = check_libraries(libraries)
    torch = availability.get("pytorch")
    if torch is not None and torch.module is not None:
        torch.module.set_num_threads(1)
    print("| case | library | CPU time / step | vs PyTorch | % of floor |")
    print("| --- | --- | ---: | ---: | ---: |")
    for case in cases:
        steps, counts = {}, {}
        for library in libraries:
            module = availability[library.name].module
            if library.name not in case.builders or module is None:
                continue
            step = case.builders[library.name](module)
            for _ in range(3):
                step()
            once = max(block_seconds(step, 1), 1e-6)
            steps[library.name], counts[library.name] = step, max(1, int(arguments.block / once))
        samples: dict[str, list[float]] = {name: [] for name in steps}
        order = list(steps)
        for round_index in range(arguments.rounds):
            shift = round_index % len(order)
            for name in order[shift:] + order[:shift]:
                samples[name].append(block_seconds(steps[name], counts[name]))
            print(f"{case.name}: round {round_index + 1}/{arguments.rounds}", file=sys.stderr, flush=True)
        medians = {name: statistics.median(values) for name, values in samples.items()}
        for name, median in medians.items():
            reference, floor = medians.get("pytorch"), medians.get("floor")
            unit, scale = ("us", 1e6) if case.unit == "us" else ("ms", 1e3)
            versus = f"{reference / median:.2f}x" if reference else "-"
            of_floor = f"{100 * floor / median:.0f}%" if floor else "-"
            row = f"| {case.title} | {name} | {median * scale:.3g} {unit} | {versus} | {of_floor} |"
            print(row, flush=True)
        for name in steps:
            if name in case.notes:
                print(f"<!-- {case.title}, {name}: {case.notes[name]} -->", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
