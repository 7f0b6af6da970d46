"""``chainrule.nn.functional``: the stateless form of layers, activations and losses, with
PyTorch's names and signatures (``import chainrule.nn.functional as F``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.ops.activation import LeakyRelu, Softmax, Softplus, elu, gelu, silu  # noqa: F401
from chainrule.ops.elementwise import relu, sigmoid, tanh  # noqa: F401
from chainrule.ops.linalg import linear  # noqa: F401
from chainrule.ops.loss import (  # noqa: F401
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    log_softmax,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from chainrule.ops.movement import pad  # noqa: F401
from chainrule.tensor import Tensor, _rng


def softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:  # noqa: A002
    """exp(x) / sum(exp(x)) along ``dim``, computed with the maximum subtracted."""
    if dtype is not None:
        input = input.type(dtype)
    if dim is None:
        dim = 0 if input.ndim in (0, 1, 3) else 1
    return Softmax.apply(input, dim % max(input.ndim, 1))


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:  # noqa: A002
    return LeakyRelu.apply(input, negative_slope)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    return Softplus.apply(input, beta, threshold)


def relu6(input: Tensor) -> Tensor:  # noqa: A002
    return input.clamp(0.0, 6.0)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:  # noqa: A002
    return input.clamp(min_val, max_val)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p) (inverted
    dropout), so evaluation needs no rescaling. Identity when not ``training``."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    keep = (_rng().random(input.shape, dtype=np.float32) >= p).astype(input.dtype)
    keep *= 1.0 / (1.0 - p)
    return input * Tensor._wrap(keep)


# Convolution, pooling, normalization, embedding and attention live with their ops in chainrule.ops.
from chainrule.ops.attention import scaled_dot_product_attention  # noqa: E402,F401
from chainrule.ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d  # noqa: E402,F401
from chainrule.ops.embedding import embedding, one_hot  # noqa: E402,F401
from chainrule.ops.norm import batch_norm, group_norm, layer_norm  # noqa: E402,F401
from chainrule.ops.pool import (  # noqa: E402,F401
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)
