"""Group fairness metrics for binary classifiers, with Fairlearn's names and definitions.

A *group* is a value of the sensitive feature (or a combination of values when several
sensitive features are given). Definitions, as in Fairlearn 0.10+:

* selection rate: the fraction of samples predicted positive, P(ŷ = 1).
* true positive rate (TPR): P(ŷ = 1 | y = 1); false positive rate (FPR): P(ŷ = 1 | y = 0).
  A group with no positive (no negative) samples has TPR (FPR) 0, the convention Fairlearn
  inherits from scikit-learn's normalised confusion matrix.
* difference, ``method="between_groups"``: largest group value minus smallest;
  ``method="to_overall"``: largest absolute gap between a group and the whole dataset.
* ratio, ``"between_groups"``: smallest group value over largest;
  ``"to_overall"``: the smallest of ``group / overall`` with each ratio above 1 inverted.
  0/0 (all rates zero) is undefined and gives NaN.
* demographic parity: the difference/ratio of selection rates.
* equalized odds: the larger of the TPR and FPR differences (``agg="worst_case"``), or
  their mean (``agg="mean"``); the ratio is the smaller of the TPR and FPR ratios (or their
  mean). A NaN component is ignored; the result is NaN only when both are.

All samples count equally unless ``sample_weight`` is given.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

_METHODS = ("between_groups", "to_overall")
_AGGREGATIONS = ("worst_case", "mean")


def _as_array(values: Any, name: str) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach()
    if hasattr(values, "numpy") and not isinstance(values, np.ndarray):
        values = values.numpy()
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{name} must have shape (N,), got {array.shape}")
    if len(array) == 0:
        raise ValueError(f"{name} is empty")
    return array


def _is_positive(values: Any, name: str, pos_label: Any) -> np.ndarray:
    """Boolean mask of positive samples, after checking the labels are binary."""
    array = _as_array(values, name)
    distinct = np.unique(array)
    if len(distinct) > 2:
        shown = distinct[:5].tolist()
        raise ValueError(
            f"{name} must hold binary labels but has {len(distinct)} distinct values "
            f"(first: {shown}); threshold scores into 0/1 predictions first"
        )
    if len(distinct) == 2 and pos_label not in distinct.tolist():
        raise ValueError(
            f"pos_label={pos_label!r} is not one of the labels in {name} "
            f"{distinct.tolist()}; pass pos_label= the positive label"
        )
    return array == pos_label


def _weights(sample_weight: Any, num_samples: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(num_samples)
    weights = _as_array(sample_weight, "sample_weight").astype(np.float64)
    if len(weights) != num_samples:
        raise ValueError(f"sample_weight has {len(weights)} entries for {num_samples} samples")
    if np.any(weights < 0) or not np.all(np.isfinite(weights)):
        raise ValueError("sample_weight must be finite and non-negative")
    return weights


def _group_ids(sensitive_features: Any, num_samples: int) -> tuple[list[Hashable], np.ndarray]:
    """Sorted group keys, and the index of each sample's group."""
    if isinstance(sensitive_features, dict):
        columns = [_as_array(column, f"sensitive_features[{key!r}]").tolist()
                   for key, column in sensitive_features.items()]
        keys = list(zip(*columns))
    else:
        array = np.asarray(sensitive_features, dtype=object)
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim == 1:
            keys = [key.item() if isinstance(key, np.generic) else key for key in array]
        elif array.ndim == 2:  # several sensitive features: groups are their combinations
            keys = [tuple(row) for row in array.tolist()]
        else:
            raise ValueError(
                f"sensitive_features must have shape (N,) or (N, k), got {array.shape}"
            )
    if len(keys) != num_samples:
        raise ValueError(f"sensitive_features has {len(keys)} entries for {num_samples} samples")
    distinct = set(keys)
    groups: list[Any]
    try:
        groups = sorted(distinct)
    except TypeError:  # mixed types such as 1 and "a" do not compare
        groups = sorted(distinct, key=repr)
    position = {group: index for index, group in enumerate(groups)}
    return groups, np.array([position[key] for key in keys], dtype=np.int64)


def _rate(weights: np.ndarray, hits: np.ndarray, within: np.ndarray) -> float:
    """Weighted fraction of ``within`` samples that are ``hits``; 0.0 if ``within`` is empty."""
    total = weights[within].sum()
    return float(weights[within & hits].sum() / total) if total > 0 else 0.0


def _binary_pair(
    y_true: Any, y_pred: Any, sample_weight: Any, pos_label: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positive masks of y_true and y_pred, and the weights, checked to have one length."""
    if y_true is None:
        raise ValueError("y_true is required for this metric")
    actual = _is_positive(y_true, "y_true", pos_label)
    predicted = _is_positive(y_pred, "y_pred", pos_label)
    if len(actual) != len(predicted):
        raise ValueError(f"y_true has {len(actual)} samples but y_pred has {len(predicted)}")
    return actual, predicted, _weights(sample_weight, len(predicted))


@dataclass
class _Inputs:
    actual: np.ndarray | None  # y_true == pos_label, or None if y_true was not needed
    predicted: np.ndarray  # y_pred == pos_label
    weights: np.ndarray
    groups: list[Any]
    group_of: np.ndarray


def _prepare(
    y_true: Any,
    y_pred: Any,
    sensitive_features: Any,
    sample_weight: Any,
    pos_label: Any,
    need_true: bool,
) -> _Inputs:
    if need_true:
        actual, predicted, weights = _binary_pair(y_true, y_pred, sample_weight, pos_label)
    else:
        actual = None
        predicted = _is_positive(y_pred, "y_pred", pos_label)
        weights = _weights(sample_weight, len(predicted))
    groups, group_of = _group_ids(sensitive_features, len(predicted))
    return _Inputs(actual, predicted, weights, groups, group_of)


_Metric = Callable[[_Inputs, np.ndarray], float]


def _selection(inputs: _Inputs, rows: np.ndarray) -> float:
    total = inputs.weights[rows].sum()
    return float(inputs.weights[rows & inputs.predicted].sum() / total) if total > 0 else np.nan


def _true_positive_rate(inputs: _Inputs, rows: np.ndarray) -> float:
    return _rate(inputs.weights, inputs.predicted, rows & _actual(inputs))


def _false_positive_rate(inputs: _Inputs, rows: np.ndarray) -> float:
    return _rate(inputs.weights, inputs.predicted, rows & ~_actual(inputs))


def _actual(inputs: _Inputs) -> np.ndarray:
    if inputs.actual is None:
        raise ValueError("this metric compares with the true labels: give y_true")
    return inputs.actual


def _accuracy(inputs: _Inputs, rows: np.ndarray) -> float:
    return _rate(inputs.weights, inputs.predicted == inputs.actual, rows)


def _evaluate(metric: _Metric, inputs: _Inputs) -> tuple[float, np.ndarray]:
    """The metric on the whole data and on each group (in ``inputs.groups`` order)."""
    everyone = np.ones(len(inputs.predicted), dtype=bool)
    per_group = np.array(
        [metric(inputs, inputs.group_of == index) for index in range(len(inputs.groups))]
    )
    return metric(inputs, everyone), per_group


def _check_method(method: str) -> None:
    if method not in _METHODS:
        raise ValueError(f"method must be one of {list(_METHODS)}, got {method!r}")


def _difference(overall: float, per_group: np.ndarray, method: str) -> float:
    _check_method(method)
    if method == "between_groups":
        return float(np.nanmax(per_group) - np.nanmin(per_group))
    return float(np.nanmax(np.abs(per_group - overall)))


def _ratio(overall: float, per_group: np.ndarray, method: str) -> float:
    _check_method(method)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "between_groups":
            return float(np.nanmin(per_group) / np.nanmax(per_group))
        ratios = per_group / overall
        ratios = np.where(ratios > 1, 1 / ratios, ratios)  # a ratio above 1 counts as its inverse
    if np.all(np.isnan(ratios)):
        return float("nan")
    return float(np.nanmin(ratios))


def selection_rate(
    y_true: Any, y_pred: Any, *, pos_label: Any = 1, sample_weight: Any = None
) -> float:
    """Fraction of samples predicted positive (weighted by ``sample_weight`` if given).

    ``y_true`` is ignored (it may be ``None``); it is there so every metric has the same
    signature, as in Fairlearn.

    Args:
        y_true: ignored.
        y_pred: predicted labels, shape ``(N,)``.
        pos_label: the label that means "selected".
        sample_weight: non-negative weights, shape ``(N,)``.

    Example:
        >>> selection_rate(None, [1, 0, 0, 1])
        0.5
    """
    predicted = _is_positive(y_pred, "y_pred", pos_label)
    weights = _weights(sample_weight, len(predicted))
    total = weights.sum()
    return float(weights[predicted].sum() / total) if total > 0 else float("nan")


def true_positive_rate(
    y_true: Any, y_pred: Any, *, pos_label: Any = 1, sample_weight: Any = None
) -> float:
    """P(ŷ = pos | y = pos), the recall of the positive class; 0.0 if there are no positives.

    Example:
        >>> true_positive_rate([1, 1, 0, 0], [1, 0, 1, 0])
        0.5
    """
    actual, predicted, weights = _binary_pair(y_true, y_pred, sample_weight, pos_label)
    return _rate(weights, predicted, actual)


def false_positive_rate(
    y_true: Any, y_pred: Any, *, pos_label: Any = 1, sample_weight: Any = None
) -> float:
    """P(ŷ = pos | y ≠ pos); 0.0 if there are no negatives.

    Example:
        >>> false_positive_rate([1, 1, 0, 0], [1, 0, 1, 1])
        1.0
    """
    actual, predicted, weights = _binary_pair(y_true, y_pred, sample_weight, pos_label)
    return _rate(weights, predicted, ~actual)


def demographic_parity_difference(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: str = "between_groups",
    sample_weight: Any = None,
    pos_label: Any = 1,
) -> float:
    """Largest minus smallest group selection rate (0 means every group is selected equally).

    Args:
        y_true: ignored (may be ``None``); kept for Fairlearn's signature.
        y_pred: predicted binary labels, shape ``(N,)``.
        sensitive_features: group of each sample, shape ``(N,)``; shape ``(N, k)`` or a dict
            of columns groups by the combination of ``k`` features.
        method: ``"between_groups"`` or ``"to_overall"`` (see the module docstring).
        sample_weight: non-negative weights, shape ``(N,)``.
        pos_label: the label that means "selected".

    Example:
        >>> demographic_parity_difference(None, [1, 1, 0, 1, 0, 0],
        ...                               sensitive_features=["a", "a", "a", "b", "b", "b"])
        0.3333333333333333
    """
    inputs = _prepare(y_true, y_pred, sensitive_features, sample_weight, pos_label, False)
    return _difference(*_evaluate(_selection, inputs), method)


def demographic_parity_ratio(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: str = "between_groups",
    sample_weight: Any = None,
    pos_label: Any = 1,
) -> float:
    """Smallest over largest group selection rate (1 means every group is selected equally).

    Arguments as in :func:`demographic_parity_difference`. NaN if no group is ever selected.

    Example:
        >>> demographic_parity_ratio(None, [1, 1, 0, 1, 0, 0],
        ...                          sensitive_features=["a", "a", "a", "b", "b", "b"])
        0.5
    """
    inputs = _prepare(y_true, y_pred, sensitive_features, sample_weight, pos_label, False)
    return _ratio(*_evaluate(_selection, inputs), method)


def _check_agg(agg: str) -> None:
    if agg not in _AGGREGATIONS:
        raise ValueError(f"agg must be one of {list(_AGGREGATIONS)}, got {agg!r}")


def equalized_odds_difference(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: str = "between_groups",
    sample_weight: Any = None,
    agg: str = "worst_case",
    pos_label: Any = 1,
) -> float:
    """The larger of the TPR difference and the FPR difference between groups.

    0 means every group has the same true and false positive rates.

    Args:
        y_true: true binary labels, shape ``(N,)``.
        y_pred: predicted binary labels, shape ``(N,)``.
        sensitive_features, method, sample_weight, pos_label: as in
            :func:`demographic_parity_difference`.
        agg: ``"worst_case"`` (the larger difference) or ``"mean"`` (their mean).

    Example:
        >>> equalized_odds_difference([1, 0, 1, 0], [1, 0, 0, 0],
        ...                           sensitive_features=["a", "a", "b", "b"])
        1.0
    """
    _check_agg(agg)
    inputs = _prepare(y_true, y_pred, sensitive_features, sample_weight, pos_label, True)
    differences = np.array([
        _difference(*_evaluate(_true_positive_rate, inputs), method),
        _difference(*_evaluate(_false_positive_rate, inputs), method),
    ])
    return float(np.max(differences) if agg == "worst_case" else np.mean(differences))


def equalized_odds_ratio(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: str = "between_groups",
    sample_weight: Any = None,
    agg: str = "worst_case",
    pos_label: Any = 1,
) -> float:
    """The smaller of the TPR ratio and the FPR ratio between groups (1 is parity).

    Arguments as in :func:`equalized_odds_difference`; ``agg="mean"`` averages the two ratios.
    A ratio that is 0/0 (e.g. no group has any false positive) is left out; NaN if both are.

    Example:
        >>> equalized_odds_ratio([1, 1, 0, 1, 1, 0], [1, 1, 1, 1, 0, 0],
        ...                      sensitive_features=["a", "a", "a", "b", "b", "b"])
        0.0
    """
    _check_agg(agg)
    inputs = _prepare(y_true, y_pred, sensitive_features, sample_weight, pos_label, True)
    ratios = np.array([
        _ratio(*_evaluate(_true_positive_rate, inputs), method),
        _ratio(*_evaluate(_false_positive_rate, inputs), method),
    ])
    if np.all(np.isnan(ratios)):
        return float("nan")
    return float(np.nanmin(ratios) if agg == "worst_case" else np.nanmean(ratios))


_TABLE_METRICS: dict[str, _Metric] = {
    "accuracy": _accuracy,
    "selection_rate": _selection,
    "true_positive_rate": _true_positive_rate,
    "false_positive_rate": _false_positive_rate,
}


@dataclass
class GroupMetrics:
    """Per-group metrics of a binary classifier: a small stand-in for Fairlearn's MetricFrame.

    Attributes:
        by_group: ``{group: {"count", "accuracy", "selection_rate", "true_positive_rate",
            "false_positive_rate"}}``, groups in sorted order; ``count`` is the number of
            samples (unweighted).
        overall: the same metrics on the whole dataset.
    """

    by_group: dict[Hashable, dict[str, float]]
    overall: dict[str, float]

    def difference(self, metric: str, method: str = "between_groups") -> float:
        """Largest minus smallest group value of ``metric`` (or largest gap to overall)."""
        column = self._column(metric)
        return _difference(self.overall[metric], column, method)

    def ratio(self, metric: str, method: str = "between_groups") -> float:
        """Smallest over largest group value of ``metric`` (or smallest ratio to overall)."""
        column = self._column(metric)
        return _ratio(self.overall[metric], column, method)

    def _column(self, metric: str) -> np.ndarray:
        if metric not in self.overall:
            raise KeyError(f"unknown metric {metric!r}; choose from {list(self.overall)}")
        return np.array([row[metric] for row in self.by_group.values()], dtype=np.float64)

    def to_text(self, digits: int = 3) -> str:
        """An aligned plain-text table, one line per group and a last line ``overall``."""
        columns = ["count", *_TABLE_METRICS]
        labels = [str(group) for group in self.by_group] + ["overall"]
        rows = [*self.by_group.values(), self.overall]
        cells = [
            [str(int(row["count"])), *(f"{row[name]:.{digits}f}" for name in _TABLE_METRICS)]
            for row in rows
        ]
        label_width = max(len("group"), *(len(label) for label in labels))
        widths = [max(len(name), *(len(line[i]) for line in cells)) for i, name in enumerate(columns)]
        lines = ["  ".join(["group".ljust(label_width)]
                           + [name.rjust(width) for name, width in zip(columns, widths)])]
        for label, line in zip(labels, cells):
            lines.append("  ".join([label.ljust(label_width)]
                                   + [cell.rjust(width) for cell, width in zip(line, widths)]))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


def group_metrics(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    sample_weight: Any = None,
    pos_label: Any = 1,
) -> GroupMetrics:
    """Count, accuracy, selection rate, TPR and FPR for each group and overall.

    Args:
        y_true: true binary labels, shape ``(N,)``.
        y_pred: predicted binary labels, shape ``(N,)``.
        sensitive_features: group of each sample, shape ``(N,)`` (or ``(N, k)`` / a dict of
            columns for combinations of features).
        sample_weight: non-negative weights, shape ``(N,)``.
        pos_label: the positive label.

    Example:
        >>> table = group_metrics([1, 0, 1, 0], [1, 0, 0, 0], sensitive_features=["a", "a", "b", "b"])
        >>> table.by_group["b"]["true_positive_rate"]
        0.0
        >>> print(table)  # doctest: +NORMALIZE_WHITESPACE
        group    count  accuracy  selection_rate  true_positive_rate  false_positive_rate
        a            2     1.000           0.500               1.000                0.000
        b            2     0.500           0.000               0.000                0.000
        overall      4     0.750           0.250               0.500                0.000
    """
    inputs = _prepare(y_true, y_pred, sensitive_features, sample_weight, pos_label, True)
    overall: dict[str, float] = {"count": float(len(inputs.predicted))}
    by_group: dict[Hashable, dict[str, float]] = {
        group: {"count": float(np.sum(inputs.group_of == index))}
        for index, group in enumerate(inputs.groups)
    }
    for name, metric in _TABLE_METRICS.items():
        overall_value, per_group = _evaluate(metric, inputs)
        overall[name] = overall_value
        for group, value in zip(inputs.groups, per_group):
            by_group[group][name] = float(value)
    return GroupMetrics(by_group=by_group, overall=overall)
