"""Constant padding layers (``F.pad`` with mode "constant"), with PyTorch's names: an int pads
every side, a tuple lists (before, after) pairs from the last dimension backwards.

Example::

    >>> nn.ZeroPad2d((1, 0, 0, 0))(chainrule.ones(1, 1, 1, 2))
    tensor([[[[0., 1., 1.]]]])
"""

from __future__ import annotations

from collections.abc import Sequence

from chainrule.nn import functional as F
from chainrule.nn.modules.module import Module
from chainrule.tensor import Tensor


class _ConstantPadNd(Module):
    dimensions = 1

    def __init__(self, padding: int | Sequence[int], value: float) -> None:
        super().__init__()
        sides = 2 * self.dimensions
        self.padding = (padding,) * sides if isinstance(padding, int) else tuple(padding)
        if len(self.padding) != sides:
            raise ValueError(f"{type(self).__name__}: padding {padding!r} must be one int or "
                             f"{sides} ints, (before, after) for each of {self.dimensions} dimension(s)")
        self.value = value

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.pad(input, self.padding, value=self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    dimensions = 1


class ConstantPad2d(_ConstantPadNd):
    dimensions = 2


class ConstantPad3d(_ConstantPadNd):
    dimensions = 3


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad1d(_ZeroPadNd):
    dimensions = 1


class ZeroPad2d(_ZeroPadNd):
    dimensions = 2


class ZeroPad3d(_ZeroPadNd):
    dimensions = 3
