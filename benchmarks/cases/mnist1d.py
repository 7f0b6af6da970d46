"""The MNIST-1D convolutional classifier: three Conv1d-ReLU layers and a Linear head."""

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
from benchmarks.cases.numpy_layers import Conv, Linear, ReLU, momentum_update, softmax_cross_entropy

BATCH_SIZE = 100
LENGTH = 40
CHANNELS = 32


def random_signals(batch_size: int) -> np.ndarray:
    """``(B, 1, 40)``, PyTorch's channels-first layout."""
    return seeded_rng().standard_normal((batch_size, 1, LENGTH), dtype=np.float32)


def build_torchlike_conv1d(lib: Any) -> Any:
    """The model, written once for ``torch`` and ``chainrule``; padding keeps the length at 40."""
    nn = lib.nn
    return nn.Sequential(
        nn.Conv1d(1, CHANNELS, 5, padding=2), nn.ReLU(),
        nn.Conv1d(CHANNELS, CHANNELS, 3, padding=1), nn.ReLU(),
        nn.Conv1d(CHANNELS, CHANNELS, 3, padding=1), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(CHANNELS * LENGTH, 10),
    )


def torchlike_step(lib: Any) -> Step:
    seed_library(lib)
    return torchlike_training_step(lib, build_torchlike_conv1d(lib), random_signals(BATCH_SIZE),
                                   random_labels(BATCH_SIZE))


def jax_step(jax: Any) -> Step:
    """Channels-last (NWC), the layout XLA's CPU convolutions prefer."""
    lax = jax.lax
    rng = seeded_rng(3)
    params = {
        "conv1": (default_init(rng, 5, (5, 1, CHANNELS)), default_init(rng, 5, (CHANNELS,))),
        "conv2": (default_init(rng, 96, (3, CHANNELS, CHANNELS)), default_init(rng, 96, (CHANNELS,))),
        "conv3": (default_init(rng, 96, (3, CHANNELS, CHANNELS)), default_init(rng, 96, (CHANNELS,))),
        "fc": (default_init(rng, CHANNELS * LENGTH, (CHANNELS * LENGTH, 10)),
               default_init(rng, CHANNELS * LENGTH, (10,))),
    }

    def conv_relu(x: Any, weight: Any, bias: Any) -> Any:
        pad = weight.shape[0] // 2
        x = lax.conv_general_dilated(x, weight, (1,), [(pad, pad)],
                                     dimension_numbers=("NWC", "WIO", "NWC"))
        return jax.nn.relu(x + bias)

    def loss_fn(params: dict, signals: Any, labels: Any) -> Any:
        x = signals
        for name in ("conv1", "conv2", "conv3"):
            x = conv_relu(x, *params[name])
        x = x.reshape(x.shape[0], -1)
        return jax_cross_entropy(jax, x @ params["fc"][0] + params["fc"][1], labels)

    signals = random_signals(BATCH_SIZE).transpose(0, 2, 1).copy()
    return jax_momentum_training_step(jax, loss_fn, params, signals, random_labels(BATCH_SIZE))


def numpy_step(numpy: Any) -> Step:
    """Hand-written NumPy, channels-last, convolutions as im2col + GEMM."""
    rng = seeded_rng(3)
    convs = [Conv(rng, 1, CHANNELS, 5, dims=1, padding=2),
             Conv(rng, CHANNELS, CHANNELS, 3, dims=1, padding=1),
             Conv(rng, CHANNELS, CHANNELS, 3, dims=1, padding=1)]
    relus = [ReLU() for _ in convs]
    head = Linear(rng, CHANNELS * LENGTH, 10)
    params = [param for layer in (*convs, head) for param in layer.parameters()]
    velocities = [numpy.zeros_like(param) for param in params]
    signals = random_signals(BATCH_SIZE).transpose(0, 2, 1).copy()
    labels = random_labels(BATCH_SIZE)

    def step() -> float:
        x = signals
        for conv, relu in zip(convs, relus, strict=True):
            x = relu.forward(conv.forward(x))
        features_shape = x.shape
        loss, grad = softmax_cross_entropy(head.forward(x.reshape(BATCH_SIZE, -1)), labels)

        grad, grads = head.backward(grad)
        grad = grad.reshape(features_shape)
        for index in reversed(range(len(convs))):
            grad, conv_grads = convs[index].backward(relus[index].backward(grad),
                                                     needs_input_grad=index > 0)
            grads = conv_grads + grads
        momentum_update(params, grads, velocities)
        return loss

    return step


def floor_step(numpy: Any) -> Step:
    """Convolutions as im2col GEMMs: rows are output positions, inputs are in_channels * k."""
    rows = BATCH_SIZE * LENGTH
    layers = [
        GemmLayer(rows, 1 * 5, CHANNELS, needs_input_grad=False),
        GemmLayer(rows, CHANNELS * 3, CHANNELS),
        GemmLayer(rows, CHANNELS * 3, CHANNELS),
        GemmLayer(BATCH_SIZE, CHANNELS * LENGTH, 10),
    ]
    return gemm_floor_step(numpy, layers)


CASE = Case(
    name="mnist1d-conv1d-b100",
    title="MNIST-1D Conv1d CNN, batch 100",
    samples_per_step=BATCH_SIZE,
    builders={
        "pytorch": torchlike_step,
        "chainrule": torchlike_step,
        "jax": jax_step,
        "numpy": numpy_step,
        "floor": floor_step,
    },
)
