"""The BLAS choice: ``chainrule.kernels.blas.matmul`` against ``np.matmul``, and the switch
``chainrule.backends.blas``.

MKL's products are compared with NumPy's within float rounding (the two libraries sum in
different orders), and every test that expects MKL checks that MKL ran, not the fallback. What
must go to NumPy (other dtypes, strides BLAS cannot take, small products) must equal
``np.matmul`` to the bit. The MKL tests are skipped only when the mkl package is absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chainrule.backends import blas as blas_backend
from chainrule.errors import ConfigError
from chainrule.kernels import blas

needs_mkl = pytest.mark.skipif(not blas_backend.is_available(), reason="the mkl package is not installed")
M, K, N = 48, 400, 40  # over MKL's size rule (min side 32, 2^19 multiply-adds)


@pytest.fixture
def on(request: pytest.FixtureRequest) -> Iterator[str]:
    """Switch to the BLAS named by the test's parameter, and back to ``auto`` after it."""
    blas_backend.use(request.param)
    yield request.param
    blas_backend.use("auto")


class GemmSpy:
    """Records whether each product MKL was asked for ran there (True) or was refused."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ran: list[bool] = []
        real = blas._gemm

        def spy(*args: Any) -> bool:
            ran = real(*args)
            self.ran.append(ran)
            return ran

        monkeypatch.setattr(blas, "_gemm", spy)


def operand(rng: np.random.Generator, shape: tuple[int, int], dtype: Any, transposed: bool) -> np.ndarray:
    """A (shape) matrix, or a transposed view of a C-contiguous one."""
    if transposed:
        return rng.standard_normal(shape[::-1]).astype(dtype).T
    return rng.standard_normal(shape).astype(dtype)


def assert_close_to_numpy(actual: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """Within float rounding of a sum of k products: relative to the sum of magnitudes."""
    expected = np.matmul(a, b)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    scale = np.matmul(np.abs(a).astype(np.float64), np.abs(b).astype(np.float64))
    tolerance = 4 * np.finfo(a.dtype).eps
    assert np.all(np.abs(actual.astype(np.float64) - expected) <= tolerance * scale)


@needs_mkl
@pytest.mark.parametrize("on", ["mkl"], indirect=True)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("a_transposed", [False, True])
@pytest.mark.parametrize("b_transposed", [False, True])
@pytest.mark.parametrize("out_order", [None, "C", "F"])
def test_mkl_product_of_every_transpose_and_out_order(on, dtype, a_transposed, b_transposed, out_order,
                                                     monkeypatch):
    rng = np.random.default_rng(0)
    a, b = operand(rng, (M, K), dtype, a_transposed), operand(rng, (K, N), dtype, b_transposed)
    spy = GemmSpy(monkeypatch)
    out = None if out_order is None else np.empty((M, N), dtype, order=out_order)
    result = blas.matmul(a, b, out=out)
    assert spy.ran == [True], "MKL ran the product, no copy and no fallback"
    assert out is None or result is out
    assert_close_to_numpy(result, a, b)


@needs_mkl
@pytest.mark.parametrize("on", ["mkl"], indirect=True)
def test_mkl_reads_rows_of_a_wider_array_through_the_leading_dimension(on, monkeypatch):
    rng = np.random.default_rng(1)
    wide = rng.standard_normal((M + 3, K + 7)).astype(np.float32)
    a = wide[2:2 + M, 5:5 + K]  # a window: rows K + 7 apart
    b = rng.standard_normal((N + 1, K)).astype(np.float32)[1:].T
    out = np.zeros((M, N + 9), np.float32)[:, 4:4 + N]
    spy = GemmSpy(monkeypatch)
    blas.matmul(a, b, out=out)
    assert spy.ran == [True]
    assert_close_to_numpy(out, a, b)


@needs_mkl
@pytest.mark.parametrize("on", ["mkl"], indirect=True)
def test_mkl_runs_a_stack_of_products_one_matrix_at_a_time(on, monkeypatch):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((3, M, K)).astype(np.float32)
    b = rng.standard_normal((3, N, K)).astype(np.float32).transpose(0, 2, 1)
    spy = GemmSpy(monkeypatch)
    result = blas.matmul(a, b)
    assert spy.ran == [True, True, True]
    for index in range(3):
        assert_close_to_numpy(result[index], a[index], b[index])


@needs_mkl
@pytest.mark.parametrize("on", ["mkl"], indirect=True)
@pytest.mark.parametrize("out_order", ["C", "F"])
def test_without_numba_mkl_is_called_through_ctypes_for_large_products(on, out_order, monkeypatch):
    monkeypatch.setattr(blas.numba_backend, "is_available", lambda: False)
    rng = np.random.default_rng(8)
    a, b = operand(rng, (128, 512), np.float32, True), operand(rng, (512, 64), np.float32, False)
    small_a, small_b = operand(rng, (M, K), np.float32, False), operand(rng, (K, N), np.float32, True)
    spy = GemmSpy(monkeypatch)
    out = np.empty((128, 64), np.float32, order=out_order)
    blas.matmul(a, b, out=out)
    small = blas.matmul(small_a, small_b)
    assert spy.ran == [True, False], "the large product through ctypes, the small one left to NumPy"
    assert_close_to_numpy(out, a, b)
    np.testing.assert_array_equal(small, np.matmul(small_a, small_b))


@needs_mkl
@pytest.mark.parametrize("on", ["mkl"], indirect=True)
@pytest.mark.parametrize("a_transposed", [False, True])
@pytest.mark.parametrize("k, n", [(100, 1280), (1280, 100)])
def test_mkl_runs_wide_and_deep_products_of_few_rows(on, a_transposed, k, n, monkeypatch):
    """A linear head's weight gradient, 10 x 100 x 1280 (wide), and its forward as weight @
    x.T, 10 x 1280 x 100 (deep): under 32 rows, yet MKL's."""
    rng = np.random.default_rng(9)
    a, b = operand(rng, (10, k), np.float32, a_transposed), operand(rng, (k, n), np.float32, True)
    spy = GemmSpy(monkeypatch)
    result = blas.matmul(a, b)
    assert spy.ran == [True]
    assert_close_to_numpy(result, a, b)


def numpy_products() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(3)
    big = rng.standard_normal((M, 2 * K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    return [
        ("every other column: no leading dimension", big[:, ::2], b),
        ("int64", rng.integers(-5, 5, (M, K)), rng.integers(-5, 5, (K, N))),
        ("float16", big[:, :K].astype(np.float16), b.astype(np.float16)),
        ("float32 by float64", big[:, :K], b.astype(np.float64)),
        ("small: 8 x 400 x 40", big[:8, :K], b),
        ("narrow: 48 x 400 x 10", big[:, :K], b[:, :10]),
        ("few rows, not wide: 8 x 400 x 40", big[:8, :K], b),
        ("one row of a wide product: 1 x 800 x 1280", big[:1], np.tile(b, (2, 32))),
        ("a wide product too shallow: 10 x 32 x 2048", big[:10, :32], np.tile(b[:32], 52)[:, :2048]),
        ("deep, too few columns: 10 x 1600 x 40", np.tile(big[:10], 2), np.tile(b, (4, 1))),
        ("not deep enough: 10 x 800 x 120", big[:10], np.tile(b, (2, 3))),
        ("a vector", big[:, :K], b[:, 0]),
        ("a vector times a matrix", big[0, :K], b),
        ("two vectors", big[0, :K], b[:, 0]),
        ("broadcast batch", np.stack([big[:, :K]] * 2), b),
        ("zero rows", big[:0, :K], b),
    ]


@pytest.mark.parametrize("on", ["mkl", "numpy"], indirect=True)
@pytest.mark.parametrize("name", [name for name, _, _ in numpy_products()])
def test_what_blas_cannot_take_is_numpys_product_to_the_bit(on, name, monkeypatch):
    if on == "mkl" and not blas_backend.is_available():
        pytest.skip("the mkl package is not installed")
    a, b = next((a, b) for found, a, b in numpy_products() if found == name)
    spy = GemmSpy(monkeypatch)
    result = blas.matmul(a, b)
    assert True not in spy.ran
    np.testing.assert_array_equal(result, np.matmul(a, b), strict=True)


@needs_mkl
@pytest.mark.parametrize("on", ["mkl"], indirect=True)
def test_an_out_that_overlaps_an_operand_is_left_to_numpy(on, monkeypatch):
    rng = np.random.default_rng(4)
    a = rng.standard_normal((96, 96)).astype(np.float32)
    b = rng.standard_normal((96, 96)).astype(np.float32)
    expected = np.matmul(a, b)
    spy = GemmSpy(monkeypatch)
    blas.matmul(a, b, out=a)  # NumPy buffers the overlap; BLAS would read what it overwrote
    assert spy.ran == [False]
    np.testing.assert_array_equal(a, expected)


@pytest.mark.parametrize("on", ["mkl", "numpy"], indirect=True)
def test_shapes_that_do_not_fit_raise_numpys_error(on):
    if on == "mkl" and not blas_backend.is_available():
        pytest.skip("the mkl package is not installed")
    with pytest.raises(ValueError, match="matmul"):
        blas.matmul(np.ones((64, 400), np.float32), np.ones((401, 64), np.float32))
    with pytest.raises(ValueError):
        blas.matmul(np.ones((64, 400), np.float32), np.ones((400, 64), np.float32),
                    out=np.empty((64, 65), np.float32))


@needs_mkl
@pytest.mark.parametrize("on", ["mkl"], indirect=True)
def test_mkl_gives_the_same_bits_at_any_memory_alignment(on):
    # Strict conditional numerical reproducibility (MKL_CBWR=AUTO,STRICT): the promise that
    # eager and compiled, checkpointed and plain steps agree to the bit rests on this.
    rng = np.random.default_rng(5)
    a = rng.standard_normal((128, 784)).astype(np.float32)
    b = rng.standard_normal((784, 256)).astype(np.float32)
    reference = blas.matmul(a, b)
    for offset in range(1, 16):
        buffer_a, buffer_b = np.empty(a.size + 16, np.float32), np.empty(b.size + 16, np.float32)
        moved_a = buffer_a[offset:offset + a.size].reshape(a.shape)
        moved_b = buffer_b[16 - offset:16 - offset + b.size].reshape(b.shape)
        moved_a[...], moved_b[...] = a, b
        np.testing.assert_array_equal(blas.matmul(moved_a, moved_b), reference)


@needs_mkl
@pytest.mark.parametrize("on", ["mkl"], indirect=True)
def test_mkl_gives_the_same_bits_with_one_thread_or_two(on):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(6)
    a = rng.standard_normal((256, 784)).astype(np.float32)
    b = rng.standard_normal((784, 512)).astype(np.float32)
    with threadpoolctl.threadpool_limits(1):
        one = blas.matmul(a, b)
    with threadpoolctl.threadpool_limits(2):
        two = blas.matmul(a, b)
    np.testing.assert_array_equal(one, two)


@needs_mkl
def test_mkl_is_loaded_reproducible_and_with_numpys_thread_count():
    mkl = blas_backend.load_mkl()
    assert mkl is not None and "Math Kernel Library" in mkl.version
    assert mkl.reproducibility == "AUTO,STRICT" or "MKL_CBWR" in blas_backend.os.environ
    assert mkl.library.MKL_CBWR_Get(1) != 1  # 1 is MKL_CBWR_BRANCH_OFF: reproducibility off


THREADS_SCRIPT = """
import numpy as np, threadpoolctl
from chainrule.kernels import blas
a = np.ones((256, 256), np.float32)
blas.matmul(a, a)
numpy_pool = [p for p in threadpoolctl.threadpool_info() if "/numpy" in p["filepath"]]
mkl_pool = [p for p in threadpoolctl.threadpool_info() if p["internal_api"] == "mkl"]
print(numpy_pool[0]["num_threads"], mkl_pool[0]["num_threads"])
"""


@needs_mkl
@pytest.mark.parametrize("layer, numpy_threads", [("INTEL", 1), ("SEQUENTIAL", 2)])
def test_threaded_mkl_takes_numpys_threads_and_leaves_it_one(layer, numpy_threads):
    """One pool runs at a time: MKL threaded takes NumPy's two threads and OpenBLAS keeps one;
    sequential MKL leaves OpenBLAS as it was."""
    pytest.importorskip("threadpoolctl")
    environment = {**os.environ, "CHAINRULE_BLAS": "mkl", "MKL_THREADING_LAYER": layer,
                   "OPENBLAS_NUM_THREADS": "2"}
    result = subprocess.run([sys.executable, "-c", THREADS_SCRIPT], capture_output=True, text=True,
                            env=environment, check=True, cwd=Path(__file__).resolve().parents[1])
    numpy_pool, mkl_pool = map(int, result.stdout.split())
    assert numpy_pool == numpy_threads
    if layer == "INTEL":
        assert mkl_pool == 2


# ------------------------------------------------------------------------------ the switch
@pytest.fixture
def fresh_switch(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The switch as before its first use, put back afterwards."""
    monkeypatch.setattr(blas_backend, "_resolved", None)
    monkeypatch.setattr(blas_backend, "_choice", None)
    yield
    blas_backend.use("auto")


def test_an_unknown_choice_is_refused_with_one_sentence(fresh_switch, monkeypatch):
    with pytest.raises(ConfigError, match=r"unknown BLAS 'openblas'.*choose one of auto, numpy, mkl$"):
        blas_backend.use("openblas")
    monkeypatch.setenv("CHAINRULE_BLAS", "blis")
    with pytest.raises(ConfigError, match="unknown BLAS 'blis' .*CHAINRULE_BLAS"):
        blas_backend.current()


def test_mkl_asked_for_but_absent_is_refused_with_one_sentence(fresh_switch, monkeypatch):
    monkeypatch.setattr(blas_backend, "is_available", lambda: False)
    monkeypatch.setattr(blas_backend, "mkl_error", lambda: "the mkl package is not installed (pip install x)")
    monkeypatch.setenv("CHAINRULE_BLAS", "mkl")
    with pytest.raises(ConfigError, match="'mkl' was asked for, but the mkl package is not installed"):
        blas_backend.current()
    assert "\n" not in str(ConfigError)


@pytest.mark.parametrize(("vendor", "installed", "expected"), [
    ("GenuineIntel", True, "mkl"), ("GenuineIntel", False, "numpy"),
    ("AuthenticAMD", True, "numpy"), ("", True, "numpy"),
])
def test_auto_takes_mkl_on_intel_cpus_where_it_is_installed(fresh_switch, monkeypatch, vendor, installed,
                                                            expected):
    monkeypatch.setattr(blas_backend, "cpu_vendor", lambda: vendor)
    monkeypatch.setattr(blas_backend, "is_available", lambda: installed)
    monkeypatch.delenv("CHAINRULE_BLAS", raising=False)
    assert blas_backend.current() == expected


def test_the_environment_variable_chooses_numpy(fresh_switch, monkeypatch):
    monkeypatch.setenv("CHAINRULE_BLAS", " NumPy ")
    assert blas_backend.current() == "numpy"
    assert blas_backend.describe().startswith("numpy's (np.matmul; CHAINRULE_BLAS=numpy")


def test_numpy_chosen_means_np_matmul_for_every_product(fresh_switch, monkeypatch):
    blas_backend.use("numpy")
    spy = GemmSpy(monkeypatch)
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((M, K)).astype(np.float32), rng.standard_normal((K, N)).astype(np.float32)
    np.testing.assert_array_equal(blas.matmul(a, b), np.matmul(a, b))
    assert spy.ran == []


@needs_mkl
def test_describe_names_mkl_its_threads_and_reproducibility(fresh_switch):
    blas_backend.use("mkl")
    described = blas_backend.describe()
    assert described.startswith("mkl (Intel(R) oneAPI Math Kernel Library")
    assert "threads" in described and "MKL_CBWR=" in described and "CHAINRULE_BLAS=mkl" in described


def test_cpu_vendor_reads_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n")
    assert blas_backend.cpu_vendor(str(cpuinfo)) == "AuthenticAMD"
    assert blas_backend.cpu_vendor(str(tmp_path / "absent")) == ""
