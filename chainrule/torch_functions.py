"""PyTorch functions that scripts use and that are built from chainrule's existing ops (so
their gradients come from ops already checked), or that have no gradient at all.

``sort``, ``topk``, ``argsort``, ``roll``, ``diag``, ``lerp``, ``nan_to_num``, ``type_as`` are
differentiable through ``gather`` / ``index_select`` / ``where`` / arithmetic; ``multinomial``,
``nonzero`` and ``unique`` return integers, as in PyTorch. Also ``inference_mode``,
``autograd.Variable`` and the legacy ``FloatTensor``-style constructors.

Example::

    >>> import chainrule as torch
    >>> values, indices = torch.topk(torch.tensor([3.0, 1.0, 4.0, 1.5]), 2)
    >>> values, indices
    (tensor([4., 3.]), tensor([2, 0]))
"""

from __future__ import annotations

import builtins
import functools
import warnings
from typing import Any, NamedTuple

import numpy as np

from chainrule.autograd import Variable  # noqa: F401 - listed in __all__
from chainrule.creation import shape_of, tensor
from chainrule.dtypes import as_dtype
from chainrule.grad_mode import is_grad_enabled, no_grad
from chainrule.ops.elementwise import where
from chainrule.ops.movement import gather, index_select
from chainrule.promotion import can_cast
from chainrule.random import Generator, numpy_generator
from chainrule.tensor import Tensor


class SortResult(NamedTuple):
    values: Tensor
    indices: Tensor


def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:  # noqa: A002
    """The indices that sort ``input`` along ``dim`` (int64). Shape: same as input."""
    array = input.array
    order = np.argsort(-array if descending and array.dtype.kind != "b" else array, axis=dim, kind="stable")
    if descending and array.dtype.kind == "b":
        order = np.flip(np.argsort(array, axis=dim, kind="stable"), axis=dim)
    return Tensor._wrap(order.astype(np.int64))


def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> SortResult:  # noqa: A002
    """``(values, indices)`` of ``input`` sorted along ``dim``; values are differentiable
    (gathered from the input)."""
    indices = argsort(input, dim, descending)
    return SortResult(gather(input, dim, indices), indices)


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> SortResult:  # noqa: A002
    """The ``k`` largest (or smallest) elements along ``dim`` and their indices."""
    size = input.shape[dim] if input.ndim else 1
    if not 0 <= k <= size:
        raise RuntimeError(f"topk: k={k} is out of range for a dimension of size {size}")
    order = argsort(input, dim, descending=largest)
    indices = Tensor._wrap(np.take(order.array, np.arange(k), axis=dim))
    return SortResult(gather(input, dim, indices), indices)


def roll(input: Tensor, shifts: int | tuple[int, ...], dims: int | tuple[int, ...] | None = None) -> Tensor:  # noqa: A002
    """Shift elements along ``dims`` cyclically (flattened first when ``dims`` is None)."""
    if dims is None:
        return roll(input.reshape(-1), shifts, 0).reshape(input.shape)
    shifts_tuple = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims_tuple = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts_tuple) != len(dims_tuple):
        raise RuntimeError(
            f"roll: {len(shifts_tuple)} shifts for {len(dims_tuple)} dims; give one shift per dim"
        )
    out = input
    for shift, dim in zip(shifts_tuple, dims_tuple):
        size = input.shape[dim]
        out = index_select(out, dim, Tensor._wrap((np.arange(size) - shift) % size))
    return out


def diag(input: Tensor, diagonal: int = 0) -> Tensor:  # noqa: A002
    """A 1-D input becomes a square matrix with it on the ``diagonal``-th diagonal; a 2-D
    input gives that diagonal as 1-D."""
    if input.ndim == 1:
        size = input.shape[0] + abs(diagonal)
        rows = np.arange(input.shape[0]) + max(-diagonal, 0)
        cols = np.arange(input.shape[0]) + max(diagonal, 0)
        placement = np.zeros((input.shape[0], size * size), dtype=input.dtype)
        placement[np.arange(input.shape[0]), rows * size + cols] = 1
        return (input @ Tensor._wrap(placement)).reshape(size, size)
    if input.ndim == 2:
        rows, cols = np.nonzero(np.eye(input.shape[0], input.shape[1], k=diagonal, dtype=bool))
        flat = rows * input.shape[1] + cols
        return index_select(input.reshape(-1), 0, Tensor._wrap(flat))
    raise RuntimeError(f"diag: expects a 1-D or 2-D tensor, got {input.ndim}-D")


def lerp(input: Tensor, end: Any, weight: Any) -> Tensor:  # noqa: A002
    """``input + weight * (end - input)``, elementwise."""
    return input + weight * (end - input)


def nan_to_num(
    input: Tensor, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None
) -> Tensor:  # noqa: A002
    """NaN to ``nan``, +inf/-inf to ``posinf``/``neginf`` (default: the dtype's extremes).
    The gradient passes where the input was finite and is zero elsewhere."""
    if input.dtype.kind != "f":
        return input
    info = np.finfo(input.dtype)
    array = input.array
    replacement = np.where(
        np.isnan(array),
        nan,
        np.where(array > 0, info.max if posinf is None else posinf, info.min if neginf is None else neginf),
    ).astype(input.dtype)
    return where(Tensor._wrap(np.isfinite(array)), input, Tensor._wrap(replacement))


def isclose(
    input: Tensor, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False  # noqa: A002
) -> Tensor:
    """Elementwise ``|input - other| <= atol + rtol * |other|`` as a bool tensor (no gradient).

    Example::

        >>> import chainrule as torch
        >>> torch.isclose(torch.tensor([1.0, 2.0]), torch.tensor([1.0 + 1e-9, 2.1]))
        tensor([ True, False])
    """
    other_array = other.array if isinstance(other, Tensor) else np.asarray(other)
    return Tensor._wrap(np.isclose(input.array, other_array, rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(
    input: Tensor, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False  # noqa: A002
) -> bool:
    """True when ``isclose`` holds for every element (shapes broadcast), as ``torch.allclose``."""
    return builtins.bool(isclose(input, other, rtol, atol, equal_nan).array.all())


def _scaled_sum(input: Tensor, product: Tensor, beta: Any, alpha: Any) -> Tensor:  # noqa: A002
    """``beta * input + alpha * product``, ``input`` broadcast to the product's shape; beta = 0
    ignores ``input``'s values (nan and inf included), as PyTorch's addmm family does."""
    if np.broadcast_shapes(input.shape, product.shape) != product.shape:
        raise RuntimeError(f"the input of shape {tuple(input.shape)} does not broadcast to the "
                           f"product's shape {tuple(product.shape)}")
    if alpha != 1:
        product = product * alpha
    if beta == 0:  # input's values are not read, and its gradient is zero, as in PyTorch
        return product + where(Tensor._wrap(np.zeros(input.shape, np.bool_)), input, 0.0)
    return (input if beta == 1 else input * beta) + product


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:  # noqa: A002
    """``beta * input + alpha * (mat1 @ mat2)``: (n, m) @ (m, p), input broadcast to (n, p).

    Example::

        >>> import chainrule as torch
        >>> torch.addmm(torch.ones(2), torch.eye(2), torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        tensor([[2., 3.],
                [4., 5.]])
    """
    return _scaled_sum(input, mat1 @ mat2, beta, alpha)


def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:  # noqa: A002
    """``beta * input + alpha * (batch1 @ batch2)``: (b, n, m) @ (b, m, p), input broadcast to
    (b, n, p)."""
    return _scaled_sum(input, batch1 @ batch2, beta, alpha)


def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:  # noqa: A002
    """``beta * input + alpha * (mat @ vec)``: (n, m) @ (m,), input broadcast to (n,)."""
    return _scaled_sum(input, mat @ vec, beta, alpha)


def type_as(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    return input.type(other.dtype)


def multinomial(
    input: Tensor,  # noqa: A002
    num_samples: int,
    replacement: bool = False,
    *,
    generator: Generator | None = None,
) -> Tensor:
    """Draw ``num_samples`` category indices per row of non-negative weights ``input``
    (shape (c,) or (rows, c)); int64 of shape (num_samples,) or (rows, num_samples)."""
    weights = np.asarray(input.array, dtype=np.float64)
    rows = weights.reshape(1, -1) if weights.ndim == 1 else weights
    if weights.ndim not in (1, 2) or np.any(rows < 0) or not np.all(np.isfinite(rows)):
        raise RuntimeError("multinomial: expects 1-D or 2-D finite, non-negative weights")
    if np.any(rows.sum(axis=1) <= 0):
        raise RuntimeError("multinomial: a row of weights sums to 0; at least one must be positive")
    if not replacement and num_samples > np.count_nonzero(rows, axis=1).min():
        raise RuntimeError(
            "multinomial: can't draw more samples than there are non-zero weights without replacement"
        )
    rng = numpy_generator(generator)
    drawn = [rng.choice(row.size, size=num_samples, replace=replacement, p=row / row.sum()) for row in rows]
    out = np.asarray(drawn, dtype=np.int64)
    return Tensor._wrap(out[0] if weights.ndim == 1 else out)


def nonzero(input: Tensor, *, as_tuple: bool = False) -> Any:  # noqa: A002
    """Indices of the non-zero elements: (n, ndim) int64, or a tuple of 1-D index tensors."""
    indices = np.nonzero(input.array)
    if as_tuple:
        return tuple(Tensor._wrap(i.astype(np.int64)) for i in indices)
    return Tensor._wrap(np.stack(indices, axis=1).astype(np.int64))


def unique(
    input: Tensor,  # noqa: A002
    sorted: bool = True,  # noqa: A002
    return_inverse: bool = False,
    return_counts: bool = False,
    dim: int | None = None,
) -> Any:
    """The distinct elements (sorted), optionally with the inverse indices and the counts."""
    values, inverse, counts = np.unique(input.array, return_inverse=True, return_counts=True, axis=dim)
    out: list[Tensor] = [Tensor._wrap(values)]
    if return_inverse:
        out.append(Tensor._wrap(inverse.reshape(input.shape if dim is None else -1).astype(np.int64)))
    if return_counts:
        out.append(Tensor._wrap(counts.astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


class inference_mode(no_grad):  # noqa: N801 - PyTorch's name
    """``with chainrule.inference_mode():`` records nothing, as ``no_grad`` (chainrule has no
    separate inference tensors). ``inference_mode(False)`` records as usual."""

    def __init__(self, mode: bool = True) -> None:
        super().__init__()
        self.mode = mode

    def __enter__(self) -> None:
        if self.mode:
            super().__enter__()

    def __exit__(self, *exc_info: Any) -> None:
        if self.mode:
            super().__exit__(*exc_info)


def _legacy_constructor(dtype: Any, name: str) -> Any:
    def construct(*args: Any) -> Tensor:
        """``FloatTensor([1, 2])`` copies data; ``FloatTensor(2, 3)`` makes an uninitialised tensor."""
        if len(args) == 1 and not isinstance(args[0], int):
            return tensor(args[0], dtype=dtype)
        return Tensor._wrap(np.zeros(tuple(int(a) for a in args), dtype=as_dtype(dtype)))

    construct.__name__ = construct.__qualname__ = name
    return construct


FloatTensor = _legacy_constructor(np.float32, "FloatTensor")
DoubleTensor = _legacy_constructor(np.float64, "DoubleTensor")
LongTensor = _legacy_constructor(np.int64, "LongTensor")
IntTensor = _legacy_constructor(np.int32, "IntTensor")
BoolTensor = _legacy_constructor(np.bool_, "BoolTensor")
ByteTensor = _legacy_constructor(np.uint8, "ByteTensor")


_LEGACY_DTYPES = {"torch.FloatTensor": np.float32, "torch.DoubleTensor": np.float64,
                  "torch.HalfTensor": np.float16}


def set_default_tensor_type(t: Any) -> None:
    """The older way to set the default floating dtype: ``FloatTensor``, ``DoubleTensor`` (or
    their names as strings, e.g. ``"torch.DoubleTensor"``)."""
    from chainrule.dtypes import set_default_dtype

    name = t if isinstance(t, str) else f"torch.{getattr(t, '__name__', t)}"
    if name not in _LEGACY_DTYPES:
        raise TypeError(f"set_default_tensor_type: only floating tensor types are allowed "
                        f"({', '.join(_LEGACY_DTYPES)}), got {t!r}")
    set_default_dtype(_LEGACY_DTYPES[name])


class _Determinism:
    enabled = False
    warn_only = False


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Accepted and remembered: every chainrule op is deterministic already (NumPy on the CPU,
    no atomics, reductions in a fixed order), so there is nothing to switch."""
    _Determinism.enabled, _Determinism.warn_only = builtins.bool(mode), builtins.bool(warn_only)


def are_deterministic_algorithms_enabled() -> bool:
    return _Determinism.enabled


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _Determinism.warn_only


def is_nonzero(input: Tensor) -> bool:  # noqa: A002
    """The truth of a one-element tensor (an error for any other size, as in PyTorch)."""
    if input.numel() != 1:
        raise RuntimeError(f"is_nonzero: a tensor with {input.numel()} elements has no single truth "
                           "value; use .any() or .all()")
    return builtins.bool(input.array.reshape(-1)[0])


def is_complex(input: Tensor) -> bool:  # noqa: A002
    """False: chainrule has no complex dtypes."""
    return input.array.dtype.kind == "c"


def _new_like(self: Tensor, fill: Any, size: tuple[Any, ...], dtype: Any, requires_grad: bool) -> Tensor:
    array = np.full(shape_of(size), fill, dtype=self.dtype if dtype is None else as_dtype(dtype))
    out = Tensor._wrap(array)
    return out.requires_grad_(True) if requires_grad else out


# torch functions that take ``out=`` here: the ones scripts pass it to, where writing the result
# into a given tensor is all it means (PyTorch has it on most functions; add names as needed)
OUT_FUNCTIONS = (
    "add", "sub", "mul", "div", "matmul", "mm", "bmm", "dot", "outer", "pow", "exp", "log",
    "sqrt", "rsqrt", "abs", "neg", "sin", "cos", "tanh", "sigmoid", "maximum", "minimum", "clamp",
    "where", "cat", "stack", "sum", "mean", "prod", "cumsum", "gather", "index_select", "scatter",
    "scatter_add", "remainder", "floor", "ceil", "round", "sign", "log1p", "erf", "square", "lerp",
)


def with_out(function: Any) -> Any:
    """``function`` with PyTorch's keyword ``out=``: the result is written into ``out`` (cast to
    its dtype, which must hold it; resized, with PyTorch's warning, if its shape differs) and
    ``out`` is returned. As in PyTorch, no argument may require grad while grad mode is on.

    Example::

        >>> result = chainrule.empty(2, 2)
        >>> chainrule.matmul(chainrule.eye(2), chainrule.ones(2, 2), out=result) is result
        True
    """

    @functools.wraps(function)
    def function_with_out(*args: Any, out: Tensor | None = None, **kwargs: Any) -> Any:
        if out is None:
            return function(*args, **kwargs)
        name = function.__name__
        arguments = (*args, *kwargs.values(), out)
        if is_grad_enabled() and builtins.any(_requires_grad(value) for value in arguments):
            raise RuntimeError(
                f"{name}(): functions with out=... arguments don't support automatic differentiation, "
                "but one of the arguments requires grad; call it without out= or under torch.no_grad()"
            )
        result = function(*args, **kwargs)
        if not can_cast(result.dtype, out.dtype):
            raise RuntimeError(
                f"{name}(): result type {result.dtype} can't be cast to the desired output type {out.dtype}"
            )
        if out.shape != result.shape:
            if out.numel() != 0:
                warnings.warn(
                    f"An output with one or more elements was resized since it had shape {list(out.shape)}, "
                    f"which does not match the required output shape {list(result.shape)}. Resize the "
                    "output to zero elements (torch.empty(0)) or give one of the right shape",
                    UserWarning,
                    stacklevel=2,
                )
            out.array = np.empty(result.shape, dtype=out.array.dtype)
        out._check_inplace(f"{name}(out=...)")
        np.copyto(out.array, result.array, casting="unsafe")
        return out

    return function_with_out


def _requires_grad(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return builtins.any(_requires_grad(item) for item in value)
    return isinstance(value, Tensor) and value.requires_grad


def add_out_arguments(namespace: dict[str, Any]) -> None:
    """Give the functions of ``OUT_FUNCTIONS`` in ``namespace`` (chainrule's) the ``out=`` keyword."""
    for name in OUT_FUNCTIONS:
        namespace[name] = with_out(namespace[name])


def _attach() -> None:
    def new_zeros(
        self: Tensor, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        return _new_like(self, 0, size, dtype, requires_grad)

    def new_ones(
        self: Tensor, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        return _new_like(self, 1, size, dtype, requires_grad)

    def new_empty(
        self: Tensor, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        return _new_like(self, 0, size, dtype, requires_grad)

    def new_full(
        self: Tensor,
        size: Any,
        fill_value: Any,
        *,
        dtype: Any = None,
        device: Any = None,
        requires_grad: bool = False,
    ) -> Tensor:
        return _new_like(self, fill_value, (size,), dtype, requires_grad)

    def new_tensor(
        self: Tensor, data: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        return tensor(data, dtype=self.dtype if dtype is None else dtype, requires_grad=requires_grad)

    methods = {
        "new_zeros": new_zeros,
        "new_ones": new_ones,
        "new_empty": new_empty,
        "new_full": new_full,
        "new_tensor": new_tensor,
        "sort": sort,
        "argsort": argsort,
        "topk": topk,
        "roll": roll,
        "diag": diag,
        "lerp": lerp,
        "nan_to_num": nan_to_num,
        "type_as": type_as,
        "multinomial": multinomial,
        "nonzero": nonzero,
        "unique": unique,
        "is_nonzero": is_nonzero,
        "is_complex": is_complex,
        "isclose": isclose,
        "allclose": allclose,
        "addmm": addmm,
        "baddbmm": baddbmm,
        "addmv": addmv,
    }
    for name, method in methods.items():
        setattr(Tensor, name, method)


_attach()

__all__ = [
    "are_deterministic_algorithms_enabled",
    "is_complex",
    "is_deterministic_algorithms_warn_only_enabled",
    "is_nonzero",
    "set_default_tensor_type",
    "use_deterministic_algorithms",
    "addmm",
    "addmv",
    "allclose",
    "baddbmm",
    "isclose",
    "argsort",
    "sort",
    "topk",
    "roll",
    "diag",
    "lerp",
    "nan_to_num",
    "type_as",
    "multinomial",
    "nonzero",
    "unique",
    "inference_mode",
    "Variable",
    "FloatTensor",
    "DoubleTensor",
    "LongTensor",
    "IntTensor",
    "BoolTensor",
    "ByteTensor",
    "SortResult",
]
