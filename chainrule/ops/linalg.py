"""Matrix products: ``matmul`` (``@``) with PyTorch's rules for vectors and batches, and the
fused ``linear`` (x W^T + b) that layers use."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.function import Function
from chainrule.grad_mode import _GradMode
from chainrule.tensor import Tensor


class MatMul(Function):
    """Product of two tensors with at least two dimensions each (batch dims broadcast).
    grad_a = grad @ b^T, grad_b = a^T @ grad; the engine sums broadcast batch dims away."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_inputs(0, 1)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_inputs
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad @ b.mT if need_a else None
        grad_b = a.mT @ grad if need_b else None
        return grad_a, grad_b


class Linear(Function):
    """``x @ weight.T + bias`` for x of shape (*, in), weight (out, in), bias (out,).

    One GEMM forward; backward computes only the gradients asked for (an input batch that
    does not require grad costs no matmul)."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_inputs(0, 1)
        if x.ndim == 2 and 4 * x.shape[0] <= weight.shape[0]:
            # A short batch against a wide layer: OpenBLAS runs weight @ x.T much faster than
            # x @ weight.T (measured: (32, 784) by 512 outputs in 187 us against 279 us, the
            # copy back to row-major included) and gives the same numbers to the bit.
            out = np.matmul(weight, x.T).T.copy()
        else:
            out = x @ weight.T
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_inputs
        need_x, need_w, need_b = ctx.needs_input_grad
        if not _GradMode.enabled:  # nothing records: the same products on the arrays, less Python
            return _linear_backward_arrays(grad.array, x.array, weight.array, need_x, need_w, need_b)
        grad_x = grad @ weight if need_x else None
        grad_w = grad_b = None
        if need_w or need_b:
            if grad.ndim != 2:  # one batch dim: fold leading dims, or add one to a vector
                grad, x = grad.reshape(-1, grad.shape[-1]), x.reshape(-1, x.shape[-1])
            if need_w:
                grad_w = grad.mT @ x
            if need_b:
                grad_b = grad.sum(0)
        return grad_x, grad_w, grad_b


def _linear_backward_arrays(grad: np.ndarray, x: np.ndarray, weight: np.ndarray, need_x: bool,
                            need_w: bool, need_b: bool) -> tuple[Tensor | None, ...]:
    """``Linear.backward`` when no graph is recorded: the same matmuls and sum, on arrays."""
    grad_x = None
    if need_x:  # a vector takes matmul's vector path, as ``grad @ weight`` does
        grad_x = Tensor._wrap(np.matmul(grad[None], weight)[0] if grad.ndim == 1 else np.matmul(grad, weight))
    grad_w = grad_b = None
    if grad.ndim != 2:
        grad, x = grad.reshape(-1, grad.shape[-1]), x.reshape(-1, x.shape[-1])
    if need_w:
        grad_w = Tensor._wrap(np.matmul(grad.T, x))
    if need_b:
        grad_b = Tensor._wrap(np.add.reduce(grad, axis=0))
    return grad_x, grad_w, grad_b


def _check_same_dtype(op: str, **operands: Tensor | None) -> None:
    """PyTorch's matrix products refuse mixed dtypes rather than promote (a float64 model fed
    float32 data is an error there, not a silent float64 run)."""
    given = {name: t.dtype for name, t in operands.items() if t is not None}
    if len(set(given.values())) > 1:
        described = ", ".join(f"{name} is {dtype}" for name, dtype in given.items())
        raise RuntimeError(
            f"{op}: the operands must have one dtype, but {described}; convert the input (e.g. "
            "x.float()) or the model (e.g. model.float())"
        )


def _check_inner(a: Tensor, b: Tensor) -> None:
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(
            f"matmul: both arguments need at least 1 dimension, got shapes {tuple(a.shape)} and "
            f"{tuple(b.shape)}"
        )
    inner_a = a.shape[-1]
    inner_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if inner_a != inner_b:
        raise RuntimeError(
            f"matmul: {tuple(a.shape)} @ {tuple(b.shape)}: inner sizes {inner_a} and {inner_b} differ"
        )


def matmul(input: Any, other: Any) -> Tensor:  # noqa: A002
    """Matrix product with NumPy/PyTorch rules: a 1-D argument is a vector (a dimension is
    added, then removed from the result); leading dimensions broadcast.

    Shapes: (n,) @ (n,) → (); (m, n) @ (n, p) → (m, p); (*b, m, n) @ (*b, n, p) → (*b, m, p).
    Example::

        >>> (chainrule.ones(2, 3) @ chainrule.ones(3)).shape
        (2,)
    """
    from chainrule.ops.elementwise import operand

    a, b = operand(input), operand(other)
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("matmul: both arguments must be tensors or arrays, not Python numbers")
    _check_inner(a, b)
    _check_same_dtype("matmul", first=a, second=b)
    if a.ndim == 1 and b.ndim == 1:
        return (a * b).sum()
    if a.ndim == 1:
        return MatMul.apply(a.unsqueeze(0), b).squeeze(-2)
    if b.ndim == 1:
        return MatMul.apply(a, b.unsqueeze(-1)).squeeze(-1)
    return MatMul.apply(a, b)


def mm(input: Tensor, mat2: Tensor) -> Tensor:  # noqa: A002
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"mm: expects two matrices, got shapes {tuple(input.shape)} and "
                           f"{tuple(mat2.shape)}")
    return matmul(input, mat2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:  # noqa: A002
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError(f"bmm: expects two 3-D tensors, got shapes {tuple(input.shape)} and "
                           f"{tuple(mat2.shape)}")
    return matmul(input, mat2)


def dot(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    return matmul(input, other)


def outer(input: Tensor, vec2: Tensor) -> Tensor:  # noqa: A002
    return input.unsqueeze(1) * vec2.unsqueeze(0)


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002
    """``input @ weight.T + bias``. Shapes: input (*, in), weight (out, in), bias (out,) →
    (*, out).

    Example::

        >>> F.linear(chainrule.ones(4, 3), chainrule.ones(2, 3)).shape
        (4, 2)
    """
    if weight.ndim != 2 or input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise RuntimeError(
            f"linear: input of shape {tuple(input.shape)} does not fit weight of shape "
            f"{tuple(weight.shape)}; the input's last dimension must be {weight.shape[-1]}"
        )
    if bias is not None and bias.shape != (weight.shape[0],):
        raise RuntimeError(f"linear: bias of shape {tuple(bias.shape)} does not fit weight of "
                           f"shape {tuple(weight.shape)}; expected ({weight.shape[0]},)")
    _check_same_dtype("linear", input=input, weight=weight, bias=bias)
    return Linear.apply(input, weight, bias)


def _attach() -> None:
    Tensor.__matmul__ = matmul
    Tensor.__rmatmul__ = lambda self, other: matmul(other, self)
    for function in (matmul, mm, bmm, dot, outer):
        setattr(Tensor, function.__name__, function)


_attach()
