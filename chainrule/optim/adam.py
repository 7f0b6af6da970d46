"""Adam: adaptive moment estimation (Kingma & Ba, 2015), optionally AMSGrad."""

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


def adam(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    exp_avgs: list[np.ndarray],
    exp_avg_sqs: list[np.ndarray],
    max_exp_avg_sqs: list[np.ndarray],
    steps: list[np.ndarray],
    *,
    amsgrad: bool,
    beta1: float,
    beta2: float,
    lr: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
    decoupled_weight_decay: bool = False,
) -> None:
    """One Adam (or AdamW) step on each array of ``params``, in place.

    With g the gradient (negated when ``maximize``), λ the weight decay, m and v the first
    and second moment estimates, and t the step count (a 0-d array, incremented here)::

        t ← t + 1
        θ ← θ (1 − lr λ)        decoupled (AdamW)   or   g ← g + λ θ   (Adam)
        m ← β1 m + (1 − β1) g
        v ← β2 v + (1 − β2) g²
        v_max ← max(v_max, v)   and use v_max for v below   (AMSGrad only)
        θ ← θ − lr / (1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)

    ``max_exp_avg_sqs`` may be empty unless ``amsgrad``. Arrays of any shape.

    Example::

        >>> w, g = np.ones(2), np.array([0.5, -2.0])
        >>> m, v, t = np.zeros(2), np.zeros(2), np.array(0.0)
        >>> adam([w], [g], [m], [v], [], [t], amsgrad=False, beta1=0.9, beta2=0.999, lr=0.1,
        ...      weight_decay=0.0, eps=1e-8, maximize=False)
        >>> w            # the first step moves each weight by lr against its gradient's sign
        array([0.9, 1.1])
    """
    for index, (param, grad) in enumerate(zip(params, grads)):
        exp_avg, exp_avg_sq, step = exp_avgs[index], exp_avg_sqs[index], steps[index]
        if maximize:
            grad = -grad
        step += 1
        grad = weight_decayed(param, grad, lr, weight_decay, decoupled_weight_decay)
        update_moments(exp_avg, exp_avg_sq, grad, beta1, beta2)

        count = float(step)
        bias_correction1 = 1 - beta1**count
        bias_correction2_sqrt = (1 - beta2**count) ** 0.5
        step_size = lr / bias_correction1
        if amsgrad:
            np.maximum(max_exp_avg_sqs[index], exp_avg_sq, out=max_exp_avg_sqs[index])
            second_moment = max_exp_avg_sqs[index]
        else:
            second_moment = exp_avg_sq
        denominator = np.sqrt(second_moment) / bias_correction2_sqrt + eps
        param -= step_size * (exp_avg / denominator)


def weight_decayed(
    param: np.ndarray, grad: np.ndarray, lr: float, weight_decay: float, decoupled: bool
) -> np.ndarray:
    """The gradient after weight decay λ: with ``decoupled`` the weights shrink in place,
    θ ← θ (1 − lr λ), and g is returned as it is; otherwise g + λ θ (L2)."""
    if weight_decay == 0:
        return grad
    if decoupled:
        param *= 1 - lr * weight_decay
        return grad
    return grad + weight_decay * param


def update_moments(
    exp_avg: np.ndarray, exp_avg_sq: np.ndarray | None, grad: np.ndarray, beta1: float, beta2: float
) -> None:
    """m ← β1 m + (1 − β1) g and v ← β2 v + (1 − β2) g², in place (Adam and its variants);
    ``exp_avg_sq`` None skips v (Adamax keeps an infinity norm instead)."""
    exp_avg += (1 - beta1) * (grad - exp_avg)
    if exp_avg_sq is not None:
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * grad * grad


def check_adam_group(group: dict[str, Any]) -> None:
    """Raise a ValueError naming an invalid lr, eps, betas or weight_decay of an Adam-family group."""
    _check_lr(group["lr"])
    _check_non_negative("eps", group["eps"], "epsilon")
    betas = group["betas"]
    if len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    for index, beta in enumerate(betas):
        if not 0.0 <= float(beta) < 1.0:
            raise ValueError(f"Invalid beta parameter at index {index}: {beta} (must be in [0, 1))")
    _check_non_negative("weight_decay", group.get("weight_decay", 0))


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam``; ``weight_decay`` adds λθ to the gradient (L2).

    ``decoupled_weight_decay=True`` gives AdamW. ``foreach``/``fused``/``capturable`` are
    accepted and ignored.

    Example::

        >>> model = nn.Linear(4, 2)

        >>> optimizer = chainrule.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999))
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        _check_differentiable(type(self).__name__, differentiable)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_adam_group(group)

    def _state_of(self, param: Tensor, amsgrad: bool) -> dict[str, Any]:
        state = self.state[param]
        if len(state) == 0:
            state["step"] = _new_step_count()
            state["exp_avg"] = Tensor._wrap(np.zeros_like(param.array))
            state["exp_avg_sq"] = Tensor._wrap(np.zeros_like(param.array))
            if amsgrad:
                state["max_exp_avg_sq"] = Tensor._wrap(np.zeros_like(param.array))
        return state

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            params = self._params_to_update(group)
            amsgrad = bool(group["amsgrad"])
            states = [self._state_of(param, amsgrad) for param in params]
            beta1, beta2 = group["betas"]
            adam(
                [param.array for param in params],
                grad_arrays(params),
                [state["exp_avg"].array for state in states],
                [state["exp_avg_sq"].array for state in states],
                [state["max_exp_avg_sq"].array for state in states] if amsgrad else [],
                [state["step"].array for state in states],
                amsgrad=amsgrad,
                beta1=_hyper(beta1),
                beta2=_hyper(beta2),
                lr=_hyper(group["lr"]),
                weight_decay=_hyper(group["weight_decay"]),
                eps=_hyper(group["eps"]),
                maximize=bool(group["maximize"]),
                decoupled_weight_decay=bool(group.get("decoupled_weight_decay", False)),
            )
        return loss
