"""PyTorch's array functions built from chainrule's ops: moving and swapping axes, diagonals,
tiling and repeating, stacking and splitting, order statistics, differences, products of
vectors and matrices, and the counting and bucketing functions (which have no gradient).

Each differentiable one is a composition of ops the op database checks (permute, getitem,
gather, index_select, cat, matmul, ...), so its gradients, first and second order, are theirs.

Example::

    >>> import chainrule as torch
    >>> torch.trace(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    tensor(5.)
    >>> torch.repeat_interleave(torch.tensor([1, 2]), 2)
    tensor([1, 1, 2, 2])
"""

from __future__ import annotations

import builtins
import itertools
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import numpy as np

from chainrule.creation import tensor, zeros
from chainrule.ops.elementwise import abs as absolute
from chainrule.ops.elementwise import erf, where
from chainrule.ops.movement import broadcast_to, cat, flip, gather, index_select, stack
from chainrule.tensor import Tensor


class ValuesIndices(NamedTuple):
    values: Tensor
    indices: Tensor


class MinMax(NamedTuple):
    min: Tensor
    max: Tensor


def _dims(value: int | Sequence[int]) -> list[int]:
    return [value] if isinstance(value, int | np.integer) else list(value)


# ------------------------------------------------------------------------------------- axes
def movedim(input: Tensor, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:  # noqa: A002
    """``input`` with dimensions ``source`` moved to positions ``destination``, the others in
    their order (NumPy's ``moveaxis``)."""
    sources = [d % input.ndim for d in _dims(source)]
    destinations = [d % input.ndim for d in _dims(destination)]
    order = [d for d in range(input.ndim) if d not in sources]
    for position, moved in sorted(zip(destinations, sources, strict=True)):
        order.insert(position, moved)
    return input.permute(*order)


def swapdims(input: Tensor, dim0: int, dim1: int) -> Tensor:  # noqa: A002
    """``transpose(dim0, dim1)`` by its NumPy name."""
    return input.transpose(dim0, dim1)


def ravel(input: Tensor) -> Tensor:  # noqa: A002
    """All elements in one dimension, in row-major order."""
    return input.reshape(-1)


def atleast_1d(*tensors: Any) -> Any:
    return _atleast(tensors, 1)


def atleast_2d(*tensors: Any) -> Any:
    return _atleast(tensors, 2)


def atleast_3d(*tensors: Any) -> Any:
    return _atleast(tensors, 3)


def _atleast(tensors: tuple[Any, ...], rank: int) -> Any:
    """NumPy's atleast_nd shapes ((n,) → (1, n) → (1, n, 1)), as torch has them: one tensor
    for one argument, a tuple for several or for one list."""
    listed = len(tensors) == 1 and isinstance(tensors[0], list | tuple)
    items = tensors[0] if listed else tensors
    expand = {1: np.atleast_1d, 2: np.atleast_2d, 3: np.atleast_3d}[rank]
    out = tuple(t if t.ndim >= rank else t.reshape(expand(np.empty(t.shape, np.bool_)).shape) for t in items)
    return out[0] if len(tensors) == 1 and not listed else out


# -------------------------------------------------------------------------------- diagonals
def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:  # noqa: A002
    """The diagonal of the matrices in dimensions (dim1, dim2), as a new last dimension;
    ``offset`` > 0 above the main diagonal, < 0 below."""
    x = movedim(input, (dim1, dim2), (-2, -1))
    rows, columns = x.shape[-2:]
    start_row, start_column = builtins.max(-offset, 0), builtins.max(offset, 0)
    length = builtins.max(builtins.min(rows - start_row, columns - start_column), 0)
    index = np.arange(length)
    return x[..., index + start_row, index + start_column]


def trace(input: Tensor) -> Tensor:  # noqa: A002
    """The sum of a matrix's diagonal."""
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, got shape {tuple(input.shape)}")
    return diagonal(input).sum()


def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:  # noqa: A002
    """Matrices whose diagonal (``offset``) holds the last dimension of ``input``:
    (*, n) → (*, n + |offset|, n + |offset|)."""
    n = input.shape[-1]
    size = n + builtins.abs(offset)
    index = np.arange(n)
    out = zeros(*input.shape[:-1], size, size, dtype=input.dtype)
    out[..., index + builtins.max(-offset, 0), index + builtins.max(offset, 0)] = input  # recorded
    return movedim(out, (-2, -1), (dim1, dim2)) if (dim1, dim2) != (-2, -1) else out


# ----------------------------------------------------------------------- repeating, tiling
def tile(input: Tensor, dims: Sequence[int]) -> Tensor:  # noqa: A002
    """``input`` repeated ``dims`` times along each dimension (ones prepended to the shorter
    of ``dims`` and the shape)."""
    dims = tuple(dims)
    if len(dims) < input.ndim:
        dims = (1,) * (input.ndim - len(dims)) + dims
    return input.repeat(*dims)


def repeat_interleave(input: Tensor, repeats: Any = None, dim: int | None = None, *,  # noqa: A002
                      output_size: int | None = None) -> Tensor:
    """Each element (or slice along ``dim``) repeated ``repeats`` times in place: [1, 2] with
    2 → [1, 1, 2, 2]. ``repeats`` may be a tensor of counts, one per element; called with a
    tensor of counts alone, the indices repeated by them."""
    if repeats is None:  # torch.repeat_interleave(counts)
        counts = input.array
        return Tensor._wrap(np.repeat(np.arange(counts.size), counts))
    counts = repeats.array if isinstance(repeats, Tensor) else np.asarray(repeats)
    source = input.reshape(-1) if dim is None else input
    axis = 0 if dim is None else dim % input.ndim
    index = np.repeat(np.arange(source.shape[axis]), counts)
    return index_select(source, axis, Tensor._wrap(index))


def fliplr(input: Tensor) -> Tensor:  # noqa: A002
    return flip(input, [1])


def flipud(input: Tensor) -> Tensor:  # noqa: A002
    return flip(input, [0])


def rot90(input: Tensor, k: int = 1, dims: Sequence[int] = (0, 1)) -> Tensor:  # noqa: A002
    """Rotate by 90 degrees ``k`` times in the plane of ``dims``, from the first toward the
    second (NumPy's rot90)."""
    first, second = dims
    k %= 4
    if k == 0:
        return input
    if k == 2:
        return flip(input, [first, second])
    if k == 1:
        return flip(input, [second]).transpose(first, second)
    return flip(input.transpose(first, second), [second])


# --------------------------------------------------------------------- stacking, splitting
def vstack(tensors: Sequence[Tensor]) -> Tensor:
    return cat(atleast_2d(list(tensors)), 0)


row_stack = vstack


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    items = atleast_1d(list(tensors))
    return cat(items, 0 if items[0].ndim == 1 else 1)


def dstack(tensors: Sequence[Tensor]) -> Tensor:
    return cat(atleast_3d(list(tensors)), 2)


def column_stack(tensors: Sequence[Tensor]) -> Tensor:
    return hstack([t.reshape(-1, 1) if t.ndim <= 1 else t for t in tensors])


def tensor_split(input: Tensor, indices_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:  # noqa: A002
    """Pieces along ``dim``: ``n`` sections as equal as possible (the first ones one longer),
    or cut before each index in a list."""
    size = input.shape[dim]
    if isinstance(indices_or_sections, int | np.integer):
        sections = int(indices_or_sections)
        base, extra = divmod(size, sections)
        bounds = np.cumsum([0] + [base + (i < extra) for i in range(sections)])
    else:
        given = indices_or_sections
        cuts = given.tolist() if isinstance(given, Tensor) else list(given)
        bounds = np.array([0, *[builtins.min(builtins.max(c, 0), size) for c in cuts], size])
    index: list[Any] = [slice(None)] * input.ndim
    pieces = []
    for start, end in itertools.pairwise(bounds):
        index[dim] = slice(int(start), int(builtins.max(start, end)))
        pieces.append(input[tuple(index)])
    return tuple(pieces)


def hsplit(input: Tensor, sections: Any) -> tuple[Tensor, ...]:  # noqa: A002
    return tensor_split(input, sections, 0 if input.ndim == 1 else 1)


def vsplit(input: Tensor, sections: Any) -> tuple[Tensor, ...]:  # noqa: A002
    return tensor_split(input, sections, 0)


def broadcast_shapes(*shapes: Any) -> tuple[int, ...]:
    from chainrule.tensor import Size

    return Size(np.broadcast_shapes(*(tuple(s) if not isinstance(s, int) else (s,) for s in shapes)))


def broadcast_tensors(*tensors: Tensor) -> tuple[Tensor, ...]:
    shape = broadcast_shapes(*(t.shape for t in tensors))
    return tuple(broadcast_to(t, shape) for t in tensors)


def block_diag(*tensors: Tensor) -> Tensor:
    """The matrices (or scalars, vectors as rows) on the diagonal of one block matrix."""
    blocks = [t.reshape(1, -1) if t.ndim < 2 else t for t in tensors]
    out = zeros(builtins.sum(b.shape[0] for b in blocks), builtins.sum(b.shape[1] for b in blocks),
                dtype=blocks[0].dtype)
    top = left = 0
    for b in blocks:
        out[top : top + b.shape[0], left : left + b.shape[1]] = b  # recorded when b needs grad
        top, left = top + b.shape[0], left + b.shape[1]
    return out


# ----------------------------------------------------------------------- order statistics
def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> ValuesIndices:  # noqa: A002
    """The k-th smallest element along ``dim`` (k counts from 1) and its index."""
    order = np.argsort(input.array, axis=dim, kind="stable")
    picked = np.take(order, [k - 1], axis=dim)
    indices = Tensor._wrap(picked)
    values = gather(input, dim, indices)
    if not keepdim:
        values, indices = values.squeeze(dim), Tensor._wrap(picked.squeeze(dim))
    return ValuesIndices(values, indices)


def median(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:  # noqa: A002
    """The lower median (the ((n - 1) // 2)-th smallest, as PyTorch; no average of two). With
    ``dim``, (values, indices); without, the median of all elements."""
    if dim is None:
        flat = input.reshape(-1)
        return kthvalue(flat, (flat.shape[0] - 1) // 2 + 1, 0).values
    return kthvalue(input, (input.shape[dim] - 1) // 2 + 1, dim, keepdim)


def aminmax(input: Tensor, *, dim: int | None = None, keepdim: bool = False) -> MinMax:  # noqa: A002
    dims = tuple(range(input.ndim)) if dim is None else dim
    return MinMax(input.amin(dims, keepdim), input.amax(dims, keepdim))


def std_mean(input: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,  # noqa: A002
             correction: int | None = None) -> tuple[Tensor, Tensor]:
    return input.std(dim, unbiased, keepdim, correction=correction), input.mean(dim, keepdim)


def var_mean(input: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,  # noqa: A002
             correction: int | None = None) -> tuple[Tensor, Tensor]:
    return input.var(dim, unbiased, keepdim, correction=correction), input.mean(dim, keepdim)


def cummax(input: Tensor, dim: int) -> ValuesIndices:  # noqa: A002
    return _cumulative(input, dim, np.greater_equal)


def cummin(input: Tensor, dim: int) -> ValuesIndices:  # noqa: A002
    return _cumulative(input, dim, np.less_equal)


def _cumulative(input: Tensor, dim: int, better: Any) -> ValuesIndices:  # noqa: A002
    """Running extreme along ``dim`` and where it was last reached (ties go to the later
    index, as PyTorch); values gathered from the input, so the gradient reaches them."""
    x = np.moveaxis(input.array, dim, 0)
    where_best = np.zeros(x.shape, np.int64)
    best = x[0].copy()
    for i in range(1, x.shape[0]):
        take = better(x[i], best) | np.isnan(x[i])
        best = np.where(take, x[i], best)
        where_best[i] = np.where(take, i, where_best[i - 1])
    indices = Tensor._wrap(np.moveaxis(where_best, 0, dim))
    return ValuesIndices(gather(input, dim, indices), indices)


# ---------------------------------------------------------------------------- differences
def diff(input: Tensor, n: int = 1, dim: int = -1, prepend: Tensor | None = None,  # noqa: A002
         append: Tensor | None = None) -> Tensor:
    """The ``n``-th forward difference along ``dim``: out[i] = x[i + 1] - x[i]."""
    parts = [t for t in (prepend, input, append) if t is not None]
    x = cat(parts, dim) if len(parts) > 1 else input
    for _ in range(n):
        length = x.shape[dim]
        x = x.narrow(dim, 1, length - 1) - x.narrow(dim, 0, length - 1)
    return x


# -------------------------------------------------------------------- vectors and matrices
def cross(input: Tensor, other: Tensor, dim: int | None = None) -> Tensor:  # noqa: A002
    """The cross product of 3-vectors along ``dim`` (the first of size 3 if None)."""
    if dim is None:
        dim = next(d for d, s in enumerate(np.broadcast_shapes(input.shape, other.shape)) if s == 3)
    a = [input.narrow(dim, i, 1) for i in range(3)]
    b = [other.narrow(dim, i, 1) for i in range(3)]
    return cat([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]], dim)


def kron(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """The Kronecker product: every element of ``input`` times the whole of ``other``."""
    ndim = builtins.max(input.ndim, other.ndim)
    a = input.reshape((1,) * (ndim - input.ndim) + tuple(input.shape))
    b = other.reshape((1,) * (ndim - other.ndim) + tuple(other.shape))
    interleaved_a = a.reshape(*itertools.chain.from_iterable((s, 1) for s in a.shape))
    interleaved_b = b.reshape(*itertools.chain.from_iterable((1, s) for s in b.shape))
    return (interleaved_a * interleaved_b).reshape(*(x * y for x, y in zip(a.shape, b.shape, strict=True)))


def dist(input: Tensor, other: Tensor, p: float = 2) -> Tensor:  # noqa: A002
    """The p-norm of input - other."""
    return (input - other).norm(p)


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0, compute_mode: str | None = None) -> Tensor:
    """The p-norm distance between each row of x1 and each row of x2:
    (*, P, M), (*, R, M) → (*, P, R)."""
    return (x1.unsqueeze(-2) - x2.unsqueeze(-3)).norm(p, dim=-1)


def matrix_power(input: Tensor, n: int) -> Tensor:  # noqa: A002
    """A^n by repeated squaring (n >= 0; A^0 is the identity)."""
    if n < 0:
        from chainrule.ops.linalg import inv

        return matrix_power(inv(input), -n)
    result: Tensor | None = None
    base = input
    while n:
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if n:
            base = base @ base
    if result is None:
        eye = np.broadcast_to(np.eye(input.shape[-1], dtype=input.dtype), input.shape).copy()
        return Tensor._wrap(eye)
    return result


def chain_matmul(*matrices: Tensor) -> Tensor:
    out = matrices[0]
    for m in matrices[1:]:
        out = out @ m
    return out


# ------------------------------------------------------------- signs, steps (elementwise)
def copysign(input: Tensor, other: Any) -> Tensor:  # noqa: A002
    """|input| with the sign of ``other`` (its sign bit: -0.0 counts as negative)."""
    negative = np.signbit(other.array if isinstance(other, Tensor) else np.asarray(other))
    return where(Tensor._wrap(negative), -absolute(input), absolute(input))


def signbit(input: Tensor) -> Tensor:  # noqa: A002
    return Tensor._wrap(np.signbit(input.array))


def heaviside(input: Tensor, values: Tensor) -> Tensor:  # noqa: A002
    return Tensor._wrap(np.heaviside(input.array, values.array).astype(input.dtype))


def erfc(input: Tensor) -> Tensor:  # noqa: A002
    """1 - erf(x)."""
    return 1.0 - erf(input)


# ------------------------------------------------------------- counting, bucketing, grids
def bincount(input: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:  # noqa: A002
    counts = np.bincount(input.array, None if weights is None else weights.array, minlength)
    return Tensor._wrap(counts if weights is not None else counts.astype(np.int64))


def histc(input: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:  # noqa: A001,A002
    """Counts in ``bins`` equal bins over [min, max] (the data's range when both are 0);
    values outside are left out."""
    low, high = (float(input.array.min()), float(input.array.max())) if min == max == 0 else (min, max)
    if low == high:
        low, high = low - 1, high + 1
    counts, _ = np.histogram(input.array, bins, (low, high))
    return Tensor._wrap(counts.astype(input.dtype))


def searchsorted(sorted_sequence: Tensor, values: Any, *, out_int32: bool = False, right: bool = False,
                 side: str | None = None, sorter: Tensor | None = None) -> Tensor:
    """Where each value would go in the sorted innermost dimension to keep it sorted."""
    chosen = side or ("right" if right else "left")
    side_name: Literal["left", "right"] = "right" if chosen == "right" else "left"
    sequence = sorted_sequence.array
    if sorter is not None:
        sequence = np.take_along_axis(sequence, sorter.array, -1)
    query = values.array if isinstance(values, Tensor) else np.asarray(values)
    if sequence.ndim == 1:
        out = np.searchsorted(sequence, query, side=side_name)
    else:
        out = np.stack([np.searchsorted(s, q, side=side_name) for s, q in
                        zip(sequence.reshape(-1, sequence.shape[-1]), query.reshape(-1, query.shape[-1]),
                            strict=True)]).reshape(query.shape)
    return Tensor._wrap(np.asarray(out, np.int32 if out_int32 else np.int64))


def bucketize(input: Tensor, boundaries: Tensor, *, out_int32: bool = False, right: bool = False) -> Tensor:  # noqa: A002
    """The bucket of each value among sorted 1-D ``boundaries`` (``right`` as searchsorted's)."""
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def meshgrid(*tensors: Any, indexing: str = "ij") -> tuple[Tensor, ...]:
    """Coordinate grids from 1-D tensors; ``indexing="ij"`` (matrix) or "xy" (Cartesian)."""
    items = tensors[0] if len(tensors) == 1 and isinstance(tensors[0], list | tuple) else tensors
    shape = [t.numel() for t in items]
    if indexing == "xy" and len(items) >= 2:
        shape[0], shape[1] = shape[1], shape[0]
    grids = []
    for axis, t in enumerate(items):
        view = [1] * len(items)
        position = {0: 1, 1: 0}.get(axis, axis) if indexing == "xy" and len(items) >= 2 else axis
        view[position] = t.numel()
        grids.append(broadcast_to(t.reshape(view), shape))
    return tuple(grids)


def cartesian_prod(*tensors: Tensor) -> Tensor:
    if len(tensors) == 1:
        return tensors[0]
    return stack([g.reshape(-1) for g in meshgrid(*tensors, indexing="ij")], 1)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None, device: Any = None,
                 layout: Any = None) -> Tensor:
    return tensor(np.stack(np.tril_indices(row, offset, col)), dtype=dtype)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None, device: Any = None,
                 layout: Any = None) -> Tensor:
    return tensor(np.stack(np.triu_indices(row, offset, col)), dtype=dtype)


def logspace(start: float, end: float, steps: int, base: float = 10.0, *, dtype: Any = None,
             device: Any = None, requires_grad: bool = False) -> Tensor:
    from chainrule.dtypes import as_dtype, get_default_dtype

    values = np.logspace(start, end, steps, base=base)
    values = values.astype(as_dtype(dtype) if dtype else get_default_dtype())
    return tensor(values, requires_grad=requires_grad)


TENSOR_METHODS = (
    "movedim", "moveaxis", "swapdims", "ravel", "diagonal", "trace", "diag_embed", "tile",
    "repeat_interleave",
    "fliplr", "flipud", "rot90", "tensor_split", "hsplit", "vsplit", "kthvalue", "median", "aminmax",
    "cummax", "cummin", "diff", "cross", "kron", "dist", "matrix_power", "copysign", "signbit",
    "heaviside", "erfc", "bincount", "histc",
)
FUNCTIONS = {name: value for name, value in globals().items() if callable(value) and not name.startswith("_")
             and getattr(value, "__module__", None) == __name__ and name[0].islower()}
FUNCTIONS.update(moveaxis=movedim, swapaxes=swapdims, row_stack=vstack)
"""The torch functions this module adds, by PyTorch's names (``chainrule`` keeps its own
where it already has one)."""


def _attach() -> None:
    for name in TENSOR_METHODS:
        setattr(Tensor, name, FUNCTIONS[name])


_attach()
