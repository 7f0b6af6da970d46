"""RAdam: Adam whose adaptive step is switched on only once the variance of the adaptive rate
is tractable, and then rectified (Liu et al., 2020)."""

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


def radam(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    exp_avgs: list[np.ndarray],
    exp_avg_sqs: list[np.ndarray],
    steps: list[np.ndarray],
    *,
    beta1: float,
    beta2: float,
    lr: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
    decoupled_weight_decay: bool = False,
) -> None:
    """One RAdam step on each array of ``params``, in place.

    With g the gradient (negated when ``maximize``), m and v the moment estimates and t the
    step count (incremented here)::

        t ← t + 1
        θ ← θ (1 − lr λ)   (decoupled)   or   g ← g + λ θ
        m ← β1 m + (1 − β1) g,   v ← β2 v + (1 − β2) g²
        m̂ = m / (1 − β1ᵗ)
        ρ∞ = 2 / (1 − β2) − 1,   ρ_t = ρ∞ − 2 t β2ᵗ / (1 − β2ᵗ)
        if ρ_t > 5:  r = √((ρ_t − 4)(ρ_t − 2) ρ∞ / ((ρ∞ − 4)(ρ∞ − 2) ρ_t))
                     θ ← θ − lr m̂ r √(1 − β2ᵗ) / (√v + ε)
        else:        θ ← θ − lr m̂          (plain momentum SGD while the variance is intractable)

    Example::

        >>> w, g = np.ones(2), np.array([0.5, -2.0])
        >>> m, v, t = np.zeros(2), np.zeros(2), np.array(0.0)
        >>> radam([w], [g], [m], [v], [t], beta1=0.9, beta2=0.999, lr=0.1, weight_decay=0.0,
        ...       eps=1e-8, maximize=False)
        >>> w            # ρ_1 = 1: the first step is lr · g
        array([0.95, 1.2 ])
    """
    rho_inf = 2 / (1 - beta2) - 1
    for param, grad, exp_avg, exp_avg_sq, step in zip(params, grads, exp_avgs, exp_avg_sqs, steps):
        if maximize:
            grad = -grad
        step += 1
        count = float(step)
        grad = weight_decayed(param, grad, lr, weight_decay, decoupled_weight_decay)
        update_moments(exp_avg, exp_avg_sq, grad, beta1, beta2)
        bias_correction2 = 1 - beta2**count
        corrected_exp_avg = exp_avg / (1 - beta1**count)
        rho_t = rho_inf - 2 * count * beta2**count / bias_correction2
        if rho_t > 5.0:
            rectification = (
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            ) ** 0.5
            adaptive_lr = bias_correction2**0.5 / (np.sqrt(exp_avg_sq) + eps)
            param -= corrected_exp_avg * lr * adaptive_lr * rectification
        else:
            param -= corrected_exp_avg * lr


class RAdam(Optimizer):
    """RAdam, as ``torch.optim.RAdam``; ``decoupled_weight_decay=True`` shrinks the weights
    directly (RAdamW). State ``step``, ``exp_avg``, ``exp_avg_sq``.

    Example::

        >>> model = nn.Linear(4, 2)
        >>> optimizer = chainrule.optim.RAdam(model.parameters(), lr=1e-3)
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_differentiable("RAdam", differentiable)
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            maximize=maximize,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_adam_group(group)

    def _initial_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {"step": _new_step_count(), **_zero_buffers(param, "exp_avg", "exp_avg_sq")}

    def _options(self, group: dict[str, Any]) -> dict[str, Any]:
        return dict(
            _floats(group, "betas", "lr", "weight_decay", "eps"),
            maximize=bool(group["maximize"]),
            decoupled_weight_decay=bool(group["decoupled_weight_decay"]),
        )

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` if given."""
        return self._functional_step(closure, radam, ("exp_avg", "exp_avg_sq", "step"))
