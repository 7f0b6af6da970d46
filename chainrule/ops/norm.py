"""Normalization: ``layer_norm``, ``batch_norm``, ``group_norm``, with PyTorch's signatures.

All three are one fused op, ``Normalize``: (x - mean) / sqrt(var + eps) over some dims (the
biased variance, as PyTorch), times a weight plus a bias, each reshaped to broadcast. Its
gradient is one op, ``NormalizeGrad``, fast NumPy from the saved normalized input and 1 / std,
with or without ``create_graph``; its own backward (second order) differentiates the same rule
written in differentiable ops (see ``chainrule.ops.double_backward``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.autograd.function import Function
from chainrule.grad_mode import no_grad
from chainrule.ops.double_backward import composite_vjp
from chainrule.tensor import Tensor


def _standardize(x: Tensor, dims: tuple[int, ...], eps: float) -> tuple[Tensor, Tensor]:
    """(x - mean) / sqrt(var + eps) and 1 / sqrt(var + eps), in differentiable ops."""
    centered = x - x.mean(dims, keepdim=True)
    inv_std = (centered * centered).mean(dims, keepdim=True).add(eps).rsqrt()
    return centered * inv_std, inv_std


class Normalize(Function):
    """``x`` normalized over ``dims``, times ``weight`` plus ``bias`` (None, or shaped to
    broadcast against x). Outputs: the result, and the mean and the biased variance over
    ``dims`` (not differentiable; batch norm's running statistics need them)."""

    @staticmethod
    def forward(ctx, x, weight, bias, dims, eps):
        mean = x.mean(axis=dims, keepdims=True)
        normalized = x - mean
        var = np.mean(np.square(normalized), axis=dims, keepdims=True)
        inv_std = 1.0 / np.sqrt(var + eps)
        normalized *= inv_std
        ctx.mark_non_differentiable(1, 2)
        if ctx.requires_grad:
            ctx.save_inputs(0, 1)
            ctx.normalized, ctx.inv_std, ctx.dims, ctx.eps = normalized, inv_std, dims, eps
            ctx.folds = (_constant_over(weight, x.ndim, dims), _constant_over(bias, x.ndim, dims))
        if weight is not None:
            out = normalized * weight
        else:  # the saved normalized input must not be the output, which callers may change
            out = normalized.copy() if ctx.requires_grad else normalized
        if bias is not None:
            out += bias
        return out, mean, var

    @staticmethod
    def backward(ctx, grad, grad_mean, grad_var):
        x, weight = ctx.saved_inputs
        needs = ctx.needs_input_grad[:3]
        found = iter(NormalizeGrad.apply(grad, x, weight, ctx.normalized, ctx.inv_std, ctx.dims, ctx.eps,
                                         needs, ctx.folds))
        return (*[next(found) if need else None for need in needs], None, None)


class NormalizeGrad(Function):
    """``Normalize``'s gradients for x, weight and bias (only those in ``needs``), from the kept
    normalized input and 1 / std: the one first-order rule, fast. Its own backward (second order)
    differentiates the same rule written in differentiable ops, ``_composite_grads``."""

    @staticmethod
    def forward(ctx, grad, x, weight, normalized, inv_std, dims, eps, needs, folds):
        ctx.save_inputs(0, 1, 2)
        ctx.dims, ctx.eps, ctx.needs, ctx.folds = dims, eps, needs, folds
        return tuple(g for g in _fast_grads(grad, weight, normalized, inv_std, dims, needs, folds)
                     if g is not None)

    @staticmethod
    def backward(ctx, *grad_grads):
        given = iter(grad_grads)
        grad_outputs = [next(given) if need else None for need in ctx.needs]

        def first_order(grad, x, weight):
            return _composite_grads(grad, x, weight, ctx.dims, ctx.eps, ctx.needs, ctx.folds)

        found = composite_vjp(first_order, ctx.saved_inputs, ctx.needs_input_grad[:3], grad_outputs)
        return (*found, None, None, None, None, None, None)


def _constant_over(param: Any, ndim: int, dims: tuple[int, ...]) -> bool:
    """Whether ``param`` (None, or broadcasting against an ndim-dim input) is the same along
    every normalized dim: then its gradient is a sum over those dims, done here."""
    shape = (1,) * (ndim - np.ndim(param)) + np.shape(param)
    return all(shape[d] == 1 for d in dims)


def _composite_grads(grad: Tensor, x: Tensor, weight: Tensor | None, dims: tuple[int, ...], eps: float,
                     needs: tuple[bool, ...], folds: tuple[bool, bool]) -> tuple[Tensor | None, ...]:
    """``_fast_grads`` in differentiable ops, from the input: dx = inv_std (g - mean(g) - x_hat
    mean(g x_hat)) with g = grad * weight and x_hat the normalized input; the weight's and bias's
    gradients summed over ``dims`` where ``_fast_grads`` sums them."""
    need_x, need_w, need_b = needs
    weight_folds, bias_folds = folds
    normalized, inv_std = _standardize(x, dims, eps)
    grad_x = grad_w = grad_b = None
    if need_x:
        scaled = grad * weight if weight is not None else grad
        projection = (scaled * normalized).mean(dims, keepdim=True)
        grad_x = (scaled - scaled.mean(dims, keepdim=True) - normalized * projection) * inv_std
    if need_w:
        grad_w = grad * normalized
        grad_w = grad_w.sum(dims, keepdim=True) if weight_folds else grad_w
    if need_b:
        grad_b = grad.sum(dims, keepdim=True) if weight_folds and bias_folds else grad
    return grad_x, grad_w, grad_b


def _fast_grads(grad: np.ndarray, weight: np.ndarray | None, normalized: np.ndarray, inv_std: np.ndarray,
                dims: tuple[int, ...], needs: tuple[bool, ...],
                folds: tuple[bool, bool]) -> tuple[np.ndarray | None, ...]:
    """The gradients in NumPy, in as few passes over the input as possible. When the weight is
    constant over the normalized dims (batch norm, or no weight) it folds into per-statistic
    factors, and the weight's and bias's gradients are the two sums dx needs."""
    need_x, need_w, need_b = needs
    weight_folds, bias_folds = folds
    count = normalized.size // inv_std.size  # elements behind each statistic
    if weight_folds:
        grad_sum = grad.sum(axis=dims, keepdims=True)
        projected_sum = np.sum(grad * normalized, axis=dims, keepdims=True)
        grad_x = None
        if need_x:
            factor = inv_std if weight is None else inv_std * weight
            grad_x = grad * factor
            grad_x -= normalized * (factor * projected_sum * (1.0 / count))
            grad_x -= factor * grad_sum * (1.0 / count)
        grad_b = (grad_sum if bias_folds else grad) if need_b else None
        return grad_x, (projected_sum if need_w else None), grad_b
    grad_x = None
    if need_x:
        scaled = grad * weight
        projection = np.sum(scaled * normalized, axis=dims, keepdims=True) * (1.0 / count)
        grad_x = scaled
        grad_x -= scaled.sum(axis=dims, keepdims=True) * (1.0 / count)
        grad_x -= normalized * projection
        grad_x *= inv_std
    return grad_x, (grad * normalized if need_w else None), (grad if need_b else None)


# ------------------------------------------------------------------------ checks
def _check_param(op: str, name: str, tensor: Tensor | None, shape: tuple[int, ...],
                 input: Tensor) -> None:  # noqa: A002
    if tensor is None:
        return
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor or None, got {type(tensor).__name__}")
    if tuple(tensor.shape) != shape:
        raise ValueError(f"{op}: {name} of shape {tuple(tensor.shape)} does not fit input of shape "
                         f"{tuple(input.shape)}; expected {shape}")


def _check_input(op: str, input: Tensor, min_ndim: int) -> None:  # noqa: A002
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim < min_ndim:
        raise ValueError(f"{op}: expected an input with at least {min_ndim} dimensions, got shape "
                         f"{tuple(input.shape)}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got {input.dtype}")


# ---------------------------------------------------------------------- public functions
def layer_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,  # noqa: A002
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize over the last ``len(normalized_shape)`` dims, then scale by ``weight`` and shift
    by ``bias`` (both of ``normalized_shape``).

    Shapes: input (*, *normalized_shape) → same.

    Example::

        >>> F.layer_norm(chainrule.randn(4, 10), (10,)).shape
        (4, 10)
    """
    shape = (normalized_shape,) if isinstance(normalized_shape, int | np.integer) else tuple(normalized_shape)
    shape = tuple(int(s) for s in shape)
    _check_input("layer_norm", input, len(shape))
    if len(shape) == 0 or tuple(input.shape[input.ndim - len(shape):]) != shape:
        raise ValueError(f"layer_norm: normalized_shape {shape} must be the last dims of the input, "
                         f"whose shape is {tuple(input.shape)}")
    _check_param("layer_norm", "weight", weight, shape, input)
    _check_param("layer_norm", "bias", bias, shape, input)
    dims = tuple(range(input.ndim - len(shape), input.ndim))
    return Normalize.apply(input, weight, bias, dims, eps)[0]


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,  # noqa: A002
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalize each channel (dim 1) over the batch and spatial dims.

    In training, the batch's statistics are used and, when given, ``running_mean`` and
    ``running_var`` are updated in place: r = (1 - momentum) r + momentum s, with the unbiased
    variance for ``running_var`` (as PyTorch). Otherwise the running statistics are used.

    Shapes: input (N, C) or (N, C, *), running stats / weight / bias (C,) → same as input.

    Example::

        >>> mean, var = chainrule.zeros(3), chainrule.ones(3)
        >>> F.batch_norm(chainrule.randn(8, 3, 4, 4), mean, var, training=True).shape
        (8, 3, 4, 4)
    """
    _check_input("batch_norm", input, 2)
    channels = input.shape[1]
    for name, tensor in (("running_mean", running_mean), ("running_var", running_var),
                         ("weight", weight), ("bias", bias)):
        _check_param("batch_norm", name, tensor, (channels,), input)
    broadcast = (channels,) + (1,) * (input.ndim - 2)
    weight = weight.reshape(broadcast) if weight is not None else None
    bias = bias.reshape(broadcast) if bias is not None else None
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are needed when "
                             "training=False (or pass training=True to use the batch's statistics)")
        # Fold everything per channel first, so the input is touched by two passes only.
        scale = (running_var.reshape(broadcast) + eps).rsqrt()
        if weight is not None:
            scale = scale * weight
        shift = -running_mean.reshape(broadcast) * scale
        if bias is not None:
            shift = shift + bias
        return input * scale + shift
    count = input.numel() // channels if channels else 0
    if count <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got "
                         f"input of shape {tuple(input.shape)}")
    dims = (0, *range(2, input.ndim))
    out, mean, var = Normalize.apply(input, weight, bias, dims, eps)
    if running_mean is not None or running_var is not None:
        mean, var = mean.array, var.array
        with no_grad():
            if running_mean is not None:
                running_mean.mul_(1.0 - momentum).add_(mean.reshape(channels) * momentum)
            if running_var is not None:
                unbiased = var.reshape(channels) * (count / (count - 1))
                running_var.mul_(1.0 - momentum).add_(unbiased * momentum)
    return out


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,  # noqa: A002
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Split the channels into ``num_groups`` groups and normalize each group of each sample;
    then scale and shift per channel.

    Shapes: input (N, C, *) with C divisible by ``num_groups``, weight / bias (C,) → same.

    Example::

        >>> F.group_norm(chainrule.randn(2, 6, 4, 4), 3).shape
        (2, 6, 4, 4)
    """
    _check_input("group_norm", input, 2)
    n, channels = input.shape[:2]
    if not isinstance(num_groups, int | np.integer) or num_groups < 1 or channels % num_groups:
        raise ValueError(f"group_norm: num_groups={num_groups} must be a positive int dividing the "
                         f"{channels} channels of input {tuple(input.shape)}")
    _check_param("group_norm", "weight", weight, (channels,), input)
    _check_param("group_norm", "bias", bias, (channels,), input)
    group_shape = (num_groups, channels // num_groups, 1)
    grouped = input.reshape(n, num_groups, channels // num_groups, -1)
    weight = weight.reshape(group_shape) if weight is not None else None
    bias = bias.reshape(group_shape) if bias is not None else None
    return Normalize.apply(grouped, weight, bias, (2, 3), eps)[0].reshape(input.shape)


def instance_norm(input: Tensor, running_mean: Tensor | None = None, running_var: Tensor | None = None,  # noqa: A002
                  weight: Tensor | None = None, bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalize each channel of each sample over its spatial positions (group norm with one
    channel a group), then scale and shift per channel. With ``use_input_stats`` and running
    statistics given, they move toward the batch average of the per-sample statistics (the
    variance unbiased); without ``use_input_stats`` the running statistics are used instead.

    Shapes: input (N, C, *) with at least one spatial dimension, params (C,) → same.

    Example::

        >>> F.instance_norm(chainrule.randn(2, 3, 5)).std(-1, unbiased=False).round(decimals=2)
        tensor([[1., 1., 1.],
                [1., 1., 1.]])
    """
    _check_input("instance_norm", input, 3)
    if not use_input_stats:
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    n, channels = input.shape[:2]
    out = group_norm(input, channels, weight, bias, eps)
    if running_mean is not None or running_var is not None:
        flat = input.array.reshape(n, channels, -1)
        count = flat.shape[-1]
        with no_grad():
            if running_mean is not None:
                _check_param("instance_norm", "running_mean", running_mean, (channels,), input)
                running_mean.mul_(1.0 - momentum).add_(flat.mean(-1).mean(0) * momentum)
            if running_var is not None:
                _check_param("instance_norm", "running_var", running_var, (channels,), input)
                unbiased = flat.var(-1, ddof=1).mean(0) if count > 1 else np.zeros(channels, input.dtype)
                running_var.mul_(1.0 - momentum).add_(unbiased.astype(input.dtype) * momentum)
    return out
