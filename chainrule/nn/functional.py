"""``chainrule.nn.functional``: the stateless form of layers, activations and losses, with
PyTorch's names and signatures (``import chainrule.nn.functional as F``)."""

from __future__ import annotations

import warnings
from typing import Any

from chainrule.nn.composed import *  # noqa: F403 (activations, distances and losses built from ops)
from chainrule.ops.activation import LeakyRelu, Softmax, Softplus, elu, gelu, silu  # noqa: F401
from chainrule.ops.dropout import dropout, feature_dropout  # noqa: F401
from chainrule.ops.elementwise import relu, sigmoid, tanh  # noqa: F401
from chainrule.ops.inplace import relu_  # noqa: F401
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
from chainrule.tensor import Tensor


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


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002
    """Channel dropout for (N, C, L) or (C, L) input: each channel of each sample is zeroed
    with probability ``p`` (survivors scaled by 1 / (1 - p)). Other ranks raise, as PyTorch.

    Example::

        >>> F.dropout1d(chainrule.ones(2, 3, 5), 0.5, training=False).shape
        (2, 3, 5)
    """
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input; dropout1d drops "
            "channels of (N, C, L) or (C, L) input"
        )
    if input.ndim == 2:
        return feature_dropout(input.unsqueeze(0), p, training).squeeze(0)
    return feature_dropout(input, p, training)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002
    """Channel dropout for (N, C, H, W) input: each feature map is zeroed with probability ``p``.

    As PyTorch 2.13 does, other ranks warn and then drop along the first two dimensions as
    (N, C): 3-D input as (N, C, L) (channel-wise 1-D dropout), 2-D input element by element.

    Example::

        >>> F.dropout2d(chainrule.ones(2, 3, 4, 4), 0.5, training=False).shape
        (2, 3, 4, 4)
    """
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
            "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel dim. "
            "To maintain the 1D channel-wise dropout behavior, please switch to using dropout1d instead.",
            UserWarning,
            stacklevel=2,
        )
    elif input.ndim != 4:
        warnings.warn(
            f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated and will "
            "result in an error in a future release. To retain the behavior and silence this warning, "
            "please use dropout instead.",
            UserWarning,
            stacklevel=2,
        )
    return feature_dropout(input, p, training)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002
    """Channel dropout for (N, C, D, H, W) or (C, D, H, W) input: each volume is zeroed with
    probability ``p``. Other ranks warn (as PyTorch 2.13) and are read as unbatched: a
    leading batch dimension of 1 is added, so the first dimension is the channel.

    Example::

        >>> F.dropout3d(chainrule.ones(2, 3, 2, 2, 2), 0.5, training=False).shape
        (2, 3, 2, 2, 2)
    """
    if input.ndim not in (4, 5):
        warnings.warn(
            f"dropout3d: Received a {input.ndim}-D input to dropout3d, which is deprecated and will "
            "result in an error in a future release. To retain the behavior and silence this warning, "
            "please use dropout instead.",
            UserWarning,
            stacklevel=2,
        )
    if input.ndim != 5:
        return feature_dropout(input.unsqueeze(0), p, training).squeeze(0)
    return feature_dropout(input, p, training)


# Convolution, pooling, normalization, embedding and attention live with their ops in chainrule.ops.
from chainrule.ops.attention import scaled_dot_product_attention  # noqa: E402,F401
from chainrule.ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d  # noqa: E402,F401
from chainrule.ops.embedding import embedding, embedding_bag, one_hot  # noqa: E402,F401
from chainrule.ops.norm import batch_norm, group_norm, instance_norm, layer_norm  # noqa: E402,F401
from chainrule.ops.pool import (  # noqa: E402,F401
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)
