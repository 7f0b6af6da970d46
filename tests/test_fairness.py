"""Fairness metrics: values worked out by hand, invariances, and Fairlearn where installed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chainrule.fairness import (
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_positive_rate,
    group_metrics,
    selection_rate,
    true_positive_rate,
)

# Ten people in two groups.
#           group a (6 people)   group b (4 people)
Y_TRUE = [1, 1, 0, 0, 1, 0,      1, 0, 0, 0]
Y_PRED = [1, 0, 0, 0, 1, 0,      1, 1, 1, 0]
GROUPS = ["a"] * 6 + ["b"] * 4
# Group a: selected 2 of 6 = 1/3; positives (0, 1, 4) predicted 1, 0, 1 -> TPR 2/3;
#          negatives (2, 3, 5) predicted 0, 0, 0 -> FPR 0; correct 5 of 6 (all but person 1).
# Group b: selected 3 of 4 = 3/4; one positive, predicted 1 -> TPR 1;
#          negatives predicted 1, 1, 0 -> FPR 2/3; correct 2 of 4.
# Overall: selected 5/10 = 1/2; TPR (2 + 1)/4 = 3/4; FPR (0 + 2)/6 = 1/3; accuracy 7/10.


def test_base_rates_by_hand():
    assert selection_rate(Y_TRUE, Y_PRED) == pytest.approx(0.5)
    assert selection_rate(None, Y_PRED) == pytest.approx(0.5)  # y_true is ignored
    assert true_positive_rate(Y_TRUE, Y_PRED) == pytest.approx(3 / 4)
    assert false_positive_rate(Y_TRUE, Y_PRED) == pytest.approx(1 / 3)
    assert true_positive_rate([0, 0], [1, 0]) == 0.0  # no positives: 0 by convention


def test_group_metrics_table_by_hand():
    table = group_metrics(Y_TRUE, Y_PRED, sensitive_features=GROUPS)
    assert list(table.by_group) == ["a", "b"]
    a, b = table.by_group["a"], table.by_group["b"]
    assert a["count"] == 6 and b["count"] == 4 and table.overall["count"] == 10
    assert a["selection_rate"] == pytest.approx(1 / 3) and b["selection_rate"] == pytest.approx(0.75)
    assert a["true_positive_rate"] == pytest.approx(2 / 3) and b["true_positive_rate"] == 1.0
    assert a["false_positive_rate"] == 0.0 and b["false_positive_rate"] == pytest.approx(2 / 3)
    assert a["accuracy"] == pytest.approx(5 / 6) and b["accuracy"] == pytest.approx(0.5)
    assert table.overall["accuracy"] == pytest.approx(0.7)
    # The table's own difference/ratio agree with the dedicated functions.
    assert table.difference("selection_rate") == pytest.approx(
        demographic_parity_difference(Y_TRUE, Y_PRED, sensitive_features=GROUPS))
    assert table.ratio("true_positive_rate") == pytest.approx(2 / 3)
    with pytest.raises(KeyError, match="unknown metric"):
        table.difference("precision")


def test_group_metrics_text_is_aligned():
    text = group_metrics(Y_TRUE, Y_PRED, sensitive_features=GROUPS).to_text(digits=2)
    lines = text.splitlines()
    assert len(lines) == 4  # header, a, b, overall
    assert lines[0].split()[:3] == ["group", "count", "accuracy"]
    assert lines[-1].startswith("overall")
    assert len({len(line) for line in lines}) == 1  # every column padded to one width
    assert lines[1].split() == ["a", "6", "0.83", "0.33", "0.67", "0.00"]
    assert str(group_metrics(Y_TRUE, Y_PRED, sensitive_features=GROUPS)).startswith("group")


def test_demographic_parity_by_hand():
    kwargs = {"sensitive_features": GROUPS}
    # Selection rates 1/3 (a) and 3/4 (b); overall 1/2.
    assert demographic_parity_difference(Y_TRUE, Y_PRED, **kwargs) == pytest.approx(3 / 4 - 1 / 3)
    assert demographic_parity_ratio(Y_TRUE, Y_PRED, **kwargs) == pytest.approx((1 / 3) / (3 / 4))
    # to_overall: gaps |1/3 - 1/2| = 1/6 and |3/4 - 1/2| = 1/4 -> 1/4.
    assert demographic_parity_difference(
        Y_TRUE, Y_PRED, method="to_overall", **kwargs) == pytest.approx(1 / 4)
    # to_overall ratios: (1/3)/(1/2) = 2/3; (3/4)/(1/2) = 3/2, inverted to 2/3 -> 2/3.
    assert demographic_parity_ratio(
        Y_TRUE, Y_PRED, method="to_overall", **kwargs) == pytest.approx(2 / 3)


def test_equalized_odds_by_hand():
    kwargs = {"sensitive_features": GROUPS}
    # TPRs 2/3 and 1 -> difference 1/3, ratio 2/3; FPRs 0 and 2/3 -> difference 2/3, ratio 0.
    assert equalized_odds_difference(Y_TRUE, Y_PRED, **kwargs) == pytest.approx(2 / 3)
    assert equalized_odds_difference(Y_TRUE, Y_PRED, agg="mean", **kwargs) == pytest.approx(0.5)
    assert equalized_odds_ratio(Y_TRUE, Y_PRED, **kwargs) == pytest.approx(0.0)
    assert equalized_odds_ratio(Y_TRUE, Y_PRED, agg="mean", **kwargs) == pytest.approx(1 / 3)
    # to_overall (TPR 3/4, FPR 1/3): TPR gaps 1/12, 1/4; FPR gaps 1/3, 1/3 -> 1/3.
    assert equalized_odds_difference(
        Y_TRUE, Y_PRED, method="to_overall", **kwargs) == pytest.approx(1 / 3)
    # TPR ratios (2/3)/(3/4) = 8/9 and 1/(3/4) -> 3/4; FPR ratios 0 and 2 -> 1/2; min is 0.
    assert equalized_odds_ratio(Y_TRUE, Y_PRED, method="to_overall", **kwargs) == 0.0
    assert equalized_odds_ratio(
        Y_TRUE, Y_PRED, method="to_overall", agg="mean", **kwargs) == pytest.approx((3 / 4 + 0) / 2)


def test_equal_groups_give_parity():
    y_true = [1, 0, 1, 0]
    y_pred = [1, 0, 1, 0]
    groups = ["x", "x", "y", "y"]
    assert demographic_parity_difference(y_true, y_pred, sensitive_features=groups) == 0.0
    assert demographic_parity_ratio(y_true, y_pred, sensitive_features=groups) == 1.0
    assert equalized_odds_difference(y_true, y_pred, sensitive_features=groups) == 0.0
    # FPRs are 0 in both groups: that ratio is 0/0 and left out; TPR ratio is 1.
    assert equalized_odds_ratio(y_true, y_pred, sensitive_features=groups) == 1.0


def test_nobody_selected_gives_nan_ratio():
    ratio = demographic_parity_ratio([1, 0, 1, 0], [0, 0, 0, 0], sensitive_features=[0, 0, 1, 1])
    assert math.isnan(ratio)


def test_integer_sample_weights_equal_repeated_samples():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, 40)
    y_pred = rng.integers(0, 2, 40)
    groups = rng.choice(["p", "q", "r"], 40)
    weights = rng.integers(1, 4, 40)
    repeated = {name: np.repeat(values, weights)
                for name, values in (("y_true", y_true), ("y_pred", y_pred), ("groups", groups))}
    for metric in (demographic_parity_difference, demographic_parity_ratio,
                   equalized_odds_difference, equalized_odds_ratio):
        for method in ("between_groups", "to_overall"):
            weighted = metric(y_true, y_pred, sensitive_features=groups, method=method,
                              sample_weight=weights)
            expanded = metric(repeated["y_true"], repeated["y_pred"],
                              sensitive_features=repeated["groups"], method=method)
            assert weighted == pytest.approx(expanded), (metric.__name__, method)


def test_pos_label_with_text_labels():
    text_true = ["yes" if value else "no" for value in Y_TRUE]
    text_pred = ["yes" if value else "no" for value in Y_PRED]
    expected = equalized_odds_difference(Y_TRUE, Y_PRED, sensitive_features=GROUPS)
    assert equalized_odds_difference(text_true, text_pred, sensitive_features=GROUPS,
                                     pos_label="yes") == pytest.approx(expected)
    with pytest.raises(ValueError, match="pos_label=1 is not one of the labels"):
        equalized_odds_difference(text_true, text_pred, sensitive_features=GROUPS)


def test_several_sensitive_features_form_combined_groups():
    rng = np.random.default_rng(1)
    y_true, y_pred = rng.integers(0, 2, 60), rng.integers(0, 2, 60)
    sex = rng.choice(["f", "m"], 60)
    age = rng.choice(["young", "old"], 60)
    combined = [f"{s}-{a}" for s, a in zip(sex, age)]
    two_columns = np.column_stack([sex, age])
    expected = demographic_parity_difference(y_true, y_pred, sensitive_features=combined)
    assert demographic_parity_difference(
        y_true, y_pred, sensitive_features=two_columns) == pytest.approx(expected)
    assert demographic_parity_difference(
        y_true, y_pred, sensitive_features={"sex": sex, "age": age}) == pytest.approx(expected)
    table = group_metrics(y_true, y_pred, sensitive_features=two_columns)
    assert set(table.by_group) == {(s, a) for s in "fm" for a in ("young", "old")}


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match="threshold scores"):
        demographic_parity_difference(None, [0.2, 0.7, 0.9], sensitive_features=[0, 1, 1])
    with pytest.raises(ValueError, match="y_true has 3 samples but y_pred has 2"):
        equalized_odds_difference([0, 1, 1], [0, 1], sensitive_features=[0, 1])
    with pytest.raises(ValueError, match="sensitive_features has 2 entries for 3 samples"):
        demographic_parity_difference(None, [0, 1, 1], sensitive_features=[0, 1])
    with pytest.raises(ValueError, match="method must be one of"):
        demographic_parity_ratio(None, [0, 1], sensitive_features=[0, 1], method="pairwise")
    with pytest.raises(ValueError, match="agg must be one of"):
        equalized_odds_ratio([0, 1], [0, 1], sensitive_features=[0, 1], agg="max")
    with pytest.raises(ValueError, match="y_true is required"):
        equalized_odds_difference(None, [0, 1], sensitive_features=[0, 1])
    with pytest.raises(ValueError, match="non-negative"):
        selection_rate(None, [0, 1], sample_weight=[1, -1])


@pytest.mark.parametrize("method", ["between_groups", "to_overall"])
def test_matches_fairlearn(method):
    fairlearn_metrics = pytest.importorskip("fairlearn.metrics")
    rng = np.random.default_rng(7)
    y_true, y_pred = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    groups = rng.choice(["a", "b", "c"], 300)
    weights = rng.uniform(0.5, 2.0, 300)
    for name in ("demographic_parity_difference", "demographic_parity_ratio",
                 "equalized_odds_difference", "equalized_odds_ratio"):
        ours = globals()[name](y_true, y_pred, sensitive_features=groups, method=method,
                               sample_weight=weights)
        theirs = getattr(fairlearn_metrics, name)(y_true, y_pred, sensitive_features=groups,
                                                  method=method, sample_weight=weights)
        assert ours == pytest.approx(theirs), name
