"""im2col and col2im as single loops (see ``chainrule.ops.conv`` for the NumPy versions).

NumPy copies a window view (im2col), or adds one strided slice per kernel position (col2im),
with inner loops only as long as an output row (11 elements in the second layer of a small
MNIST CNN), so its per-loop overhead dominates. These loops walk memory in order instead, and
each is compiled for one window geometry (kernel size, stride, dilation) held as constants, so
LLVM unrolls the window and vectorises along rows; with the geometry as run-time arguments the
same loops measured slower than NumPy.

Both work on padded arrays, as the NumPy path does (the input padded with zeros for im2col, a
padded zero array for col2im, cropped afterwards), so the loops never check bounds. im2col is a
copy, and col2im adds each input element's contributions in the same (kernel row, kernel
column) order as the NumPy path: the results are the same to the bit. Both run on several
threads on large inputs (``threaded_kernel``), one channel per thread at a time, which changes
no sum's order. The 1-D im2col is the
exception to padded inputs: it tests bounds itself (see ``im2col1d_loop``); it too is a copy.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from chainrule.backends.numba import prange, threaded_kernel
from chainrule.kernels import Geometry


@cache
def im2col_loop(geometry: Geometry) -> Callable[..., None]:
    """The loop filling ``columns`` (C, kh, kw, N, OH, OW) from ``padded`` (C, N, Hp, Wp)."""
    kh, kw, sh, sw, dh, dw = geometry

    @threaded_kernel
    def im2col(padded, columns):  # noqa: ANN001  # pragma: no cover (compiled)
        channels, batch = padded.shape[0], padded.shape[1]
        out_h, out_w = columns.shape[4], columns.shape[5]
        for c in prange(channels):  # each channel its own block of columns
            for i in range(kh):
                for j in range(kw):
                    for n in range(batch):
                        for oh in range(out_h):
                            for ow in range(out_w):
                                columns[c, i, j, n, oh, ow] = padded[c, n, oh * sh + i * dh, ow * sw + j * dw]

    return im2col


@cache
def col2im_loop(geometry: Geometry) -> Callable[..., None]:
    """The loop adding ``columns`` (groups, kh, kw, C/groups, N, OH, OW) into ``padded``
    (groups, C/groups, N, Hp, Wp), which holds zeros: each entry to the element it was read
    from."""
    kh, kw, sh, sw, dh, dw = geometry

    @threaded_kernel
    def col2im(columns, padded):  # noqa: ANN001  # pragma: no cover (compiled)
        groups, group_in, batch = padded.shape[0], padded.shape[1], padded.shape[2]
        out_h, out_w = columns.shape[5], columns.shape[6]
        for plane in prange(groups * group_in):  # each channel adds into its own plane
            g, c = plane // group_in, plane % group_in
            for n in range(batch):
                for i in range(kh):
                    for j in range(kw):
                        for oh in range(out_h):
                            row = oh * sh + i * dh
                            for ow in range(out_w):
                                padded[g, c, n, row, ow * sw + j * dw] += columns[g, i, j, c, n, oh, ow]

    return col2im


@cache
def im2col1d_loop(kernel_size: int, stride: int, dilation: int, before: int) -> Callable[..., None]:
    """The loop filling ``columns`` (C, k, N, OL) from ``x`` (C, N, L), zero where a tap reads
    the padding: the 1-D im2col without a padded copy of ``x`` first (at length 40 the padded
    copy cost as much as the loop). The bounds test is one comparison per element, which LLVM
    turns into masked loads, so the loop still runs along rows in vector registers."""

    @threaded_kernel
    def im2col1d(x, columns):  # noqa: ANN001  # pragma: no cover (compiled)
        channels, batch, length = x.shape
        out_length = columns.shape[3]
        for c in prange(channels):  # each channel its own block of columns
            for j in range(kernel_size):
                for n in range(batch):
                    for t in range(out_length):
                        position = t * stride + j * dilation - before
                        columns[c, j, n, t] = x[c, n, position] if 0 <= position < length else 0.0

    return im2col1d
