"""ASGD: stochastic gradient descent with a decaying rate and Polyak-Ruppert averaging of the
iterates (Polyak & Juditsky, 1992; the rate schedule of Bottou, 2012)."""

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
    _float32_scalar,
    _floats,
    _hyper,
    _new_step_count,
    _zero_buffers,
)
from chainrule.tensor import Tensor


def asgd(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    axs: list[np.ndarray],
    etas: list[np.ndarray],
    mus: list[np.ndarray],
    steps: list[np.ndarray],
    *,
    lr: float,
    lambd: float,
    alpha: float,
    t0: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    """One ASGD step on each array of ``params``, in place.

    With g the gradient (negated when ``maximize``), η the current rate and μ the averaging
    weight (float32 0-d arrays, as PyTorch keeps them; η starts at lr and μ at 1), ā the
    averaged iterate and t the step count (incremented here)::

        t ← t + 1
        g ← g + λ_wd θ
        θ ← θ (1 − λ η) − η g
        ā ← ā + μ (θ − ā)          (ā ← θ while μ = 1, i.e. before step t0 + 1)
        η ← lr / (1 + λ lr t)^α,   μ ← 1 / max(1, t − t0)

    Example::

        >>> w, g, a = np.ones(2), np.array([0.5, -2.0]), np.zeros(2)
        >>> eta, mu, t = np.array(0.1, np.float32), np.array(1.0, np.float32), np.array(0.0)
        >>> asgd([w], [g], [a], [eta], [mu], [t], lr=0.1, lambd=0.0, alpha=0.75, t0=1e6,
        ...      weight_decay=0.0, maximize=False)
        >>> np.round(w, 6), np.round(a, 6)   # a plain SGD step; the average is the iterate
        (array([0.95, 1.2 ]), array([0.95, 1.2 ]))
    """
    for index, (param, grad) in enumerate(zip(params, grads)):
        ax, eta, mu, step = axs[index], etas[index], mus[index], steps[index]
        if maximize:
            grad = -grad
        step += 1
        if weight_decay != 0:
            grad = grad + weight_decay * param
        rate = float(eta)
        param *= 1 - lambd * rate
        param -= rate * grad
        if float(mu) != 1:
            ax += (param - ax) * float(mu)
        else:
            ax[...] = param
        count = float(step)
        # PyTorch rounds both through float32 scalars, even once loaded as float64 state
        eta[...] = np.float32(lr / (1 + lambd * lr * count) ** alpha)
        mu[...] = np.float32(1 / max(1, count - t0))


class ASGD(Optimizer):
    """Averaged SGD, as ``torch.optim.ASGD`` (lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6); the
    averaged parameters are ``optimizer.state[param]["ax"]``.

    Example::

        >>> model = nn.Linear(4, 2)
        >>> optimizer = chainrule.optim.ASGD(model.parameters(), lr=1e-2, t0=100)
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        _check_differentiable("ASGD", differentiable)
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        _check_lr(group["lr"])
        _check_non_negative("weight_decay", group["weight_decay"])

    def _initial_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {
            "step": _new_step_count(),
            "eta": _float32_scalar(_hyper(group["lr"])),
            "mu": _float32_scalar(1.0),
            **_zero_buffers(param, "ax"),
        }

    def _options(self, group: dict[str, Any]) -> dict[str, Any]:
        return dict(
            _floats(group, "lr", "lambd", "alpha", "t0", "weight_decay"), maximize=bool(group["maximize"])
        )

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` if given."""
        return self._functional_step(closure, asgd, ("ax", "eta", "mu", "step"))
