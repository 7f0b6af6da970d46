"""chainrule.data.check: each problem planted in small arrays is found, clean data passes."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.data import DataReport, Finding, check
from chainrule.datasets import DatasetSplits


def clean_data(seed=0, num_train=60, num_test=20, num_features=4, num_classes=3):
    rng = np.random.default_rng(seed)
    x_train = rng.normal(size=(num_train, num_features)).astype(np.float32)
    x_test = rng.normal(size=(num_test, num_features)).astype(np.float32)
    y_train = np.arange(num_train) % num_classes
    y_test = np.arange(num_test) % num_classes
    return (x_train, y_train), (x_test, y_test)


def kinds(report: DataReport) -> list[str]:
    return [finding.kind for finding in report.findings]


def test_clean_data_has_no_findings():
    train, test = clean_data()
    report = check(train, test, num_classes=3)
    assert report.findings == [] and report.ok
    assert "no problems found" in str(report)
    assert report.raise_on_error() is report


def test_nan_and_inf_are_errors_naming_samples_and_features():
    (x_train, y_train), test = clean_data()
    x_train[2, 1] = np.nan
    x_train[5, 3] = np.inf
    report = check((x_train, y_train), test, feature_names=["a", "b", "c", "d"])
    [finding] = report.by_kind("nan_inf")
    assert finding.severity == "error" and not report.ok
    assert finding.details["nan"] == 1 and finding.details["inf"] == 1
    assert finding.details["rows"] == [2, 5] and finding.details["features"] == [1, 3]
    assert finding.details["feature_names"] == ["b", "d"]
    assert "[error] nan_inf" in str(report)


def test_nan_in_test_targets_is_found():
    train, (x_test, y_test) = clean_data()
    y_test = y_test.astype(np.float64)
    y_test[4] = np.nan
    report = check(train, (x_test, y_test), task="regression")
    [finding] = report.by_kind("nan_inf")
    assert finding.details["split"] == "test" and finding.details["array"] == "y"
    assert finding.details["rows"] == [4]


def test_constant_features_are_reported_by_index_and_name():
    (x_train, y_train), test = clean_data()
    x_train[:, 2] = 7.0
    report = check((x_train, y_train), test, feature_names=["a", "b", "c", "d"])
    [finding] = report.by_kind("constant_features")
    assert finding.severity == "warning"
    assert finding.details["features"] == [2] and finding.details["feature_names"] == ["c"]
    assert report.ok  # a warning, not an error


def test_constant_image_pixels_are_only_info():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(30, 1, 4, 4))
    images[:, :, 0, :] = 0.0  # a blank top row, as at an image border
    report = check((images, np.arange(30) % 2))
    [finding] = report.by_kind("constant_features")
    assert finding.severity == "info" and finding.details["features"] == [0, 1, 2, 3]


def test_class_imbalance_suggests_balanced_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    y = np.array([0] * 40 + [1] * 10)
    [finding] = check((x, y)).by_kind("class_imbalance")
    assert finding.severity == "warning"
    assert finding.details["counts"] == [40, 10] and finding.details["ratio"] == 4.0
    # n_samples / (n_classes * count): 50 / (2 * 40) and 50 / (2 * 10).
    assert finding.details["class_weights"] == pytest.approx([0.625, 2.5])


def test_imbalance_at_threshold_is_not_reported_but_absent_class_is():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = np.array([0] * 30 + [1] * 10)  # ratio exactly 3
    assert check((x, y)).by_kind("class_imbalance") == []
    [finding] = check((x, y), num_classes=3).by_kind("class_imbalance")
    assert finding.details["absent_classes"] == [2]
    assert "class(es) [2] have no training samples" in finding.message


def test_leakage_counts_shared_samples():
    (x_train, y_train), (x_test, y_test) = clean_data()
    x_test[3] = x_train[10]
    x_test[7] = x_train[0]
    report = check((x_train, y_train), (x_test, y_test))
    [finding] = report.by_kind("leakage")
    assert finding.severity == "warning"
    assert finding.details["count"] == 2
    assert finding.details["test_indices"] == [3, 7]
    assert finding.details["train_indices"] == [10, 0]


def test_leakage_ignores_sign_of_zero_and_float_width():
    x_train = np.array([[0.0, 1.5], [2.0, 3.0], [4.0, 5.0]], dtype=np.float64)
    x_test = np.array([[-0.0, 1.5], [9.0, 9.0]], dtype=np.float32)
    report = check((x_train, np.array([0, 1, 0])), (x_test, np.array([0, 1])))
    assert report.by_kind("leakage")[0].details["test_indices"] == [0]


def test_test_set_copied_from_train_is_an_error():
    train, _ = clean_data()
    report = check(train, train)
    [finding] = report.by_kind("leakage")
    assert finding.severity == "error" and finding.details["fraction"] == 1.0
    with pytest.raises(ValueError, match="leakage"):
        report.raise_on_error()


def test_labels_out_of_range_are_errors():
    (x_train, y_train), (x_test, y_test) = clean_data()
    y_train = y_train.copy()
    y_train[[4, 9]] = [3, 5]
    report = check((x_train, y_train), (x_test, y_test), num_classes=3)
    [finding] = report.by_kind("label_range")
    assert finding.severity == "error"
    assert finding.details["count"] == 2 and finding.details["indices"] == [4, 9]
    assert finding.details["max"] == 5
    y_negative = np.arange(60) % 3
    y_negative[0] = -1
    [finding] = check((x_train, y_negative)).by_kind("label_range")
    assert finding.details["indices"] == [0] and finding.details["min"] == -1


def test_non_integer_and_one_hot_labels_are_errors():
    (x_train, _), _ = clean_data()
    fractional = (np.arange(60) % 3).astype(np.float64)
    fractional[[1, 2]] = 0.5
    [finding] = check((x_train, fractional)).by_kind("label_range")
    assert finding.details["non_integer"] == 2 and finding.details["indices"] == [1, 2]
    one_hot = np.eye(3)[np.arange(60) % 3]
    [finding] = check((x_train, one_hot)).by_kind("label_range")
    assert "argmax" in finding.message


def test_float_labels_that_are_whole_numbers_are_fine():
    train, test = clean_data()
    x, y = train
    assert check((x, y.astype(np.float32)), test, num_classes=3).findings == []


def test_test_classes_missing_from_train_are_a_warning():
    (x_train, y_train), (x_test, y_test) = clean_data()
    y_test = y_test.copy()
    y_test[0] = 3
    report = check((x_train, y_train), (x_test, y_test))
    [finding] = report.by_kind("label_range")
    assert finding.severity == "warning" and finding.details["unseen_classes"] == [3]


def test_regression_targets_skip_label_checks():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 2))
    y = rng.normal(size=30)
    assert check((x, y), task="regression").findings == []
    assert kinds(check((x, y))) == ["label_range"]  # the same floats as class labels


def test_duplicates_within_train_are_info():
    (x_train, y_train), test = clean_data()
    x_train[20] = x_train[3]
    x_train[30] = x_train[3]
    y_train = y_train.copy()
    y_train[20] = y_train[3]  # same sample, same label
    y_train[30] = (y_train[3] + 1) % 3  # same sample, another label
    report = check((x_train, y_train), test)
    [finding] = report.by_kind("duplicates")
    assert finding.severity == "info" and report.ok
    assert finding.details["count"] == 2
    assert finding.details["indices"] == [20, 30] and finding.details["first_seen"] == [3, 3]
    assert finding.details["conflicting_labels"] == 1


def test_shape_problems_stop_further_checks():
    report = check((np.zeros((5, 2)), np.zeros(4)))
    assert kinds(report) == ["shape"] and not report.ok
    (x_train, y_train), _ = clean_data()
    report = check((x_train, y_train), (np.zeros((3, 5)), np.zeros(3)))
    assert kinds(report) == ["shape"]
    assert "same features" in report.errors[0].message
    report = check((np.array([["a"], ["b"]]), np.array([0, 1])))
    assert kinds(report) == ["dtype"]


def test_accepts_objects_with_x_y_datasets_and_splits():
    train, test = clean_data()

    class Split:
        def __init__(self, pair):
            self.x, self.y = pair

    class TwoTensors:
        def __init__(self, pair):
            self.tensors = pair

    assert check(Split(train), TwoTensors(test)).findings == []
    splits = DatasetSplits(x_train=train[0], y_train=train[1], x_test=train[0][:5],
                           y_test=train[1][:5], name="toy", num_classes=2,
                           feature_names=["a", "b", "c", "d"])
    report = check(splits)  # its test split, class count and names are used
    assert report.num_test == 5
    assert {"leakage", "label_range"} <= set(kinds(report))  # copied test rows; label 2 >= 2
    with pytest.raises(TypeError, match=r"\(x, y\) pair"):
        check(np.zeros((3, 2)))


def test_report_text_and_raise_on_error():
    (x_train, y_train), test = clean_data()
    x_train[0, 0] = np.nan
    x_train[:, 1] = 1.0
    report = check((x_train, y_train), test)
    text = str(report)
    assert text.splitlines()[0] == "Data check (60 train, 20 test samples): 1 error, 1 warning"
    assert "[warning] constant_features" in text
    with pytest.raises(ValueError) as error:
        report.raise_on_error()
    assert "1 error(s)" in str(error.value) and "nan_inf" in str(error.value)
    assert "constant_features" not in str(error.value)  # warnings do not raise


def test_finding_rejects_unknown_severity():
    with pytest.raises(ValueError, match="severity"):
        Finding("leakage", "fatal", "message")
