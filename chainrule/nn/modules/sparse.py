"""``Embedding``: a lookup table from integer indices to learned vectors."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.creation import empty
from chainrule.dtypes import as_dtype
from chainrule.grad_mode import no_grad
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.modules.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor


class Embedding(Module):
    """Row ``i`` of ``weight`` (num_embeddings, embedding_dim) for each index ``i``.
    Shapes: input (*) int64 → (*, embedding_dim). Initialised N(0, 1) as PyTorch; the row at
    ``padding_idx`` starts at zero and gets no gradient.

    Example::

        >>> table = nn.Embedding(10, 3, padding_idx=0)
        >>> table(chainrule.tensor([[1, 2], [0, 9]])).shape
        (2, 2, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Tensor | None = None, _freeze: bool = False,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if scale_grad_by_freq or sparse:
            raise NotImplementedError("Embedding: scale_grad_by_freq and sparse gradients are not "
                                      "supported; leave them False (gradients are dense)")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} must be within num_embeddings "
                                 f"({num_embeddings})")
            padding_idx %= num_embeddings
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            self.weight = Parameter(empty(num_embeddings, embedding_dim, dtype=as_dtype(dtype)),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight of shape {tuple(_weight.shape)} does not match "
                                 f"({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        indices = input.array if isinstance(input, Tensor) else np.asarray(input)
        if indices.dtype.kind not in "iu":
            raise TypeError(f"{self!r}: expected integer indices (int64), got dtype {indices.dtype}; "
                            "convert with .long()")
        if indices.size and (indices.min() < 0 or indices.max() >= self.num_embeddings):
            bad = indices[(indices < 0) | (indices >= self.num_embeddings)].flat[0]
            raise IndexError(f"{self!r}: index {int(bad)} is out of range; valid indices are "
                             f"0 to {self.num_embeddings - 1}")
        if self.max_norm is not None:
            self._renormalize_rows(np.unique(indices))
        return F.embedding(input, self.weight, self.padding_idx)

    def _renormalize_rows(self, rows: np.ndarray) -> None:
        """Scale the looked-up rows whose ``norm_type`` norm exceeds ``max_norm`` down to it,
        in place and unrecorded, as PyTorch does before the lookup."""
        weight = self.weight.array
        norms = np.linalg.norm(weight[rows].astype(np.float64), ord=self.norm_type, axis=1)
        scale = np.where(norms > self.max_norm, self.max_norm / (norms + 1e-7), 1.0)
        with no_grad():
            self.weight[rows] = weight[rows] * scale[:, None].astype(weight.dtype)

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True, padding_idx: int | None = None,
                        max_norm: float | None = None, norm_type: float = 2.0,
                        scale_grad_by_freq: bool = False, sparse: bool = False) -> Embedding:
        """An Embedding whose weight is ``embeddings`` (2-D: rows are the vectors), frozen
        unless ``freeze=False``.

        Example::

            >>> table = nn.Embedding.from_pretrained(chainrule.eye(4))
            >>> table.weight.requires_grad
            False
        """
        if embeddings.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D (num_embeddings, "
                             f"embedding_dim), got shape {tuple(embeddings.shape)}")
        rows, dim = embeddings.shape
        return cls(rows, dim, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=embeddings, _freeze=freeze)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            text += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            text += ", scale_grad_by_freq=True"
        if self.sparse:
            text += ", sparse=True"
        return text


class EmbeddingBag(Embedding):
    """The sum, mean or max of bags of embedding rows (``F.embedding_bag``): a text
    classifier's bag of words in one layer. Shapes: input (B, L), or (total,) with offsets
    (B,) → (B, embedding_dim).

    Example::

        >>> bag = nn.EmbeddingBag(10, 3, mode="sum")
        >>> bag(chainrule.tensor([1, 2, 4, 5, 4]), chainrule.tensor([0, 2])).shape
        (2, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm: float | None = None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean",
                 sparse: bool = False, _weight: Tensor | None = None, include_last_offset: bool = False,
                 padding_idx: int | None = None, device: Any = None, dtype: Any = None) -> None:
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"EmbeddingBag: mode must be 'sum', 'mean' or 'max', got {mode!r}")
        super().__init__(num_embeddings, embedding_dim, padding_idx, max_norm, norm_type,
                         scale_grad_by_freq, sparse, _weight, dtype=dtype)
        self.mode = mode
        self.include_last_offset = include_last_offset

    def forward(self, input: Tensor, offsets: Tensor | None = None,  # noqa: A002
                per_sample_weights: Tensor | None = None) -> Tensor:
        if self.max_norm is not None:
            self._renormalize_rows(np.unique(input.array if isinstance(input, Tensor) else input))
        return F.embedding_bag(input, self.weight, offsets, mode=self.mode,
                               per_sample_weights=per_sample_weights,
                               include_last_offset=self.include_last_offset, padding_idx=self.padding_idx)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            text += f", norm_type={self.norm_type}"
        text += f", mode={self.mode!r}"
        return text + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")

    @classmethod
    def from_pretrained(  # type: ignore[override]
                        cls, embeddings: Tensor, freeze: bool = True, max_norm: float | None = None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean",
                        sparse: bool = False, per_sample_weights: Any = None,
                        include_last_offset: bool = False, padding_idx: int | None = None) -> EmbeddingBag:
        """An EmbeddingBag whose weight is ``embeddings`` (2-D), frozen unless ``freeze=False``."""
        if embeddings.ndim != 2:
            raise ValueError(f"EmbeddingBag.from_pretrained: embeddings must be 2-D (num_embeddings, "
                             f"embedding_dim), got shape {tuple(embeddings.shape)}")
        rows, dim = embeddings.shape
        bag = cls(rows, dim, max_norm, norm_type, scale_grad_by_freq, mode, sparse, embeddings,
                  include_last_offset, padding_idx)
        bag.weight.requires_grad_(not freeze)
        return bag
