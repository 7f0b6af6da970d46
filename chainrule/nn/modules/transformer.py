"""Attention layers: ``MultiheadAttention``, ``TransformerEncoderLayer``, ``TransformerEncoder``,
with PyTorch's constructor arguments, parameter names (``in_proj_weight``, ``out_proj.weight``,
``linear1``, ``norm1``, ...), mask conventions and initialisation, so state dicts interchange
with PyTorch.

Masks, as PyTorch's ``nn.MultiheadAttention`` reads them: a bool ``attn_mask`` or
``key_padding_mask`` is True where attention is *not* allowed; a float one is added to the scores.
(``F.scaled_dot_product_attention`` reads bool masks the other way round: True = may attend.)
A query whose every key is masked gets zero attention weights, where PyTorch's need_weights=True
path gives NaN.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.creation import empty, zeros
from chainrule.dtypes import as_dtype
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.modules.container import ModuleList
from chainrule.nn.modules.dropout import Dropout
from chainrule.nn.modules.linear import Linear
from chainrule.nn.modules.module import Module
from chainrule.nn.modules.normalization import LayerNorm
from chainrule.nn.parameter import Parameter
from chainrule.ops.attention import additive_mask, attention
from chainrule.ops.linalg import linear
from chainrule.ops.movement import cat, pad
from chainrule.tensor import Tensor


class NonDynamicallyQuantizableLinear(Linear):
    """A ``Linear``; PyTorch gives ``MultiheadAttention.out_proj`` this type so its quantizer
    leaves it alone, and the name is kept so reprs and type checks match."""


class MultiheadAttention(Module):
    """Attention with ``num_heads`` heads of size embed_dim / num_heads:
    ``concat(head_1, ..., head_h) W_O^T + b_O`` with head_i = softmax(Q_i K_i^T / sqrt(d) + mask) V_i
    and Q, K, V the input projections of query, key and value.

    Parameters: ``in_proj_weight`` (3E, E) and ``in_proj_bias`` (3E,), or, when kdim or vdim
    differ from E, ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim), ``v_proj_weight``
    (E, vdim); ``out_proj`` (a Linear E → E); ``bias_k``, ``bias_v`` (1, 1, E) with
    ``add_bias_kv``. Initialised as PyTorch: Xavier-uniform projections, zero biases.

    Shapes: query (L, N, E), key (S, N, kdim), value (S, N, vdim), or batch first with
    ``batch_first``, or unbatched (L, E) etc. Returns (output (L, N, E), weights): weights
    (N, L, S) averaged over heads, (N, num_heads, L, S) with ``average_attn_weights=False``,
    or None with ``need_weights=False``.

    Example::

        >>> mha = nn.MultiheadAttention(16, 4, batch_first=True)
        >>> x = chainrule.randn(2, 5, 16)
        >>> output, weights = mha(x, x, x)
        >>> output.shape, weights.shape
        ((2, 5, 16), (2, 5, 5))
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be a positive multiple "
                             f"of num_heads ({num_heads})")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1], got {dropout}")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        dtype = as_dtype(dtype)
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(empty(3 * embed_dim, embed_dim, dtype=dtype))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = Parameter(empty(embed_dim, embed_dim, dtype=dtype))
            self.k_proj_weight = Parameter(empty(embed_dim, self.kdim, dtype=dtype))
            self.v_proj_weight = Parameter(empty(embed_dim, self.vdim, dtype=dtype))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(empty(3 * embed_dim, dtype=dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        if add_bias_kv:
            self.bias_k: Parameter | None = Parameter(empty(1, 1, embed_dim, dtype=dtype))
            self.bias_v: Parameter | None = Parameter(empty(1, 1, embed_dim, dtype=dtype))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for weight in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None and self.bias_v is not None:  # both or neither
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}"

    def _label(self) -> str:
        """A one-line name for error messages (the repr spans lines)."""
        return f"MultiheadAttention(embed_dim={self.embed_dim}, num_heads={self.num_heads})"

    # --------------------------------------------------------------------------- checks
    def _check_inputs(self, query: Tensor, key: Tensor, value: Tensor) -> bool:
        """Whether the inputs are batched; raises on wrong ranks or sizes."""
        for name, tensor in (("query", query), ("key", key), ("value", value)):
            if not isinstance(tensor, Tensor):
                raise TypeError(f"{self._label()}: {name} must be a Tensor, got {type(tensor).__name__}")
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"{self._label()}: query, key and value must all be 3-D (batched) or all 2-D "
                             f"(unbatched), got shapes {tuple(query.shape)}, {tuple(key.shape)}, "
                             f"{tuple(value.shape)}")
        sizes = (("query", query, self.embed_dim), ("key", key, self.kdim), ("value", value, self.vdim))
        for name, tensor, size in sizes:
            if tensor.shape[-1] != size:
                raise RuntimeError(f"{self._label()}: expected {name} with last dimension {size}, got shape "
                                   f"{tuple(tensor.shape)}")
        if key.shape[:-1] != value.shape[:-1]:
            raise RuntimeError(f"{self._label()}: key and value must agree in all but the last dimension, "
                               f"got shapes {tuple(key.shape)} and {tuple(value.shape)}")
        if query.ndim == 3:
            batch_dim = 0 if self.batch_first else 1
            if query.shape[batch_dim] != key.shape[batch_dim]:
                raise RuntimeError(f"{self._label()}: query and key have different batch sizes, shapes "
                                   f"{tuple(query.shape)} and {tuple(key.shape)} "
                                   f"(batch_first={self.batch_first})")
        return query.ndim == 3

    def _merged_mask(self, attn_mask: Any, key_padding_mask: Any, batch: int, length: int,
                     source: int, batched: bool, dtype: np.dtype) -> tuple[Tensor | None, Tensor | None]:
        """The float masks to add to the scores, checked and shaped to broadcast against
        (N, heads, L, S): attn_mask (1 | N, 1 | heads, L, S), key_padding_mask (N, 1, 1, S)."""
        merged_attn = merged_padding = None
        if attn_mask is not None:
            mask = additive_mask(attn_mask, dtype, masked_value=True, op="MultiheadAttention")
            per_head = (batch * self.num_heads if batched else self.num_heads, length, source)
            if mask.shape == (length, source):
                merged_attn = mask.reshape(1, 1, length, source)
            elif mask.shape == per_head:
                merged_attn = mask.reshape(batch, self.num_heads, length, source)
            else:
                raise RuntimeError(f"{self._label()}: attn_mask must have shape {(length, source)} or "
                                   f"{per_head}, got {tuple(mask.shape)}")
        if key_padding_mask is not None:
            mask = additive_mask(key_padding_mask, dtype, masked_value=True, op="MultiheadAttention")
            expected = (batch, source) if batched else (source,)
            if mask.shape != expected:
                raise RuntimeError(f"{self._label()}: key_padding_mask must have shape {expected} "
                                   f"(N, S), got {tuple(mask.shape)}")
            merged_padding = mask.reshape(batch, 1, 1, source)
        return merged_attn, merged_padding

    # --------------------------------------------------------------------------- forward
    def _in_projection(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, ...]:
        size, bias, weight = self.embed_dim, self.in_proj_bias, self.in_proj_weight
        if self._qkv_same_embed_dim and query is key and key is value:
            return linear(query, weight, bias).chunk(3, -1)  # self-attention: one matmul for all three
        biases = [None] * 3 if bias is None else [bias[:size], bias[size:2 * size], bias[2 * size:]]
        if self._qkv_same_embed_dim:
            weights = (weight[:size], weight[size:2 * size], weight[2 * size:])
        else:
            weights = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        return tuple(linear(x, w, b) for x, w, b in zip((query, key, value), weights, biases))

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        """``is_causal`` is a hint, as in PyTorch: the mask itself must be given in ``attn_mask``."""
        batched = self._check_inputs(query, key, value)
        if is_causal and attn_mask is None:
            raise RuntimeError(f"{self._label()}: is_causal=True is only a hint and needs attn_mask; "
                               "pass the causal mask, e.g. torch.triu(torch.ones(L, L, dtype=torch.bool), 1)")
        same = query is key, key is value
        if not batched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
        elif not self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        if same[0] and same[1]:  # keep self-attention recognisable for the fused projection
            key = value = query
        batch, length, source = query.shape[0], query.shape[1], key.shape[1]
        attn_bias, padding_bias = self._merged_mask(attn_mask, key_padding_mask, batch, length, source,
                                                    batched, query.dtype)
        q, k, v = self._in_projection(query, key, value)
        if self.bias_k is not None and self.bias_v is not None:  # both or neither
            k = cat([k, self.bias_k.expand(batch, 1, self.embed_dim)], dim=1)
            v = cat([v, self.bias_v.expand(batch, 1, self.embed_dim)], dim=1)
            attn_bias, padding_bias = _extra_key(attn_bias), _extra_key(padding_bias)
        q, k, v = (self._split_heads(t) for t in (q, k, v))
        if self.add_zero_attn:
            k = cat([k, zeros(*k.shape[:2], 1, self.head_dim, dtype=k.dtype)], dim=2)
            v = cat([v, zeros(*v.shape[:2], 1, self.head_dim, dtype=v.dtype)], dim=2)
            attn_bias, padding_bias = _extra_key(attn_bias), _extra_key(padding_bias)
        mask = attn_bias if padding_bias is None else padding_bias
        if attn_bias is not None and padding_bias is not None:
            mask = attn_bias + padding_bias
        dropout_p = self.dropout if self.training else 0.0
        heads, weights = attention(q, k, v, mask, dropout_p, 1.0 / math.sqrt(self.head_dim))
        output = self.out_proj(heads.transpose(1, 2).reshape(batch, length, self.embed_dim))
        if not batched:
            output = output.squeeze(0)
        elif not self.batch_first:
            output = output.transpose(0, 1)
        if not need_weights:
            return output, None
        if average_attn_weights:
            weights = weights.mean(1)
        return output, weights if batched else weights.squeeze(0)

    def _split_heads(self, tensor: Tensor) -> Tensor:
        """(N, S, E) → (N, heads, S, head_dim)."""
        batch, length = tensor.shape[:2]
        return tensor.reshape(batch, length, self.num_heads, self.head_dim).transpose(1, 2)


def _extra_key(mask: Tensor | None) -> Tensor | None:
    """A mask widened by one key that every query may attend (bias_k/bias_v, add_zero_attn)."""
    return None if mask is None else pad(mask, (0, 1))


def _activation_function(activation: str | Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    if callable(activation):
        return activation
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise RuntimeError(f"TransformerEncoderLayer: activation should be relu/gelu or a callable, "
                       f"not {activation!r}")


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block, each with dropout, a residual connection and
    layer norm: ``x = norm1(x + sa(x)); x = norm2(x + ff(x))``, or with ``norm_first``
    ``x = x + sa(norm1(x)); x = x + ff(norm2(x))``. ff(x) = linear2(dropout(activation(linear1(x)))).

    Shapes: src (L, N, d_model), or (N, L, d_model) with ``batch_first``, or (L, d_model) →
    the same. ``src_mask`` and ``src_key_padding_mask`` as ``MultiheadAttention``'s attn_mask and
    key_padding_mask; ``is_causal`` is a hint that src_mask is causal.

    Example::

        >>> layer = nn.TransformerEncoderLayer(d_model=16, nhead=4, dim_feedforward=32, batch_first=True)
        >>> layer(chainrule.randn(2, 5, 16)).shape
        (2, 5, 16)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = F.relu, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation_function(activation)

    def forward(self, src: Tensor, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Tensor:
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x))

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any, is_causal: bool) -> Tensor:
        output, _ = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                   need_weights=False, is_causal=is_causal)
        return self.dropout1(output)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoder(Module):
    """``num_layers`` independent copies (deep copies) of ``encoder_layer`` applied in turn,
    then ``norm`` if given. Shapes and masks as ``TransformerEncoderLayer``.

    Example::

        >>> layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32)
        >>> encoder = nn.TransformerEncoder(layer, num_layers=2)
        >>> encoder(chainrule.randn(5, 2, 16)).shape
        (5, 2, 16)
    """

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        super().__init__()
        if not isinstance(encoder_layer, Module):
            raise TypeError(f"TransformerEncoder: encoder_layer must be a Module, got "
                            f"{type(encoder_layer).__name__}")
        if num_layers <= 0:
            raise ValueError(f"TransformerEncoder: num_layers must be positive, got {num_layers}")
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor  # PyTorch's sparse fast path; not used here
        self.mask_check = mask_check

    def forward(self, src: Tensor, mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool | None = None) -> Tensor:
        output = src
        for layer in self.layers:
            output = layer(output, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                           is_causal=bool(is_causal))
        return self.norm(output) if self.norm is not None else output



class TransformerDecoderLayer(Module):
    """Self-attention over the target, attention to the encoder's output (``memory``), then a
    feed-forward block; each with dropout, a residual connection and layer norm (before each
    block with ``norm_first``, after it otherwise), as ``TransformerEncoderLayer``.

    Shapes: tgt (T, N, d_model), memory (S, N, d_model), or batch first with ``batch_first``, or
    unbatched → (T, N, d_model). Masks as ``MultiheadAttention``'s: ``tgt_mask`` (T, T),
    ``memory_mask`` (T, S), key padding masks (N, T) and (N, S).

    Example::

        >>> layer = nn.TransformerDecoderLayer(16, 4, dim_feedforward=32, batch_first=True)
        >>> layer(chainrule.randn(2, 3, 16), chainrule.randn(2, 5, 16)).shape
        (2, 3, 16)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = F.relu, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation_function(activation)

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Any = None, memory_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                tgt_is_causal: bool = False, memory_is_causal: bool = False) -> Tensor:
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                                    memory_is_causal)
            return x + self._ff_block(self.norm3(x))
        x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
        x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
        return self.norm3(x + self._ff_block(x))

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any, is_causal: bool) -> Tensor:
        output, _ = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                   need_weights=False, is_causal=is_causal)
        return self.dropout1(output)

    def _mha_block(self, x: Tensor, memory: Tensor, attn_mask: Any, key_padding_mask: Any,
                   is_causal: bool) -> Tensor:
        output, _ = self.multihead_attn(x, memory, memory, attn_mask=attn_mask,
                                        key_padding_mask=key_padding_mask, need_weights=False,
                                        is_causal=is_causal)
        return self.dropout2(output)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoder(Module):
    """``num_layers`` independent copies (deep copies) of ``decoder_layer`` applied in turn, each
    attending to ``memory``, then ``norm`` if given. Shapes and masks as
    ``TransformerDecoderLayer``.

    Example::

        >>> decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(16, 4, 32), num_layers=2)
        >>> decoder(chainrule.randn(3, 2, 16), chainrule.randn(5, 2, 16)).shape
        (3, 2, 16)
    """

    def __init__(self, decoder_layer: Module, num_layers: int, norm: Module | None = None) -> None:
        super().__init__()
        if not isinstance(decoder_layer, Module):
            raise TypeError(f"TransformerDecoder: decoder_layer must be a Module, got "
                            f"{type(decoder_layer).__name__}")
        if num_layers <= 0:
            raise ValueError(f"TransformerDecoder: num_layers must be positive, got {num_layers}")
        self.layers = ModuleList([copy.deepcopy(decoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Any = None, memory_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        output = tgt
        for layer in self.layers:
            output = layer(output, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                           tgt_key_padding_mask=tgt_key_padding_mask,
                           memory_key_padding_mask=memory_key_padding_mask,
                           tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        return self.norm(output) if self.norm is not None else output


class Transformer(Module):
    """The encoder-decoder of "Attention Is All You Need": a ``TransformerEncoder`` over ``src``
    and a ``TransformerDecoder`` over ``tgt`` attending to the encoder's output, each with a
    final LayerNorm. Every parameter with more than one dimension is re-initialised
    Xavier-uniform, as PyTorch's.

    Shapes: src (S, N, d_model), tgt (T, N, d_model) (batch first with ``batch_first``, or
    unbatched) → (T, N, d_model). Masks as ``MultiheadAttention``'s.

    Example::

        >>> model = nn.Transformer(d_model=16, nhead=4, num_encoder_layers=1, num_decoder_layers=1,
        ...                        dim_feedforward=32)
        >>> tgt_mask = nn.Transformer.generate_square_subsequent_mask(3)
        >>> model(chainrule.randn(5, 2, 16), chainrule.randn(3, 2, 16), tgt_mask=tgt_mask).shape
        (3, 2, 16)
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = F.relu, custom_encoder: Module | None = None,
                 custom_decoder: Module | None = None, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        layer_args = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                          layer_norm_eps=layer_norm_eps, batch_first=batch_first,
                          norm_first=norm_first, bias=bias, dtype=dtype)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(
                TransformerEncoderLayer(d_model, nhead, **layer_args), num_encoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(
                TransformerDecoderLayer(d_model, nhead, **layer_args), num_decoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        for param in self.parameters():
            if param.ndim > 1:
                init.xavier_uniform_(param)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> Tensor:
        """A float (sz, sz) mask: 0 on and below the diagonal, -inf above (no peeking ahead)."""
        return Tensor._wrap(np.triu(np.full((sz, sz), -np.inf), 1).astype(as_dtype(dtype)))

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Any = None, tgt_mask: Any = None,
                memory_mask: Any = None, src_key_padding_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                src_is_causal: bool | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        batch_dim = 0 if self.batch_first else 1
        if src.ndim == 3 and (tgt.ndim != 3 or src.shape[batch_dim] != tgt.shape[batch_dim]):
            raise RuntimeError(f"Transformer: the batch sizes of src {tuple(src.shape)} and tgt "
                               f"{tuple(tgt.shape)} must be equal (batch_first={self.batch_first})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(f"Transformer: the feature sizes of src {tuple(src.shape)} and tgt "
                               f"{tuple(tgt.shape)} must equal d_model={self.d_model}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
