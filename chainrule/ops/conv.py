"""Convolutions over NCHW and NCL tensors: ``conv1d``, ``conv2d``, ``conv_transpose1d``,
``conv_transpose2d``, with PyTorch's signatures and weight layouts.

Three ops, each the other two's backward, so gradients of any order flow (``gradgradcheck``
passes), for one and two spatial dimensions alike:

* ``Conv(x, w)``: ``y = x ⋆ w``.
* ``ConvTranspose(y, w)``: the adjoint of ``Conv`` in ``x``, i.e.
  ``<ConvTranspose(y, w), x> = <y, Conv(x, w)>``.
* ``ConvWeightGrad(x, g)``: the adjoint of ``Conv`` in ``w``,
  ``<ConvWeightGrad(x, g), w> = <g, Conv(x, w)>``.

Two dimensions: an im2col (a strided window view of the padded input, copied once into the
layout (groups, C/groups * kh * kw, N * OH * OW)) and one GEMM; the adjoint is one GEMM and a
col2im that adds one strided slice per kernel position (kh * kw additions, no ``np.add.at``).
A bias rides in the GEMM, as one more column of the weight against a row of ones at the end
of the columns; the weight gradient's product then gives the bias gradient as well. That
saves two passes over the output, each as long as the GEMM on a first layer of few channels.

One dimension, from 64 input channels per group: no im2col. The padded sequences are laid end
to end in one (C, N * Lp) buffer, and kernel tap j reads the columns of that buffer shifted by
j * dilation (every stride-th one): the convolution is k GEMMs on views of the buffer, summed.
At stride 1 the views are plain column ranges that BLAS reads in place, so nothing is copied
but the padding; outputs that straddle two sequences are computed and dropped (dilation *
(k - 1) of every Lp). The weight gradient is the same k GEMMs summed over the shared columns.
Below 64 channels each tap's GEMM is too thin for BLAS, and the input runs as an image of
height 1 through the 2-D code: im2col columns (C/groups * k deep, and the bias's row of ones)
and one GEMM. In both, the input gradient (``ConvTranspose``) at stride 1 is a convolution of
the gradient with the kernel flipped (one dense result); otherwise the k GEMMs added into
shifted views.

With groups, "one GEMM" is one per group. Outputs are (N, C, ...) views of channel-major
memory, the layout the GEMMs write (see ``_conv_forward``). Asymmetric padding
(``padding='same'`` with an even kernel) is kept as (before, after) pairs throughout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from chainrule.autograd.function import Function
from chainrule.backends import numba as numba_backend
from chainrule.kernels import blas, geometry
from chainrule.kernels import conv as conv_kernels
from chainrule.ops.movement import InLayout
from chainrule.tensor import Tensor
from chainrule.window import Pair, Window, expand_param, kernel_positions, pad_spatial, window_output_size


def _im2col(x: np.ndarray, window: Window, groups: int, out_hw: Sequence[int],
            ones_row: bool = False) -> np.ndarray:
    """The columns of ``x`` (N, C, H, W): shape (groups, C/groups * kh * kw, N * OH * OW), or
    with ``ones_row`` (groups, C/groups * kh * kw + 1, N * OH * OW), each group's columns ending
    in a row of ones (see ``_with_bias``).

    The window view costs nothing; filling the columns from it is the one copy. With the batch
    folded into the columns, a whole layer is one GEMM (per group), which BLAS runs several
    times faster than one small GEMM per sample; spatial positions last make the copy run in
    long strides."""
    (kh, kw), (sh, sw), (dh, dw) = window.kernel, window.stride, window.dilation
    out_h, out_w = out_hw
    n, c = x.shape[:2]
    group_in = c // groups
    depth = group_in * kh * kw
    columns = np.empty((groups, depth + ones_row, n * out_h * out_w), x.dtype)
    if ones_row:
        columns[:, depth] = 1
    # each group's block is contiguous, ones row or not
    blocks = columns[:, :depth].reshape(groups, group_in, kh, kw, n, out_h, out_w)
    padded = pad_spatial(x, window.padding)
    if numba_backend.handles(x):
        loop = conv_kernels.im2col_loop(geometry(window))
        channels_first = padded.transpose(1, 0, 2, 3)
        for group in range(groups):
            loop(channels_first[group * group_in:(group + 1) * group_in], blocks[group])
        return columns
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    views = sliding_window_view(padded, span, axis=(2, 3))
    views = views[:, :, :(out_h - 1) * sh + 1:sh, :(out_w - 1) * sw + 1:sw, ::dh, ::dw]
    views = views.reshape(n, groups, group_in, out_h, out_w, kh, kw)
    blocks[...] = views.transpose(1, 2, 5, 6, 0, 3, 4)
    return columns


def _with_bias(weight: np.ndarray, bias: np.ndarray, groups: int) -> np.ndarray:
    """``weight`` (O, C/groups, k...) as per-group matrices (groups, O/groups, C/groups * k... + 1)
    whose last column is ``bias`` (O,): times columns that end in a row of ones (``_im2col``
    with ``ones_row``), the product adds the bias, with no pass of its own over the output.
    The adjoint works the same way: the weight gradient's product with those columns gives the
    bias gradient (the gradient summed over every position) as its last column."""
    out_channels = weight.shape[0]
    per_group = weight.reshape(groups, out_channels // groups, -1)
    return np.concatenate([per_group, bias.reshape(groups, -1, 1)], axis=2)


def _channel_major(a: np.ndarray) -> np.ndarray:
    """``a`` (N, C, ...) as a view of channel-major memory, copying only if it is not one."""
    if a.swapaxes(0, 1).flags.c_contiguous:
        return a
    return np.ascontiguousarray(a.swapaxes(0, 1)).swapaxes(0, 1)


def _channels_first(a: np.ndarray, groups: int) -> np.ndarray:
    """(N, C, H, W) → (groups, C/groups, N * H * W); free when ``a`` came out of a conv here."""
    n, c, h, w = a.shape
    return a.transpose(1, 0, 2, 3).reshape(groups, c // groups, n * h * w)


def _conv_operand(x: np.ndarray, window: Window, groups: int, ones_row: bool = False) -> np.ndarray:
    """What both a convolution's product and its weight gradient read of ``x``: the im2col
    columns (ending in a row of ones with ``ones_row``, for a bias), in 1-D those of x as an
    image of height 1; but in 1-D from ``SHIFTED_GEMM_MIN_CHANNELS`` the padded sequences laid
    end to end (``ones_row`` does not apply to them: see ``_bias_in_columns``)."""
    out_size = window_output_size(x.shape[2:], window)
    if x.ndim == 3 and not _stacks_taps(x.shape[1] // groups):
        return _lay_end_to_end(x, window)
    if x.ndim == 3:
        return _im2col1d(x, window, groups, out_size[0], ones_row)
    return _im2col(x, window, groups, out_size, ones_row)


def _im2col1d(x: np.ndarray, window: Window, groups: int, out_length: int,
              ones_row: bool = False) -> np.ndarray:
    """The im2col columns of ``x`` (N, C, L) as an image of height 1, for ``out_length``
    outputs: (groups, C/groups * k (+ 1 with ``ones_row``), N * out_length), as ``_im2col``.
    The numba loop needs no padded copy."""
    if not numba_backend.handles(x):
        return _im2col(x[:, :, None], _lift(window), groups, (1, out_length), ones_row)
    n, channels, _ = x.shape
    (k,), (stride,), (dilation,) = window.kernel, window.stride, window.dilation
    ((before, _),) = window.padding
    group_in = channels // groups
    depth = group_in * k
    columns = np.empty((groups, depth + ones_row, n * out_length), x.dtype)
    if ones_row:
        columns[:, depth] = 1
    loop = conv_kernels.im2col1d_loop(k, stride, dilation, before)
    channels_first = x.swapaxes(0, 1)
    for group in range(groups):  # each group's block is contiguous, ones row or not
        block = columns[group, :depth].reshape(group_in, k, n, out_length)
        loop(channels_first[group * group_in:(group + 1) * group_in], block)
    return columns


# --------------------------------------------------------------------- the array kernels
# Results are (N, C, H, W) views of channel-major (C, N, H, W) memory, the layout the GEMMs
# produce; elementwise ops keep it, and the next convolution reads it without a copy.
def _conv_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, window: Window,
                  groups: int, columns: np.ndarray | None = None) -> np.ndarray:
    """``columns``, when given, are ``_conv_operand(x, ...)`` (the caller keeps them for the
    weight gradient), with the row of ones when there is a ``bias`` (im2col columns)."""
    if x.ndim == 3:
        if _stacks_taps(weight.shape[1]):
            if columns is None:
                columns = _conv_operand(x, window, groups, ones_row=bias is not None)
            lifted = _conv_forward(x[:, :, None], weight[:, :, None], bias, _lift(window), groups, columns)
            return lifted[:, :, 0]
        operand = _lay_end_to_end(x, window) if columns is None else columns
        return _conv1d_forward(operand, weight, bias, window, groups, x.shape)
    n = x.shape[0]
    out_channels = weight.shape[0]
    out_hw = window_output_size(x.shape[2:], window)
    if columns is None:
        columns = _im2col(x, window, groups, out_hw, ones_row=bias is not None)
    per_group = weight.reshape(groups, out_channels // groups, -1)
    if bias is not None and columns.shape[1] > per_group.shape[2]:
        per_group, bias = _with_bias(weight, bias, groups), None
    out = blas.matmul(per_group, columns).reshape(out_channels, n, *out_hw)
    if bias is not None:  # columns without the row of ones (1-D inputs lifted to 2-D)
        out += bias.reshape(-1, 1, 1, 1)
    return out.transpose(1, 0, 2, 3)


def _conv_transpose_forward(y: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                            window: Window, groups: int, out_hw: Pair) -> np.ndarray:
    """The adjoint of ``_conv_forward`` in x: y (N, O, OH, OW) → (N, C, *out_hw)."""
    if y.ndim == 3:
        return _conv1d_transpose_forward(y, weight, bias, window, groups, out_hw[0])
    n, out_channels, h, w = y.shape
    group_in, (kh, kw) = weight.shape[1], window.kernel
    group_out = out_channels // groups
    # Kernel position outermost in the columns, so every block added below is contiguous.
    per_position = weight.reshape(groups, group_out, group_in, kh, kw).transpose(0, 3, 4, 2, 1)
    per_position = per_position.reshape(groups, kh * kw * group_in, group_out)
    columns = blas.matmul(per_position, _channels_first(y, groups))
    out = _col2im(columns.reshape(groups, kh, kw, group_in, n, h, w), window, out_hw)
    if bias is not None:
        out = out + bias.reshape(-1, 1, 1)
    return out


def _col2im(columns: np.ndarray, window: Window, out_hw: Pair) -> np.ndarray:
    """Sum ``columns`` (groups, kh, kw, C/groups, N, OH, OW) back onto the input grid each
    kernel position read: (N, C, *out_hw), channel-major in memory."""
    groups, _, _, group_in, n, h, w = columns.shape
    (top, bottom), (left, right) = window.padding
    height, width = out_hw
    padded = np.zeros((groups, group_in, n, height + top + bottom, width + left + right), columns.dtype)
    if numba_backend.handles(columns):
        conv_kernels.col2im_loop(geometry(window))(columns, padded)
    else:
        for i, j, (rows, cols) in kernel_positions(window, (h, w)):
            padded[..., rows, cols] += columns[:, i, j]
    out = padded.reshape(groups * group_in, *padded.shape[2:]).transpose(1, 0, 2, 3)
    # dense again (one copy, only when there was padding): the elementwise backward passes
    # that read it next run several times faster on one block than on a cropped view
    return _channel_major(out[:, :, top:top + height, left:left + width])


def _conv_weight_grad(x: np.ndarray, grad: np.ndarray, window: Window, groups: int,
                      columns: np.ndarray | None = None, with_bias: bool = False
                      ) -> tuple[np.ndarray, np.ndarray | None]:
    """The adjoint of ``_conv_forward`` in the weight, (O, C/groups, kh, kw), and with
    ``with_bias`` (im2col columns: ``_bias_in_columns``) in the bias, (O,), from the same
    product (else None). ``columns``, when given, are ``_conv_operand(x, ...)``, kept from the
    forward pass (with a row of ones when the forward had a bias, needed for ``with_bias``)."""
    if x.ndim == 3:
        if _stacks_taps(x.shape[1] // groups):
            if columns is None:
                columns = _im2col1d(x, window, groups, grad.shape[2], with_bias)
            lifted, grad_bias = _conv_weight_grad(x[:, :, None], grad[:, :, None], _lift(window), groups,
                                                  columns, with_bias)
            return lifted.reshape(lifted.shape[0], lifted.shape[1], -1), grad_bias
        operand = _lay_end_to_end(x, window) if columns is None else columns
        return _conv1d_weight_grad(operand, grad, window, groups, x.shape), None
    out_channels = grad.shape[1]
    if columns is None:
        columns = _im2col(x, window, groups, grad.shape[2:], ones_row=with_bias)
    # (columns @ grad^T)^T rather than grad @ columns^T: the same numbers, and OpenBLAS runs this
    # order faster here (1.81 ms against 1.96 ms for the second layer of the MNIST CNN at batch
    # 64); the small result is then copied back to row-major, the layout optimizers expect.
    grad_t = _channels_first(grad, groups).transpose(0, 2, 1)
    per_group = _long_product(columns, grad_t).transpose(0, 2, 1)
    group_in = x.shape[1] // groups
    depth = group_in * window.kernel[0] * window.kernel[1]
    grad_weight = np.ascontiguousarray(per_group[:, :, :depth])
    grad_weight = grad_weight.reshape(out_channels, group_in, *window.kernel)
    if not with_bias:
        return grad_weight, None
    # the row of ones in the columns made the last column the sum of grad over every position
    return grad_weight, np.ascontiguousarray(per_group[:, :, depth]).reshape(out_channels)


def _long_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for a (G, K, M) and b (G, M, O) whose inner dimension M dwarfs K and O (a
    weight gradient sums over every output position of a batch).

    When K + O is small, OpenBLAS runs such a product far below its speed (the first layer of
    the MNIST CNN: (9, 43264) @ (43264, 32) in 0.9-1.9 ms); summed over slices of M that fit
    in L2 cache with their operands, the same product takes 0.33 ms."""
    slice_length = 65536 // (a.shape[1] + b.shape[2])  # both operands' slices: 256 KB together
    if slice_length < 1024 or a.shape[2] < 4 * slice_length:
        return blas.matmul(a, b)
    total = blas.matmul(a[:, :, :slice_length], b[:, :slice_length])
    for start in range(slice_length, a.shape[2], slice_length):
        total += blas.matmul(a[:, :, start:start + slice_length], b[:, start:start + slice_length])
    return total


# ------------------------------------------------- 1-D: shifted GEMMs over end-to-end sequences
SHIFTED_GEMM_MIN_CHANNELS = 64
"""Input channels per group from which a 1-D convolution's forward and weight gradient run as
k shifted GEMMs on the sequences laid end to end; below, as one GEMM on im2col columns (a copy
of k times the input, kept from the forward for the weight gradient). The columns win where
each tap's GEMM is thin: with OpenBLAS on AMD EPYC (batch 100, length 40, 32 outputs) 3-10x
at 1-8 channels and 1.5x at 16, even at 32. On an Intel Xeon (Sapphire Rapids, one thread, CPU
time) forward and weight gradient together took 781 us on stacked taps against 989 us as
shifted GEMMs at 32 channels (one 96-deep weight-gradient product 300 us against three 32-deep
ones 430 us), 1528 against 1527 us at 64, and 3126 against 2794 us at 128."""


def _stacks_taps(group_in: int) -> bool:
    return group_in < SHIFTED_GEMM_MIN_CHANNELS


def _lift(window: Window) -> Window:
    """A 1-D window as the 2-D window of a kernel of height 1 (for the im2col columns)."""
    return Window((1, *window.kernel), (1, *window.stride), ((0, 0), *window.padding), (1, *window.dilation))


def _sequence_period(length: int, window: Window) -> tuple[int, int, int]:
    """For sequences of ``length`` laid end to end: output slots per sequence, the period (the
    padded length, rounded up to a whole number of strides, so that output slot n * slots + t
    of the flat layout is output t of sequence n), and the reach d (k - 1) of the kernel."""
    ((before, after),), (stride,) = window.padding, window.stride
    slots = -(-(length + before + after) // stride)
    return slots, slots * stride, window.dilation[0] * (window.kernel[0] - 1)


def _lay_end_to_end(x: np.ndarray, window: Window) -> np.ndarray:
    """``x`` (N, C, L), zero-padded per sequence and laid end to end: (C, N * period + reach),
    where the trailing ``reach`` zeros let the last slots' taps read past the last sequence."""
    n, channels, length = x.shape
    _, period, reach = _sequence_period(length, window)
    ((before, _),) = window.padding
    flat = np.zeros((channels, n * period + reach), x.dtype)
    flat[:, :n * period].reshape(channels, n, period)[:, :, before:before + length] = x.swapaxes(0, 1)
    return flat


def _tap(flat: np.ndarray, j: int, window: Window, count: int) -> np.ndarray:
    """The columns of ``flat`` (..., columns) that kernel tap ``j`` reads for ``count`` output
    slots: a view, contiguous along rows at stride 1."""
    (stride,), (dilation,) = window.stride, window.dilation
    return flat[..., j * dilation:j * dilation + stride * (count - 1) + 1:stride]


def _in_slots(y: np.ndarray, slots: int) -> np.ndarray:
    """``y`` (N, O, L') channel-major in (O, N * slots), zero past L' in every sequence: output
    slots that straddle two sequences get no gradient."""
    n, channels, length = y.shape
    out = np.zeros((channels, n, slots), y.dtype)
    out[:, :, :length] = y.swapaxes(0, 1)
    return out.reshape(channels, n * slots)


def _taps(weight: np.ndarray, groups: int, transpose: bool = False) -> np.ndarray:
    """``weight`` (O, C/groups, k) as k contiguous per-group matrices: (k, groups, O/groups,
    C/groups), or with ``transpose`` (k, groups, C/groups, O/groups)."""
    out_channels, group_in, k = weight.shape
    per_group = weight.reshape(groups, out_channels // groups, group_in, k)
    order = (3, 0, 2, 1) if transpose else (3, 0, 1, 2)
    return np.ascontiguousarray(per_group.transpose(order))


def _crop_sequences(flat: np.ndarray, n: int, period: int, start: int, length: int) -> np.ndarray:
    """Positions start..start + length of each of the ``n`` sequences of ``flat`` (C, ...): (C, N,
    length), a view."""
    return flat[:, :n * period].reshape(flat.shape[0], n, period)[:, :, start:start + length]


def _dense_with_bias(view: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """``view`` (C, N, L) plus ``bias`` (C,), contiguous (cropped views are copied: the
    elementwise passes that read a convolution's output run faster on one block)."""
    dense = np.ascontiguousarray(view)
    if bias is not None:
        # added after the copy, over rows of N * L rather than L: 2x faster at L = 40
        flat = dense.reshape(dense.shape[0], -1)
        np.add(flat, bias.reshape(-1, 1), out=flat)
    return dense


def _conv1d_forward(flat: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, window: Window,
                    groups: int, in_shape: tuple[int, ...]) -> np.ndarray:
    """``flat``, an input of ``in_shape`` (N, C, L) laid end to end, ⋆ ``weight`` (O, C/groups,
    k) as k shifted GEMMs: (N, O, OL)."""
    out_channels, group_in, k = weight.shape
    n, length = in_shape[0], in_shape[2]
    slots = _sequence_period(length, window)[0]
    grouped, count = flat.reshape(groups, group_in, -1), n * slots
    taps = _taps(weight, groups)
    out = blas.matmul(taps[0], _tap(grouped, 0, window, count))
    for j in range(1, k):
        out += blas.matmul(taps[j], _tap(grouped, j, window, count))
    out_length = window_output_size((length,), window)[0]
    cropped = _crop_sequences(out.reshape(out_channels, -1), n, slots, 0, out_length)
    return _dense_with_bias(cropped, bias).swapaxes(0, 1)


def _flipped(window: Window, in_length: int, length: int) -> Window | None:
    """At stride 1 the adjoint of a 1-D convolution in x is a convolution too, of y (N, O,
    ``in_length``) with the kernel flipped and the padding that gives ``length`` outputs: this
    window, or None where that padding would be negative (padding beyond the kernel's reach)."""
    if window.stride != (1,):
        return None
    reach = window.dilation[0] * (window.kernel[0] - 1)
    before = reach - window.padding[0][0]
    after = length + reach - in_length - before
    if before < 0 or after < 0:
        return None
    return Window(window.kernel, (1,), ((before, after),), window.dilation)


def _flip_weight(weight: np.ndarray, groups: int) -> np.ndarray:
    """(O, C/groups, k) → (C, O/groups, k), taps reversed: the weight of the flipped convolution."""
    out_channels, group_in, k = weight.shape
    per_group = weight.reshape(groups, out_channels // groups, group_in, k).transpose(0, 2, 1, 3)
    return per_group[..., ::-1].reshape(groups * group_in, out_channels // groups, k)


def _conv1d_transpose_forward(y: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                              window: Window, groups: int, length: int) -> np.ndarray:
    """The adjoint of ``_conv1d_forward`` in x: y (N, O, OL) → (N, C, ``length``)."""
    flipped = _flipped(window, y.shape[2], length)
    if flipped is not None:
        # One dense result, no zero-filled buffer to add k products into and crop.
        return _conv_forward(y, _flip_weight(weight, groups), bias, flipped, groups)
    n, out_channels = y.shape[:2]
    group_in, k = weight.shape[1:]
    slots, period, reach = _sequence_period(length, window)
    grad_slots = _in_slots(y, slots).reshape(groups, out_channels // groups, -1)
    flat = np.zeros((groups, group_in, n * period + reach), y.dtype)
    for j, tap in enumerate(_taps(weight, groups, transpose=True)):
        _tap(flat, j, window, n * slots)[...] += blas.matmul(tap, grad_slots)
    ((before, _),) = window.padding
    cropped = _crop_sequences(flat.reshape(groups * group_in, -1), n, period, before, length)
    return _dense_with_bias(cropped, bias).swapaxes(0, 1)


def _conv1d_weight_grad(flat: np.ndarray, grad: np.ndarray, window: Window, groups: int,
                        in_shape: tuple[int, ...]) -> np.ndarray:
    """The adjoint of ``_conv1d_forward`` in the weight: (O, C/groups, k) from ``flat``, an input
    of ``in_shape`` laid end to end, and ``grad`` (N, O, OL)."""
    n, out_channels = grad.shape[:2]
    k = window.kernel[0]
    slots = _sequence_period(in_shape[2], window)[0]
    grad_t = _in_slots(grad, slots).reshape(groups, out_channels // groups, -1).transpose(0, 2, 1)
    # (columns @ grad^T) per tap, the order OpenBLAS runs faster (see _conv_weight_grad)
    grouped = flat.reshape(groups, in_shape[1] // groups, -1)
    per_tap = [_long_product(_tap(grouped, j, window, n * slots), grad_t) for j in range(k)]
    # (k, groups, C/groups, O/groups) -> (groups, O/groups, C/groups, k), row-major
    stacked = np.stack(per_tap).transpose(1, 3, 2, 0)
    return np.ascontiguousarray(stacked).reshape(out_channels, -1, k)


# ------------------------------------------------------------------------------------ ops
def _crop_to(tensor: Tensor, size: Sequence[int]) -> Tensor:
    """Drop trailing positions a convolution produced beyond ``size`` (spatial)."""
    if tuple(tensor.shape[2:]) == tuple(size):
        return tensor
    index = (slice(None), slice(None), *[slice(0, s) for s in size])
    return tensor[index]


def _bias_in_columns(group_in: int, ndim: int) -> bool:
    """Whether a convolution's operand are im2col columns, which take a row of ones for the
    bias (all 2-D convolutions; 1-D ones below ``SHIFTED_GEMM_MIN_CHANNELS``)."""
    return ndim == 4 or _stacks_taps(group_in)


def _spatial_axes(a: Any) -> tuple[int, ...]:
    """The batch and spatial axes of (N, C, ...): what a bias gradient sums over."""
    return (0, *range(2, a.ndim))


class Conv(Function):
    """``x`` (N, C, L) or (N, C, H, W) ⋆ ``weight`` (O, C/groups, k...) + ``bias`` (O,)."""

    @staticmethod
    def forward(ctx, x, weight, bias, window, groups):
        ctx.save_inputs(0, 1)
        ctx.window, ctx.groups = window, groups
        columns = _conv_operand(x, window, groups, ones_row=bias is not None)
        if ctx.needs_input_grad[1]:
            # The weight gradient reads these same columns: keeping them (in 2-D kh * kw times
            # x's memory, released as backward passes) saves a second im2col, the costliest
            # copy of a convolution's backward.
            ctx.columns = columns
        return _conv_forward(x, weight, bias, window, groups, columns)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_inputs
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        window, groups = ctx.window, ctx.groups
        # The weight gradient's product gives the bias gradient too where the columns end in a
        # row of ones (see _with_bias and _bias_in_columns).
        bias_in_product = need_w and need_b and _bias_in_columns(x.shape[1] // groups, grad.ndim)
        grad_b = grad.sum(_spatial_axes(grad)) if need_b and not bias_in_product else None
        if grad.ndim == 4:
            # One channel-major copy of grad (when it is not already) serves every GEMM below.
            # (1-D kernels copy grad into their zero-padded slots whatever its layout.)
            grad = InLayout.apply(grad, (1, 0, 2, 3))
        grad_w = None
        if need_w:
            grad_w = ConvWeightGrad.apply(x, grad, window, groups, ctx.columns, bias_in_product)
            if bias_in_product:
                grad_w, grad_b = grad_w
        grad_x = ConvTranspose.apply(grad, weight, None, window, groups, x.shape[2:]) if need_x else None
        return grad_x, grad_w, grad_b, None, None


class ConvTranspose(Function):
    """The adjoint of ``Conv`` in x: ``y`` (N, O, OL...) with ``weight`` (O, C/groups, k...)
    → (N, C, *out_size), plus ``bias`` (C,)."""

    @staticmethod
    def forward(ctx, y, weight, bias, window, groups, out_size):
        ctx.save_inputs(0, 1)
        ctx.window, ctx.groups = window, groups
        return _conv_transpose_forward(y, weight, bias, window, groups, out_size)

    @staticmethod
    def backward(ctx, grad):
        y, weight = ctx.saved_inputs
        need_y, need_w, need_b = ctx.needs_input_grad[:3]
        window, groups = ctx.window, ctx.groups
        grad_y = _crop_to(Conv.apply(grad, weight, None, window, groups), y.shape[2:]) if need_y else None
        grad_w = ConvWeightGrad.apply(grad, y, window, groups, None, False) if need_w else None
        grad_b = grad.sum(_spatial_axes(grad)) if need_b else None
        return grad_y, grad_w, grad_b, None, None, None


class ConvWeightGrad(Function):
    """The adjoint of ``Conv`` in the weight: d<grad, Conv(x, w)>/dw for ``grad``
    (N, O, OL...); with ``with_bias`` (im2col columns only), the pair (d/dw, d/db) of
    <grad, Conv(x, w, b)>."""

    @staticmethod
    def forward(ctx, x, grad, window, groups, columns, with_bias):
        ctx.save_inputs(0, 1)
        ctx.window, ctx.groups = window, groups
        grad_weight, grad_bias = _conv_weight_grad(x, grad, window, groups, columns, with_bias)
        return grad_weight if grad_bias is None else (grad_weight, grad_bias)

    @staticmethod
    def backward(ctx, grad_weight, grad_bias=None):
        x, grad = ctx.saved_inputs
        need_x, need_grad = ctx.needs_input_grad[:2]
        window, groups = ctx.window, ctx.groups
        grad_x = grad_g = None
        if need_x:
            grad_x = ConvTranspose.apply(grad, grad_weight, None, window, groups, x.shape[2:])
        if need_grad:
            # the bias gradient sums grad, so its adjoint broadcasts: Conv's bias does that
            grad_g = _crop_to(Conv.apply(x, grad_weight, grad_bias, window, groups), grad.shape[2:])
        return grad_x, grad_g, None, None, None, None


# -------------------------------------------------------------------- argument checking
def _conv_padding(padding: Any, kernel: tuple[int, ...], dilation: tuple[int, ...],
                  stride: tuple[int, ...], op: str) -> tuple[Pair, ...]:
    """(before, after) per spatial dim from an int, a tuple, 'valid' or 'same'."""
    if isinstance(padding, str):
        if padding == "valid":
            return tuple((0, 0) for _ in kernel)
        if padding != "same":
            raise ValueError(f"{op}: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                             f"(stride={stride}); give the padding as numbers")
        # The odd unit of padding goes after, as PyTorch does.
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((total // 2, total - total // 2) for total in totals)
    return tuple((p, p) for p in expand_param(padding, len(kernel), "padding", op, 0))


def _check_tensors(op: str, input: Tensor, weight: Tensor, bias: Tensor | None,  # noqa: A002
                   spatial: int) -> bool:
    """Check ranks and dtypes; returns whether the input has a batch dimension."""
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{op}: input and weight must be Tensors, got {type(input).__name__} and "
                        f"{type(weight).__name__}")
    if input.ndim not in (spatial + 1, spatial + 2):
        layout = "(N, C, L)" if spatial == 1 else "(N, C, H, W)"
        raise ValueError(f"{op}: expected a {spatial + 2}-D input {layout} (or {spatial + 1}-D "
                         f"without the batch), got shape {tuple(input.shape)}")
    if weight.ndim != spatial + 2:
        raise ValueError(f"{op}: expected a {spatial + 2}-D weight, got shape {tuple(weight.shape)}")
    for name, tensor in (("weight", weight), ("bias", bias)):
        if tensor is not None and tensor.dtype != input.dtype:
            raise TypeError(f"{op}: input dtype {input.dtype} and {name} dtype {tensor.dtype} "
                            f"differ; convert one, e.g. {name}.to(input.dtype)")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got {input.dtype}")
    return input.ndim == spatial + 2


def _check_fits(op: str, in_size: tuple[int, ...], window_span: tuple[int, ...],
                padding: tuple[Pair, ...]) -> None:
    padded = tuple(s + a + b for s, (a, b) in zip(in_size, padding))
    if any(p < k for p, k in zip(padded, window_span)):
        raise ValueError(f"{op}: the padded input size per channel {padded} is smaller than the "
                         f"(dilated) kernel size {window_span}; the kernel can't be larger than "
                         "the input")


def _convolution(op: str, spatial: int, input: Tensor, weight: Tensor, bias: Tensor | None,  # noqa: A002
                 stride: Any, padding: Any, dilation: Any, groups: int) -> Tensor:
    batched = _check_tensors(op, input, weight, bias, spatial)
    x = input if batched else input.unsqueeze(0)
    stride = expand_param(stride, spatial, "stride", op, 1)
    dilation = expand_param(dilation, spatial, "dilation", op, 1)
    kernel = tuple(weight.shape[2:])
    pads = _conv_padding(padding, kernel, dilation, stride, op)
    out_channels, group_in = weight.shape[:2]
    if not isinstance(groups, int | np.integer) or groups < 1 or out_channels % groups:
        raise ValueError(f"{op}: groups={groups} must be a positive int dividing the "
                         f"{out_channels} output channels of weight {tuple(weight.shape)}")
    if x.shape[1] != group_in * groups:
        raise ValueError(f"{op}: given groups={groups} and weight of shape {tuple(weight.shape)}, "
                         f"expected input {tuple(input.shape)} to have {group_in * groups} "
                         f"channels, but got {x.shape[1]} channels instead")
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"{op}: bias of shape {tuple(bias.shape)} does not fit weight of shape "
                         f"{tuple(weight.shape)}; expected ({out_channels},)")
    _check_fits(op, tuple(x.shape[2:]), tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation)), pads)
    out = Conv.apply(x, weight, bias, Window(kernel, stride, pads, dilation), int(groups))
    return out if batched else out.squeeze(0)


def _transposed(op: str, spatial: int, input: Tensor, weight: Tensor, bias: Tensor | None,  # noqa: A002
                stride: Any, padding: Any, output_padding: Any, groups: int, dilation: Any) -> Tensor:
    batched = _check_tensors(op, input, weight, bias, spatial)
    x = input if batched else input.unsqueeze(0)
    stride = expand_param(stride, spatial, "stride", op, 1)
    dilation = expand_param(dilation, spatial, "dilation", op, 1)
    pads = expand_param(padding, spatial, "padding", op, 0)
    extra = expand_param(output_padding, spatial, "output_padding", op, 0)
    if any(e >= s and e >= d for e, s, d in zip(extra, stride, dilation)):
        raise ValueError(f"{op}: output_padding {extra} must be smaller than either the stride "
                         f"{stride} or the dilation {dilation}")
    in_channels, group_out = weight.shape[:2]
    if not isinstance(groups, int | np.integer) or groups < 1 or in_channels % groups:
        raise ValueError(f"{op}: groups={groups} must be a positive int dividing the "
                         f"{in_channels} input channels of weight {tuple(weight.shape)}")
    if x.shape[1] != in_channels:
        raise ValueError(f"{op}: weight of shape {tuple(weight.shape)} expects input "
                         f"{tuple(input.shape)} to have {in_channels} channels, but got "
                         f"{x.shape[1]} channels instead")
    if bias is not None and tuple(bias.shape) != (group_out * groups,):
        raise ValueError(f"{op}: bias of shape {tuple(bias.shape)} does not fit weight of shape "
                         f"{tuple(weight.shape)} with groups={groups}; expected ({group_out * groups},)")
    kernel = tuple(weight.shape[2:])
    out_size = tuple((size - 1) * s - 2 * p + d * (k - 1) + e + 1 for size, s, p, d, k, e
                     in zip(x.shape[2:], stride, pads, dilation, kernel, extra))
    if any(size < 1 for size in out_size):
        raise ValueError(f"{op}: the output size {out_size} for input {tuple(input.shape)} is not "
                         "positive; reduce the padding")
    window = Window(kernel, stride, tuple((p, p) for p in pads), dilation)
    out = ConvTranspose.apply(x, weight, bias, window, int(groups), out_size)
    return out if batched else out.squeeze(0)


# ------------------------------------------------------------------- public functions
def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,  # noqa: A002
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as PyTorch) over NCHW input.

    Shapes: input (N, C, H, W) or (C, H, W), weight (O, C / groups, kh, kw), bias (O,) →
    (N, O, OH, OW) with OH = (H + 2 padding - dilation (kh - 1) - 1) // stride + 1.
    ``padding`` is an int, a pair, ``'valid'`` (none) or ``'same'`` (output as large as the
    input; stride 1 only).

    Example::

        >>> F.conv2d(chainrule.ones(1, 3, 8, 8), chainrule.ones(4, 3, 3, 3), padding=1).shape
        (1, 4, 8, 8)
    """
    return _convolution("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,  # noqa: A002
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """1-D convolution over NCL input.

    Shapes: input (N, C, L) or (C, L), weight (O, C / groups, k), bias (O,) → (N, O, OL).

    Example::

        >>> F.conv1d(chainrule.ones(2, 3, 10), chainrule.ones(5, 3, 3)).shape
        (2, 5, 8)
    """
    return _convolution("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,  # noqa: A002
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    """Transposed 2-D convolution (the gradient of ``conv2d`` with respect to its input).

    Shapes: input (N, C_in, H, W) or (C_in, H, W), weight (C_in, C_out / groups, kh, kw),
    bias (C_out,) → (N, C_out, OH, OW) with
    OH = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1.

    Example::

        >>> F.conv_transpose2d(chainrule.ones(1, 4, 5, 5), chainrule.ones(4, 2, 3, 3), stride=2).shape
        (1, 2, 11, 11)
    """
    return _transposed("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding,
                       groups, dilation)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,  # noqa: A002
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    """Transposed 1-D convolution. Shapes: input (N, C_in, L), weight (C_in, C_out / groups,
    k), bias (C_out,) → (N, C_out, (L - 1) stride - 2 padding + dilation (k - 1) +
    output_padding + 1).

    Example::

        >>> F.conv_transpose1d(chainrule.ones(1, 4, 5), chainrule.ones(4, 2, 3)).shape
        (1, 2, 7)
    """
    return _transposed("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding,
                       groups, dilation)
