"""Pooling layers: ``MaxPool1d``, ``MaxPool2d``, ``AvgPool1d``, ``AvgPool2d``,
``AdaptiveAvgPool2d``, over ``chainrule.nn.functional`` with PyTorch's arguments. Each takes a
batch (N, C, *spatial) or one sample (C, *spatial)."""

from __future__ import annotations

from typing import Any

from chainrule.nn import functional as F
from chainrule.nn.modules.module import Module
from chainrule.tensor import Tensor


def _check_rank(layer: Module, input: Tensor, spatial: tuple[str, ...]) -> None:  # noqa: A002
    n = len(spatial)
    if input.ndim not in (n + 1, n + 2):
        names = ", ".join(spatial)
        raise ValueError(f"{layer!r}: expected input of shape (N, C, {names}) or (C, {names}), "
                         f"got shape {tuple(input.shape)}")


def _single(value: Any) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (value,)


class _MaxPoolNd(Module):
    _spatial: tuple[str, ...]

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """Largest value of each window. Shapes: (N, C, L) or (C, L) → (N, C, L_out),
    L_out = (L + 2 padding - dilation (k - 1) - 1) // stride + 1 (ceil with ceil_mode).

    Example::

        >>> nn.MaxPool1d(2)(chainrule.randn(1, 3, 8)).shape
        (1, 3, 4)
    """

    _spatial = ("L",)

    def forward(self, input: Tensor) -> Any:  # noqa: A002
        _check_rank(self, input, self._spatial)
        return F.max_pool1d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class MaxPool2d(_MaxPoolNd):
    """Largest value of each window. Shapes: (N, C, H, W) or (C, H, W) → (N, C, H_out, W_out),
    H_out = (H + 2 padding - dilation (kh - 1) - 1) // stride + 1 (likewise W_out).

    Example::

        >>> nn.MaxPool2d(2)(chainrule.randn(1, 3, 8, 8)).shape
        (1, 3, 4, 4)
    """

    _spatial = ("H", "W")

    def forward(self, input: Tensor) -> Any:  # noqa: A002
        _check_rank(self, input, self._spatial)
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class AvgPool1d(Module):
    """Mean of each window. Shapes: (N, C, L) or (C, L) → (N, C, L_out),
    L_out = (L + 2 padding - k) // stride + 1. ``count_include_pad`` counts padded zeros in
    the mean.

    Example::

        >>> nn.AvgPool1d(2)(chainrule.randn(1, 3, 8)).shape
        (1, 3, 4)
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        super().__init__()
        # Stored as 1-tuples, as PyTorch's AvgPool1d does (MaxPool1d keeps what it was given).
        self.kernel_size = _single(kernel_size)
        self.stride = _single(stride if stride is not None else kernel_size)
        self.padding = _single(padding)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        _check_rank(self, input, ("L",))
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Module):
    """Mean of each window. Shapes: (N, C, H, W) or (C, H, W) → (N, C, H_out, W_out),
    H_out = (H + 2 padding - kh) // stride + 1. ``divisor_override`` replaces the window size
    as divisor.

    Example::

        >>> nn.AvgPool2d(2)(chainrule.randn(1, 3, 8, 8)).shape
        (1, 3, 4, 4)
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        _check_rank(self, input, ("H", "W"))
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size whatever the input size (windows chosen as
    PyTorch's: start floor(i H / H_out), end ceil((i + 1) H / H_out)). ``None`` in
    ``output_size`` keeps that input dimension. Shapes: (N, C, H, W) or (C, H, W) →
    (N, C, *output_size).

    Example::

        >>> nn.AdaptiveAvgPool2d(1)(chainrule.randn(2, 8, 7, 5)).shape
        (2, 8, 1, 1)
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        _check_rank(self, input, ("H", "W"))
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(Module):
    """Average pooling to ``output_size`` bins along the last dimension, whatever its length.
    Shapes: (N, C, L) or (C, L) → (N, C, output_size).

    Example::

        >>> nn.AdaptiveAvgPool1d(4)(chainrule.randn(2, 3, 10)).shape
        (2, 3, 4)
    """

    def __init__(self, output_size: int) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        _check_rank(self, input, ("L",))
        return F.adaptive_avg_pool1d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(AdaptiveAvgPool2d):
    """Max pooling to a fixed output size whatever the input size (bins as
    ``AdaptiveAvgPool2d``'s). Shapes: (N, C, H, W) or (C, H, W) → (N, C, *output_size).

    Example::

        >>> nn.AdaptiveMaxPool2d((2, 3))(chainrule.randn(2, 8, 7, 5)).shape
        (2, 8, 2, 3)
    """

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Any:  # noqa: A002
        _check_rank(self, input, ("H", "W"))
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(AdaptiveAvgPool1d):
    """Max pooling to ``output_size`` bins along the last dimension. Shapes: (N, C, L) or
    (C, L) → (N, C, output_size)."""

    def __init__(self, output_size: int, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Any:  # noqa: A002
        _check_rank(self, input, ("L",))
        return F.adaptive_max_pool1d(input, self.output_size, self.return_indices)
