"""The smallest graph: ``(a + b).sum().backward()`` on two 8-element vectors.

It measures a library's fixed cost per operation (graph recording, dispatch, the backward
pass's bookkeeping), which dominates small models.
"""

from __future__ import annotations

from typing import Any

from benchmarks.cases.common import Case, Step, seeded_rng

SIZE = 8


def torchlike_step(lib: Any) -> Step:
    rng = seeded_rng()
    a = lib.tensor(rng.standard_normal(SIZE, dtype="float32"), requires_grad=True)
    b = lib.tensor(rng.standard_normal(SIZE, dtype="float32"), requires_grad=True)

    def step() -> None:
        (a + b).sum().backward()

    return step


def jax_step(jax: Any) -> Step:
    """``jax.jit(jax.grad(f))``: JAX's way to the same gradients, so one compiled call."""
    rng = seeded_rng()
    a = jax.numpy.asarray(rng.standard_normal(SIZE, dtype="float32"))
    b = jax.numpy.asarray(rng.standard_normal(SIZE, dtype="float32"))
    gradients = jax.jit(jax.grad(lambda a, b: (a + b).sum(), argnums=(0, 1)))

    def step() -> None:
        jax.block_until_ready(gradients(a, b))

    return step


CASE = Case(
    name="tiny-add-sum-backward",
    title="tiny (a + b).sum().backward(), shape (8,)",
    samples_per_step=1,
    unit="us",
    measure_memory=False,
    builders={
        "pytorch": torchlike_step,
        "chainrule": torchlike_step,
        "jax": jax_step,
    },
    notes={"jax": "one call of jax.jit(jax.grad(f)) on the two vectors."},
)
