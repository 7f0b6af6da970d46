"""Scaled dot-product attention, ``softmax(Q K^T * scale + mask) V``, as PyTorch's
``F.scaled_dot_product_attention``, and the masked attention core that ``nn.MultiheadAttention``
shares with it.

Composed of chainrule ops (matmul, the fused softmax, where), so gradients of every order flow to
the query, key, value and a float mask. A row whose every key is masked out attends to nothing and
gives zeros (PyTorch's scaled_dot_product_attention does the same), never NaN.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.ops.activation import Softmax
from chainrule.ops.dropout import dropout
from chainrule.ops.elementwise import where
from chainrule.tensor import Tensor


def additive_mask(mask: Any, dtype: np.dtype, masked_value: bool, op: str) -> Tensor:
    """The float mask added to attention scores. A bool ``mask`` becomes -inf where it equals
    ``masked_value`` and 0 elsewhere; a float mask is used as it is (cast to ``dtype``, so it
    never promotes a float32 computation)."""
    if not isinstance(mask, Tensor):
        mask = Tensor._wrap(np.asarray(mask))
    if mask.dtype == np.bool_:
        hidden = mask.array if masked_value else ~mask.array
        return Tensor._wrap(np.where(hidden, -np.inf, 0.0).astype(dtype))
    if mask.dtype.kind != "f":
        raise TypeError(f"{op}: a mask must be bool or floating point, got dtype {mask.dtype}")
    return mask if mask.dtype == dtype else mask.type(dtype)


def causal_mask(query_length: int, key_length: int, dtype: np.dtype) -> Tensor:
    """0 where query i may see key j (j <= i), -inf above the diagonal; shape (L, S)."""
    allowed = np.tri(query_length, key_length, dtype=bool)
    return Tensor._wrap(np.where(allowed, 0.0, -np.inf).astype(dtype))


def attention(query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None, dropout_p: float,
              scale: float) -> tuple[Tensor, Tensor]:
    """(output, weights): weights = softmax(query key^T * scale + mask), then dropout with
    probability ``dropout_p``, and output = weights value. Shapes: query (*, L, E), key (*, S, E),
    value (*, S, Ev), mask broadcastable to (*, L, S) → (*, L, Ev) and (*, L, S)."""
    scores = (query @ key.mT) * scale
    dead = None
    if mask is not None:
        scores = scores + mask
        # Rows with every key masked would be 0/0; give them zero weights and zero gradient.
        dead = np.isneginf(scores.array).all(axis=-1, keepdims=True)
        if dead.any():
            scores = where(dead, 0.0, scores)
        else:
            dead = None
    weights = Softmax.apply(scores, scores.ndim - 1)
    if dead is not None:
        weights = where(dead, 0.0, weights)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, training=True)
    return weights @ value, weights


def _check_shapes(query: Tensor, key: Tensor, value: Tensor) -> None:
    op = "scaled_dot_product_attention"
    for name, tensor in (("query", query), ("key", key), ("value", value)):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(tensor).__name__}")
        if tensor.ndim < 2:
            raise ValueError(f"{op}: {name} needs at least 2 dimensions (*, length, features), "
                             f"got shape {tuple(tensor.shape)}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(
            f"{op}: query (*, L, E), key (*, S, E) and value (*, S, Ev) must agree on E and S; got "
            f"query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}"
        )
    if not query.dtype == key.dtype == value.dtype:
        raise TypeError(f"{op}: query, key and value must have one dtype, got {query.dtype}, "
                        f"{key.dtype} and {value.dtype}")


def _repeat_heads(tensor: Tensor, groups: int) -> Tensor:
    """(*, H, S, E) → (*, H * groups, S, E), each head repeated ``groups`` times in a row."""
    shape = tensor.shape
    expanded = tensor.unsqueeze(-3).expand(*shape[:-2], groups, *shape[-2:])
    return expanded.reshape(*shape[:-3], shape[-3] * groups, *shape[-2:])


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Any = None,
                                 dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: float | None = None, enable_gqa: bool = False) -> Tensor:
    """softmax(query key^T * scale + mask) value, with scale 1/sqrt(E) by default.

    Shapes: query (*, L, E), key (*, S, E), value (*, S, Ev) → (*, L, Ev); leading dimensions
    broadcast. ``attn_mask`` broadcasts to (*, L, S): bool (True = may attend) or float (added
    to the scores). ``is_causal`` masks keys after each query (no ``attn_mask`` then).
    ``dropout_p`` drops attention weights whenever it is > 0 (pass 0.0 in evaluation).
    ``enable_gqa`` lets key and value have fewer heads (dim -3) than query, each serving a group.

    Example::

        >>> q = chainrule.randn(2, 4, 5, 8)                   # (N, heads, L, E)
        >>> F.scaled_dot_product_attention(q, q, q, is_causal=True).shape
        (2, 4, 5, 8)
    """
    _check_shapes(query, key, value)
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1], got {dropout_p}")
    if enable_gqa and key.ndim >= 3 and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        if query.shape[-3] % key.shape[-3]:
            raise ValueError(f"scaled_dot_product_attention: with enable_gqa the query's {query.shape[-3]} "
                             f"heads must be a multiple of the key's {key.shape[-3]}")
        groups = query.shape[-3] // key.shape[-3]
        key, value = _repeat_heads(key, groups), _repeat_heads(value, groups)
    mask = None
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: pass either attn_mask or is_causal=True, "
                             "not both (fold the causal mask into attn_mask instead)")
        mask = causal_mask(query.shape[-2], key.shape[-2], query.dtype)
    elif attn_mask is not None:
        mask = additive_mask(attn_mask, query.dtype, masked_value=False, op="scaled_dot_product_attention")
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    output, _ = attention(query, key, value, mask, dropout_p, scale)
    return output
