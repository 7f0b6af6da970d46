"""The benchmark harness's logic, on fake libraries, cases and CPU readings. No timing asserts."""

from __future__ import annotations

import types

import pytest

from benchmarks import harness
from benchmarks.cases import mlp
from benchmarks.cases.common import Case


def fake_case(name: str = "fake", builders: dict | None = None, samples: int = 10) -> Case:
    return Case(name=name, title=f"{name} title", samples_per_step=samples,
                builders=builders or {})


def timed_runner(case: Case, library: str, seconds: list[float]) -> harness.Runner:
    runner = harness.Runner(case, library, step=lambda: None)
    runner.seconds_per_step.extend(seconds)
    return runner


class ScriptedMeter:
    """Hands out prepared CPU readings, two per block (start, end)."""

    def __init__(self, readings: list[harness.CpuReading]) -> None:
        self.readings = list(readings)

    def read(self) -> harness.CpuReading:
        return self.readings.pop(0)


def quiet_block(wall_start: float, seconds: float = 0.2, own: float = 0.4,
                others: float = 0.0) -> list[harness.CpuReading]:
    """Start and end readings of a block in which other processes used ``others`` CPU seconds."""
    return [harness.CpuReading(wall_start, 10.0, 100.0),
            harness.CpuReading(wall_start + seconds, 10.0 + own, 100.0 + own + others)]


# ---------------------------------------------------------------- medians and ratios


def test_summary_takes_medians_and_ratios_against_pytorch_and_floor():
    case = fake_case(samples=100)
    runners = [
        timed_runner(case, "pytorch", [0.004, 0.006, 0.005]),
        timed_runner(case, "floor", [0.002, 0.002, 0.003]),
        timed_runner(case, "chainrule", [0.010, 0.011, 0.009, 0.100]),
    ]
    summaries = {summary.library: summary for summary in harness.summarize(runners)}

    assert summaries["pytorch"].median_seconds == pytest.approx(0.005)
    assert summaries["pytorch"].speedup_vs_reference == pytest.approx(1.0)
    assert summaries["pytorch"].samples_per_second == pytest.approx(100 / 0.005)
    assert summaries["floor"].percent_of_floor == pytest.approx(100.0)

    chainrule = summaries["chainrule"]
    assert chainrule.median_seconds == pytest.approx(0.0105)  # median of four: the middle two
    assert chainrule.speedup_vs_reference == pytest.approx(0.005 / 0.0105)
    assert chainrule.percent_of_floor == pytest.approx(100 * 0.002 / 0.0105)
    assert chainrule.spread == pytest.approx((0.100 - 0.009) / 0.0105)


def test_summary_without_reference_or_floor_leaves_ratios_empty():
    case = fake_case()
    (summary,) = harness.summarize([timed_runner(case, "chainrule", [0.001])])
    assert summary.speedup_vs_reference is None
    assert summary.percent_of_floor is None
    assert summary.spread is None  # one round has no spread


def test_ratio_and_median_edge_cases():
    assert harness.median_seconds([]) is None
    assert harness.ratio(1.0, None) is None
    assert harness.ratio(None, 1.0) is None
    assert harness.ratio(1.0, 0.0) is None
    assert harness.ratio(3.0, 2.0) == pytest.approx(1.5)


def test_format_duration_units():
    assert harness.format_duration(0.0045, "ms") == "4.50 ms"
    assert harness.format_duration(0.0162, "ms") == "16.2 ms"
    assert harness.format_duration(29e-6, "us") == "29.0 µs"
    assert harness.format_duration(0.25, "ms") == "250 ms"


def test_mlp_minimum_memory_formula():
    sizes, batch = (784, 512, 512, 10), 128
    parameters = 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10
    expected = 4 * (3 * parameters + batch * (784 + 512 + 512 + 10)) + 8 * batch
    assert mlp.mlp_minimum_memory_bytes(sizes, batch) == expected


# ---------------------------------------------------------------- n/a reporting


def test_library_that_lacks_a_layer_is_reported_not_available():
    lacking_linear = types.SimpleNamespace(nn=types.SimpleNamespace(), tensor=lambda array: array)
    case = mlp.CASES[0]
    runner = harness.prepare_runner(case, "chainrule", harness.Availability(lacking_linear),
                                    harness.TimingConfig.quick())
    assert not runner.runnable
    assert runner.status.startswith("n/a (AttributeError")
    assert "Linear" in runner.status


def test_not_implemented_step_is_reported_not_available():
    def build(lib):
        def step():
            raise NotImplementedError("GRU backward")
        return step

    runner = harness.prepare_runner(fake_case(builders={"lib": build}), "lib",
                                    harness.Availability(object()), harness.TimingConfig.quick())
    assert runner.status == "n/a (NotImplementedError: GRU backward)"


def test_other_errors_are_reported_as_errors_without_stopping(capsys):
    def build(lib):
        raise ValueError("shapes do not match")

    runner = harness.prepare_runner(fake_case(builders={"lib": build}), "lib",
                                    harness.Availability(object()), harness.TimingConfig.quick())
    assert runner.status == "error (ValueError: shapes do not match)"
    assert "ValueError" in capsys.readouterr().err  # the traceback goes to stderr


def test_each_library_is_loaded_once_and_failures_become_reasons():
    loads = []

    def load_working():
        loads.append("working")
        return types.SimpleNamespace(name="working")

    def load_missing():
        loads.append("missing")
        raise ImportError("No module named 'missing'")

    libraries = [harness.Library("working", load_working),
                 harness.Library("missing", load_missing)]
    cases = [fake_case("one", {"working": lambda lib: lambda: None,
                               "missing": lambda lib: lambda: None}),
             fake_case("two", {"working": lambda lib: lambda: None,
                               "missing": lambda lib: lambda: None})]
    meter = ScriptedMeter([reading for block in range(2) for reading in quiet_block(block)])
    config = harness.TimingConfig(rounds=1, block_seconds=1e-4, pause_seconds=0.0,
                                  warmup_steps=1)
    report = harness.run(cases, libraries, config, meter=meter, sleep=lambda seconds: None,
                         measure_memory_too=False)

    assert sorted(loads) == ["missing", "working"]
    assert report.count("n/a (ImportError: No module named 'missing')") == 2
    assert "| one title | working |" in report


def test_speed_table_shows_status_instead_of_numbers():
    runner = harness.Runner(fake_case(), "chainrule", status="n/a (AttributeError: nn.GRU)")
    table = harness.speed_table(harness.summarize([runner]))
    assert "| fake title | chainrule | n/a (AttributeError: nn.GRU) | — | — |" in table


# ---------------------------------------------------------------- busy detection


def test_quiet_block_is_not_disturbed():
    start, end = quiet_block(0.0, seconds=0.2, own=0.4, others=0.01)
    assert harness.other_processes_cpu_seconds(start, end) == pytest.approx(0.01)
    assert not harness.block_was_disturbed(start, end, cpu_count=2)


def test_block_with_another_busy_process_is_disturbed():
    start, end = quiet_block(0.0, seconds=0.2, own=0.25, others=0.15)
    assert harness.block_was_disturbed(start, end, cpu_count=2)


def test_calibration_uses_the_fastest_run_so_a_disturbance_cannot_shrink_blocks():
    durations = iter([0.001] * 8 + [0.5] + [0.001] * 100)  # one step slowed by another process
    clock_time = [0.0]

    def step():
        clock_time[0] += next(durations)

    steps = harness.calibrate_steps_per_block(step, 0.2, clock=lambda: clock_time[0])
    assert steps == 200  # 0.2 s / 1 ms, not 0.2 s / the disturbed run's average


def test_no_proc_stat_means_no_block_is_disturbed():
    start = harness.CpuReading(0.0, 0.0, None)
    end = harness.CpuReading(1.0, 0.1, None)
    assert harness.other_processes_cpu_seconds(start, end) is None
    assert not harness.block_was_disturbed(start, end, cpu_count=2)


def test_disturbed_block_is_redone():
    meter = ScriptedMeter([*quiet_block(0.0, others=0.3), *quiet_block(1.0, seconds=0.1)])
    runner = harness.Runner(fake_case(), "lib", step=lambda: None, steps_per_block=10)
    pauses = []
    harness.measure_block(runner, harness.TimingConfig(max_retries=3, pause_seconds=0.5), meter,
                          cpu_count=2, sleep=pauses.append)
    assert pauses == [0.5, 1.0]  # a longer pause before the retry
    assert runner.discarded_blocks == 1
    assert runner.seconds_per_step == [pytest.approx(0.01)]  # the quiet block, 0.1 s / 10 steps


def test_block_disturbed_every_time_is_set_aside():
    meter = ScriptedMeter([reading for attempt in range(3)
                           for reading in quiet_block(attempt, others=0.3)])
    runner = harness.Runner(fake_case(), "lib", step=lambda: None, steps_per_block=4)
    harness.measure_block(runner, harness.TimingConfig(max_retries=2), meter, cpu_count=2,
                          sleep=lambda seconds: None)
    assert runner.discarded_blocks == 3
    assert runner.seconds_per_step == []
    assert runner.disturbed_seconds_per_step == [pytest.approx(0.05)]


def test_median_ignores_disturbed_blocks_unless_there_is_nothing_else():
    case = fake_case()
    quiet = timed_runner(case, "pytorch", [0.002, 0.004])
    quiet.disturbed_seconds_per_step.append(1.0)
    noisy = harness.Runner(case, "chainrule", step=lambda: None)
    noisy.disturbed_seconds_per_step.extend([0.5, 0.7, 0.9])
    by_library = {s.library: s for s in harness.summarize([quiet, noisy])}
    assert by_library["pytorch"].median_seconds == pytest.approx(0.003)
    assert not by_library["pytorch"].only_disturbed
    assert by_library["chainrule"].median_seconds == pytest.approx(0.7)
    assert by_library["chainrule"].only_disturbed
    assert by_library["pytorch"].rounds_used == 2 and by_library["pytorch"].rounds_run == 3
    table = harness.speed_table(list(by_library.values()))
    assert "| pytorch | 3.00 ms | 67% | 2/3 |" in table
    assert "| chainrule | 700 ms * | 57% | 3/3 |" in table


def test_machine_busy_seconds_reads_proc_stat(tmp_path):
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice
    stat.write_text("cpu  300 10 200 5000 40 5 15 20 7 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
    ticks = harness.os.sysconf("SC_CLK_TCK")
    assert harness.machine_busy_seconds(str(stat)) == pytest.approx(550 / ticks)
    assert harness.machine_busy_seconds(str(tmp_path / "absent")) is None


# ---------------------------------------------------------------- rounds and filters


def test_libraries_are_rotated_each_round():
    order = []
    case = fake_case()
    runners = [harness.Runner(case, name, step=lambda: None) for name in ("a", "b", "c")]
    for runner in runners:
        runner.step = lambda name=runner.library: order.append(name)
    meter = ScriptedMeter([reading for block in range(6) for reading in quiet_block(block)])
    config = harness.TimingConfig(rounds=2, pause_seconds=0.0)
    harness.run_rounds(runners, config, meter, cpu_count=2, sleep=lambda seconds: None)
    # Each block is one untimed step and one timed step.
    assert order[::2] == ["a", "b", "c", "b", "c", "a"]
    assert all(len(runner.seconds_per_step) == 2 for runner in runners)


def test_select_filters_by_comma_separated_parts():
    names = ["mlp-784-512-512-10-b128", "mlp-784-128-10-b64", "cnn-b64", "tiny"]
    assert harness.select(names, None) == names
    assert harness.select(names, "tiny,cnn") == ["cnn-b64", "tiny"]
    assert harness.select(names, "b64") == ["mlp-784-128-10-b64", "cnn-b64"]


# ---------------------------------------------------------------- BENCHMARKS.md


DOCUMENT = """# chainrule benchmarks

Intro written by hand.

<!-- speed:amd:begin -->
old speed table
<!-- speed:amd:end -->

## Learning quality

<!-- accuracy:begin -->
accuracy table
<!-- accuracy:end -->
"""


def test_replace_section_keeps_everything_outside_the_markers():
    updated = harness.replace_section(DOCUMENT, "new speed table\n")
    assert "old speed table" not in updated
    assert "<!-- speed:amd:begin -->\nnew speed table\n<!-- speed:amd:end -->" in updated
    before, after = DOCUMENT.split("old speed table\n")
    assert updated.startswith(before)
    assert updated.endswith(after)


def test_replace_section_appends_when_markers_are_missing():
    updated = harness.replace_section("# Title\n\nText.\n", "table")
    assert updated == "# Title\n\nText.\n\n<!-- speed:amd:begin -->\ntable\n<!-- speed:amd:end -->\n"


def test_replace_section_refuses_a_lone_marker():
    with pytest.raises(ValueError):
        harness.replace_section("<!-- speed:amd:begin -->\nno end\n", "table")


def test_write_speed_section_creates_then_updates_the_file(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    harness.write_speed_section(path, "first table", vendor="AMD")
    created = path.read_text()
    assert created.startswith("# chainrule benchmarks\n")
    assert "python -m benchmarks" in created
    assert "<!-- speed:amd:begin -->\nfirst table\n<!-- speed:amd:end -->" in created

    path.write_text(created + "\n<!-- accuracy:begin -->\nkept\n<!-- accuracy:end -->\n")
    harness.write_speed_section(path, "second table", vendor="AMD")
    updated = path.read_text()
    assert "second table" in updated and "first table" not in updated
    assert "<!-- accuracy:begin -->\nkept\n<!-- accuracy:end -->" in updated
    assert [p.name for p in tmp_path.iterdir()] == ["BENCHMARKS.md"]  # no temporary left


def test_each_cpu_vendor_keeps_its_own_speed_table(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# B\n\n<!-- speed:amd:begin -->\namd table\n<!-- speed:amd:end -->\n\nnotes\n")
    harness.write_speed_section(path, "intel table", vendor="Intel")
    harness.write_speed_section(path, "intel table, again", vendor="Intel")
    text = path.read_text()
    assert "amd table" in text and "intel table, again" in text and "intel table\n" not in text
    # the new vendor's section follows the last speed section, before the prose after it
    marks = ("<!-- speed:amd:end -->", "<!-- speed:intel:begin -->", "notes")
    positions = [text.index(mark) for mark in marks]
    assert positions == sorted(positions)


def test_cpu_description_names_vendor_model_and_isa(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\n"
                       "model name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: fpu sse4_2 avx avx2 fma "
                       "avx512f avx512bw amx_tile\n\nprocessor\t: 1\nvendor_id\t: Other\n")
    assert harness.cpu_vendor(str(cpuinfo)) == "Intel"
    text = harness.describe_cpu(str(cpuinfo))
    assert text.startswith("Intel(R) Xeon(R) Platinum 8480+ (Intel, family 6 model 143)")
    assert text.endswith("ISA: sse4_2, avx, avx2, fma, avx512f, avx512bw, amx_tile")
    assert harness.describe_cpu(str(tmp_path / "missing")).endswith("logical cores")


def test_report_prints_a_case_note_only_for_a_library_that_ran():
    case = Case(name="tiny", title="tiny title", samples_per_step=1, builders={},
                notes={"jax": "jit of grad", "chainrule": "never shown"})
    runners = [timed_runner(case, "jax", [1e-5]),
               harness.Runner(case, "chainrule", status="n/a (ImportError: gone)")]
    report = harness.render_report(harness.summarize(runners), [], ["CPU: fake"],
                                   harness.TimingConfig(), runners,
                                   harness.datetime.datetime(2024, 1, 1))
    assert "- tiny title, jax: jit of grad" in report
    assert "never shown" not in report
    assert "- CPU: fake" in report


def test_numpy_only_row_switches_the_kernels_off_for_each_step_and_back():
    from benchmarks.cases.common import NUMPY_ONLY, with_numpy_only_row

    backend = types.SimpleNamespace(enabled=True)
    lib = types.SimpleNamespace(backends=types.SimpleNamespace(numba=backend))
    seen = []
    def build(lib):
        return lambda: seen.append(lib.backends.numba.enabled)

    case = with_numpy_only_row(fake_case(builders={"chainrule": build}))
    case.builders["chainrule"](lib)()
    case.builders[NUMPY_ONLY](lib)()
    assert seen == [True, False]
    assert backend.enabled  # restored after the step
    assert NUMPY_ONLY not in with_numpy_only_row(fake_case(builders={"pytorch": lambda lib: None})).builders


def test_blas_measurement_calls_cblas_with_the_right_transposes_and_strides():
    """benchmarks/blas.py hands each library the step's products through ctypes; checked here
    on NumPy's own bundled OpenBLAS, whose CBLAS gives the products NumPy gives."""
    import ctypes
    import glob
    import os

    import numpy as np

    from benchmarks import blas

    libs = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    bundled = glob.glob(os.path.join(libs, "libscipy_openblas*.so"))
    if not bundled:
        pytest.skip("this NumPy bundles no scipy-openblas to call through ctypes")

    gemm = blas.cblas_gemm(ctypes.CDLL(bundled[0]).scipy_cblas_sgemm64_, ctypes.c_int64)
    work = blas.products([blas.GemmLayer(5, 3, 4, needs_input_grad=False), blas.GemmLayer(6, 4, 2)],
                         np.random.default_rng(0))
    shapes = [a.shape + b.shape for a, b, _ in work]
    assert shapes == [(5, 3, 3, 4), (3, 5, 5, 4), (6, 4, 4, 2), (4, 6, 6, 2), (6, 2, 2, 4)]
    assert blas.max_relative_difference(gemm, work) < 1e-6
    assert blas.max_relative_difference(lambda a, b, out: lambda: np.matmul(a, 2 * b, out=out), work) > 0.5
