"""Hand-written NumPy layers for the convolutional "numpy" implementations: no autograd.

Each layer keeps what its backward needs from the last forward. Activations are channels-last
(``(B, *spatial, C)``), so a convolution is one sliding-window copy (im2col) and one GEMM.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from benchmarks.cases.common import LEARNING_RATE, MOMENTUM, default_init


class Linear:
    """``x @ weight + bias`` with weight ``(in, out)``."""

    def __init__(self, rng: np.random.Generator, inputs: int, outputs: int) -> None:
        self.weight = default_init(rng, inputs, (inputs, outputs))
        self.bias = default_init(rng, inputs, (outputs,))
        self.saved_input: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.saved_input = x
        return x @ self.weight + self.bias

    def backward(self, grad_output: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        grads = [self.saved_input.T @ grad_output, grad_output.sum(axis=0)]
        return grad_output @ self.weight.T, grads

    def parameters(self) -> list[np.ndarray]:
        return [self.weight, self.bias]


class Conv:
    """Stride-1 convolution over ``len(spatial)`` dims with zero padding, as im2col + GEMM.

    ``weight`` is ``(in_channels * kernel**dims, out_channels)``, rows ordered like the
    sliding-window view's trailing ``(C, k, ..., k)`` axes, so im2col is a plain reshape.
    """

    def __init__(self, rng: np.random.Generator, in_channels: int, out_channels: int,
                 kernel_size: int, dims: int, padding: int = 0) -> None:
        self.kernel_size, self.dims, self.padding = kernel_size, dims, padding
        fan_in = in_channels * kernel_size**dims
        self.weight = default_init(rng, fan_in, (fan_in, out_channels))
        self.bias = default_init(rng, fan_in, (out_channels,))
        self.saved: tuple[Any, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        spatial_axes = tuple(range(1, 1 + self.dims))
        if self.padding:
            pad = [(0, 0)] + [(self.padding, self.padding)] * self.dims + [(0, 0)]
            x = np.pad(x, pad)
        windows = sliding_window_view(x, (self.kernel_size,) * self.dims, axis=spatial_axes)
        output_spatial = windows.shape[1:1 + self.dims]
        columns = windows.reshape(-1, self.weight.shape[0])  # copies: this is im2col
        self.saved = (columns, x.shape, output_spatial)
        output = columns @ self.weight + self.bias
        return output.reshape(x.shape[0], *output_spatial, -1)

    def backward(self, grad_output: np.ndarray,
                 needs_input_grad: bool = True) -> tuple[np.ndarray | None, list[np.ndarray]]:
        columns, padded_shape, output_spatial = self.saved
        grad_output = grad_output.reshape(-1, self.weight.shape[1])
        grads = [columns.T @ grad_output, grad_output.sum(axis=0)]
        if not needs_input_grad:
            return None, grads
        in_channels = padded_shape[-1]
        grad_columns = (grad_output @ self.weight.T).reshape(
            padded_shape[0], *output_spatial, in_channels, *(self.kernel_size,) * self.dims)
        # col2im: each kernel offset adds its slice of the gradient back where it was read.
        grad_input = np.zeros(padded_shape, dtype=grad_output.dtype)
        for offset in itertools.product(range(self.kernel_size), repeat=self.dims):
            region = tuple(slice(start, start + size)
                           for start, size in zip(offset, output_spatial, strict=True))
            grad_input[(slice(None), *region)] += grad_columns[(..., *offset)]
        if self.padding:
            inner = tuple(slice(self.padding, -self.padding) for _ in range(self.dims))
            grad_input = grad_input[(slice(None), *inner)]
        return grad_input, grads

    def parameters(self) -> list[np.ndarray]:
        return [self.weight, self.bias]


class ReLU:
    def forward(self, x: np.ndarray) -> np.ndarray:
        self.saved_output = np.maximum(x, 0.0)
        return self.saved_output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return grad_output * (self.saved_output > 0)


class MaxPool2x2:
    """Non-overlapping 2x2 max-pool over channels-last ``(B, H, W, C)``; odd edges dropped."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        batch, height, width, channels = x.shape
        half_height, half_width = height // 2, width // 2
        blocks = x[:, : 2 * half_height, : 2 * half_width].reshape(
            batch, half_height, 2, half_width, 2, channels)
        output = blocks.max(axis=(2, 4))
        self.saved = (x.shape, blocks == output[:, :, None, :, None, :])
        return output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        input_shape, winners = self.saved
        grad_blocks = winners * grad_output[:, :, None, :, None, :]
        batch, half_height, _, half_width, _, channels = grad_blocks.shape
        grad_input = np.zeros(input_shape, dtype=grad_output.dtype)
        grad_input[:, : 2 * half_height, : 2 * half_width] = grad_blocks.reshape(
            batch, 2 * half_height, 2 * half_width, channels)
        return grad_input


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and its gradient with respect to the logits."""
    rows = np.arange(len(labels))
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    probabilities = exp / exp.sum(axis=1, keepdims=True)
    loss = -np.log(probabilities[rows, labels]).mean()
    probabilities[rows, labels] -= 1.0
    probabilities /= len(labels)
    return float(loss), probabilities


def momentum_update(params: list[np.ndarray], grads: list[np.ndarray],
                    velocities: list[np.ndarray]) -> None:
    """PyTorch's SGD with momentum, in place: v = m * v + g; p -= lr * v."""
    for param, grad, velocity in zip(params, grads, velocities, strict=True):
        velocity *= MOMENTUM
        velocity += grad
        param -= LEARNING_RATE * velocity
