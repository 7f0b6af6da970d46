"""Reverse-mode automatic differentiation: two doors to one engine.

``loss.backward()`` accumulates gradients into the ``.grad`` of leaves;
``chainrule.autograd.grad(outputs, inputs)`` returns them instead, and with
``create_graph=True`` the result can be differentiated again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.autograd.anomaly import (
    AnomalyError,
    detect_anomaly,
    is_anomaly_enabled,
    set_detect_anomaly,
)
from chainrule.autograd.custom_function import Function, FunctionCtx, once_differentiable
from chainrule.autograd.engine import run_backward
from chainrule.autograd.function import OP_REGISTRY
from chainrule.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from chainrule.tensor import Tensor

__all__ = [
    "Function", "FunctionCtx", "once_differentiable", "OP_REGISTRY", "backward",
    "grad", "no_grad", "enable_grad", "set_grad_enabled",
    "is_grad_enabled", "gradcheck", "gradgradcheck", "GradcheckError", "detect_anomaly",
    "set_detect_anomaly", "is_anomaly_enabled", "AnomalyError",
]


_ONES: dict[np.dtype, np.ndarray] = {}


def _one(dtype: np.dtype) -> np.ndarray:
    """A shared read-only 1 of ``dtype``, the seed of loss.backward() (the engine copies a
    gradient the caller handed in before it can become a .grad, so sharing is safe)."""
    one = _ONES.get(dtype)
    if one is None:
        one = np.ones((), dtype=dtype)
        one.flags.writeable = False
        _ONES[dtype] = one
    return one


def _as_sequence(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Tensor):
        return [value]
    return list(value)


def _initial_grads(outputs: list[Tensor], grad_outputs: list[Any], caller: str) -> list[Tensor]:
    grads = []
    for i, out in enumerate(outputs):
        given = grad_outputs[i] if i < len(grad_outputs) else None
        if given is None:
            if out.array.size != 1:
                raise RuntimeError(
                    f"{caller}: grad can be implicitly created only for outputs with one element; "
                    f"output {i} has shape {tuple(out.shape)}. Pass the gradient explicitly, e.g. "
                    f"out.backward(gradient=chainrule.ones_like(out)), or reduce it first (out.sum())"
                )
            grads.append(Tensor._wrap(np.ones(out.shape, dtype=out.dtype)))
            continue
        if not isinstance(given, Tensor):
            given = Tensor._wrap(np.asarray(given, dtype=out.dtype))
        if given.shape != out.shape:
            raise RuntimeError(
                f"{caller}: mismatch in shape: the gradient given for output {i} has shape "
                f"{tuple(given.shape)} but the output has shape {tuple(out.shape)}"
            )
        grads.append(given)
    return grads


def backward(
    tensors: Tensor | Sequence[Tensor],
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
) -> None:
    """Accumulate the gradients of ``tensors`` into the ``.grad`` of the leaves they depend on."""
    if isinstance(tensors, Tensor) and grad_tensors is None and tensors.requires_grad:
        # The common case, loss.backward(), without the general checks' overhead.
        if tensors.array.size != 1:
            _initial_grads([tensors], [], "backward")  # raises the explanatory error
        one = _one(tensors.array.dtype)
        seed = Tensor._wrap(one if tensors.array.ndim == 0 else one.reshape(tensors.array.shape))
        run_backward([tensors], [seed], retain_graph=bool(retain_graph or create_graph),
                     create_graph=create_graph)
        return
    outputs = _as_sequence(tensors)
    for i, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(
                f"backward: output {i} does not require grad and has no grad_fn; did you compute "
                "it under no_grad(), or from tensors none of which has requires_grad=True?"
            )
    grads = _initial_grads(outputs, _as_sequence(grad_tensors), "backward")
    run_backward(outputs, grads, retain_graph=create_graph if retain_graph is None else retain_graph,
                 create_graph=create_graph)


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool | None = None,
    materialize_grads: bool = False,
) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs``, without touching any ``.grad``.

    With ``create_graph=True`` the gradients are themselves part of the graph, so they can be
    differentiated again (Hessian-vector products, gradient penalties).

    Example::

        >>> x = chainrule.tensor(3.0, requires_grad=True)
        >>> (dx,) = chainrule.autograd.grad(x**3, x, create_graph=True)   # 3x^2 = 27
        >>> chainrule.autograd.grad(dx, x)                                # 6x = 18
        (tensor(18.),)
    """
    output_list = _as_sequence(outputs)
    input_list = _as_sequence(inputs)
    for i, t in enumerate(input_list):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad; only tensors with "
                               "requires_grad=True can be differentiated with respect to")
    for i, out in enumerate(output_list):
        if not out.requires_grad:
            raise RuntimeError(f"grad: output {i} does not require grad and has no grad_fn")
    grads = _initial_grads(output_list, _as_sequence(grad_outputs), "grad")
    results = run_backward(
        output_list, grads, retain_graph=create_graph if retain_graph is None else retain_graph,
        create_graph=create_graph, inputs=input_list,
    )
    assert results is not None  # run_backward returns the inputs' gradients when given inputs
    for i, result in enumerate(results):
        if result is None:
            if materialize_grads:
                results[i] = Tensor._wrap(np.zeros(input_list[i].shape, input_list[i].dtype))
            elif not allow_unused:
                raise RuntimeError(
                    f"grad: input {i} (shape {tuple(input_list[i].shape)}) was not used to compute "
                    "the outputs; pass allow_unused=True to get None for it"
                )
        elif not create_graph and result.grad_fn is not None:
            results[i] = result.detach()
    return tuple(results)


from chainrule.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: E402
from chainrule.creation import tensor as _tensor  # noqa: E402


def Variable(data: Any, requires_grad: bool = False, volatile: bool = False) -> Tensor:  # noqa: N802
    """PyTorch's deprecated ``autograd.Variable``: since PyTorch 0.4 just a Tensor."""
    if isinstance(data, Tensor):
        return data.detach().requires_grad_(requires_grad) if requires_grad else data
    return _tensor(data, requires_grad=requires_grad)
