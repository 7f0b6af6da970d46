"""Fairness audit: figures worked out by hand, thresholds at their boundaries, the three
renderings, models run in eval mode, and run folders audited with training's preprocessing."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule import nn
from chainrule.datasets import csv as load_csv
from chainrule.datasets import iris, train_test_indices
from chainrule.fairness.audit import FairnessAudit, audit, audit_model, predict_classes
from chainrule.train.audit import run_audit
from chainrule.train.run import ConfigError, load_run, train_run

REPO = Path(__file__).resolve().parents[1]

# Ten people in two groups (the same table as tests/test_fairness.py).
#           group a (6 people)   group b (4 people)
Y_TRUE = [1, 1, 0, 0, 1, 0,      1, 0, 0, 0]
Y_PRED = [1, 0, 0, 0, 1, 0,      1, 1, 1, 0]
GROUPS = ["a"] * 6 + ["b"] * 4
# a: selection 2/6, TPR 2/3, FPR 0, accuracy 5/6.   b: selection 3/4, TPR 1, FPR 2/3, accuracy 2/4.


def test_figures_and_table_by_hand():
    report = audit(Y_TRUE, Y_PRED, sensitive_features=GROUPS)
    assert report.demographic_parity_difference == pytest.approx(3 / 4 - 1 / 3)
    assert report.demographic_parity_ratio == pytest.approx((1 / 3) / (3 / 4))
    assert report.equalized_odds_difference == pytest.approx(2 / 3)  # FPR gap beats TPR gap 1/3
    assert report.equalized_odds_ratio == pytest.approx(0.0)  # FPR ratio 0 / (2/3)
    a, b = report.groups.by_group["a"], report.groups.by_group["b"]
    assert (a["count"], b["count"]) == (6, 4)
    assert a["accuracy"] == pytest.approx(5 / 6) and b["accuracy"] == pytest.approx(0.5)
    assert a["true_positive_rate"] == pytest.approx(2 / 3)
    assert b["false_positive_rate"] == pytest.approx(2 / 3)


def test_text_table_is_aligned_and_marks_concerns():
    report = audit(Y_TRUE, Y_PRED, sensitive_features=GROUPS, sensitive_name="sex")
    text = report.to_text()
    lines = text.splitlines()
    table = [line for line in lines if line.split()[:1] in (["sex"], ["a"], ["b"], ["overall"])]
    assert len(table) == 4
    assert len({len(line) for line in table}) == 1, "table lines must have equal widths"
    assert table[0].split() == ["sex", "count", "accuracy", "selection", "rate", "TPR", "FPR"]
    assert table[1].split() == ["a", "6", "0.833", "0.333", "0.667", "0.000"]
    assert table[2].split() == ["b", "4", "0.500", "0.750", "1.000", "0.667"]
    assert table[3].split() == ["overall", "10", "0.700", "0.500", "0.750", "0.333"]
    ratio_line = next(line for line in lines if line.startswith("demographic parity ratio"))
    assert "0.444" in ratio_line and "CONCERN" in ratio_line
    assert "fewer than 30 samples" in text  # both groups are tiny
    assert str(report) == text


def balanced_predictions(selected_a: int, selected_b: int, size: int = 40):
    """Two groups of ``size``; each group's first ``selected`` people are predicted positive,
    and the truth equals the prediction (so only demographic parity can differ)."""
    y_pred = [1] * selected_a + [0] * (size - selected_a) + [1] * selected_b + [0] * (size - selected_b)
    return y_pred, y_pred, ["a"] * size + ["b"] * size


def test_four_fifths_boundary():
    y_true, y_pred, groups = balanced_predictions(20, 16)
    at_limit = audit(y_true, y_pred, sensitive_features=groups)
    assert at_limit.demographic_parity_ratio == pytest.approx(0.8)
    assert at_limit.demographic_parity_difference == pytest.approx(0.1)
    assert at_limit.concerns() == []  # exactly 0.8 passes; exactly 0.1 is not above 0.1
    assert "passes the four-fifths rule" in at_limit.to_html()

    y_true, y_pred, groups = balanced_predictions(20, 15)
    below = audit(y_true, y_pred, sensitive_features=groups)
    assert below.demographic_parity_ratio == pytest.approx(0.75)
    assert below.concerns() == ["demographic_parity_difference", "demographic_parity_ratio"]
    assert "fails the four-fifths rule" in below.to_html()
    assert "US Uniform Guidelines on Employee Selection Procedures" in below.to_html()
    assert below.small_groups() == []


def test_equal_treatment_raises_no_concern():
    y_true, y_pred, groups = balanced_predictions(10, 10)
    report = audit(y_true, y_pred, sensitive_features=groups)
    assert report.concerns() == []
    assert report.demographic_parity_ratio == 1.0
    assert "CONCERN" not in report.to_text()


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.open: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.open.append(tag)
        self.tags.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data):
        self.text.append(data)


def test_html_fragment_is_balanced_self_contained_and_escaped():
    groups = ["<script>x</script>"] * 6 + ["b&c"] * 4
    fragment = audit(Y_TRUE, Y_PRED, sensitive_features=groups).to_html()
    parser = _Collector()
    parser.feed(fragment)
    assert parser.open == []
    assert "script" not in parser.tags and "link" not in parser.tags and "style" not in parser.tags
    assert parser.tags.count("li") == 5  # one sentence per figure, and the small-group note
    assert parser.tags.count("tr") == 4  # header, two groups, overall
    text = "".join(parser.text)
    assert "<script>x</script>" in text and "b&c" in text  # shown as text, not markup


def test_dict_round_trips_through_json():
    report = audit(Y_TRUE, Y_PRED, sensitive_features=GROUPS, sensitive_name="sex")
    as_dict = json.loads(json.dumps(report.to_dict()))
    assert as_dict["sensitive_name"] == "sex"
    assert [row["group"] for row in as_dict["by_group"]] == ["a", "b"]
    assert as_dict["by_group"][1]["count"] == 4
    assert as_dict["by_group"][1]["selection_rate"] == pytest.approx(0.75)
    assert as_dict["overall"]["accuracy"] == pytest.approx(0.7)
    assert as_dict["equalized_odds_difference"] == pytest.approx(2 / 3)
    assert set(as_dict["concerns"]) == set(report.concerns())
    assert set(as_dict["explanations"]) == {
        "demographic_parity_difference", "demographic_parity_ratio",
        "equalized_odds_difference", "equalized_odds_ratio",
    }


def test_undefined_figures_are_said_to_be_undefined():
    # Nobody is selected: every selection rate is 0, so the ratio is 0/0.
    report = audit([1, 0, 1, 0], [0, 0, 0, 0], sensitive_features=["a", "a", "b", "b"])
    assert math.isnan(report.demographic_parity_ratio)
    assert "demographic_parity_ratio" not in report.concerns()
    ratio_line = next(line for line in report.to_text().splitlines() if "parity ratio" in line)
    assert "undefined" in ratio_line
    assert "undefined" in report.explanations()["demographic_parity_ratio"]


def test_audit_rejects_a_single_group_and_non_binary_labels():
    with pytest.raises(ValueError, match="at least two distinct values"):
        audit([1, 0], [1, 1], sensitive_features=["a", "a"])
    with pytest.raises(ValueError, match="binary"):
        audit([0, 1, 2], [0, 1, 2], sensitive_features=["a", "b", "b"])


def test_combined_sensitive_features_are_named_by_their_keys():
    report = audit(Y_TRUE, Y_PRED, sensitive_features={"sex": GROUPS, "age": ["y", "o"] * 5})
    assert report.sensitive_name == "sex+age"
    assert ("a", "o") in report.groups.by_group


# ------------------------------------------------------------------------------- models
def linear(weight, bias) -> nn.Linear:
    layer = nn.Linear(len(weight[0]), len(weight))
    layer.weight.array[...] = np.array(weight, dtype=np.float32)
    layer.bias.array[...] = np.array(bias, dtype=np.float32)
    return layer


def test_predict_classes_argmax_and_single_logit():
    pick_larger = linear([[1, 0], [0, 1]], [0, 0])
    x = np.array([[2, 1], [0, 3], [5, -1], [0.1, 0.2]], dtype=np.float32)
    np.testing.assert_array_equal(predict_classes(pick_larger, x), [0, 1, 0, 1])
    np.testing.assert_array_equal(predict_classes(pick_larger, x, batch_size=3), [0, 1, 0, 1])
    np.testing.assert_array_equal(predict_classes(pick_larger, chainrule.tensor(x)), [0, 1, 0, 1])

    logit = linear([[1.0]], [0.0])
    z = np.array([[-2.0], [-0.1], [0.1], [3.0]], dtype=np.float32)
    np.testing.assert_array_equal(predict_classes(logit, z), [0, 0, 1, 1])
    # sigmoid(z) > 0.9 exactly when z > log(9) = 2.197
    np.testing.assert_array_equal(predict_classes(logit, z, threshold=0.9), [0, 0, 0, 1])
    with pytest.raises(ValueError, match="threshold"):
        predict_classes(logit, z, threshold=1.0)


def test_model_runs_in_eval_mode_and_its_mode_is_restored():
    chainrule.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 32), nn.Dropout(0.5), nn.Linear(32, 2))
    x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    model.eval()
    expected = predict_classes(model, x)
    model.train()
    # Dropout active would make these differ from the eval-mode predictions and each other.
    np.testing.assert_array_equal(predict_classes(model, x), expected)
    np.testing.assert_array_equal(predict_classes(model, x), expected)
    assert model.training
    assert all(parameter.grad is None for parameter in model.parameters())


def test_audit_model_equals_audit_of_its_predictions():
    model = linear([[1, 0], [0, 1]], [0, 0])
    x = np.array([[2, 1], [0, 3], [5, -1], [0.1, 0.2], [1, 2], [3, 0]], dtype=np.float32)
    predicted = [0, 1, 0, 1, 1, 0]
    y = np.array([0, 1, 1, 1, 0, 0])
    sex = ["f", "f", "f", "m", "m", "m"]
    report = audit_model(model, x, y, sex, batch_size=4, sensitive_name="sex")
    assert report.to_dict() == audit(y, predicted, sensitive_features=sex, sensitive_name="sex").to_dict()


def test_audit_model_with_many_classes_is_one_against_the_rest():
    model = linear([[1, 0, 0], [0, 1, 0], [0, 0, 1]], [0, 0, 0])
    x = np.eye(3, dtype=np.float32)[[0, 1, 2, 2, 1, 2]]  # predicted classes 0 1 2 2 1 2
    y = np.array([0, 2, 2, 1, 1, 2])
    groups = ["a", "a", "a", "b", "b", "b"]
    report = audit_model(model, x, y, groups, pos_label=2)
    expected = audit(y == 2, np.array([0, 1, 2, 2, 1, 2]) == 2, sensitive_features=groups, pos_label=True)
    assert report.groups.by_group == expected.groups.by_group
    assert report.pos_label == 2


# --------------------------------------------------------------------------- run folders
def write_table(path: Path, rows: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    lines = ["x1,color,sex,label"]
    for index in range(rows):
        sex = "f" if index % 2 else "m"
        x1 = rng.normal() + (0.5 if sex == "f" else 0.0)
        color = ["red", "green", "blue"][index % 3]
        label = "yes" if x1 + (0.4 if color == "red" else 0.0) > 0.2 else "no"
        lines.append(f"{x1:.4f},{color},{sex},{label}")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("csv_run")
    train_csv = folder / "train.csv"
    write_table(train_csv, 80, seed=0)
    config = {"dataset": str(train_csv), "target": "label", "epochs": 3, "hidden": [8],
              "val_split": 0.0, "out": str(folder), "name": "run", "lr": 0.05}
    return train_run(config, verbose=0).run_dir, train_csv


def test_run_audit_on_the_training_csv_repeats_training_preprocessing(csv_run):
    run_dir, train_csv = csv_run
    splits = load_csv(train_csv, target="label")
    # Put the loader's preprocessed rows back in file order, with the loader's own split.
    labels = np.array([line.split(",")[3] for line in train_csv.read_text().splitlines()[1:]])
    y_file = (labels == "yes").astype(np.int64)
    train_idx, test_idx = train_test_indices(80, 0.2, 0, stratify=y_file)
    features = np.empty((80, splits.x_train.shape[1]), np.float32)
    features[train_idx], features[test_idx] = splits.x_train, splits.x_test
    sexes = ["f" if index % 2 else "m" for index in range(80)]

    model = load_run(run_dir).model
    expected = audit_model(model, features, y_file, sexes, sensitive_name="sex")
    report = run_audit(run_dir, train_csv, "sex")
    assert isinstance(report, FairnessAudit)
    assert report.pos_label == "yes"
    assert report.groups.by_group == expected.groups.by_group
    assert report.summary() == expected.summary()


def test_run_audit_on_new_rows_with_an_unseen_category(csv_run, tmp_path):
    run_dir, _ = csv_run
    new_rows = tmp_path / "new.csv"
    write_table(new_rows, 30, seed=5)
    text = new_rows.read_text()
    new_rows.write_text(text.replace("blue", "purple"))  # a colour training never saw
    # predict and audit refuse it (the model would see "none of the colours" silently)
    with pytest.raises(ConfigError, match=r"column 'color', line \d+: 'purple' was never seen in training"):
        run_audit(run_dir, new_rows, "sex", target="label")
    new_rows.write_text(text.replace(",blue,", ",,"))  # an empty cell encodes as none of them
    report = run_audit(run_dir, new_rows, "sex", target="label")
    assert report.groups.overall["count"] == 30
    assert set(report.groups.by_group) == {"f", "m"}


def test_run_audit_explains_bad_files(csv_run, tmp_path):
    run_dir, train_csv = csv_run
    with pytest.raises(ConfigError, match="no column 'race'"):
        run_audit(run_dir, train_csv, "race")
    with pytest.raises(ConfigError, match="does not exist"):
        run_audit(run_dir, tmp_path / "absent.csv", "sex")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        run_audit(run_dir, empty, "sex")
    missing_feature = tmp_path / "missing.csv"
    missing_feature.write_text("color,sex,label\nred,f,yes\nblue,m,no\n")
    with pytest.raises(ConfigError, match=r"the column\(s\) the model was trained on are missing: 'x1'"):
        run_audit(run_dir, missing_feature, "sex")
    unknown_label = tmp_path / "unknown.csv"
    unknown_label.write_text("x1,color,sex,label\n0.1,red,f,maybe\n0.2,blue,m,no\n")
    with pytest.raises(ConfigError, match="'maybe'.*classes"):
        run_audit(run_dir, unknown_label, "sex")
    with pytest.raises(ConfigError, match="not one of the model's classes"):
        run_audit(run_dir, train_csv, "sex", pos_label="perhaps")


def test_run_audit_on_a_builtin_table_with_three_classes(tmp_path):
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_iris

    config = {"dataset": "iris", "epochs": 2, "hidden": [8], "val_split": 0.0,
              "out": str(tmp_path), "name": "iris"}
    run_dir = train_run(config, verbose=0).run_dir
    bunch = load_iris()
    groups = np.where(np.arange(150) % 3 == 0, "x", "y")
    header = ",".join([*bunch.feature_names, "target", "site"])
    rows = [",".join([*(repr(float(v)) for v in features), bunch.target_names[label], group])
            for features, label, group in zip(bunch.data, bunch.target, groups)]
    table = tmp_path / "iris.csv"
    table.write_text("\n".join([header, *rows]) + "\n")

    with pytest.raises(ConfigError, match="3 classes.*pos_label"):
        run_audit(run_dir, table, "site")
    report = run_audit(run_dir, table, "site", pos_label="setosa")

    splits = iris()
    mean = np.array([column["mean"] for column in splits.preprocessing["columns"]])
    std = np.array([column["std"] for column in splits.preprocessing["columns"]])
    standardised = ((bunch.data - mean) / std).astype(np.float32)
    expected = audit_model(load_run(run_dir).model, standardised, bunch.target, groups, pos_label=0)
    assert report.pos_label == "setosa"
    assert report.groups.by_group == expected.groups.by_group
    assert report.summary() == expected.summary()


def test_run_audit_refuses_a_regression_run(tmp_path):
    table = tmp_path / "table.csv"
    write_table(table, 40, seed=1)
    config = {"dataset": str(table), "target": "x1", "epochs": 1, "hidden": [4], "val_split": 0.0,
              "out": str(tmp_path), "name": "regression"}
    run_dir = train_run(config, verbose=0).run_dir
    with pytest.raises(ConfigError, match="regression"):
        run_audit(run_dir, table, "sex")


# ------------------------------------------------------------------------------ example
def test_example_runs_and_prints_the_audit():
    pytest.importorskip("sklearn")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "fairness_audit.py")],
        capture_output=True, text=True, timeout=600, env=env, cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("sex "))
    assert header.split() == ["sex", "count", "accuracy", "selection", "rate", "TPR", "FPR"]
    rows = {cells[0]: cells for cells in map(str.split, lines) if cells[:1] in (["1"], ["2"], ["overall"])}
    assert set(rows) == {"1", "2", "overall"}
    assert int(rows["1"][1]) + int(rows["2"][1]) == int(rows["overall"][1]) == 89
    for figure in ("demographic parity difference", "demographic parity ratio",
                   "equalized odds difference", "equalized odds ratio"):
        assert any(line.startswith(figure) for line in lines)


def test_a_continuous_sensitive_feature_is_refused_with_a_fix():
    import numpy as np

    from chainrule.fairness import audit

    rng = np.random.default_rng(0)
    income = rng.normal(50_000, 10_000, 200)
    y = rng.integers(0, 2, 200)
    with pytest.raises(ValueError, match="looks continuous; put it into a few groups"):
        audit(y, y, sensitive_features=income)
    bands = np.digitize(income, [40_000, 60_000])
    assert len(audit(y, y, sensitive_features=bands).groups.by_group) == 3
