"""Adadelta: step sizes from running averages of squared gradients and of squared updates,
so no learning rate is needed in principle (Zeiler, 2012)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.optim.optimizer import (
    Optimizer,
    ParamsT,
    _check_differentiable,
    _check_lr,
    _check_non_negative,
    _hyper,
    _new_step_count,
    grad_arrays,
)
from chainrule.tensor import Tensor


def adadelta(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    square_avgs: list[np.ndarray],
    acc_deltas: list[np.ndarray],
    steps: list[np.ndarray],
    *,
    lr: float,
    rho: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    """One Adadelta step on each array of ``params``, in place.

    With g the gradient (negated when ``maximize``), λ the weight decay, v the running average
    of squared gradients, u that of squared updates, t the step count (incremented here)::

        t ← t + 1
        g ← g + λ θ
        v ← ρ v + (1 − ρ) g²
        Δ ← √(u + ε) / √(v + ε) · g
        u ← ρ u + (1 − ρ) Δ²
        θ ← θ − lr Δ

    Example::

        >>> w, g = np.ones(2), np.array([2.0, -2.0])
        >>> v, u, t = np.zeros(2), np.zeros(2), np.array(0.0)
        >>> adadelta([w], [g], [v], [u], [t], lr=1.0, rho=0.75, eps=0.01, weight_decay=0.0,
        ...          maximize=False)
        >>> v, w        # v = 0.25 * 4 = 1; the step is sqrt(0.01) / sqrt(1.01) * 2
        (array([1., 1.]), array([0.80099256, 1.19900744]))
    """
    for index, (param, grad) in enumerate(zip(params, grads)):
        square_avg, acc_delta = square_avgs[index], acc_deltas[index]
        steps[index] += 1
        if maximize:
            grad = -grad
        if weight_decay != 0:
            grad = grad + weight_decay * param
        square_avg *= rho
        square_avg += (1 - rho) * grad * grad
        delta = np.sqrt(acc_delta + eps) / np.sqrt(square_avg + eps) * grad
        acc_delta *= rho
        acc_delta += (1 - rho) * delta * delta
        param -= lr * delta


class Adadelta(Optimizer):
    """Adadelta, as ``torch.optim.Adadelta`` (lr=1.0, rho=0.9, eps=1e-6 by default).

    Example::

        >>> model = nn.Linear(3, 1)
        >>> optimizer = chainrule.optim.Adadelta(model.parameters(), lr=1.0)
        >>> model(chainrule.ones(2, 3)).pow(2).mean().backward()
        >>> optimizer.step()
        >>> sorted(optimizer.state[model.weight])
        ['acc_delta', 'square_avg', 'step']
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_differentiable("Adadelta", differentiable)
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _check_group(self, group: dict[str, Any]) -> None:
        _check_lr(group["lr"])
        if not 0.0 <= group["rho"] <= 1.0:
            raise ValueError(f"Invalid rho value: {group['rho']} (rho must be in [0, 1])")
        _check_non_negative("eps", group["eps"], "epsilon")
        _check_non_negative("weight_decay", group["weight_decay"])

    def _state_of(self, param: Tensor) -> dict[str, Any]:
        state = self.state[param]
        if len(state) == 0:
            state["step"] = _new_step_count()
            state["square_avg"] = Tensor._wrap(np.zeros_like(param.array))
            state["acc_delta"] = Tensor._wrap(np.zeros_like(param.array))
        return state

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            params = self._params_to_update(group)
            states = [self._state_of(param) for param in params]
            adadelta(
                [param.array for param in params],
                grad_arrays(params),
                [state["square_avg"].array for state in states],
                [state["acc_delta"].array for state in states],
                [state["step"].array for state in states],
                lr=_hyper(group["lr"]),
                rho=_hyper(group["rho"]),
                eps=_hyper(group["eps"]),
                weight_decay=_hyper(group["weight_decay"]),
                maximize=bool(group["maximize"]),
            )
        return loss
