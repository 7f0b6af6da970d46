"""``chainrule.compile``: record a call once, replay it as a flat program over arrays.

``torch.compile``'s name and calling convention. What is captured is whatever the compiled
function does with tensors, and that is the point of compiling a *training step*:

>>> model = chainrule.nn.Linear(4, 2)
>>> optimizer = chainrule.optim.SGD(model.parameters(), lr=0.1)
>>> loss_fn = chainrule.nn.MSELoss()
>>> @chainrule.compile
... def train_step(x, y):
...     optimizer.zero_grad()
...     loss = loss_fn(model(x), y)
...     loss.backward()
...     optimizer.step()
...     return loss
>>> x, y = chainrule.randn(8, 4), chainrule.randn(8, 2)
>>> losses = [train_step(x, y).item() for _ in range(4)]  # two recordings, then replays
>>> losses[3] < losses[0]
True

The first calls run eagerly while a recorder notes, at the level of arrays, every op's
``forward`` (the forward pass, and the backward pass, whose rules are ops too), where each
gradient went, and the optimizer's ``step``/``zero_grad``. Two such recordings that agree step
for step become a program; later calls with the same guards (see below) replay it: each op's
``forward`` runs on the arrays directly, with no Tensor, graph node or engine bookkeeping in
between, and the optimizer's ``step`` runs as written. The numbers are eager's, bit for bit,
because the same array code runs in the same order.

A compiled *module* (``chainrule.compile(model)``) records its forward, and the backward of that
forward on the first ``backward()`` through it; replayed calls return outputs whose backward
replays the recorded one. The loss, the backward call and the optimizer step then run eagerly
around it, as with ``torch.compile(model)``.

Guards: a program is kept per grad mode and per the shapes, dtypes and ``requires_grad`` of the
tensor arguments (other arguments by value); it checks that every tensor it reads from outside
the call (parameters, buffers) still holds the same array, and records again when one does not
(e.g. after ``load_state_dict``). Up to ``cache_size_limit`` programs are kept per function.

What is not captured runs eagerly, with a one-time warning saying why (``fullgraph=True`` makes
it an error instead): reading a value in Python (``.item()``, ``bool(t)``, ``float(t)``,
printing a tensor), in-place tensor methods, gradient and forward hooks, user
``autograd.Function`` classes, ``autograd.grad``, ``create_graph``/``retain_graph``, anomaly
detection, and anything that makes the two recordings differ (random numbers drawn outside
an op, Python control flow on a counter). Other Python side effects (appending to a list,
printing a string) happen during the recorded calls only, as with ``jax.jit``: keep them
outside the compiled function.

Example::

    >>> model = chainrule.nn.Linear(3, 1)
    >>> optimizer = chainrule.optim.SGD(model.parameters(), lr=0.1)
    >>> @chainrule.compile
    ... def train_step(x, y):
    ...     optimizer.zero_grad()
    ...     loss = ((model(x) - y) ** 2).mean()
    ...     loss.backward()
    ...     optimizer.step()
    ...     return loss
    >>> x, y = chainrule.randn(8, 3), chainrule.randn(8, 1)
    >>> losses = [train_step(x, y) for _ in range(4)]   # two recordings, then replays
    >>> train_step.stats["replays"]
    2
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

from chainrule.autograd.anomaly import ANOMALY_MODE
from chainrule.compiler._node import CompiledBackward
from chainrule.compiler._program import MISS, Program, compare
from chainrule.compiler._record import SEQUENCE, Recording, active, check_graph, recording_into, run_backward
from chainrule.grad_mode import GRAD_MODE
from chainrule.nn.modules.module import Module
from chainrule.tensor import Tensor

__all__ = ["compile", "is_compiling", "CompiledFunction", "CompiledModule"]

_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
cache_size_limit = 8  # programs kept per compiled function, as torch._dynamo.config's default
_EAGER = "eager"  # a cache entry: this key runs eagerly


class CompiledFunction:
    """A function whose calls are recorded and then replayed; made by ``chainrule.compile``.

    ``stats`` counts ``recordings``, ``replays`` and ``eager`` calls; ``programs`` maps each
    guard key to its program, whose ``source`` shows the flat code that replays the call.
    """

    def __init__(self, fn: Callable[..., Any], *, fullgraph: bool = False) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.fullgraph = fullgraph
        self.programs: dict[Any, Any] = {}  # guard key -> Program, or _EAGER
        self._recorded: dict[Any, Recording] = {}  # guard key -> first complete recording
        self._unfinished: dict[Any, int] = {}  # guard key -> recorded forwards awaiting backward
        self.stats = {"recordings": 0, "replays": 0, "eager": 0}
        self.notes: list[str] = []

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        # as a method decorator: bind like a function would
        return self if instance is None else functools.partial(self, instance)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tensors: list[Tensor] = []
        key = (GRAD_MODE.get(), ANOMALY_MODE.get(), _guard_key(args, tensors), _guard_key(kwargs, tensors))
        program = self.programs.get(key)
        if program is not None:
            if program is _EAGER:
                self.stats["eager"] += 1
                return self.fn(*args, **kwargs)
            result = program.run(*tensors)
            if result is not MISS:
                self.stats["replays"] += 1
                if program.backward is None:
                    return result
                outputs, saved = result
                leaves = [tensors[leaf] if type(leaf) is int else leaf for leaf in program.leaves]
                wrapped = [Tensor._wrap(array) for array in outputs]
                return _hang(
                    wrapped,
                    program.output_grads,
                    leaves,
                    [out.array for out, grad in zip(wrapped, program.output_grads) if grad],
                    saved,
                    program.backward,
                    program.result_type,
                )
            del self.programs[key]  # a parameter was replaced: record again
            self._recorded.pop(key, None)
        elif len(self.programs) >= cache_size_limit and key not in self._recorded:
            self._note(
                key,
                f"more than {cache_size_limit} different guard keys (shapes, dtypes, "
                "argument values); further ones run eagerly",
            )
            self.stats["eager"] += 1
            return self.fn(*args, **kwargs)
        return self._record(key, tensors, args, kwargs)

    def _record(self, key: Any, tensors: list[Tensor], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        recording = Recording()
        recording.inputs = tensors
        recording.input_slots = [recording.new_slot(t.array) for t in tensors]
        self.stats["recordings"] += 1
        with recording_into(recording):
            result = self.fn(*args, **kwargs)
        recording.result_spec = _result_spec(recording, result)
        if recording.reason is None and not recording.ran_backward and _has_live_graph(result):
            return self._hang_backward(key, recording, result)
        return self._finish(key, recording, result)

    def _finish(self, key: Any, recording: Recording, result: Any) -> Any:
        """A complete recording: the first is kept, the second compared with it and compiled."""
        if recording.reason is not None:
            self._note(key, recording.reason)
            return result
        first = self._recorded.get(key)
        if first is None:
            self._recorded[key] = recording
            return result
        reason, made_inside = compare(first, recording)
        if reason is not None:
            self._note(key, reason)
            return result
        del self._recorded[key]
        self.programs[key] = Program(recording, made_inside)
        return result

    def _hang_backward(self, key: Any, recording: Recording, result: Any) -> Any:
        """A module's forward with a graph still to backpropagate: its differentiable results
        hang from one ``CompiledBackward`` node, whose first backward is recorded too."""
        unfinished = self._unfinished.get(key, 0)
        if unfinished >= 2:  # forwards whose backward never came: inference with grad on
            recording.refuse(
                "its outputs were never backpropagated (for inference, call it under chainrule.no_grad())"
            )
            return self._finish(key, recording, result)
        self._unfinished[key] = unfinished + 1
        outputs = list(result) if type(result) in (tuple, list) else [result]
        if not all(isinstance(out, Tensor) for out in outputs):
            recording.refuse("a compiled forward must return a tensor or a tuple or list of tensors")
            return self._finish(key, recording, result)
        differentiable = [out for out in outputs if out.grad_fn is not None]
        leaves = check_graph(recording, [out.grad_fn for out in differentiable])
        recording.boundary = len(recording.steps)
        recording.module_leaves = leaves
        recording.output_grads = tuple(out.grad_fn is not None for out in outputs)
        recording.result_type = type(result)

        def record_backward(saved: Any, *grads: Any) -> list[Any]:
            self._unfinished[key] = 0
            with recording_into(recording):
                recording.backward_inputs = [recording.new_slot(g) for g in grads]
                found = run_backward(
                    differentiable,
                    [Tensor._wrap(g) for g in grads],
                    retain_graph=False,
                    create_graph=False,
                    inputs=leaves,
                )
                assert found is not None  # with inputs=, run_backward returns their gradients
                recording.backward_result = [None if g is None else recording.spec(g) for g in found]
            self._finish(key, recording, None)
            return [None if g is None else g.array for g in found]

        return _hang(
            outputs,
            recording.output_grads,
            leaves,
            [out.array for out in differentiable],
            None,
            record_backward,
            recording.result_type,
        )

    def _note(self, key: Any, reason: str) -> None:
        self.programs[key] = _EAGER
        self._recorded.pop(key, None)
        message = f"chainrule.compile: {getattr(self.fn, '__qualname__', self.fn)} runs eagerly: {reason}"
        if self.fullgraph:
            raise RuntimeError(message + " (fullgraph=True asks for one whole program)")
        if message not in self.notes:  # one note per reason
            self.notes.append(message)
            warnings.warn(message, stacklevel=3)


class CompiledModule(Module):
    """A module whose forward is compiled, as ``torch.compile(model)``'s ``OptimizedModule``:
    parameters, ``state_dict`` and attributes are the original's (``_orig_mod``)."""

    def __init__(self, module: Module, *, fullgraph: bool = False) -> None:
        super().__init__()
        self._orig_mod = module
        object.__setattr__(self, "_compiled_forward", CompiledFunction(module.__call__, fullgraph=fullgraph))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self._compiled_forward(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.__dict__["_modules"]["_orig_mod"], name)


def compile(  # noqa: A001  (torch.compile's name)
    model: Callable[..., Any] | None = None,
    *,
    fullgraph: bool = False,
    dynamic: bool | None = None,
    backend: str | Callable[..., Any] = "inductor",
    mode: str | None = None,
    options: dict[str, Any] | None = None,
    disable: bool = False,
) -> Any:
    """Compile a function (a training step, say) or a module, as ``torch.compile`` does.

    Returns a ``CompiledFunction`` (for a function) or a ``CompiledModule`` (for a module); with
    ``model=None``, a decorator. Of the keyword arguments, ``fullgraph=True`` turns "runs
    eagerly because ..." from a one-time warning into a RuntimeError and ``disable=True``
    returns ``model`` unchanged. ``dynamic``, ``backend`` and ``options`` are accepted for
    PyTorch scripts and change nothing: programs are always specialised to shapes (a new shape
    records again) and there is one backend. ``mode`` must be one of PyTorch's names, all of
    which mean the same here.

    Example::

        >>> step = chainrule.compile(lambda a, b: (a * b).sum())
        >>> a, b = chainrule.ones(3), chainrule.ones(3)
        >>> [step(a, b).item() for _ in range(3)]
        [3.0, 3.0, 3.0]
    """
    if mode not in _MODES:
        raise RuntimeError(
            f"Unrecognized mode={mode!r}, should be one of: " + ", ".join(repr(m) for m in _MODES[1:])
        )
    if model is None:
        return functools.partial(
            compile,
            fullgraph=fullgraph,
            dynamic=dynamic,
            backend=backend,
            mode=mode,
            options=options,
            disable=disable,
        )
    if disable:
        return model
    if isinstance(model, Module):
        return CompiledModule(model, fullgraph=fullgraph)
    if not callable(model):
        raise TypeError(f"compile() expects a function or a Module, got {type(model).__name__}")
    return CompiledFunction(model, fullgraph=fullgraph)


def _hang(
    outputs: list[Tensor],
    output_grads: tuple[bool, ...],
    leaves: list[Tensor],
    arrays: list[Any],
    saved: Any,
    backward: Callable[..., Any],
    result_type: type,
) -> Any:
    """``outputs`` with the differentiable ones replaced by a ``CompiledBackward`` node's."""
    hung = CompiledBackward.apply(*leaves, arrays=tuple(arrays), saved=saved, backward=backward)
    hung = list(hung) if type(hung) is tuple else [hung]
    results = [hung.pop(0) if grad else out for out, grad in zip(outputs, output_grads)]
    return results[0] if result_type is Tensor else result_type(results)


def is_compiling() -> bool:
    """True while ``chainrule.compile`` records a call on this thread (``torch.compiler``'s
    name): code may skip what it should not do while being recorded.

    Example::

        >>> chainrule.compiler.is_compiling()
        False
    """
    return active() is not None


def _guard_key(value: Any, tensors: list[Tensor]) -> Any:
    """What a program is specialised to; collects the tensor arguments into ``tensors``."""
    if isinstance(value, Tensor):
        tensors.append(value)
        array = value.array
        return (array.shape, array.dtype, value.requires_grad)
    if type(value) in (tuple, list):
        return (type(value), tuple([_guard_key(item, tensors) for item in value]))
    if type(value) is dict:
        return (dict, tuple([(k, _guard_key(v, tensors)) for k, v in value.items()]))
    try:
        hash(value)
    except TypeError:
        return (type(value), id(value))
    return (type(value), value)


def _result_spec(recording: Recording, result: Any) -> Any:
    if isinstance(result, Tensor):
        return recording.spec(result)
    if type(result) in (tuple, list):
        return (SEQUENCE, type(result), [_result_spec(recording, item) for item in result])
    if type(result) is dict:
        return ("dict", list(result), [_result_spec(recording, item) for item in result.values()])
    return recording.spec(result)


def _has_live_graph(result: Any) -> bool:
    if isinstance(result, Tensor):
        return result.grad_fn is not None
    if type(result) in (tuple, list):
        return any(_has_live_graph(item) for item in result)
    if type(result) is dict:
        return any(_has_live_graph(item) for item in result.values())
    return False
