"""Activation and softmax ops that have fused forms (stable, and one node instead of many)."""

from __future__ import annotations

import math

import numpy as np

from chainrule.autograd.function import Function
from chainrule.ops.elementwise import Erf, exp, sigmoid, tanh, where
from chainrule.tensor import Tensor


class Softmax(Function):
    """softmax along ``dim``; backward: out * (grad - sum(grad * out))."""

    @staticmethod
    def forward(ctx, a, dim):
        ctx.save_output()
        ctx.dim = dim
        shifted = np.exp(a - np.amax(a, axis=dim, keepdims=True))
        shifted /= shifted.sum(axis=dim, keepdims=True)
        return shifted

    @staticmethod
    def backward(ctx, grad):
        out = ctx.saved_output
        return out * (grad - (grad * out).sum(ctx.dim, keepdim=True)), None


class LogSoftmax(Function):
    """log_softmax along ``dim`` (a - logsumexp(a)); backward: grad - softmax * sum(grad)."""

    @staticmethod
    def forward(ctx, a, dim):
        ctx.save_output()
        ctx.dim = dim
        shifted = a - np.amax(a, axis=dim, keepdims=True)
        shifted -= np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
        return shifted

    @staticmethod
    def backward(ctx, grad):
        return grad - exp(ctx.saved_output) * grad.sum(ctx.dim, keepdim=True), None


class LeakyRelu(Function):
    @staticmethod
    def forward(ctx, a, slope):
        if ctx.requires_grad:
            ctx.factor = np.where(a > 0, 1.0, slope).astype(a.dtype)
        return np.where(a > 0, a, a * slope)

    @staticmethod
    def backward(ctx, grad):
        return grad * Tensor._wrap(ctx.factor), None


class Softplus(Function):
    """log(1 + exp(beta a)) / beta, linear above ``threshold`` (as PyTorch)."""

    @staticmethod
    def forward(ctx, a, beta, threshold):
        ctx.save_inputs(0)
        ctx.beta, ctx.threshold = beta, threshold
        scaled = a * beta
        return np.where(scaled > threshold, a, np.logaddexp(0, scaled) / beta).astype(a.dtype)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_inputs
        linear = Tensor._wrap(a.array * ctx.beta > ctx.threshold)
        return where(linear, grad, grad * sigmoid(a * ctx.beta)), None, None


def gelu(input: Tensor, approximate: str = "none") -> Tensor:  # noqa: A002
    """x * Phi(x); ``approximate="tanh"`` uses the tanh formula. Composite, so second order
    comes for free."""
    if approximate == "tanh":
        inner = (input + 0.044715 * input * input * input) * math.sqrt(2 / math.pi)
        return 0.5 * input * (1 + tanh(inner))
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return 0.5 * input * (1 + Erf.apply(input * (1 / math.sqrt(2))))


def elu(input: Tensor, alpha: float = 1.0) -> Tensor:  # noqa: A002
    positive = input > 0  # a Tensor comparison, so that ONNX export sees the mask
    return where(positive, input, (exp(where(positive, 0.0, input)) - 1) * alpha)


def silu(input: Tensor) -> Tensor:  # noqa: A002
    return input * sigmoid(input)


def _softmax_method(self: Tensor, dim: int, dtype: object = None) -> Tensor:
    """``x.softmax(dim)``, as PyTorch's Tensor method."""
    source = self if dtype is None else self.type(dtype)
    return Softmax.apply(source, dim % max(self.ndim, 1))


def _log_softmax_method(self: Tensor, dim: int, dtype: object = None) -> Tensor:
    """``x.log_softmax(dim)``, as PyTorch's Tensor method."""
    source = self if dtype is None else self.type(dtype)
    return LogSoftmax.apply(source, dim % max(self.ndim, 1))


# PyTorch has these as Tensor methods too (``logits.softmax(-1)``); they were missing.
setattr(Tensor, "softmax", _softmax_method)  # noqa: B010 - declared in Tensor's class body
setattr(Tensor, "log_softmax", _log_softmax_method)  # noqa: B010
