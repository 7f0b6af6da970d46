"""Rprop: resilient backpropagation, per-weight step sizes driven by the sign of the gradient
alone (Riedmiller & Braun, 1993; the variant without weight backtracking, "Rprop−")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.optim.optimizer import (
    Optimizer,
    ParamsT,
    _check_differentiable,
    _check_lr,
    _hyper,
    _new_step_count,
)
from chainrule.tensor import Tensor


def rprop(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    prevs: list[np.ndarray],
    step_sizes: list[np.ndarray],
    steps: list[np.ndarray],
    *,
    step_size_min: float,
    step_size_max: float,
    etaminus: float,
    etaplus: float,
    maximize: bool,
) -> None:
    """One Rprop step on each array of ``params``, in place.

    With g the gradient (negated when ``maximize``), g' the previous (stored) gradient and Δ the
    per-weight step sizes (starting at lr), elementwise::

        Δ ← min(Δ η₊, Δ_max)   where g g' > 0
        Δ ← max(Δ η₋, Δ_min)   where g g' < 0, and g ← 0 there (no move; the next step
                                starts afresh)
        θ ← θ − sign(g) Δ,     g' ← g

    Example::

        >>> w, g = np.zeros(2), np.array([0.5, -2.0])
        >>> prev, size, t = np.array([1.0, 1.0]), np.full(2, 0.1), np.array(0.0)
        >>> rprop([w], [g], [prev], [size], [t], step_size_min=1e-6, step_size_max=50.0,
        ...       etaminus=0.5, etaplus=1.2, maximize=False)
        >>> size, w        # same sign: grow and step; sign flipped: shrink and stay
        (array([0.12, 0.05]), array([-0.12,  0.  ]))
    """
    for param, grad, prev, step_size, step in zip(params, grads, prevs, step_sizes, steps):
        if maximize:
            grad = -grad
        step += 1
        agreement = np.sign(grad * prev)
        factor = np.where(agreement > 0, etaplus, np.where(agreement < 0, etaminus, 1.0))
        step_size *= factor.astype(step_size.dtype, copy=False)
        np.clip(step_size, step_size_min, step_size_max, out=step_size)
        grad = np.where(agreement < 0, 0, grad).astype(param.dtype, copy=False)
        param -= np.sign(grad) * step_size
        prev[...] = grad


class Rprop(Optimizer):
    """Rprop, as ``torch.optim.Rprop`` (lr=1e-2 is the initial step size; etas=(0.5, 1.2),
    step_sizes=(1e-6, 50)). Meant for full-batch training: the sign of a minibatch gradient is
    noisy. State ``step``, ``prev``, ``step_size``.

    Example::

        >>> model = nn.Linear(4, 2)
        >>> optimizer = chainrule.optim.Rprop(model.parameters(), lr=1e-2)
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_differentiable("Rprop", differentiable)
        super().__init__(params, dict(lr=lr, etas=etas, step_sizes=step_sizes, maximize=maximize))

    def _check_group(self, group: dict[str, Any]) -> None:
        _check_lr(group["lr"])
        etaminus, etaplus = group["etas"]
        if not 0.0 < etaminus < 1.0 < etaplus:
            raise ValueError(f"Invalid eta values: {etaminus}, {etaplus} (need 0 < etaminus < 1 < etaplus)")

    def _initial_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {
            "step": _new_step_count(),
            "prev": Tensor._wrap(np.zeros_like(param.array)),
            "step_size": Tensor._wrap(np.full_like(param.array, _hyper(group["lr"]))),
        }

    def _options(self, group: dict[str, Any]) -> dict[str, Any]:
        (etaminus, etaplus), (step_size_min, step_size_max) = group["etas"], group["step_sizes"]
        return dict(
            step_size_min=_hyper(step_size_min),
            step_size_max=_hyper(step_size_max),
            etaminus=_hyper(etaminus),
            etaplus=_hyper(etaplus),
            maximize=bool(group["maximize"]),
        )

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` if given."""
        return self._functional_step(closure, rprop, ("prev", "step_size", "step"))
