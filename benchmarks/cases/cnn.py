"""A small 2-D CNN on 28x28 images: two conv-ReLU-maxpool stages and two Linear layers."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.cases.common import (
    Case,
    GemmLayer,
    Step,
    default_init,
    gemm_floor_step,
    jax_cross_entropy,
    jax_momentum_training_step,
    random_labels,
    seed_library,
    seeded_rng,
    torchlike_training_step,
)
from benchmarks.cases.numpy_layers import (
    Conv,
    Linear,
    MaxPool2x2,
    ReLU,
    momentum_update,
    softmax_cross_entropy,
)

BATCH_SIZE = 64
IMAGE_SIZE = 28


def random_images(batch_size: int) -> np.ndarray:
    """``(B, 1, 28, 28)``, PyTorch's channels-first layout."""
    return seeded_rng().random((batch_size, 1, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)


def build_torchlike_cnn(lib: Any) -> Any:
    """The model, written once for ``torch`` and ``chainrule``. 28 -> 26 -> 13 -> 11 -> 5."""
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 5 * 5, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )


def torchlike_step(lib: Any) -> Step:
    seed_library(lib)
    return torchlike_training_step(lib, build_torchlike_cnn(lib), random_images(BATCH_SIZE),
                                   random_labels(BATCH_SIZE))


def jax_step(jax: Any) -> Step:
    """Channels-last (NHWC), the layout XLA's CPU convolutions prefer."""
    lax = jax.lax
    rng = seeded_rng(3)
    params = {
        "conv1": (default_init(rng, 9, (3, 3, 1, 32)), default_init(rng, 9, (32,))),
        "conv2": (default_init(rng, 288, (3, 3, 32, 64)), default_init(rng, 288, (64,))),
        "fc1": (default_init(rng, 1600, (1600, 128)), default_init(rng, 1600, (128,))),
        "fc2": (default_init(rng, 128, (128, 10)), default_init(rng, 128, (10,))),
    }

    def max_pool_2x2(x: Any) -> Any:
        """Reshape and max, not lax.reduce_window, whose gradient is ~3x slower on XLA:CPU."""
        batch, height, width, channels = x.shape
        half_height, half_width = height // 2, width // 2
        x = x[:, : 2 * half_height, : 2 * half_width]  # drop an odd last row/column, as PyTorch
        return x.reshape(batch, half_height, 2, half_width, 2, channels).max(axis=(2, 4))

    def conv_relu_pool(x: Any, weight: Any, bias: Any) -> Any:
        x = lax.conv_general_dilated(x, weight, (1, 1), "VALID",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return max_pool_2x2(jax.nn.relu(x + bias))

    def loss_fn(params: dict, images: Any, labels: Any) -> Any:
        x = conv_relu_pool(images, *params["conv1"])
        x = conv_relu_pool(x, *params["conv2"])
        x = x.reshape(x.shape[0], -1)
        x = jax.nn.relu(x @ params["fc1"][0] + params["fc1"][1])
        return jax_cross_entropy(jax, x @ params["fc2"][0] + params["fc2"][1], labels)

    images = random_images(BATCH_SIZE).transpose(0, 2, 3, 1).copy()
    return jax_momentum_training_step(jax, loss_fn, params, images, random_labels(BATCH_SIZE))


def numpy_step(numpy: Any) -> Step:
    """Hand-written NumPy, channels-last, convolutions as im2col + GEMM."""
    rng = seeded_rng(3)
    conv1, conv2 = Conv(rng, 1, 32, 3, dims=2), Conv(rng, 32, 64, 3, dims=2)
    fc1, fc2 = Linear(rng, 1600, 128), Linear(rng, 128, 10)
    relu1, relu2, relu3 = ReLU(), ReLU(), ReLU()
    pool1, pool2 = MaxPool2x2(), MaxPool2x2()
    params = [param for layer in (conv1, conv2, fc1, fc2) for param in layer.parameters()]
    velocities = [numpy.zeros_like(param) for param in params]
    images = random_images(BATCH_SIZE).transpose(0, 2, 3, 1).copy()
    labels = random_labels(BATCH_SIZE)

    def step() -> float:
        x = pool1.forward(relu1.forward(conv1.forward(images)))
        x = pool2.forward(relu2.forward(conv2.forward(x)))
        pooled_shape = x.shape
        x = relu3.forward(fc1.forward(x.reshape(BATCH_SIZE, -1)))
        loss, grad = softmax_cross_entropy(fc2.forward(x), labels)

        grad, fc2_grads = fc2.backward(grad)
        grad, fc1_grads = fc1.backward(relu3.backward(grad))
        grad = pool2.backward(grad.reshape(pooled_shape))
        grad, conv2_grads = conv2.backward(relu2.backward(grad))
        grad = pool1.backward(grad)
        _, conv1_grads = conv1.backward(relu1.backward(grad), needs_input_grad=False)
        momentum_update(params, conv1_grads + conv2_grads + fc1_grads + fc2_grads, velocities)
        return loss

    return step


def floor_step(numpy: Any) -> Step:
    """Convolutions as im2col GEMMs: rows are output positions, inputs are in_channels * 3 * 3."""
    layers = [
        GemmLayer(BATCH_SIZE * 26 * 26, 1 * 9, 32, needs_input_grad=False),
        GemmLayer(BATCH_SIZE * 11 * 11, 32 * 9, 64),
        GemmLayer(BATCH_SIZE, 1600, 128),
        GemmLayer(BATCH_SIZE, 128, 10),
    ]
    return gemm_floor_step(numpy, layers)


CASE = Case(
    name="cnn-b64",
    title="CNN 28x28, batch 64",
    samples_per_step=BATCH_SIZE,
    builders={
        "pytorch": torchlike_step,
        "chainrule": torchlike_step,
        "jax": jax_step,
        "numpy": numpy_step,
        "floor": floor_step,
    },
    notes={"jax": "channels-last; max-pool as reshape + max, whose gradient XLA runs ~3x "
                  "faster than lax.reduce_window's."},
)
