"""Losses with numerically stable fused forms: cross-entropy through log-softmax (log-sum-exp
inside, so logits of +-1000 neither overflow nor lose the gradient), binary cross-entropy with
logits through log-sigmoid."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.function import Function
from chainrule.backends import numba as numba_backend
from chainrule.kernels import loss as loss_kernels
from chainrule.ops.activation import LogSoftmax
from chainrule.ops.double_backward import composite_vjp
from chainrule.ops.elementwise import abs as absolute
from chainrule.ops.elementwise import clamp, exp, log, log1p, maximum, where
from chainrule.tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


def reduce_loss(loss: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_same_shape(input: Tensor, target: Tensor, op: str) -> None:  # noqa: A002
    if input.shape != target.shape:
        raise ValueError(
            f"{op}: input of shape {tuple(input.shape)} and target of shape "
            f"{tuple(target.shape)} differ; give a target of the input's shape (broadcasting "
            "here is almost always a bug)"
        )


def as_target(target: Any, like: Tensor) -> Tensor:
    if isinstance(target, Tensor):
        return target
    return Tensor._wrap(np.asarray(target, dtype=like.dtype))


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean squared error. Shapes: input (*), target (*) → scalar (or (*) with 'none')."""
    target = as_target(target, input)
    _check_same_shape(input, target, "mse_loss")
    diff = input - target
    return reduce_loss(diff * diff, reduction, "mse_loss")


def l1_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    target = as_target(target, input)
    _check_same_shape(input, target, "l1_loss")
    return reduce_loss(absolute(input - target), reduction, "l1_loss")


def smooth_l1_loss(input: Tensor, target: Any, reduction: str = "mean", beta: float = 1.0) -> Tensor:  # noqa: A002
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta."""
    target = as_target(target, input)
    _check_same_shape(input, target, "smooth_l1_loss")
    diff = input - target
    if beta == 0:
        return reduce_loss(absolute(diff), reduction, "smooth_l1_loss")
    small = Tensor._wrap(np.abs(diff.array) < beta)
    loss = where(small, diff * diff * (0.5 / beta), absolute(diff) - 0.5 * beta)
    return reduce_loss(loss, reduction, "smooth_l1_loss")


def huber_loss(input: Tensor, target: Any, reduction: str = "mean", delta: float = 1.0) -> Tensor:  # noqa: A002
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta)."""
    target = as_target(target, input)
    _check_same_shape(input, target, "huber_loss")
    diff = input - target
    small = Tensor._wrap(np.abs(diff.array) < delta)
    loss = where(small, diff * diff * 0.5, (absolute(diff) - 0.5 * delta) * delta)
    return reduce_loss(loss, reduction, "huber_loss")


def _class_dim_last(input: Tensor) -> Tensor:  # noqa: A002
    """(N, C, d1, ...) → (N * d1 * ..., C): PyTorch puts classes in dim 1."""
    if input.ndim <= 2:
        return input
    moved = input.permute(0, *range(2, input.ndim), 1)
    return moved.reshape(-1, input.shape[1])


def _check_class_indices(target: np.ndarray, input_shape: tuple[int, ...], ignore_index: int,
                         op: str) -> None:
    """Targets of shape (N, d1, ...) for input (N, C, d1, ...), each in [0, C) or ignored."""
    expected = (input_shape[0],) + tuple(input_shape[2:])
    if target.shape != expected:
        raise ValueError(f"{op}: target of shape {target.shape} does not fit input of "
                         f"shape {tuple(input_shape)}; expected target shape {expected}")
    classes = input_shape[1]
    if target.size == 0 or (target.min() >= 0 and target.max() < classes):  # the common case, cheaply
        return
    counted = target[target != ignore_index]
    outside = counted[(counted < 0) | (counted >= classes)]
    if outside.size:
        raise IndexError(f"{op}: target {int(outside[0])} is out of bounds for {classes} classes "
                         f"(valid: 0 to {classes - 1})")


def nll_loss(input: Tensor, target: Any, weight: Tensor | None = None, ignore_index: int = -100,  # noqa: A002
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices given log-probabilities.

    Shapes: input (N, C) or (N, C, d1, ...) or (C,), target (N) / (N, d1, ...) / () int64.
    The 'mean' reduction divides by the total weight of the targets that are not ignored.
    """
    target_data = target.array if isinstance(target, Tensor) else np.asarray(target)
    if target_data.dtype.kind not in "iu":
        raise TypeError(
            f"nll_loss: target must hold class indices (int64), got dtype {target_data.dtype}; "
            "for class probabilities use cross_entropy with a floating target"
        )
    if input.ndim == 1:
        input, target_data = input.unsqueeze(0), target_data.reshape(1)
    _check_class_indices(target_data, input.shape, ignore_index, "nll_loss")
    flat_input = _class_dim_last(input)
    flat_target = target_data.reshape(-1)
    keep = flat_target != ignore_index
    safe_target = np.where(keep, flat_target, 0)
    picked = flat_input[np.arange(flat_target.size), safe_target]
    sample_weight = keep.astype(input.dtype)
    if weight is not None:
        sample_weight = sample_weight * weight.array[safe_target]
    loss = -picked * Tensor._wrap(sample_weight)
    if reduction == "mean":
        return loss.sum() / float(sample_weight.sum())
    if reduction == "none":
        return loss.reshape(target_data.shape if input.ndim > 1 else ())
    return reduce_loss(loss, reduction, "nll_loss")


def log_softmax(input: Tensor, dim: int | None = None) -> Tensor:  # noqa: A002
    if dim is None:
        dim = 0 if input.ndim in (0, 1, 3) else 1
    return LogSoftmax.apply(input, dim % max(input.ndim, 1))


class CrossEntropyIndices(Function):
    """Cross-entropy of logits (N, C) against class indices (N,) in one node: the common case
    of classification training (no class weights, no smoothing). Forward subtracts the row
    maximum before exponentiating; backward is (softmax(x) - onehot(y)) scaled, with softmax
    taken by the differentiable op so second-order gradients flow."""

    @staticmethod
    def forward(ctx, logits, target, ignore_index, reduction):
        ctx.save_inputs(0)
        rows = np.arange(logits.shape[0])
        keep = target != ignore_index
        all_kept = bool(keep.all())  # the common case: no target ignored, nothing to mask
        safe_target = target.copy() if all_kept else np.where(keep, target, 0)
        shifted = _subtract_row_max(logits)
        exps = np.exp(shifted)
        totals = np.add.reduce(exps, 1)  # exps.sum(axis=1) without its Python wrapper
        log_normaliser = np.log(totals)
        losses = log_normaliser - shifted[rows, safe_target]
        if not all_kept:
            losses *= keep
        ctx.target, ctx.keep, ctx.reduction = safe_target, keep, reduction
        if ctx.requires_grad:
            # softmax(logits) exactly as the Softmax op computes it, for a backward without it
            exps /= totals[:, None]
            ctx.probabilities = exps
        if reduction == "mean":
            kept = np.intp(keep.size) if all_kept else keep.sum()  # keep.sum()'s type either way
            return np.asarray(losses.sum() / kept, dtype=logits.dtype)
        if reduction == "sum":
            return np.asarray(losses.sum(), dtype=logits.dtype)
        return losses.astype(logits.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (logits,) = ctx.saved_inputs
        scale = ctx.keep.astype(logits.dtype)
        if ctx.reduction == "mean":
            scale /= ctx.keep.sum()
        per_row = grad.reshape(-1, 1) if ctx.reduction == "none" else grad
        per_row = per_row * Tensor._wrap(scale[:, None])
        return CrossEntropyIndicesGrad.apply(per_row, logits, ctx.probabilities, ctx.target), None, None, None


def _subtract_row_max(logits: np.ndarray) -> np.ndarray:
    """``logits - logits.max(axis=1, keepdims=True)``, in one numba pass where it can."""
    if logits.size and numba_backend.handles(logits):
        shifted = np.empty_like(logits)
        loss_kernels.subtract_row_max(logits, shifted)
        return shifted
    return logits - logits.max(axis=1, keepdims=True)


class CrossEntropyIndicesGrad(Function):
    """``(softmax(logits) - onehot(target)) * per_row``, ``CrossEntropyIndices``'s gradient, on
    the softmax its forward kept. Its own backward differentiates the same expression written in
    chainrule ops, with the softmax recomputed by the differentiable op."""

    @staticmethod
    def forward(ctx, per_row, logits, probabilities, target):
        ctx.save_inputs(0, 1)
        ctx.target = target
        # p - onehot is p everywhere but at the targets, where it is p - 1
        grad_logits = probabilities.copy()
        grad_logits[np.arange(len(target)), target] -= 1
        grad_logits *= per_row
        return grad_logits

    @staticmethod
    def backward(ctx, grad_grad):
        from chainrule.ops.activation import Softmax

        def first_order(per_row, logits):
            one_hot = np.zeros(logits.shape, dtype=logits.dtype)
            one_hot[np.arange(len(ctx.target)), ctx.target] = 1
            return ((Softmax.apply(logits, 1) - Tensor._wrap(one_hot)) * per_row,)

        found = composite_vjp(first_order, ctx.saved_inputs, ctx.needs_input_grad[:2], [grad_grad])
        return (*found, None, None)


def cross_entropy(input: Tensor, target: Any, weight: Tensor | None = None,  # noqa: A002
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of logits against class indices or class probabilities.

    Shapes: input (N, C) or (N, C, d1, ...) or (C,); target: int64 (N) / (N, d1, ...) class
    indices, or floating probabilities of the input's shape. Computed as log_softmax then
    negative log-likelihood, so logits of +-1000 are fine.

    Example::

        >>> F.cross_entropy(chainrule.zeros(2, 3), chainrule.tensor([0, 2]))
        tensor(1.0986)
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    class_dim = 0 if input.ndim == 1 else 1
    target_data = target.array if isinstance(target, Tensor) else np.asarray(target)
    if (input.ndim == 2 and target_data.dtype.kind in "iu" and weight is None
            and not label_smoothing and reduction in _REDUCTIONS):
        _check_class_indices(target_data, input.shape, ignore_index, "cross_entropy")
        return CrossEntropyIndices.apply(input, target_data, ignore_index, reduction)
    log_probs = LogSoftmax.apply(input, class_dim)
    classes = input.shape[class_dim]
    if target_data.dtype.kind == "f":
        if target_data.shape != input.shape:
            raise ValueError(f"cross_entropy: probability target of shape {target_data.shape} "
                             f"must match input of shape {tuple(input.shape)}")
        probs = as_target(target, input)
        if label_smoothing:
            probs = probs * (1 - label_smoothing) + label_smoothing / classes
        weighted = log_probs if weight is None else log_probs * _class_weight(weight, input.ndim)
        loss = -(weighted * probs).sum(class_dim)
        if reduction == "mean":
            return loss.sum() / float(loss.numel() if input.ndim > 1 else 1)
        return reduce_loss(loss, reduction, "cross_entropy")
    nll = nll_loss(log_probs, target_data, weight, ignore_index, reduction)
    if not label_smoothing:
        return nll
    # The smoothing term: the (weighted) mean of -log p over classes, per sample.
    keep = Tensor._wrap((target_data != ignore_index).astype(input.dtype))
    weighted = log_probs if weight is None else log_probs * _class_weight(weight, input.ndim)
    smooth = -weighted.sum(class_dim) * keep / classes
    if reduction == "mean":
        if weight is None:
            denominator = float(keep.array.sum())
        else:
            safe = np.where(target_data != ignore_index, target_data, 0)
            denominator = float((weight.array[safe] * keep.array).sum())
        smooth = smooth.sum() / denominator
    else:
        smooth = reduce_loss(smooth, reduction, "cross_entropy")
    return nll * (1 - label_smoothing) + smooth * label_smoothing


def _class_weight(weight: Tensor, ndim: int) -> Tensor:
    """Class weights shaped to broadcast along the class dimension."""
    return weight.reshape((-1,) + (1,) * (ndim - 2)) if ndim > 1 else weight


class BinaryCrossEntropy(Function):
    """Elementwise -(y log p + (1 - y) log(1 - p)), each log clamped at -100, with PyTorch's
    gradients: (p - y) / max(p (1 - p), 1e-12) for p, log(1 - p) - log p for y. Finite at
    p = 0 and 1 (a float32 sigmoid reaches 1.0 already at 17), where the chain rule through
    the clamped logs would give 0 / 0 = nan."""

    @staticmethod
    def forward(ctx, p, y):
        ctx.save_inputs(0, 1)
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(p), -100)
            log_not_p = np.maximum(np.log(1 - p), -100)
        return -(y * log_p + (1 - y) * log_not_p)

    @staticmethod
    def backward(ctx, grad):
        p, y = ctx.saved_inputs
        need_p, need_y = ctx.needs_input_grad
        grad_p = grad * (p - y) / clamp(p * (1 - p), min=1e-12) if need_p else None
        grad_y = grad * (log(1 - p) - log(p)) if need_y else None
        return grad_p, grad_y


def binary_cross_entropy(input: Tensor, target: Any, weight: Tensor | None = None,  # noqa: A002
                         reduction: str = "mean") -> Tensor:
    """-(y log p + (1 - y) log(1 - p)) on probabilities; log is clamped at -100 as PyTorch.

    Shapes: input (*) probabilities, target (*) → scalar (or (*) with 'none')."""
    target = as_target(target, input)
    _check_same_shape(input, target, "binary_cross_entropy")
    if np.any((input.array < 0) | (input.array > 1)):
        raise ValueError("binary_cross_entropy: input must hold probabilities in [0, 1]; for "
                         "logits use binary_cross_entropy_with_logits")
    loss = BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return reduce_loss(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Tensor | None = None,  # noqa: A002
                                     reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable expression:
    (1 - y) x + (1 + (w_p - 1) y) * log(1 + exp(-x)), with log(1 + exp(-x)) written as
    max(-x, 0) + log1p(exp(-|x|))."""
    target = as_target(target, input)
    _check_same_shape(input, target, "binary_cross_entropy_with_logits")
    log_one_plus_exp = maximum(-input, 0.0) + log1p(exp(-absolute(input)))
    if pos_weight is None:
        loss = (1 - target) * input + log_one_plus_exp
    else:
        loss = (1 - target) * input + (1 + (pos_weight - 1) * target) * log_one_plus_exp
    if weight is not None:
        loss = loss * weight
    return reduce_loss(loss, reduction, "binary_cross_entropy_with_logits")
