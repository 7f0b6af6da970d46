"""What every benchmark case is made of, and the pieces several cases share.

A case is one training step of one model, written once per implementation. The PyTorch and
chainrule implementations are the *same* code: a builder that takes the library module (``lib``)
and uses only PyTorch's names, so ``lib`` can be ``torch`` or ``chainrule``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Step = Callable[[], Any]
"""One training step; returns when its work is finished (JAX steps block on their results)."""

StepBuilder = Callable[[Any], Step]
"""Takes a library module (``torch``, ``chainrule``, ``jax``, ``numpy``) and returns a ``Step``."""

NUMPY_ONLY = "chainrule-numpy"
"""The row of chainrule with its optional numba kernels switched off (NumPy alone)."""

COMPILED = "chainrule-compiled"
"""The row of chainrule's step under ``chainrule.compile`` (recorded, then replayed)."""

LEARNING_RATE = 0.01
MOMENTUM = 0.9
SEED = 0


@dataclass(frozen=True)
class Case:
    """One benchmark: a name to filter on, a title to print, and a step builder per library.

    ``samples_per_step`` turns step times into throughput. ``unit`` is how step times are printed
    (``"ms"`` or ``"us"``). ``minimum_memory_bytes``, where it can be computed, is the smallest
    memory a training step can live in (see ``mlp_minimum_memory_bytes``). ``notes`` maps a
    library to a remark printed under the speed table when that library ran.
    """

    name: str
    title: str
    samples_per_step: int
    builders: Mapping[str, StepBuilder]
    unit: str = "ms"
    minimum_memory_bytes: int | None = None
    measure_memory: bool = True
    notes: Mapping[str, str] = field(default_factory=dict)


def seeded_rng(offset: int = 0) -> np.random.Generator:
    return np.random.default_rng(SEED + offset)


def random_labels(batch_size: int, num_classes: int = 10) -> np.ndarray:
    return seeded_rng(1).integers(0, num_classes, size=batch_size).astype(np.int64)


def seed_library(lib: Any) -> None:
    """Fix the library's weight initialisation, where it offers ``manual_seed``.

    A missing ``manual_seed`` is not a reason to skip a speed benchmark, so it is looked up
    rather than required.
    """
    manual_seed = getattr(lib, "manual_seed", None)
    if manual_seed is not None:
        manual_seed(SEED)


def torchlike_training_step(lib: Any, model: Any, inputs: np.ndarray, labels: np.ndarray) -> Step:
    """Cross-entropy, backward and SGD with momentum, written with PyTorch's names only."""
    input_tensor = lib.tensor(inputs)
    label_tensor = lib.tensor(labels)
    optimizer = lib.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    cross_entropy = lib.nn.functional.cross_entropy

    def step() -> None:
        optimizer.zero_grad()
        loss = cross_entropy(model(input_tensor), label_tensor)
        loss.backward()
        optimizer.step()

    return step


def jax_momentum_training_step(jax: Any, loss_fn: Callable, params: Any, inputs: np.ndarray,
                               labels: np.ndarray) -> Step:
    """``jax.jit`` of value_and_grad plus momentum SGD (PyTorch's rule: v = m*v + g; p -= lr*v).

    Parameters and velocities are donated to the compiled step so XLA can update them in place;
    each call blocks until the new values exist.
    """
    tree_map = jax.tree_util.tree_map
    value_and_grad = jax.value_and_grad(loss_fn)

    def train_step(params: Any, velocity: Any, inputs: Any, labels: Any) -> tuple:
        loss, grads = value_and_grad(params, inputs, labels)
        velocity = tree_map(lambda v, g: MOMENTUM * v + g, velocity, grads)
        params = tree_map(lambda p, v: p - LEARNING_RATE * v, params, velocity)
        return params, velocity, loss

    compiled_step = jax.jit(train_step, donate_argnums=(0, 1))
    state = {
        "params": tree_map(jax.numpy.asarray, params),
        "velocity": tree_map(lambda p: jax.numpy.zeros(p.shape, p.dtype), params),
    }
    device_inputs = jax.numpy.asarray(inputs)
    device_labels = jax.numpy.asarray(labels)

    def step() -> None:
        params, velocity, loss = compiled_step(state["params"], state["velocity"],
                                               device_inputs, device_labels)
        jax.block_until_ready((params, velocity, loss))
        state["params"], state["velocity"] = params, velocity

    return step


def jax_cross_entropy(jax: Any, logits: Any, labels: Any) -> Any:
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    picked = jax.numpy.take_along_axis(log_probs, labels[:, None], axis=-1)
    return -picked.mean()


def default_init(rng: np.random.Generator, fan_in: int, shape: Sequence[int]) -> np.ndarray:
    """Uniform in +-1/sqrt(fan_in), PyTorch's default for Linear and Conv weights and biases.

    For the implementations that make their own weights (JAX, NumPy).
    """
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


@dataclass(frozen=True)
class GemmLayer:
    """The matrix products one layer costs in a training step.

    Forward ``x @ W`` with x ``(rows, inputs)`` and W ``(inputs, outputs)``; backward
    ``grad_W = x.T @ grad_out`` and, unless ``needs_input_grad`` is False (the first layer),
    ``grad_x = grad_out @ W.T``. ``repeats`` counts layers that share a shape (a recurrent
    layer's per-time-step products).
    """

    rows: int
    inputs: int
    outputs: int
    needs_input_grad: bool = True
    repeats: int = 1


def gemm_floor_step(numpy: Any, layers: Sequence[GemmLayer]) -> Step:
    """A step made of nothing but the GEMMs of ``layers``, on preallocated float32 arrays.

    No activations, no losses, no allocation: the BLAS at full speed. The time of this step
    is the floor that a NumPy-based library's training step cannot go below. The products run
    through ``chainrule.kernels.blas.matmul`` where chainrule imports, so the floor uses the
    BLAS chainrule chose (``chainrule.backends.blas``: MKL or NumPy's) and % of floor compares
    like with like; ``numpy.matmul`` otherwise.
    """
    rng = seeded_rng(2)
    buffers = []
    for layer in layers:
        shapes = {
            "x": (layer.rows, layer.inputs),
            "weight": (layer.inputs, layer.outputs),
            "out": (layer.rows, layer.outputs),
            "grad_out": (layer.rows, layer.outputs),
            "grad_weight": (layer.inputs, layer.outputs),
            "grad_x": (layer.rows, layer.inputs),
        }
        buffers.append({name: rng.standard_normal(shape, dtype=numpy.float32)
                        for name, shape in shapes.items()})
    try:
        from chainrule.kernels.blas import matmul
    except ImportError:
        matmul = numpy.matmul

    def step() -> None:
        for layer, arrays in zip(layers, buffers, strict=True):
            for _ in range(layer.repeats):
                matmul(arrays["x"], arrays["weight"], out=arrays["out"])
        for layer, arrays in zip(reversed(layers), reversed(buffers), strict=True):
            for _ in range(layer.repeats):
                matmul(arrays["x"].T, arrays["grad_out"], out=arrays["grad_weight"])
                if layer.needs_input_grad:
                    matmul(arrays["grad_out"], arrays["weight"].T, out=arrays["grad_x"])

    return step


def numpy_only(builder: StepBuilder) -> StepBuilder:
    """chainrule's step with the numba kernels switched off while it runs: the NumPy-only row.
    (The switch is process-wide, so it is set per step rather than per build.)"""

    def build(lib: Any) -> Step:
        step = builder(lib)
        backend = lib.backends.numba

        def step_on_numpy_alone() -> Any:
            was_enabled, backend.enabled = backend.enabled, False
            try:
                return step()
            finally:
                backend.enabled = was_enabled

        return step_on_numpy_alone

    return build


def with_numpy_only_row(case: Case) -> Case:
    """``case`` with a ``NUMPY_ONLY`` builder beside its chainrule one, when it has one."""
    if "chainrule" not in case.builders:
        return case
    builders = {**case.builders, NUMPY_ONLY: numpy_only(case.builders["chainrule"])}
    return dataclasses.replace(case, builders=builders)


def compiled(builder: StepBuilder, notes: dict[str, str]) -> StepBuilder:
    """chainrule's step under ``chainrule.compile``. Building it makes the two recording calls
    and one replay, timed (CPU seconds of this process), into ``notes``: the first-call cost."""

    def build(lib: Any) -> Step:
        eager_step = builder(lib)
        eager_seconds = _cpu_seconds_of(eager_step, 3)  # warm, as the recordings are not
        step = lib.compile(eager_step)
        first, second, replay = (_cpu_seconds_of(step, 1) for _ in range(3))
        if step.stats["replays"] != 1:
            notes[COMPILED] = "runs eagerly: " + "; ".join(step.notes)
        else:
            ops = next(iter(step.programs.values())).op_count
            notes[COMPILED] = (f"first calls (recordings) {first * 1e3:.2f} ms and {second * 1e3:.2f} "
                               f"ms of CPU, first replay {replay * 1e3:.2f} ms, eager step "
                               f"{eager_seconds * 1e3:.2f} ms; {ops} ops per replay")
        return step

    return build


def _cpu_seconds_of(step: Step, count: int) -> float:
    import time

    start = time.process_time()
    for _ in range(count):
        step()
    return (time.process_time() - start) / count


def with_compiled_row(case: Case) -> Case:
    """``case`` with a ``COMPILED`` builder beside its chainrule one, when it has one."""
    if "chainrule" not in case.builders:
        return case
    notes = dict(case.notes)
    builders = {**case.builders, COMPILED: compiled(case.builders["chainrule"], notes)}
    return dataclasses.replace(case, builders=builders, notes=notes)
