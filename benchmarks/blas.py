"""The BLAS choice, measured: the float32 GEMMs of every benchmark case's *floor* (the matrix
products a training step needs, ``GemmLayer``), timed under each BLAS that loads here.

    python -m benchmarks.blas [--rounds 9] [--mkl PATH] [--openblas PATH] [--blis PATH]

* ``numpy``: NumPy's own BLAS (``np.matmul`` into preallocated arrays), the one chainrule uses.
* ``openblas-new``: the OpenBLAS of the ``scipy-openblas64`` wheel, through its CBLAS.
* ``mkl``: the ``mkl`` wheel's ``libmkl_rt``, through its CBLAS (sequential threading layer).
* ``blis``: the BLIS inside the ``blis`` wheel, through its typed API ``bli_sgemm``.

Each is called on the same arrays through ``ctypes`` (NumPy through ``matmul``), one thread
each: the numbers compare GEMM kernels, not threading, and a single thread's CPU time is what
stays meaningful on a shared machine. Rounds rotate the order of the BLAS libraries; the table
gives the median over rounds of the CPU time of one step's GEMMs, and each library's largest
relative difference from NumPy's products. Libraries that do not load are listed, not timed.
Nothing is written to a file: the measurement is quoted in BENCHMARKS.md by hand.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import glob
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

from benchmarks.cases.common import GemmLayer
from benchmarks.harness import describe_blas, describe_cpu, markdown_table

Gemm = Callable[[np.ndarray, np.ndarray, np.ndarray], Callable[[], None]]
"""``gemm(a, b, out)`` binds out = a @ b for float32 2-D arrays (``a`` and ``b`` possibly
transposed views of C-contiguous arrays, ``out`` C-contiguous) into a call without arguments:
the ctypes argument conversions happen once, outside the timed loop, so the timing compares
the libraries' GEMMs and not the wrappers'."""

CASE_LAYERS: dict[str, list[GemmLayer]] = {
    "MLP 784-512-512-10, batch 128": [
        GemmLayer(128, 784, 512, needs_input_grad=False),
        GemmLayer(128, 512, 512),
        GemmLayer(128, 512, 10),
    ],
    "MLP 784-512-512-10, batch 32": [
        GemmLayer(32, 784, 512, needs_input_grad=False),
        GemmLayer(32, 512, 512),
        GemmLayer(32, 512, 10),
    ],
    "MLP 784-128-10, batch 64": [GemmLayer(64, 784, 128, needs_input_grad=False), GemmLayer(64, 128, 10)],
    "CNN 28x28, batch 64": [
        GemmLayer(64 * 26 * 26, 9, 32, needs_input_grad=False),
        GemmLayer(64 * 11 * 11, 32 * 9, 64),
        GemmLayer(64, 1600, 128),
        GemmLayer(64, 128, 10),
    ],
    "MNIST-1D Conv1d CNN, batch 100": [
        GemmLayer(4000, 5, 32, needs_input_grad=False),
        GemmLayer(4000, 96, 32),
        GemmLayer(4000, 96, 32),
        GemmLayer(100, 1280, 10),
    ],
    "Bidirectional GRU 64, 40 steps, batch 100": [
        GemmLayer(100, 64, 192, repeats=80),
        GemmLayer(100, 128, 10),
    ],
}
"""The floors' layers, as in ``benchmarks/cases`` (the GRU's one-column input projection left out)."""


# ------------------------------------------------------------------------ the libraries
CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS = 101, 111, 112


def _cblas_operand(a: np.ndarray) -> tuple[int, int]:
    """(transpose flag, leading dimension) of a C-contiguous array or a transposed view of one."""
    if a.flags.c_contiguous:
        return CBLAS_NO_TRANS, a.shape[1]
    return CBLAS_TRANS, a.shape[0]


def cblas_gemm(function: Callable[..., None], integer: type) -> Gemm:
    """A ``Gemm`` over a CBLAS ``sgemm`` taking ``integer`` dimensions."""
    function.restype = None

    def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> Callable[[], None]:
        (trans_a, lda), (trans_b, ldb) = _cblas_operand(a), _cblas_operand(b)
        m, k, n = a.shape[0], a.shape[1], b.shape[1]
        return functools.partial(
            function,
            CBLAS_ROW_MAJOR,
            trans_a,
            trans_b,
            integer(m),
            integer(n),
            integer(k),
            ctypes.c_float(1.0),
            a.ctypes.data_as(ctypes.c_void_p),
            integer(lda),
            b.ctypes.data_as(ctypes.c_void_p),
            integer(ldb),
            ctypes.c_float(0.0),
            out.ctypes.data_as(ctypes.c_void_p),
            integer(n),
        )

    return gemm


def load_mkl(path: str | None) -> tuple[Gemm, str]:
    os.environ.setdefault("MKL_THREADING_LAYER", "SEQUENTIAL")  # read when libmkl_rt loads
    candidates = [path] if path else sorted(glob.glob(os.path.join(sys.prefix, "lib", "libmkl_rt.so*")))
    if not candidates:
        raise OSError(f"no libmkl_rt.so in {sys.prefix}/lib; `pip install mkl` or give --mkl PATH")
    library = ctypes.CDLL(candidates[0])
    library.MKL_Set_Num_Threads(1)
    version = ctypes.create_string_buffer(256)
    library.MKL_Get_Version_String(version, 256)
    return cblas_gemm(library.cblas_sgemm, ctypes.c_int), version.value.decode().split(" for ")[0]


def load_new_openblas(path: str | None) -> tuple[Gemm, str]:
    if path is None:
        import scipy_openblas64

        path = sorted(glob.glob(os.path.join(scipy_openblas64.get_lib_dir(), "*.so")))[0]
    library = ctypes.CDLL(path)
    library.scipy_openblas_set_num_threads64_(1)
    library.scipy_openblas_get_config64_.restype = ctypes.c_char_p
    library.scipy_openblas_get_corename64_.restype = ctypes.c_char_p
    description = (
        f"{library.scipy_openblas_get_config64_().decode().split()[1]} "
        f"({library.scipy_openblas_get_corename64_().decode()})"
    )
    return cblas_gemm(library.scipy_cblas_sgemm64_, ctypes.c_int64), description


def load_blis(path: str | None) -> tuple[Gemm, str]:
    if path is None:
        import blis.about
        import blis.py

        path, version = blis.py.__file__, blis.about.__version__
    else:
        version = "?"
    library = ctypes.CDLL(path)
    sgemm = library.bli_sgemm
    sgemm.restype = None
    alpha, beta = ctypes.c_float(1.0), ctypes.c_float(0.0)
    no_transpose, dim, stride = 0, ctypes.c_int64, ctypes.c_int64

    def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> Callable[[], None]:
        # BLIS takes a row and a column stride per operand, so transposed views need no flag
        (rsa, csa), (rsb, csb) = (np.array(a.strides) // 4), (np.array(b.strides) // 4)
        return functools.partial(
            sgemm,
            no_transpose,
            no_transpose,
            dim(a.shape[0]),
            dim(b.shape[1]),
            dim(a.shape[1]),
            ctypes.byref(alpha),
            a.ctypes.data_as(ctypes.c_void_p),
            stride(rsa),
            stride(csa),
            b.ctypes.data_as(ctypes.c_void_p),
            stride(rsb),
            stride(csb),
            ctypes.byref(beta),
            out.ctypes.data_as(ctypes.c_void_p),
            stride(out.shape[1]),
            stride(1),
        )

    return gemm, f"BLIS (blis wheel {version})"


def numpy_gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> Callable[[], None]:
    return functools.partial(np.matmul, a, b, out=out)


# ---------------------------------------------------------------------------- the timing
def products(layers: Sequence[GemmLayer], rng: np.random.Generator) -> list[tuple[np.ndarray, ...]]:
    """(a, b, out) for every product of a step of ``layers``: forward, weight gradient and
    (unless the layer is the first) input gradient, each as often as the layer repeats."""
    found = []
    for layer in layers:
        x = rng.standard_normal((layer.rows, layer.inputs), dtype=np.float32)
        weight = rng.standard_normal((layer.inputs, layer.outputs), dtype=np.float32)
        grad = rng.standard_normal((layer.rows, layer.outputs), dtype=np.float32)
        shapes = [(x, weight), (x.T, grad)] + ([(grad, weight.T)] if layer.needs_input_grad else [])
        for a, b in shapes:
            found += [(a, b, np.empty((a.shape[0], b.shape[1]), np.float32))] * layer.repeats
    return found


def time_block(gemm: Gemm, work: Sequence[tuple[np.ndarray, ...]], seconds: float) -> float:
    """CPU seconds of one pass over ``work``, averaged over as many passes as fit in ``seconds``."""
    calls = [gemm(a, b, out) for a, b, out in work]
    passes, start = 0, time.process_time()
    while passes == 0 or time.process_time() - start < seconds:
        for call in calls:
            call()
        passes += 1
    return (time.process_time() - start) / passes


def max_relative_difference(gemm: Gemm, work: Sequence[tuple[np.ndarray, ...]]) -> float:
    worst = 0.0
    for a, b, _ in work:
        expected, actual = a @ b, np.empty((a.shape[0], b.shape[1]), np.float32)
        gemm(a, b, actual)()
        scale = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)  # the sum's magnitude
        worst = max(worst, float(np.max(np.abs(actual - expected) / np.maximum(scale, 1e-30))))
    return worst


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.blas", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--block-seconds", type=float, default=0.1)
    parser.add_argument("--mkl", help="path of libmkl_rt.so (default: the mkl wheel's)")
    parser.add_argument("--openblas", help="path of libscipy_openblas64_.so (default: the wheel's)")
    parser.add_argument("--blis", help="path of a library exporting bli_sgemm (default: the blis wheel's)")
    arguments = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    libraries: dict[str, Gemm] = {"numpy": numpy_gemm}
    described = {"numpy": describe_blas()}
    for name, loader, path in (
        ("openblas-new", load_new_openblas, arguments.openblas),
        ("mkl", load_mkl, arguments.mkl),
        ("blis", load_blis, arguments.blis),
    ):
        try:
            libraries[name], described[name] = loader(path)
        except (OSError, ImportError, AttributeError) as error:
            described[name] = f"not measured ({error})"
    rng = np.random.default_rng(0)
    work = {case: products(layers, rng) for case, layers in CASE_LAYERS.items()}
    times: dict[tuple[str, str], list[float]] = {}
    names = list(libraries)
    for round_index in range(arguments.rounds):
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for case, case_work in work.items():
            for name in order:
                times.setdefault((case, name), []).append(
                    time_block(libraries[name], case_work, arguments.block_seconds)
                )
        print(f"round {round_index + 1}/{arguments.rounds}", file=sys.stderr, flush=True)
    differences = {
        name: max(max_relative_difference(libraries[name], case_work) for case_work in work.values())
        for name in names
    }
    rows = []
    for case in work:
        base = statistics.median(times[(case, "numpy")])
        for name in names:
            median = statistics.median(times[(case, name)])
            spread = (max(times[(case, name)]) - min(times[(case, name)])) / median
            rows.append(
                [
                    case if name == names[0] else "",
                    name,
                    f"{median * 1e3:.3f} ms",
                    f"{spread:.0%}",
                    f"{base / median:.2f}x",
                ]
            )
    print(f"- CPU: {describe_cpu()}")
    for name, text in described.items():
        compared = name in differences and name != "numpy"
        print(
            f"- {name}: {text}"
            + (
                f"; largest difference from numpy's products {differences[name]:.1e} of the sum of magnitudes"
                if compared
                else ""
            )
        )
    print(
        f"- one thread each; CPU time (process_time) of one step's GEMMs, median of {arguments.rounds} "
        f"rounds of {arguments.block_seconds:g} s blocks, libraries rotated each round\n"
    )
    print(markdown_table(["case", "BLAS", "CPU time / step's GEMMs", "spread", "vs numpy"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
