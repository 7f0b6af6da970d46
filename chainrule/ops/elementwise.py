"""Elementwise ops: arithmetic with NumPy broadcasting, and the unary maths functions.

Backward rules return gradients with broadcasting left in; the engine sums them back to each
input's shape. Python scalars stay Python scalars (so a float32 tensor times 0.5 stays
float32) and never get a gradient.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd.function import Function
from chainrule.backends import numba as numba_backend
from chainrule.kernels import activation as activation_kernels
from chainrule.promotion import floating, promote_operands, result_type, wrap_int
from chainrule.tensor import Tensor


def operand(value: Any) -> Any:
    """Tensors pass through; NumPy arrays become constant tensors; NumPy scalars become Python
    scalars, so that they do not promote a float32 tensor to float64."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        return Tensor._wrap(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, int | float | bool):
        return value
    raise TypeError(
        f"unsupported operand of type {type(value).__name__}; use a Tensor, a NumPy array or a "
        "Python number"
    )


# ------------------------------------------------------------------------------ arithmetic
class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_inputs(0, 1)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_inputs
        need_a, need_b = ctx.needs_input_grad
        return (grad * b if need_a else None), (grad * a if need_b else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_inputs(0, 1)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_inputs
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad / b if need_a else None
        grad_b = -grad * a / (b * b) if need_b else None
        return grad_a, grad_b


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Pow(Function):
    """``a ** b`` for a tensor or scalar exponent. d/da = b a^(b-1); d/db = a^b log a.
    As PyTorch: d/da is 0 where b == 0, and d/db is 0 where a == 0 and b >= 0 (the
    formulas would give 0 * inf and 0 * log 0, i.e. nan, there)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_inputs(0, 1)
        if ctx.needs_input_grad[1]:
            ctx.save_output()
        return a**b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_inputs
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad_b = None
        if need_a:
            if isinstance(b, Tensor):
                # An exponent of 1 where b == 0 keeps a ** (b - 1) finite at a == 0; the
                # factor b then makes the gradient 0 there.
                exponent = where(Tensor._wrap(b.array == 0), 1.0, b - 1)
                grad_a = grad * b * a**exponent
            elif b == 0:
                grad_a = grad * 0.0
            elif b == 2:
                grad_a = grad * a * 2
            else:
                grad_a = grad * b * a ** (b - 1)
        if need_b:
            base = a if isinstance(a, Tensor) else Tensor._wrap(np.asarray(a))
            # log 1 = 0 where a == 0 and b >= 0, so the gradient is 0 there, not nan.
            zero_base = np.logical_and(base.array == 0, b.array >= 0)
            grad_b = grad * ctx.saved_output * log(where(Tensor._wrap(zero_base), 1.0, base))
        return grad_a, grad_b


class RPow(Function):
    """``scalar ** tensor``. d/db = a^b log a: nan for a negative base and, as PyTorch, 0 for
    a base of 0 (where b >= 0). (math.log used to raise in forward for a base <= 0.)"""

    @staticmethod
    def forward(ctx, b, base):
        ctx.save_output()
        ctx.log_base = math.log(base) if base > 0 else (0.0 if base == 0 else math.nan)
        return np.power(base, b, dtype=b.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.saved_output * ctx.log_base, None


class Clone(Function):
    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad


class Cast(Function):
    """Change dtype; the gradient is cast back to the input's dtype (none for integers)."""

    @staticmethod
    def forward(ctx, a, dtype):
        ctx.input_dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        if ctx.input_dtype.kind != "f":
            return None, None
        return grad.type(ctx.input_dtype), None


# ------------------------------------------------------------------------ unary functions
class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_output()
        return np.exp(a)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.saved_output


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_inputs(0)
        return np.log(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_inputs
        return grad / a


class Log1p(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_inputs(0)
        return np.log1p(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_inputs
        return grad / (a + 1)


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_output()
        return np.sqrt(a)

    @staticmethod
    def backward(ctx, grad):
        return grad / (ctx.saved_output * 2)


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_inputs(0)
        return np.abs(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_inputs
        return grad * Tensor._wrap(np.sign(a.array))


class Sin(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_inputs(0)
        return np.sin(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_inputs
        return grad * cos(a)


class Cos(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_inputs(0)
        return np.cos(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_inputs
        return -grad * sin(a)


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_output()
        return np.tanh(a)

    @staticmethod
    def backward(ctx, grad):
        out = ctx.saved_output
        return grad * (1 - out * out)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_output()
        # exp of a non-positive number only, so large |a| neither overflows nor warns.
        e = np.exp(-np.abs(a))
        return np.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        out = ctx.saved_output
        return grad * out * (1 - out)


def _flat_views(like: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray] | None:
    """1-D views of ``arrays`` (each shaped like ``like``) in memory order, or None unless each
    is one dense block whose axes lie in memory in the same order as ``like``'s: the condition
    for a flat kernel to pair their elements up correctly."""
    for array in arrays:  # the common case, checked cheaply (a plain loop: every relu runs it)
        if not array.flags.c_contiguous:
            break
    else:
        return [array.reshape(-1) for array in arrays]
    element_strides = [stride // like.itemsize for stride in like.strides]
    views = []
    for array in arrays:
        if [stride // array.itemsize for stride in array.strides] != element_strides:
            return None
        flat = array.ravel(order="K")
        if not np.may_share_memory(flat, array):  # not dense: ravel had to copy
            return None
        views.append(flat)
    return views


class Relu(Function):
    @staticmethod
    def forward(ctx, a):
        if numba_backend.handles(a):
            out, mask = np.empty_like(a), np.empty_like(a, dtype=bool)
            flats = _flat_views(a, a, out, mask)
            if flats is not None:
                activation_kernels.relu_forward(*flats)
                if ctx.requires_grad:
                    ctx.mask = mask
                return out
        if ctx.requires_grad:
            ctx.mask = a > 0
        return np.maximum(a, 0)

    @staticmethod
    def backward(ctx, grad):
        return ReluGrad.apply(grad, ctx.mask)


class ReluGrad(Function):
    """``grad * mask``, Relu's gradient, laid out as the forward's input was: after a
    convolution that is channel-major, which the convolution's backward then reads without a
    copy. Linear in ``grad``, so its own backward is the same op (as Chainer's ``ReLUGrad2``)."""

    @staticmethod
    def forward(ctx, grad, mask):
        ctx.mask = mask
        out = np.empty_like(mask, dtype=grad.dtype)
        flats = None
        if numba_backend.handles(grad):
            flats = _flat_views(out, grad, mask, out)
        if flats is not None:
            activation_kernels.relu_backward(*flats)
        else:
            np.multiply(grad, mask, out=out)
        return out

    @staticmethod
    def backward(ctx, grad_grad):
        return ReluGrad.apply(grad_grad, ctx.mask), None


class Clamp(Function):
    """Gradient 1 where ``min <= a <= max``, else 0 (as PyTorch, ties pass the gradient)."""

    @staticmethod
    def forward(ctx, a, low, high):
        if ctx.requires_grad:
            inside = np.ones(a.shape, dtype=bool)
            if low is not None:
                inside &= a >= low
            if high is not None:
                inside &= a <= high
            ctx.mask = inside
        return np.clip(a, low, high)

    @staticmethod
    def backward(ctx, grad):
        return grad * Tensor._wrap(ctx.mask), None, None


class Maximum(Function):
    """Elementwise maximum; at ties the gradient is split evenly, as PyTorch does."""

    @staticmethod
    def forward(ctx, a, b):
        if ctx.requires_grad:
            ctx.weight_a = ((a > b) + 0.5 * (a == b)).astype(np.result_type(a, b))
        return np.maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        weight = Tensor._wrap(ctx.weight_a)
        return grad * weight, grad * (1 - weight)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        if ctx.requires_grad:
            ctx.weight_a = ((a < b) + 0.5 * (a == b)).astype(np.result_type(a, b))
        return np.minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        weight = Tensor._wrap(ctx.weight_a)
        return grad * weight, grad * (1 - weight)


class Where(Function):
    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.save_inputs(0)  # a condition changed in place before backward is refused
        return np.where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        (keep,) = ctx.saved_inputs
        keep = keep if isinstance(keep, Tensor) else Tensor._wrap(keep)
        zero = grad * 0
        need_a, need_b = ctx.needs_input_grad[1:]
        return (
            None,
            where(keep, grad, zero) if need_a else None,
            where(keep, zero, grad) if need_b else None,
        )


class Erf(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_inputs(0)
        return erf_array(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_inputs
        return grad * exp(-(a * a)) * (2 / math.sqrt(math.pi))


class Asin(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_inputs(0)
        return np.arcsin(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_inputs
        return grad * rsqrt(1 - a * a)


class Acos(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_inputs(0)
        return np.arccos(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_inputs
        return -grad * rsqrt(1 - a * a)


class Atan(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_inputs(0)
        return np.arctan(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_inputs
        return grad / (1 + a * a)


class Atan2(Function):
    """atan2(a, b), the angle of the point (b, a): d/da = b / r², d/db = -a / r²."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_inputs(0, 1)
        return np.arctan2(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_inputs
        need_a, need_b = ctx.needs_input_grad
        scaled = grad / (a * a + b * b)
        return (scaled * b if need_a else None), (-scaled * a if need_b else None)


def erf_array(a: np.ndarray) -> np.ndarray:
    """The error function of an array. NumPy has none: SciPy's is used when installed,
    otherwise Python's math.erf elementwise (exact, slower)."""
    try:
        from scipy.special import erf as scipy_erf
    except ImportError:
        return np.vectorize(math.erf, otypes=[a.dtype])(a)
    return scipy_erf(a).astype(a.dtype, copy=False)


# ------------------------------------------------------------------- the public functions
def add(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:  # noqa: A002
    if _same_dtype_tensors(input, other) and alpha == 1:
        return Add.apply(input, other)
    other = operand(other)
    if alpha != 1:
        other = other * alpha
    return Add.apply(*promote_operands(operand(input), other))


def sub(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:  # noqa: A002
    other = operand(other)
    if _is_bool(input) or _is_bool(other):
        raise RuntimeError(
            "subtraction with a bool tensor or value is not supported (as in PyTorch); to invert "
            "a mask use ~mask or mask.logical_not()"
        )
    if alpha != 1:
        other = other * alpha
    return Sub.apply(*promote_operands(operand(input), other))


def mul(input: Any, other: Any) -> Tensor:  # noqa: A002
    if _same_dtype_tensors(input, other):
        return Mul.apply(input, other)
    return Mul.apply(*promote_operands(operand(input), operand(other)))


def _same_dtype_tensors(a: Any, b: Any) -> bool:
    """The common case of a binary op, which needs no operand conversion nor promotion."""
    return isinstance(a, Tensor) and isinstance(b, Tensor) and a.array.dtype is b.array.dtype


def div(input: Any, other: Any, *, rounding_mode: str | None = None) -> Tensor:  # noqa: A002
    if rounding_mode is not None:
        a, b = promote_operands(operand(input), operand(other))
        raw = np.divide(_data(a), _data(b))
        rounded = np.floor(raw) if rounding_mode == "floor" else np.trunc(raw)
        return Tensor._wrap(rounded.astype(result_type(a, b)))
    return Div.apply(*promote_operands(operand(input), operand(other), true_divide=True))


def _data(value: Any) -> Any:
    return value.array if isinstance(value, Tensor) else value


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or isinstance(value, Tensor) and value.array.dtype == np.bool_


def remainder(input: Any, other: Any) -> Tensor:  # noqa: A002
    """Python's ``%`` elementwise (the result has the sign of ``other``), in the promoted dtype."""
    a, b = promote_operands(operand(input), operand(other))
    return Tensor._wrap(np.asarray(np.mod(_data(a), _data(b))))


def neg(input: Tensor) -> Tensor:  # noqa: A002
    return Neg.apply(input)


def pow(input: Any, exponent: Any) -> Tensor:  # noqa: A001,A002
    if not isinstance(input, Tensor):
        exponent = operand(exponent)
        if isinstance(input, float) and exponent.array.dtype.kind != "f":
            exponent = floating(exponent)  # 2.0 ** int_tensor is floating, as in PyTorch
        return RPow.apply(exponent, input)
    if input.array.dtype == np.bool_ and _is_bool(exponent):
        if isinstance(exponent, Tensor):
            raise RuntimeError("pow: a bool tensor to a bool tensor's power is not supported (as in PyTorch)")
        return Tensor._wrap(input.array | (not exponent))  # x ** True = x, x ** False = True
    return Pow.apply(*promote_operands(input, operand(exponent)))


def exp(input: Tensor) -> Tensor:  # noqa: A002
    """e to the power of each element. Shape: any → same."""
    return Exp.apply(floating(input))


def log(input: Tensor) -> Tensor:  # noqa: A002
    return Log.apply(floating(input))


def log1p(input: Tensor) -> Tensor:  # noqa: A002
    return Log1p.apply(floating(input))


def sqrt(input: Tensor) -> Tensor:  # noqa: A002
    return Sqrt.apply(floating(input))


def rsqrt(input: Tensor) -> Tensor:  # noqa: A002
    return 1 / Sqrt.apply(floating(input))


def square(input: Tensor) -> Tensor:  # noqa: A002
    return Mul.apply(input, input)


def abs(input: Tensor) -> Tensor:  # noqa: A001,A002
    return Abs.apply(input)


def sin(input: Tensor) -> Tensor:  # noqa: A002
    return Sin.apply(floating(input))


def cos(input: Tensor) -> Tensor:  # noqa: A002
    return Cos.apply(floating(input))


def tanh(input: Tensor) -> Tensor:  # noqa: A002
    return Tanh.apply(floating(input))


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002
    return Sigmoid.apply(floating(input))


def relu(input: Tensor) -> Tensor:  # noqa: A002
    return Relu.apply(input)


def erf(input: Tensor) -> Tensor:  # noqa: A002
    return Erf.apply(floating(input))


def asin(input: Tensor) -> Tensor:  # noqa: A002
    """The inverse sine, in [-pi/2, pi/2]; nan outside [-1, 1]. Shape: any → same."""
    return Asin.apply(floating(input))


def acos(input: Tensor) -> Tensor:  # noqa: A002
    """The inverse cosine, in [0, pi]; nan outside [-1, 1]. Shape: any → same."""
    return Acos.apply(floating(input))


def atan(input: Tensor) -> Tensor:  # noqa: A002
    """The inverse tangent, in (-pi/2, pi/2). Shape: any → same."""
    return Atan.apply(floating(input))


def atan2(input: Any, other: Any) -> Tensor:  # noqa: A002
    """The angle of the point (other, input) from the positive x axis, in [-pi, pi]: the
    quadrant-aware ``atan(input / other)``. Shapes broadcast.

    Example::

        >>> chainrule.atan2(chainrule.tensor([1.0, -1.0]), chainrule.tensor([-1.0, -1.0]))
        tensor([ 2.3562, -2.3562])
    """
    a, b = promote_operands(operand(input), operand(other))
    return Atan2.apply(floating(a), floating(b))


def clamp(input: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A001,A002
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = input
        if min is not None:
            out = maximum(out, operand(min))
        if max is not None:
            out = minimum(out, operand(max))
        return out
    return Clamp.apply(input, min, max)


clip = clamp


def maximum(input: Any, other: Any) -> Tensor:  # noqa: A002
    return Maximum.apply(*promote_operands(operand(input), operand(other)))


def minimum(input: Any, other: Any) -> Tensor:  # noqa: A002
    return Minimum.apply(*promote_operands(operand(input), operand(other)))


def where(condition: Any, input: Any, other: Any) -> Tensor:  # noqa: A002
    """``input`` where ``condition`` holds, else ``other`` (broadcast together)."""
    # A Tensor condition goes in as itself, so its version counter guards backward.
    array = condition.array if isinstance(condition, Tensor) else np.asarray(condition)
    if array.dtype != np.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got {array.dtype}")
    # A NumPy condition has no counter: a copy keeps a later change out of backward.
    condition = condition if isinstance(condition, Tensor) else np.array(array)
    return Where.apply(condition, *promote_operands(operand(input), operand(other)))


def sign(input: Tensor) -> Tensor:  # noqa: A002
    return Tensor._wrap(np.sign(input.array))


def floor(input: Tensor) -> Tensor:  # noqa: A002
    return Tensor._wrap(np.floor(input.array))


def ceil(input: Tensor) -> Tensor:  # noqa: A002
    return Tensor._wrap(np.ceil(input.array))


def round(input: Tensor, decimals: int = 0) -> Tensor:  # noqa: A001,A002
    return Tensor._wrap(np.round(input.array, decimals))


def isnan(input: Tensor) -> Tensor:  # noqa: A002
    return Tensor._wrap(np.isnan(input.array))


def isinf(input: Tensor) -> Tensor:  # noqa: A002
    return Tensor._wrap(np.isinf(input.array))


def isfinite(input: Tensor) -> Tensor:  # noqa: A002
    return Tensor._wrap(np.isfinite(input.array))


def _compare(ufunc: np.ufunc) -> Any:
    def compare(self: Tensor, other: Any) -> Tensor:
        other = other.array if isinstance(other, Tensor) else wrap_int(other, self.array.dtype)
        return Tensor._wrap(np.asarray(ufunc(self.array, other)))

    return compare


def _reflected(function: Any) -> Any:
    return lambda self, other: function(operand(other), self)


def _attach() -> None:
    methods = {
        "__add__": add, "__radd__": _reflected(add), "__sub__": sub, "__rsub__": _reflected(sub),
        "__mul__": mul, "__rmul__": _reflected(mul), "__truediv__": div,
        "__rtruediv__": _reflected(div), "__pow__": pow, "__rpow__": _reflected(pow),
        "__neg__": neg, "__pos__": lambda self: self, "__abs__": abs,
        "add": add, "sub": sub, "subtract": sub, "mul": mul, "multiply": mul, "div": div,
        "divide": div, "neg": neg, "negative": neg, "pow": pow, "exp": exp, "log": log,
        "log1p": log1p, "sqrt": sqrt, "rsqrt": rsqrt, "square": square, "abs": abs, "sin": sin,
        "cos": cos, "asin": asin, "arcsin": asin, "acos": acos, "arccos": acos, "atan": atan,
        "arctan": atan, "atan2": atan2, "arctan2": atan2, "tanh": tanh, "sigmoid": sigmoid,
        "relu": relu, "erf": erf, "clamp": clamp,
        "clip": clamp, "maximum": maximum, "minimum": minimum, "sign": sign, "floor": floor,
        "ceil": ceil, "round": round, "isnan": isnan, "isinf": isinf, "isfinite": isfinite,
        "where": lambda self, condition, other: where(condition, self, other),
        "__eq__": _compare(np.equal), "__ne__": _compare(np.not_equal),
        "__lt__": _compare(np.less), "__le__": _compare(np.less_equal),
        "__gt__": _compare(np.greater), "__ge__": _compare(np.greater_equal),
        "eq": _compare(np.equal), "ne": _compare(np.not_equal), "lt": _compare(np.less),
        "le": _compare(np.less_equal), "gt": _compare(np.greater), "ge": _compare(np.greater_equal),
        "__and__": _compare(np.logical_and), "__or__": _compare(np.logical_or),
        "__xor__": _compare(np.logical_xor),
        "__invert__": lambda self: Tensor._wrap(
            np.logical_not(self.array) if self.dtype == np.bool_ else ~self.array
        ),
        "logical_not": lambda self: Tensor._wrap(np.logical_not(self.array)),
        "__floordiv__": lambda self, other: div(self, other, rounding_mode="floor"),
        "__mod__": remainder, "remainder": remainder,
    }
    for name, function in methods.items():
        setattr(Tensor, name, function)
    # defining __eq__ must not make tensors unhashable
    setattr(Tensor, "__hash__", object.__hash__)  # noqa: B010 - a method assignment mypy refuses


_attach()
