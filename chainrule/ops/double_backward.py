"""Second and higher-order gradients of fused ops, from the op's rule in differentiable ops.

A fused op (``Relu``, ``Linear``, ``Normalize``, ``CrossEntropyIndices``, the recurrences) computes
its gradient with fast array code. So that ``backward()`` and ``create_graph=True`` give the same
first-order numbers, that code is the forward of a *gradient op*, as in Chainer (``ReLU.backward``
returns ``ReLUGrad2(y).apply(...)``). Only the gradient op's own backward, the second order, is
taken from the op's rule written in chainrule's differentiable ops (its *composite* form), by
differentiating it here. ``gradgradcheck`` compares that second order with finite differences of
the fast first order, so a slip in either form is caught.

``composite_vjp`` differentiates the composite on detached stand-ins of the real inputs; when
that is itself recorded (third order), a ``RecordedSubgraph`` node links the result back to the
real inputs, and its backward differentiates the kept subgraph again, to any order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chainrule.autograd.function import Function
from chainrule.grad_mode import enable_grad, is_grad_enabled
from chainrule.tensor import Tensor


def composite_vjp(composite: Callable[..., Sequence[Tensor | None]], inputs: Sequence[Tensor | None],
                  needs: Sequence[bool], grad_outputs: Sequence[Tensor | None]) -> list[Tensor | None]:
    """The vector-Jacobian product of ``composite`` at ``inputs`` along ``grad_outputs``: one
    gradient per input, None where ``needs`` is False or the input does not matter.

    ``composite(*inputs)`` returns one Tensor (or None) per entry of ``grad_outputs``. With
    recording on (``create_graph=True``) the result is differentiable in ``inputs`` and
    ``grad_outputs``.

    Example::

        >>> from chainrule.ops.double_backward import composite_vjp
        >>> x = chainrule.tensor([1.0, 2.0])
        >>> composite_vjp(lambda t: (t * t,), [x], [True], [chainrule.ones(2)])
        [tensor([2., 4.])]
    """
    stand_ins = [t.detach().requires_grad_() if t is not None and need else None
                 for t, need in zip(inputs, needs)]
    with enable_grad():
        constants = [t if s is None else s for t, s in zip(inputs, stand_ins)]
        results = composite(*constants)
    return _subgraph_vjp(list(inputs), stand_ins, list(results), list(grad_outputs), keep=False)


def _subgraph_vjp(real: list[Tensor | None], stand_ins: list[Tensor | None], results: list[Tensor | None],
                  grads: list[Tensor | None], keep: bool) -> list[Tensor | None]:
    """d(results)/d(stand_ins) along ``grads``, linked to ``real`` (and ``grads``) when recording;
    ``keep`` the subgraph for another backward (a ``RecordedSubgraph``'s may run again; when
    recording, the new graph runs back through this one)."""
    pairs = [(r, g) for r, g in zip(results, grads) if r is not None and r.requires_grad and g is not None]
    sources = [s for s in stand_ins if s is not None]
    if not pairs or not sources:
        return [None] * len(real)
    recording = is_grad_enabled()
    seeds = [g.detach().requires_grad_() if recording else g for _, g in pairs]
    from chainrule.autograd import grad

    with enable_grad():
        found: Sequence[Tensor | None] = grad(
            [r for r, _ in pairs], sources, seeds, retain_graph=keep or recording,
            create_graph=recording, allow_unused=True)
    if recording:
        real_sources = [r for r, s in zip(real, stand_ins) if s is not None]
        found = _linked(real_sources + [g for _, g in pairs], sources + seeds, list(found))
    by_source = iter(found)
    return [None if s is None else next(by_source) for s in stand_ins]


def _linked(real: list[Any], stand_ins: list[Tensor], results: list[Tensor | None]) -> list[Tensor | None]:
    """``results``, computed from ``stand_ins``, as outputs of a node whose inputs are ``real``."""
    kept = [r for r in results if r is not None]
    if not kept:
        return results
    outputs = iter(RecordedSubgraph.apply(*real, stand_ins=stand_ins, results=kept))
    return [None if r is None else next(outputs) for r in results]


class RecordedSubgraph(Function):
    """A recorded subgraph from detached ``stand_ins`` to ``results``, placed in the graph as one
    node whose inputs are the tensors the stand-ins stand for. Backward differentiates the kept
    subgraph (again through a ``RecordedSubgraph`` when that is recorded too)."""

    @staticmethod
    def forward(ctx, *real, stand_ins, results):
        ctx.save_inputs(*range(len(real)))
        ctx.stand_ins, ctx.results = stand_ins, results
        return tuple(r.array for r in results)

    @staticmethod
    def backward(ctx, *grads):
        real = list(ctx.saved_inputs)
        stand_ins = [s if need else None for s, need in zip(ctx.stand_ins, ctx.needs_input_grad)]
        return tuple(_subgraph_vjp(real, stand_ins, list(ctx.results), list(grads), keep=True))
