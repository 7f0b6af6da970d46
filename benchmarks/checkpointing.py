"""What gradient checkpointing saves and costs: peak memory and time of one training step of a
deep MLP and a deep CNN, plain and with ``checkpoint_sequential`` in about sqrt(n) segments
(or ``--segment-sizes``: checkpointed segments of the sizes given, e.g. shrinking with depth).

Run: ``python -m benchmarks.checkpointing`` (``--rounds N``; it ends with the tables of
BENCHMARKS.md). A step is forward, cross-entropy, backward and an SGD update, float32. On a
loaded machine run it with one BLAS thread (``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1``) and
read the CPU-time columns.

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
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import chainrule
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.utils.checkpoint import checkpoint, checkpoint_sequential


@dataclass
class Case:
    name: str
    build: Callable[[], tuple[nn.Sequential, chainrule.Tensor, chainrule.Tensor]]
    timed: bool = True


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
    # Memory only: with 4x the batch, activations outweigh backward's weight-sized temporaries.
    Case("MLP 32 x Linear(1024, 1024) + ReLU, batch 1024", lambda: deep_mlp(batch=1024), timed=False),
]


#: How a step runs the model: None plain; a count, ``checkpoint_sequential`` in that many
#: segments (PyTorch's even split, the last unchecked); a tuple, the modules of each
#: checkpointed segment in order (``--segment-sizes``), the modules left over unchecked.
Segments = int | tuple[int, ...] | None


def run_model(model: nn.Sequential, x: chainrule.Tensor, segments: Segments) -> chainrule.Tensor:
    if segments is None:
        return model(x)
    if isinstance(segments, int):
        return checkpoint_sequential(model, segments, x, use_reentrant=False)
    modules, start = list(model.children()), 0
    for size in segments:
        x = checkpoint(nn.Sequential(*modules[start : start + size]), x, use_reentrant=False)
        start += size
    return nn.Sequential(*modules[start:])(x)


def describe(model: nn.Sequential, segments: int | tuple[int, ...]) -> str:
    if isinstance(segments, int):
        return f"{len(model)}, {segments}"
    return f"{len(model)}, {'+'.join(map(str, segments))} (+{len(model) - sum(segments)} unchecked)"


def make_step(
    model: nn.Sequential, x: chainrule.Tensor, y: chainrule.Tensor, segments: Segments
) -> Callable[[Callable[[], None]], None]:
    """One training step; ``between()`` is called after forward, before backward."""
    optimizer = chainrule.optim.SGD(model.parameters(), lr=1e-4)

    def step(between: Callable[[], None] = lambda: None) -> None:
        model.zero_grad(set_to_none=False)
        loss = F.cross_entropy(run_model(model, x, segments), y)
        between()
        loss.backward()
        optimizer.step()

    return step


def torch_step(case: Case, segments: int | None) -> Callable[[], None]:
    """The same step in PyTorch (same shapes, its own initial weights)."""
    import torch
    from torch.utils.checkpoint import checkpoint_sequential as torch_checkpoint_sequential

    model, x, y = case.build()
    layers = []
    for module in model:
        if isinstance(module, nn.Linear):
            layers.append(torch.nn.Linear(module.in_features, module.out_features))
        elif isinstance(module, nn.Conv2d):
            layers.append(torch.nn.Conv2d(module.in_channels, module.out_channels, 3, padding=1))
        else:
            layers.append(
                {"ReLU": torch.nn.ReLU, "Flatten": torch.nn.Flatten}.get(
                    type(module).__name__, lambda: torch.nn.AdaptiveAvgPool2d(1)
                )()
            )
    torch_model = torch.nn.Sequential(*layers)
    torch_x, torch_y = torch.from_numpy(x.array), torch.from_numpy(y.array)
    optimizer = torch.optim.SGD(torch_model.parameters(), lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=False)
        if segments is None:
            out = torch_model(torch_x)
        else:
            out = torch_checkpoint_sequential(torch_model, segments, torch_x, use_reentrant=False)
        torch.nn.functional.cross_entropy(out, torch_y).backward()
        optimizer.step()

    return step


def sqrt_segments(model: nn.Sequential) -> int:
    return max(1, round(math.sqrt(len(model))))


def check_equal_gradients(case: Case, segments: int | tuple[int, ...]) -> None:
    grads = []
    for variant in (None, segments):
        model, x, y = case.build()
        model.zero_grad()
        F.cross_entropy(run_model(model, x, variant), y).backward()
        grads.append([p.grad.array for p in model.parameters()])
    if not all(np.array_equal(a, b) for a, b in zip(*grads)):
        raise AssertionError(f"{case.name}: checkpointed gradients differ from the plain ones")


@dataclass
class Memory:
    held: int  # weights, their .grad buffers and the batch: alive between steps
    kept: int  # what the step has added by the end of forward: what backward will read
    peak: int  # the most the step added at any moment


def step_memory(case: Case, segments: Segments) -> Memory:
    model, x, y = case.build()
    step = make_step(model, x, y, segments)
    step()  # the .grad buffers now exist
    held = (
        sum(p.array.nbytes + p.grad.array.nbytes for p in model.parameters())
        + x.array.nbytes
        + y.array.nbytes
    )
    kept = []
    gc.collect()
    tracemalloc.start()  # counts what is allocated from here on: the step's own memory
    try:
        step(lambda: kept.append(tracemalloc.get_traced_memory()[0]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return Memory(held, kept[0], peak)


Times = dict[str, tuple[list[float], list[float]]]  # per variant: wall and CPU seconds per round


def step_times(steps: dict[str, Callable[[], None]], rounds: int) -> Times:
    """Wall and CPU seconds of one step of each variant per round, the variants interleaved
    (their order rotating from round to round)."""
    for step in steps.values():
        step()  # warm up: .grad buffers, malloc's reusable heap
    times: Times = {name: ([], []) for name in steps}
    names = list(steps)
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            steps[name]()
            times[name][0].append(time.perf_counter() - wall)
            times[name][1].append(time.process_time() - cpu)
    return times


def megabytes(count: int) -> str:
    return f"{count / 1e6:.1f} MB"


def versus(plain: int, checkpointed: int) -> str:
    return f"{megabytes(plain)} / {megabytes(checkpointed)} ({plain / checkpointed:.1f}x less)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="timing rounds per case (default 7)")
    parser.add_argument("--segments", type=int, help="segments instead of sqrt(number of modules)")
    parser.add_argument(
        "--segment-sizes",
        help="modules of each checkpointed segment, comma-separated (e.g. 14,12,10,8,6,6,4); the "
        "modules left over run unchecked; PyTorch's rows are left out",
    )
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch's rows out")
    parser.add_argument("--only", help="run only the cases whose name contains this text")
    args = parser.parse_args(argv)
    try:
        import torch  # noqa: F401

        with_torch = not args.no_torch and not args.segment_sizes
    except ImportError:
        with_torch = False
    memory_rows, time_rows = [], []
    for case in CASES:
        if args.only and args.only not in case.name:
            continue
        model, x, y = case.build()
        segments: int | tuple[int, ...] = args.segments or sqrt_segments(model)
        if args.segment_sizes:
            segments = tuple(int(size) for size in args.segment_sizes.split(","))
        check_equal_gradients(case, segments)
        plain, checkpointed = step_memory(case, None), step_memory(case, segments)
        memory_rows.append(
            f"| {case.name} | {describe(model, segments)} | {megabytes(plain.held)} | "
            f"{versus(plain.kept, checkpointed.kept)} | {versus(plain.peak, checkpointed.peak)} |"
        )
        print(memory_rows[-1], flush=True)
        if not case.timed:
            continue
        steps = {
            "chainrule": make_step(model, x, y, None),
            "chainrule checkpointed": make_step(*case.build(), segments),
        }
        if with_torch and isinstance(segments, int):
            steps["pytorch"] = torch_step(case, None)
            steps["pytorch checkpointed"] = torch_step(case, segments)
        times = step_times(steps, args.rounds)
        wall = {name: statistics.median(pair[0]) for name, pair in times.items()}
        cpu = {name: statistics.median(pair[1]) for name, pair in times.items()}
        for library in ("chainrule", "pytorch") if with_torch else ("chainrule",):
            plain_name, checkpointed_name = library, f"{library} checkpointed"
            time_rows.append(
                f"| {case.name if library == 'chainrule' else ''} | {library} | "
                f"{wall[plain_name]:.2f} s / {wall[checkpointed_name]:.2f} s "
                f"({wall[checkpointed_name] / wall[plain_name] - 1:+.0%}) | "
                f"{cpu[plain_name]:.2f} s / {cpu[checkpointed_name]:.2f} s "
                f"({cpu[checkpointed_name] / cpu[plain_name] - 1:+.0%}) |"
            )
            print(time_rows[-1], flush=True)
    print()
    print(
        "| case | modules, segments | held between steps | kept for backward: plain / checkpointed | "
        "step peak: plain / checkpointed |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    print("\n".join(memory_rows))
    print()
    print("| case | library | time / step, wall: plain / checkpointed | CPU: plain / checkpointed |")
    print("| --- | --- | ---: | ---: |")
    print("\n".join(time_rows))


if __name__ == "__main__":
    main()
