"""Fairness metrics for binary classifiers, with Fairlearn's names and definitions, and an
audit that reports them per group with plain-language readings (``audit``, ``audit_model``).

Example:
    >>> from chainrule.fairness import demographic_parity_difference
    >>> demographic_parity_difference([1, 0, 1, 0], [1, 1, 0, 1],
    ...                               sensitive_features=["a", "a", "b", "b"])
    0.5
"""

from typing import Any

from chainrule.fairness.audit import FairnessAudit, audit, audit_model
from chainrule.fairness.metrics import (
    GroupMetrics,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_positive_rate,
    group_metrics,
    selection_rate,
    true_positive_rate,
)

__all__ = [
    "FairnessAudit",
    "GroupMetrics",
    "audit",
    "audit_model",
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "false_positive_rate",
    "group_metrics",
    "run_audit",
    "selection_rate",
    "true_positive_rate",
]


def __getattr__(name: str) -> Any:
    # Auditing a run folder reads the workflow's files, so it lives in chainrule.train (a layer
    # above this package); it stays reachable here, imported only when asked for.
    if name == "run_audit":
        from chainrule.train.audit import run_audit

        return run_audit
    raise AttributeError(f"module 'chainrule.fairness' has no attribute {name!r}")
