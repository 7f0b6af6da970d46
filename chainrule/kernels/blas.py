"""``matmul(a, b, out=None)``: ``np.matmul`` through the BLAS ``chainrule.backends.blas`` chose.

With MKL chosen, a product of 2-D float32 or float64 arrays of one dtype goes to MKL's
``cblas_?gemm``: a transposed view is passed as a flag and its leading dimension, never copied,
and a column-major ``out`` is filled in column-major order. A stack of such products (3-D
operands with one leading size, e.g. a grouped convolution) is one call per matrix. Everything
else takes ``np.matmul``: products where MKL measured slower (a side under 32 unless the
product is wide, fewer than 2^19 multiply-adds: ``_mkl_wins``), other dtypes, broadcasting,
zero-size products, strides BLAS cannot express (a non-unit step along both axes), an ``out``
that overlaps an operand.

MKL is called from a numba kernel when numba is installed (0.4 us a call, against 5 us through
``ctypes``, measured on a Xeon), also when ``chainrule.backends.numba.enabled`` is False: that
switch compares chainrule's fused kernels with their NumPy paths, and both must then run the
same products. Without numba, products below ``CTYPES_MIN_WORK`` multiply-adds stay with NumPy,
where the ``ctypes`` call would cost more than MKL saves.

    >>> import numpy as np
    >>> from chainrule.kernels.blas import matmul
    >>> a = np.arange(6.0).reshape(2, 3)
    >>> matmul(a, a.T)
    array([[ 5., 14.],
           [14., 50.]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backends import blas as blas_backend
from chainrule.backends import numba as numba_backend

ROW_MAJOR, COLUMN_MAJOR, NO_TRANSPOSE, TRANSPOSE = 101, 102, 111, 112
MKL_MIN_SIDE, MKL_MIN_WORK = 32, 1 << 19
"""The smallest m and n, and the fewest multiply-adds m n k, of a product MKL runs (``_mkl_wins``)."""
MKL_LONG_SIDE, MKL_SHORT_SIDE = 1024, 64
"""A product of few rows (2 or more) that MKL runs all the same: n or k at least the long side
and the other at least the short side (a wide or a deep product, ``_mkl_wins``)."""
CTYPES_MIN_WORK = 1 << 21
"""Multiply-adds from which a product goes to MKL through ``ctypes`` when numba is absent: the
call's 5 us would eat what MKL saves on smaller products (a 100 x 64 x 192 product, 1.2 million
multiply-adds, takes 16 us with MKL against 20 us with NumPy)."""


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``np.matmul(a, b, out=out)``, run by MKL where ``chainrule.backends.blas`` chose it and
    the operands allow (see the module's docstring). Shapes as ``np.matmul``: (m, k) @ (k, n)
    -> (m, n), or stacks (g, m, k) @ (g, k, n) -> (g, m, n)."""
    # Checked in the order of their cost: this runs for every product of a training step.
    if blas_backend.current() == "numpy" or type(a) is not np.ndarray or type(b) is not np.ndarray:
        return np.matmul(a, b, out=out)
    dtype = a.dtype
    if (b.dtype is not dtype or (dtype is not _FLOAT32 and dtype is not _FLOAT64)
            or (out is not None and (type(out) is not np.ndarray or out.dtype is not dtype))):
        return np.matmul(a, b, out=out)
    if a.ndim != b.ndim or a.ndim not in (2, 3) or not _mkl_wins(a.shape[-2], a.shape[-1], b.shape[-1]):
        return np.matmul(a, b, out=out)
    if a.ndim == 2:
        result = np.empty((a.shape[0], b.shape[1]), dtype) if out is None else out
        return result if _gemm(a, b, result) else np.matmul(a, b, out=out)
    if len(a) == len(b) and (out is None or _stack_out(out, a, b)):
        stacked = np.empty((len(a), a.shape[1], b.shape[2]), dtype) if out is None else out
        # The matrices of a stack share their strides, so only the first can be refused.
        if all(_gemm(a_matrix, b_matrix, out_matrix) for a_matrix, b_matrix, out_matrix
               in zip(a, b, stacked)):
            return stacked
    return np.matmul(a, b, out=out)


def _stack_out(out: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``out`` can take a stack's products matrix by matrix: one per matrix of ``a``,
    in memory apart from both operands (a GEMM refused halfway would have overwritten them)."""
    return out.ndim == 3 and len(out) == len(a) and not (np.may_share_memory(out, a)
                                                          or np.may_share_memory(out, b))


_FLOAT32, _FLOAT64 = np.dtype(np.float32), np.dtype(np.float64)


def _mkl_wins(m: int, k: int, n: int) -> bool:
    """Whether MKL runs an (m, k) @ (k, n) product faster than NumPy's OpenBLAS, by the rule
    measured on the Xeon of BENCHMARKS.md (one thread, every transpose combination): MKL loses
    on products with a side under 32 (0.3-0.9x at n = 10, 0.6-0.7x at 9 x 1598 x 32) and on
    small ones (0.7-1.3x at 64^3), and wins 1.1-2.2x from 100 x 64 x 192 up.

    Wide and deep products are the exception to the side: few rows against 1024 or more
    columns at depth 64 or more, or 1024 or more deep with 64 or more columns. MKL runs them
    1.3-3x faster (2 to 24 rows; a linear head's weight gradient, 10 x 100 x 1280, in 22 us
    against 40 us; its forward as weight @ x.T, 10 x 1280 x 100, 34 us against OpenBLAS's 53 us
    for x @ weight.T), while at 512-640 columns, depth 32, or depth 1000 (OpenBLAS is fast
    there, and slow from 1024) the two are even or OpenBLAS wins, and a single row (a
    matrix-vector product) runs 0.6x on MKL."""
    if m * n * k < MKL_MIN_WORK:
        return False
    if min(m, n) >= MKL_MIN_SIDE:
        return True
    long_side, short_side = max(n, k), min(n, k)
    return m >= 2 and long_side >= MKL_LONG_SIDE and short_side >= MKL_SHORT_SIDE


def runs_on_mkl(m: int, k: int, n: int) -> bool:
    """Whether ``matmul`` gives an (m, k) @ (k, n) product of float arrays BLAS can read to MKL."""
    return blas_backend.current() == "mkl" and _mkl_wins(m, k, n)


def _gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> bool:
    """out = a @ b by MKL for 2-D arrays of one float dtype; False (nothing written) when the
    shapes or strides do not fit a GEMM or ``out`` overlaps an operand."""
    mkl = blas_backend.load_mkl()
    assert mkl is not None
    if numba_backend.is_available():  # even when its fused kernels are switched off: same bits
        return bool(_numba_kernel(mkl)(a, b, out, a.dtype is _FLOAT32))
    m, k, n = a.shape[0], a.shape[1], b.shape[1]
    if m * n * k < CTYPES_MIN_WORK:
        return False
    layout, a_flag, b_flag, m, n, k, lda, ldb, ldc = _gemm_call(
        a.ctypes.data, m, k, a.strides[0], a.strides[1], b.ctypes.data, b.shape[0], n, b.strides[0],
        b.strides[1], out.ctypes.data, out.shape[0], out.shape[1], out.strides[0], out.strides[1],
        a.itemsize)
    if layout == 0:
        return False
    gemm = mkl.sgemm if a.dtype is _FLOAT32 else mkl.dgemm
    gemm(layout, a_flag, b_flag, m, n, k, 1.0, a.ctypes.data, lda, b.ctypes.data, ldb, 0.0,
         out.ctypes.data, ldc)
    return True


@numba_backend.scalar
def _operand(rows: int, cols: int, row_step: int, col_step: int) -> tuple[int, int]:
    """(transpose flag, leading dimension) of a (rows, cols) matrix with these strides in
    elements, read in row-major order; (0, 0) when BLAS cannot read it. A size-1 axis may
    have any stride."""
    if (cols == 1 or col_step == 1) and (rows == 1 or row_step >= cols):
        return NO_TRANSPOSE, row_step if rows > 1 else cols
    if (rows == 1 or row_step == 1) and (cols == 1 or col_step >= rows):
        return TRANSPOSE, col_step if cols > 1 else rows
    return 0, 0


@numba_backend.scalar
def _gemm_call(a_data: int, m: int, k: int, a_step0: int, a_step1: int,
               b_data: int, b_rows: int, n: int, b_step0: int, b_step1: int,
               out_data: int, out_rows: int, out_cols: int, out_step0: int, out_step1: int,
               itemsize: int) -> tuple[int, ...]:
    """The integer arguments of ``cblas_?gemm`` for out = a @ b (pointers and strides in
    bytes in): (layout, a's flag, b's flag, m, n, k, lda, ldb, ldc); layout 0 when a stride is
    not a whole, positive number of elements BLAS can take, or when ``out`` overlaps an
    operand (``np.matmul`` then copies as it must)."""
    refused = (0, 0, 0, 0, 0, 0, 0, 0, 0)
    if b_rows != k or out_rows != m or out_cols != n or m == 0 or n == 0 or k == 0:
        return refused
    for data, step0, step1 in ((a_data, a_step0, a_step1), (b_data, b_step0, b_step1),
                               (out_data, out_step0, out_step1)):
        if data % itemsize != 0 or step0 % itemsize != 0 or step1 % itemsize != 0 or step0 < 0 or step1 < 0:
            return refused
    out_end = out_data + (m - 1) * out_step0 + (n - 1) * out_step1 + itemsize
    a_end = a_data + (m - 1) * a_step0 + (k - 1) * a_step1 + itemsize
    b_end = b_data + (k - 1) * b_step0 + (n - 1) * b_step1 + itemsize
    if (out_data < a_end and a_data < out_end) or (out_data < b_end and b_data < out_end):
        return refused
    layout = ROW_MAJOR
    out_flag, ldc = _operand(m, n, out_step0 // itemsize, out_step1 // itemsize)
    if out_flag == TRANSPOSE:  # column-major out: the same call in column-major order
        layout = COLUMN_MAJOR
    elif out_flag == 0:
        return refused
    a_flag, lda = _operand(m, k, a_step0 // itemsize, a_step1 // itemsize)
    b_flag, ldb = _operand(k, n, b_step0 // itemsize, b_step1 // itemsize)
    if a_flag == 0 or b_flag == 0 or max(lda, ldb, ldc) > 2**31 - 1:
        return refused
    if layout == COLUMN_MAJOR:  # a row-major read of a matrix is a column-major read of its transpose
        a_flag, b_flag = NO_TRANSPOSE + TRANSPOSE - a_flag, NO_TRANSPOSE + TRANSPOSE - b_flag
    return (layout, a_flag, b_flag, m, n, k, lda, ldb, ldc)


_sgemm: Any = None  # MKL's cblas_sgemm and cblas_dgemm as numba sees them, set on first use
_dgemm: Any = None


def _gemm_numba(a: np.ndarray, b: np.ndarray, out: np.ndarray, single: bool) -> bool:
    """``_gemm`` inside a numba kernel (``single``: float32, else float64)."""
    a_data, b_data, out_data = np.intp(a.ctypes.data), np.intp(b.ctypes.data), np.intp(out.ctypes.data)
    layout, a_flag, b_flag, m, n, k, lda, ldb, ldc = _gemm_call(
        a_data, a.shape[0], a.shape[1], a.strides[0], a.strides[1], b_data, b.shape[0], b.shape[1],
        b.strides[0], b.strides[1], out_data, out.shape[0], out.shape[1], out.strides[0], out.strides[1],
        a.itemsize)
    if layout == 0:
        return False
    if single:
        _sgemm(layout, a_flag, b_flag, m, n, k, 1.0, a_data, lda, b_data, ldb, 0.0, out_data, ldc)
    else:
        _dgemm(layout, a_flag, b_flag, m, n, k, 1.0, a_data, lda, b_data, ldb, 0.0, out_data, ldc)
    return True


_numba_gemm: Any = None


def _numba_kernel(mkl: blas_backend.MKL) -> Any:
    """``_gemm_numba`` compiled, made once. MKL's addresses are registered with numba's linker
    under chainrule's names, so the kernel (cached on disk) finds them in every process."""
    global _sgemm, _dgemm, _numba_gemm
    if _numba_gemm is None:
        import llvmlite.binding
        from numba import types

        found = []
        for name, real, address in (("sgemm", types.float32, mkl.sgemm_address),
                                    ("dgemm", types.float64, mkl.dgemm_address)):
            llvmlite.binding.add_symbol(f"chainrule_mkl_{name}", address)
            integer, pointer = types.int32, types.intp
            signature = types.void(integer, integer, integer, integer, integer, integer, real, pointer,
                                   integer, pointer, integer, real, pointer, integer)
            found.append(types.ExternalFunction(f"chainrule_mkl_{name}", signature))
        _sgemm, _dgemm = found
        _numba_gemm = numba_backend.kernel(_gemm_numba)
    return _numba_gemm
