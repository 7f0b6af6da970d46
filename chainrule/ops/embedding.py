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
    own backward is indexing, so second order works."""

    @staticmethod
    def forward(ctx, weight, indices, padding_idx):
        ctx.indices, ctx.weight_shape, ctx.padding_idx = indices, weight.shape, padding_idx
        return np.take(weight, indices, axis=0)

    @staticmethod
    def backward(ctx, grad):
        if ctx.padding_idx is not None:
            keep = (ctx.indices != ctx.padding_idx)[..., None].astype(grad.dtype)
            grad = grad * Tensor._wrap(keep)
        return IndexAdd.apply(grad, ctx.weight_shape, (ctx.indices,)), None, None


def _index_array(op: str, input: Any) -> np.ndarray:  # noqa: A002
    indices = input.array if isinstance(input, Tensor) else np.asarray(input)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"{op}: expected integer indices (int64), got dtype {indices.dtype}; "
                        "convert with .long()")
    return indices


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
    indices = _index_array("embedding", input)
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
    return Embedding.apply(weight, indices, padding_idx)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot vectors of the class indices in ``tensor``; ``num_classes=-1`` means the
    largest index plus one.

    Shapes: (*) int64 → (*, num_classes) int64.

    Example::

        >>> F.one_hot(chainrule.tensor([0, 2]), 3)
        tensor([[1, 0, 0],
                [0, 0, 1]])
    """
    indices = _index_array("one_hot", tensor)
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
