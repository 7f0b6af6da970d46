"""Gradient clipping: ``clip_grad_norm_`` (rescale all gradients together) and
``clip_grad_value_`` (clamp each element), with PyTorch's signatures."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from chainrule.grad_mode import no_grad
from chainrule.tensor import Tensor


def _grads_of(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    """The gradients of the parameters that have one (changing them changes the parameters')."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [grad for grad in (p.grad for p in parameters) if grad is not None]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Scale all gradients by min(1, max_norm / (total_norm + 1e-6)), where total_norm is the
    ``norm_type`` norm of all gradients taken together as one vector (``inf`` for the
    largest magnitude). Returns total_norm (before clipping) as a 0-d tensor.

    Example::

        >>> model = nn.Linear(3, 1)
        >>> loss = (model(chainrule.ones(2, 3)) - 10).pow(2).mean()
        >>> loss.backward()
        >>> nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        tensor(44.7839)
        >>> round(float(nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)), 4)   # clipped
        1.0
    """
    grads = _grads_of(parameters)
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not grads:
        return Tensor(np.zeros((), dtype=np.float32))
    dtype = grads[0].dtype
    if math.isinf(norm_type):
        total = max(float(np.abs(g.array).max(initial=0.0)) for g in grads)
    else:
        total = sum(float(np.sum(np.abs(g.array.astype(np.float64)) ** norm_type)) for g in grads)
        total = total ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is non-finite "
            f"({total}), so they cannot be clipped; set error_if_nonfinite=False to scale anyway"
        )
    clip_coefficient = min(max_norm / (total + 1e-6), 1.0)
    if clip_coefficient < 1.0 or math.isnan(clip_coefficient):
        with no_grad():
            for g in grads:
                g.mul_(clip_coefficient)
    return Tensor(np.asarray(total, dtype=dtype))


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float,
                     foreach: bool | None = None) -> None:
    """Clamp every gradient element into [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    with no_grad():
        for g in _grads_of(parameters):
            g.clamp_(-clip_value, clip_value)
