"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019)."""

from __future__ import annotations

from chainrule.optim.adam import Adam
from chainrule.optim.optimizer import ParamsT
from chainrule.tensor import Tensor


class AdamW(Adam):
    """Adam whose weight decay shrinks the weights directly, θ ← θ (1 − lr λ), instead of
    adding λθ to the gradient, as ``torch.optim.AdamW`` (default ``weight_decay=1e-2``).
    The update is ``adam(..., decoupled_weight_decay=True)``.

    Example::

        >>> model = nn.Linear(4, 2)

        >>> optimizer = chainrule.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, differentiable=differentiable,
                         decoupled_weight_decay=True)
