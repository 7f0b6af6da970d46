"""Lookups by index: ``embedding`` (rows of a weight matrix) and ``one_hot``."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.function import Function
from chainrule.ops.movement import IndexAdd
from chainrule.tensor import Tensor


class Embedding(Function):
    """Rows ``weight[indices]``. The gradient adds each row's gradients (an index used twice
    gets both) and leaves the ``padding_idx`` row at zero. The backward is ``IndexAdd``, whose
    own backward is indexing, so second order works. ``indices`` is a Tensor, saved with the
    context: changing it in place before backward raises rather than sending the gradient to
    other rows."""

    @staticmethod
    def forward(ctx, weight, indices, padding_idx):
        ctx.weight_shape, ctx.padding_idx = weight.shape, padding_idx
        ctx.save_inputs(1)
        return np.take(weight, indices, axis=0)

    @staticmethod
    def backward(ctx, grad):
        (index_tensor,) = ctx.saved_inputs
        indices = index_tensor.array
        if ctx.padding_idx is not None:
            keep = (indices != ctx.padding_idx)[..., None].astype(grad.dtype)
            grad = grad * Tensor._wrap(keep)
        return IndexAdd.apply(grad, ctx.weight_shape, (indices,), (index_tensor,)), None, None


def _index_tensor(op: str, input: Any) -> Tensor:  # noqa: A002
    """``input`` as an integer Tensor; anything else (a list, a NumPy array, which carry no
    version counter) is copied into a new one."""
    index = input if isinstance(input, Tensor) else Tensor._wrap(np.array(input))
    if index.dtype.kind not in "iu":
        raise TypeError(f"{op}: expected integer indices (int64), got dtype {index.dtype}; "
                        "convert with .long()")
    return index


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,  # noqa: A002
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Look up rows of ``weight`` by the integer indices in ``input``.

    Shapes: input (*) int64, weight (num_embeddings, embedding_dim) → (*, embedding_dim).
    The ``padding_idx`` row gets no gradient. ``max_norm``, ``scale_grad_by_freq`` and
    ``sparse`` are not supported.

    Example::

        >>> F.embedding(chainrule.tensor([[0, 2], [1, 0]]), chainrule.randn(3, 4)).shape
        (2, 2, 4)
    """
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not "
                                  "supported; leave them at their defaults")
    index = _index_tensor("embedding", input)
    indices = index.array
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        raise ValueError(f"embedding: weight must be a 2-D Tensor (num_embeddings, embedding_dim), "
                         f"got {getattr(weight, 'shape', type(weight).__name__)}")
    rows = weight.shape[0]
    if indices.size and (indices.min() < 0 or indices.max() >= rows):
        bad = indices.min() if indices.min() < 0 else indices.max()
        raise IndexError(f"embedding: index {int(bad)} is out of range for a weight with {rows} "
                         f"rows (valid: 0 to {rows - 1})")
    if padding_idx is not None:
        if not -rows <= padding_idx < rows:
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within num_embeddings "
                             f"({rows})")
        padding_idx = int(padding_idx) % rows
    return Embedding.apply(weight, index, padding_idx)


def _bags(op: str, index: Tensor, offsets: Any,
          include_last_offset: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """The flat indices, the bag of each, and the number of bags: rows of 2-D input are bags;
    1-D input is cut into bags at ``offsets`` (each bag's first position)."""
    indices = index.array
    if indices.ndim == 2:
        if offsets is not None:
            raise ValueError(f"{op}: offsets must be None for 2-D input (each row is a bag); pass "
                             "1-D input with offsets, or drop offsets")
        bags, length = indices.shape
        return indices.reshape(-1), np.repeat(np.arange(bags), length), bags
    if indices.ndim != 1 or offsets is None:
        raise ValueError(f"{op}: expected 2-D input (bags, length), or 1-D input with offsets; got "
                         f"shape {indices.shape} and offsets {'None' if offsets is None else 'given'}")
    starts = np.asarray(offsets.array if isinstance(offsets, Tensor) else offsets)
    if starts.ndim != 1 or starts.dtype.kind not in "iu":
        raise TypeError(f"{op}: offsets must be a 1-D integer tensor, got {starts.dtype} of shape "
                        f"{starts.shape}")
    bounds = np.append(starts, indices.size) if not include_last_offset else starts
    if bounds.size < 1 or (starts.size and starts[0] != 0) or np.any(np.diff(bounds) < 0) \
            or bounds[-1] > indices.size:
        raise ValueError(f"{op}: offsets {starts.tolist()} must start at 0 and not decrease, within "
                         f"the {indices.size} indices")
    bags = bounds.size - 1
    return indices, np.repeat(np.arange(bags), np.diff(bounds)[:bags]), bags


def embedding_bag(input: Tensor, weight: Tensor, offsets: Tensor | None = None,  # noqa: A002
                  max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                  mode: str = "mean", sparse: bool = False, per_sample_weights: Tensor | None = None,
                  include_last_offset: bool = False, padding_idx: int | None = None) -> Tensor:
    """The sum, mean or max of each bag of embeddings, without the (bags, length, dim)
    intermediate a lookup then a reduction would keep: rows of 2-D ``input`` are bags, or
    1-D ``input`` is cut at ``offsets``. Indices equal to ``padding_idx`` are left out (not
    counted in a mean); an empty bag gives zeros. ``per_sample_weights`` scale each index's
    row (mode "sum" only).

    Shapes: input (B, L) or (total,) with offsets (B,), weight (num_embeddings, D) → (B, D).

    Example::

        >>> weight = chainrule.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
        >>> F.embedding_bag(chainrule.tensor([0, 2, 1, 1]), weight, chainrule.tensor([0, 2]), mode="sum")
        tensor([[3., 2.],
                [0., 2.]])
    """
    op = "embedding_bag"
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"{op}: mode must be 'sum', 'mean' or 'max', got {mode!r}")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(f"{op}: per_sample_weights needs mode='sum', got mode={mode!r}")
    index = _index_tensor(op, input)
    flat, bag_of, bags = _bags(op, index, offsets, include_last_offset)
    rows = embedding(Tensor._wrap(flat), weight, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse)
    keep = np.ones(flat.size, bool) if padding_idx is None else flat != int(padding_idx) % weight.shape[0]
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.reshape(-1, 1)
    if mode == "max":
        from chainrule.ops.movement import stack

        empty = Tensor._wrap(np.zeros(weight.shape[1], weight.dtype))
        chosen = [np.flatnonzero((bag_of == bag) & keep) for bag in range(bags)]
        return stack([rows[Tensor._wrap(at)].amax(0) if at.size else empty for at in chosen])
    # one (bags, total) matrix of weights, 1 (or 1 / count for the mean) where an index is
    # in a bag, so the whole reduction is one product
    membership = np.zeros((bags, flat.size), weight.dtype)
    membership[bag_of, np.arange(flat.size)] = keep
    if mode == "mean":
        membership /= np.maximum(membership.sum(1, keepdims=True), 1)
    return Tensor._wrap(membership) @ rows


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot vectors of the class indices in ``tensor``; ``num_classes=-1`` means the
    largest index plus one.

    Shapes: (*) int64 → (*, num_classes) int64.

    Example::

        >>> F.one_hot(chainrule.tensor([0, 2]), 3)
        tensor([[1, 0, 0],
                [0, 0, 1]])
    """
    indices = _index_tensor("one_hot", tensor).array
    if num_classes == -1:
        if indices.size == 0:
            raise ValueError("one_hot: can't infer num_classes from an empty tensor; pass "
                             "num_classes")
        num_classes = int(indices.max()) + 1
    if num_classes < 1 and indices.size:
        raise ValueError(f"one_hot: num_classes must be positive or -1, got {num_classes}")
    if indices.size and indices.min() < 0:
        raise ValueError(f"one_hot: class values must be non-negative, got {int(indices.min())}")
    if indices.size and indices.max() >= num_classes:
        raise ValueError(f"one_hot: class value {int(indices.max())} is not smaller than "
                         f"num_classes={num_classes}")
    return Tensor._wrap((indices[..., None] == np.arange(num_classes)).astype(np.int64))
