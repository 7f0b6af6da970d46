"""Evaluation metrics on NumPy arrays: classification (accuracy, F1, ...) and regression.

Definitions follow scikit-learn's, so numbers agree with it, but these functions need only
NumPy. Anything with a ``numpy()`` method (a chainrule or PyTorch tensor) is accepted too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_AVERAGES = ("macro", "micro", "weighted", "binary", None)


def _to_numpy(values: Any, name: str) -> np.ndarray:
    if hasattr(values, "detach"):  # a tensor that may carry autograd state
        values = values.detach()
    if hasattr(values, "numpy") and not isinstance(values, np.ndarray):
        values = values.numpy()
    array = np.asarray(values)
    if array.size == 0:
        raise ValueError(f"{name} is empty; a metric needs at least one sample")
    return array


def _labels(values: Any, name: str) -> np.ndarray:
    """Class indices from labels of shape (N,) or from scores of shape (N, C) (argmax)."""
    array = _to_numpy(values, name)
    if array.ndim == 2:
        if array.shape[1] < 2:
            raise ValueError(
                f"{name} has shape {array.shape}: one score per sample is ambiguous; for a "
                f"binary classifier threshold it first, e.g. (probabilities > 0.5).astype(int)"
            )
        return array.argmax(axis=1)
    if array.ndim != 1:
        raise ValueError(
            f"{name} must be labels of shape (N,) or scores of shape (N, C), got {array.shape}"
        )
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise ValueError(
                f"{name} holds non-integer values; pass class indices, or scores of shape (N, C)"
            )
        array = array.astype(np.int64)
    return array


def _same_length(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"y_true has {len(y_true)} samples but the predictions have {len(y_pred)}"
        )


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of samples whose predicted class equals the true class.

    Args:
        y_true: true class indices, shape ``(N,)``.
        y_pred: predicted class indices ``(N,)``, or scores/logits/probabilities ``(N, C)``
            whose argmax is the prediction.

    Example:
        >>> accuracy([0, 1, 2, 1], [[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1],
        ...                         [0.3, 0.6, 0.1]])
        0.75
    """
    true_labels = _labels(y_true, "y_true")
    predicted = _labels(y_pred, "y_pred")
    _same_length(true_labels, predicted)
    return float(np.mean(true_labels == predicted))


def top_k_accuracy(y_true: Any, scores: Any, k: int = 5) -> float:
    """Fraction of samples whose true class is among the ``k`` highest-scoring classes.

    A tie with the true class's score counts in its favour: the sample is correct when fewer
    than ``k`` classes score strictly higher than the true class.

    Args:
        y_true: true class indices, shape ``(N,)``.
        scores: class scores, shape ``(N, C)``.
        k: how many top classes count as a hit; ``k >= C`` always gives 1.0.

    Example:
        >>> top_k_accuracy([2, 0], [[0.5, 0.2, 0.3], [0.1, 0.6, 0.3]], k=2)
        0.5
    """
    true_labels = _labels(y_true, "y_true")
    score_array = _to_numpy(scores, "scores")
    if score_array.ndim != 2:
        raise ValueError(f"scores must have shape (N, C), got {score_array.shape}")
    _same_length(true_labels, score_array)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    num_classes = score_array.shape[1]
    if true_labels.min() < 0 or true_labels.max() >= num_classes:
        raise ValueError(f"y_true has labels outside 0..{num_classes - 1}, the columns of scores")
    true_scores = score_array[np.arange(len(true_labels)), true_labels]
    num_higher = (score_array > true_scores[:, None]).sum(axis=1)
    return float(np.mean(num_higher < k))


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """Count matrix ``C[i, j]``: samples of true class ``i`` predicted as class ``j``.

    Args:
        y_true: true class indices, shape ``(N,)``.
        y_pred: predicted class indices ``(N,)`` or scores ``(N, C)``.
        num_classes: size of the matrix; default ``max(label) + 1`` over both inputs.

    Returns:
        int64 array of shape ``(num_classes, num_classes)``; rows are true classes (as in
        scikit-learn).

    Example:
        >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2])
        array([[1, 0, 0],
               [0, 1, 1],
               [0, 0, 1]])
    """
    true_labels = _labels(y_true, "y_true")
    predicted = _labels(y_pred, "y_pred")
    _same_length(true_labels, predicted)
    for name, labels in (("y_true", true_labels), ("y_pred", predicted)):
        if labels.dtype.kind not in "iu":
            raise ValueError(f"{name} must hold integer class indices, got dtype {labels.dtype}")
        if labels.min() < 0:
            raise ValueError(f"{name} holds negative labels; classes must be 0..C-1")
    largest = int(max(true_labels.max(), predicted.max()))
    if num_classes is None:
        num_classes = largest + 1
    elif largest >= num_classes:
        raise ValueError(
            f"label {largest} does not fit num_classes={num_classes}; pass a larger num_classes"
        )
    # One bincount over the pair index (true * C + pred) counts every cell at once.
    flat = np.bincount(true_labels * num_classes + predicted, minlength=num_classes**2)
    return flat.reshape(num_classes, num_classes).astype(np.int64)


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    # 0/0 is 0 here, scikit-learn's zero_division=0 default: a class never predicted gets
    # precision 0 rather than NaN poisoning the average.
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def precision_recall_f1(
    y_true: Any,
    y_pred: Any,
    average: str | None = "macro",
    *,
    num_classes: int | None = None,
    pos_label: int = 1,
) -> dict[str, Any]:
    """Precision, recall and F1 score, per class or averaged.

    Per class ``k``: precision = TP / (TP + FP), recall = TP / (TP + FN),
    F1 = 2 PR / (P + R); a 0/0 counts as 0.

    Args:
        y_true: true class indices, shape ``(N,)``.
        y_pred: predicted class indices ``(N,)`` or scores ``(N, C)``.
        average: ``"macro"`` (unweighted mean over classes), ``"weighted"`` (mean weighted by
            each class's number of true samples), ``"micro"`` (from the summed TP/FP/FN counts;
            equals accuracy when every class is counted), ``"binary"`` (the ``pos_label`` class
            only), or ``None`` for per-class arrays.
        num_classes: average over classes ``0..num_classes-1``. By default only the classes
            that occur in ``y_true`` or ``y_pred`` count (scikit-learn's rule).
        pos_label: the positive class for ``average="binary"``.

    Returns:
        ``{"precision", "recall", "f1"}``: floats, or arrays of shape ``(K,)`` when
        ``average=None``, which also adds ``"labels"`` (the classes) and ``"support"`` (true
        samples per class).

    Example:
        >>> scores = precision_recall_f1([0, 0, 1, 1], [0, 1, 1, 1])
        >>> round(scores["precision"], 4), round(scores["recall"], 4), round(scores["f1"], 4)
        (0.8333, 0.75, 0.7333)
    """
    if average not in _AVERAGES:
        raise ValueError(f"average must be one of {list(_AVERAGES)}, got {average!r}")
    true_labels = _labels(y_true, "y_true")
    predicted = _labels(y_pred, "y_pred")
    matrix = confusion_matrix(true_labels, predicted, num_classes)
    if num_classes is None:
        labels = np.union1d(true_labels, predicted)
    else:
        labels = np.arange(num_classes)

    true_positive = np.diag(matrix)[labels]
    predicted_count = matrix.sum(axis=0)[labels]
    support = matrix.sum(axis=1)[labels]

    if average == "binary":
        if pos_label not in labels:
            raise ValueError(f"pos_label={pos_label} occurs in neither y_true nor y_pred")
        if len(labels) > 2:
            raise ValueError(
                f"average='binary' needs at most two classes, found {labels.tolist()}; use "
                f"average='macro', 'weighted' or 'micro'"
            )
        keep = labels == pos_label
        true_positive, predicted_count, support = (
            true_positive[keep], predicted_count[keep], support[keep]
        )
    if average == "micro":
        true_positive = true_positive.sum(keepdims=True)
        predicted_count = predicted_count.sum(keepdims=True)
        support = support.sum(keepdims=True)

    precision = _safe_divide(true_positive, predicted_count)
    recall = _safe_divide(true_positive, support)
    f1 = _safe_divide(2 * precision * recall, precision + recall)

    if average is None:
        return {"precision": precision, "recall": recall, "f1": f1, "labels": labels,
                "support": support}
    if average == "weighted":
        weights = support / support.sum() if support.sum() > 0 else np.zeros(len(support))
        return {name: float(np.sum(values * weights))
                for name, values in (("precision", precision), ("recall", recall), ("f1", f1))}
    return {"precision": float(precision.mean()), "recall": float(recall.mean()),
            "f1": float(f1.mean())}


def _regression_pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    true_values = _to_numpy(y_true, "y_true").astype(np.float64)
    predicted = _to_numpy(y_pred, "y_pred").astype(np.float64)
    # A model's (N, 1) output against (N,) targets is common; broadcasting them would silently
    # compare every pair, so line the shapes up (only this one case) instead.
    if predicted.shape == true_values.shape + (1,):
        predicted = predicted[..., 0]
    elif true_values.shape == predicted.shape + (1,):
        true_values = true_values[..., 0]
    if true_values.shape != predicted.shape:
        raise ValueError(
            f"y_true has shape {true_values.shape} but y_pred has {predicted.shape}; they must "
            f"match (reshape one of them)"
        )
    return true_values, predicted


def mse(y_true: Any, y_pred: Any) -> float:
    """Mean squared error, averaged over all samples and outputs.

    Args:
        y_true, y_pred: shape ``(N,)`` or ``(N, D)`` (an ``(N, 1)`` against ``(N,)`` pair is
            lined up).

    Example:
        >>> mse([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
        1.3333333333333333
    """
    true_values, predicted = _regression_pair(y_true, y_pred)
    return float(np.mean((true_values - predicted) ** 2))


def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error, averaged over all samples and outputs; shapes as for :func:`mse`.

    Example:
        >>> mae([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
        0.6666666666666666
    """
    true_values, predicted = _regression_pair(y_true, y_pred)
    return float(np.mean(np.abs(true_values - predicted)))


def r2_score(y_true: Any, y_pred: Any) -> float:
    """Coefficient of determination, 1 - SS_residual / SS_total (1 is perfect, 0 is as good as
    predicting the mean, negative is worse).

    For ``(N, D)`` targets the score of each output is averaged (scikit-learn's
    ``"uniform_average"``). An output whose true values are constant scores 1.0 if predicted
    exactly and 0.0 otherwise, as in scikit-learn, instead of dividing by zero.

    Example:
        >>> r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
        0.5
    """
    true_values, predicted = _regression_pair(y_true, y_pred)
    if len(true_values) < 2:
        raise ValueError("r2_score needs at least two samples")
    if true_values.ndim == 1:
        true_values, predicted = true_values[:, None], predicted[:, None]
    residual = np.sum((true_values - predicted) ** 2, axis=0)
    total = np.sum((true_values - true_values.mean(axis=0)) ** 2, axis=0)
    perfect = residual == 0
    scores = np.where(perfect, 1.0, 0.0)
    ordinary = (total != 0) & ~perfect
    scores[ordinary] = 1.0 - residual[ordinary] / total[ordinary]
    return float(scores.mean())
