"""What every fuzz test of a file reader shares: the Hypothesis settings (seeded, so a run is
repeatable and CI sees the same cases) and one check that a reader, given bytes nobody vetted,
either succeeds or raises its documented error type, within a memory and time budget.

A reader that raises anything else (IndexError, RecursionError, UnicodeDecodeError, ...), that
allocates far more than the file could justify, or that hangs, fails the test with the input that
did it; Hypothesis then shrinks that input to a small regression case.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings

# 2,000 cases a reader, the same cases every run.
FUZZ = settings(
    max_examples=2000,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Generous bounds: the point is to catch allocations of gigabytes and loops that never end,
# not to time the reader (timing belongs to benchmarks). The time is the process's CPU time, so a
# loaded machine (other work, parallel test workers) does not turn a sound reader red.
MEMORY_BUDGET = 64 * 2**20
TIME_BUDGET = 5.0


def within_budget(
    read: Callable[[], Any],
    allowed: type[BaseException] | tuple[type[BaseException], ...],
    memory_budget: int = MEMORY_BUDGET,
    time_budget: float = TIME_BUDGET,
) -> BaseException | None:
    """Call ``read()``; return the allowed error it raised (None if it succeeded). Any other
    exception propagates and fails the test. NumPy reports its allocations to tracemalloc, so the
    peak counts array buffers too."""
    tracemalloc.start()
    start = time.process_time()
    raised: BaseException | None = None
    try:
        read()
    except allowed as error:
        raised = error
    finally:
        elapsed = time.process_time() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    used, budget = peak / 2**20, memory_budget / 2**20
    assert peak <= memory_budget, f"the reader allocated {used:.0f} MiB (budget {budget:.0f} MiB)"
    assert elapsed <= time_budget, f"the reader took {elapsed:.1f} s of CPU (budget {time_budget} s)"
    return raised
