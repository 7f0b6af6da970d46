"""More of PyTorch's elementwise maths: hyperbolic and inverse hyperbolic functions, tan,
expm1, exp2, log2, log10, and the functions built from ops (reciprocal, logit, xlogy, fmod,
logaddexp, hypot, frac, nansum, nanmean, ...).

The functions NumPy computes more accurately than a composition would (expm1 near 0, asinh
for large negative input, ...) are ops made from one table, ``DERIVATIVES``: NumPy's function
forward, and its derivative written with chainrule's own ops, so that the backward is
differentiable again (second order). The others are compositions of checked ops.

Example::

    >>> import chainrule as torch
    >>> torch.expm1(torch.tensor([1e-10, 1.0]))
    tensor([1.0000e-10, 1.7183e+00])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.autograd.function import Function
from chainrule.ops.elementwise import (
    abs as absolute,
)
from chainrule.ops.elementwise import (
    cos,
    exp,
    log,
    log1p,
    maximum,
    operand,
    rsqrt,
    where,
)
from chainrule.promotion import floating, promote_operands
from chainrule.tensor import Tensor

LN2, LN10 = math.log(2.0), math.log(10.0)

# The functions the table's derivatives call, defined from the table below.
sinh: Callable[[Tensor], Tensor]
cosh: Callable[[Tensor], Tensor]
exp2: Callable[[Tensor], Tensor]

# name: (NumPy's function, the derivative at the input as chainrule ops)
DERIVATIVES: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[Tensor], Tensor]]] = {
    "tan": (np.tan, lambda a: cos(a) ** -2),
    "sinh": (np.sinh, lambda a: cosh(a)),
    "cosh": (np.cosh, lambda a: sinh(a)),
    "asinh": (np.arcsinh, lambda a: rsqrt(a * a + 1.0)),
    "acosh": (np.arccosh, lambda a: rsqrt(a * a - 1.0)),
    "atanh": (np.arctanh, lambda a: 1.0 / (1.0 - a * a)),
    "expm1": (np.expm1, lambda a: exp(a)),
    "exp2": (np.exp2, lambda a: exp2(a) * LN2),
    "log2": (np.log2, lambda a: 1.0 / (a * LN2)),
    "log10": (np.log10, lambda a: 1.0 / (a * LN10)),
}


def _make_op(name: str) -> type[Function]:
    """The op class ``Tan``, ``Sinh``, ... for ``DERIVATIVES[name]``: forward NumPy's function,
    backward the incoming gradient times the derivative at the saved input."""
    forward_array, derivative = DERIVATIVES[name]

    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        ctx.save_inputs(0)
        return forward_array(a)

    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (a,) = ctx.saved_inputs
        return grad * derivative(a)

    class_name = name[0].upper() + name[1:]
    body = {"forward": staticmethod(forward), "backward": staticmethod(backward),
            "__module__": __name__, "__doc__": f"{name} of each element."}
    return type(class_name, (Function,), body)


OPS: dict[str, type[Function]] = {name: _make_op(name) for name in DERIVATIVES}


def _unary(name: str) -> Callable[[Tensor], Tensor]:
    op = OPS[name]

    def function(input: Tensor) -> Tensor:  # noqa: A002
        return op.apply(floating(input))

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"{name} of each element (integers become floating point). Shape: any → same."
    return function


tan, sinh, cosh = (_unary(n) for n in ("tan", "sinh", "cosh"))
asinh, acosh, atanh = (_unary(n) for n in ("asinh", "acosh", "atanh"))
expm1, exp2, log2, log10 = (_unary(n) for n in ("expm1", "exp2", "log2", "log10"))


# ----------------------------------------------------------------- built from existing ops
def reciprocal(input: Tensor) -> Tensor:  # noqa: A002
    """1 / x (integers become floating point)."""
    return 1.0 / floating(input)


def trunc(input: Tensor) -> Tensor:  # noqa: A002
    """x rounded toward zero (no gradient, as floor and ceil)."""
    return Tensor._wrap(np.trunc(input.array))


def frac(input: Tensor) -> Tensor:  # noqa: A002
    """x - trunc(x), with the sign of x; the gradient passes unchanged."""
    return input - trunc(input)


def logit(input: Tensor, eps: float | None = None) -> Tensor:  # noqa: A002
    """log(p / (1 - p)), with p clamped to [eps, 1 - eps] when ``eps`` is given."""
    p = floating(input) if eps is None else floating(input).clamp(eps, 1.0 - eps)
    return log(p / (1.0 - p))


def xlogy(input: Any, other: Any) -> Tensor:  # noqa: A002
    """x * log(y), and 0 where x is 0 (even where y is 0), as entropy sums need; nan stays nan."""
    x, y = promote_operands(operand(input), operand(other))
    x, y = floating(x), floating(y)
    zero = Tensor._wrap((x.array == 0) & ~np.isnan(y.array))
    return where(zero, 0.0, x * log(where(zero, 1.0, y)))


class Fmod(Function):
    """C's fmod: the remainder with the sign of ``a``. NumPy's exact remainder forward (a - b
    trunc(a / b) in floating point loses it when a / b rounds up to a whole number); backward
    grad_a = grad, grad_b = -grad trunc(a / b), as PyTorch's."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.quotient = np.trunc(a / b) if ctx.needs_input_grad[1] else None
        return np.fmod(a, b)

    @staticmethod
    def backward(ctx, grad):
        need_a, need_b = ctx.needs_input_grad
        return (grad if need_a else None), (-grad * Tensor._wrap(ctx.quotient) if need_b else None)


def fmod(input: Any, other: Any) -> Tensor:  # noqa: A002
    """The remainder of input / other with the sign of input (C's fmod; ``remainder`` takes
    the sign of other)."""
    a, b = promote_operands(operand(input), operand(other))
    if a.dtype.kind in "iub":
        return Tensor._wrap(np.fmod(a.array, b.array))
    return Fmod.apply(a, b)


def logaddexp(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """log(exp(a) + exp(b)) without overflow: max(a, b) + log1p(exp(-|a - b|))."""
    a, b = promote_operands(operand(input), operand(other))
    return maximum(a, b) + log1p(exp(-absolute(a - b)))


def logaddexp2(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """log2(2^a + 2^b) without overflow."""
    return logaddexp(input * LN2, other * LN2) / LN2


def hypot(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """sqrt(a² + b²), elementwise."""
    return (input * input + other * other).sqrt()


def positive(input: Tensor) -> Tensor:  # noqa: A002
    """The input itself (as ``+x``)."""
    return input


def clamp_min(input: Tensor, min: Any) -> Tensor:  # noqa: A001,A002
    return input.clamp(min=min)


def clamp_max(input: Tensor, max: Any) -> Tensor:  # noqa: A001,A002
    return input.clamp(max=max)


def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:  # noqa: A002
    """input + value * tensor1 * tensor2."""
    return input + value * (tensor1 * tensor2)


def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:  # noqa: A002
    """input + value * tensor1 / tensor2."""
    return input + value * (tensor1 / tensor2)


def nansum(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:  # noqa: A002
    """The sum with nan taken as 0 (the gradient at a nan is 0)."""
    source = input if dtype is None else input.type(dtype)
    return where(Tensor._wrap(np.isnan(source.array)), 0.0, source).sum(dim=dim, keepdim=keepdim)


def nanmean(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:  # noqa: A002
    """The mean of the entries that are not nan (nan where every entry is)."""
    source = input if dtype is None else input.type(dtype)
    present = Tensor._wrap((~np.isnan(source.array)).astype(source.dtype))
    return nansum(source, dim, keepdim) / present.sum(dim=dim, keepdim=keepdim)


FUNCTIONS: dict[str, Callable[..., Tensor]] = {
    "tan": tan, "sinh": sinh, "cosh": cosh, "asinh": asinh, "arcsinh": asinh, "acosh": acosh,
    "arccosh": acosh, "atanh": atanh, "arctanh": atanh, "expm1": expm1, "exp2": exp2, "log2": log2,
    "log10": log10, "reciprocal": reciprocal, "trunc": trunc, "fix": trunc, "frac": frac, "logit": logit,
    "xlogy": xlogy, "fmod": fmod, "logaddexp": logaddexp, "logaddexp2": logaddexp2, "hypot": hypot,
    "positive": positive, "clamp_min": clamp_min, "clamp_max": clamp_max, "addcmul": addcmul,
    "addcdiv": addcdiv, "nansum": nansum, "nanmean": nanmean,
}
"""The torch functions this module adds, by PyTorch's names; each is a Tensor method too."""

for _name, _function in FUNCTIONS.items():
    setattr(Tensor, _name, _function)
