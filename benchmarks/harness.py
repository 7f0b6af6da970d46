"""Run every benchmark case on every installed library in one process, and report the medians.

How a number is made:

1. Each library is imported once. A case whose builder or warm-up raises ImportError,
   AttributeError or NotImplementedError is reported as ``n/a (reason)``; any other error as
   ``error (reason)``. Nothing stops the run.
2. After a warm-up, each (case, library) gets K steps per *block*, K chosen so a block takes
   about ``block_seconds``. Per-step time = block time / K.
3. Each round times one block of every (case, library), the libraries of a case in an order
   rotated by one each round, with a pause before every block: OpenBLAS's worker threads spin
   for ~0.1 s after each call, and a block started during that spin is slowed down.
4. A block during which other processes used the CPUs (the machine's busy time from
   /proc/stat well above this process's own CPU time) is thrown away and run again after a
   longer pause, a few times at most; a round whose block stays disturbed is left out.
5. The report gives the median over rounds (over disturbed blocks, flagged with ``*``, only
   for a row that never had a quiet one).

Peak memory of one step is measured apart, untimed, with tracemalloc, for the libraries whose
arrays are NumPy's (NumPy reports its allocations to tracemalloc).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import re
import statistics
import sys
import time
import traceback
import tracemalloc
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.cases.common import COMPILED, NUMPY_ONLY, Case, Step

VENDORS = {"AuthenticAMD": "AMD", "GenuineIntel": "Intel"}
"""/proc/cpuinfo's vendor_id -> the name BENCHMARKS.md files that vendor's speed table under."""
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
             "amx_tile")
"""The instruction-set extensions that decide which GEMM kernels a BLAS can run."""


def speed_markers(vendor: str) -> tuple[str, str]:
    """The markers around one CPU vendor's speed section: a run on one vendor's machine
    rewrites only that vendor's table, so BENCHMARKS.md keeps one table per vendor seen."""
    key = vendor.lower().replace(" ", "-")
    return f"<!-- speed:{key}:begin -->", f"<!-- speed:{key}:end -->"


SPEED_BEGIN, SPEED_END = speed_markers("AMD")
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
NEW_DOCUMENT = (
    "# chainrule benchmarks\n\n"
    "Speed: run `python -m benchmarks` from the repository root (`--help` for options); it "
    "rewrites the section between the speed markers below and leaves the rest of this file "
    "alone.\n"
)

MISSING_FEATURE_ERRORS = (ImportError, AttributeError, NotImplementedError)
REFERENCE_LIBRARY = "pytorch"
FLOOR_LIBRARY = "floor"


# --------------------------------------------------------------------------------------------
# Libraries


def load_pytorch() -> Any:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    return torch


def load_jax() -> Any:
    import jax
    import jax.numpy  # noqa: F401 - makes jax.numpy an attribute of the module handed to cases

    return jax


def load_numpy() -> Any:
    import numpy

    return numpy


def load_chainrule() -> Any:
    import chainrule

    # As chainrule train and Trainer do: a process-wide malloc setting, so every library's
    # rows in this run get it (the report's header says so).
    chainrule.backends.tune_allocator()
    return chainrule


@dataclasses.dataclass(frozen=True)
class Library:
    """A competitor: how to import it, and whether tracemalloc can see its arrays."""

    name: str
    load: Callable[[], Any]
    traces_memory: bool = False


LIBRARIES = (
    Library("pytorch", load_pytorch),
    Library("jax", load_jax),
    Library("numpy", load_numpy, traces_memory=True),
    Library(FLOOR_LIBRARY, load_numpy),
    Library("chainrule", load_chainrule, traces_memory=True),
    Library(NUMPY_ONLY, load_chainrule, traces_memory=True),
    Library(COMPILED, load_chainrule, traces_memory=True),
)


@dataclasses.dataclass(frozen=True)
class Availability:
    """A loaded library module, or why there is none."""

    module: Any = None
    reason: str | None = None


def describe_error(error: BaseException, limit: int = 90) -> str:
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_libraries(libraries: Iterable[Library]) -> dict[str, Availability]:
    """Import each library once; a library that fails to import is unavailable for every case."""
    availability = {}
    for library in libraries:
        try:
            availability[library.name] = Availability(module=library.load())
        except Exception as error:  # a half-written library may fail in any way on import
            availability[library.name] = Availability(reason=describe_error(error))
    return availability


# --------------------------------------------------------------------------------------------
# Measuring CPU use, to notice other processes


@dataclasses.dataclass(frozen=True)
class CpuReading:
    """Wall clock, this process's CPU seconds (all threads), and the machine's busy CPU seconds.

    ``machine_busy`` is None where /proc/stat cannot be read; then no block counts as disturbed.
    """

    wall: float
    own_cpu: float
    machine_busy: float | None


def own_cpu_seconds() -> float:
    try:
        import resource
    except ImportError:  # not on Windows; os.times is coarser but exists everywhere
        times = os.times()
        return times.user + times.system
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds(stat_path: str = "/proc/stat") -> float | None:
    """CPU seconds spent busy by all CPUs since boot: user, nice, system, irq, softirq, steal.

    Steal counts as busy: it is time the hypervisor gave our CPUs to someone else. Guest time is
    already inside user time, and idle and iowait are not busy.
    """
    try:
        with open(stat_path) as stat_file:
            fields = stat_file.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[1:9])
    ticks_per_second = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq + steal) / ticks_per_second


class CpuMeter:
    """Takes ``CpuReading``s; each source can be replaced, so tests can inject numbers."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter,
                 own_cpu: Callable[[], float] = own_cpu_seconds,
                 machine_busy: Callable[[], float | None] = machine_busy_seconds) -> None:
        self.clock = clock
        self.own_cpu = own_cpu
        self.machine_busy = machine_busy

    def read(self) -> CpuReading:
        return CpuReading(self.clock(), self.own_cpu(), self.machine_busy())


def other_processes_cpu_seconds(start: CpuReading, end: CpuReading) -> float | None:
    """CPU seconds the rest of the machine used between two readings."""
    if start.machine_busy is None or end.machine_busy is None:
        return None
    return (end.machine_busy - start.machine_busy) - (end.own_cpu - start.own_cpu)


def block_was_disturbed(start: CpuReading, end: CpuReading, cpu_count: int,
                        tolerance: float = 0.05, slack_seconds: float = 0.02) -> bool:
    """True when other processes used more than ``tolerance`` of the machine during the block.

    Strict, because a little is enough: PyTorch's OpenMP threads, one per core, slow down many
    times over when another process takes a core from one of them.

    ``slack_seconds`` absorbs /proc/stat's resolution (one clock tick, 10 ms, per counter): on
    an idle machine the difference still wobbles by a tick or two.
    """
    other = other_processes_cpu_seconds(start, end)
    if other is None:
        return False
    allowed = tolerance * cpu_count * (end.wall - start.wall) + slack_seconds
    return other > allowed


# --------------------------------------------------------------------------------------------
# Timing


@dataclasses.dataclass(frozen=True)
class TimingConfig:
    rounds: int = 7
    block_seconds: float = 0.2
    pause_seconds: float = 0.5
    warmup_steps: int = 3
    max_retries: int = 3
    busy_tolerance: float = 0.05

    @classmethod
    def quick(cls) -> TimingConfig:
        """One short round: checks that everything runs, measures nothing worth keeping."""
        return cls(rounds=1, block_seconds=0.005, pause_seconds=0.0, warmup_steps=1,
                   max_retries=1)


@dataclasses.dataclass
class Runner:
    """One (case, library) pair: its step function, or why it has none, and its timings."""

    case: Case
    library: str
    step: Step | None = None
    status: str | None = None  # "n/a (...)" or "error (...)" when there is no step
    steps_per_block: int = 1
    seconds_per_step: list[float] = dataclasses.field(default_factory=list)  # quiet blocks
    # Blocks still disturbed after every retry: used only when a runner has no quiet block.
    disturbed_seconds_per_step: list[float] = dataclasses.field(default_factory=list)
    discarded_blocks: int = 0

    @property
    def runnable(self) -> bool:
        return self.step is not None and self.status is None


def failure_status(error: BaseException) -> str:
    kind = "n/a" if isinstance(error, MISSING_FEATURE_ERRORS) else "error"
    return f"{kind} ({describe_error(error)})"


def time_steps(step: Step, count: int, clock: Callable[[], float]) -> float:
    start = clock()
    for _ in range(count):
        step()
    return clock() - start


def calibrate_steps_per_block(step: Step, block_seconds: float,
                              clock: Callable[[], float] = time.perf_counter,
                              trials: int = 5) -> int:
    """K steps for a block of about ``block_seconds``, from the fastest of a few short runs.

    The fastest, because another process running during calibration would otherwise make K
    too small, and blocks too short for /proc/stat's 10 ms ticks to show a disturbance.
    """
    count = 1
    elapsed = time_steps(step, count, clock)
    while elapsed < block_seconds / 20:
        count *= 2
        elapsed = time_steps(step, count, clock)
    fastest = min([elapsed] + [time_steps(step, count, clock) for _ in range(trials - 1)])
    return max(1, round(block_seconds * count / max(fastest, 1e-9)))


def prepare_runner(case: Case, library: str, availability: Availability,
                   config: TimingConfig) -> Runner:
    """Build, warm up and calibrate one (case, library); failures become a status."""
    runner = Runner(case, library)
    if availability.module is None:
        runner.status = f"n/a ({availability.reason})"
        return runner
    try:
        step = case.builders[library](availability.module)
        for _ in range(config.warmup_steps):
            step()
        runner.steps_per_block = calibrate_steps_per_block(step, config.block_seconds)
    except Exception as error:
        runner.status = failure_status(error)
        if runner.status.startswith("error"):
            traceback.print_exc(file=sys.stderr)
        return runner
    runner.step = step
    return runner


def measure_block(runner: Runner, config: TimingConfig, meter: CpuMeter, cpu_count: int,
                  sleep: Callable[[float], None] = time.sleep) -> None:
    """Time one block of ``runner``; redo it while other processes disturbed it.

    The pause doubles before each retry, to wait out whatever else is running.
    """
    assert runner.step is not None
    for attempt in range(config.max_retries + 1):
        sleep(config.pause_seconds * 2**attempt)
        runner.step()  # untimed: brings caches and allocator back after the pause
        start = meter.read()
        for _ in range(runner.steps_per_block):
            runner.step()
        end = meter.read()
        seconds_per_step = (end.wall - start.wall) / runner.steps_per_block
        if not block_was_disturbed(start, end, cpu_count, config.busy_tolerance):
            runner.seconds_per_step.append(seconds_per_step)
            return
        runner.discarded_blocks += 1
    runner.disturbed_seconds_per_step.append(seconds_per_step)


def rotated(items: Sequence[Any], shift: int) -> list[Any]:
    if not items:
        return []
    shift %= len(items)
    return [*items[shift:], *items[:shift]]


def run_rounds(runners: Sequence[Runner], config: TimingConfig, meter: CpuMeter,
               cpu_count: int, sleep: Callable[[float], None] = time.sleep,
               progress: Callable[[str], None] | None = None) -> None:
    """Each round: every case, and within it every library's block in a rotated order."""
    cases = list(dict.fromkeys(runner.case.name for runner in runners))
    for round_index in range(config.rounds):
        if progress:
            progress(f"round {round_index + 1}/{config.rounds}")
        for case_name in cases:
            case_runners = [r for r in runners if r.case.name == case_name and r.runnable]
            for runner in rotated(case_runners, round_index):
                try:
                    measure_block(runner, config, meter, cpu_count, sleep)
                except Exception as error:
                    runner.status = failure_status(error)
                    traceback.print_exc(file=sys.stderr)


# --------------------------------------------------------------------------------------------
# Memory


@dataclasses.dataclass(frozen=True)
class MemoryResult:
    """Peak bytes traced during one training step, or why there is no number."""

    case: Case
    library: str
    peak_bytes: int | None = None  # everything alive at the step's peak: model, state, batch
    step_bytes: int | None = None  # how far the step rose above what existed before it
    status: str | None = None


def measure_step_memory(build: Callable[[], Step]) -> tuple[int, int]:
    """Build under tracemalloc, run one step (so gradients and momentum exist), trace the next."""
    tracemalloc.start()
    try:
        step = build()
        step()
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, peak - before


def measure_memory(cases: Sequence[Case], libraries: Sequence[Library],
                   availability: dict[str, Availability]) -> list[MemoryResult]:
    results = []
    for case in cases:
        if not case.measure_memory:
            continue
        for library in libraries:
            if not library.traces_memory or library.name not in case.builders:
                continue
            found = availability[library.name]
            if found.module is None:
                results.append(MemoryResult(case, library.name, status=f"n/a ({found.reason})"))
                continue
            builder = case.builders[library.name]
            try:
                peak, rise = measure_step_memory(lambda b=builder, m=found.module: b(m))
            except Exception as error:
                results.append(MemoryResult(case, library.name, status=failure_status(error)))
                continue
            results.append(MemoryResult(case, library.name, peak, rise))
    return results


# --------------------------------------------------------------------------------------------
# Summaries


@dataclasses.dataclass(frozen=True)
class Summary:
    """What the table shows for one (case, library)."""

    case: Case
    library: str
    median_seconds: float | None
    spread: float | None  # (max - min) / median over rounds
    samples_per_second: float | None
    speedup_vs_reference: float | None  # reference time / this time: above 1 is faster
    percent_of_floor: float | None  # floor time / this time * 100
    status: str | None
    only_disturbed: bool = False  # no quiet block: the numbers come from disturbed ones
    rounds_used: int = 0  # rounds behind the median
    rounds_run: int = 0


def median_seconds(samples: Sequence[float]) -> float | None:
    return statistics.median(samples) if samples else None


def relative_spread(samples: Sequence[float]) -> float | None:
    if len(samples) < 2:
        return None
    return (max(samples) - min(samples)) / statistics.median(samples)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def usable_samples(runner: Runner) -> list[float]:
    """Quiet blocks' times; a runner that never had a quiet block falls back to disturbed ones."""
    return runner.seconds_per_step or runner.disturbed_seconds_per_step


def summarize(runners: Sequence[Runner]) -> list[Summary]:
    medians = {(r.case.name, r.library): median_seconds(usable_samples(r)) for r in runners}
    summaries = []
    for runner in runners:
        median = medians[runner.case.name, runner.library]
        status = runner.status
        if status is None and median is None:
            status = "n/a (not timed)"
        reference = medians.get((runner.case.name, REFERENCE_LIBRARY))
        floor = medians.get((runner.case.name, FLOOR_LIBRARY))
        floor_fraction = ratio(floor, median)
        summaries.append(Summary(
            case=runner.case,
            library=runner.library,
            median_seconds=median,
            spread=relative_spread(usable_samples(runner)),
            samples_per_second=ratio(runner.case.samples_per_step, median),
            speedup_vs_reference=ratio(reference, median),
            percent_of_floor=None if floor_fraction is None else 100 * floor_fraction,
            status=status,
            only_disturbed=not runner.seconds_per_step and median is not None,
            rounds_used=len(usable_samples(runner)),
            rounds_run=len(runner.seconds_per_step) + len(runner.disturbed_seconds_per_step),
        ))
    return summaries


# --------------------------------------------------------------------------------------------
# Report


def format_duration(seconds: float, unit: str) -> str:
    value = seconds * (1e6 if unit == "us" else 1e3)
    if value >= 100:
        text = f"{value:.0f}"
    elif value >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {'µs' if unit == 'us' else 'ms'}"


def format_bytes(count: int | None) -> str:
    if count is None:
        return "—"
    return f"{count / 1e6:.2f} MB" if count >= 1e5 else f"{count / 1e3:.1f} kB"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]],
                   align_right_from: int = 2) -> str:
    align = ["---" if index < align_right_from else "---:" for index in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def speed_table(summaries: Sequence[Summary]) -> str:
    header = ["case", "library", "time / step", "spread", "rounds", "samples / s",
              "vs PyTorch", "% of floor"]
    rows = []
    previous_case = None
    for summary in summaries:
        case_cell = summary.case.title if summary.case.name != previous_case else ""
        previous_case = summary.case.name
        if summary.status is not None:
            rows.append([case_cell, summary.library, summary.status, *["—"] * 5])
            continue
        assert summary.median_seconds is not None and summary.samples_per_second is not None
        rows.append([
            case_cell,
            summary.library,
            format_duration(summary.median_seconds, summary.case.unit)
            + (" *" if summary.only_disturbed else ""),
            "—" if summary.spread is None else f"{100 * summary.spread:.0f}%",
            f"{summary.rounds_used}/{summary.rounds_run}",
            f"{summary.samples_per_second:,.0f}",
            "—" if summary.speedup_vs_reference is None
            else f"{summary.speedup_vs_reference:.2f}x",
            "—" if summary.percent_of_floor is None else f"{summary.percent_of_floor:.0f}%",
        ])
    return markdown_table(header, rows)


def memory_table(results: Sequence[MemoryResult]) -> str:
    header = ["case", "library", "peak during a step", "rise during the step",
              "theoretical minimum"]
    rows = []
    previous_case = None
    for result in results:
        case_cell = result.case.title if result.case.name != previous_case else ""
        previous_case = result.case.name
        minimum = format_bytes(result.case.minimum_memory_bytes)
        if result.status is not None:
            rows.append([case_cell, result.library, result.status, "—", minimum])
        else:
            rows.append([case_cell, result.library, format_bytes(result.peak_bytes),
                         format_bytes(result.step_bytes), minimum])
    return markdown_table(header, rows)


def read_cpuinfo(cpuinfo_path: str = "/proc/cpuinfo") -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        with open(cpuinfo_path) as cpuinfo:
            for line in cpuinfo:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def read_cpu_model(cpuinfo_path: str = "/proc/cpuinfo") -> str:
    model = read_cpuinfo(cpuinfo_path).get("model name")
    return model or platform.processor() or platform.machine() or "unknown CPU"


def cpu_vendor(cpuinfo_path: str = "/proc/cpuinfo") -> str:
    """"AMD", "Intel", or the vendor id as the CPU gives it (the machine's name without one)."""
    vendor_id = read_cpuinfo(cpuinfo_path).get("vendor_id", "")
    return VENDORS.get(vendor_id, vendor_id or platform.machine() or "unknown")


def describe_cpu(cpuinfo_path: str = "/proc/cpuinfo") -> str:
    """Vendor, model, family/model numbers, logical cores and the ISA extensions BLAS kernels
    depend on, e.g. ``AMD EPYC (AMD, family 25 model 1), 2 logical cores; ISA: sse4_2, avx,
    avx2, fma; no avx512f``."""
    fields = read_cpuinfo(cpuinfo_path)
    flags = set(fields.get("flags", "").split())
    identity = f"{cpu_vendor(cpuinfo_path)}"
    if "cpu family" in fields:
        identity += f", family {fields['cpu family']} model {fields.get('model', '?')}"
    text = f"{read_cpu_model(cpuinfo_path)} ({identity}), {os.cpu_count()} logical cores"
    if flags:
        present = [flag for flag in ISA_FLAGS if flag in flags]
        text += f"; ISA: {', '.join(present) or 'none of ' + ', '.join(ISA_FLAGS)}"
        if "avx512f" not in flags:
            text += "; no avx512f"
    return text


def describe_blas() -> str:
    try:
        import threadpoolctl
    except ImportError:
        return "BLAS unknown (threadpoolctl is not installed)"
    pools = [pool for pool in threadpoolctl.threadpool_info() if pool.get("user_api") == "blas"]
    if not pools:
        return "BLAS unknown (threadpoolctl found none)"
    return "; ".join(
        f"{pool.get('internal_api')} {pool.get('version')} ({pool.get('architecture', '?')}, "
        f"{pool.get('num_threads')} threads)" for pool in pools
    )


def describe_torch_cpu(torch: Any) -> str:
    """PyTorch's CPU kernel level and its GEMM library, e.g. ``CPU capability AVX2, MKL``."""
    capability = torch.backends.cpu.get_cpu_capability()
    blas = "MKL" if torch.backends.mkl.is_available() else "no MKL (OpenBLAS or its own)"
    onednn = ", oneDNN" if torch.backends.mkldnn.is_available() else ""
    return f"CPU capability {capability}, {blas}{onednn}"


def describe_kernel_threads(backend: Any) -> str:
    """The kernels' thread count and numba's threading layer, e.g. ``2 kernel threads, numba
    layer omp``; the layer numba started, or the one chainrule will ask for ("not started")."""
    import numba

    threads = backend.get_num_threads()
    try:
        layer = numba.threading_layer()
    except ValueError:  # no threads started yet
        layer = f"{backend.threading_layer()}, not started"
    return (f"{threads} kernel thread{'s' if threads != 1 else ''} "
            f"({backend.THREADS_VARIABLE}={os.environ.get(backend.THREADS_VARIABLE, 'auto')}), "
            f"numba layer {layer}")


def describe_machine(availability: dict[str, Availability]) -> list[str]:
    """One line each: CPU, Python and libc, NumPy and its BLAS, the other libraries."""
    libc_name, libc_version = platform.libc_ver()
    lines = [
        f"CPU: {describe_cpu()}",
        f"Python {platform.python_version()}"
        + (f", {libc_name} {libc_version}" if libc_name else ""),
    ]
    numpy_found = availability.get("numpy", Availability())
    if numpy_found.module is not None:
        lines.append(f"NumPy {numpy_found.module.__version__}, BLAS: {describe_blas()}")
    torch_found = availability.get("pytorch", Availability())
    if torch_found.module is not None:
        torch = torch_found.module
        lines.append(f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads, "
                     f"{describe_torch_cpu(torch)})")
    jax_found = availability.get("jax", Availability())
    if jax_found.module is not None:
        jax = jax_found.module
        lines.append(f"JAX {jax.__version__} (backend {jax.default_backend()})")
    chainrule_found = availability.get("chainrule", Availability())
    if chainrule_found.module is not None:
        version = getattr(chainrule_found.module, "__version__", "unversioned")
        lines.append(f"chainrule {version}")
        blas = getattr(getattr(chainrule_found.module, "backends", None), "blas", None)
        if blas is not None:
            lines.append(f"chainrule's matrix products (and the floor rows'): {blas.describe()}")
        backend = getattr(getattr(chainrule_found.module, "backends", None), "numba", None)
        if backend is not None and backend.is_available():
            import numba

            lines.append(f"numba {numba.__version__}: chainrule's kernels run in the chainrule rows "
                         f"({describe_kernel_threads(backend)}), and are switched off in the "
                         f"{NUMPY_ONLY} rows")
        allocator = getattr(getattr(chainrule_found.module, "backends", None), "allocator", None)
        if allocator is not None and allocator.is_tuned():
            # mallopt is process-wide: once tuned, every library runs with it.
            lines.append("glibc malloc thresholds raised by chainrule.backends.tune_allocator() "
                         "(as chainrule train does): process-wide, so every row of this run used "
                         "them (leave chainrule out with "
                         "--libraries to see the others without)")
    elif "chainrule" in availability:
        lines.append(f"chainrule: not importable ({chainrule_found.reason})")
    return lines


def render_report(summaries: Sequence[Summary], memory: Sequence[MemoryResult],
                  machine: Sequence[str], config: TimingConfig,
                  runners: Sequence[Runner], when: datetime.datetime) -> str:
    discarded = sum(runner.discarded_blocks for runner in runners)
    missed = sum(len(runner.disturbed_seconds_per_step) for runner in runners)
    unreliable = sum(summary.only_disturbed for summary in summaries)
    parts = [
        f"## Speed on {cpu_vendor()} CPUs",
        "",
        f"Measured {when:%Y-%m-%d %H:%M} by `python -m benchmarks`: {config.rounds} round(s), "
        f"each timing a block of about {config.block_seconds:g} s per case and library "
        f"(libraries in an order rotated each round, {config.pause_seconds:g} s pause before "
        "each block); the table gives the median over rounds.",
        "",
        *[f"- {line}" for line in machine],
        "",
        speed_table(summaries),
        "",
        "A step is forward, backward and an SGD update with momentum 0.9, float32, on a fixed "
        "random batch. *spread* is (slowest - fastest) / median over rounds; *rounds* counts "
        "the rounds behind the median (a round whose block stayed disturbed is left out). "
        "*vs PyTorch* is PyTorch's time / this library's time: above 1.00x is faster than PyTorch. *% of "
        "floor* is the floor's time / this library's time, where *floor* is only the matrix "
        "products the step needs (on preallocated arrays, im2col shapes for convolutions, "
        "through the BLAS chainrule uses: see the chainrule line above), measured in the same "
        "run. *numpy* is the step written by hand in "
        "NumPy, with no framework.",
    ]
    notes = [f"{summary.case.title}, {summary.library}: {summary.case.notes[summary.library]}"
             for summary in summaries
             if summary.library in summary.case.notes and summary.status is None]
    if notes:
        parts += ["", *[f"- {note}" for note in notes]]
    parts += [
        "",
        f"Blocks thrown away because another process used the CPUs: {discarded}"
        + (f"; {missed} round(s) of some row had no quiet block after {config.max_retries} "
           "retries and are left out of its median" if missed else "") + ".",
    ]
    if unreliable:
        parts.append(f"\n\\* {unreliable} row(s) had no quiet block at all: their numbers "
                     "come from disturbed blocks and are unreliable. Run again on an idle "
                     "machine.")
    if memory:
        parts += [
            "",
            "### Memory of one training step",
            "",
            memory_table(memory),
            "",
            "Measured with tracemalloc in a separate, untimed pass (it sees NumPy's arrays, so "
            "only NumPy-based libraries have a number). *peak during a step* is everything "
            "alive at the step's peak: parameters, gradients, momentum, the batch and the "
            "step's temporaries. *theoretical minimum* (MLPs) is 4 (3P + B·A) + 8B bytes: P "
            "parameters held three times (values, gradients, momentum), and per sample of the "
            "batch B the A = sum of layer widths floats that backward must keep (the input, "
            "each hidden ReLU output, the softmax probabilities), plus int64 labels.",
        ]
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------------------------
# BENCHMARKS.md


def replace_section(document: str, body: str, begin: str = SPEED_BEGIN,
                    end: str = SPEED_END) -> str:
    """Put ``body`` between the markers, keeping everything outside them; append if missing."""
    start = document.find(begin)
    stop = document.find(end, start + len(begin)) if start != -1 else -1
    if start == -1 and document.find(end) == -1:
        separator = "" if document.endswith("\n\n") else ("\n" if document.endswith("\n") else "\n\n")
        return f"{document}{separator}{begin}\n{body.strip()}\n{end}\n"
    if start == -1 or stop == -1:
        raise ValueError(f"found only one of {begin!r} and {end!r}; fix the file by hand")
    return f"{document[:start + len(begin)]}\n{body.strip()}\n{document[stop:]}"


def write_atomically(path: Path, text: str) -> None:
    """Write a temporary file beside ``path``, then rename it over ``path``."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def write_speed_section(path: Path, body: str, vendor: str | None = None) -> None:
    """Rewrite the speed section of ``vendor`` (this machine's CPU vendor by default). A vendor
    seen for the first time gets its section after the last one there is."""
    document = path.read_text(encoding="utf-8") if path.exists() else NEW_DOCUMENT
    begin, end = speed_markers(vendor or cpu_vendor())
    other_ends = [match.end() for match in re.finditer(r"<!-- speed:[\w-]+:end -->\n?", document)]
    if begin not in document and end not in document and other_ends:
        cut = other_ends[-1]
        document = f"{document[:cut]}\n{begin}\n{body.strip()}\n{end}\n{document[cut:]}"
    else:
        document = replace_section(document, body, begin, end)
    write_atomically(path, document)


# --------------------------------------------------------------------------------------------
# Command line


def select(names: Sequence[str], wanted: str | None) -> list[str]:
    """Names containing any comma-separated part of ``wanted`` (all names when it is None)."""
    if not wanted:
        return list(names)
    parts = [part.strip() for part in wanted.split(",") if part.strip()]
    return [name for name in names if any(part in name for part in parts)]


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time chainrule's training steps against PyTorch, JAX, NumPy and the "
                    "matmul floor, interleaved in one process; write BENCHMARKS.md's speed "
                    "table.")
    parser.add_argument("--rounds", type=int, default=None, help="rounds to take medians over "
                        "(default 7; 1 with --quick)")
    parser.add_argument("--cases", help="comma-separated parts of case names, e.g. mlp,tiny")
    parser.add_argument("--libraries", help="comma-separated library names (default: all of "
                        + ", ".join(library.name for library in LIBRARIES) + ")")
    parser.add_argument("--quick", action="store_true", help="one round of tiny blocks and no "
                        "pauses: checks that everything runs; the numbers mean little")
    parser.add_argument("--no-write", action="store_true", help="print only; leave "
                        "BENCHMARKS.md alone")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help=f"file to write the speed section into (default {DEFAULT_OUTPUT})")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    arguments = parser.parse_args(argv)
    if arguments.rounds is not None and arguments.rounds < 1:
        parser.error("--rounds must be at least 1")
    return arguments


def run(cases: Sequence[Case], libraries: Sequence[Library], config: TimingConfig,
        meter: CpuMeter | None = None, sleep: Callable[[float], None] = time.sleep,
        measure_memory_too: bool = True,
        progress: Callable[[str], None] | None = None) -> str:
    """Run the benchmark and return the report's Markdown."""
    availability = check_libraries(libraries)
    runners = []
    for case in cases:
        for library in libraries:
            if library.name not in case.builders:
                continue
            if progress:
                progress(f"warming up {case.name} / {library.name}")
            runners.append(prepare_runner(case, library.name, availability[library.name],
                                          config))
    run_rounds(runners, config, meter or CpuMeter(), os.cpu_count() or 1, sleep, progress)
    memory = measure_memory(cases, libraries, availability) if measure_memory_too else []
    return render_report(summarize(runners), memory, describe_machine(availability), config,
                         runners, datetime.datetime.now())


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks.cases import ALL_CASES

    arguments = parse_arguments(argv)
    if arguments.list:
        for case in ALL_CASES:
            print(f"{case.name:28} {case.title}  [{', '.join(case.builders)}]")
        return 0
    case_names = select([case.name for case in ALL_CASES], arguments.cases)
    library_names = select([library.name for library in LIBRARIES], arguments.libraries)
    cases = [case for case in ALL_CASES if case.name in case_names]
    libraries = [library for library in LIBRARIES if library.name in library_names]
    if not cases or not libraries:
        print("no case or no library matches the filters; see --list", file=sys.stderr)
        return 2
    config = TimingConfig.quick() if arguments.quick else TimingConfig()
    if arguments.rounds is not None:
        config = dataclasses.replace(config, rounds=arguments.rounds)

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    report = run(cases, libraries, config, measure_memory_too=not arguments.no_memory,
                 progress=progress)
    print(report)
    if not arguments.no_write:
        write_speed_section(arguments.output, report)
        print(f"wrote the speed section of {arguments.output}", file=sys.stderr)
    return 0
