"""The graph node a compiled module's outputs hang from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.autograd.function import Function
from chainrule.tensor import Tensor


class CompiledBackward(Function):
    """One node for a whole compiled forward: its inputs are the leaves the forward reads (the
    parameters, and inputs that require grad), its outputs the forward's results, and its
    backward runs ``backward(saved, *grad_arrays)``: the recorded backward program (or, on a
    recording call, the eager backward being recorded), which returns one gradient array (or
    None) per leaf. The engine then puts those into ``.grad`` as it would any op's."""

    @staticmethod
    def forward(
        ctx: Any,
        *leaves: np.ndarray,
        arrays: tuple[np.ndarray, ...],
        saved: Any,
        backward: Callable[..., Any],
    ) -> Any:
        ctx.saved_slots = saved
        ctx.replay_backward = backward
        return arrays if len(arrays) > 1 else arrays[0]

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Tensor | None, ...]:
        results = ctx.replay_backward(ctx.saved_slots, *[grad.array for grad in grads])
        return tuple(None if result is None else Tensor._wrap(result) for result in results)
