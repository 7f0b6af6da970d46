"""Engine overhead: a tiny ``(a + b).sum().backward()`` and one training step of a
784-512-512-10 MLP (forward, backward, SGD-momentum update), chainrule next to PyTorch.

Run: ``python benchmarks/overhead.py``. Blocks of each library alternate, with a pause between
them (NumPy's OpenBLAS threads spin for ~0.1 s after a call and would slow the next block),
and the figure quoted is the median over rounds. A benchmark, not a test.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np


def tiny_step(lib) -> Callable[[], None]:
    a = lib.ones(8, requires_grad=True)
    b = lib.ones(8, requires_grad=True)

    def step() -> None:
        (a + b).sum().backward()
        a.grad = None
        b.grad = None

    return step


def mlp_step(lib, batch: int = 128) -> Callable[[], None]:
    lib.manual_seed(0)
    nn = lib.nn
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
    optimizer = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x = lib.from_numpy(rng.standard_normal((batch, 784)).astype(np.float32))
    y = lib.from_numpy(rng.integers(0, 10, batch).astype(np.int64))

    def step() -> None:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    return step


def time_block(step: Callable[[], None], seconds: float) -> float:
    """Seconds per call, over a block of calls lasting about ``seconds``."""
    step()
    count = 1
    start = time.perf_counter()
    step()
    once = max(time.perf_counter() - start, 1e-7)
    count = max(int(seconds / once), 5)
    start = time.perf_counter()
    for _ in range(count):
        step()
    return (time.perf_counter() - start) / count


def compare(name: str, make: Callable, libs: dict, rounds: int, seconds: float, unit: float,
            unit_name: str) -> None:
    steps = {}
    for label, lib in libs.items():
        try:
            steps[label] = make(lib)
        except (AttributeError, ImportError, NotImplementedError) as error:
            print(f"{name}: {label} n/a ({error})")
    times: dict[str, list[float]] = {label: [] for label in steps}
    order = list(steps)
    for r in range(rounds):
        for label in order[r % len(order):] + order[:r % len(order)]:
            time.sleep(0.5)
            times[label].append(time_block(steps[label], seconds))
    medians = {label: statistics.median(values) for label, values in times.items()}
    line = ", ".join(f"{label} {medians[label] / unit:.2f} {unit_name}" for label in medians)
    if "pytorch" in medians and "chainrule" in medians:
        line += f"  (chainrule is {medians['pytorch'] / medians['chainrule']:.2f}x PyTorch's speed)"
    print(f"{name}: {line}")


def main() -> None:
    import chainrule

    libs = {"chainrule": chainrule}
    try:
        import torch

        torch.set_num_threads(__import__("os").cpu_count())
        libs["pytorch"] = torch
    except ImportError:
        print("PyTorch is not installed: chainrule's figures only")
    compare("tiny (a + b).sum().backward()", tiny_step, libs, rounds=7, seconds=0.2, unit=1e-6,
            unit_name="us")
    compare("MLP 784-512-512-10 training step, batch 128", mlp_step, libs, rounds=5,
            seconds=0.5, unit=1e-3, unit_name="ms")


if __name__ == "__main__":
    main()
