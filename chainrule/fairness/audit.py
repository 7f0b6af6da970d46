"""A fairness audit of a binary classifier: per-group rates and four summary figures, with
plain-language readings, as a terminal table, an HTML fragment or a dict.

Three doors: :func:`audit` for predictions you already have, :func:`audit_model` to run a
chainrule classifier first, and :func:`run_audit` for a run folder written by
``chainrule train`` (what ``chainrule audit RUN_DIR --data FILE.csv --sensitive COLUMN`` calls).

How the figures are read (thresholds are conventions, not proofs of (un)fairness):

* demographic parity ratio below 0.8 is flagged after the "four-fifths rule" of the US Uniform
  Guidelines on Employee Selection Procedures (1978, 29 CFR 1607.4(D)): a group selected at
  less than four-fifths the rate of the most-selected group is taken as evidence of adverse
  impact. The equalized odds ratio is held to the same 0.8 by analogy.
* differences above 0.1 (ten percentage points) are flagged; 0.1 is a common rule of thumb in
  fairness toolkits, not a legal standard.
* groups smaller than :data:`SMALL_GROUP` samples get a warning: a rate measured on n samples
  has a standard error of up to 0.5/sqrt(n), 0.09 for n = 30.

Example:
    >>> report = audit([1, 0, 1, 0, 1, 1], [1, 0, 0, 0, 1, 1],
    ...                sensitive_features=["a", "a", "a", "b", "b", "b"])
    >>> report.demographic_parity_ratio  # group a selected 1/3 of the time, b 2/3
    0.5
    >>> print(report.to_text())
    Fairness audit by group (positive outcome: 1)
    <BLANKLINE>
    group    count  accuracy  selection rate    TPR    FPR
    a            3     0.667           0.333  0.500  0.000
    b            3     1.000           0.667  1.000  0.000
    overall      6     0.833           0.500  0.750  0.000
    <BLANKLINE>
    demographic parity difference   0.333  CONCERN   (flag above 0.1)
    demographic parity ratio        0.500  CONCERN   (flag below 0.8)
    equalized odds difference       0.500  CONCERN   (flag above 0.1)
    equalized odds ratio            0.500  CONCERN   (flag below 0.8)
    <BLANKLINE>
    Note: group(s) a, b have fewer than 30 samples; a rate measured on n samples can be off by
    about 0.5/sqrt(n), so read their rates with care.
"""

from __future__ import annotations

import html
import math
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.fairness.metrics import (
    GroupMetrics,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    group_metrics,
)

#: A ratio below this is flagged (the four-fifths rule for demographic parity).
FOUR_FIFTHS = 0.8
#: A difference above this is flagged (a rule of thumb: ten percentage points).
DIFFERENCE_LIMIT = 0.1
#: Groups with fewer samples than this get a warning that their rates are uncertain.
SMALL_GROUP = 30

_COLUMNS = (
    ("count", "count"),
    ("accuracy", "accuracy"),
    ("selection_rate", "selection rate"),
    ("true_positive_rate", "TPR"),
    ("false_positive_rate", "FPR"),
)
SUMMARY_FIGURES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
)


def _is_concerning(figure: str, value: float) -> bool | None:
    """True if ``value`` crosses the figure's threshold, None if it is undefined (NaN)."""
    if math.isnan(value):
        return None
    if figure.endswith("_ratio"):
        return value < FOUR_FIFTHS
    return value > DIFFERENCE_LIMIT


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _explain(figure: str, value: float) -> str:
    """One sentence: what the figure means here, and whether it looks concerning."""
    concerning = _is_concerning(figure, value)
    if concerning is None:
        return (
            f"The {figure.replace('_', ' ')} is undefined here (0/0: no group has any of the "
            f"outcomes it compares), so it says nothing either way."
        )
    if figure == "demographic_parity_difference":
        verdict = (
            f"more than the {DIFFERENCE_LIMIT:g} often used as a rule of thumb, worth a closer look"
            if concerning
            else f"within the {DIFFERENCE_LIMIT:g} often used as a rule of thumb"
        )
        return (
            f"Demographic parity difference {value:.3f}: the share of people predicted positive "
            f"differs by {100 * value:.1f} percentage points between the most and the least "
            f"selected group (0 means equal selection rates), {verdict}."
        )
    if figure == "demographic_parity_ratio":
        verdict = (
            f"below {FOUR_FIFTHS:g}, so it fails the four-fifths rule of the US Uniform Guidelines "
            f"on Employee Selection Procedures (1978), which takes a selection rate under "
            f"four-fifths of the highest group's as evidence of adverse impact"
            if concerning
            else f"at least {FOUR_FIFTHS:g}, so it passes the four-fifths rule of the US Uniform "
            f"Guidelines on Employee Selection Procedures (1978)"
        )
        return (
            f"Demographic parity ratio {value:.3f}: the least selected group is predicted "
            f"positive at {_percent(value)} of the rate of the most selected one; this is "
            f"{verdict}."
        )
    if figure == "equalized_odds_difference":
        verdict = (
            f"more than {DIFFERENCE_LIMIT:g}: the model's mistakes fall noticeably more on some "
            f"groups than on others"
            if concerning
            else f"within {DIFFERENCE_LIMIT:g}: the model errs at similar rates across groups"
        )
        return (
            f"Equalized odds difference {value:.3f}: the largest gap between groups in true "
            f"positive rate or false positive rate (0 means every group has the same error "
            f"rates), {verdict}."
        )
    verdict = (
        f"below {FOUR_FIFTHS:g}, the four-fifths threshold applied here by analogy, so one "
        f"group's error rates are far from another's"
        if concerning
        else f"at least {FOUR_FIFTHS:g}, the four-fifths threshold applied here by analogy"
    )
    return (
        f"Equalized odds ratio {value:.3f}: the smaller of the lowest-to-highest group ratios of "
        f"true positive rates and of false positive rates (1 means equal), {verdict}."
    )


@dataclass
class FairnessAudit:
    """The result of :func:`audit`: per-group rates and the four summary figures.

    Attributes:
        groups: the per-group table (``groups.by_group[g]`` and ``groups.overall`` map
            ``count``, ``accuracy``, ``selection_rate``, ``true_positive_rate``,
            ``false_positive_rate`` to floats).
        demographic_parity_difference, demographic_parity_ratio, equalized_odds_difference,
        equalized_odds_ratio: as defined in :mod:`chainrule.fairness.metrics` (Fairlearn's
            definitions, between groups, worst case).
        sensitive_name: what the groups are, e.g. ``"sex"``, for headings.
        pos_label: the label counted as a positive ("selected") outcome.
    """

    groups: GroupMetrics
    demographic_parity_difference: float
    demographic_parity_ratio: float
    equalized_odds_difference: float
    equalized_odds_ratio: float
    sensitive_name: str = "group"
    pos_label: Any = 1

    def summary(self) -> dict[str, float]:
        """The four summary figures by name."""
        return {figure: getattr(self, figure) for figure in SUMMARY_FIGURES}

    def concerns(self) -> list[str]:
        """Names of the summary figures that cross their threshold (see the module doc)."""
        return [figure for figure, value in self.summary().items() if _is_concerning(figure, value)]

    def small_groups(self) -> list[Hashable]:
        """Groups with fewer than :data:`SMALL_GROUP` samples, whose rates are uncertain."""
        return [group for group, row in self.groups.by_group.items() if row["count"] < SMALL_GROUP]

    def explanations(self) -> dict[str, str]:
        """One sentence per summary figure: what it means here and whether it looks concerning."""
        return {figure: _explain(figure, value) for figure, value in self.summary().items()}

    def _rows(self, digits: int) -> tuple[list[str], list[list[str]]]:
        labels = [str(group) for group in self.groups.by_group] + ["overall"]
        cells = []
        for row in [*self.groups.by_group.values(), self.groups.overall]:
            cells.append(
                [str(int(row["count"]))]
                + [f"{row[key]:.{digits}f}" for key, _ in _COLUMNS[1:]]
            )
        return labels, cells

    def to_text(self, digits: int = 3) -> str:
        """An aligned table for a terminal: one line per group and ``overall``, then the four
        figures, each marked ``ok``, ``CONCERN`` or ``undefined``."""
        labels, cells = self._rows(digits)
        header = [self.sensitive_name, *(title for _, title in _COLUMNS)]
        label_width = max(len(text) for text in [header[0], *labels])
        widths = [max(len(title), *(len(line[i]) for line in cells)) for i, title in enumerate(header[1:])]
        lines = [
            f"Fairness audit by {self.sensitive_name} (positive outcome: {self.pos_label!r})",
            "",
            "  ".join([header[0].ljust(label_width)] + [t.rjust(w) for t, w in zip(header[1:], widths)]),
        ]
        for label, line in zip(labels, cells):
            lines.append("  ".join([label.ljust(label_width)] + [c.rjust(w) for c, w in zip(line, widths)]))
        lines.append("")
        name_width = max(len(figure) for figure in SUMMARY_FIGURES)
        for figure, value in self.summary().items():
            status = {True: "CONCERN", False: "ok", None: "undefined"}[_is_concerning(figure, value)]
            if figure.endswith("_ratio"):
                threshold = f"(flag below {FOUR_FIFTHS:g})"
            else:
                threshold = f"(flag above {DIFFERENCE_LIMIT:g})"
            lines.append(
                f"{figure.replace('_', ' ').ljust(name_width)}  {value:>{digits + 3}.{digits}f}  "
                f"{status:<9} {threshold}"
            )
        small = self.small_groups()
        if small:
            lines += ["", self._small_group_note(small)]
        return "\n".join(lines)

    def _small_group_note(self, small: list[Hashable]) -> str:
        names = ", ".join(str(group) for group in small)
        return (
            f"Note: group(s) {names} have fewer than {SMALL_GROUP} samples; a rate measured on n "
            f"samples can be off by about 0.5/sqrt(n), so read their rates with care."
        )

    def to_html(self, digits: int = 3) -> str:
        """A self-contained HTML fragment (no scripts or external styles): the per-group table
        and one sentence per summary figure saying what it means and whether it is a concern."""
        labels, cells = self._rows(digits)
        escape = html.escape
        titles = [self.sensitive_name, *(title for _, title in _COLUMNS)]
        head = "".join(f"<th>{escape(title)}</th>" for title in titles)
        body = []
        for label, line in zip(labels, cells):
            row = "".join(f'<td style="text-align:right">{cell}</td>' for cell in line)
            body.append(f"<tr><th scope=\"row\">{escape(label)}</th>{row}</tr>")
        items = []
        for figure, sentence in self.explanations().items():
            concern = _is_concerning(figure, getattr(self, figure))
            marker = "&#9888; " if concern else ""  # a warning sign before a concern
            items.append(f'<li class="{"concern" if concern else "ok"}">{marker}{escape(sentence)}</li>')
        if self.small_groups():
            items.append(f"<li>{escape(self._small_group_note(self.small_groups()))}</li>")
        return "\n".join([
            '<section class="chainrule-fairness-audit">',
            f"<h3>Fairness audit by {escape(self.sensitive_name)}</h3>",
            f"<p>Positive outcome: {escape(repr(self.pos_label))}. TPR: true positive rate, "
            f"FPR: false positive rate.</p>",
            '<table style="border-collapse:collapse">',
            f"<thead><tr>{head}</tr></thead>",
            "<tbody>",
            *body,
            "</tbody>",
            "</table>",
            "<ul>",
            *items,
            "</ul>",
            "</section>",
        ])

    def to_dict(self) -> dict[str, Any]:
        """Plain values: ``sensitive_name``, ``pos_label``, ``by_group`` (a list of rows, each
        with ``group`` and the table's columns), ``overall``, the four figures, ``concerns``
        and ``explanations``. An undefined figure is ``float('nan')``."""

        def plain(row: dict[str, float]) -> dict[str, Any]:
            return {key: int(value) if key == "count" else float(value) for key, value in row.items()}

        return {
            "sensitive_name": self.sensitive_name,
            "pos_label": self.pos_label,
            "by_group": [{"group": group, **plain(row)} for group, row in self.groups.by_group.items()],
            "overall": plain(self.groups.overall),
            **self.summary(),
            "concerns": self.concerns(),
            "explanations": self.explanations(),
        }

    def __str__(self) -> str:
        return self.to_text()


#: More distinct numeric values than this in a sensitive feature means a measurement (income,
#: age in years), not a group label: auditing it would compare one-sample "groups".
MAX_NUMERIC_GROUPS = 20


def _refuse_continuous(sensitive_features: Any) -> None:
    columns = sensitive_features.values() if isinstance(sensitive_features, dict) else [sensitive_features]
    for column in columns:
        values = np.asarray(column)
        if values.dtype.kind == "f" and values.ndim == 1 and len(np.unique(values)) > MAX_NUMERIC_GROUPS:
            raise ValueError(
                f"audit: the sensitive feature has {len(np.unique(values))} distinct numeric values, so "
                "it looks continuous; put it into a few groups first (e.g. age bands with np.digitize)"
            )


def audit(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    pos_label: Any = 1,
    sensitive_name: str | None = None,
) -> FairnessAudit:
    """Audit binary predictions across the groups of a sensitive feature.

    Args:
        y_true: true binary labels, shape ``(N,)``.
        y_pred: predicted binary labels, shape ``(N,)``.
        sensitive_features: the group of each sample, shape ``(N,)``; ``(N, k)`` or a dict of
            columns audits combinations of ``k`` features.
        pos_label: the label that means a positive ("selected") outcome.
        sensitive_name: what the groups are, for headings (default: the dict's keys, or
            ``"group"``).

    Returns:
        A :class:`FairnessAudit`.

    Example:
        >>> audit([1, 0, 1, 0], [1, 0, 0, 0], sensitive_features=["a", "a", "b", "b"]).concerns()
        ['demographic_parity_difference', 'demographic_parity_ratio', 'equalized_odds_difference', \
'equalized_odds_ratio']
    """
    _refuse_continuous(sensitive_features)
    table = group_metrics(y_true, y_pred, sensitive_features=sensitive_features, pos_label=pos_label)
    if len(table.by_group) < 2:
        only = next(iter(table.by_group))
        raise ValueError(
            f"audit: every sample is in the one group {only!r}; an audit compares groups, so "
            f"sensitive_features needs at least two distinct values"
        )
    options = {"sensitive_features": sensitive_features, "pos_label": pos_label}
    if sensitive_name is None:
        is_dict = isinstance(sensitive_features, dict)
        sensitive_name = "+".join(map(str, sensitive_features)) if is_dict else "group"
    return FairnessAudit(
        groups=table,
        demographic_parity_difference=demographic_parity_difference(y_true, y_pred, **options),
        demographic_parity_ratio=demographic_parity_ratio(y_true, y_pred, **options),
        equalized_odds_difference=equalized_odds_difference(y_true, y_pred, **options),
        equalized_odds_ratio=equalized_odds_ratio(y_true, y_pred, **options),
        sensitive_name=sensitive_name,
        pos_label=pos_label,
    )


# ------------------------------------------------------------------------ models
def predict_classes(model: Any, x: Any, batch_size: int = 256, threshold: float = 0.5) -> np.ndarray:
    """Class predictions of a chainrule classifier, shape ``(N,)`` int64, computed in
    evaluation mode without recording gradients (the model's mode is restored afterwards).

    Outputs ``(N, K)`` with ``K >= 2`` give the argmax. A single output, ``(N,)`` or
    ``(N, 1)``, is read as a logit (as with ``BCEWithLogitsLoss``): class 1 where
    ``sigmoid(logit) > threshold``.

    Example:
        >>> predict_classes(chainrule.nn.Linear(4, 3), np.zeros((5, 4), np.float32)).shape
        (5,)
    """
    from chainrule.creation import from_numpy
    from chainrule.grad_mode import no_grad
    from chainrule.tensor import Tensor

    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be a probability strictly between 0 and 1, got {threshold}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    inputs = x.array if isinstance(x, Tensor) else np.asarray(x)
    if inputs.dtype.kind == "f" and inputs.dtype != np.float32:
        inputs = inputs.astype(np.float32)  # chainrule models hold float32 weights
    was_training = getattr(model, "training", False)
    model.eval()
    outputs = []
    try:
        with no_grad():
            for start in range(0, len(inputs), batch_size):
                batch = from_numpy(np.ascontiguousarray(inputs[start : start + batch_size]))
                outputs.append(np.asarray(model(batch).numpy()))
    finally:
        model.train(was_training)
    if not outputs:
        raise ValueError("predict_classes: x holds no samples")
    scores = np.concatenate(outputs)
    if scores.ndim == 1 or (scores.ndim == 2 and scores.shape[1] == 1):
        # sigmoid(z) > t exactly when z > log(t / (1 - t)); no exp, so no overflow.
        return (scores.reshape(-1) > math.log(threshold / (1 - threshold))).astype(np.int64)
    if scores.ndim != 2:
        raise ValueError(
            f"predict_classes: the model's output has shape {scores.shape}; a classifier should "
            f"output (N, num_classes) logits or (N, 1) for a single logit"
        )
    return scores.argmax(axis=1).astype(np.int64)


def audit_model(
    model: Any,
    x: Any,
    y: Any,
    sensitive_features: Any,
    batch_size: int = 256,
    *,
    pos_label: Any = 1,
    threshold: float = 0.5,
    sensitive_name: str | None = None,
) -> FairnessAudit:
    """Run a chainrule classifier on ``x`` and audit its predictions against ``y``.

    Predictions come from :func:`predict_classes` (eval mode, no gradients; argmax, or a
    single logit against ``threshold``). With more than two classes the audit is one class
    against the rest: "positive" means predicted (or truly) class ``pos_label``.

    Args:
        model: a classifier, ``model(x)`` giving ``(N, K)`` logits or ``(N, 1)``.
        x: inputs, shape ``(N, ...)``, NumPy array or Tensor.
        y: true class indices, shape ``(N,)``.
        sensitive_features: group of each sample, shape ``(N,)`` (need not be a model input).
        batch_size: samples per forward pass.
        pos_label: the class index that is the positive outcome.
        threshold: probability cut-off for a single-logit model.
        sensitive_name: name of the sensitive feature, for headings.

    Example:
        >>> model, x_test = chainrule.nn.Linear(3, 2), np.random.default_rng(0).normal(size=(40, 3))
        >>> y_test, sex = np.arange(40) % 2, np.array(["f", "m"] * 20)
        >>> report = audit_model(model, x_test.astype(np.float32), y_test, sex, sensitive_name="sex")
        >>> print(report.to_text())
        Fairness audit by sex (positive outcome: 1)
        ...
    """
    predictions = predict_classes(model, x, batch_size, threshold)
    labels = np.asarray(y.numpy() if hasattr(y, "numpy") else y).reshape(-1)
    if len(labels) != len(predictions):
        raise ValueError(f"audit_model: x has {len(predictions)} samples but y has {len(labels)}")
    if len(np.union1d(np.unique(labels), np.unique(predictions))) > 2:
        labels, predictions = labels == pos_label, predictions == pos_label
        return _with_label(
            audit(labels, predictions, sensitive_features=sensitive_features, pos_label=True,
                  sensitive_name=sensitive_name),
            pos_label,
        )
    return audit(labels, predictions, sensitive_features=sensitive_features, pos_label=pos_label,
                 sensitive_name=sensitive_name)


def _with_label(result: FairnessAudit, pos_label: Any) -> FairnessAudit:
    result.pos_label = pos_label
    return result
