"""How well a learning rule's updates align with backprop's: the angle per layer (recorded
while training and drawn in the report by :mod:`chainrule.train.callbacks.alignment`).

The angle between two gradients ``a`` and ``b`` is ``arccos(a·b / (|a| |b|))`` in degrees:
0 the same direction, 90 unrelated, above 90 opposed. A rule learns as long as its update
stays within 90 degrees of the true gradient (it then still descends the loss).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SUFFIX = "/alignment_deg"


def angle_degrees(update: np.ndarray, gradient: np.ndarray) -> float:
    """The angle between two arrays seen as vectors, in degrees (NaN if either is zero).

    Example::

        >>> angle_degrees(np.array([1.0, 0.0]), np.array([1.0, 1.0]))
        45.0
    """
    a = np.asarray(update, dtype=np.float64).ravel()
    b = np.asarray(gradient, dtype=np.float64).ravel()
    norm_a, norm_b = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if norm_a == 0.0 or norm_b == 0.0:
        return float("nan")
    a, b = a / norm_a, b / norm_b
    # Half-angle form: accurate near 0 and 180 degrees, where acos of the cosine is not.
    angle = 2 * math.atan2(float(np.linalg.norm(a - b)), float(np.linalg.norm(a + b)))
    return round(math.degrees(angle), 10)


def true_gradients(rule: Any, loss_fn: Any, inputs: Any, targets: Any) -> dict[str, np.ndarray]:
    """Plain backprop's gradient of each rule layer's weight on one batch, ``{layer: array}``,
    computed with the rule switched off and without touching ``.grad``."""
    from chainrule.autograd import grad
    from chainrule.grad_mode import enable_grad

    weights = [layer.weight for _, layer in rule.layers]
    rule.enabled = False
    try:
        with enable_grad():
            loss = loss_fn(rule.model(inputs), targets)
            grads = grad(loss, weights, allow_unused=True)
    finally:
        rule.enabled = True
    return {
        name: (np.zeros(w.shape) if g is None else g.numpy())
        for (name, _), w, g in zip(rule.layers, weights, grads)
    }
