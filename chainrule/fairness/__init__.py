"""Fairness metrics for binary classifiers, with Fairlearn's names and definitions.

Example:
    >>> from chainrule.fairness import demographic_parity_difference
    >>> demographic_parity_difference([1, 0, 1, 0], [1, 1, 0, 1],
    ...                               sensitive_features=["a", "a", "b", "b"])
    0.5
"""

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
    "GroupMetrics",
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "false_positive_rate",
    "group_metrics",
    "selection_rate",
    "true_positive_rate",
]
