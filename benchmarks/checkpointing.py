"""What gradient checkpointing saves and costs: peak memory and time of one training step of a
deep MLP and a deep CNN, plain and with ``checkpoint_sequential`` in about sqrt(n) segments.

Run: ``python -m benchmarks.checkpointing`` (``--rounds N``, ``--markdown`` for the table in
BENCHMARKS.md). A step is forward, cross-entropy, backward and an SGD update, float32.

Memory is measured with tracemalloc, which sees NumPy's arrays, in an untimed pass: *held* is
what stays alive between steps (weights, their ``.grad`` buffers, the batch), *step peak* how
far memory rises above that during a step (activations kept for backward and temporaries),
which is what checkpointing acts on. The ``.grad`` buffers are kept between steps
(``zero_grad(set_to_none=False)``), as a step would otherwise allocate them anew and they
would count in both columns alike.

Time is measured in rounds that interleave the two variants (their order alternating), and
reported as medians over rounds of wall time and of the process's CPU time (all threads);
the machine may be shared, so CPU time is the steadier figure and the ratio of medians the
one to read. Before timing, one step of each variant from the same weights checks that their
gradients are equal to the bit.
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import chainrule
import chainrule.nn.functional as F
from benchmarks.harness import measure_step_memory
from chainrule import nn
from chainrule.utils.checkpoint import checkpoint_sequential


@dataclass
class Case:
    name: str
    build: Callable[[], tuple[nn.Sequential, chainrule.Tensor, chainrule.Tensor]]


def deep_mlp(depth: int = 32, width: int = 1024, batch: int = 256):
    chainrule.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(width, 10))
    rng = np.random.default_rng(0)
    x = chainrule.from_numpy(rng.standard_normal((batch, width)).astype(np.float32))
    y = chainrule.from_numpy(rng.integers(0, 10, batch))
    return model, x, y


def deep_cnn(depth: int = 16, channels: int = 32, size: int = 32, batch: int = 32):
    chainrule.manual_seed(0)
    layers: list[nn.Module] = [nn.Conv2d(3, channels, 3, padding=1), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU()]
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 10))
    rng = np.random.default_rng(0)
    x = chainrule.from_numpy(rng.standard_normal((batch, 3, size, size)).astype(np.float32))
    y = chainrule.from_numpy(rng.integers(0, 10, batch))
    return model, x, y


CASES = [
    Case("MLP 32 x Linear(1024, 1024) + ReLU, batch 256", deep_mlp),
    Case("CNN 16 x Conv2d(32, 32, 3) + ReLU on 32x32, batch 32", deep_cnn),
]


def make_step(
    model: nn.Sequential, x: chainrule.Tensor, y: chainrule.Tensor, segments: int | None
) -> Callable[[], None]:
    optimizer = chainrule.optim.SGD(model.parameters(), lr=1e-4)

    def step() -> None:
        model.zero_grad(set_to_none=False)
        if segments is None:
            out = model(x)
        else:
            out = checkpoint_sequential(model, segments, x, use_reentrant=False)
        F.cross_entropy(out, y).backward()
        optimizer.step()

    return step


def sqrt_segments(model: nn.Sequential) -> int:
    return max(1, round(math.sqrt(len(model))))


def check_equal_gradients(case: Case, segments: int) -> None:
    grads = []
    for variant in (None, segments):
        model, x, y = case.build()
        model.zero_grad()
        out = model(x) if variant is None else checkpoint_sequential(model, variant, x, use_reentrant=False)
        F.cross_entropy(out, y).backward()
        grads.append([p.grad.array for p in model.parameters()])
    if not all(np.array_equal(a, b) for a, b in zip(*grads)):
        raise AssertionError(f"{case.name}: checkpointed gradients differ from the plain ones")


def step_memory(case: Case, segments: int | None) -> tuple[int, int]:
    """(held between steps, rise during a step), in bytes."""
    gc.collect()
    peak, rise = measure_step_memory(lambda: make_step(*case.build(), segments))
    return peak - rise, rise


def step_times(case: Case, segments: int, rounds: int) -> dict[str, tuple[list[float], list[float]]]:
    """Wall and CPU seconds of one step per round, for ``plain`` and ``checkpointed``."""
    steps = {"plain": make_step(*case.build(), None), "checkpointed": make_step(*case.build(), segments)}
    for step in steps.values():
        step()  # warm up: .grad buffers, malloc's reusable heap
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in steps}
    names = list(steps)
    for round_index in range(rounds):
        for name in names if round_index % 2 == 0 else names[::-1]:
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            steps[name]()
            times[name][0].append(time.perf_counter() - wall)
            times[name][1].append(time.process_time() - cpu)
    return times


def megabytes(count: int) -> str:
    return f"{count / 1e6:.1f} MB"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="timing rounds per case (default 7)")
    parser.add_argument("--markdown", action="store_true", help="print the BENCHMARKS.md table")
    args = parser.parse_args(argv)
    rows = []
    for case in CASES:
        model, _, _ = case.build()
        segments = sqrt_segments(model)
        check_equal_gradients(case, segments)
        held_plain, rise_plain = step_memory(case, None)
        held_ckpt, rise_ckpt = step_memory(case, segments)
        times = step_times(case, segments, args.rounds)
        wall = {name: statistics.median(pair[0]) for name, pair in times.items()}
        cpu = {name: statistics.median(pair[1]) for name, pair in times.items()}
        rows.append((case.name, len(model), segments, held_plain, rise_plain, rise_ckpt, wall, cpu))
        print(
            f"{case.name}: {len(model)} modules, {segments} segments; held {megabytes(held_plain)} "
            f"(checkpointed {megabytes(held_ckpt)}); step peak {megabytes(rise_plain)} plain, "
            f"{megabytes(rise_ckpt)} checkpointed ({rise_plain / rise_ckpt:.2f}x less); time "
            f"wall {wall['plain']:.3f} s / {wall['checkpointed']:.3f} s "
            f"({wall['checkpointed'] / wall['plain'] - 1:+.0%}), CPU {cpu['plain']:.3f} s / "
            f"{cpu['checkpointed']:.3f} s ({cpu['checkpointed'] / cpu['plain'] - 1:+.0%})",
            flush=True,
        )
    if args.markdown:
        print()
        print(
            "| case | modules, segments | held between steps | step peak, plain | step peak, "
            "checkpointed | memory saved | time / step, plain (wall, CPU) | time / step, "
            "checkpointed (wall, CPU) | extra time (wall, CPU) |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, modules, segments, held, rise_plain, rise_ckpt, wall, cpu in rows:
            print(
                f"| {name} | {modules}, {segments} | {megabytes(held)} | {megabytes(rise_plain)} | "
                f"{megabytes(rise_ckpt)} | {rise_plain / rise_ckpt:.1f}x | "
                f"{wall['plain']:.2f} s, {cpu['plain']:.2f} s | "
                f"{wall['checkpointed']:.2f} s, {cpu['checkpointed']:.2f} s | "
                f"{wall['checkpointed'] / wall['plain'] - 1:+.0%}, "
                f"{cpu['checkpointed'] / cpu['plain'] - 1:+.0%} |"
            )


if __name__ == "__main__":
    main()
