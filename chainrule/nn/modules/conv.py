"""Convolution layers: ``Conv1d``, ``Conv2d``, ``ConvTranspose2d``, with PyTorch's weight
layouts ((out, in / groups, *kernel) for convolution, (in, out / groups, *kernel) for the
transposed one), constructor arguments and default init, over ``chainrule.nn.functional``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chainrule.creation import empty
from chainrule.dtypes import as_dtype
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.modules.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor


def _tuple(value: int | Sequence[int], n: int, name: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise ValueError(f"{name} must be an int or a sequence of {n} ints, got {value}")
    return value


class _ConvNd(Module):
    """Shared constructor, init, checks and repr of the convolution layers."""

    _spatial_dims: int
    _transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any,
                 padding: Any, dilation: Any, groups: int, bias: bool, padding_mode: str,
                 output_padding: Any = 0, dtype: Any = None) -> None:
        super().__init__()
        n, name = self._spatial_dims, type(self).__name__
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) "
                             f"must both be divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise NotImplementedError(f"{name}: padding_mode={padding_mode!r} is not supported; use 'zeros' "
                                      "(or pad the input yourself with F.pad)")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _tuple(kernel_size, n, "kernel_size")
        self.stride = _tuple(stride, n, "stride")
        self.dilation = _tuple(dilation, n, "dilation")
        self.output_padding = _tuple(output_padding, n, "output_padding")
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            if padding not in ("same", "valid") or self._transposed:
                raise ValueError(f"{name}: padding must be an int, a tuple, 'same' or 'valid' "
                                 f"(strings only for Conv, not ConvTranspose), got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions")
            self.padding: Any = padding
        else:
            self.padding = _tuple(padding, n, "padding")
        if self._transposed:
            shape = (in_channels, out_channels // groups, *self.kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = Parameter(empty(*shape, dtype=as_dtype(dtype)))
        if bias:
            self.bias = Parameter(empty(out_channels, dtype=as_dtype(dtype)))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def _check_input(self, input: Tensor) -> bool:  # noqa: A002
        """Raise unless input is (N, C_in, *spatial) or (C_in, *spatial); True if batched."""
        n = self._spatial_dims
        spatial = ("L",) if n == 1 else ("H", "W")
        batched = input.ndim == n + 2
        if input.ndim not in (n + 1, n + 2) or input.shape[int(batched)] != self.in_channels:
            wanted = ", ".join((str(self.in_channels), *spatial))
            raise ValueError(f"{self!r}: expected input of shape (N, {wanted}) or ({wanted}), "
                             f"got shape {tuple(input.shape)}")
        return batched

    def _same_padding(self) -> tuple[tuple[int, int], ...]:
        """(before, after) per spatial dim so the output keeps the input's size; the odd
        extra element goes after, as PyTorch pads."""
        pairs = []
        for kernel, dilation in zip(self.kernel_size, self.dilation):
            total = dilation * (kernel - 1)
            pairs.append((total // 2, total - total // 2))
        return tuple(pairs)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        zeros = (0,) * self._spatial_dims
        if self.padding != zeros:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * self._spatial_dims:
            text += f", dilation={self.dilation}"
        if self.output_padding != zeros:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class _Conv(_ConvNd):
    """Conv1d and Conv2d: the input is padded explicitly for 'same' (which may be uneven)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, dtype=dtype)

    def _conv(self, input: Tensor, padding: tuple[int, ...]) -> Tensor:  # noqa: A002
        raise NotImplementedError

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        batched = self._check_input(input)
        x = input if batched else input.unsqueeze(0)
        if self.padding == "valid":
            padding = (0,) * self._spatial_dims
        elif self.padding == "same":
            pairs = self._same_padding()
            if any(before != after for before, after in pairs):
                x = F.pad(x, [width for pair in reversed(pairs) for width in pair])
                padding = (0,) * self._spatial_dims
            else:
                padding = tuple(before for before, _ in pairs)
        else:
            padding = self.padding
        self._check_kernel_fits(x, padding)
        out = self._conv(x, padding)
        return out if batched else out.squeeze(0)

    def _check_kernel_fits(self, x: Tensor, padding: tuple[int, ...]) -> None:
        padded = tuple(size + 2 * pad for size, pad in zip(x.shape[2:], padding))
        reach = tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation))
        if any(p < r for p, r in zip(padded, reach)):
            raise ValueError(f"{self!r}: the input's spatial size {tuple(x.shape[2:])} (padded: {padded}) is "
                             f"smaller than the (dilated) kernel {reach}; use a larger input or more padding")


class Conv1d(_Conv):
    """1-D convolution (cross-correlation, as PyTorch). Shapes: input (N, C_in, L) or
    (C_in, L) → (N, C_out, L_out), L_out = (L + 2 padding - dilation (k - 1) - 1) // stride + 1;
    weight (C_out, C_in / groups, k), bias (C_out,).

    Example::

        >>> nn.Conv1d(4, 8, kernel_size=3, padding="same")(chainrule.randn(2, 4, 10)).shape
        (2, 8, 10)
    """

    _spatial_dims = 1

    def _conv(self, input: Tensor, padding: tuple[int, ...]) -> Tensor:  # noqa: A002
        return F.conv1d(input, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class Conv2d(_Conv):
    """2-D convolution (cross-correlation, as PyTorch). Shapes: input (N, C_in, H, W) or
    (C_in, H, W) → (N, C_out, H_out, W_out), H_out = (H + 2 padding - dilation (kh - 1) - 1)
    // stride + 1 (likewise W_out); weight (C_out, C_in / groups, kh, kw), bias (C_out,).
    ``padding`` may be an int, a pair, "valid" (0) or "same" (stride 1 only).

    Example::

        >>> nn.Conv2d(1, 8, kernel_size=3, padding=1)(chainrule.randn(2, 1, 28, 28)).shape
        (2, 8, 28, 28)
    """

    _spatial_dims = 2

    def _conv(self, input: Tensor, padding: tuple[int, ...]) -> Tensor:  # noqa: A002
        return F.conv2d(input, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class _ConvTransposeNd(_ConvNd):
    """ConvTranspose1d and ConvTranspose2d: shared constructor checks and output_size."""

    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, output_padding=output_padding, dtype=dtype)
        for extra, stride_, dilation_ in zip(self.output_padding, self.stride, self.dilation):
            if extra >= max(stride_, dilation_):
                raise ValueError(f"{type(self).__name__}: output_padding {self.output_padding} must be "
                                 f"smaller than either stride {self.stride} or dilation {self.dilation}")

    def _output_padding_for(self, input: Tensor, output_size: Sequence[int]) -> tuple[int, ...]:  # noqa: A002
        """The output_padding that makes the output spatial size ``output_size``."""
        n = self._spatial_dims
        wanted = tuple(output_size)[-n:]
        extras = []
        for i, size in enumerate(wanted):
            smallest = ((input.shape[2 + i] - 1) * self.stride[i] - 2 * self.padding[i]
                        + self.dilation[i] * (self.kernel_size[i] - 1) + 1)
            if not smallest <= size < smallest + self.stride[i]:
                raise ValueError(f"{self!r}: output_size {tuple(output_size)} is not reachable from input "
                                 f"{tuple(input.shape)}; spatial dim {i} must lie in "
                                 f"[{smallest}, {smallest + self.stride[i] - 1}]")
            extras.append(size - smallest)
        return tuple(extras)

    def _conv_transpose(self, input: Tensor, output_padding: tuple[int, ...]) -> Tensor:  # noqa: A002
        raise NotImplementedError

    def forward(self, input: Tensor, output_size: Sequence[int] | None = None) -> Tensor:  # noqa: A002
        batched = self._check_input(input)
        x = input if batched else input.unsqueeze(0)
        if output_size is None:
            output_padding = self.output_padding
        else:
            output_padding = self._output_padding_for(x, output_size)
        out = self._conv_transpose(x, output_padding)
        return out if batched else out.squeeze(0)


class ConvTranspose1d(_ConvTransposeNd):
    """Transposed 1-D convolution. Shapes: input (N, C_in, L) or (C_in, L) → (N, C_out, L_out),
    L_out = (L - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1;
    weight (C_in, C_out / groups, k), bias (C_out,).

    Example::

        >>> nn.ConvTranspose1d(8, 4, kernel_size=2, stride=2)(chainrule.randn(1, 8, 7)).shape
        (1, 4, 14)
    """

    _spatial_dims = 1

    def _conv_transpose(self, input: Tensor, output_padding: tuple[int, ...]) -> Tensor:  # noqa: A002
        return F.conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                                  self.groups, self.dilation)


class ConvTranspose2d(_ConvTransposeNd):
    """Transposed 2-D convolution (the gradient of Conv2d with respect to its input), for
    upsampling. Shapes: input (N, C_in, H, W) or (C_in, H, W) → (N, C_out, H_out, W_out),
    H_out = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1;
    weight (C_in, C_out / groups, kh, kw), bias (C_out,).

    Example::

        >>> nn.ConvTranspose2d(8, 4, kernel_size=2, stride=2)(chainrule.randn(1, 8, 7, 7)).shape
        (1, 4, 14, 14)
    """

    _spatial_dims = 2

    def _conv_transpose(self, input: Tensor, output_padding: tuple[int, ...]) -> Tensor:  # noqa: A002
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                                  self.groups, self.dilation)
