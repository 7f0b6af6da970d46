"""Adagrad: per-coordinate step sizes from the sum of all past squared gradients (Duchi et al.)."""

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


def adagrad(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    state_sums: list[np.ndarray],
    steps: list[np.ndarray],
    *,
    lr: float,
    lr_decay: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
) -> None:
    """One Adagrad step on each array of ``params``, in place.

    With g the gradient (negated when ``maximize``), λ the weight decay, η the lr decay, s the
    running sum of squared gradients and t the step count (a 0-d array, incremented here)::

        t ← t + 1
        g ← g + λ θ
        s ← s + g²
        θ ← θ − lr / (1 + (t − 1) η) · g / (√s + ε)

    Example::

        >>> w, g, s, t = np.ones(2), np.array([3.0, -0.5]), np.zeros(2), np.array(0.0)
        >>> adagrad([w], [g], [s], [t], lr=0.1, lr_decay=0.0, weight_decay=0.0, eps=0.0,
        ...         maximize=False)
        >>> w            # the first step moves each weight by lr against its gradient's sign
        array([0.9, 1.1])
    """
    for index, (param, grad) in enumerate(zip(params, grads)):
        state_sum, step = state_sums[index], steps[index]
        step += 1
        if maximize:
            grad = -grad
        if weight_decay != 0:
            grad = grad + weight_decay * param
        decayed_lr = lr / (1 + (float(step) - 1) * lr_decay)
        state_sum += grad * grad
        param -= decayed_lr * (grad / (np.sqrt(state_sum) + eps))


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``. The accumulator starts at
    ``initial_accumulator_value``; state is created when the optimizer is.

    Example::

        >>> model = nn.Linear(4, 2)

        >>> optimizer = chainrule.optim.Adagrad(model.parameters(), lr=1e-2)
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        _check_differentiable("Adagrad", differentiable)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)
        # PyTorch creates Adagrad's state eagerly, so a fresh state_dict already holds it
        for group in self.param_groups:
            for param in group["params"]:
                self._state_of(param, group)

    def _check_group(self, group: dict[str, Any]) -> None:
        _check_lr(group["lr"])
        _check_non_negative("lr_decay", group["lr_decay"])
        _check_non_negative("weight_decay", group["weight_decay"])
        _check_non_negative("initial_accumulator_value", group["initial_accumulator_value"])
        _check_non_negative("eps", group["eps"], "epsilon")

    def _state_of(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = self.state[param]
        if len(state) == 0:
            state["step"] = _new_step_count()
            initial = _hyper(group["initial_accumulator_value"])
            state["sum"] = Tensor._wrap(np.full_like(param.array, initial))
        return state

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            params = self._params_to_update(group)
            states = [self._state_of(param, group) for param in params]
            adagrad(
                [param.array for param in params],
                grad_arrays(params),
                [state["sum"].array for state in states],
                [state["step"].array for state in states],
                lr=_hyper(group["lr"]),
                lr_decay=_hyper(group["lr_decay"]),
                weight_decay=_hyper(group["weight_decay"]),
                eps=_hyper(group["eps"]),
                maximize=bool(group["maximize"]),
            )
        return loss
