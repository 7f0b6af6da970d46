"""Reductions over dimensions: sum, mean, max/min (with indices), var/std, logsumexp, prod,
norm, argmax/argmin, cumsum. ``dim`` may be None (all), an int or a tuple; ``keepdim`` as
PyTorch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from chainrule.autograd.anomaly import ANOMALY_MODE
from chainrule.autograd.function import Function
from chainrule.grad_mode import GRAD_MODE
from chainrule.ops.elementwise import exp, sqrt, where
from chainrule.tensor import Tensor

_grad_enabled = GRAD_MODE.get
_anomaly_enabled = ANOMALY_MODE.get


def normalize_dims(dim: Any, ndim: int, op: str) -> tuple[int, ...] | None:
    """``dim`` as a sorted tuple of non-negative axes, or None for all axes."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int | np.integer) else tuple(dim)
    rank = ndim if ndim > 1 else 1
    out = []
    for d in dims:
        if not isinstance(d, int | np.integer):
            raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {d!r}")
        if not -rank <= d < rank:
            raise IndexError(
                f"{op}: dim {d} is out of range for a tensor with {ndim} dimensions "
                f"(expected a value in [{-rank}, {rank - 1}])"
            )
        out.append(int(d) % rank)
    return tuple(sorted(set(out))) if ndim else None


def kept_shape(shape: tuple[int, ...], dims: tuple[int, ...] | None) -> tuple[int, ...]:
    """The shape of a reduction's result with ``keepdim=True``."""
    if dims is None:
        return (1,) * len(shape)
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _expand_back(grad: Tensor, shape: tuple[int, ...], dims: tuple[int, ...] | None) -> Tensor:
    """Bring the gradient of a reduction back to the input's shape."""
    if grad.array.size == 1 and not _grad_enabled() and not _anomaly_enabled():
        # A first-order backward of a full reduction (the loss's own): the new filled array is
        # what Unreduce would return, without a node that records nothing.
        return Tensor._wrap(_fill(shape, grad.array))
    return Unreduce.apply(grad, kept_shape(shape, dims), shape)


def _unreduced(grad: np.ndarray, kept: tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray:
    """``grad`` (of the kept shape) spread over ``shape``: a new array for one value, else a
    broadcast view."""
    if grad.size == 1:
        return _fill(shape, grad)
    return np.broadcast_to(grad.reshape(kept), shape)


def _fill(shape: tuple[int, ...], one_value: np.ndarray) -> np.ndarray:
    # For this common case (the gradient of a scalar loss) empty + fill is about 8x cheaper
    # than np.full (a Python function) and 15x cheaper than broadcast_to's checks.
    out = np.empty(shape, dtype=one_value.dtype)
    out.fill(one_value.reshape(()))
    return out


class Unreduce(Function):
    """Broadcast a reduction's gradient back over the reduced dims: reshape to the kept
    shape, then expand (one node, no copy). Its backward sums again."""

    @staticmethod
    def forward(ctx, grad, kept, shape):
        ctx.grad_shape, ctx.kept = grad.shape, kept
        return _unreduced(grad, kept, shape)

    @staticmethod
    def backward(ctx, grad):
        from chainrule.ops.movement import SumToShape

        return SumToShape.apply(grad, ctx.kept).reshape(ctx.grad_shape), None, None


class Sum(Function):
    @staticmethod
    def forward(ctx, a, dims, keepdim):
        ctx.shape, ctx.dims = a.shape, dims
        if dims:
            return np.add.reduce(a, axis=dims, keepdims=keepdim)
        # Over all dims keepdim still applies: sum(dim=None, keepdim=True) of (2, 3) is (1, 1).
        # np.add.reduce is what ndarray.sum calls, without its Python wrapper.
        return np.add.reduce(a, None, keepdims=True) if keepdim else np.asarray(np.add.reduce(a, None))

    @staticmethod
    def backward(ctx, grad):
        return _expand_back(grad, ctx.shape, ctx.dims), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, a, dims, keepdim):
        ctx.shape, ctx.dims = a.shape, dims
        ctx.count = a.size if dims is None else int(np.prod([a.shape[d] for d in dims]))
        return np.asarray(a.mean(axis=dims, keepdims=keepdim))

    @staticmethod
    def backward(ctx, grad):
        return _expand_back(grad, ctx.shape, ctx.dims) * (1.0 / ctx.count), None, None


class Extremum(Function):
    """max / min values. With one ``dim`` the gradient goes to the index returned (as
    PyTorch's ``max(dim)``); over several or all dims it is split evenly among ties (as
    ``amax``)."""

    @staticmethod
    def forward(ctx, a, dims, keepdim, largest, index_dim):
        ctx.kept = kept_shape(a.shape, dims)
        if a.size == 0:
            raise RuntimeError(
                f"{'max' if largest else 'min'}(): can't reduce an empty tensor of shape {a.shape}"
            )
        if index_dim is not None:
            chosen = (np.argmax if largest else np.argmin)(a, axis=index_dim)
            ctx.indices = np.expand_dims(chosen, index_dim)
            values = np.take_along_axis(a, ctx.indices, axis=index_dim)
            if ctx.requires_grad:
                mask = np.zeros(a.shape, dtype=a.dtype)
                np.put_along_axis(mask, ctx.indices, 1, axis=index_dim)
                ctx.mask = mask
            return values if keepdim else np.squeeze(values, index_dim)
        values = (np.amax if largest else np.amin)(a, axis=dims, keepdims=True)
        if ctx.requires_grad:
            hits = (a == values).astype(a.dtype)
            ctx.mask = hits / hits.sum(axis=dims, keepdims=True)
        return values if keepdim else np.asarray(np.squeeze(values, axis=dims))

    @staticmethod
    def backward(ctx, grad):
        mask = ctx.mask
        return grad.reshape(ctx.kept).expand(mask.shape) * Tensor._wrap(mask), None, None, None, None


class MaxResult(NamedTuple):
    """``(values, indices)``, as returned by ``max(dim)`` / ``min(dim)``."""

    values: Tensor
    indices: Tensor


def _extremum(input: Tensor, dim: Any, keepdim: bool, largest: bool) -> Any:  # noqa: A002
    name = "max" if largest else "min"
    if isinstance(dim, Tensor):  # torch.max(a, b) is the elementwise maximum
        from chainrule.ops.elementwise import maximum, minimum

        return (maximum if largest else minimum)(input, dim)
    dims = normalize_dims(dim, input.ndim, name)
    index_dim = dims[0] if dims is not None and isinstance(dim, int | np.integer) and input.ndim else None
    out = Extremum.apply(input, dims, keepdim, largest, index_dim)
    if index_dim is None:
        return out
    indices = np.argmax(input.array, axis=index_dim) if largest else np.argmin(input.array, axis=index_dim)
    if keepdim:
        indices = np.expand_dims(indices, index_dim)
    return MaxResult(out, Tensor._wrap(indices.astype(np.int64)))


def max(input: Tensor, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001,A002
    """The largest value; with an int ``dim``, ``(values, indices)`` along it."""
    return _extremum(input, dim, keepdim, True)


def min(input: Tensor, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001,A002
    return _extremum(input, dim, keepdim, False)


def amax(input: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:  # noqa: A002
    dims = normalize_dims(None if dim == () else dim, input.ndim, "amax")
    return Extremum.apply(input, dims, keepdim, True, None)


def amin(input: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:  # noqa: A002
    dims = normalize_dims(None if dim == () else dim, input.ndim, "amin")
    return Extremum.apply(input, dims, keepdim, False, None)


class LogSumExp(Function):
    """log(sum(exp(a))) computed with the maximum subtracted, so large inputs don't overflow.
    Its gradient is the softmax, exp(a - out)."""

    @staticmethod
    def forward(ctx, a, dims, keepdim):
        ctx.save_inputs(0)
        ctx.save_output()
        ctx.kept, ctx.shape = kept_shape(a.shape, dims), a.shape
        peak = np.amax(a, axis=dims, keepdims=True) if a.size else np.zeros(ctx.kept, a.dtype)
        peak = np.where(np.isfinite(peak), peak, 0)
        out = np.log(np.sum(np.exp(a - peak), axis=dims, keepdims=True)) + peak
        return out if keepdim else np.asarray(np.squeeze(out, axis=dims))

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_inputs
        out = ctx.saved_output.reshape(ctx.kept)
        return grad.reshape(ctx.kept) * exp(a - out), None, None


class Prod(Function):
    """Product. Gradient: the product of all the other elements (exact also with zeros;
    second order is exact only where the input has no zeros)."""

    @staticmethod
    def forward(ctx, a, dim, keepdim):
        ctx.save_inputs(0)
        ctx.save_output()
        ctx.dim, ctx.shape = dim, a.shape
        return np.asarray(np.prod(a, axis=dim, keepdims=keepdim))

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_inputs
        dims = None if ctx.dim is None else (ctx.dim,)
        grad = _expand_back(grad, ctx.shape, dims)
        if not (a.array == 0).any():
            return grad * _expand_back(ctx.saved_output, ctx.shape, dims) / a, None, None
        return grad * Tensor._wrap(_product_of_others(a.array, ctx.dim)), None, None


def _product_of_others(a: np.ndarray, dim: int | None) -> np.ndarray:
    flat = a.reshape(-1) if dim is None else np.moveaxis(a, dim, -1)
    ones = np.ones_like(flat[..., :1])
    before = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    others = before * after
    return others.reshape(a.shape) if dim is None else np.moveaxis(others, -1, dim)


class Cumsum(Function):
    @staticmethod
    def forward(ctx, a, dim):
        ctx.dim = dim
        # np.cumsum turns a 0-d array into shape (1,); PyTorch's cumsum of a 0-d tensor is 0-d.
        return np.cumsum(a, axis=dim) if a.ndim else a.copy()

    @staticmethod
    def backward(ctx, grad):
        if grad.ndim == 0:
            return grad, None
        return grad.flip(ctx.dim).cumsum(ctx.dim).flip(ctx.dim), None


class Norm2(Function):
    """Euclidean norm; gradient a / norm, and 0 where the norm is 0 (as PyTorch)."""

    @staticmethod
    def forward(ctx, a, dims, keepdim):
        ctx.save_inputs(0)
        ctx.save_output()
        ctx.kept, ctx.shape = kept_shape(a.shape, dims), a.shape
        return np.asarray(np.sqrt(np.sum(a * a, axis=dims, keepdims=keepdim)))

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_inputs
        norm = ctx.saved_output.reshape(ctx.kept)
        zero = Tensor._wrap(norm.array == 0)
        safe = where(zero, 1.0, norm)
        return where(zero, 0.0, grad.reshape(ctx.kept) * a / safe), None, None


# ---------------------------------------------------------------------- public functions
def sum(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:  # noqa: A001,A002
    """Sum over ``dim`` (all if None). Shape: (*) → reduced."""
    if dtype is not None:
        input = input.type(dtype)
    elif input.array.dtype == np.bool_:
        input = input.long()
    dims = None if dim is None else normalize_dims(dim, input.ndim, "sum")
    # dim=() reduces all dims, as PyTorch (and as None): say so, so backward expands over all.
    return Sum.apply(input, dims or None, keepdim)


def mean(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:  # noqa: A002
    if dtype is not None:
        input = input.type(dtype)
    if input.dtype.kind != "f":
        raise RuntimeError(
            f"mean(): could not infer output dtype; input dtype {input.dtype} is not floating. "
            "Convert it first, e.g. x.float().mean()"
        )
    return Mean.apply(input, normalize_dims(dim, input.ndim, "mean"), keepdim)


def var(input: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,  # noqa: A002
        correction: int | None = None) -> Tensor:
    """Variance; unbiased (divides by N - 1) by default, as PyTorch."""
    if correction is None:
        correction = 0 if unbiased is False else 1
    dims = normalize_dims(dim, input.ndim, "var")
    count = input.numel() if dims is None else int(np.prod([input.shape[d] for d in dims]))
    centered = input - input.mean(dim=dims, keepdim=True)
    divisor = float(count - correction if count > correction else 0)
    return (centered * centered).sum(dim=dims, keepdim=keepdim) / divisor


def std(input: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,  # noqa: A002
        correction: int | None = None) -> Tensor:
    return sqrt(var(input, dim, unbiased, keepdim, correction=correction))


def logsumexp(input: Tensor, dim: Any, keepdim: bool = False) -> Tensor:  # noqa: A002
    """log(sum(exp(input), dim)), stable for large inputs."""
    return LogSumExp.apply(input, normalize_dims(dim, input.ndim, "logsumexp"), keepdim)


def prod(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:  # noqa: A002
    dims = normalize_dims(dim, input.ndim, "prod")
    return Prod.apply(input, None if dims is None else dims[0], keepdim)


def cumsum(input: Tensor, dim: int) -> Tensor:  # noqa: A002
    dims = normalize_dims(dim, input.ndim, "cumsum")
    return Cumsum.apply(input, 0 if dims is None else dims[0])


def norm(input: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A002
    """Vector p-norm over ``dim`` (all elements if None); ``"fro"`` is the 2-norm."""
    dims = normalize_dims(dim, input.ndim, "norm")
    if p in ("fro", 2, 2.0):
        return Norm2.apply(input, dims, keepdim)
    from chainrule.ops.elementwise import abs as absolute

    if p in (float("inf"), "inf"):
        return amax(absolute(input), dims if dims is not None else (), keepdim)
    if p == 1:
        return absolute(input).sum(dim=dims, keepdim=keepdim)
    return (absolute(input) ** p).sum(dim=dims, keepdim=keepdim) ** (1.0 / p)


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:  # noqa: A002
    return _arg(np.argmax, input, dim, keepdim)


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:  # noqa: A002
    return _arg(np.argmin, input, dim, keepdim)


def _arg(function: Any, input: Tensor, dim: int | None, keepdim: bool) -> Tensor:  # noqa: A002
    if dim is None:
        out = np.asarray(function(input.array))
        return Tensor._wrap(out.reshape((1,) * input.ndim) if keepdim else out.astype(np.int64))
    return Tensor._wrap(function(input.array, axis=dim, keepdims=keepdim).astype(np.int64))


def all(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:  # noqa: A001,A002
    return Tensor._wrap(np.asarray(np.all(input.array, axis=dim, keepdims=keepdim)))


def any(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:  # noqa: A001,A002
    return Tensor._wrap(np.asarray(np.any(input.array, axis=dim, keepdims=keepdim)))


def count_nonzero(input: Tensor, dim: Any = None) -> Tensor:  # noqa: A002
    return Tensor._wrap(np.asarray(np.count_nonzero(input.array, axis=dim), dtype=np.int64))


def _attach() -> None:
    for function in (sum, mean, var, std, logsumexp, prod, cumsum, norm, argmax, argmin, all,
                     any, amax, amin, max, min, count_nonzero):
        setattr(Tensor, function.__name__, function)


_attach()
__all__: Sequence[str] = ()
