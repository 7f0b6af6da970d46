"""Recording which ops a forward pass runs, with their arguments: the input of the exporter.

Every op in chainrule goes through ``Function.apply``. While :func:`trace` runs, ``apply`` is
wrapped to note each call (op class, arguments, results) before handing the result back, so
tracing needs no hook on the engine's hot path: outside ``trace`` the engine runs unchanged.
Calls made inside another recorded call (an op built from ops) are not noted twice.

Example::

    >>> from chainrule.onnx.trace import trace
    >>> model = chainrule.nn.Sequential(chainrule.nn.Linear(3, 2), chainrule.nn.ReLU())
    >>> calls, outputs = trace(model, (chainrule.zeros(4, 3),))
    >>> [call.op for call in calls], outputs[0].shape
    (['Linear', 'Relu'], (4, 2))
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chainrule.autograd.function import Function
from chainrule.grad_mode import no_grad
from chainrule.tensor import Tensor

# One trace at a time: the wrapped ``apply`` is a class attribute every thread sees.
_TRACE_LOCK = threading.Lock()

#: Tensor's comparison methods, by the name their calls are recorded under (ONNX's op name).
COMPARISONS = {
    "__gt__": "Greater",
    "gt": "Greater",
    "__ge__": "GreaterOrEqual",
    "ge": "GreaterOrEqual",
    "__lt__": "Less",
    "lt": "Less",
    "__le__": "LessOrEqual",
    "le": "LessOrEqual",
    "__eq__": "Equal",
    "eq": "Equal",
    "__ne__": "NotEqual",
    "ne": "NotEqual",
    "__and__": "And",
    "__or__": "Or",
    "__xor__": "Xor",
}


@dataclass
class OpCall:
    """One op the forward ran: its name (the op class's, or a comparison's), its arguments
    as given (Tensors and plain values) and its results (always a tuple)."""

    op: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    outputs: tuple[Tensor, ...]


def trace(fn: Callable[..., Any], args: Sequence[Any]) -> tuple[list[OpCall], tuple[Tensor, ...]]:
    """Run ``fn(*args)`` without recording gradients and return the ops it ran, in order, and
    its outputs (a tuple of Tensors, from a Tensor or a tuple/list of Tensors)."""
    calls: list[OpCall] = []
    versions: list[list[int]] = []  # the version counters of each call's outputs when it ran
    depth = [0]
    original = Function.__dict__["apply"]

    def recording_apply(cls: type[Function], *op_args: Any, **op_kwargs: Any) -> Any:
        depth[0] += 1
        try:
            result = original.__func__(cls, *op_args, **op_kwargs)
        finally:
            depth[0] -= 1
        if depth[0] == 0:
            outputs = result if isinstance(result, tuple) else (result,)
            calls.append(OpCall(cls.__name__, op_args, op_kwargs, outputs))
            versions.append([tensor._vc[0] for tensor in outputs if isinstance(tensor, Tensor)])
        return result

    def recording_comparison(name: str, compare: Callable[..., Tensor]) -> Callable[..., Tensor]:
        # Comparisons are not differentiable, so they are not ops; a mask made by one (ELU's,
        # attention's) must still reach the exported graph.
        def record(self: Tensor, other: Any) -> Tensor:
            result = compare(self, other)
            if depth[0] == 0:
                calls.append(OpCall(name, (self, other), {}, (result,)))
            return result

        return record

    inputs = [arg for arg in args if isinstance(arg, Tensor)]
    input_versions = [tensor._vc[0] for tensor in inputs]
    with _TRACE_LOCK:
        comparisons = {method: getattr(Tensor, method) for method in COMPARISONS}
        Function.apply = classmethod(recording_apply)  # type: ignore[method-assign,assignment]
        for method, compare in comparisons.items():
            setattr(Tensor, method, recording_comparison(COMPARISONS[method], compare))
        try:
            with no_grad():
                result = fn(*args)
        finally:
            Function.apply = original  # type: ignore[method-assign]
            for method, compare in comparisons.items():
                setattr(Tensor, method, compare)
    _refuse_changes_in_place(calls, versions, inputs, input_versions)
    return calls, _flatten_outputs(result)


def _refuse_changes_in_place(
    calls: Sequence[OpCall],
    versions: Sequence[list[int]],
    inputs: Sequence[Tensor],
    input_versions: list[int],
) -> None:
    """In-place changes (``add_``, indexed assignment) write into an array without an op, so
    the graph would hold the value from before them: refuse rather than export wrong numbers.
    A tensor's version counter, shared with its views, counts those writes."""
    from chainrule.onnx.graph import UnsupportedOpError

    fix = "an ONNX graph cannot hold that; write the step out of place (with where or cat, say)"
    if any(tensor._vc[0] != version for tensor, version in zip(inputs, input_versions)):
        raise UnsupportedOpError(f"the forward changes its input in place; {fix}")
    for call, before in zip(calls, versions):
        after = [tensor._vc[0] for tensor in call.outputs if isinstance(tensor, Tensor)]
        if after != before:
            raise UnsupportedOpError(
                f"the forward changes the result of {call.op} in place (an in-place op or an indexed "
                f"assignment); {fix}"
            )


def _flatten_outputs(result: Any) -> tuple[Tensor, ...]:
    if isinstance(result, Tensor):
        return (result,)
    if isinstance(result, (tuple, list)):
        flat: list[Tensor] = []
        for item in result:
            flat.extend(_flatten_outputs(item))
        return tuple(flat)
    if result is None:
        return ()
    raise TypeError(
        f"the model returned a {type(result).__name__}; ONNX export needs a Tensor or a tuple/list of Tensors"
    )
