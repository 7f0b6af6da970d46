"""Pooling over NCHW and NCL tensors: ``max_pool1d/2d``, ``avg_pool1d/2d``,
``adaptive_avg_pool1d/2d``, with PyTorch's signatures, output sizes (``ceil_mode``) and
gradients (max pooling sends each gradient to one winner per window, as PyTorch picks it:
the first maximum in row-major order; the last NaN if the window holds any; never padding, so a
window of nothing but -inf names its first element inside the input).

Every pooling here loops over the kernel positions (kh * kw of them, few) and handles a whole
strided slice of the padded input at a time. Measured on (64, 32, 28, 28) float32 with a 2x2
window, this beats reshaping into windows and reducing or arg-maxing over them (NumPy is slow
reducing over short inner axes): 1.7 ms against 12 ms for max pooling with its arg-max.

Each op's backward is its adjoint op (scatter ↔ gather), so second order works too.

With the numba backend on (``chainrule.backends.numba``), float32 and float64 pooling runs the
one-pass loops of ``chainrule.kernels.pool`` instead, which give the same numbers; the NumPy
code here stays the reference they are tested against.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.autograd.function import Function
from chainrule.backends import numba as numba_backend
from chainrule.kernels import geometry, windows_disjoint
from chainrule.kernels import pool as pool_kernels
from chainrule.tensor import Tensor
from chainrule.window import Pair, Window, expand_param, filled_like, kernel_positions, pad_spatial


def _padded_hw(in_hw: Sequence[int], window: Window) -> Pair:
    (top, bottom), (left, right) = window.padding
    return in_hw[0] + top + bottom, in_hw[1] + left + right


def _crop(padded: np.ndarray, window: Window, in_hw: Sequence[int]) -> np.ndarray:
    (top, _), (left, _) = window.padding
    return padded[:, :, top:top + in_hw[0], left:left + in_hw[1]]


def _zeros_padded(shape: Sequence[int], window: Window, like: np.ndarray,
                  dtype: np.dtype | None = None) -> np.ndarray:
    return filled_like(like, (*shape[:2], *_padded_hw(shape[2:], window)), dtype=dtype)


# ------------------------------------------------------------------------ max pooling
def _max_over_windows(x: np.ndarray, window: Window, out_hw: Pair) -> tuple[np.ndarray, np.ndarray]:
    """The maximum of each window, and which kernel position (row-major) holds it, chosen as
    PyTorch does: the first maximum; a NaN is the maximum, and the last NaN wins; padding
    (the dtype's lowest value) never wins, so a window of nothing but -inf names its first
    element inside the input."""
    lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    padded = pad_spatial(x, window.padding, lowest)
    if numba_backend.handles(padded):
        best, winner = pool_kernels.max_over_windows(padded, window, out_hw)
    else:
        best, winner = _first_maxima(padded, window, out_hw)
    _name_first_inside_where_lowest(best, winner, window, lowest)
    # min() propagates NaN: one fast pass (1% of the NumPy pooling, 7% of the kernel's) finds
    # whether any window needs its last NaN named
    if best.dtype.kind == "f" and best.size and np.isnan(best.min()):
        _name_last_nan(padded, best, winner, window)
    return best, winner


def _first_maxima(padded: np.ndarray, window: Window, out_hw: Pair) -> tuple[np.ndarray, np.ndarray]:
    """The maximum of each window of ``padded`` and the kernel position of its first maximum
    (a NaN makes the maximum NaN but does not win)."""
    positions = kernel_positions(window, out_hw)
    _, _, first = next(positions)
    best = padded[:, :, first[0], first[1]].copy(order="K")  # keep the input's memory layout
    winner = np.zeros_like(best, dtype=np.min_scalar_type(window.kernel[0] * window.kernel[1]))
    for i, j, (rows, cols) in positions:
        candidate = padded[:, :, rows, cols]
        better = candidate > best
        np.maximum(best, candidate, out=best)
        # winner = where(better, position, winner), without the slow boolean-indexed store
        np.multiply(winner, ~better, out=winner)
        winner += better * winner.dtype.type(i * window.kernel[1] + j)
    return best, winner


def _name_first_inside_where_lowest(best: np.ndarray, winner: np.ndarray, window: Window,
                                    lowest: float) -> None:
    """Where a window's maximum is the lowest value (all -inf), its first maximum may be
    padding: name its first element inside the input instead, as PyTorch does. Only windows
    that overlap the top or left padding can start on padding, so only those are looked at."""
    (top, _), (left, _) = window.padding
    if top == left == 0:
        return
    kw = window.kernel[1]
    first_row, first_col = _first_inside(window, best.shape[2:])
    first_position = first_row[:, None] * kw + first_col[None, :]
    top_rows, left_cols = np.count_nonzero(first_row), np.count_nonzero(first_col)
    for edge in (np.s_[:, :, :top_rows, :], np.s_[:, :, :, :left_cols]):
        if best[edge].size:
            np.copyto(winner[edge], first_position[edge[2:]], where=best[edge] == lowest,
                      casting="unsafe")


def _first_inside(window: Window, out_hw: Pair) -> tuple[np.ndarray, np.ndarray]:
    """For each output row, the first kernel row whose input row is not padding (OH,); the
    same for columns (OW,). Nonzero only for windows that start in the top or left padding."""
    firsts = []
    for out_size, stride, dilation, (before, _) in zip(out_hw, window.stride, window.dilation,
                                                       window.padding):
        start = np.arange(out_size) * stride - before  # in input coordinates
        firsts.append(np.maximum(-(start // dilation), 0))  # ceil(-start / dilation), at least 0
    return firsts[0], firsts[1]


def _name_last_nan(padded: np.ndarray, best: np.ndarray, winner: np.ndarray, window: Window) -> None:
    """Name the last NaN of each window that holds one (PyTorch's winner there)."""
    for i, j, (rows, cols) in kernel_positions(window, best.shape[2:]):
        # in rising kernel position, so the last NaN is written last
        np.copyto(winner, i * window.kernel[1] + j, where=np.isnan(padded[:, :, rows, cols]),
                  casting="unsafe")


def _flat_indices(winner: np.ndarray, window: Window, in_hw: Pair) -> np.ndarray:
    """The winners as indices into each input plane of H * W (``return_indices``)."""
    out_h, out_w = winner.shape[2:]
    (sh, sw), (dh, dw), kw = window.stride, window.dilation, window.kernel[1]
    (top, _), (left, _) = window.padding
    position = winner.astype(np.int64)
    rows = (np.arange(out_h) * sh - top)[:, None] + (position // kw) * dh
    cols = (np.arange(out_w) * sw - left)[None, :] + (position % kw) * dw
    return rows * in_hw[1] + cols


class MaxPool2d(Function):
    """Max over each window of ``x`` (N, C, H, W); with ``return_indices`` a second output, the
    int64 flat index of each window's winner within its H * W plane."""

    @staticmethod
    def forward(ctx, x, window, out_hw, return_indices):
        best, winner = _max_over_windows(x, window, out_hw)
        if ctx.requires_grad:
            ctx.winner, ctx.window, ctx.input_shape = winner, window, x.shape
        if return_indices:
            return best, _flat_indices(winner, window, x.shape[2:])
        return best

    @staticmethod
    def backward(ctx, grad, *grad_indices):  # (indices are integers: no gradient)
        return RouteToWinners.apply(grad, ctx.winner, ctx.window, ctx.input_shape), None, None, None


def _route_to_winners(grad: np.ndarray, winner: np.ndarray, window: Window,
                      input_shape: Sequence[int]) -> np.ndarray:
    """``RouteToWinners`` into a zero array of ``input_shape`` plus padding (uncropped), laid
    out as the pooled input was (``winner`` has its layout): after a convolution and a ReLU
    that is channel-major, which their backward passes then read without a copy."""
    padded = _zeros_padded(input_shape, window, winner, grad.dtype)
    disjoint = windows_disjoint(geometry(window))
    # Masking by multiplying is the fast way, but inf * 0 is NaN: a gradient with inf or NaN
    # (rare; the check costs 3% of the routing) takes np.where, 2 to 4x slower, so that the
    # other elements of a window get exactly 0, as in PyTorch.
    finite = np.isfinite(grad).all()
    for i, j, (rows, cols) in kernel_positions(window, grad.shape[2:]):
        is_winner = winner == i * window.kernel[1] + j
        target = padded[:, :, rows, cols]
        if not finite:
            target += np.where(is_winner, grad, 0)
        elif disjoint:  # each input element is in one window: write, don't add (2x faster)
            np.multiply(grad, is_winner, out=target)
        else:
            target += grad * is_winner
    return padded


class RouteToWinners(Function):
    """Scatter each window's gradient to its winner (the backward of max pooling, linear in
    the gradient; its adjoint is ``PickWinners``)."""

    @staticmethod
    def forward(ctx, grad, winner, window, input_shape):
        ctx.winner, ctx.window = winner, window
        if numba_backend.handles(grad):
            padded = pool_kernels.route_to_winners(grad, winner, window, _padded_hw(input_shape[2:], window))
        else:
            padded = _route_to_winners(grad, winner, window, input_shape)
        return _crop(padded, window, input_shape[2:])

    @staticmethod
    def backward(ctx, grad):
        return PickWinners.apply(grad, ctx.winner, ctx.window), None, None, None


class PickWinners(Function):
    """Read ``values`` (N, C, H, W) at each window's winner (the adjoint of ``RouteToWinners``)."""

    @staticmethod
    def forward(ctx, values, winner, window):
        ctx.winner, ctx.window, ctx.input_shape = winner, window, values.shape
        padded = pad_spatial(values, window.padding)
        if numba_backend.handles(padded):
            return pool_kernels.pick_winners(padded, winner, window)
        out = np.zeros_like(winner, dtype=values.dtype)
        finite = np.isfinite(values).all()  # else inf * 0 = NaN: mask by selecting, as above
        for i, j, (rows, cols) in kernel_positions(window, winner.shape[2:]):
            is_winner = winner == i * window.kernel[1] + j
            if finite:
                out += padded[:, :, rows, cols] * is_winner
            else:
                np.copyto(out, padded[:, :, rows, cols], where=is_winner)
        return out

    @staticmethod
    def backward(ctx, grad):
        return RouteToWinners.apply(grad, ctx.winner, ctx.window, ctx.input_shape), None, None


# ------------------------------------------------------------------------ average pooling
class WindowSum(Function):
    """The sum of each window of ``x`` (N, C, H, W), padding counting as zeros."""

    @staticmethod
    def forward(ctx, x, window, out_hw):
        ctx.window, ctx.input_shape = window, x.shape
        padded = pad_spatial(x, window.padding)
        if numba_backend.handles(padded):
            return pool_kernels.window_sum(padded, window, out_hw)
        positions = kernel_positions(window, out_hw)
        _, _, (rows, cols) = next(positions)
        out = padded[:, :, rows, cols].copy(order="K")
        for _, _, (rows, cols) in positions:
            out += padded[:, :, rows, cols]
        return out

    @staticmethod
    def backward(ctx, grad):
        return WindowScatter.apply(grad, ctx.window, ctx.input_shape), None, None


def _window_scatter(grad: np.ndarray, window: Window, input_shape: Sequence[int]) -> np.ndarray:
    """``WindowScatter`` into a zero array of ``input_shape`` plus padding (uncropped)."""
    padded = _zeros_padded(input_shape, window, grad)
    disjoint = windows_disjoint(geometry(window))
    for _, _, (rows, cols) in kernel_positions(window, grad.shape[2:]):
        if disjoint:
            padded[:, :, rows, cols] = grad
        else:
            padded[:, :, rows, cols] += grad
    return padded


class WindowScatter(Function):
    """Add each window's value to every input element it covers (the adjoint of
    ``WindowSum``)."""

    @staticmethod
    def forward(ctx, grad, window, input_shape):
        ctx.window, ctx.out_hw = window, grad.shape[2:]
        if numba_backend.handles(grad):
            padded = pool_kernels.window_scatter(grad, window, _padded_hw(input_shape[2:], window))
        else:
            padded = _window_scatter(grad, window, input_shape)
        return _crop(padded, window, input_shape[2:])

    @staticmethod
    def backward(ctx, grad):
        return WindowSum.apply(grad, ctx.window, ctx.out_hw), None, None


# -------------------------------------------------------------------- argument handling
def _pool_window(op: str, in_size: tuple[int, ...], kernel_size: Any, stride: Any, padding: Any,
                 dilation: Any, ceil_mode: bool) -> tuple[Window, Pair]:
    """The window over the 2-D (lifted, for 1-D ops) input and the output height and width,
    with PyTorch's output size rule; the padding after is widened where ``ceil_mode`` lets the
    last window hang over the end."""
    spatial = len(in_size)
    kernel = expand_param(kernel_size, spatial, "kernel_size", op, 1)
    if stride is None or (isinstance(stride, Sequence) and len(stride) == 0):
        stride = kernel
    stride = expand_param(stride, spatial, "stride", op, 1)
    pads = expand_param(padding, spatial, "padding", op, 0)
    dilation = expand_param(dilation, spatial, "dilation", op, 1)
    if any(2 * p > k for p, k in zip(pads, kernel)):
        raise ValueError(f"{op}: padding {pads} should be at most half of the kernel size {kernel}")
    out_size, pairs = [], []
    for size, k, s, p, d in zip(in_size, kernel, stride, pads, dilation):
        span = d * (k - 1) + 1
        out = (size + 2 * p - span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (out - 1) * s >= size + p:
            out -= 1  # the last window must start inside the input or its left padding
        if out < 1:
            raise ValueError(f"{op}: input of spatial size {in_size} with padding {pads} is smaller "
                             f"than the (dilated) kernel {kernel}; the output would be empty")
        out_size.append(out)
        pairs.append((p, max(p, (out - 1) * s + span - size - p)))
    if spatial == 1:
        return Window((1, *kernel), (1, *stride), ((0, 0), pairs[0]), (1, *dilation)), (1, out_size[0])
    return Window(kernel, stride, tuple(pairs), dilation), (out_size[0], out_size[1])


def _as_batched_2d(op: str, input: Tensor, spatial: int) -> Tensor:  # noqa: A002
    """``input`` as (N, C, H, W): a batch of 1 added to unbatched input, a height of 1 to 1-D."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (spatial + 1, spatial + 2):
        layout = "(N, C, L)" if spatial == 1 else "(N, C, H, W)"
        raise ValueError(f"{op}: expected a {spatial + 2}-D input {layout} (or {spatial + 1}-D "
                         f"without the batch), got shape {tuple(input.shape)}")
    x = input if input.ndim == spatial + 2 else input.unsqueeze(0)
    return x.unsqueeze(2) if spatial == 1 else x


def _restore(out: Tensor, input: Tensor, spatial: int) -> Tensor:  # noqa: A002
    """Undo ``_as_batched_2d`` on a result."""
    if spatial == 1:
        out = out.squeeze(2)
    return out if input.ndim == spatial + 2 else out.squeeze(0)


def _max_pool(op: str, spatial: int, input: Tensor, kernel_size: Any, stride: Any, padding: Any,  # noqa: A002
              dilation: Any, ceil_mode: bool, return_indices: bool) -> Any:
    x = _as_batched_2d(op, input, spatial)
    window, out_hw = _pool_window(op, tuple(input.shape[-spatial:]), kernel_size, stride, padding,
                                  dilation, ceil_mode)
    if not return_indices:
        return _restore(MaxPool2d.apply(x, window, out_hw, False), input, spatial)
    out, indices = MaxPool2d.apply(x, window, out_hw, True)
    out = _restore(out, input, spatial)
    return out, indices.reshape(out.shape)


def _avg_divisor(in_size: int, out_size: int, kernel: int, stride: int, pad: int,
                 count_include_pad: bool) -> np.ndarray:
    """How many elements each output position along one dim averages over, as PyTorch
    counts them: padding counts (if ``count_include_pad``), overhang past it never does."""
    start = np.arange(out_size) * stride - pad
    end = np.minimum(start + kernel, in_size + pad)
    if count_include_pad:
        return end - start
    return np.minimum(end, in_size) - np.maximum(start, 0)


def _avg_pool(op: str, spatial: int, input: Tensor, kernel_size: Any, stride: Any, padding: Any,  # noqa: A002
              ceil_mode: bool, count_include_pad: bool, divisor_override: int | None) -> Tensor:
    x = _as_batched_2d(op, input, spatial)
    window, out_hw = _pool_window(op, tuple(input.shape[-spatial:]), kernel_size, stride, padding,
                                  1, ceil_mode)
    summed = WindowSum.apply(x, window, out_hw)
    if divisor_override is not None:
        if divisor_override == 0:
            raise ValueError(f"{op}: divisor_override must be non-zero")
        return _restore(summed * (1.0 / divisor_override), input, spatial)
    counts = [_avg_divisor(size, out, k, s, before, count_include_pad) for size, out, k, s, (before, _)
              in zip(x.shape[2:], out_hw, window.kernel, window.stride, window.padding)]
    divisor = counts[0][:, None] * counts[1][None, :]
    if (divisor == divisor.flat[0]).all():
        # the common case: one Python scalar, which keeps float32 float32
        return _restore(summed * (1.0 / float(divisor.flat[0])), input, spatial)
    return _restore(summed * Tensor._wrap((1.0 / divisor).astype(input.dtype)), input, spatial)


def _adaptive_matrix(in_size: int, out_size: int, dtype: np.dtype) -> np.ndarray:
    """(out_size, in_size): row i averages PyTorch's bin i, [floor(i n / m), ceil((i + 1) n / m))."""
    matrix = np.zeros((out_size, in_size), dtype=dtype)
    for i, (start, end) in enumerate(_bins(in_size, out_size)):
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


# ---------------------------------------------------------------------- public functions
def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """The maximum over each ``kernel_size`` window. Shapes: (N, C, H, W) or (C, H, W) →
    (N, C, OH, OW) with OH = (H + 2 padding - dilation (kh - 1) - 1) // stride + 1 (rounded up
    with ``ceil_mode``); ``stride`` defaults to ``kernel_size``. With ``return_indices``, also
    the int64 index of each maximum within its H * W input plane.

    Example::

        >>> F.max_pool2d(chainrule.randn(1, 3, 8, 8), 2).shape
        (1, 3, 4, 4)
    """
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """The maximum over each window along the last dim. Shapes: (N, C, L) or (C, L) → (N, C, OL).

    Example::

        >>> F.max_pool1d(chainrule.randn(2, 3, 10), 3, stride=2).shape
        (2, 3, 4)
    """
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """The mean over each ``kernel_size`` window (zero padding counted in the divisor when
    ``count_include_pad``). Shapes: (N, C, H, W) or (C, H, W) → (N, C, OH, OW).

    Example::

        >>> F.avg_pool2d(chainrule.ones(1, 3, 8, 8), 2).shape
        (1, 3, 4, 4)
    """
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """The mean over each window along the last dim. Shapes: (N, C, L) or (C, L) → (N, C, OL).

    Example::

        >>> F.avg_pool1d(chainrule.ones(2, 3, 10), 2).shape
        (2, 3, 5)
    """
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:  # noqa: A002
    """Average into an ``output_size`` grid of bins (an int, or a pair whose None entries keep
    the input's size), bins as PyTorch draws them. Shapes: (N, C, H, W) or (C, H, W) →
    (N, C, *output_size).

    Example::

        >>> F.adaptive_avg_pool2d(chainrule.ones(2, 8, 7, 7), 1).shape
        (2, 8, 1, 1)
    """
    return _adaptive_avg_pool("adaptive_avg_pool2d", 2, input, output_size)


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:  # noqa: A002
    """Average into ``output_size`` bins along the last dim. Shapes: (N, C, L) or (C, L) →
    (N, C, output_size).

    Example::

        >>> F.adaptive_avg_pool1d(chainrule.ones(2, 3, 10), 4).shape
        (2, 3, 4)
    """
    return _adaptive_avg_pool("adaptive_avg_pool1d", 1, input, output_size)


def _adaptive_sizes(op: str, spatial: int, x: Tensor, output_size: Any) -> tuple[int, int]:
    """The (OH, OW) of an adaptive pooling of ``x`` (N, C, H, W); None keeps a dimension."""
    in_hw = tuple(x.shape[2:])
    single = output_size is None or isinstance(output_size, int | np.integer)
    sizes = (output_size,) * spatial if single else tuple(output_size)
    if len(sizes) != spatial:
        raise ValueError(f"{op}: output_size must be an int or a tuple of {spatial}, got {output_size!r}")
    out_hw = tuple(size if want is None else int(want) for size, want in zip(in_hw[-spatial:], sizes))
    if any(o < 1 for o in out_hw):
        raise ValueError(f"{op}: output_size must be positive, got {output_size!r}")
    return (1, *out_hw) if spatial == 1 else out_hw  # type: ignore[return-value]


def _bins(in_size: int, out_size: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive bins: [floor(i n / m), ceil((i + 1) n / m)) for i < m."""
    return [((i * in_size) // out_size, -(-((i + 1) * in_size) // out_size)) for i in range(out_size)]


def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:  # noqa: A002
    """The maximum over each of an ``output_size`` grid of bins (drawn as for
    ``adaptive_avg_pool2d``). Shapes: (N, C, H, W) or (C, H, W) → (N, C, *output_size).

    Example::

        >>> F.adaptive_max_pool2d(chainrule.arange(16.0).reshape(1, 1, 4, 4), 2)
        tensor([[[[ 5.,  7.],
                  [13., 15.]]]])
    """
    return _adaptive_max_pool("adaptive_max_pool2d", 2, input, output_size, return_indices)


def adaptive_max_pool1d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:  # noqa: A002
    """The maximum over ``output_size`` bins along the last dim. Shapes: (N, C, L) or (C, L) →
    (N, C, output_size)."""
    return _adaptive_max_pool("adaptive_max_pool1d", 1, input, output_size, return_indices)


def _adaptive_max_pool(op: str, spatial: int, input: Tensor, output_size: Any,  # noqa: A002
                       return_indices: bool) -> Any:
    x = _as_batched_2d(op, input, spatial)
    in_hw = tuple(x.shape[2:])
    out_hw = _adaptive_sizes(op, spatial, x, output_size)
    if in_hw[0] % out_hw[0] == 0 and in_hw[1] % out_hw[1] == 0:
        # equal bins that tile the input: a plain max pooling (indices included)
        kernel = (in_hw[0] // out_hw[0], in_hw[1] // out_hw[1])
        window = Window(kernel, kernel, ((0, 0), (0, 0)), (1, 1))
        if not return_indices:
            return _restore(MaxPool2d.apply(x, window, out_hw, False), input, spatial)
        out, indices = MaxPool2d.apply(x, window, out_hw, True)
        out = _restore(out, input, spatial)
        return out, indices.reshape(out.shape)
    if return_indices:
        raise NotImplementedError(f"{op}: return_indices=True needs bins that tile the input evenly "
                                  f"({in_hw[-spatial:]} into {out_hw[-spatial:]}); pool without indices")
    # uneven (overlapping) bins: the maximum of a rectangle is the maximum over its rows of
    # the maxima over its columns, so two passes of one amax per bin
    from chainrule.ops.movement import cat

    rows = cat([x[:, :, a:b].amax(2, keepdim=True) for a, b in _bins(in_hw[0], out_hw[0])], 2)
    out = cat([rows[:, :, :, a:b].amax(3, keepdim=True) for a, b in _bins(in_hw[1], out_hw[1])], 3)
    return _restore(out, input, spatial)


def _adaptive_avg_pool(op: str, spatial: int, input: Tensor, output_size: Any) -> Tensor:  # noqa: A002
    x = _as_batched_2d(op, input, spatial)
    in_hw = tuple(x.shape[2:])
    out_hw = _adaptive_sizes(op, spatial, x, output_size)
    if out_hw == (1, 1):
        out = x.mean((2, 3), keepdim=True)
    elif in_hw[0] % out_hw[0] == 0 and in_hw[1] % out_hw[1] == 0:
        # equal bins that tile the input: a plain average pooling
        kernel = (in_hw[0] // out_hw[0], in_hw[1] // out_hw[1])
        window = Window(kernel, kernel, ((0, 0), (0, 0)), (1, 1))
        out = WindowSum.apply(x, window, out_hw) * (1.0 / (kernel[0] * kernel[1]))
    else:
        # uneven (overlapping) bins: averaging matrices on both sides, P_h @ x @ P_w^T
        rows = Tensor._wrap(_adaptive_matrix(in_hw[0], out_hw[0], x.dtype))
        cols = Tensor._wrap(_adaptive_matrix(in_hw[1], out_hw[1], x.dtype).T)
        out = rows @ x @ cols
    return _restore(out, input, spatial)
