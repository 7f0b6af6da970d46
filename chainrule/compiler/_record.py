"""Recording one eager call as a flat list of array-level steps.

A recording watches a real eager call: every op still runs through ``Function.apply``, the
engine and the optimizer exactly as without ``compile``, so the call's results are eager's.
While it runs, this module's stand-ins for a few methods note what happened at the array level:

- ``Function.apply``: the op class, the flags its ``forward`` reads from ``ctx``, where each
  argument array came from (an earlier step's output, an array an earlier ``forward`` left on its
  ``ctx``, a tensor from outside the call, or a constant) and the arrays it returned;
- the engine's ``run_backward`` and its deposit function (``_accumulate``): which gradient array
  went into which leaf's ``.grad`` and how (set, copied, added in place);
- ``Optimizer.step``/``zero_grad``, ``Module.zero_grad`` and ``LRScheduler.step``: opaque *host
  calls* made again as they are on every replay (their own array work is theirs);
- whatever cannot be replayed (reading a value with ``.item()``/``bool()``/``print``, an in-place
  tensor method, a hook, a user ``autograd.Function``, ``autograd.grad``, anomaly mode): the
  recording is marked as not replayable, with the reason, and the call goes on eagerly.

The stand-ins are installed only for the length of a recording (the eager path pays nothing
at any other time) and act only on the recording thread; other threads get the originals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import chainrule.autograd as autograd_module
from chainrule.autograd import custom_function, engine
from chainrule.autograd.anomaly import ANOMALY_MODE
from chainrule.autograd.function import Function
from chainrule.grad_mode import GRAD_MODE
from chainrule.nn.modules.module import Module
from chainrule.optim.lr_scheduler import LRScheduler
from chainrule.optim.optimizer import Optimizer
from chainrule.tensor import Tensor

# ------------------------------------------------------------------------- argument specs
# Where an argument of a step comes from. A spec is a small tuple, compared between two
# recordings of the same call and turned into an expression by the code generator.
SLOT = "slot"  # ("slot", n): an array made earlier in the call (an input, an op's output, ...)
EXTERNAL = "ext"  # ("ext", n): the array of a tensor that existed outside the call
CONSTANT = "const"  # ("const", value): an array or Python value made during the call
SEQUENCE = "seq"  # ("seq", type, [specs]): a tuple or list of the above


@dataclass
class Step:
    """One thing the call did. ``kind`` is "op", "ctx" (an array read from an op's ctx),
    "copy", "backward" (the start of a backward pass), "deposit" or "host"."""

    kind: str
    op: Any = None  # the op class ("op"), the host object ("host") or the leaf ("deposit")
    args: tuple[Any, ...] = ()  # specs
    kwargs: dict[str, Any] = field(default_factory=dict)  # specs
    outputs: tuple[int, ...] = ()  # slots written
    flags: tuple[Any, ...] = ()  # ("op") requires_grad, needs_input_grad, several outputs
    name: str = ""  # ("ctx") attribute path; ("host") method name
    index: int = -1  # position in the recording


class Recording:
    """What one eager call did, step by step; ``reason`` says why it cannot be replayed."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.steps: list[Step] = []
        self.slot_of: dict[int, int] = {}  # id(array) -> slot
        self.slot_count = 0
        self.alive: list[Any] = []  # every array seen, so that no id() is reused meanwhile
        self.externals: list[tuple[Tensor, np.ndarray, bool]] = []  # (tensor, array, requires_grad)
        self.external_of: dict[int, int] = {}  # id(tensor) -> index in externals
        self.reason: str | None = None
        self.suspended = 0  # > 0 inside a host call: its own work is not recorded
        self.ctx_arrays: dict[int, tuple[int, str]] = {}  # id(array on a ctx) -> (step, path)
        self.ran_backward = False
        self.leaves: list[Tensor] = []  # leaf tensors reached by a backward pass
        self.inputs: list[Tensor] = []  # the call's tensor arguments, in guard-key order
        self.modules: list[tuple[Module, bool]] = []  # modules called, with their training flag
        self.input_slots: list[int] = []
        self.result_spec: Any = None
        # a compiled module's call: its forward ends at ``boundary``, the backward recorded
        # later reads ``backward_inputs`` (gradient slots) and returns ``backward_result``
        # (one spec or None per leaf of ``module_leaves``)
        self.boundary: int | None = None
        self.backward_inputs: list[int] = []
        self.backward_result: list[Any] = []
        self.module_leaves: list[Tensor] = []
        self.output_grads: tuple[bool, ...] = ()  # which results require grad
        self.result_type: type = Tensor

    def add(self, step: Step) -> None:
        step.index = len(self.steps)
        self.steps.append(step)

    # ------------------------------------------------------------------------- slots
    def new_slot(self, array: Any) -> int:
        slot = self.slot_count
        self.slot_count += 1
        self.slot_of[id(array)] = slot
        self.alive.append(array)
        return slot

    def refuse(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    def spec(self, value: Any) -> Any:
        """Where ``value`` (an op argument) comes from."""
        if isinstance(value, Tensor):
            array = value.array
            slot = self.slot_of.get(id(array))
            if slot is not None:
                return (SLOT, slot)
            return (EXTERNAL, self.external(value))
        if isinstance(value, np.ndarray) or (type(value) in (tuple, list) and id(value) in self.ctx_arrays):
            slot = self.slot_of.get(id(value))
            if slot is not None:
                return (SLOT, slot)
            found = self.ctx_arrays.get(id(value))
            if found is not None:  # an array a forward kept on its ctx: read it out from now on
                step_index, path = found
                slot = self.new_slot(value)
                self.add(Step("ctx", outputs=(slot,), name=path, flags=(step_index,)))
                return (SLOT, slot)
            self.alive.append(value)
            return (CONSTANT, value)
        if type(value) in (tuple, list):
            return (SEQUENCE, type(value), [self.spec(item) for item in value])
        return (CONSTANT, value)

    def external(self, tensor: Tensor) -> int:
        index = self.external_of.get(id(tensor))
        if index is None or self.externals[index][1] is not tensor.array:
            index = len(self.externals)
            self.externals.append((tensor, tensor.array, tensor.requires_grad))
            self.external_of[id(tensor)] = index
            self.alive.append(tensor)
        return index

    # ------------------------------------------------------------------------ events
    def note_op(self, cls: type, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> None:
        if ANOMALY_MODE.get():
            self.refuse("anomaly detection is on")
        requires_grad = GRAD_MODE.get() and any(isinstance(a, Tensor) and a.requires_grad for a in args)
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args) if requires_grad else None
        step = Step(
            "op",
            op=cls,
            args=tuple(self.spec(a) for a in args),
            kwargs={name: self.spec(v) for name, v in kwargs.items()},
        )
        several = type(result) is tuple
        outputs = result if several else (result,)
        step.outputs = tuple(self.new_slot(out.array) for out in outputs)
        step.flags = (requires_grad, needs, several)
        index = len(self.steps)
        self.add(step)
        node = outputs[0].grad_fn if outputs else None
        if node is not None and node._is_output:
            node = node.function
        if node is not None and node.__dict__:
            for name, value in node.__dict__.items():
                self._note_ctx_value(index, name, value)

    def _note_ctx_value(self, index: int, path: str, value: Any) -> None:
        """Remember where arrays (and lists or tuples holding arrays) on an op's ctx live, so a
        later step reading one reads it from that ctx on replay."""
        if isinstance(value, np.ndarray):
            self.ctx_arrays.setdefault(id(value), (index, path))
            self.alive.append(value)
        elif type(value) in (tuple, list) and _holds_array(value):
            self.ctx_arrays.setdefault(id(value), (index, path))
            self.alive.append(value)
            for position, item in enumerate(value):
                self._note_ctx_value(index, f"{path}[{position}]", item)


def _holds_array(value: Any) -> bool:
    if isinstance(value, np.ndarray):
        return True
    return type(value) in (tuple, list) and any(_holds_array(item) for item in value)


# --------------------------------------------------------------------- the stand-ins
_local = threading.local()
_original_apply = Function.__dict__["apply"].__func__
_USER_FUNCTIONS = custom_function.__name__
_original_run_backward = autograd_module.run_backward
run_backward = _original_run_backward  # the engine itself, for the recorder's own backward passes
_original_accumulate = engine._accumulate
_original_grad_destinations = engine._grad_destinations


def active() -> Recording | None:
    """The recording of this thread, unless a host call is running."""
    recording = getattr(_local, "recording", None)
    if recording is None or recording.suspended:
        return None
    return recording


def _recording_apply(cls: type, *args: Any, **kwargs: Any) -> Any:
    recording = active()
    if recording is None:
        return _original_apply(cls, *args, **kwargs)
    if cls.__module__ == _USER_FUNCTIONS:  # the node that runs a user's forward and backward
        recording.refuse(f"a user autograd.Function ({kwargs.get('function', cls).__name__}) is run eagerly")
    result = _original_apply(cls, *args, **kwargs)
    recording.note_op(cls, args, kwargs, result)
    return result


def _recording_run_backward(
    outputs: Any, grad_outputs: Any, *, retain_graph: bool, create_graph: bool, inputs: Any = None
) -> Any:
    recording = active()
    if recording is None:
        return _original_run_backward(
            outputs, grad_outputs, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs
        )
    if inputs is not None or create_graph:
        recording.refuse("autograd.grad and create_graph=True are run eagerly")
    if retain_graph:
        recording.refuse("backward(retain_graph=True) is run eagerly")
    check_graph(recording, [t.grad_fn or t for t in outputs])
    recording.ran_backward = True
    recording.add(Step("backward", args=tuple(recording.spec(g) for g in grad_outputs)))
    results = _original_run_backward(
        outputs, grad_outputs, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs
    )
    return results


def check_graph(recording: Recording, roots: list[Any]) -> list[Tensor]:
    """Hooks and retained gradients run Python during backward: such a graph is run eagerly.
    Returns the leaves reached, in a fixed order."""
    found: list[Tensor] = []
    stack = [root for root in roots if root._is_node]
    seen = set(map(id, stack))
    while stack:
        node = stack.pop()
        if node._tensor_hooks or node._retained is not None:
            recording.refuse("a gradient hook or retain_grad() is in the graph")
        for edge in node.next_edges:
            if edge is None or id(edge) in seen:
                continue
            seen.add(id(edge))
            if edge._is_node:
                stack.append(edge)
            elif edge._hooks:
                recording.refuse("a gradient hook on a leaf tensor is in the graph")
            else:
                found.append(edge)
    recording.leaves += found
    return found


def _recording_accumulate(leaf: Tensor, grad: Tensor, create_graph: bool, handed_out: set[int]) -> None:
    # Every gradient that backward() puts into a .grad passes here (autograd.grad's results,
    # which touch no .grad, do not).
    recording = active()
    if recording is not None:
        recording.add(Step("deposit", op=leaf, args=(recording.spec(grad),)))
    _original_accumulate(leaf, grad, create_graph, handed_out)


def _recording_grad_destinations(node: Any, consumers: Any, pending: Any) -> Any:
    # An op that adds a gradient into a .grad itself (Linear's weight) would tie the replay to
    # that one .grad array; while recording, every gradient reaches its leaf as a deposit.
    if active() is not None:
        return None
    return _original_grad_destinations(node, consumers, pending)


def _host(cls: type, name: str) -> Callable[..., Any]:
    original = cls.__dict__[name]

    def host_call(self: Any, *args: Any, **kwargs: Any) -> Any:
        recording = active()
        if recording is None:
            return original(self, *args, **kwargs)
        recording.add(
            Step(
                "host",
                op=self,
                args=tuple(recording.spec(a) for a in args),
                kwargs={k: recording.spec(v) for k, v in kwargs.items()},
                name=name,
            )
        )
        if any(callable(a) or isinstance(a, Tensor) for a in (*args, *kwargs.values())):
            recording.refuse(f"{type(self).__name__}.{name} was given a closure or a tensor")
        recording.suspended += 1
        try:
            return original(self, *args, **kwargs)
        finally:
            recording.suspended -= 1

    host_call.__wrapped__ = original  # type: ignore[attr-defined]
    return host_call


def _refusing(cls: type, name: str, reason: str) -> Callable[..., Any]:
    original = cls.__dict__[name]

    def refusing(self: Any, *args: Any, **kwargs: Any) -> Any:
        recording = active()
        if recording is not None:
            recording.refuse(reason.format(name=name))
        return original(self, *args, **kwargs)

    return refusing


def _module_call(self: Module, *args: Any, **kwargs: Any) -> Any:
    recording = active()
    if recording is not None:
        if self._forward_hooks or self._forward_pre_hooks:
            recording.refuse(f"a forward hook on {type(self).__name__} runs Python")
        # a module's forward may depend on train() / eval(): the program is kept for this mode
        if all(module is not self for module, _ in recording.modules):
            recording.modules.append((self, self.training))
    return _ORIGINAL_MODULE_CALL(self, *args, **kwargs)


_ORIGINAL_MODULE_CALL = Module.__dict__["__call__"]
_VALUE_READERS = (
    "item",
    "tolist",
    "numpy",
    "__array__",
    "__bool__",
    "__float__",
    "__int__",
    "__index__",
    "__repr__",
    "__format__",
)
_READS_VALUE = "Tensor.{name}() reads a value in Python (the result could steer the call)"


def _subclasses(cls: type) -> Iterator[type]:
    yield cls
    sub: type
    for sub in cls.__subclasses__():
        yield from _subclasses(sub)


def _patches() -> list[tuple[Any, str, Any]]:
    """(owner, attribute, stand-in) for everything a recording watches."""
    patches: list[tuple[Any, str, Any]] = [
        (Function, "apply", classmethod(_recording_apply)),
        (autograd_module, "run_backward", _recording_run_backward),
        (engine, "_accumulate", _recording_accumulate),
        (engine, "_grad_destinations", _recording_grad_destinations),
        (Module, "__call__", _module_call),
        (
            Tensor,
            "_check_inplace",
            _refusing(Tensor, "_check_inplace", "an in-place tensor method is run eagerly"),
        ),
    ]
    patches += [(Tensor, name, _refusing(Tensor, name, _READS_VALUE)) for name in _VALUE_READERS]
    for base, name in (
        (Optimizer, "step"),
        (Optimizer, "zero_grad"),
        (Module, "zero_grad"),
        (LRScheduler, "step"),
    ):
        for cls in _subclasses(base):
            if name in cls.__dict__:
                patches.append((cls, name, _host(cls, name)))
    return patches


_install_lock = threading.Lock()
_installed = 0


@contextmanager
def recording_into(recording: Recording) -> Iterator[Recording]:
    """Install the stand-ins (once, however many threads record) and record this thread's work."""
    global _installed, _saved
    with _install_lock:
        if _installed == 0:
            _saved = []
            for owner, name, replacement in _patches():
                _saved.append((owner, name, owner.__dict__[name]))
                setattr(owner, name, replacement)
        _installed += 1
    _local.recording = recording
    try:
        yield recording
    finally:
        _local.recording = None
        with _install_lock:
            _installed -= 1
            if _installed == 0:
                for owner, name, original in reversed(_saved):
                    setattr(owner, name, original)
                _saved = []


_saved: list[tuple[Any, str, Any]] = []
