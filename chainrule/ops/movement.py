"""Movement ops: change the shape or pick elements without arithmetic. Reshape, permute,
expand, cat/stack/split, flip, pad, and indexing (int, slice, None, Ellipsis, integer arrays
and boolean masks; repeated indices accumulate their gradients)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.autograd.function import Function
from chainrule.tensor import Tensor


def _shape_arg(shape: Sequence[Any]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], Sequence | np.ndarray):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def memory_order(a: np.ndarray) -> tuple[int, ...] | None:
    """The axes of ``a`` from slowest to fastest in memory when ``a`` is a transposed view of
    contiguous memory (a convolution's channel-major output); None when it is C-contiguous or
    laid out otherwise."""
    if a.flags.c_contiguous or a.ndim < 2:
        return None
    order = tuple(int(axis) for axis in np.argsort([-stride for stride in a.strides], kind="stable"))
    return order if a.transpose(order).flags.c_contiguous else None


class Reshape(Function):
    """``a`` in a new shape. Its gradient comes back in ``a``'s memory layout (e.g.
    channel-major after a convolution), so the elementwise backward passes that meet it and the
    convolution's own backward read one layout, without mixed strides or a second copy."""

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        ctx.order = memory_order(a)
        try:
            return a.reshape(shape)
        except ValueError:
            raise RuntimeError(
                f"reshape: shape {list(shape)} is invalid for a tensor of shape {a.shape} "
                f"({a.size} elements)"
            ) from None

    @staticmethod
    def backward(ctx, grad):
        grad = grad.reshape(ctx.shape)
        if ctx.order is not None:
            grad = InLayout.apply(grad, ctx.order)
        return grad, None


class InLayout(Function):
    """The same values laid out in memory with the axes ``order`` from slowest to fastest (a
    copy unless they already are)."""

    @staticmethod
    def forward(ctx, a, order):
        if a.transpose(order).flags.c_contiguous:
            return a
        return np.ascontiguousarray(a.transpose(order)).transpose(np.argsort(order))

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class Permute(Function):
    @staticmethod
    def forward(ctx, a, dims):
        ctx.inverse = tuple(np.argsort(dims))
        return a.transpose(dims)

    @staticmethod
    def backward(ctx, grad):
        return grad.permute(*ctx.inverse), None


class Expand(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return np.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, grad):
        return SumToShape.apply(grad, ctx.shape), None


class SumToShape(Function):
    """Sum a broadcast gradient back to ``shape`` (the engine's unbroadcast)."""

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        extra = a.ndim - len(shape)
        axes = tuple(range(extra)) + tuple(
            i + extra for i, size in enumerate(shape) if size == 1 and a.shape[i + extra] != 1
        )
        out = a.sum(axis=axes, keepdims=True) if axes else a
        return out.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.expand(ctx.shape), None


class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *arrays):
        ctx.dim = dim
        ctx.bounds = np.cumsum([0] + [a.shape[dim] for a in arrays])
        return np.concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        index = [slice(None)] * grad.ndim
        grads: list[Any] = [None]
        for i, need in enumerate(ctx.needs_input_grad[1:]):
            index[ctx.dim] = slice(int(ctx.bounds[i]), int(ctx.bounds[i + 1]))
            grads.append(grad[tuple(index)] if need else None)
        return tuple(grads)


class Flip(Function):
    @staticmethod
    def forward(ctx, a, dims):
        ctx.dims = dims
        return np.flip(a, dims)

    @staticmethod
    def backward(ctx, grad):
        return grad.flip(ctx.dims), None


class Pad(Function):
    """Constant padding; ``widths`` is NumPy's ((before, after), ...) per axis."""

    @staticmethod
    def forward(ctx, a, widths, value):
        ctx.crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, a.shape))
        return np.pad(a, widths, constant_values=value)

    @staticmethod
    def backward(ctx, grad):
        return grad[ctx.crop], None, None


class GetItem(Function):
    """``a[index]``. ``index_tensors`` are the tensors the index arrays in ``index`` came from:
    saved with the context, so that changing one in place before backward raises instead of
    sending the gradient to other elements."""

    @staticmethod
    def forward(ctx, a, index, index_tensors):
        ctx.shape, ctx.index, ctx.dtype = a.shape, index, a.dtype
        ctx.save_for_backward(*index_tensors)
        return np.asarray(a[index])

    @staticmethod
    def backward(ctx, grad):
        index_tensors = ctx.saved_tensors
        return IndexAdd.apply(grad, ctx.shape, ctx.index, index_tensors), None, None


class IndexAdd(Function):
    """Scatter ``grad`` into zeros of ``shape`` at ``index``, adding where indices repeat
    (the backward of indexing; its own backward is indexing again). ``index_tensors`` as in
    ``GetItem``."""

    @staticmethod
    def forward(ctx, grad, shape, index, index_tensors=()):
        ctx.index = index
        ctx.save_for_backward(*index_tensors)
        out = np.zeros(shape, dtype=grad.dtype)
        if _is_basic(index):
            out[index] = grad
        else:
            np.add.at(out, index, grad)
        return out

    @staticmethod
    def backward(ctx, grad):
        index_tensors = ctx.saved_tensors
        return GetItem.apply(grad, ctx.index, index_tensors), None, None, None


class Scatter(Function):
    """``out = a`` with ``out[index] = src`` (where an index repeats, one of the values lands,
    as in PyTorch). grad_a is the gradient with the overwritten places zeroed; grad_src is the
    gradient read back at ``index`` (PyTorch's rule, also where indices repeat)."""

    @staticmethod
    def forward(ctx, a, src, index, index_tensors):
        ctx.index = index
        ctx.save_for_backward(*index_tensors)
        out = a.copy()
        out[index] = src
        ctx.overwritten = np.zeros(a.shape, dtype=bool)
        ctx.overwritten[index] = True
        return out

    @staticmethod
    def backward(ctx, grad):
        index_tensors = ctx.saved_tensors
        need_a, need_src = ctx.needs_input_grad[:2]
        grad_a = grad * Tensor._wrap(~ctx.overwritten) if need_a else None
        grad_src = GetItem.apply(grad, ctx.index, index_tensors) if need_src else None
        return grad_a, grad_src, None, None


def _is_basic(index: Any) -> bool:
    """True when ``index`` selects each element at most once (no integer arrays)."""
    items = index if isinstance(index, tuple) else (index,)
    return builtins.all(
        i is None or i is Ellipsis or isinstance(i, int | slice | np.integer)
        or (isinstance(i, np.ndarray) and i.dtype == np.bool_)
        for i in items
    )


def normalize_index(index: Any) -> Any:
    """Turn tensors in an index into arrays and reject float indices with a clear error."""
    items = index if isinstance(index, tuple) else (index,)
    out = []
    for item in items:
        if isinstance(item, Tensor):
            item = item.array
        elif isinstance(item, list):
            item = np.asarray(item)
        if isinstance(item, np.ndarray) and item.dtype.kind not in "iub":
            raise IndexError(
                f"tensors used as indices must be integer or bool, got dtype {item.dtype}; "
                "convert with .long()"
            )
        if isinstance(item, float):
            raise IndexError(f"index {item!r} is a float; indices must be integers")
        out.append(item)
    return tuple(out) if isinstance(index, tuple) else out[0]


# ------------------------------------------------------------------- public functions
def reshape(input: Tensor, *shape: Any) -> Tensor:  # noqa: A002
    """Same elements, new shape (one dimension may be -1)."""
    shape = _shape_arg(shape)
    if shape == input.shape:
        return input
    return Reshape.apply(input, shape)


def view(input: Tensor, *shape: Any) -> Tensor:  # noqa: A002
    if len(shape) == 1 and not isinstance(shape[0], int | Sequence):
        return _view_as_dtype(input, shape[0])
    _check_viewable(input, shape[0] if len(shape) == 1 and isinstance(shape[0], Sequence) else shape)
    return reshape(input, *shape)


def _view_as_dtype(input: Tensor, dtype: Any) -> Tensor:  # noqa: A002
    """``input.view(dtype)``: the same bytes read as ``dtype`` (no conversion), as PyTorch. With
    a different element size the last dimension must be contiguous and scale evenly: it grows
    by old/new size or shrinks by new/old. Shares memory; outside autograd (as in PyTorch)."""
    from chainrule.dtypes import as_dtype

    target = as_dtype(dtype)
    array = input.array
    old, new = array.dtype.itemsize, target.itemsize
    where = f"to view {array.dtype} as {target} (different element sizes)"
    if old != new:
        if array.ndim == 0:
            raise RuntimeError(f"self.dim() cannot be 0 {where}")
        if array.shape[-1] != 1 and array.strides[-1] != old:
            raise RuntimeError(f"self.stride(-1) must be 1 {where}, but got {array.strides[-1] // old}")
        if new > old and array.shape[-1] % (new // old):
            raise RuntimeError(
                f"self.size(-1) must be divisible by {new // old} {where}, but got {array.shape[-1]}"
            )
    return Tensor._wrap(array.view(target))


def _check_viewable(input: Tensor, shape: Any) -> None:  # noqa: A002
    """PyTorch's view never copies: a shape that the tensor's memory layout cannot give
    without copying (e.g. flattening a transpose) is an error there, so here too."""
    try:
        np.reshape(input.array, shape, copy=False)
    except (ValueError, TypeError):
        try:
            np.reshape(input.array, shape)
        except (ValueError, TypeError):
            return  # a size mismatch: reshape below says so in its own words
        raise RuntimeError(
            f"view({', '.join(str(size) for size in shape)}): this tensor of shape "
            f"{tuple(input.shape)} is not contiguous in memory (e.g. it is a transpose), so it "
            "can't be viewed in that shape without a copy; use .reshape(...) or .contiguous().view(...)"
        ) from None


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:  # noqa: A002
    if input.ndim == 0:
        return reshape(input, 1)
    start, end = start_dim % input.ndim, end_dim % input.ndim
    shape = input.shape
    return reshape(input, shape[:start] + (-1,) + shape[end + 1:]) if start <= end else input


def unflatten(input: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:  # noqa: A002
    dim %= input.ndim
    return reshape(input, input.shape[:dim] + tuple(sizes) + input.shape[dim + 1:])


def permute(input: Tensor, *dims: Any) -> Tensor:  # noqa: A002
    dims = _shape_arg(dims)
    wrapped = sorted(d % builtins.max(input.ndim, 1) for d in dims)
    if len(dims) != input.ndim or wrapped != list(range(input.ndim)):
        raise RuntimeError(
            f"permute: dims {list(dims)} are not a permutation of the {input.ndim} dimensions "
            f"of a tensor of shape {tuple(input.shape)}"
        )
    dims = tuple(d % input.ndim for d in dims)
    return input if dims == tuple(range(input.ndim)) else Permute.apply(input, dims)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:  # noqa: A002
    dims = list(range(input.ndim))
    if input.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return input
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return permute(input, *dims)


def t(input: Tensor) -> Tensor:  # noqa: A002
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, got {input.ndim}")
    return transpose(input, 0, 1) if input.ndim == 2 else input


def unsqueeze(input: Tensor, dim: int) -> Tensor:  # noqa: A002
    dim = dim % (input.ndim + 1)
    return reshape(input, input.shape[:dim] + (1,) + input.shape[dim:])


def squeeze(input: Tensor, dim: Any = None) -> Tensor:  # noqa: A002
    if dim is None:
        return reshape(input, tuple(s for s in input.shape if s != 1))
    dims = {d % builtins.max(input.ndim, 1) for d in ((dim,) if isinstance(dim, int) else dim)}
    return reshape(input, tuple(s for i, s in enumerate(input.shape) if not (i in dims and s == 1)))


def expand(input: Tensor, *sizes: Any) -> Tensor:  # noqa: A002
    """Broadcast to ``sizes`` without copying (-1 keeps a dimension)."""
    sizes = _shape_arg(sizes)
    lead = len(sizes) - input.ndim
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes {list(sizes)} is smaller than the "
                           f"tensor's {input.ndim} dimensions")
    shape = tuple(input.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    if shape == input.shape:
        return input
    try:
        np.broadcast_shapes(input.shape, shape)
    except ValueError:
        raise RuntimeError(f"expand: can't expand a tensor of shape {tuple(input.shape)} to "
                           f"{list(sizes)}; only dimensions of size 1 can grow") from None
    return Expand.apply(input, shape)


def expand_as(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    return expand(input, other.shape)


def broadcast_to(input: Tensor, shape: Sequence[int]) -> Tensor:  # noqa: A002
    return expand(input, tuple(shape))


def repeat(input: Tensor, *sizes: Any) -> Tensor:  # noqa: A002
    """Tile the tensor ``sizes`` times along each dimension (a copy)."""
    sizes = _shape_arg(sizes)
    x = input.reshape((1,) * (len(sizes) - input.ndim) + input.shape)
    interleaved = []
    for s, n in zip(x.shape, sizes):
        interleaved += [n, s]
    tiled = x.reshape(tuple(v for s in x.shape for v in (1, s))).expand(*interleaved)
    return tiled.reshape(tuple(s * n for s, n in zip(x.shape, sizes)))


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension."""
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    tensors = [t if isinstance(t, Tensor) else Tensor._wrap(np.asarray(t)) for t in tensors]
    dim = dim % builtins.max(tensors[0].ndim, 1)
    first = tensors[0].shape
    for i, t in enumerate(tensors):
        if t.ndim != len(first) or t.shape[:dim] + t.shape[dim + 1:] != first[:dim] + first[dim + 1:]:
            raise RuntimeError(
                f"cat: sizes of tensors must match except in dimension {dim}; tensor 0 has "
                f"shape {tuple(first)} and tensor {i} has shape {tuple(t.shape)}"
            )
    return Cat.apply(dim, *tensors)


concat = concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors of equal shape along a new dimension."""
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise RuntimeError(f"stack: expects each tensor to be equal size, got shapes {sorted(shapes)}")
    return cat([unsqueeze(t, dim) for t in tensors], dim)


def split(tensor: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or of the sizes given."""
    size = tensor.shape[dim]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise ValueError(f"split: split_size must be positive, got {step}")
        sizes = [builtins.min(step, size - s) for s in range(0, size, step)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != size:
            raise RuntimeError(f"split: sizes {sizes} don't add up to {size}, the size of dim {dim}")
    pieces, start = [], 0
    for n in sizes:
        pieces.append(narrow(tensor, dim, start, n))
        start += n
    return tuple(pieces)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:  # noqa: A002
    size = input.shape[dim]
    return split(input, -(-size // chunks) if size else 1, dim)


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:  # noqa: A002
    return tuple(select(input, dim, i) for i in range(input.shape[dim]))


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:  # noqa: A002
    index = [slice(None)] * input.ndim
    index[dim] = slice(start, start + length)
    return input[tuple(index)]


def select(input: Tensor, dim: int, index: int) -> Tensor:  # noqa: A002
    key: list[Any] = [slice(None)] * input.ndim
    key[dim] = index
    return input[tuple(key)]


def flip(input: Tensor, *dims: Any) -> Tensor:  # noqa: A002
    dims = _shape_arg(dims)
    return Flip.apply(input, tuple(d % input.ndim for d in dims))


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:  # noqa: A002
    """Pad the last ``len(pad) // 2`` dimensions; ``pad`` lists (before, after) pairs
    starting from the last dimension, as PyTorch's ``F.pad``."""
    if mode != "constant":
        raise NotImplementedError(f"pad: mode {mode!r} is not supported; use mode='constant'")
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: {list(pad)} must hold (before, after) pairs for at most "
                         f"{input.ndim} dimensions")
    widths = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        widths[input.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    if builtins.any(lo < 0 or hi < 0 for lo, hi in widths):
        raise NotImplementedError("pad: negative padding (cropping) is not supported; slice instead")
    return Pad.apply(input, tuple(widths), value)


def getitem(input: Tensor, index: Any) -> Tensor:  # noqa: A002
    # Backward reads the index arrays: the tensors among them go to the context, which checks
    # their versions; a NumPy array has no version counter, so it is copied now.
    items = index if isinstance(index, tuple) else (index,)
    if builtins.any(isinstance(item, np.ndarray) for item in items):
        items = tuple(item.copy() if isinstance(item, np.ndarray) else item for item in items)
        index = items if isinstance(index, tuple) else items[0]
    index_tensors = tuple([item for item in items if isinstance(item, Tensor)])
    return GetItem.apply(input, normalize_index(index), index_tensors)


def gather(input: Tensor, dim: int, index: Tensor) -> Tensor:  # noqa: A002
    """``out[i][j] = input[index[i][j]][j]`` for dim 0 (and likewise for other dims)."""
    index = index if isinstance(index, Tensor) else np.asarray(index)
    dim %= input.ndim
    grid: list[Any] = list(np.indices(index.shape, sparse=True))
    grid[dim] = index  # the tensor itself, so that backward checks its version
    return getitem(input, tuple(grid))


def _scatter_index(input: Tensor, dim: int, index: Any) -> tuple[Any, ...]:
    """The NumPy index that sends element ``j`` of ``index`` to ``input[j with j[dim] replaced by
    index[j]]`` (as ``scatter`` and ``gather`` read it), after PyTorch's shape checks."""
    index = index if isinstance(index, Tensor) else Tensor._wrap(np.asarray(index))
    if index.dtype.kind not in "iu":
        raise RuntimeError(f"scatter(): Expected dtype int64 for index, got {index.dtype}")
    if index.ndim != input.ndim:
        raise RuntimeError(
            f"scatter(): index has {index.ndim} dimensions but self has {input.ndim}; they must match"
        )
    dim %= input.ndim
    if builtins.any(n > m for d, (n, m) in enumerate(zip(index.shape, input.shape)) if d != dim):
        raise RuntimeError(
            f"scatter(): index of shape {tuple(index.shape)} is larger than self of shape "
            f"{tuple(input.shape)} apart from dimension {dim}"
        )
    grid: list[Any] = list(np.indices(index.shape, sparse=True))
    grid[dim] = index.array
    return tuple(grid)


def _scatter_source(src: Any, index_shape: tuple[int, ...], like: Tensor) -> Tensor:
    """The part of ``src`` that ``index`` reads (its leading block), or a scalar filled out."""
    if isinstance(src, Tensor):
        if builtins.any(n > m for n, m in zip(index_shape, src.shape)):
            raise RuntimeError(
                f"scatter(): index of shape {index_shape} is larger than src of shape {tuple(src.shape)}"
            )
        return src[tuple(slice(0, n) for n in index_shape)]
    return Tensor._wrap(np.full(index_shape, src, dtype=like.dtype))


def scatter(input: Tensor, dim: int, index: Tensor, src: Any = None, *, value: Any = None,  # noqa: A002
            reduce: str | None = None) -> Tensor:
    """``out = input`` with ``out[index[i][j]][j] = src[i][j]`` for dim 0 (likewise for other
    dims); ``src`` may be a number (or ``value=``). ``reduce="add"`` adds instead of writing.
    Differentiable in ``input`` and ``src``.

    Shapes: index has input's number of dims and is no larger than src. Example::

        >>> chainrule.zeros(3).scatter(0, chainrule.tensor([2, 0]), chainrule.tensor([5.0, 7.0]))
        tensor([7., 0., 5.])
    """
    if reduce not in (None, "add"):
        raise NotImplementedError(f"scatter(): reduce={reduce!r} is not supported; use reduce='add'")
    source = _scatter_source(value if src is None else src, tuple(index.shape), input)
    if reduce == "add":
        return scatter_add(input, dim, index, source)
    grid = _scatter_index(input, dim, index)
    return Scatter.apply(input, source.to(input.dtype), grid, (index,) if isinstance(index, Tensor) else ())


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:  # noqa: A002
    """``out = input`` plus ``src[i][j]`` added at ``out[index[i][j]][j]`` for dim 0, summing where
    indices repeat. Differentiable in ``input`` and ``src`` (whose gradient is ``gather``).

    Example::

        >>> chainrule.zeros(3).scatter_add(0, chainrule.tensor([2, 2, 0]), chainrule.ones(3))
        tensor([1., 0., 2.])
    """
    grid = _scatter_index(input, dim, index)
    source = _scatter_source(src, tuple(index.shape), input)
    index_tensors = (index,) if isinstance(index, Tensor) else ()
    return input + IndexAdd.apply(source.to(input.dtype), input.shape, grid, index_tensors)


def _scatter_inplace(name: str, function: Any) -> Any:
    def scatter_inplace(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        if self._check_inplace(name, *args, *kwargs.values()):
            return self._record_inplace(name, *args, **kwargs)
        self.array[...] = function(Tensor._wrap(self.array), *args, **kwargs).array
        return self

    scatter_inplace.__name__ = name
    scatter_inplace.__doc__ = f"In-place ``{function.__name__}`` (recorded when a gradient is involved)."
    return scatter_inplace


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:  # noqa: A002
    key: list[Any] = [slice(None)] * input.ndim
    key[dim] = index if isinstance(index, Tensor) else np.asarray(index)
    return getitem(input, tuple(key))


def masked_fill(input: Tensor, mask: Any, value: Any) -> Tensor:  # noqa: A002
    from chainrule.ops.elementwise import where

    return where(mask, value, input)


def tril(input: Tensor, diagonal: int = 0) -> Tensor:  # noqa: A002
    return input * Tensor._wrap(_tri(input.shape, diagonal))


def triu(input: Tensor, diagonal: int = 0) -> Tensor:  # noqa: A002
    return input * Tensor._wrap(~_tri(input.shape, diagonal - 1))


def _tri(shape: Sequence[int], diagonal: int) -> np.ndarray:
    """True on and below ``diagonal`` of the last two dims (as ``np.tri``; a 1-D shape is square)."""
    return np.tri(shape[-2] if len(shape) > 1 else shape[-1], shape[-1], k=diagonal, dtype=bool)


def _attach() -> None:
    functions = (reshape, view, flatten, unflatten, permute, transpose, t, unsqueeze, squeeze,
                 expand, expand_as, repeat, split, chunk, unbind, narrow, select, flip,
                 index_select, gather, masked_fill, tril, triu, scatter, scatter_add)
    for function in functions:
        setattr(Tensor, function.__name__, function)
    def view_as(self: Tensor, other: Tensor) -> Tensor:
        return reshape(self, other.shape)

    methods = {
        "scatter_": _scatter_inplace("scatter_", scatter),
        "scatter_add_": _scatter_inplace("scatter_add_", scatter_add),
        "view_as": view_as,
        "reshape_as": view_as,
        "swapaxes": transpose,
        "__getitem__": getitem,
    }
    for name, method in methods.items():
        setattr(Tensor, name, method)


_attach()
