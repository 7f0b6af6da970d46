"""NAdam: Adam with Nesterov momentum (Dozat, 2016), with the momentum-decay schedule of the
paper and optionally decoupled weight decay (as AdamW)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.optim.adam import check_adam_group, update_moments, weight_decayed
from chainrule.optim.optimizer import (
    Optimizer,
    ParamsT,
    _check_differentiable,
    _check_non_negative,
    _float32_scalar,
    _floats,
    _new_step_count,
    _zero_buffers,
)
from chainrule.tensor import Tensor


def nadam(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    exp_avgs: list[np.ndarray],
    exp_avg_sqs: list[np.ndarray],
    mu_products: list[np.ndarray],
    steps: list[np.ndarray],
    *,
    beta1: float,
    beta2: float,
    lr: float,
    weight_decay: float,
    momentum_decay: float,
    eps: float,
    maximize: bool,
    decoupled_weight_decay: bool = False,
) -> None:
    """One NAdam step on each array of ``params``, in place.

    With g the gradient (negated when ``maximize``), ψ the momentum decay, m and v the moment
    estimates, Π the running product of the momentum coefficients (a float32 0-d array, as
    PyTorch keeps it) and t the step count (incremented here)::

        t ← t + 1
        θ ← θ (1 − lr λ)   (decoupled)   or   g ← g + λ θ
        μ_t = β1 (1 − ½ · 0.96^(t ψ)),   μ_{t+1} = β1 (1 − ½ · 0.96^((t+1) ψ))
        Π ← Π μ_t
        m ← β1 m + (1 − β1) g,   v ← β2 v + (1 − β2) g²
        d = √(v / (1 − β2ᵗ)) + ε
        θ ← θ − lr (1 − μ_t) / (1 − Π) · g / d − lr μ_{t+1} / (1 − Π μ_{t+1}) · m / d

    Example::

        >>> w, g = np.ones(2), np.array([0.5, -2.0])
        >>> m, v = np.zeros(2), np.zeros(2)
        >>> pi, t = np.array(1.0, np.float32), np.array(0.0)
        >>> nadam([w], [g], [m], [v], [pi], [t], beta1=0.9, beta2=0.999, lr=0.1,
        ...       weight_decay=0.0, momentum_decay=0.004, eps=0.0, maximize=False)
        >>> np.round(w, 4)    # lr against the sign, plus the look-ahead momentum term
        array([0.8944, 1.1056])
    """
    for index, (param, grad) in enumerate(zip(params, grads)):
        exp_avg, exp_avg_sq, mu_product, step = (
            exp_avgs[index],
            exp_avg_sqs[index],
            mu_products[index],
            steps[index],
        )
        if maximize:
            grad = -grad
        step += 1
        count = float(step)
        grad = weight_decayed(param, grad, lr, weight_decay, decoupled_weight_decay)
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (count * momentum_decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((count + 1) * momentum_decay))
        mu_product *= mu
        product = float(mu_product)
        update_moments(exp_avg, exp_avg_sq, grad, beta1, beta2)
        denominator = np.sqrt(exp_avg_sq / (1 - beta2**count)) + eps
        param -= lr * (1.0 - mu) / (1.0 - product) * (grad / denominator)
        param -= lr * mu_next / (1.0 - product * mu_next) * (exp_avg / denominator)


class NAdam(Optimizer):
    """NAdam, as ``torch.optim.NAdam`` (lr=2e-3, momentum_decay=4e-3 by default); state
    ``step``, ``mu_product``, ``exp_avg``, ``exp_avg_sq``. ``decoupled_weight_decay=True``
    shrinks the weights directly (NAdamW).

    Example::

        >>> model = nn.Linear(4, 2)
        >>> optimizer = chainrule.optim.NAdam(model.parameters(), weight_decay=0.01,
        ...                                   decoupled_weight_decay=True)
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_differentiable("NAdam", differentiable)
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_adam_group(group)
        _check_non_negative("momentum_decay", group["momentum_decay"])

    def _initial_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {
            "step": _new_step_count(),
            "mu_product": _float32_scalar(1.0),
            **_zero_buffers(param, "exp_avg", "exp_avg_sq"),
        }

    def _options(self, group: dict[str, Any]) -> dict[str, Any]:
        return dict(
            _floats(group, "betas", "lr", "weight_decay", "momentum_decay", "eps"),
            maximize=bool(group["maximize"]),
            decoupled_weight_decay=bool(group["decoupled_weight_decay"]),
        )

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` if given."""
        return self._functional_step(closure, nadam, ("exp_avg", "exp_avg_sq", "mu_product", "step"))
