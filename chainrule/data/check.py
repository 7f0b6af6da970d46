"""Check a dataset for the problems that quietly spoil training, before training on it.

``check(train, test)`` looks for non-finite values, constant features, class imbalance,
samples shared between train and test, labels out of range, and duplicated training samples,
and returns a :class:`DataReport` of :class:`Finding` objects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SEVERITIES = ("error", "warning", "info")
IMBALANCE_RATIO = 3.0  # largest/smallest class count above which imbalance is reported
LEAKAGE_ERROR_FRACTION = 0.5  # this share of test rows copied from train is an error, not chance
_SHOWN = 10  # how many indices a message or details list shows


@dataclass(frozen=True)
class Finding:
    """One problem found in the data.

    Attributes:
        kind: what was checked: ``"shape"``, ``"dtype"``, ``"nan_inf"``,
            ``"constant_features"``, ``"class_imbalance"``, ``"leakage"``, ``"label_range"``
            or ``"duplicates"``.
        severity: ``"error"`` (training or evaluation would be wrong), ``"warning"`` (likely
            to hurt) or ``"info"`` (worth knowing).
        message: one readable sentence.
        details: the numbers behind the message (counts, indices, suggested class weights).
    """

    kind: str
    severity: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    def __str__(self) -> str:
        return f"[{self.severity}] {self.kind}: {self.message}"


@dataclass
class DataReport:
    """The findings of :func:`check`; ``ok`` is True when none of them is an error.

    Example:
        >>> report = check((np.zeros((4, 2)), np.array([0, 1, 0, 1])))
        >>> report.ok, [finding.kind for finding in report.findings]
        (True, ['constant_features', 'duplicates'])
    """

    findings: list[Finding]
    num_train: int
    num_test: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == "warning"]

    def by_kind(self, kind: str) -> list[Finding]:
        """The findings of one kind, e.g. ``report.by_kind("leakage")``."""
        return [finding for finding in self.findings if finding.kind == kind]

    def __str__(self) -> str:
        sizes = f"{self.num_train} train"
        if self.num_test is not None:
            sizes += f", {self.num_test} test"
        if not self.findings:
            return f"Data check ({sizes} samples): no problems found"
        counts = ", ".join(
            f"{sum(f.severity == severity for f in self.findings)} {severity}"
            for severity in SEVERITIES
            if any(f.severity == severity for f in self.findings)
        )
        lines = [f"Data check ({sizes} samples): {counts}"]
        lines.extend(f"  {finding}" for finding in self.findings)
        return "\n".join(lines)

    def raise_on_error(self) -> DataReport:
        """Raise ``ValueError`` listing every error; return the report unchanged if there is none."""
        if self.errors:
            listed = "\n".join(f"  - {finding.kind}: {finding.message}" for finding in self.errors)
            raise ValueError(f"data check found {len(self.errors)} error(s):\n{listed}")
        return self


def _to_numpy(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach()
    if hasattr(values, "numpy") and not isinstance(values, np.ndarray):
        values = values.numpy()
    return np.asarray(values)


def _unpack(data: Any, role: str) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) from a pair, an object with ``x``/``y``, or a dataset holding two ``tensors``."""
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
    elif hasattr(data, "x") and hasattr(data, "y"):
        x, y = data.x, data.y
    elif isinstance(getattr(data, "tensors", None), (tuple, list)) and len(data.tensors) == 2:
        x, y = data.tensors
    else:
        raise TypeError(
            f"{role} must be an (x, y) pair of arrays, an object with .x and .y, or a "
            f"DatasetSplits; got {type(data).__name__}"
        )
    return _to_numpy(x), _to_numpy(y)


def _show(indices: Sequence[int] | np.ndarray) -> str:
    indices = [int(i) for i in indices]
    text = ", ".join(str(i) for i in indices[:_SHOWN])
    return f"[{text}, ...]" if len(indices) > _SHOWN else f"[{text}]"


def _names(indices: np.ndarray, feature_names: Sequence[str] | None) -> list[str] | None:
    if feature_names is None:
        return None
    return [str(feature_names[i]) for i in indices[:_SHOWN] if i < len(feature_names)]


def _num_samples(x: np.ndarray) -> int:
    return len(x) if x.ndim else 0


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1)


def _row_digests(x: np.ndarray) -> list[bytes]:
    # Rows compare by the bytes of their float32 values; adding 0.0 turns -0.0 into 0.0 so that
    # equal numbers hash alike. A 16-byte digest keeps memory small for image datasets.
    rows = np.ascontiguousarray(_flat(x), dtype=np.float32) + np.float32(0.0)
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in rows]


def _check_shapes(split: str, x: np.ndarray, y: np.ndarray) -> list[Finding]:
    findings = []
    if x.ndim == 0 or len(x) == 0:
        findings.append(Finding("shape", "error", f"{split} x is empty (shape {x.shape})",
                                {"split": split, "x_shape": x.shape}))
    elif y.ndim == 0 or len(x) != len(y):
        findings.append(Finding(
            "shape", "error",
            f"{split} x has {len(x)} samples but y has shape {y.shape}; each sample needs one "
            f"target", {"split": split, "x_shape": x.shape, "y_shape": y.shape}))
    for name, array in (("x", x), ("y", y)):
        if array.dtype.kind not in "biuf":
            findings.append(Finding(
                "dtype", "error",
                f"{split} {name} has dtype {array.dtype}, not numbers; encode it numerically "
                f"(e.g. one-hot) first", {"split": split, "array": name, "dtype": str(array.dtype)}))
    return findings


def _check_finite(
    split: str, x: np.ndarray, y: np.ndarray, feature_names: Sequence[str] | None
) -> list[Finding]:
    findings = []
    for name, array in (("x", x), ("y", y)):
        if array.dtype.kind != "f":
            continue  # integer and bool arrays cannot hold NaN or infinity
        flat = _flat(array) if array.ndim > 0 else array.reshape(1, 1)
        nan, inf = np.isnan(flat), np.isinf(flat)
        if not (nan.any() or inf.any()):
            continue
        bad = nan | inf
        rows = np.flatnonzero(bad.any(axis=1))
        details: dict[str, Any] = {
            "split": split, "array": name, "nan": int(nan.sum()), "inf": int(inf.sum()),
            "rows": rows[:_SHOWN].tolist(),
        }
        where = f"in {len(rows)} sample(s) {_show(rows)}"
        if name == "x":
            features = np.flatnonzero(bad.any(axis=0))
            details["features"] = features.tolist()
            details["feature_names"] = _names(features, feature_names)
            where += f", feature(s) {_show(features)}"
        findings.append(Finding(
            "nan_inf", "error",
            f"{split} {name} has {details['nan']} NaN and {details['inf']} infinite value(s) "
            f"{where}; fill or drop them (they turn every gradient into NaN)", details))
    return findings


def _check_constant(x: np.ndarray, feature_names: Sequence[str] | None) -> list[Finding]:
    if len(x) < 2:
        return []
    flat = _flat(x).astype(np.float64)
    # fmax/fmin skip NaN, so a column is judged by its finite values (nan_inf reports the rest);
    # a column with no finite value gets a NaN spread and is not called constant.
    finite = np.where(np.isfinite(flat), flat, np.nan)
    spread = np.fmax.reduce(finite, axis=0) - np.fmin.reduce(finite, axis=0)
    constant = np.flatnonzero(spread == 0)
    if not len(constant):
        return []
    # Constant pixels at an image's border are normal; a constant table column is a mistake.
    severity = "info" if x.ndim > 2 else "warning"
    return [Finding(
        "constant_features", severity,
        f"{len(constant)} of {flat.shape[1]} feature(s) never change in train {_show(constant)}; "
        f"they carry no information (standardising them divides by zero)",
        {"features": constant.tolist(), "feature_names": _names(constant, feature_names)})]


def _integer_labels(y: np.ndarray) -> np.ndarray | None:
    """y as int64 if it holds only whole numbers, else None."""
    if y.dtype.kind in "biu":
        return y.astype(np.int64)
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        return y.astype(np.int64)
    return None


def _check_labels(split: str, y: np.ndarray, num_classes: int | None) -> list[Finding]:
    if y.ndim == 2 and y.shape[1] > 1:
        return [Finding(
            "label_range", "error",
            f"{split} y has shape {y.shape}: it looks one-hot; classification losses take class "
            f"indices of shape (N,), use y.argmax(axis=1)", {"split": split, "shape": y.shape})]
    y = y.reshape(len(y)) if y.ndim == 2 else y
    labels = _integer_labels(y)
    if labels is None:
        bad: Any = np.flatnonzero(~np.isfinite(y) | (y != np.round(y))) if y.dtype.kind == "f" else []
        return [Finding(
            "label_range", "error",
            f"{split} y holds {len(bad)} non-integer label(s) at {_show(bad)}; classification "
            f"needs class indices 0..C-1 (or pass task='regression')",
            {"split": split, "non_integer": len(bad), "indices": list(map(int, bad[:_SHOWN]))})]
    upper = num_classes if num_classes is not None else None
    outside = labels < 0 if upper is None else (labels < 0) | (labels >= upper)
    if not outside.any():
        return []
    bad = np.flatnonzero(outside)
    expected = "0..C-1" if upper is None else f"0..{upper - 1}"
    return [Finding(
        "label_range", "error",
        f"{split} y has {len(bad)} label(s) outside {expected} (min {labels.min()}, max "
        f"{labels.max()}) at {_show(bad)}; remap the labels to 0..C-1",
        {"split": split, "count": len(bad), "indices": bad[:_SHOWN].tolist(),
         "min": int(labels.min()), "max": int(labels.max())})]


def _check_unseen_test_labels(y_train: np.ndarray, y_test: np.ndarray) -> list[Finding]:
    train_labels, test_labels = _integer_labels(y_train), _integer_labels(y_test)
    if train_labels is None or test_labels is None:
        return []
    unseen = np.setdiff1d(test_labels, train_labels)
    if not len(unseen):
        return []
    return [Finding(
        "label_range", "warning",
        f"class(es) {unseen.tolist()} occur in test but never in train; the model cannot learn "
        f"them", {"split": "test", "unseen_classes": unseen.tolist()})]


def _check_imbalance(y: np.ndarray, num_classes: int | None) -> list[Finding]:
    labels = _integer_labels(y.reshape(len(y)))
    assert labels is not None  # called only once _check_labels found whole numbers
    counts = np.bincount(labels, minlength=num_classes or 0)
    present = np.flatnonzero(counts > 0)
    absent = np.flatnonzero(counts == 0)
    ratio = float(counts[present].max() / counts[present].min())
    if ratio <= IMBALANCE_RATIO and not len(absent):
        return []
    # scikit-learn's "balanced" weights n_samples / (n_classes * count): every class then adds
    # the same total weight to the loss. Classes without samples get 0 (they never appear).
    weights = np.zeros(len(counts))
    weights[present] = len(labels) / (len(present) * counts[present])
    parts = []
    if ratio > IMBALANCE_RATIO:
        parts.append(
            f"largest class has {ratio:.1f}x the samples of the smallest (counts "
            f"{counts.tolist()}); consider class weights {np.round(weights, 3).tolist()} "
            f"(e.g. CrossEntropyLoss(weight=...)) or resampling"
        )
    if len(absent):
        parts.append(f"class(es) {absent.tolist()} have no training samples")
    return [Finding(
        "class_imbalance", "warning", "; ".join(parts),
        {"counts": counts.tolist(), "ratio": ratio, "class_weights": weights.tolist(),
         "absent_classes": absent.tolist()})]


def _check_leakage(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
    train_digests: list[bytes],
) -> list[Finding]:
    first_train_row: dict[bytes, int] = {}
    for index, digest in enumerate(train_digests):
        first_train_row.setdefault(digest, index)
    test_hits, train_hits = [], []
    for index, digest in enumerate(_row_digests(x_test)):
        if digest in first_train_row:
            test_hits.append(index)
            train_hits.append(first_train_row[digest])
    if not test_hits:
        return []
    fraction = len(test_hits) / len(x_test)
    same_label = int(np.sum(y_test.reshape(len(y_test), -1)[test_hits]
                            == y_train.reshape(len(y_train), -1)[train_hits]))
    severity = "error" if fraction >= LEAKAGE_ERROR_FRACTION else "warning"
    return [Finding(
        "leakage", severity,
        f"{len(test_hits)} test sample(s) ({fraction:.1%}) are exact copies of training samples, "
        f"e.g. test {_show(test_hits)}; test scores on them measure memory, not generalisation. "
        f"Remove them from test",
        {"count": len(test_hits), "fraction": fraction, "test_indices": test_hits[:_SHOWN],
         "train_indices": train_hits[:_SHOWN], "same_label": same_label})]


def _check_duplicates(y: np.ndarray, digests: list[bytes]) -> list[Finding]:
    first_row: dict[bytes, int] = {}
    repeats, originals = [], []
    for index, digest in enumerate(digests):
        if digest in first_row:
            repeats.append(index)
            originals.append(first_row[digest])
        else:
            first_row[digest] = index
    if not repeats:
        return []
    flat_y = y.reshape(len(y), -1)
    conflicting = int(np.sum(np.any(flat_y[repeats] != flat_y[originals], axis=1)))
    message = f"{len(repeats)} training sample(s) repeat an earlier one, e.g. {_show(repeats)}"
    if conflicting:
        message += f"; {conflicting} of them with a different label"
    return [Finding(
        "duplicates", "info", message,
        {"count": len(repeats), "indices": repeats[:_SHOWN], "first_seen": originals[:_SHOWN],
         "conflicting_labels": conflicting})]


def check(
    train: Any,
    test: Any = None,
    *,
    num_classes: int | None = None,
    task: str | None = None,
    feature_names: Sequence[str] | None = None,
) -> DataReport:
    """Look for common data problems in a training split and, optionally, a test split.

    Findings (kind: severity):

    * ``shape`` / ``dtype``: error: x and y lengths differ, train and test features differ in
      shape, an array is empty or not numeric.
    * ``nan_inf``: error: NaN or infinite values, with the samples and features holding them.
    * ``constant_features``: warning (info for images, whose borders are often blank):
      features that never change in train.
    * ``class_imbalance``: warning: the largest class has more than 3x the samples of the
      smallest, or a class has no samples; ``details["class_weights"]`` suggests
      ``n_samples / (n_classes * count)`` per class.
    * ``leakage``: warning (error if at least half the test set): test samples that are exact
      copies of training samples (rows compared by their float32 bytes).
    * ``label_range``: error: non-integer labels, labels outside ``0..num_classes-1``, one-hot
      labels; warning: test classes never seen in train.
    * ``duplicates``: info: training samples repeated within train.

    Args:
        train: ``(x, y)`` arrays (x shape ``(N, ...)``, y shape ``(N,)``), an object with
            ``x``/``y`` attributes, a dataset with two ``tensors``, or a ``DatasetSplits``
            (then its test split, classes, task and feature names are used too).
        test: the test split in the same forms, or ``None``.
        num_classes: the number of classes, to check the label range; ``None`` skips the
            upper bound.
        task: ``"classification"`` (default) or ``"regression"`` (label checks are skipped).
        feature_names: names of the flat feature columns, used in messages.

    Returns:
        A DataReport; ``report.ok`` is False if any finding is an error.

    Example:
        >>> x = np.array([[0.0, 1.0], [np.nan, 2.0], [3.0, 4.0]])
        >>> report = check((x, np.array([0, 1, 5])), num_classes=2)
        >>> report.ok, [finding.kind for finding in report.errors]
        (False, ['nan_inf', 'label_range'])
        >>> report.by_kind("nan_inf")[0].details["features"]
        [0]
    """
    if hasattr(train, "x_train") and hasattr(train, "y_train"):
        splits = train
        if splits.x_train is None:
            raise ValueError("this DatasetSplits has no training split to check")
        train = (splits.x_train, splits.y_train)
        if test is None and splits.x_test is not None:
            test = (splits.x_test, splits.y_test)
        num_classes = num_classes if num_classes is not None else splits.num_classes
        task = task or getattr(splits, "task", None)
        feature_names = feature_names or getattr(splits, "feature_names", None)
    task = task or "classification"
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")

    x_train, y_train = _unpack(train, "train")
    findings = _check_shapes("train", x_train, y_train)
    x_test = y_test = None
    if test is not None:
        x_test, y_test = _unpack(test, "test")
        findings += _check_shapes("test", x_test, y_test)
        if x_train.ndim and x_test.ndim and x_train.shape[1:] != x_test.shape[1:]:
            findings.append(Finding(
                "shape", "error",
                f"train samples have shape {x_train.shape[1:]} but test samples "
                f"{x_test.shape[1:]}; both splits need the same features",
                {"train_shape": x_train.shape, "test_shape": x_test.shape}))
    num_test = None if x_test is None else _num_samples(x_test)
    report = DataReport(findings, num_train=_num_samples(x_train), num_test=num_test)
    if report.errors:
        return report  # the remaining checks assume well-formed numeric arrays

    classification = task == "classification"
    findings += _check_finite("train", x_train, y_train, feature_names)
    if x_test is not None and y_test is not None:
        findings += _check_finite("test", x_test, y_test, feature_names)
    findings += _check_constant(x_train, feature_names)
    if classification:
        train_label_problems = _check_labels("train", y_train, num_classes)
        findings += train_label_problems
        if x_test is not None and y_test is not None:
            findings += _check_labels("test", y_test, num_classes)
            findings += _check_unseen_test_labels(y_train, y_test)
        if not train_label_problems:  # counting invalid labels per class would mislead
            findings += _check_imbalance(y_train, num_classes)
    train_digests = _row_digests(x_train)
    if x_test is not None and y_test is not None:
        findings += _check_leakage(x_train, y_train, x_test, y_test, train_digests)
    findings += _check_duplicates(y_train, train_digests)
    return report
