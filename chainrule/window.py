"""Sliding-window geometry shared by convolution, pooling and their compiled kernels: the
``Window`` a kernel slides with, the output size it gives, the strided slices each kernel
position reads, and padding.

Example::

    >>> from chainrule.window import Window, window_output_size
    >>> window = Window(kernel=(3, 3), stride=(2, 2), padding=((1, 1), (1, 1)), dilation=(1, 1))
    >>> window_output_size((28, 28), window)
    (14, 14)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

Pair = tuple[int, int]


class Window(NamedTuple):
    """Where a sliding window goes over the last two dims (one for 1-D convolutions): kernel
    size, stride, (before, after) padding per dim, dilation."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[Pair, ...]
    dilation: tuple[int, ...]


def window_output_size(in_hw: Sequence[int], window: Window) -> tuple[int, ...]:
    """Output size per spatial dim (height and width, or length) of a window sliding over a
    (padded) input of ``in_hw``."""
    sizes = []
    for size, k, s, (before, after), d in zip(
        in_hw, window.kernel, window.stride, window.padding, window.dilation
    ):
        sizes.append((size + before + after - d * (k - 1) - 1) // s + 1)
    return tuple(sizes)


def filled_like(
    like: np.ndarray, shape: Sequence[int], fill: float = 0.0, dtype: np.dtype | None = None
) -> np.ndarray:
    """A new (N, C, H, W) array of ``shape`` and ``like``'s dtype (or ``dtype``), channel-major
    in memory when ``like`` is (as convolution outputs are), so that elementwise work mixing the
    two runs over matching strides."""
    n, c, h, w = shape
    dtype = like.dtype if dtype is None else dtype
    channel_major = like.ndim == 4 and like.strides[1] > like.strides[0]
    memory_shape = (c, n, h, w) if channel_major else (n, c, h, w)
    out = np.zeros(memory_shape, dtype) if fill == 0 else np.full(memory_shape, fill, dtype)
    return out.transpose(1, 0, 2, 3) if channel_major else out


def pad_spatial(x: np.ndarray, padding: Sequence[Pair], fill: float = 0.0) -> np.ndarray:
    """``x`` (N, C, H, W) padded by (before, after) pairs with ``fill`` (a new array)."""
    (top, bottom), (left, right) = padding
    if top == bottom == left == right == 0:
        return x
    n, c, h, w = x.shape
    out = filled_like(x, (n, c, h + top + bottom, w + left + right), fill)
    out[:, :, top : top + h, left : left + w] = x
    return out


def kernel_positions(window: Window, out_hw: Pair) -> Iterator[tuple[int, int, tuple[slice, slice]]]:
    """For each kernel position (i, j): the strided slice of the padded input that it sees
    across all ``out_hw`` output positions. Looping over these (kh * kw of them, few) lets
    scatters and reductions work on whole arrays at a time."""
    (kh, kw), (sh, sw), (dh, dw) = window.kernel, window.stride, window.dilation
    out_h, out_w = out_hw
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + (out_h - 1) * sh + 1, sh)
            cols = slice(j * dw, j * dw + (out_w - 1) * sw + 1, sw)
            yield i, j, (rows, cols)


def expand_param(value: Any, count: int, name: str, op: str, minimum: int) -> tuple[int, ...]:
    """An int or a tuple of ``count`` ints, each at least ``minimum``, as a tuple."""
    values = (value,) * count if isinstance(value, int | np.integer) else tuple(value)
    if len(values) != count or not all(isinstance(v, int | np.integer) for v in values):
        raise ValueError(f"{op}: {name} must be an int or a tuple of {count} ints, got {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{op}: {name} must be at least {minimum}, got {value!r}")
    return tuple(int(v) for v in values)
