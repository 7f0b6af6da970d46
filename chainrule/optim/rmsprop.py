"""RMSprop: divide the gradient by a running root mean square of recent gradients (Hinton)."""

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


def rmsprop(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    square_avgs: list[np.ndarray],
    grad_avgs: list[np.ndarray],
    momentum_buffers: list[np.ndarray],
    steps: list[np.ndarray],
    *,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
    maximize: bool,
) -> None:
    """One RMSprop step on each array of ``params``, in place.

    With g the gradient (negated when ``maximize``), λ the weight decay, α the smoothing
    constant, μ the momentum and t the step count (a 0-d array, incremented here)::

        g ← g + λ θ
        v ← α v + (1 − α) g²
        ḡ ← α ḡ + (1 − α) g,   v' = v − ḡ²          (centered)   else   v' = v
        b ← μ b + g / (√v' + ε),   θ ← θ − lr b      (μ > 0)
        θ ← θ − lr g / (√v' + ε)                     (μ = 0)

    ``grad_avgs`` may be empty unless ``centered``, ``momentum_buffers`` unless μ > 0.

    Example::

        >>> w, g, v, t = np.ones(2), np.array([1.0, -1.0]), np.zeros(2), np.array(0.0)
        >>> rmsprop([w], [g], [v], [], [], [t], lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0,
        ...         momentum=0.0, centered=False, maximize=False)
        >>> w.round(4)   # the first step is lr / sqrt(1 - alpha) against the gradient's sign
        array([0.9, 1.1])
    """
    for index, (param, grad) in enumerate(zip(params, grads)):
        square_avg, step = square_avgs[index], steps[index]
        if maximize:
            grad = -grad
        step += 1
        if weight_decay != 0:
            grad = grad + weight_decay * param
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        if centered:
            grad_avg = grad_avgs[index]
            grad_avg += (1 - alpha) * (grad - grad_avg)
            denominator = np.sqrt(square_avg - grad_avg * grad_avg)
        else:
            denominator = np.sqrt(square_avg)
        denominator += eps
        if momentum > 0:
            buffer = momentum_buffers[index]
            buffer *= momentum
            buffer += grad / denominator
            param -= lr * buffer
        else:
            param -= lr * (grad / denominator)


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``: ε is added outside the square root, and
    ``centered`` normalises by an estimate of the gradient's variance instead.

    Example::

        >>> model = nn.Linear(4, 2)

        >>> optimizer = chainrule.optim.RMSprop(model.parameters(), lr=1e-2, momentum=0.9)
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_differentiable("RMSprop", differentiable)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        _check_lr(group["lr"])
        _check_non_negative("eps", group["eps"], "epsilon")
        _check_non_negative("momentum", group["momentum"])
        _check_non_negative("weight_decay", group["weight_decay"])
        _check_non_negative("alpha", group["alpha"])

    def _state_of(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = self.state[param]
        if len(state) == 0:
            state["step"] = _new_step_count()
            state["square_avg"] = Tensor._wrap(np.zeros_like(param.array))
            if group["momentum"] > 0:
                state["momentum_buffer"] = Tensor._wrap(np.zeros_like(param.array))
            if group["centered"]:
                state["grad_avg"] = Tensor._wrap(np.zeros_like(param.array))
        return state

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            params = self._params_to_update(group)
            states = [self._state_of(param, group) for param in params]
            momentum, centered = _hyper(group["momentum"]), bool(group["centered"])
            rmsprop(
                [param.array for param in params],
                grad_arrays(params),
                [state["square_avg"].array for state in states],
                [state["grad_avg"].array for state in states] if centered else [],
                [state["momentum_buffer"].array for state in states] if momentum > 0 else [],
                [state["step"].array for state in states],
                lr=_hyper(group["lr"]),
                alpha=_hyper(group["alpha"]),
                eps=_hyper(group["eps"]),
                weight_decay=_hyper(group["weight_decay"]),
                momentum=momentum,
                centered=centered,
                maximize=bool(group["maximize"]),
            )
        return loss
