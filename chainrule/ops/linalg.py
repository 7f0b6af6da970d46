"""Matrix products: ``matmul`` (``@``) with PyTorch's rules for vectors and batches, the
fused ``linear`` (x W^T + b) that layers use, and ``einsum``."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import numpy as np

from chainrule.autograd.function import Function
from chainrule.backends import blas as blas_backend
from chainrule.kernels import blas
from chainrule.ops.double_backward import composite_vjp
from chainrule.tensor import Tensor


class MatMul(Function):
    """Product of two tensors with at least two dimensions each (batch dims broadcast).
    grad_a = grad @ b^T, grad_b = a^T @ grad; the engine sums broadcast batch dims away."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_inputs(0, 1)
        return blas.matmul(a, b)

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
    does not require grad costs no matmul), and adds the weight's gradient into its ``.grad``
    itself where the engine allows (``fills_grads``): into a zeroed ``.grad`` the product is
    written in place, with no weight-sized temporary."""

    fills_grads = True

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_inputs(0, 1)
        if x.ndim == 2 and _weight_first(*x.shape, weight.shape[0]):
            out = blas.matmul(weight, x.T).T.copy()
        else:
            out = blas.matmul(x, weight.T)
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx, grad, grad_destinations=None):
        x, weight = ctx.saved_inputs
        needs = ctx.needs_input_grad
        weight_grad_into = None if grad_destinations is None else grad_destinations[1]
        if weight_grad_into is not None and not weight_grad_into.dtype == grad.dtype == x.dtype:
            weight_grad_into = None  # the product would need a cast: let the engine add it
        found = iter(LinearGrad.apply(grad, x, weight, needs, weight_grad_into=weight_grad_into))
        return (next(found) if needs[0] else None,
                next(found) if needs[1] and weight_grad_into is None else None,
                next(found) if needs[2] else None)


def _weight_first(batch: int, in_features: int, out_features: int) -> bool:
    """Whether ``Linear`` runs weight @ x.T (then copied back to row-major) rather than
    x @ weight.T, the product order measured faster for these sizes (one thread, CPU time).

    With NumPy's OpenBLAS: a short batch against a wide layer ((32, 784) by 512 outputs in
    187 us against 279 us, the copy included); from batch 64 on the two run equally fast and
    the copy is a loss (batch 128, 784 -> 512: 2.6 ms against 1.9 ms). With MKL, which runs
    the direct product faster there (191 against 229 us): a narrow head, under 32 outputs,
    where x @ weight.T would stay with OpenBLAS but weight @ x.T is a product of few rows MKL
    takes (deep or wide, ``blas._mkl_wins``): the MNIST-1D head, (100, 1280) by 10 outputs, in
    35 us against 53 us."""
    if blas_backend.current() == "numpy":
        return 16 * batch <= out_features
    return out_features < blas.MKL_MIN_SIDE and blas.runs_on_mkl(out_features, in_features, batch)


class LinearGrad(Function):
    """``Linear``'s gradients for x, weight and bias (those in ``needs``): grad @ weight,
    grad^T x and the sum of grad over the batch, as three NumPy products. Its own backward
    differentiates the same products written in chainrule ops (``_linear_grads``)."""

    @staticmethod
    def forward(ctx, grad, x, weight, needs, weight_grad_into=None):
        ctx.save_inputs(0, 1, 2)
        ctx.needs = needs
        weight_product = blas.matmul
        if weight_grad_into is not None:  # added into the weight's .grad, so not returned
            weight_product = partial(_add_product_into, weight_grad_into)
        grads = _linear_grads(grad, x, weight, needs, blas.matmul, weight_product)
        return tuple(g for g in grads if g is not None)

    @staticmethod
    def backward(ctx, *grad_grads):
        given = iter(grad_grads)
        grad_outputs = [next(given) if need else None for need in ctx.needs]
        found = composite_vjp(lambda grad, x, weight: _linear_grads(grad, x, weight, ctx.needs, matmul),
                              ctx.saved_inputs, ctx.needs_input_grad[:3], grad_outputs)
        return (*found, None)


def _linear_grads(grad: Any, x: Any, weight: Any, needs: tuple[bool, ...],
                  product: Callable[[Any, Any], Any],
                  weight_product: Callable[[Any, Any], Any] | None = None) -> tuple[Any, ...]:
    """(grad_x, grad_w, grad_b), None where not needed, on NumPy arrays (``product`` is
    blas.matmul) or on Tensors (``matmul``): the same products either way. ``weight_product``,
    if given, makes grad_w instead of ``product``."""
    need_x, need_w, need_b = needs
    grad_x = grad_w = grad_b = None
    if need_x:  # a vector takes matmul's vector path, as ``grad @ weight`` does
        grad_x = product(grad, weight)
    if grad.ndim != 2:  # one batch dim: fold leading dims, or add one to a vector
        grad, x = grad.reshape(-1, grad.shape[-1]), x.reshape(-1, x.shape[-1])
    if need_w:
        grad_w = (weight_product or product)(grad.T, x)
    if need_b:
        grad_b = grad.sum(0)
    return grad_x, grad_w, grad_b


def _add_product_into(total: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """``total += a @ b``, the same to the bit, without an ``a @ b`` temporary when ``total``
    holds only +0.0 (as ``zero_grad(set_to_none=False)`` leaves a ``.grad``): the product is
    then written into ``total``, and adding +0.0 does what adding it into zeros would (only
    -0.0 changes, to +0.0)."""
    if total.view(np.uint8).any():
        total += blas.matmul(a, b)
    else:
        blas.matmul(a, b, out=total)
        total += 0.0


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
    if not isinstance(input, Tensor):
        raise TypeError(
            f"linear: input must be a chainrule Tensor, not {type(input).__name__}; "
            "convert it with chainrule.tensor(...)"
        )
    # On every call of every Linear layer: the arrays' own shapes and dtypes, read once.
    dtype, shape, weight_shape = input.array.dtype, input.array.shape, weight.array.shape
    for name, tensor in (("weight", weight), ("bias", bias)):
        if tensor is not None and tensor.array.dtype != dtype:
            # As PyTorch ("mat1 and mat2 must have the same dtype"): no silent promotion.
            raise RuntimeError(
                f"linear: input dtype {input.dtype} and {name} dtype {tensor.dtype} differ; "
                f"convert one, e.g. input.to({name}.dtype)"
            )
    if len(weight_shape) != 2 or not shape or shape[-1] != weight_shape[1]:
        raise RuntimeError(
            f"linear: input of shape {tuple(input.shape)} does not fit weight of shape "
            f"{tuple(weight.shape)}; the input's last dimension must be {weight.shape[-1]}"
        )
    if bias is not None and bias.array.shape != (weight_shape[0],):
        raise RuntimeError(f"linear: bias of shape {tuple(bias.shape)} does not fit weight of "
                           f"shape {tuple(weight.shape)}; expected ({weight.shape[0]},)")
    return Linear.apply(input, weight, bias)


class Einsum(Function):
    """``np.einsum(equation, *operands)`` for an explicit equation whose subscripts are letters,
    none repeated within an operand, every letter one size. The gradient of operand i is the
    einsum of the output gradient with the other operands back to operand i's subscripts;
    letters only operand i has were summed away, so that gradient is broadcast along them."""

    @staticmethod
    def forward(ctx, equation, *operands):
        ctx.equation = equation
        ctx.save_inputs(*range(1, len(operands) + 1))
        return np.asarray(np.einsum(equation, *operands, optimize=len(operands) > 2))

    @staticmethod
    def backward(ctx, grad):
        inputs, output = ctx.equation.split("->")
        subscripts, operands = inputs.split(","), ctx.saved_inputs
        grads: list[Any] = [None]
        for i, (needed, own) in enumerate(zip(ctx.needs_input_grad[1:], subscripts)):
            if not needed:
                grads.append(None)
                continue
            others = [(sub, op) for j, (sub, op) in enumerate(zip(subscripts, operands)) if j != i]
            reachable = set(output).union(*(sub for sub, _ in others))
            kept = "".join(letter for letter in own if letter in reachable)
            terms = ",".join([output, *(sub for sub, _ in others)])
            partial = Einsum.apply(f"{terms}->{kept}", grad, *(op for _, op in others))
            if kept != own:  # letters summed inside operand i alone: every element got the same gradient
                shape = [size if letter in reachable else 1 for letter, size in zip(own, operands[i].shape)]
                partial = partial.reshape(shape).expand(operands[i].shape)
            grads.append(partial)
        return tuple(grads)


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation, as ``torch.einsum``: ``einsum("ij,jk->ik", a, b)`` is ``a @ b``;
    operands may also come as one list, ``einsum("ij,jk", [a, b])``. Without ``->`` the output
    has the letters used once, in alphabetical order; ``...`` stands for broadcast dimensions.
    Differentiable in every operand (a letter repeated within one operand, a diagonal, is
    forward only).

    Shapes: each operand has one dimension per letter of its subscripts. Example::

        >>> a, b = chainrule.ones(2, 3), chainrule.ones(3, 4)
        >>> chainrule.einsum("ij,jk->ik", a, b).shape, chainrule.einsum("bi,bi->b", a, a)
        ((2, 4), tensor([3., 3.]))
    """
    from chainrule.ops.elementwise import operand

    if len(operands) == 1 and isinstance(operands[0], list | tuple):
        operands = tuple(operands[0])
    tensors = [operand(op) for op in operands]
    explicit, sizes = _explicit_equation(equation.replace(" ", ""), [t.shape for t in tensors])
    inputs = explicit.split("->")[0].split(",")
    for index, (sub, tensor) in enumerate(zip(inputs, tensors)):
        if len(set(sub)) != len(sub) and tensor.requires_grad:
            raise NotImplementedError(
                f"einsum: operand {index} repeats a subscript in {sub!r} (a diagonal), which chainrule "
                "does not differentiate; take the diagonal first with torch.diagonal or detach it"
            )
        target = tuple(sizes[letter] for letter in sub)
        if tensor.shape != target:  # size-1 broadcast dimensions: expand (its gradient sums back)
            tensors[index] = tensor.expand(target)
    return Einsum.apply(explicit, *tensors)


def _explicit_equation(equation: str, shapes: list[tuple[int, ...]]) -> tuple[str, dict[str, int]]:
    """The equation with ``...`` spelled as letters and the output made explicit, and the size
    of every letter (the largest over operands, so size-1 dimensions broadcast)."""
    inputs, arrow, output = equation.partition("->")
    subscripts = inputs.split(",")
    if len(subscripts) != len(shapes):
        raise ValueError(
            f"einsum(): {len(subscripts)} operands in the equation {equation!r}, but {len(shapes)} given"
        )
    spare = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in equation]
    broadcast_rank = max((len(s) - len(sub.replace("...", "")) for sub, s in zip(subscripts, shapes)
                          if "..." in sub), default=0)
    ellipsis = "".join(spare[:broadcast_rank])
    sizes: dict[str, int] = {}
    letters = []
    for index, (sub, shape) in enumerate(zip(subscripts, shapes)):
        if "..." in sub:
            rank = len(shape) - len(sub.replace("...", ""))
            sub = sub.replace("...", ellipsis[broadcast_rank - rank:] if rank else "")
        if len(sub) != len(shape) or not sub.isalpha():
            raise ValueError(
                f"einsum(): operand {index} has {len(shape)} dimensions but subscripts {sub!r} "
                f"in {equation!r}"
            )
        for letter, size in zip(sub, shape):
            if sizes.get(letter, 1) not in (1, size) and size != 1:
                raise ValueError(f"einsum(): subscript {letter} has size {size} for operand {index}, "
                                 f"which does not broadcast with {sizes[letter]}")
            sizes[letter] = max(sizes.get(letter, 1), size)
        letters.append(sub)
    if arrow:
        output = output.replace("...", ellipsis)
    else:
        counts = {letter: "".join(letters).count(letter) for letter in sizes}
        output = ellipsis + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ellipsis))
    return ",".join(letters) + "->" + output, sizes


# ------------------------------------------------------------ inverse, determinant, solve
def _check_square(op: str, a: Tensor) -> None:
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise RuntimeError(f"{op}: expects square matrices (*, n, n), got shape {tuple(a.shape)}")


def _singular(op: str) -> RuntimeError:
    return RuntimeError(f"{op}: the matrix is singular (not invertible); check the input, or use "
                        "torch.linalg.pinv-style regularisation (add a small multiple of the identity)")


class Inverse(Function):
    """A^-1 of square matrices (batched). grad_A = -A^-T grad A^-T, from the saved output."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_output()
        try:
            return np.linalg.inv(a)
        except np.linalg.LinAlgError:
            raise _singular("inv") from None

    @staticmethod
    def backward(ctx, grad):
        inverse_t = ctx.saved_output.mT
        return -(inverse_t @ grad @ inverse_t)


class Det(Function):
    """det(A) of square matrices (batched). grad_A = grad * det(A) * A^-T (A invertible)."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_inputs(0)
        ctx.save_output()
        return np.linalg.det(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_inputs
        scale = (grad * ctx.saved_output).unsqueeze(-1).unsqueeze(-1)
        return scale * inv(a).mT


class LogAbsDet(Function):
    """log |det(A)| (batched). grad_A = grad * A^-T."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_inputs(0)
        return np.linalg.slogdet(a)[1].astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_inputs
        return grad.unsqueeze(-1).unsqueeze(-1) * inv(a).mT


class Solve(Function):
    """X with A X = B (A (*, n, n), B (*, n, k)). grad_B = A^-T grad, grad_A = -grad_B X^T."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_inputs(0)
        ctx.save_output()
        try:
            return np.linalg.solve(a, b)
        except np.linalg.LinAlgError:
            raise _singular("solve") from None

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_inputs
        need_a, _ = ctx.needs_input_grad
        grad_b = solve(a.mT, grad)
        return (-(grad_b @ ctx.saved_output.mT) if need_a else None), grad_b


def inv(input: Tensor) -> Tensor:  # noqa: A002
    """The inverse of square matrices. Shape: (*, n, n) → (*, n, n).

    Example::

        >>> chainrule.linalg.inv(chainrule.tensor([[2.0, 0.0], [0.0, 4.0]]))
        tensor([[0.5000, 0.0000],
                [0.0000, 0.2500]])
    """
    _check_square("inv", input)
    return Inverse.apply(input)


def det(input: Tensor) -> Tensor:  # noqa: A002
    """The determinant of square matrices. Shape: (*, n, n) → (*)."""
    _check_square("det", input)
    return Det.apply(input)


class SlogdetResult(NamedTuple):
    sign: Tensor
    logabsdet: Tensor


def slogdet(input: Tensor) -> SlogdetResult:  # noqa: A002
    """(sign, log |det|) of square matrices, the log form that neither overflows nor
    underflows for large n. Shapes: (*, n, n) → (*), (*); only the second has a gradient."""
    _check_square("slogdet", input)
    sign = np.linalg.slogdet(input.array)[0].astype(input.dtype, copy=False)
    return SlogdetResult(Tensor._wrap(sign), LogAbsDet.apply(input))


def logdet(input: Tensor) -> Tensor:  # noqa: A002
    """log det(A): nan where the determinant is negative, -inf where it is 0."""
    sign, log_abs = slogdet(input)
    from chainrule.ops.elementwise import where

    return where(Tensor._wrap(sign.array > 0), log_abs,
                 Tensor._wrap(np.where(sign.array == 0, -np.inf, np.nan).astype(input.dtype)))


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:  # noqa: N803 (PyTorch's names)
    """X with A X = B, without forming A^-1 (``left=False``: X A = B). Shapes: A (*, n, n),
    B (*, n, k) or (*, n) → the shape of B."""
    _check_square("solve", A)
    if not left:
        return solve(A.mT, B.mT).mT
    if B.ndim == A.ndim - 1:
        return Solve.apply(A, B.unsqueeze(-1)).squeeze(-1)
    return Solve.apply(A, B)


def _attach() -> None:
    setattr(Tensor, "__matmul__", matmul)  # noqa: B010 - declared in Tensor's class body
    setattr(Tensor, "__rmatmul__", lambda self, other: matmul(other, self))  # noqa: B010
    for function in (matmul, mm, bmm, dot, outer, det, slogdet, logdet):
        setattr(Tensor, function.__name__, function)
    setattr(Tensor, "inverse", inv)  # noqa: B010 - declared in Tensor's class body


_attach()
