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
    jnp, lax = jax.numpy, jax.lax
    rng = seeded_rng(3)
    params = {
        "conv1": (default_init(rng, 9, (3, 3, 1, 32)), default_init(rng, 9, (32,))),
        "conv2": (default_init(rng, 288, (3, 3, 32, 64)), default_init(rng, 288, (64,))),
        "fc1": (default_init(rng, 1600, (1600, 128)), default_init(rng, 1600, (128,))),
        "fc2": (default_init(rng, 128, (128, 10)), default_init(rng, 128, (10,))),
    }

    def conv_relu_pool(x: Any, weight: Any, bias: Any) -> Any:
        x = lax.conv_general_dilated(x, weight, (1, 1), "VALID",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
        x = jax.nn.relu(x + bias)
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

    def loss_fn(params: dict, images: Any, labels: Any) -> Any:
        x = conv_relu_pool(images, *params["conv1"])
        x = conv_relu_pool(x, *params["conv2"])
        x = x.reshape(x.shape[0], -1)
        x = jax.nn.relu(x @ params["fc1"][0] + params["fc1"][1])
        return jax_cross_entropy(jax, x @ params["fc2"][0] + params["fc2"][1], labels)

    images = random_images(BATCH_SIZE).transpose(0, 2, 3, 1).copy()
    return jax_momentum_training_step(jax, loss_fn, params, images, random_labels(BATCH_SIZE))


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
        "floor": floor_step,
    },
)
