"""``chainrule.nn.functional``'s activations, distances, losses and reshuffles that are built
from chainrule's own ops, so their gradients (first and second order) are those of ops the op
database already checks. Each follows PyTorch's definition and signature; the module docstrings
of ``chainrule.nn.modules`` name the layers that call them.

Example::

    >>> import chainrule.nn.functional as F
    >>> F.hardswish(chainrule.tensor([-4.0, 0.0, 1.0, 4.0]))
    tensor([-0.0000,  0.0000,  0.6667,  4.0000])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.ops.activation import Softplus, elu
from chainrule.ops.elementwise import abs as absolute
from chainrule.ops.elementwise import exp, log, maximum, minimum, sigmoid, tanh, where
from chainrule.ops.loss import as_target, reduce_loss
from chainrule.ops.movement import getitem
from chainrule.tensor import Tensor
from chainrule.window import expand_param

# SELU's constants, from its definition (Klambauer et al., 2017, "Self-Normalizing Neural Networks")
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


# ------------------------------------------------------------------------------- activations
def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """0 below -3, 1 above 3, x / 6 + 1/2 between: a piecewise-linear sigmoid."""
    return (input + 3.0).clamp(0.0, 6.0) / 6.0


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """x * hardsigmoid(x) (MobileNetV3's activation)."""
    return input * hardsigmoid(input)


def mish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """x * tanh(softplus(x))."""
    return input * tanh(Softplus.apply(input, 1.0, 20.0))


def prelu(input: Tensor, weight: Tensor) -> Tensor:  # noqa: A002
    """x where x >= 0, else weight * x, with one learned slope per channel (dimension 1) or one
    for all. Shapes: input (N, C, *) or (C,), weight (C,) or (1,)."""
    if weight.numel() != 1:
        channels = input.shape[1] if input.ndim >= 2 else input.shape[0]
        if weight.numel() != channels:
            raise ValueError(f"prelu: {weight.numel()} slopes for {channels} channels; give one "
                             "slope, or one per channel (dimension 1 of the input)")
        if input.ndim >= 2:
            weight = weight.reshape((channels,) + (1,) * (input.ndim - 2))
    return where(input >= 0, input, weight * input)


def softmin(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:  # noqa: A002
    """softmax(-x) along ``dim``: weights that favour the smallest entries."""
    from chainrule.nn.functional import softmax

    return softmax(-input, dim, dtype)


def logsigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """log(sigmoid(x)) = -softplus(-x), without overflow for large |x|."""
    return -Softplus.apply(-input, 1.0, 20.0)


def softsign(input: Tensor) -> Tensor:  # noqa: A002
    """x / (1 + |x|)."""
    return input / (absolute(input) + 1.0)


def tanhshrink(input: Tensor) -> Tensor:  # noqa: A002
    """x - tanh(x)."""
    return input - tanh(input)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (it divides the input)")
    negative = exp(minimum(input, 0.0) / alpha) - 1.0  # exp of non-positive values only
    return where(input > 0, input, negative * alpha)


def selu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """scale * elu(x, alpha), with SELU's fixed alpha and scale."""
    return elu(input, SELU_ALPHA) * SELU_SCALE


def glu(input: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    """The gated linear unit: the first half of ``dim`` times the sigmoid of the second half.
    Shape: (*, 2n, *) → (*, n, *)."""
    size = input.shape[dim]
    if size % 2:
        raise ValueError(f"glu: dimension {dim} has odd size {size}; it must split in halves")
    first, second = input.split(size // 2, dim)
    return first * sigmoid(second)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:  # noqa: A002
    """x where |x| > lambd, else 0."""
    return where(absolute(input) > lambd, input, 0.0)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:  # noqa: A002
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""
    return where(input > lambd, input - lambd, where(input < -lambd, input + lambd, 0.0))


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:  # noqa: A002
    """x where x > threshold, else ``value``."""
    return where(input > threshold, input, value)


# --------------------------------------------------------------------------------- distances
def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:  # noqa: A002
    """x / max(||x||_p, eps) along ``dim``: unit vectors, zero vectors left at zero."""
    return input / maximum(input.norm(p, dim=dim, keepdim=True), eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """The cosine of the angle between x1 and x2 along ``dim`` (shapes broadcast), each norm
    clamped below at ``eps``. Shape: (*, D, *) → (*, *)."""
    return (normalize(x1, 2.0, dim, eps) * normalize(x2, 2.0, dim, eps)).sum(dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p over the last dimension (eps keeps the gradient finite at 0).
    Shape: (N, D) → (N,)."""
    return (x1 - x2 + eps).norm(p, dim=-1, keepdim=keepdim)


# ------------------------------------------------------------------------------------ losses
def kl_div(input: Tensor, target: Any, size_average: Any = None, reduce: Any = None,  # noqa: A002
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence with ``input`` as log-probabilities: target * (log(target) -
    input), 0 where target is 0. ``reduction="batchmean"`` divides the sum by the batch size,
    which is the true KL divergence ("mean" divides by the number of elements, as PyTorch)."""
    target = as_target(target, input)
    if log_target:
        pointwise = exp(target) * (target - input)
    else:
        positive = target > 0
        safe = where(positive, target, 1.0)  # log(1) = 0: no nan where target is 0
        pointwise = where(positive, target * (log(safe) - input), 0.0 * input)
    if reduction == "batchmean":
        return pointwise.sum() / (input.shape[0] if input.ndim else 1)
    return reduce_loss(pointwise, reduction, "kl_div")


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Any, margin: float = 0.0,
                        reduction: str = "mean") -> Tensor:
    """max(0, -target * (input1 - input2) + margin), target being 1 or -1."""
    target = as_target(target, input1)
    return reduce_loss(maximum(-target * (input1 - input2) + margin, 0.0), reduction, "margin_ranking_loss")


def soft_margin_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """log(1 + exp(-target * input)), target being 1 or -1."""
    target = as_target(target, input)
    return reduce_loss(Softplus.apply(-target * input, 1.0, 20.0), reduction, "soft_margin_loss")


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Any, margin: float = 0.0,
                          reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1; the
    cosine over the last dimension. Shapes: (N, D), (N, D), (N,) → scalar (or (N,))."""
    target = as_target(target, input1)
    eps = 1e-12
    dot = (input1 * input2).sum(-1)
    cosine = dot / ((((input1 * input1).sum(-1) + eps) * ((input2 * input2).sum(-1) + eps)).sqrt())
    pointwise = where(target == 1, 1.0 - cosine, where(target == -1, maximum(cosine - margin, 0.0), 0.0))
    return reduce_loss(pointwise, reduction, "cosine_embedding_loss")


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0,
                        p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                        size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> Tensor:
    """max(d(anchor, positive) - d(anchor, negative) + margin, 0) with ``pairwise_distance``;
    ``swap`` takes the smaller of d(anchor, negative) and d(positive, negative)."""
    to_positive = pairwise_distance(anchor, positive, p, eps)
    to_negative = pairwise_distance(anchor, negative, p, eps)
    if swap:
        to_negative = minimum(to_negative, pairwise_distance(positive, negative, p, eps))
    return reduce_loss(maximum(to_positive - to_negative + margin, 0.0), reduction, "triplet_margin_loss")


def poisson_nll_loss(input: Tensor, target: Any, log_input: bool = True, full: bool = False,  # noqa: A002
                     size_average: Any = None, eps: float = 1e-8, reduce: Any = None,
                     reduction: str = "mean") -> Tensor:
    """The Poisson negative log-likelihood of ``target`` counts at rate exp(input) (or at rate
    input with ``log_input=False``); ``full`` adds Stirling's term for log(target!)."""
    target = as_target(target, input)
    pointwise = exp(input) - target * input if log_input else input - target * log(input + eps)
    if full:
        counts = target.array
        safe = np.where(counts > 1, counts, 1.0)
        stirling = np.where(counts > 1, safe * np.log(safe) - safe + 0.5 * np.log(2 * math.pi * safe), 0.0)
        pointwise = pointwise + Tensor._wrap(stirling.astype(input.dtype, copy=False))
    return reduce_loss(pointwise, reduction, "poisson_nll_loss")


def gaussian_nll_loss(input: Tensor, target: Any, var: Any, full: bool = False,  # noqa: A002
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """0.5 * (log(var) + (input - target)² / var) (+ 0.5 log(2 pi) with ``full``). ``var`` is
    clamped below at ``eps`` for the value only: its gradient passes as if unclamped, as in
    PyTorch. ``var`` has the input's shape, or lacks its last dimension or has size 1 there."""
    target = as_target(target, input)
    var = as_target(var, input)
    if var.shape != input.shape and var.shape == input.shape[:-1]:
        var = var.unsqueeze(-1)
    if bool((var.array < 0).any()):
        raise ValueError("gaussian_nll_loss: var has negative entries; variances must be >= 0")
    var = var + (var.clamp(min=eps) - var).detach()
    pointwise = (log(var) + (input - target) ** 2 / var) * 0.5
    if full:
        pointwise = pointwise + 0.5 * math.log(2 * math.pi)
    return reduce_loss(pointwise, reduction, "gaussian_nll_loss")


# ------------------------------------------------------------------------------- reshuffles
def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:  # noqa: A002
    """(*, C * r², H, W) → (*, C, H * r, W * r): channels moved into space (sub-pixel
    convolution's upsampling)."""
    r = upscale_factor
    *batch, channels, height, width = input.shape
    if channels % (r * r):
        raise ValueError(f"pixel_shuffle: {channels} channels do not divide by upscale_factor² = {r * r}")
    lead = len(batch)
    x = input.reshape((*batch, channels // (r * r), r, r, height, width))
    x = x.permute(*range(lead), lead, lead + 3, lead + 1, lead + 4, lead + 2)
    return x.reshape((*batch, channels // (r * r), height * r, width * r))


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:  # noqa: A002
    """(*, C, H * r, W * r) → (*, C * r², H, W): the inverse of ``pixel_shuffle``."""
    r = downscale_factor
    *batch, channels, height, width = input.shape
    if height % r or width % r:
        raise ValueError(f"pixel_unshuffle: height {height} and width {width} must divide by "
                         f"downscale_factor {r}")
    lead = len(batch)
    x = input.reshape((*batch, channels, height // r, r, width // r, r))
    x = x.permute(*range(lead), lead, lead + 2, lead + 4, lead + 1, lead + 3)
    return x.reshape((*batch, channels * r * r, height // r, width // r))


def interpolate(input: Tensor, size: int | Sequence[int] | None = None,  # noqa: A002
                scale_factor: float | Sequence[float] | None = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize the spatial dimensions of (N, C, *spatial) input, by nearest neighbour (PyTorch's
    ``mode="nearest"``: source index floor(i * in / out), or floor(i / scale_factor) when a
    scale factor is given). The gradient adds each output's gradient to its source."""
    if mode != "nearest":
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported yet; use mode='nearest'")
    spatial = input.shape[2:]
    if not spatial:
        raise ValueError(f"interpolate: input of shape {tuple(input.shape)} has no spatial "
                         "dimensions; give (N, C, *spatial)")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    count = len(spatial)
    if size is not None:
        sizes = [int(size)] * count if isinstance(size, int) else [int(s) for s in size]
        scales = [n / s for n, s in zip(spatial, sizes, strict=True)]
    else:
        given: Any = scale_factor  # not None: checked above
        factors = [float(f) for f in given] if isinstance(given, Sequence) else [float(given)] * count
        sizes = [math.floor(n * f) for n, f in zip(spatial, factors, strict=True)]
        scales = [n / s if recompute_scale_factor else 1.0 / f
                  for n, s, f in zip(spatial, sizes, factors, strict=True)]
    index: list[Any] = [slice(None), slice(None)]
    for axis, (n, s, scale) in enumerate(zip(spatial, sizes, scales, strict=True)):
        source = np.minimum(np.floor(np.arange(s) * np.float32(scale)).astype(np.int64), n - 1)
        shape = [1] * count
        shape[axis] = s
        index.append(source.reshape(shape))
    return getitem(input, tuple(index))


def upsample(input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",  # noqa: A002
             align_corners: bool | None = None) -> Tensor:
    """The older name of ``interpolate``."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def _identity_kernel(channels: int, kernel: tuple[int, ...], dtype: Any) -> Tensor:
    """(C kh kw, C, kh, kw) with a 1 at [c kh kw + i kw + j, c, i, j]: the convolution that
    copies each window into a column, in PyTorch's unfold order."""
    kh, kw = kernel
    weight = np.zeros((channels * kh * kw, channels, kh, kw), dtype)
    c, i, j = np.meshgrid(np.arange(channels), np.arange(kh), np.arange(kw), indexing="ij")
    weight[((c * kh + i) * kw + j).ravel(), c.ravel(), i.ravel(), j.ravel()] = 1
    return Tensor._wrap(weight)


def unfold(input: Tensor, kernel_size: int | Sequence[int], dilation: int | Sequence[int] = 1,  # noqa: A002
           padding: int | Sequence[int] = 0, stride: int | Sequence[int] = 1) -> Tensor:
    """Sliding windows as columns (im2col): (N, C, H, W) → (N, C kh kw, L), L the number of
    window positions. A convolution with a kernel that copies, so the gradient is the
    convolution's (each column entry added back to the element it came from).

    Example::

        >>> F.unfold(chainrule.arange(16.0).reshape(1, 1, 4, 4), 2, stride=2)[0, :, 0]
        tensor([0., 1., 4., 5.])
    """
    from chainrule.ops.conv import conv2d

    if input.ndim != 4:
        raise ValueError(f"unfold: expected a 4-D input (N, C, H, W), got shape {tuple(input.shape)}")
    kernel = expand_param(kernel_size, 2, "kernel_size", "unfold", 1)
    copying = _identity_kernel(input.shape[1], kernel, input.dtype)
    columns = conv2d(input, copying, None, stride, padding, dilation)
    return columns.reshape(columns.shape[0], columns.shape[1], -1)


def fold(input: Tensor, output_size: int | Sequence[int], kernel_size: int | Sequence[int],  # noqa: A002
         dilation: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
         stride: int | Sequence[int] = 1) -> Tensor:
    """Columns back into an image, overlapping entries added (col2im; the adjoint of
    ``unfold``): (N, C kh kw, L) → (N, C, *output_size)."""
    from chainrule.ops.conv import conv_transpose2d

    kernel, size = (expand_param(v, 2, name, "fold", 1) for v, name in
                    ((kernel_size, "kernel_size"), (output_size, "output_size")))
    strides, dilations = (expand_param(v, 2, name, "fold", 1) for v, name in
                          ((stride, "stride"), (dilation, "dilation")))
    pads = expand_param(padding, 2, "padding", "fold", 0)
    blocks = [(size[d] + 2 * pads[d] - dilations[d] * (kernel[d] - 1) - 1) // strides[d] + 1
              for d in (0, 1)]
    per_column = kernel[0] * kernel[1]
    if input.ndim != 3 or input.shape[1] % per_column or input.shape[2] != blocks[0] * blocks[1]:
        raise ValueError(f"fold: input of shape {tuple(input.shape)} must be (N, C * {per_column}, "
                         f"{blocks[0] * blocks[1]}) for output_size {size} and kernel_size {kernel}")
    channels = input.shape[1] // per_column
    grid = input.reshape(input.shape[0], input.shape[1], *blocks)
    # rows and columns a last window position leaves uncovered come back as output padding
    spans = [(blocks[d] - 1) * strides[d] - 2 * pads[d] + dilations[d] * (kernel[d] - 1) + 1 for d in (0, 1)]
    extra = tuple(size[d] - spans[d] for d in (0, 1))
    return conv_transpose2d(grid, _identity_kernel(channels, kernel, input.dtype), None, strides, pads,
                            extra, 1, dilations)


__all__ = [
    "celu", "cosine_embedding_loss", "cosine_similarity", "gaussian_nll_loss", "glu", "hardshrink",
    "hardsigmoid", "hardswish", "interpolate", "kl_div", "logsigmoid", "margin_ranking_loss", "mish",
    "normalize", "pairwise_distance", "pixel_shuffle", "pixel_unshuffle", "poisson_nll_loss", "prelu",
    "selu", "soft_margin_loss", "softmin", "softshrink", "softsign", "tanhshrink", "threshold",
    "triplet_margin_loss", "upsample", "unfold", "fold",
]
