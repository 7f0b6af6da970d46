"""chainrule.compile: replayed calls give eager's numbers bit for bit, over random programs from
the op database and over real training steps; what cannot be captured runs eagerly, with a note.

Each check compares a compiled run with an eager run built the same way from the same seed, so
no tolerance is involved anywhere: ``np.array_equal`` on every loss, output, ``.grad`` and
parameter.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from op_db import OP_DB, Const, to_library

import chainrule
import chainrule.nn.functional as F
from chainrule import nn

# ------------------------------------------------------------------ random programs from OP_DB


def _float_tensors(value: Any) -> list[chainrule.Tensor]:
    if isinstance(value, chainrule.Tensor):
        return [value] if value.dtype.kind == "f" and value.requires_grad else []
    if isinstance(value, tuple | list):
        return [t for item in value for t in _float_tensors(item)]
    return []


def _scaled(value: Any, factor: float) -> Any:
    """A sample argument with its floating arrays scaled (same signs, so each op's domain holds):
    the data of a later call."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return np.asarray(value * factor, dtype=value.dtype)
    if isinstance(value, tuple | list):
        return type(value)(_scaled(item, factor) for item in value)
    return value


def _random_program(rng: np.random.Generator, size: int) -> list[tuple[Any, Any]]:
    """``size`` (op, sample) pairs drawn from the op database, differentiable ops only."""
    ops = [op for op in OP_DB if op.supports_grad]
    chosen = []
    while len(chosen) < size:
        op = ops[rng.integers(len(ops))]
        samples = op.sample_inputs()
        chosen.append((op, samples[rng.integers(len(samples))]))
    return chosen


def _program_call(program: list[tuple[Any, Any]], factor: float) -> tuple[list[Any], dict[str, Any]]:
    """The tensors of one call: each sample's arguments, scaled by ``factor``."""
    calls = []
    for op, sample in program:
        args = [to_library(_scaled(a, factor), chainrule) for a in sample.args]
        kwargs = {k: to_library(v, chainrule, requires_grad=False) for k, v in sample.kwargs.items()}
        calls.append((op, args, kwargs))
    return calls


def _program_body(calls: list[Any]) -> Any:
    """Every op of the program, a weighted sum of their floating outputs, its backward."""
    total = None
    outputs = []
    for index, (op, args, kwargs) in enumerate(calls):
        out = op.op(chainrule, *args, **kwargs)
        for item in _float_tensors(out):
            term = (item * (index + 1.5)).sum()
            total = term if total is None else total + term
        outputs.append(out)
    if total is not None:
        total.backward()
    return total, outputs


def _flat_arrays(value: Any) -> list[np.ndarray]:
    if isinstance(value, chainrule.Tensor):
        return [value.array]
    if isinstance(value, tuple | list):
        return [a for item in value for a in _flat_arrays(item)]
    return []


def _assert_same_bits(eager: list[np.ndarray], compiled: list[np.ndarray], what: str) -> None:
    assert len(eager) == len(compiled), what
    for index, (a, b) in enumerate(zip(eager, compiled)):
        assert a.dtype == b.dtype and a.shape == b.shape, f"{what}: array {index}"
        assert np.array_equal(a, b, equal_nan=True), f"{what}: array {index} differs"


def test_random_programs_from_the_op_database_replay_bit_for_bit() -> None:
    """40 programs of three random op samples each: four calls (two recordings, two replays)
    with different data, each against eager on the same data: results, outputs and every
    input's .grad equal to the bit. Most programs must actually replay."""
    rng = np.random.default_rng(16)
    replayed = 0
    programs = 40
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the programs that run eagerly say why; counted below
        for _ in range(programs):
            program = _random_program(rng, 3)
            arity = [len(_program_call(program, 1.0)[i][1]) for i in range(len(program))]

            def body(*tensors: Any, _program: Any = program, _arity: Any = arity) -> Any:
                calls, start = [], 0
                for (op, sample), count in zip(_program, _arity):
                    kwargs = {
                        k: to_library(v, chainrule, requires_grad=False) for k, v in sample.kwargs.items()
                    }
                    calls.append((op, list(tensors[start : start + count]), kwargs))
                    start += count
                return _program_body(calls)

            compiled = chainrule.compile(body)
            for call in range(4):
                factor = 1.0 + 0.01 * call
                eager_args = [a for _, args, _ in _program_call(program, factor) for a in args]
                compiled_args = [a for _, args, _ in _program_call(program, factor) for a in args]
                eager_result = body(*eager_args)
                compiled_result = compiled(*compiled_args)
                names = ", ".join(op.name for op, _ in program)
                _assert_same_bits(
                    _flat_arrays(eager_result),
                    _flat_arrays(compiled_result),
                    f"results of [{names}], call {call}",
                )
                eager_grads = [t.grad for t in _float_tensors(eager_args)]
                compiled_grads = [t.grad for t in _float_tensors(compiled_args)]
                assert [g is None for g in eager_grads] == [g is None for g in compiled_grads]
                _assert_same_bits(
                    [g.array for g in eager_grads if g is not None],
                    [g.array for g in compiled_grads if g is not None],
                    f"gradients of [{names}], call {call}",
                )
            replayed += compiled.stats["replays"] == 2
    assert replayed >= 0.75 * programs, f"only {replayed} of {programs} programs replayed"


# ------------------------------------------------------------------------- training steps


class _GRUClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(3, 5, batch_first=True)
        self.head = nn.Linear(5, 4)

    def forward(self, x: chainrule.Tensor) -> chainrule.Tensor:
        out, _ = self.gru(x)
        return self.head(out[:, -1])


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 4))


def _cnn() -> nn.Module:
    return nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU(), nn.MaxPool1d(2), nn.Flatten(), nn.Linear(20, 4))


def _cnn2d() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(48, 4)
    )


MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "mlp": (_mlp, (8, 12)),
    "cnn1d": (_cnn, (8, 2, 12)),
    "cnn2d": (_cnn2d, (8, 1, 8, 8)),
    "gru": (_GRUClassifier, (8, 6, 3)),
}
OPTIMIZERS = {
    "sgd": lambda params: chainrule.optim.SGD(params, lr=0.05, momentum=0.9),
    "adam": lambda params: chainrule.optim.Adam(params, lr=0.01),
}


def _training_run(model_name: str, optimizer_name: str, how: str, steps: int) -> tuple[list[Any], Any]:
    """Losses and the model after ``steps`` steps; ``how`` is "eager", "step" (the whole
    training step compiled) or "module" (the model compiled, the rest eager)."""
    build, shape = MODELS[model_name]
    chainrule.manual_seed(0)
    model = build()
    optimizer = OPTIMIZERS[optimizer_name](model.parameters())
    forward = chainrule.compile(model) if how == "module" else model

    def step(x: chainrule.Tensor, y: chainrule.Tensor) -> chainrule.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(forward(x), y)
        loss.backward()
        optimizer.step()
        return loss

    run = chainrule.compile(step, fullgraph=True) if how == "step" else step
    rng = np.random.default_rng(1)
    losses = []
    for _ in range(steps):
        x = chainrule.tensor(rng.standard_normal(shape).astype(np.float32))
        y = chainrule.tensor(rng.integers(0, 4, shape[0]))
        losses.append(run(x, y).array.copy())
    if how != "eager":
        stats = run.stats if how == "step" else forward._compiled_forward.stats
        assert stats["replays"] == steps - 2 and stats["eager"] == 0, stats
    return losses, model


@pytest.mark.parametrize("optimizer_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("model_name", sorted(MODELS))
@pytest.mark.parametrize("how", ["step", "module"])
def test_compiled_training_equals_eager_bit_for_bit(model_name: str, optimizer_name: str, how: str) -> None:
    """Six steps (two recorded, four replayed): every loss, and every parameter after the
    last step, equal to eager's six steps to the bit."""
    eager_losses, eager_model = _training_run(model_name, optimizer_name, "eager", 6)
    losses, model = _training_run(model_name, optimizer_name, how, 6)
    _assert_same_bits(eager_losses, losses, "losses")
    _assert_same_bits(
        [p.array for p in eager_model.parameters()], [p.array for p in model.parameters()], "parameters"
    )


# ------------------------------------------------------------------- guards and fallbacks


def _linear_step(model: nn.Module, optimizer: Any) -> Callable[..., Any]:
    def step(x: chainrule.Tensor) -> chainrule.Tensor:
        optimizer.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        optimizer.step()
        return loss

    return step


def test_a_guard_miss_records_again() -> None:
    """A new batch shape gets its own program; a parameter replaced by load_state_dict (a new
    array) makes the old program miss and record again; the numbers stay eager's."""
    chainrule.manual_seed(0)
    model = nn.Linear(3, 2)
    twin = nn.Linear(3, 2)
    twin.load_state_dict(model.state_dict())
    step = chainrule.compile(_linear_step(model, chainrule.optim.SGD(model.parameters(), lr=0.1)))
    eager = _linear_step(twin, chainrule.optim.SGD(twin.parameters(), lr=0.1))
    rng = np.random.default_rng(0)
    for batch in (4, 4, 4, 5, 5, 5, 4):
        x = rng.standard_normal((batch, 3)).astype(np.float32)
        assert np.array_equal(step(chainrule.tensor(x)).array, eager(chainrule.tensor(x)).array)
    assert step.stats == {"recordings": 4, "replays": 3, "eager": 0}
    assert len(step.programs) == 2
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(state)  # copies into the same arrays: still the same program
    x = rng.standard_normal((4, 3)).astype(np.float32)
    assert np.array_equal(step(chainrule.tensor(x)).array, eager(chainrule.tensor(x)).array)
    assert step.stats["replays"] == 4
    model.weight.data = model.weight.detach().clone()  # a new array: the program must miss
    twin.weight.data = twin.weight.detach().clone()
    x = rng.standard_normal((4, 3)).astype(np.float32)
    assert np.array_equal(step(chainrule.tensor(x)).array, eager(chainrule.tensor(x)).array)
    assert step.stats["recordings"] == 5 and step.stats["replays"] == 4
    assert np.array_equal(model.weight.array, twin.weight.array)


@pytest.mark.parametrize(
    "reads",
    [
        lambda loss: loss.item(),
        lambda loss: float(loss),
        lambda loss: bool(loss > 0),
        lambda loss: repr(loss),
    ],
)
def test_reading_a_value_runs_eagerly_with_one_note(reads: Callable[[Any], Any]) -> None:
    x = chainrule.ones(3, requires_grad=True)

    def fn(t: chainrule.Tensor) -> chainrule.Tensor:
        loss = (t * 2).sum()
        if reads(loss):
            loss = loss * 3
        return loss

    compiled = chainrule.compile(fn)
    with pytest.warns(UserWarning, match="runs eagerly: Tensor.* reads a value"):
        compiled(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the note is given once
        for _ in range(3):
            assert compiled(x).item() == 18.0
    assert compiled.stats == {"recordings": 1, "replays": 0, "eager": 3}
    with pytest.raises(RuntimeError, match="fullgraph=True"):
        chainrule.compile(fn, fullgraph=True)(x)


def test_random_numbers_drawn_outside_an_op_are_not_frozen() -> None:
    """randn inside the function makes a different constant each call: the two recordings
    differ, so the function stays eager (a replay would repeat the first noise)."""
    compiled = chainrule.compile(lambda t: t + chainrule.randn(3))
    x = chainrule.zeros(3)
    with pytest.warns(UserWarning, match="different values"):
        first, second = compiled(x), compiled(x)
    third = compiled(x)
    assert not np.array_equal(first.array, second.array) and not np.array_equal(second.array, third.array)
    assert compiled.stats["eager"] == 1


def test_control_flow_on_python_state_is_not_frozen() -> None:
    calls = []

    def fn(t: chainrule.Tensor) -> chainrule.Tensor:
        calls.append(1)
        return t * 2 if len(calls) % 2 else t.exp()

    compiled = chainrule.compile(fn)
    x = chainrule.ones(2)
    with pytest.warns(UserWarning, match="two calls differed"):
        results = [compiled(x) for _ in range(4)]
    e = np.exp(np.float32(1.0))
    assert [r.array[0] for r in results] == [2.0, e, 2.0, e]


def test_dropout_keeps_drawing_fresh_noise() -> None:
    """Dropout draws its mask outside an op, so the two recordings differ and the module runs
    eagerly: with the same seed, the same masks as eager, call after call."""

    def run(compiled: bool) -> list[np.ndarray]:
        chainrule.manual_seed(3)
        layer = nn.Dropout(0.5)
        fn = chainrule.compile(layer) if compiled else layer
        return [fn(chainrule.ones(16)).array.copy() for _ in range(5)]

    eager = run(False)
    with pytest.warns(UserWarning, match="different values"):
        replayed = run(True)
    _assert_same_bits(eager, replayed, "dropout outputs")
    assert not np.array_equal(replayed[3], replayed[4])


def test_in_place_updates_and_hooks_run_eagerly() -> None:
    w = chainrule.ones(3, requires_grad=True)

    def manual_sgd(x: chainrule.Tensor) -> None:
        (w * x).sum().backward()
        with chainrule.no_grad():
            w.sub_(0.1 * w.grad)
        w.grad = None

    compiled = chainrule.compile(manual_sgd)
    with pytest.warns(UserWarning, match="in-place"):
        for _ in range(4):
            compiled(chainrule.ones(3))
    assert np.allclose(w.array, 0.6)  # four real updates
    hooked = chainrule.ones(3, requires_grad=True)
    hooked.register_hook(lambda g: g * 2)
    compiled = chainrule.compile(lambda x: (hooked * x).sum().backward())
    with pytest.warns(UserWarning, match="hook"):
        for _ in range(3):
            compiled(chainrule.ones(3))
    assert np.array_equal(hooked.grad.array, np.full(3, 6.0, np.float32))


def test_grads_accumulate_as_eager_when_not_zeroed() -> None:
    """Without zero_grad, each call adds into .grad (the engine's in-place accumulation)."""
    w = chainrule.ones(2, requires_grad=True)
    compiled = chainrule.compile(lambda x: (w * x).sum().backward())
    for _ in range(5):
        compiled(chainrule.tensor([1.0, 2.0]))
    assert compiled.stats["replays"] == 3
    assert np.array_equal(w.grad.array, np.array([5.0, 10.0], np.float32))


def test_no_grad_forward_replays_without_a_graph() -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh())
    compiled = chainrule.compile(model)
    x = chainrule.randn(2, 4)
    with chainrule.no_grad():
        outputs = [compiled(x) for _ in range(3)]
    assert compiled._compiled_forward.stats["replays"] == 1
    assert not outputs[-1].requires_grad
    with chainrule.no_grad():
        assert np.array_equal(outputs[-1].array, model(x).array)


def test_compile_keywords_and_decorator_forms() -> None:
    fn = lambda t: t + 1  # noqa: E731
    assert chainrule.compile(fn, disable=True) is fn
    with pytest.raises(RuntimeError, match="Unrecognized mode"):
        chainrule.compile(fn, mode="fastest")

    @chainrule.compile(mode="reduce-overhead", dynamic=False, backend="inductor")
    def add_one(t: chainrule.Tensor) -> chainrule.Tensor:
        return t + 1

    assert isinstance(add_one, chainrule.compiler.CompiledFunction)
    assert add_one(chainrule.zeros(2)).tolist() == [1.0, 1.0]
    compiled = chainrule.compile(nn.Linear(2, 2))
    assert [name for name, _ in compiled.named_parameters()] == ["_orig_mod.weight", "_orig_mod.bias"]
    assert compiled.in_features == 2
    with pytest.raises(TypeError, match="a function or a Module"):
        chainrule.compile(3)


def test_second_backward_through_a_replayed_forward_is_refused() -> None:
    compiled = chainrule.compile(nn.Linear(2, 1))
    x = chainrule.ones(1, 2)
    for _ in range(3):
        out = compiled(x).sum()
        out.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        out.backward()


def test_const_sample_marker_is_not_a_tensor() -> None:
    # the op-database helper this file relies on keeps Const arguments out of the gradients
    assert not to_library(Const(np.ones(2)), chainrule).requires_grad


def test_two_replayed_forwards_then_one_backward() -> None:
    """Two forwards before their backward: each keeps its own saved arrays (the ReLU masks are
    read off the reused ctx right after each forward), so the gradients are eager's."""

    def grads(compiled: bool) -> list[np.ndarray]:
        chainrule.manual_seed(0)
        model = _mlp()
        forward = chainrule.compile(model) if compiled else model
        rng = np.random.default_rng(2)
        for _ in range(4):
            first, second = (
                chainrule.tensor(rng.standard_normal((5, 12)).astype(np.float32)) for _ in range(2)
            )
            model.zero_grad()
            (forward(first).sum() + (forward(second) * 2).sum()).backward()
        if compiled:
            assert forward._compiled_forward.stats["replays"] >= 4
        return [p.grad.array for p in model.parameters()]

    _assert_same_bits(grads(False), grads(True), "gradients")


def test_train_and_eval_modes_get_their_own_programs() -> None:
    """Recorded in eval mode, the program does not serve train mode: batch norm's running
    statistics are updated (eagerly: an in-place update) once the model trains again."""
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    compiled = chainrule.compile(model)
    x = chainrule.randn(6, 3)
    model.eval()
    with chainrule.no_grad():
        for _ in range(3):
            compiled(x)
    assert compiled._compiled_forward.stats["replays"] == 1
    model.train()
    before = model[1].running_mean.array.copy()
    with pytest.warns(UserWarning, match="in-place"), chainrule.no_grad():
        compiled(x)
    assert not np.array_equal(before, model[1].running_mean.array)
    model.eval()
    with chainrule.no_grad():
        assert np.array_equal(compiled(x).array, model(x).array)  # recorded again: eager's


def test_forwards_never_backpropagated_stop_recording() -> None:
    """A compiled module called with grad on whose outputs never see a backward (inference
    without no_grad) would record on every call: after two such calls it runs eagerly."""
    compiled = chainrule.compile(nn.Linear(3, 2))
    x = chainrule.randn(2, 3)
    with pytest.warns(UserWarning, match="never backpropagated"):
        for _ in range(4):
            out = compiled(x)
    assert compiled._compiled_forward.stats == {"recordings": 3, "replays": 0, "eager": 1}
    assert out.requires_grad


def test_a_user_autograd_function_runs_eagerly() -> None:
    class Cube(chainrule.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: chainrule.Tensor) -> chainrule.Tensor:
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx: Any, grad: chainrule.Tensor) -> chainrule.Tensor:
            (x,) = ctx.saved_tensors
            return grad * 3 * x**2

    x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    compiled = chainrule.compile(lambda t: Cube.apply(t).sum().backward())
    with pytest.warns(UserWarning, match="user autograd.Function \\(Cube\\)"):
        for _ in range(3):
            compiled(x)
    assert np.array_equal(x.grad.array, np.array([9.0, 36.0], np.float32))


def test_a_compiled_modules_backward_passes_gradcheck() -> None:
    """The replayed backward (CompiledBackward) against finite differences of the forward."""
    chainrule.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    compiled = chainrule.compile(model)
    for _ in range(2):  # the two recording calls, so gradcheck's calls replay
        x = chainrule.randn(5, 3, dtype=chainrule.float64, requires_grad=True)
        compiled(x).sum().backward()
    x = chainrule.randn(5, 3, dtype=chainrule.float64, requires_grad=True)
    replayed = compiled(x)
    assert type(replayed.grad_fn).__name__ == "CompiledBackward"
    assert chainrule.autograd.gradcheck(compiled, (x,))
