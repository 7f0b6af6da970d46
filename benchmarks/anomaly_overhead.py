"""What anomaly detection costs: one training step of two MLPs with detection off and on.

Run: ``python -m benchmarks.anomaly_overhead``. Off, detection costs one flag test per op;
on, every op's output and every gradient gets a ``numpy.isfinite`` pass and every op a walk
of the Python stack to find the user's line. Medians of interleaved blocks.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

import chainrule
from chainrule import nn


def mlp_step(sizes: list[int], batch: int) -> Callable[[], None]:
    chainrule.manual_seed(0)
    layers: list[nn.Module] = []
    for width_in, width_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(width_in, width_out), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    optimizer = chainrule.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x = chainrule.from_numpy(rng.standard_normal((batch, sizes[0])).astype(np.float32))
    y = chainrule.from_numpy(rng.integers(0, sizes[-1], batch))

    def step() -> None:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    return step


def seconds_per_step(step: Callable[[], None], anomaly: bool, count: int) -> float:
    with chainrule.autograd.set_detect_anomaly(anomaly):
        step()
        start = time.perf_counter()
        for _ in range(count):
            step()
        return (time.perf_counter() - start) / count


def main() -> None:
    for title, sizes, batch, count in [("MLP 784-512-512-10, batch 128", [784, 512, 512, 10], 128, 20),
                                       ("MLP 784-128-10, batch 64", [784, 128, 10], 64, 100)]:
        step = mlp_step(sizes, batch)
        off, on = [], []
        for _ in range(7):
            off.append(seconds_per_step(step, False, count))
            on.append(seconds_per_step(step, True, count))
        off_ms, on_ms = statistics.median(off) * 1e3, statistics.median(on) * 1e3
        print(f"{title}: off {off_ms:.2f} ms, on {on_ms:.2f} ms per step ({on_ms / off_ms:.2f}x)")


if __name__ == "__main__":
    main()
