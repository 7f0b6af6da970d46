"""Learning rules beside backprop: feedback alignment, direct feedback alignment, sign symmetry
and forward-forward, each attached to an ordinary model and removable again.

>>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
>>> rule = chainrule.learning.apply_rule(model, "fa", seed=0)
>>> loss = nn.functional.cross_entropy(model(chainrule.randn(5, 4)), chainrule.tensor([0, 1, 2, 0, 1]))
>>> loss.backward()          # the first layer's gradient now comes through a fixed random B
>>> rule.remove()            # an ordinary model again

=========  ==========================================================================
``bp``     backprop (no rule: ``apply_rule`` returns None)
``fa``     feedback alignment: each layer sends ``grad_y B`` down, B fixed and random
``dfa``    direct feedback alignment: the output error reaches each layer through its own B
``sign``   sign symmetry: each layer sends ``grad_y sign(W)`` down
``ff``     forward-forward: layer-local goodness on positive and negative data
=========  ==========================================================================

The Trainer takes ``learning_rule="fa"`` (or a rule made here) and the command line
``--learning-rule``; for ``fa``, ``dfa`` and ``sign`` it records the angle between each
layer's update and the true gradient (:class:`AlignmentCallback`).
"""

from __future__ import annotations

from typing import Any

from chainrule.errors import ConfigError
from chainrule.learning.feedback import FeedbackRule, check_dfa_model
from chainrule.learning.forward_forward import ForwardForward

LEARNING_RULES = ("bp", "fa", "dfa", "sign", "ff")

__all__ = ["LEARNING_RULES", "FeedbackRule", "ForwardForward", "apply_rule"]


def apply_rule(model: Any, rule: str, seed: int = 0) -> FeedbackRule | ForwardForward | None:
    """Attach learning rule ``rule`` (one of :data:`LEARNING_RULES`) to ``model``.

    Returns a handle with ``remove()``, ``state_dict()`` and ``load_state_dict()`` (the fixed
    random feedback matrices, drawn from ``seed``), or None for ``"bp"``. The model's forward,
    parameters and ``state_dict`` are unchanged. Raises :class:`~chainrule.errors.ConfigError`
    for an unknown rule or a model the rule cannot train.

    Example::

        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> chainrule.learning.apply_rule(model, "sign")
        FeedbackRule('sign', layers=2, seed=0)
    """
    if rule not in LEARNING_RULES:
        raise ConfigError(f"learning rule {rule!r} is not one of {', '.join(LEARNING_RULES)}")
    if rule == "bp":
        return None
    if rule == "ff":
        return ForwardForward(model, seed=seed)
    if rule == "dfa":
        check_dfa_model(model)
    return FeedbackRule(model, rule, seed=seed)


def __getattr__(name: str) -> Any:
    # The alignment callback and report section belong to the trainer (a layer above this
    # package); they stay reachable here, imported only when asked for.
    if name in ("AlignmentCallback", "AlignmentSection"):
        from chainrule.train.callbacks import alignment as training_hooks

        return getattr(training_hooks, name)
    if name in ("angle_degrees", "true_gradients"):
        from chainrule.learning import alignment

        return getattr(alignment, name)
    raise AttributeError(f"module 'chainrule.learning' has no attribute {name!r}")
