"""A small bidirectional GRU over a length-40 sequence, classified from its last time step."""

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

BATCH_SIZE = 100
LENGTH = 40
HIDDEN = 64


def random_sequences(batch_size: int) -> np.ndarray:
    """``(B, 40, 1)``, batch first."""
    return seeded_rng().standard_normal((batch_size, LENGTH, 1), dtype=np.float32)


def build_torchlike_gru(lib: Any) -> Any:
    """The model, written once for ``torch`` and ``chainrule``."""
    nn = lib.nn

    class GRUClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(1, HIDDEN, batch_first=True, bidirectional=True)
            self.head = nn.Linear(2 * HIDDEN, 10)

        def forward(self, sequences: Any) -> Any:
            outputs, _ = self.gru(sequences)
            return self.head(outputs[:, -1, :])

    return GRUClassifier()


def torchlike_step(lib: Any) -> Step:
    seed_library(lib)
    return torchlike_training_step(lib, build_torchlike_gru(lib), random_sequences(BATCH_SIZE),
                                   random_labels(BATCH_SIZE))


def jax_params() -> dict:
    """Weights laid out for ``x @ W``: per direction ``(W_ih, W_hh, b_ih, b_hh)``, and the head."""
    rng = seeded_rng(3)

    def direction() -> tuple:
        return (default_init(rng, HIDDEN, (1, 3 * HIDDEN)),
                default_init(rng, HIDDEN, (HIDDEN, 3 * HIDDEN)),
                default_init(rng, HIDDEN, (3 * HIDDEN,)),
                default_init(rng, HIDDEN, (3 * HIDDEN,)))

    head = (default_init(rng, 2 * HIDDEN, (2 * HIDDEN, 10)), default_init(rng, 2 * HIDDEN, (10,)))
    return {"forward": direction(), "backward": direction(), "head": head}


def jax_logits(jax: Any, params: dict, sequences: Any) -> Any:
    """PyTorch's GRU equations (gates r, z, n in that order) under ``lax.scan``."""
    jnp = jax.numpy

    def run_direction(direction: tuple, time_major_inputs: Any) -> Any:
        """Hidden states ``(T, B, H)`` of one direction over ``(T, B, 1)`` inputs."""
        weight_ih, weight_hh, bias_ih, bias_hh = direction
        input_gates = time_major_inputs @ weight_ih + bias_ih

        def cell(hidden: Any, gates_from_input: Any) -> tuple:
            gates_from_hidden = hidden @ weight_hh + bias_hh
            input_r, input_z, input_n = jnp.split(gates_from_input, 3, axis=-1)
            hidden_r, hidden_z, hidden_n = jnp.split(gates_from_hidden, 3, axis=-1)
            reset = jax.nn.sigmoid(input_r + hidden_r)
            update = jax.nn.sigmoid(input_z + hidden_z)
            candidate = jnp.tanh(input_n + reset * hidden_n)
            hidden = (1.0 - update) * candidate + update * hidden
            return hidden, hidden

        initial = jnp.zeros((time_major_inputs.shape[1], HIDDEN), time_major_inputs.dtype)
        _, hiddens = jax.lax.scan(cell, initial, input_gates)
        return hiddens

    time_major = jnp.swapaxes(sequences, 0, 1)
    forward = run_direction(params["forward"], time_major)
    backward = run_direction(params["backward"], time_major[::-1])
    # The backward direction reaches the last position first.
    last_step = jnp.concatenate([forward[-1], backward[0]], axis=-1)
    weight, bias = params["head"]
    return last_step @ weight + bias


def jax_step(jax: Any) -> Step:
    def loss_fn(params: dict, sequences: Any, labels: Any) -> Any:
        return jax_cross_entropy(jax, jax_logits(jax, params, sequences), labels)

    return jax_momentum_training_step(jax, loss_fn, jax_params(), random_sequences(BATCH_SIZE),
                                      random_labels(BATCH_SIZE))


def floor_step(numpy: Any) -> Step:
    """Per direction: one input projection over all steps, and one hidden GEMM per time step."""
    layers = [
        GemmLayer(BATCH_SIZE * LENGTH, 1, 3 * HIDDEN, needs_input_grad=False, repeats=2),
        GemmLayer(BATCH_SIZE, HIDDEN, 3 * HIDDEN, repeats=2 * LENGTH),
        GemmLayer(BATCH_SIZE, 2 * HIDDEN, 10),
    ]
    return gemm_floor_step(numpy, layers)


CASE = Case(
    name="gru-b100",
    title="Bidirectional GRU 64, 40 steps, batch 100",
    samples_per_step=BATCH_SIZE,
    builders={
        "pytorch": torchlike_step,
        "chainrule": torchlike_step,
        "jax": jax_step,
        "floor": floor_step,
    },
)
