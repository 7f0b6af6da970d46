"""From two recordings of a call to a flat Python function over arrays that replays it.

Two recordings of the same call (same guard key, different data) must agree step by step:
the same ops with the same flags on arguments from the same places, the same constants
(value for value), the same leaves and host calls. Where they differ, something in the call
depends on values or on state the recorder does not see (random numbers drawn outside an op, a
Python counter, a constant made from data), and the call is not replayable. Where they agree,
the second recording becomes a program: one line per step, each op's ``forward`` called on
arrays with a ``ctx`` made once, arrays dropped after their last use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.engine import owned_gradient
from chainrule.compiler._record import CONSTANT, EXTERNAL, SEQUENCE, SLOT, Recording, Step
from chainrule.tensor import Tensor

MISS = object()  # what a program returns when a guard fails (nothing has run then)
_new_object = object.__new__
_wrap = Tensor._wrap


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.shape == b.shape
            and a.dtype == b.dtype
            and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
        )
    if type(a) is not type(b):
        return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001  (an object without a usable ==: only itself is the same)
        return a is b


class _Comparison:
    """Compares two recordings; ``reason`` says where they first differ."""

    def __init__(self, first: Recording, second: Recording) -> None:
        self.first, self.second = first, second
        self.reason: str | None = None
        self.made_inside: set[int] = set()  # externals of ``second`` that are constants

    def differ(self, what: str) -> bool:
        self.reason = f"two calls differed: {what}"
        return True

    def spec(self, a: Any, b: Any, where: str) -> bool:
        """False (with a reason) when specs ``a`` and ``b`` differ."""
        if a[0] != b[0]:
            return not self.differ(f"an argument of {where} came from different places")
        kind = a[0]
        if kind == SLOT:
            return a[1] == b[1] or not self.differ(f"an argument of {where} came from different places")
        if kind == EXTERNAL:
            tensor_a, array_a, grad_a = self.first.externals[a[1]]
            tensor_b, array_b, grad_b = self.second.externals[b[1]]
            if tensor_a is tensor_b:
                return True
            if grad_a or grad_b or not _same_value(array_a, array_b):
                return not self.differ(
                    f"a tensor made during the call and used by {where} had "
                    "different values (random numbers, or made from data)"
                )
            self.made_inside.add(b[1])
            return True
        if kind == CONSTANT:
            return _same_value(a[1], b[1]) or not self.differ(
                f"a constant argument of {where} had different values (made from data?)"
            )
        if a[1] is not b[1] or len(a[2]) != len(b[2]):
            return not self.differ(f"an argument of {where} had a different structure")
        return all(self.spec(x, y, where) for x, y in zip(a[2], b[2]))

    def leaf(self, a: Tensor, b: Tensor) -> bool:
        if a is b:
            return True
        inputs_a, inputs_b = self.first.inputs, self.second.inputs
        same_input = any(x is a and y is b for x, y in zip(inputs_a, inputs_b))
        return same_input or not self.differ("gradients went to different tensors")

    def steps(self) -> bool:
        first, second = self.first.steps, self.second.steps
        if len(first) != len(second):
            return not self.differ(
                f"{len(first)} steps against {len(second)} (Python control "
                "flow that depends on values or state?)"
            )
        for step_a, step_b in zip(first, second):
            where = _describe(step_b)
            if (
                step_a.kind != step_b.kind
                or step_a.name != step_b.name
                or step_a.flags != step_b.flags
                or step_a.outputs != step_b.outputs
                or len(step_a.args) != len(step_b.args)
                or step_a.kwargs.keys() != step_b.kwargs.keys()
            ):
                return not self.differ(f"{_describe(step_a)} against {where}")
            if step_a.kind == "deposit":
                if not self.leaf(step_a.op, step_b.op):
                    return False
            elif step_a.op is not step_b.op:
                return not self.differ(f"{_describe(step_a)} against {where}")
            if not all(self.spec(x, y, where) for x, y in zip(step_a.args, step_b.args)):
                return False
            if not all(self.spec(step_a.kwargs[k], step_b.kwargs[k], where) for k in step_a.kwargs):
                return False
        return self.spec(self.first.result_spec, self.second.result_spec, "the result")


def compare(first: Recording, second: Recording) -> tuple[str | None, set[int]]:
    """(why the two recordings differ or None, the externals of ``second`` made inside the call)."""
    comparison = _Comparison(first, second)
    comparison.steps()
    return comparison.reason, comparison.made_inside


def _describe(step: Step) -> str:
    if step.kind == "op":
        return f"op {step.op.__name__}"
    if step.kind == "host":
        return f"{type(step.op).__name__}.{step.name}()"
    return step.kind


class Program:
    """A recording turned into Python source and compiled: ``run(*input_tensors)`` replays the
    call and returns its result, or ``MISS`` (having done nothing) when a guard fails."""

    def __init__(self, recording: Recording, made_inside: set[int]) -> None:
        self.names: dict[str, Any] = {"_MISS": MISS, "_wrap": _wrap, "_deposit": _deposit}
        self.made_inside = made_inside
        self.recording = recording
        head = self._guards(recording)
        head += [f"s{slot} = t{i}.array" for i, slot in enumerate(recording.input_slots)]
        parameters = ", ".join(f"t{i}" for i in range(len(recording.input_slots)))
        self.op_count = sum(step.kind == "op" for step in recording.steps)
        boundary = recording.boundary
        if boundary is None:  # the whole call: forward, backward, optimizer
            result_slots = set(_slots_in(recording.result_spec))
            body = self._body(recording.steps, result_slots, recording.input_slots)
            self.source = _function(
                "replay", parameters, head + body + [f"return {self._result(recording.result_spec)}"]
            )
            self.run = self._compiled(self.source)["replay"]
            self.backward = None
        else:  # a module's forward, and apart from it the backward of that forward
            forward_steps, backward_steps = _split(recording.steps, boundary)
            made = {slot for step in forward_steps for slot in step.outputs} | set(recording.input_slots)
            used_later = {slot for step in backward_steps for slot in _step_slots(step)}
            used_later |= {
                slot for spec in recording.backward_result if spec is not None for slot in _slots_in(spec)
            }
            saved = sorted(made & used_later)
            outputs = _slots_in(recording.result_spec)
            body = self._body(forward_steps, set(saved) | set(outputs), recording.input_slots)
            returned = "".join(f"s{slot}, " for slot in outputs)
            kept = "".join(f"s{slot}, " for slot in saved)
            forward_source = _function("replay", parameters, head + body + [f"return ({returned}), ({kept})"])
            grads = recording.backward_inputs
            backward_head = [f"{''.join(f's{slot}, ' for slot in saved)}= saved"] if saved else []
            backward_head += [f"s{slot} = g{i}" for i, slot in enumerate(grads)]
            results = [spec for spec in recording.backward_result]
            result_slots = {slot for spec in results if spec is not None for slot in _slots_in(spec)}
            body = self._body(backward_steps, result_slots, [*saved, *grads])
            returned = "".join(
                ("None" if spec is None else self._expression(spec)) + ", " for spec in results
            )
            backward_source = _function(
                "replay_backward",
                ", ".join(["saved", *(f"g{i}" for i in range(len(grads)))]),
                backward_head + body + [f"return ({returned})"],
            )
            self.source = forward_source + "\n" + backward_source
            namespace = self._compiled(self.source)
            self.run, self.backward = namespace["replay"], namespace["replay_backward"]
            self.leaves = [self._leaf_position(leaf) for leaf in recording.module_leaves]
            self.output_grads = recording.output_grads
            self.result_type = recording.result_type
        recording.alive = []  # the program holds what it needs; the rest may go

    def _compiled(self, source: str) -> dict[str, Any]:
        namespace = dict(self.names)
        exec(compile(source, "<chainrule.compile program>", "exec"), namespace)  # noqa: S102
        return namespace

    def _body(self, steps: list[Step], kept: set[int], inputs: list[int]) -> list[str]:
        """One line per step, and a ``del`` after the last use of each array not in ``kept``."""
        last_use = {slot: 0 for slot in inputs}
        for index, step in enumerate(steps):
            for slot in _step_slots(step):
                last_use[slot] = index
        lines = []
        for index, step in enumerate(steps):
            lines += self._step(step)
            dead = sorted(slot for slot, last in last_use.items() if last == index and slot not in kept)
            if dead:
                lines.append("del " + ", ".join(f"s{slot}" for slot in dead))
        return lines

    def _leaf_position(self, leaf: Tensor) -> Any:
        """An input's position, or the leaf tensor itself."""
        for position, tensor in enumerate(self.recording.inputs):
            if tensor is leaf:
                return position
        return leaf

    # ------------------------------------------------------------------------ naming
    def _name(self, prefix: str, value: Any) -> str:
        name = f"{prefix}{len(self.names)}"
        self.names[name] = value
        return name

    def _expression(self, spec: Any) -> str:
        kind = spec[0]
        if kind == SLOT:
            return f"s{spec[1]}"
        if kind == EXTERNAL:
            return self._external_array(spec[1])
        if kind == CONSTANT:
            value = spec[1]
            plain = type(value) in (bool, int, str) or (type(value) is float and np.isfinite(value))
            if value is None or plain:
                return repr(value)
            return self._name("k", value)
        items = [self._expression(item) for item in spec[2]]
        if spec[1] is tuple:
            return "(" + "".join(f"{item}, " for item in items) + ")"
        return "[" + ", ".join(items) + "]"

    def _external_array(self, index: int) -> str:
        key = f"e{index}"
        if key not in self.names:
            self.names[key] = self.recording.externals[index][1]
        return key

    def _external_tensor(self, index: int) -> str:
        key = f"E{index}"
        if key not in self.names:
            self.names[key] = self.recording.externals[index][0]
        return key

    def _leaf(self, leaf: Tensor) -> str:
        for position, tensor in enumerate(self.recording.inputs):
            if tensor is leaf:
                return f"t{position}"
        for name, value in self.names.items():
            if name.startswith("L") and value is leaf:
                return name
        return self._name("L", leaf)

    # ------------------------------------------------------------------------ pieces
    def _guards(self, recording: Recording) -> list[str]:
        """An external tensor must still hold the same array (parameter identity) with the same
        requires_grad; every module called must be in the same train/eval mode; a leaf
        gradients go to must have no hooks."""
        lines = []
        for index, (_, _, requires_grad) in enumerate(recording.externals):
            if index in self.made_inside:
                continue
            name = self._external_tensor(index)
            lines.append(
                f"if {name}.array is not {self._external_array(index)} or "
                f"{name}.requires_grad is not {requires_grad}: return _MISS"
            )
        for module, training in recording.modules:
            lines.append(f"if {self._name('M', module)}.training is not {training}: return _MISS")
        for step in recording.steps:
            if step.kind == "deposit":
                lines.append(f"if {self._leaf(step.op)}._hooks: return _MISS")
        return lines

    def _step(self, step: Step) -> list[str]:
        kind = step.kind
        if kind == "op":
            requires_grad, needs, several = step.flags
            ctx = _new_object(step.op)
            ctx.requires_grad = requires_grad
            ctx.needs_input_grad = needs if needs is not None else (False,) * len(step.args)
            ctx._saved_index = None
            ctx._save_out = False
            ctx_name = f"c{step.index}"
            self.names[ctx_name] = ctx
            forward = self._name("f", step.op.forward)
            arguments = [ctx_name, *(self._expression(a) for a in step.args)]
            arguments += [f"{name}={self._expression(v)}" for name, v in step.kwargs.items()]
            targets = ", ".join(f"s{slot}" for slot in step.outputs)
            if several:
                targets += "," if len(step.outputs) == 1 else ""
            return [f"{targets or '_'} = {forward}({', '.join(arguments)})  # {step.op.__name__}"]
        if kind == "ctx":
            return [f"s{step.outputs[0]} = c{step.flags[0]}.{step.name}"]
        if kind == "backward":
            ids = ", ".join(f"id({self._expression(a)})" for a in step.args)
            return [f"handed_out = {{{ids}}}"]
        if kind == "deposit":
            return [f"_deposit({self._leaf(step.op)}, {self._expression(step.args[0])}, handed_out)"]
        if kind == "host":
            method = self._name("H", getattr(step.op, step.name))
            arguments = [self._expression(a) for a in step.args]
            arguments += [f"{name}={self._expression(v)}" for name, v in step.kwargs.items()]
            return [f"{method}({', '.join(arguments)})  # {type(step.op).__name__}.{step.name}"]
        raise AssertionError(kind)

    def _result(self, spec: Any) -> str:
        kind = spec[0]
        if kind in (SLOT, EXTERNAL):
            return f"_wrap({self._expression(spec)})"
        if kind == SEQUENCE:
            items = [self._result(item) for item in spec[2]]
            if spec[1] is tuple:
                return "(" + "".join(f"{item}, " for item in items) + ")"
            return "[" + ", ".join(items) + "]"
        if kind == "dict":
            return (
                "{"
                + ", ".join(
                    f"{self._expression((CONSTANT, key))}: {self._result(item)}"
                    for key, item in zip(spec[1], spec[2])
                )
                + "}"
            )
        return self._expression(spec)


def _function(name: str, parameters: str, lines: list[str]) -> str:
    return f"def {name}({parameters}):\n" + "".join(f"    {line}\n" for line in lines)


def _step_slots(step: Step) -> list[int]:
    """Every slot a step reads or writes."""
    slots = list(step.outputs)
    for spec in (*step.args, *step.kwargs.values()):
        slots += _slots_in(spec)
    return slots


def _split(steps: list[Step], boundary: int) -> tuple[list[Step], list[Step]]:
    """A module's steps as (forward, backward). An array backward reads from a forward op's ctx
    is read right after that op: the ctx is reused by the next replayed forward, which may come
    before this backward."""
    forward, backward = list(steps[:boundary]), []
    for step in steps[boundary:]:
        if step.kind == "ctx" and step.flags[0] < boundary:
            source = next(i for i, s in enumerate(forward) if s.index == step.flags[0])
            forward.insert(source + 1, step)
        else:
            backward.append(step)
    return forward, backward


def _slots_in(spec: Any) -> list[int]:
    if spec[0] == SLOT:
        return [spec[1]]
    if spec[0] in (SEQUENCE, "dict"):
        return [slot for item in spec[2] for slot in _slots_in(item)]
    return []


def _deposit(leaf: Tensor, data: np.ndarray, handed_out: set[int]) -> None:
    """Put ``data`` into ``leaf.grad`` as the engine does (chainrule/autograd/engine.py): set
    (copied if it is a view or was handed out already), or added in place to an existing one."""
    current = leaf._grad
    if current is None:
        leaf._grad = owned_gradient(_wrap(data), handed_out)
    elif current.grad_fn is None and current.array.flags.writeable:
        current.array += data
    else:
        leaf._grad = _wrap(current.array + data)
