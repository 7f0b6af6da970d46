"""The diagnostics wired into the training workflow, in process: data checks before training,
gradient-flow findings reaching the report, attributions for the report, augmentation."""

import numpy as np
import pytest

import chainrule
from chainrule import nn, optim
from chainrule.train import RunRecord, Trainer
from chainrule.train.report import render_report
from chainrule.train.run import (
    ConfigError,
    FlatImageShift,
    PreparedData,
    attribution_summary,
    augment_shift,
    check_data,
    make_train_loader,
    prepare_data,
    validate_config,
)
from chainrule.utils.data import DataLoader, TensorDataset
from chainrule.utils.data.transforms import shift


def tabular(x_train, y_train, x_val=None, y_val=None, x_test=None, y_test=None, **fields):
    x_test = x_train[:2] + 10.0 if x_test is None else x_test  # distinct rows: no leakage
    y_test = y_train[:2] if y_test is None else y_test
    values = dict(task="classification", num_outputs=2, class_names=None, image_shape=None)
    values.update(fields)
    return PreparedData(x_train, y_train, x_val, y_val, x_test, y_test, **values)


# --------------------------------------------------------------------------- data checks
def test_nan_inputs_stop_training_unless_allowed():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 3)).astype(np.float32)
    y = np.tile([0, 1], 6)
    x_val = rng.normal(size=(4, 3)).astype(np.float32)
    x_val[1, 2] = np.nan  # only the validation rows hold it: they are checked too
    data = tabular(x, y, x_val, np.array([0, 1, 0, 1]))
    with pytest.raises(ConfigError, match=r"refusing to train: train x has 1 NaN and 0 infinite") as error:
        check_data(data)
    assert "--allow-nan" in str(error.value) and "\n" not in str(error.value)
    report = check_data(data, allow_nan=True)
    (finding,) = report.by_kind("nan_inf")
    assert finding.details["rows"] == [13] and finding.details["features"] == [2]  # row 12 + 1
    x[0, 0] = np.inf
    with pytest.raises(ConfigError, match="1 infinite"):
        check_data(tabular(x, y))


def test_clean_data_passes_and_other_findings_are_only_reported():
    x = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0], [3.0, 1.0]], dtype=np.float32)
    report = check_data(tabular(x, np.array([0, 1, 0, 1])))
    assert [f.kind for f in report.findings] == ["constant_features"]  # column 1 never changes
    assert report.num_train == 4 and report.num_test == 2


def test_csv_with_a_missing_value_needs_allow_nan(tmp_path):
    rows = ["a,b,label"] + [f"{i % 5},{(i * 7) % 3},{i % 2}" for i in range(30)]
    rows[4] = ",2,1"
    path = tmp_path / "t.csv"
    path.write_text("\n".join(rows) + "\n")
    config = {"dataset": str(path), "target": "label", "val_split": 0.0}
    with pytest.raises(ConfigError, match=r"missing values on line\(s\) 5.*--allow-nan"):
        prepare_data(validate_config(config))
    data = prepare_data(validate_config({**config, "allow_nan": True}))
    assert np.isfinite(data.x_train).all() and np.isfinite(data.x_test).all()
    assert check_data(data).by_kind("nan_inf") == []
    with pytest.raises(ConfigError, match="'allow_nan' must be true or false"):
        validate_config({**config, "allow_nan": "yes"})


# ------------------------------------------------------------------- gradient flow in a run
def test_a_deep_sigmoid_network_is_diagnosed_and_the_report_says_so():
    chainrule.manual_seed(0)
    layers = []
    for index in range(8):
        layers += [nn.Linear(16, 16), nn.Sigmoid()] if index < 7 else [nn.Linear(16, 2)]
    model = nn.Sequential(*layers)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 16)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    loader = DataLoader(TensorDataset(x, y), batch_size=32)
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1))
    trainer.fit(loader, epochs=1, verbose=0)
    (flow,) = [c for c in trainer.callbacks if type(c).__name__ == "GradientFlowCallback"]
    vanishing = [f for f in flow.findings if f.kind == "vanishing"]
    assert vanishing and vanishing[0].layer == "0"  # the first layer learns least
    # The first layer's recorded norm is orders of magnitude below the last layer's.
    assert trainer.history.last("0.weight/grad_norm") * 1e3 < trainer.history.last("14.weight/grad_norm")
    record = RunRecord.from_trainer(trainer)
    assert record.gradient_findings == flow.findings
    page = render_report(record, use_matplotlib=False)
    assert "<strong>vanishing</strong> in <code>0</code>" in page


# ---------------------------------------------------------------------------- attributions
def test_attributions_of_a_linear_model_rank_features_by_weight_times_input():
    model = nn.Linear(3, 2)
    weight = np.array([[0.1, -2.0, 0.5], [1.0, 0.3, -0.2]], dtype=np.float32)
    with chainrule.no_grad():
        model.weight.copy_(chainrule.from_numpy(weight))
        model.bias.zero_()
    x_test = np.random.default_rng(1).normal(size=(10, 3)).astype(np.float32)
    data = tabular(x_test, np.zeros(10, np.int64), x_test=x_test, y_test=np.zeros(10, np.int64),
                   feature_names=["age", "income", "height"])
    summary = attribution_summary(model, data, rows=8)
    predicted = (x_test[:8] @ weight.T).argmax(axis=1)
    # For a linear model integrated gradients from a zero baseline are exactly w * x.
    scores = np.abs(weight[predicted] * x_test[:8]).mean(axis=0)
    expected = [["age", "income", "height"][i] for i in np.argsort(-scores)]
    assert [name for name, _ in summary["ranking"]] == expected
    np.testing.assert_allclose([score for _, score in summary["ranking"]], np.sort(scores)[::-1], rtol=1e-5)
    assert summary["samples"] == 8 and summary["gap_max"] < 1e-5
    assert summary["target"] == "predicted class's score"


def test_attributions_of_images_give_one_heat_map_per_example():
    chainrule.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    x = np.random.default_rng(0).random((6, 16)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])
    data = tabular(x, y, x_test=x, y_test=y, num_outputs=3, image_shape=(4, 4))
    summary = attribution_summary(model, data, images=4)
    with chainrule.no_grad():
        predicted = model(chainrule.from_numpy(x[:4])).numpy().argmax(axis=1)
    assert len(summary["images"]) == 4 and summary["ranking"] == []
    for index, example in enumerate(summary["images"]):
        assert example["input"].shape == (4, 4) and example["heat"].shape == (4, 4)
        assert example["true"] == y[index] and example["predicted"] == predicted[index]
        assert (example["heat"] >= 0).all()
    assert model.training  # the mode it had is given back


# ---------------------------------------------------------------------------- augmentation
def test_augment_shifts_each_drawn_image_by_at_most_one_pixel_on_digits():
    assert augment_shift((8, 8)) == 1 and augment_shift((1, 28, 28)) == 2
    images = np.random.default_rng(0).random((5, 64)).astype(np.float32) + 1.0  # no zero pixels
    data = tabular(images, np.arange(5), num_outputs=5, image_shape=(8, 8))
    config = validate_config({"dataset": "digits", "augment": True, "batch_size": 5})
    loader = make_train_loader(config, data)
    chainrule.manual_seed(0)
    offsets = set()
    for _ in range(20):
        for index in range(5):
            drawn, label = loader.dataset[index]
            original = images[index].reshape(8, 8)
            matches = [
                (dy, dx)
                for dy in (-1, 0, 1)
                for dx in (-1, 0, 1)
                if np.array_equal(np.asarray(drawn.array).reshape(8, 8), shift(original, dy, dx))
            ]
            assert len(matches) == 1 and int(label) == index
            offsets.add(matches[0])
    assert len(offsets) == 9  # every offset in -1..1 x -1..1 turns up
    batch, _ = next(iter(loader))
    assert tuple(batch.shape) == (5, 64)
    plain = make_train_loader({**config, "augment": False}, data)
    assert type(plain.dataset).__name__ == "TensorDataset"
    assert "FlatImageShift((8, 8), max_shift=1)" in repr(FlatImageShift((8, 8), 1))
    with pytest.raises(ConfigError, match="augment shifts images, so it needs an image dataset"):
        validate_config({"dataset": "iris", "augment": True})
