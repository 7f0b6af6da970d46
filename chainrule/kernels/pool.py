"""Max and average pooling, one pass over memory each (see ``chainrule.ops.pool`` for the
NumPy versions, which these match bit for bit).

The NumPy path handles one kernel position at a time across the whole batch: kh * kw strided
passes whose inner loops span one output row (13 elements for a 2x2 window on 26 x 26), where
NumPy's per-loop overhead dominates. These loops visit each window once. Measured on the first
pool of a small MNIST CNN, (64, 32, 26, 26) channel-major float32, 2x2: the maximum with its
winner 0.26 ms against 1.48 ms, the gradient scatter 0.34 ms against 1.0 ms.

Each loop is compiled for one window geometry (kernel size, stride, dilation), which it holds
as constants: LLVM then unrolls the window and vectorises across windows. With the geometry as
run-time arguments the same loop measured 2 to 3 ms on that input, slower than NumPy. A network
uses a few geometries; each loop compiles in about 0.2 s per geometry and dtype, once (numba
caches it on disk).

Padding works as in the NumPy path: the input is padded (with the lowest value for max, zeros
for sums) and gradients are scattered into a padded array that is then cropped, so the loops
never check bounds. A window's element at kernel position (i, j) is padded row
``oh * sh + i * dh``, column ``ow * sw + j * dw``.

Pooling works plane by plane, so each loop runs over the two leading axes of (N, C, H, W) in
the order they lie in memory (channel-major, as convolutions leave their outputs, or
batch-major), and its results keep that layout.

The winners these loops pick are the first maxima, as in the NumPy path; both then hand them to
``chainrule.ops.pool``, which moves the winners of the rare windows where PyTorch picks
otherwise (a NaN, or nothing above the padding). Tracking those cases in the loop measured 20%
to 8x slower on the input above.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.backends.numba import prange, threaded_kernel
from chainrule.kernels import Geometry, geometry, windows_disjoint

if TYPE_CHECKING:
    from chainrule.window import Pair, Window

Shape4 = tuple[int, ...]  # (N, C, H, W)


# ----------------------------------------------------------------------- memory order
def _is_channel_major(a: np.ndarray) -> bool:
    """Whether ``a`` (N, C, ...) has its channels outermost in memory (as conv outputs do)."""
    return a.strides[1] > a.strides[0]


def _in_loop_order(a: np.ndarray, channel_major: bool) -> np.ndarray:
    """``a`` (N, C, H, W) as the C-contiguous array the loops walk: (C, N, H, W) when
    ``channel_major``. Copied only when it is laid out otherwise (rare: a strided view)."""
    swapped = a.transpose(1, 0, 2, 3) if channel_major else a
    return np.ascontiguousarray(swapped)


def _empty_in_loop_order(shape: Shape4, dtype: Any, channel_major: bool, zeros: bool = False
                         ) -> tuple[np.ndarray, np.ndarray]:
    """A new array for the loops to fill and the same memory seen as (N, C, H, W)."""
    n, c, h, w = shape
    make = np.zeros if zeros else np.empty
    if channel_major:
        memory = make((c, n, h, w), dtype)
        return memory, memory.transpose(1, 0, 2, 3)
    memory = make((n, c, h, w), dtype)
    return memory, memory


# ------------------------------------------------------------------------- the entries
def max_over_windows(padded: np.ndarray, window: Window, out_hw: Pair) -> tuple[np.ndarray, np.ndarray]:
    """The maximum of each window of ``padded`` (N, C, H + pads, W + pads; padding holds the
    dtype's lowest value) → (N, C, OH, OW), and the row-major kernel position that holds it,
    first at ties; a NaN makes the maximum NaN and keeps the winner found before it. The same
    as ``chainrule.ops.pool._first_maxima``."""
    n, c = padded.shape[:2]
    channel_major = _is_channel_major(padded)
    best, best_nchw = _empty_in_loop_order((n, c, *out_hw), padded.dtype, channel_major)
    position_dtype = np.min_scalar_type(window.kernel[0] * window.kernel[1])
    winner, winner_nchw = _empty_in_loop_order((n, c, *out_hw), position_dtype, channel_major)
    _max_loop(geometry(window))(_in_loop_order(padded, channel_major), best, winner)
    return best_nchw, winner_nchw


def route_to_winners(grad: np.ndarray, winner: np.ndarray, window: Window,
                     padded_hw: Pair) -> np.ndarray:
    """Add each window's gradient in ``grad`` (N, C, OH, OW) at its ``winner`` in a zero array
    (N, C, *padded_hw), returned uncropped, as ``chainrule.ops.pool.RouteToWinners`` does."""
    n, c = grad.shape[:2]
    channel_major = _is_channel_major(winner)  # the pooled input's layout, as the NumPy path
    shape = geometry(window)
    tiles = _windows_tile(shape, grad.shape[2:], padded_hw)
    out, out_nchw = _empty_in_loop_order((n, c, *padded_hw), grad.dtype, channel_major, zeros=not tiles)
    loop = _route_tiles_loop(shape) if tiles else _route_loop(shape)
    loop(_in_loop_order(grad, channel_major), _in_loop_order(winner, channel_major), out)
    return out_nchw


def pick_winners(padded: np.ndarray, winner: np.ndarray, window: Window) -> np.ndarray:
    """``padded`` (N, C, H + pads, W + pads; zero padding) read at each window's ``winner``
    → (N, C, OH, OW), as ``chainrule.ops.pool.PickWinners``."""
    channel_major = _is_channel_major(winner)
    out, out_nchw = _empty_in_loop_order(winner.shape, padded.dtype, channel_major)
    _pick_loop(geometry(window))(_in_loop_order(padded, channel_major),
                                  _in_loop_order(winner, channel_major), out)
    return out_nchw


def window_sum(padded: np.ndarray, window: Window, out_hw: Pair) -> np.ndarray:
    """The sum of each window of ``padded`` (N, C, H + pads, W + pads; zero padding) →
    (N, C, OH, OW), added in kernel-position order, as ``chainrule.ops.pool.WindowSum``."""
    n, c = padded.shape[:2]
    channel_major = _is_channel_major(padded)
    out, out_nchw = _empty_in_loop_order((n, c, *out_hw), padded.dtype, channel_major)
    _window_sum_loop(geometry(window))(_in_loop_order(padded, channel_major), out)
    return out_nchw


def window_scatter(grad: np.ndarray, window: Window, padded_hw: Pair) -> np.ndarray:
    """Add each window's value in ``grad`` (N, C, OH, OW) to every element it covers in a zero
    array (N, C, *padded_hw), returned uncropped, as ``chainrule.ops.pool.WindowScatter``."""
    n, c = grad.shape[:2]
    channel_major = _is_channel_major(grad)
    out, out_nchw = _empty_in_loop_order((n, c, *padded_hw), grad.dtype, channel_major, zeros=True)
    _window_scatter_loop(geometry(window))(_in_loop_order(grad, channel_major), out)
    return out_nchw


def _windows_tile(geometry: Geometry, out_hw: Pair, padded_hw: Pair) -> bool:
    """True when the windows lie side by side with no gaps (stride = kernel size, no
    dilation) and cover the whole padded input, as a 2x2 max pooling with stride 2 does an
    input of even height and width. (Over an odd one, zeroing the last row and column in the
    loop measured slower than the zeroed array on the CNN's second pool.)"""
    kh, kw, sh, sw, dh, dw = geometry
    return (sh, sw, dh, dw) == (kh, kw, 1, 1) and tuple(padded_hw) == (out_hw[0] * kh, out_hw[1] * kw)


# ----------------------------------------------------------------------------- the loops
# Each factory returns the loop for one geometry (cached: numba compiles it on first call).
# The arrays arrive in loop order (A, B, H, W), C-contiguous.

@cache
def _max_loop(geometry: Geometry) -> Callable[..., None]:
    kh, kw, sh, sw, dh, dw = geometry

    @threaded_kernel
    def max_loop(padded, best, winner):  # pragma: no cover (compiled)
        planes = best.shape[1]
        for plane in prange(best.shape[0] * planes):  # planes are independent
            a, b = plane // planes, plane % planes
            for oh in range(best.shape[2]):
                for ow in range(best.shape[3]):
                    maximum = padded[a, b, oh * sh, ow * sw]
                    position = 0
                    # (position 0 is compared with itself below, which changes nothing)
                    for i in range(kh):
                        for j in range(kw):
                            value = padded[a, b, oh * sh + i * dh, ow * sw + j * dw]
                            # selects, not branches: they vectorise; NaN > x is False, so
                            # a NaN never wins but, as in np.maximum, becomes the maximum
                            better = value > maximum
                            position = i * kw + j if better else position
                            maximum = value if better else maximum
                            maximum = value if value != value else maximum
                    best[a, b, oh, ow] = maximum
                    winner[a, b, oh, ow] = position

    return max_loop


@cache
def _route_loop(geometry: Geometry) -> Callable[..., None]:
    kh, kw, sh, sw, dh, dw = geometry
    # Where windows overlap, they are visited last to first: an element that several windows
    # chose then receives their gradients by rising kernel position, the order in which the
    # NumPy path adds them (float addition is not associative). Otherwise first to last, which
    # runs 3x faster.
    backwards = not windows_disjoint(geometry)

    @threaded_kernel
    def route_loop(grad, winner, out):  # pragma: no cover (compiled)
        out_h, out_w = grad.shape[2], grad.shape[3]
        planes = grad.shape[1]
        for plane in prange(grad.shape[0] * planes):  # planes are independent
            a, b = plane // planes, plane % planes
            for step_h in range(out_h):
                oh = out_h - 1 - step_h if backwards else step_h
                for step_w in range(out_w):
                    ow = out_w - 1 - step_w if backwards else step_w
                    position = np.int64(winner[a, b, oh, ow])
                    row = oh * sh + (position // kw) * dh
                    col = ow * sw + (position % kw) * dw
                    out[a, b, row, col] += grad[a, b, oh, ow]

    return route_loop


@cache
def _route_tiles_loop(geometry: Geometry) -> Callable[..., None]:
    """``_route_loop`` for windows that tile the whole input (``_windows_tile``), into an
    array not zeroed: every element is written once, in memory order, a window's winner its
    gradient and the others zero. That skips the pass that zeroes the array first: on the
    CNN's first pool, (64, 32, 26, 26) float32, 0.47 -> 0.28 ms (one thread, CPU time)."""
    kh, kw, _, _, _, _ = geometry

    @threaded_kernel
    def route_tiles_loop(grad, winner, out):  # pragma: no cover (compiled)
        zero = out.dtype.type(0)
        planes = grad.shape[1]
        for plane in prange(grad.shape[0] * planes):  # planes are independent
            a, b = plane // planes, plane % planes
            for oh in range(grad.shape[2]):
                for i in range(kh):
                    for ow in range(grad.shape[3]):
                        position = np.int64(winner[a, b, oh, ow]) - i * kw
                        value = grad[a, b, oh, ow]
                        for j in range(kw):
                            out[a, b, oh * kh + i, ow * kw + j] = value if position == j else zero

    return route_tiles_loop


@cache
def _pick_loop(geometry: Geometry) -> Callable[..., None]:
    kh, kw, sh, sw, dh, dw = geometry

    @threaded_kernel
    def pick_loop(padded, winner, out):  # pragma: no cover (compiled)
        planes = out.shape[1]
        for plane in prange(out.shape[0] * planes):  # planes are independent
            a, b = plane // planes, plane % planes
            for oh in range(out.shape[2]):
                for ow in range(out.shape[3]):
                    position = np.int64(winner[a, b, oh, ow])
                    row = oh * sh + (position // kw) * dh
                    col = ow * sw + (position % kw) * dw
                    out[a, b, oh, ow] = padded[a, b, row, col]

    return pick_loop


@cache
def _window_sum_loop(geometry: Geometry) -> Callable[..., None]:
    kh, kw, sh, sw, dh, dw = geometry

    @threaded_kernel
    def window_sum_loop(padded, out):  # pragma: no cover (compiled)
        planes = out.shape[1]
        for plane in prange(out.shape[0] * planes):  # planes are independent
            a, b = plane // planes, plane % planes
            for oh in range(out.shape[2]):
                for ow in range(out.shape[3]):
                    # the first element, then the others in kernel order, as NumPy sums
                    total = padded[a, b, oh * sh, ow * sw]
                    for i in range(kh):
                        for j in range(kw):
                            if i > 0 or j > 0:
                                total += padded[a, b, oh * sh + i * dh, ow * sw + j * dw]
                    out[a, b, oh, ow] = total

    return window_sum_loop


@cache
def _window_scatter_loop(geometry: Geometry) -> Callable[..., None]:
    kh, kw, sh, sw, dh, dw = geometry
    backwards = not windows_disjoint(geometry)  # the order of addition, as in _route_loop

    @threaded_kernel
    def window_scatter_loop(grad, out):  # pragma: no cover (compiled)
        out_h, out_w = grad.shape[2], grad.shape[3]
        planes = grad.shape[1]
        for plane in prange(grad.shape[0] * planes):  # planes are independent
            a, b = plane // planes, plane % planes
            for step_h in range(out_h):
                oh = out_h - 1 - step_h if backwards else step_h
                for step_w in range(out_w):
                    ow = out_w - 1 - step_w if backwards else step_w
                    value = grad[a, b, oh, ow]
                    for i in range(kh):
                        for j in range(kw):
                            out[a, b, oh * sh + i * dh, ow * sw + j * dw] += value

    return window_scatter_loop
