"""Multi-layer perceptrons on MNIST-shaped data: Linear, ReLU, ..., Linear, cross-entropy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.cases.common import (
    LEARNING_RATE,
    MOMENTUM,
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

FLOAT32_BYTES = 4
INT64_BYTES = 8


def random_images(batch_size: int, features: int) -> np.ndarray:
    return seeded_rng().random((batch_size, features), dtype=np.float32)


def initial_params(sizes: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Weights as ``(in, out)`` so the forward pass is ``x @ W + b``."""
    rng = seeded_rng(3)
    return [(default_init(rng, fan_in, (fan_in, fan_out)), default_init(rng, fan_in, (fan_out,)))
            for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True)]


def build_torchlike_mlp(lib: Any, sizes: Sequence[int]) -> Any:
    """The model, written once for ``torch`` and ``chainrule``."""
    layers = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if index > 0:
            layers.append(lib.nn.ReLU())
        layers.append(lib.nn.Linear(fan_in, fan_out))
    return lib.nn.Sequential(*layers)


def torchlike_step(lib: Any, sizes: Sequence[int], batch_size: int) -> Step:
    seed_library(lib)
    model = build_torchlike_mlp(lib, sizes)
    return torchlike_training_step(lib, model, random_images(batch_size, sizes[0]),
                                   random_labels(batch_size))


def jax_step(jax: Any, sizes: Sequence[int], batch_size: int) -> Step:
    jnp = jax.numpy

    def loss_fn(params: list, inputs: Any, labels: Any) -> Any:
        activation = inputs
        for index, (weight, bias) in enumerate(params):
            if index > 0:
                activation = jax.nn.relu(activation)
            activation = activation @ weight + bias
        return jax_cross_entropy(jax, activation, labels)

    params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in initial_params(sizes)]
    return jax_momentum_training_step(jax, loss_fn, params, random_images(batch_size, sizes[0]),
                                      random_labels(batch_size))


def numpy_step(numpy: Any, sizes: Sequence[int], batch_size: int) -> Step:
    """Forward, backward and momentum update written out by hand in NumPy, no framework."""
    params = initial_params(sizes)
    velocities = [(numpy.zeros_like(w), numpy.zeros_like(b)) for w, b in params]
    inputs = random_images(batch_size, sizes[0])
    labels = random_labels(batch_size)
    rows = numpy.arange(batch_size)

    def step() -> float:
        # Forward, keeping each layer's input: its weight gradient and the ReLU mask need it.
        layer_inputs = []
        activation = inputs
        for index, (weight, bias) in enumerate(params):
            if index > 0:
                activation = numpy.maximum(activation, 0.0)
            layer_inputs.append(activation)
            activation = activation @ weight + bias
        logits = activation

        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = numpy.exp(shifted)
        probabilities = exp / exp.sum(axis=1, keepdims=True)
        loss = -numpy.log(probabilities[rows, labels]).mean()

        grad_output = probabilities
        grad_output[rows, labels] -= 1.0
        grad_output /= batch_size
        for index in reversed(range(len(params))):
            weight, bias = params[index]
            layer_input = layer_inputs[index]
            grad_weight = layer_input.T @ grad_output
            grad_bias = grad_output.sum(axis=0)
            if index > 0:
                # layer_input is a ReLU output, so it is positive exactly where the ReLU passed.
                grad_output = (grad_output @ weight.T) * (layer_input > 0)
            velocity_weight, velocity_bias = velocities[index]
            for param, velocity, grad in ((weight, velocity_weight, grad_weight),
                                          (bias, velocity_bias, grad_bias)):
                velocity *= MOMENTUM
                velocity += grad
                param -= LEARNING_RATE * velocity
        return float(loss)

    return step


def floor_step(numpy: Any, sizes: Sequence[int], batch_size: int) -> Step:
    layers = [GemmLayer(batch_size, fan_in, fan_out, needs_input_grad=index > 0)
              for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))]
    return gemm_floor_step(numpy, layers)


def mlp_minimum_memory_bytes(sizes: Sequence[int], batch_size: int) -> int:
    """Smallest memory one float32 training step needs: ``4 * (3 P + B * A) + 8 B`` bytes.

    P = sum over layers of ``in * out + out`` parameters, held three times: the parameters, their
    gradients and SGD's momentum buffers. A = what backward must keep per sample: the input
    (``sizes[0]``, for the first weight gradient), each hidden ReLU output (the next layer's
    input and the ReLU's own mask), and the softmax probabilities (``sizes[-1]``) that
    cross-entropy's gradient is made of. The last term is the int64 labels.
    """
    parameters = sum(fan_in * fan_out + fan_out
                     for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True))
    saved_per_sample = sum(sizes)
    return FLOAT32_BYTES * (3 * parameters + batch_size * saved_per_sample) + INT64_BYTES * batch_size


def mlp_case(sizes: Sequence[int], batch_size: int) -> Case:
    sizes = tuple(sizes)
    shape = "-".join(str(size) for size in sizes)

    def bind(builder: Any) -> Any:
        return lambda lib: builder(lib, sizes, batch_size)

    return Case(
        name=f"mlp-{shape}-b{batch_size}",
        title=f"MLP {shape}, batch {batch_size}",
        samples_per_step=batch_size,
        builders={
            "pytorch": bind(torchlike_step),
            "chainrule": bind(torchlike_step),
            "jax": bind(jax_step),
            "numpy": bind(numpy_step),
            "floor": bind(floor_step),
        },
        minimum_memory_bytes=mlp_minimum_memory_bytes(sizes, batch_size),
    )


CASES = [
    mlp_case((784, 512, 512, 10), 128),
    mlp_case((784, 512, 512, 10), 32),
    mlp_case((784, 128, 10), 64),
]
