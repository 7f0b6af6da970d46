"""Metrics: hand-worked cases, and scikit-learn as an oracle where installed."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.train.metrics import (
    accuracy,
    confusion_matrix,
    mae,
    mse,
    precision_recall_f1,
    r2_score,
    top_k_accuracy,
)


class FakeTensor:
    """Stands in for a tensor: converts through ``detach().numpy()``."""

    def __init__(self, array):
        self.array = np.asarray(array)

    def detach(self):
        return self

    def numpy(self):
        return self.array


def random_classification(num_samples=200, num_classes=5, seed=0):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, num_classes, num_samples)
    scores = rng.normal(size=(num_samples, num_classes))
    scores[np.arange(num_samples), y_true] += 1.0  # better than chance, not perfect
    return y_true, scores


# ----------------------------------------------------------------------------- accuracy
def test_accuracy_labels_and_scores():
    # 3 of 4 right.
    assert accuracy([0, 1, 2, 2], [0, 1, 2, 0]) == 0.75
    # Row argmaxes 1, 0, 2 against labels 1, 1, 2: 2 of 3 right.
    scores = [[0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.0, 0.2, 0.8]]
    assert accuracy([1, 1, 2], scores) == pytest.approx(2 / 3)
    assert accuracy(FakeTensor([1, 1, 2]), FakeTensor(scores)) == pytest.approx(2 / 3)
    assert accuracy(np.array([1.0, 0.0]), np.array([1, 1])) == 0.5  # float labels that are whole


def test_accuracy_rejects_bad_inputs():
    with pytest.raises(ValueError, match="3 samples but the predictions have 2"):
        accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="threshold"):
        accuracy([0, 1], [[0.3], [0.9]])
    with pytest.raises(ValueError, match="non-integer"):
        accuracy([0, 1], [0.3, 0.9])
    with pytest.raises(ValueError, match="empty"):
        accuracy([], [])


def test_accuracy_matches_sklearn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    y_true, scores = random_classification()
    expected = sklearn_metrics.accuracy_score(y_true, scores.argmax(axis=1))
    assert accuracy(y_true, scores) == pytest.approx(expected)


# ----------------------------------------------------------------------------- top-k
def test_top_k_by_hand():
    scores = np.array([[0.5, 0.2, 0.3], [0.1, 0.6, 0.3], [0.2, 0.3, 0.5]])
    y_true = [2, 0, 2]
    # Ranks of the true class: 2nd, 3rd, 1st.
    assert top_k_accuracy(y_true, scores, k=1) == pytest.approx(1 / 3)
    assert top_k_accuracy(y_true, scores, k=2) == pytest.approx(2 / 3)
    assert top_k_accuracy(y_true, scores, k=3) == 1.0
    assert top_k_accuracy(y_true, scores, k=10) == 1.0


@pytest.mark.parametrize("k", [1, 2, 4])
def test_top_k_matches_sklearn(k):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    y_true, scores = random_classification(num_classes=6, seed=k)
    expected = sklearn_metrics.top_k_accuracy_score(y_true, scores, k=k, labels=np.arange(6))
    assert top_k_accuracy(y_true, scores, k=k) == pytest.approx(expected)


def test_top_k_rejects_bad_inputs():
    with pytest.raises(ValueError, match="k must be a positive integer"):
        top_k_accuracy([0], [[0.1, 0.9]], k=0)
    with pytest.raises(ValueError, match=r"shape \(N, C\)"):
        top_k_accuracy([0], [0.1], k=1)
    with pytest.raises(ValueError, match="outside 0..1"):
        top_k_accuracy([2], [[0.1, 0.9]], k=1)


# ----------------------------------------------------------------------------- confusion matrix
def test_confusion_matrix_by_hand():
    matrix = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2])
    # Rows are true classes: class 0 -> (0, 1); class 1 -> 1; class 2 -> (2, 0, 2).
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert matrix.dtype == np.int64
    assert confusion_matrix([0, 1], [0, 1], num_classes=4).shape == (4, 4)
    with pytest.raises(ValueError, match="num_classes=2"):
        confusion_matrix([0, 2], [0, 1], num_classes=2)
    with pytest.raises(ValueError, match="negative"):
        confusion_matrix([0, -1], [0, 1])


def test_confusion_matrix_matches_sklearn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    y_true, scores = random_classification(num_classes=7, seed=3)
    predicted = scores.argmax(axis=1)
    expected = sklearn_metrics.confusion_matrix(y_true, predicted, labels=np.arange(7))
    np.testing.assert_array_equal(confusion_matrix(y_true, scores, num_classes=7), expected)


# ----------------------------------------------------------------------------- precision/recall/F1
def test_precision_recall_f1_by_hand():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    # class 0: TP 2, FP 0, FN 1 -> P 1, R 2/3, F1 0.8
    # class 1: TP 1, FP 1, FN 1 -> P 1/2, R 1/2, F1 1/2
    # class 2: TP 1, FP 1, FN 0 -> P 1/2, R 1, F1 2/3
    per_class = precision_recall_f1(y_true, y_pred, average=None)
    np.testing.assert_allclose(per_class["precision"], [1, 0.5, 0.5])
    np.testing.assert_allclose(per_class["recall"], [2 / 3, 0.5, 1])
    np.testing.assert_allclose(per_class["f1"], [0.8, 0.5, 2 / 3])
    np.testing.assert_array_equal(per_class["support"], [3, 2, 1])
    macro = precision_recall_f1(y_true, y_pred)
    assert macro["precision"] == pytest.approx(2 / 3)
    assert macro["f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    weighted = precision_recall_f1(y_true, y_pred, average="weighted")
    assert weighted["recall"] == pytest.approx((3 * 2 / 3 + 2 * 0.5 + 1 * 1) / 6)
    micro = precision_recall_f1(y_true, y_pred, average="micro")
    assert micro["f1"] == pytest.approx(accuracy(y_true, y_pred))  # 4 / 6


def test_precision_zero_division_is_zero():
    # Class 2 is never predicted: its precision is 0/0, counted as 0.
    per_class = precision_recall_f1([0, 1, 2], [0, 1, 1], average=None)
    assert per_class["precision"][2] == 0.0 and per_class["f1"][2] == 0.0
    assert not np.any(np.isnan(per_class["precision"]))


@pytest.mark.parametrize("average", ["macro", "micro", "weighted", "binary", None])
def test_precision_recall_f1_matches_sklearn(average):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    num_classes = 2 if average == "binary" else 5
    y_true, scores = random_classification(num_classes=num_classes, seed=11)
    predicted = scores.argmax(axis=1)
    predicted[predicted == num_classes - 1] = 0  # one class never predicted
    ours = precision_recall_f1(y_true, predicted, average=average)
    precision, recall, f1, _ = sklearn_metrics.precision_recall_fscore_support(
        y_true, predicted, average=average, zero_division=0)
    np.testing.assert_allclose(ours["precision"], precision)
    np.testing.assert_allclose(ours["recall"], recall)
    np.testing.assert_allclose(ours["f1"], f1)


def test_macro_average_over_num_classes_includes_absent_classes():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    y_true, y_pred = [0, 1, 1], [0, 1, 0]
    ours = precision_recall_f1(y_true, y_pred, num_classes=4)
    expected = sklearn_metrics.f1_score(y_true, y_pred, labels=[0, 1, 2, 3], average="macro",
                                        zero_division=0)
    assert ours["f1"] == pytest.approx(expected)
    assert ours["f1"] < precision_recall_f1(y_true, y_pred)["f1"]


def test_precision_recall_f1_rejects_bad_average():
    with pytest.raises(ValueError, match="average must be one of"):
        precision_recall_f1([0, 1], [0, 1], average="samples")
    with pytest.raises(ValueError, match="at most two classes"):
        precision_recall_f1([0, 1, 2], [0, 1, 2], average="binary")


# ----------------------------------------------------------------------------- regression
def test_regression_metrics_by_hand():
    y_true, y_pred = [1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 3.0, 2.0]
    # Errors 0, -1, 0, 2: MSE (0 + 1 + 0 + 4) / 4, MAE (0 + 1 + 0 + 2) / 4.
    assert mse(y_true, y_pred) == pytest.approx(1.25)
    assert mae(y_true, y_pred) == pytest.approx(0.75)
    # SS_res 5, SS_tot (2.25 + 0.25 + 0.25 + 2.25) = 5 -> R^2 0.
    assert r2_score(y_true, y_pred) == pytest.approx(0.0)
    assert r2_score(y_true, y_true) == 1.0


def test_regression_metrics_line_up_column_outputs():
    y_true = np.array([1.0, 2.0, 3.0])
    column = np.array([[1.5], [2.0], [2.0]])
    assert mse(y_true, column) == pytest.approx(mse(y_true, column[:, 0]))
    assert mae(column, y_true) == pytest.approx(mae(column[:, 0], y_true))
    with pytest.raises(ValueError, match=r"shape \(3,\) but y_pred has \(3, 2\)"):
        mse(y_true, np.zeros((3, 2)))


def test_r2_constant_target_follows_sklearn_convention():
    assert r2_score([2.0, 2.0, 2.0], [2.0, 2.0, 2.0]) == 1.0
    assert r2_score([2.0, 2.0, 2.0], [2.0, 2.5, 2.0]) == 0.0


def test_regression_metrics_match_sklearn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(5)
    for shape in ((50,), (50, 3)):
        y_true = rng.normal(size=shape)
        y_pred = y_true + rng.normal(scale=0.5, size=shape)
        assert mse(y_true, y_pred) == pytest.approx(sklearn_metrics.mean_squared_error(y_true, y_pred))
        assert mae(y_true, y_pred) == pytest.approx(sklearn_metrics.mean_absolute_error(y_true, y_pred))
        assert r2_score(y_true, y_pred) == pytest.approx(sklearn_metrics.r2_score(y_true, y_pred))
    y_true = np.column_stack([rng.normal(size=20), np.full(20, 3.0)])  # second output constant
    y_pred = y_true + rng.normal(scale=0.1, size=(20, 2))
    assert r2_score(y_true, y_pred) == pytest.approx(sklearn_metrics.r2_score(y_true, y_pred))
