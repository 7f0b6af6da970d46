"""Adamax: Adam with the infinity norm in place of the second moment (Kingma & Ba, 2015, §7.1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.optim.adam import check_adam_group, update_moments, weight_decayed
from chainrule.optim.optimizer import (
    Optimizer,
    ParamsT,
    _check_differentiable,
    _floats,
    _new_step_count,
    _zero_buffers,
)
from chainrule.tensor import Tensor


def adamax(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    exp_avgs: list[np.ndarray],
    exp_infs: list[np.ndarray],
    steps: list[np.ndarray],
    *,
    beta1: float,
    beta2: float,
    lr: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
) -> None:
    """One Adamax step on each array of ``params``, in place.

    With g the gradient (negated when ``maximize``), λ the weight decay, m the first moment,
    u the exponentially weighted infinity norm and t the step count (incremented here)::

        t ← t + 1
        g ← g + λ θ
        m ← β1 m + (1 − β1) g
        u ← max(β2 u, |g| + ε)
        θ ← θ − lr / (1 − β1ᵗ) · m / u

    Example::

        >>> w, g = np.ones(2), np.array([0.5, -2.0])
        >>> m, u, t = np.zeros(2), np.zeros(2), np.array(0.0)
        >>> adamax([w], [g], [m], [u], [t], beta1=0.9, beta2=0.999, lr=0.1, weight_decay=0.0,
        ...        eps=0.0, maximize=False)
        >>> w            # the first step is lr against the gradient's sign, as in Adam
        array([0.9, 1.1])
    """
    for param, grad, exp_avg, exp_inf, step in zip(params, grads, exp_avgs, exp_infs, steps):
        if maximize:
            grad = -grad
        step += 1
        grad = weight_decayed(param, grad, lr, weight_decay, decoupled=False)
        update_moments(exp_avg, None, grad, beta1, beta2)
        exp_inf *= beta2
        np.maximum(exp_inf, np.abs(grad) + eps, out=exp_inf)
        param -= lr / (1 - beta1 ** float(step)) * (exp_avg / exp_inf)


class Adamax(Optimizer):
    """Adamax, as ``torch.optim.Adamax`` (lr=2e-3 by default); state ``exp_avg``, ``exp_inf``.

    Example::

        >>> model = nn.Linear(4, 2)
        >>> optimizer = chainrule.optim.Adamax(model.parameters(), lr=2e-3)
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        _check_differentiable("Adamax", differentiable)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_adam_group(group)

    def _initial_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {"step": _new_step_count(), **_zero_buffers(param, "exp_avg", "exp_inf")}

    def _options(self, group: dict[str, Any]) -> dict[str, Any]:
        return dict(_floats(group, "betas", "lr", "weight_decay", "eps"), maximize=bool(group["maximize"]))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` if given."""
        return self._functional_step(closure, adamax, ("exp_avg", "exp_inf", "step"))
