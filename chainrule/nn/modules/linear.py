"""Dense layers: ``Identity``, ``Linear``, ``Bilinear`` (PyTorch's layouts and default init)."""

from __future__ import annotations

import math
from typing import Any

from chainrule.creation import empty
from chainrule.dtypes import as_dtype
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.modules.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor


def _new_weight(*shape: int, dtype: Any) -> Parameter:
    return Parameter(empty(*shape, dtype=as_dtype(dtype)))


def check_last_dim(layer: Module, input: Tensor, size: int, what: str = "input") -> None:  # noqa: A002
    if input.ndim == 0 or input.shape[-1] != size:
        raise ValueError(
            f"{layer!r}: expected {what} of shape (*, {size}) (last dimension {size}), "
            f"got shape {tuple(input.shape)}"
        )


def check_features(layer: Module, **sizes: Any) -> None:
    """Layer sizes are non-negative integers (as PyTorch; 0 makes an empty layer)."""
    for name, size in sizes.items():
        if not isinstance(size, int) or isinstance(size, bool):
            raise TypeError(f"{type(layer).__name__}: {name} must be an int, got {size!r}")
        if size < 0:
            raise ValueError(f"{type(layer).__name__}: {name} must be >= 0, got {size}")


class Identity(Module):
    """Returns its input unchanged; takes (and ignores) any constructor arguments, as a
    placeholder for a layer that is switched off."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input


class Linear(Module):
    """y = x W^T + b. Shapes: input (*, in_features) → (*, out_features); weight
    (out_features, in_features), bias (out_features,).

    Initialised as PyTorch's: W ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform_ with a=sqrt(5)),
    b ~ U(-1/sqrt(in), 1/sqrt(in)).

    Example::

        >>> nn.Linear(784, 10)(chainrule.randn(32, 784)).shape
        (32, 10)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        check_features(self, in_features=in_features, out_features=out_features)
        self.in_features = in_features
        self.out_features = out_features
        self.weight = _new_weight(out_features, in_features, dtype=dtype)
        if bias:
            self.bias = _new_weight(out_features, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        if not isinstance(input, Tensor):
            raise TypeError(
                f"{self!r}: input must be a chainrule Tensor, not {type(input).__name__}; convert "
                "it with chainrule.tensor(...)"
            )
        check_last_dim(self, input, self.in_features)
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Bilinear(Module):
    """y_k = x1^T A_k x2 + b_k. Shapes: input1 (*, in1_features), input2 (*, in2_features) →
    (*, out_features); weight (out_features, in1_features, in2_features).

    Example::

        >>> nn.Bilinear(3, 4, 2)(chainrule.randn(5, 3), chainrule.randn(5, 4)).shape
        (5, 2)
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        self.weight = _new_weight(out_features, in1_features, in2_features, dtype=dtype)
        if bias:
            self.bias = _new_weight(out_features, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        check_last_dim(self, input1, self.in1_features, "input1")
        check_last_dim(self, input2, self.in2_features, "input2")
        if input1.shape[:-1] != input2.shape[:-1]:
            raise ValueError(f"{self!r}: input1 {tuple(input1.shape)} and input2 {tuple(input2.shape)} "
                             "must have the same leading (batch) dimensions")
        batch_shape = input1.shape[:-1]
        x1 = input1.reshape(-1, self.in1_features)
        x2 = input2.reshape(-1, self.in2_features)
        # (N, in1) @ (in1, out * in2) → (N, out, in2), then contract in2 with x2.
        mixed = x1 @ self.weight.permute(1, 0, 2).reshape(self.in1_features, -1)
        out = (mixed.reshape(-1, self.out_features, self.in2_features) * x2.unsqueeze(1)).sum(-1)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*batch_shape, self.out_features)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


def __getattr__(name: str) -> Any:
    # PyTorch's path torch.nn.modules.linear.NonDynamicallyQuantizableLinear (defined with
    # MultiheadAttention, which uses it; imported on demand to avoid an import cycle).
    if name == "NonDynamicallyQuantizableLinear":
        from chainrule.nn.modules.transformer import NonDynamicallyQuantizableLinear

        return NonDynamicallyQuantizableLinear
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
