"""Trainer: the loop itself, metrics, evaluate/predict, progress output, reproducibility, resume."""

import io
import math

import numpy as np
import pytest

import chainrule
from chainrule import nn, optim
from chainrule.train import History, ModelCheckpoint, Trainer, fit
from chainrule.utils.data import DataLoader, TensorDataset


def blobs(n=120, classes=3, features=5, seed=0):
    """Separable-ish Gaussian clusters: float32 features, int64 labels."""
    centres = np.random.default_rng(0).normal(0, 3, (classes, features))  # one task for every seed
    rng = np.random.default_rng(seed + 1)
    labels = rng.integers(0, classes, n)
    x = (centres[labels] + rng.normal(0, 1, (n, features))).astype(np.float32)
    return x, labels.astype(np.int64)


def loaders(x, y, batch_size=16, seed=0, val=None):
    generator = chainrule.Generator().manual_seed(seed)
    train = DataLoader(
        TensorDataset(chainrule.from_numpy(x), chainrule.from_numpy(y)),
        batch_size=batch_size,
        shuffle=True,
        generator=generator,
    )
    if val is None:
        return train
    return train, DataLoader(
        TensorDataset(chainrule.from_numpy(val[0]), chainrule.from_numpy(val[1])), batch_size=64
    )


def make_model(seed=0, dropout=0.0):
    chainrule.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 3))


def weights(model):
    return {name: tensor.array.copy() for name, tensor in model.state_dict().items()}


def test_fit_matches_a_hand_written_loop_bit_for_bit():
    x, y = blobs()
    model = make_model()
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    Trainer(model, nn.CrossEntropyLoss(), optimizer).fit(loaders(x, y), epochs=3, verbose=0)

    reference = make_model()
    reference_optimizer = optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    reference.train()
    reference_loader = loaders(x, y)
    for _ in range(3):
        for inputs, targets in reference_loader:
            reference_optimizer.zero_grad()
            loss_fn(reference(inputs), targets).backward()
            reference_optimizer.step()
    for name, array in weights(reference).items():
        np.testing.assert_array_equal(weights(model)[name], array, err_msg=name)


def test_history_records_losses_metrics_lr_time_and_grad_norms(tmp_path):
    x, y = blobs()
    x_val, y_val = blobs(60, seed=1)
    model = make_model()
    trainer = Trainer(
        model,
        nn.CrossEntropyLoss(),
        optim.Adam(model.parameters(), lr=0.01),
        metrics=["accuracy", "f1", "top2_accuracy"],
    )
    history = trainer.fit(*loaders(x, y, val=(x_val, y_val)), epochs=4, verbose=0)
    assert isinstance(history, History) and len(history) == 4
    assert history.epochs == [1, 2, 3, 4]
    for key in (
        "loss",
        "accuracy",
        "f1",
        "top2_accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "time",
        "0.weight/grad_norm",
        "0.bias/grad_norm",
        "3.weight/grad_norm",
        "0.weight/update_ratio",
        "1/dead_fraction",
    ):
        assert key in history, key
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] > 0.8
    assert history["lr"] == [0.01] * 4
    assert all(t > 0 for t in history["time"])
    assert history.to_dict()["val_loss"] == history["val_loss"]
    # CSV round trip is exact (floats written with repr).
    history.to_csv(tmp_path / "m.csv")
    assert History.from_csv(tmp_path / "m.csv").rows == history.rows
    with pytest.raises(KeyError, match="records"):
        history["val_acc"]


def test_epoch_loss_is_the_sample_weighted_mean_of_batch_losses():
    x, y = blobs(50)  # batches of 16, 16, 16 and 2
    model = make_model()
    batch_losses = []

    from chainrule.train import Callback

    class Record(Callback):
        def on_batch_end(self, batch, logs):
            batch_losses.append((logs["loss"], logs["size"]))

    history = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1)).fit(
        loaders(x, y), epochs=1, callbacks=[Record()], verbose=0
    )
    assert [size for _, size in batch_losses] == [16, 16, 16, 2]
    expected = sum(loss * size for loss, size in batch_losses) / 50
    assert history["loss"][0] == pytest.approx(expected, rel=1e-12)


def test_grad_norm_is_the_norm_of_the_gradient():
    x, y = blobs(40)
    model = make_model()
    twin = make_model()  # same initial weights
    history = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1)).fit(
        loaders(x, y, batch_size=40), epochs=1, verbose=0
    )
    nn.CrossEntropyLoss()(twin(chainrule.from_numpy(x)), chainrule.from_numpy(y)).backward()
    for name, param in twin.named_parameters():
        expected = np.sqrt(np.sum(param.grad.array.astype(np.float64) ** 2))
        assert history[f"{name}/grad_norm"][0] == pytest.approx(expected, rel=1e-5), name


def test_update_ratio_is_the_relative_size_of_the_optimizer_step():
    x, y = blobs(40)
    model = make_model()
    before = make_model()  # same initial weights
    lr = 0.1
    history = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=lr)).fit(
        loaders(x, y, batch_size=40), epochs=1, verbose=0
    )
    nn.CrossEntropyLoss()(before(chainrule.from_numpy(x)), chainrule.from_numpy(y)).backward()
    for name, param in before.named_parameters():
        weights_before = param.array.astype(np.float64)
        step = lr * param.grad.array.astype(np.float64)  # plain SGD: W <- W - lr * grad
        expected = np.linalg.norm(step) / np.linalg.norm(weights_before)
        assert history[f"{name}/update_ratio"][0] == pytest.approx(expected, rel=1e-4), name


def test_after_backward_hook_sees_gradients_before_the_step():
    from chainrule.train import Callback

    x, y = blobs(32)
    model = make_model()
    seen = []

    class Inspect(Callback):
        def on_batch_begin(self, batch, logs):
            self.start = model[0].weight.array.copy()

        def on_after_backward(self, batch, logs):
            seen.append(("after_backward", batch, logs["loss"], model[0].weight.grad is not None,
                         np.array_equal(model[0].weight.array, self.start)))

        def on_batch_end(self, batch, logs):
            seen.append(("batch_end", batch, logs["loss"], None,
                         np.array_equal(model[0].weight.array, self.start)))

    Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1)).fit(
        loaders(x, y, batch_size=16), epochs=1, callbacks=[Inspect()], verbose=0
    )
    assert [(hook, batch) for hook, batch, *_ in seen] == [
        ("after_backward", 0), ("batch_end", 0), ("after_backward", 1), ("batch_end", 1)
    ]
    for hook, _, loss, has_grad, unchanged in seen:
        assert math.isfinite(loss)
        if hook == "after_backward":
            assert has_grad and unchanged  # gradient there, weights not yet stepped
        else:
            assert not unchanged


def test_trainer_names_overfitting_by_default_only_with_validation_data(capsys):
    # Random labels cannot be learnt: a wide network memorises the 16 training samples, so
    # validation loss climbs while training loss falls.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    y = rng.integers(0, 3, 40).astype(np.int64)

    def run(val, **options):
        chainrule.manual_seed(0)
        model = nn.Sequential(nn.Linear(5, 64), nn.ReLU(), nn.Linear(64, 3))
        trainer = Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.02), **options)
        val_data = (x[16:], y[16:]) if val else None
        batches = loaders(x[:16], y[:16], batch_size=16, val=val_data)
        history = trainer.fit(*(batches if val else (batches,)), epochs=12, verbose=2)
        return trainer, history, capsys.readouterr().out

    trainer, history, out = run(val=True)
    from chainrule.diagnostics import OverfittingMonitor, detect_overfitting

    assert sum(isinstance(c, OverfittingMonitor) for c in trainer.callbacks) == 1
    assert out.count("Overfitting: validation loss has risen since epoch") == 1
    began = detect_overfitting(history["loss"], history["val_loss"]).figures["began_epoch"]
    assert f"since epoch {began}" in out and "weight decay" in out and "dropout" in out
    assert history["val_loss"][began - 1] > history["val_loss"][began - 2]  # it did turn upwards
    trainer, _, out = run(val=True, watch_overfitting=False)
    assert "Overfitting" not in out
    assert not any(isinstance(c, OverfittingMonitor) for c in trainer.callbacks)
    trainer, _, _ = run(val=False)  # nothing to compare with: no monitor, no KeyError
    assert not any(isinstance(c, OverfittingMonitor) for c in trainer.callbacks)


def test_evaluate_metrics_and_confusion_matrix_agree_with_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    x, y = blobs(150, seed=2)
    model = make_model()
    trainer = Trainer(
        model,
        nn.CrossEntropyLoss(),
        optim.Adam(model.parameters(), lr=0.02),
        metrics=["accuracy", "precision", "recall", "f1"],
    )
    trainer.fit(loaders(x, y), epochs=2, verbose=0)
    test_loader = DataLoader(TensorDataset(chainrule.from_numpy(x), chainrule.from_numpy(y)), batch_size=32)
    results = trainer.evaluate(test_loader)
    predicted = trainer.predict(x).argmax(axis=1)
    assert results["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(y, predicted))
    assert results["precision"] == pytest.approx(
        sklearn_metrics.precision_score(y, predicted, average="macro")
    )
    assert results["recall"] == pytest.approx(sklearn_metrics.recall_score(y, predicted, average="macro"))
    assert results["f1"] == pytest.approx(sklearn_metrics.f1_score(y, predicted, average="macro"))
    np.testing.assert_array_equal(trainer.confusion_matrix, sklearn_metrics.confusion_matrix(y, predicted))
    log_probabilities = chainrule.log_softmax(chainrule.from_numpy(trainer.predict(x)), dim=1).array
    assert results["loss"] == pytest.approx(-log_probabilities[np.arange(len(y)), y].mean(), rel=1e-5)
    assert model.training  # evaluate and predict put the model back in training mode


def test_regression_metrics():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype(np.float32)
    y = (x @ rng.normal(size=(5, 1))).astype(np.float32)
    chainrule.manual_seed(0)
    model = nn.Linear(5, 1)
    trainer = Trainer(
        model, nn.MSELoss(), optim.Adam(model.parameters(), lr=0.05), metrics=["mse", "mae", "r2"]
    )
    history = trainer.fit(loaders(x, y), epochs=15, verbose=0)
    assert history["r2"][-1] > 0.9
    results = trainer.evaluate(
        DataLoader(TensorDataset(chainrule.from_numpy(x), chainrule.from_numpy(y)), 16)
    )
    predictions = trainer.predict(x)
    assert results["mse"] == pytest.approx(float(np.mean((predictions - y) ** 2)), rel=1e-5)
    assert results["mae"] == pytest.approx(float(np.mean(np.abs(predictions - y))), rel=1e-5)
    assert trainer.confusion_matrix is None


def test_predict_accepts_arrays_tensors_and_loaders_alike():
    x, y = blobs(70)
    model = make_model()
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1))
    from_array = trainer.predict(x, batch_size=32)
    from_float64 = trainer.predict(x.astype(np.float64))
    from_tensor = trainer.predict(chainrule.from_numpy(x))
    from_loader = trainer.predict(
        DataLoader(TensorDataset(chainrule.from_numpy(x), chainrule.from_numpy(y)), 20)
    )
    assert from_array.shape == (70, 3) and from_array.dtype == np.float32
    assert from_float64.dtype == np.float32  # float64 inputs are cast, not promoted through the model
    np.testing.assert_allclose(from_tensor, from_array, rtol=1e-6)
    np.testing.assert_allclose(from_loader, from_array, rtol=1e-6)


def test_clear_errors_for_bad_metrics_batches_and_callbacks():
    model = make_model()
    with pytest.raises(ValueError, match=r"unknown metric 'acc'.*accuracy"):
        Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), metrics=["acc"])
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match=r"\(inputs, targets\) pair.*TensorDataset"):
        trainer.fit([chainrule.randn(4, 5)], epochs=1, verbose=0)
    with pytest.raises(TypeError, match="Callback"):
        trainer.fit([], epochs=1, callbacks=[lambda: None], verbose=0)
    with pytest.raises(ValueError, match="verbose"):
        trainer.fit([], epochs=1, verbose=3)


def test_custom_metric_function():
    x, y = blobs(40)
    model = make_model()

    def worst_logit(y_true, outputs):
        return float(outputs.min())

    history = Trainer(
        model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), metrics=[worst_logit]
    ).fit(loaders(x, y), epochs=1, verbose=0)
    assert "worst_logit" in history and math.isfinite(history["worst_logit"][0])


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_lines_bar_and_silence(capsys, monkeypatch):
    x, y = blobs(48)
    x_val, y_val = blobs(20, seed=3)

    def run(verbose):
        model = make_model()
        return Trainer(
            model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), metrics=["accuracy"]
        ).fit(*loaders(x, y, val=(x_val, y_val)), epochs=2, verbose=verbose)

    run(0)
    assert capsys.readouterr().out == ""
    run(2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("Epoch 1/2") and lines[1].startswith("Epoch 2/2")
    assert "val_accuracy" in lines[0] and "samples/s" in lines[0]
    assert lines[2].startswith("Gradient flow: no problems found")  # the monitor's verdict
    run(1)  # captured stdout is not a terminal: one line per epoch, no bar
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and "\r" not in "".join(lines)
    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stdout", terminal)
    run(1)
    output = terminal.getvalue()
    assert "Epoch 1/2" in output and "samples/s" in output and "\r" in output  # a live tqdm bar
    assert "val_loss" in output  # the finished bar shows the epoch's metrics


def test_same_seed_gives_bit_identical_runs():
    x, y = blobs()

    def run():
        model = make_model(seed=5, dropout=0.3)
        history = Trainer(
            model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.01), metrics=["accuracy"]
        ).fit(loaders(x, y, seed=5), epochs=3, verbose=0)
        return weights(model), [{k: v for k, v in row.items() if k != "time"} for row in history.rows]

    first_weights, first_rows = run()
    second_weights, second_rows = run()
    assert first_rows == second_rows
    for name in first_weights:
        np.testing.assert_array_equal(first_weights[name], second_weights[name])


def test_resume_from_checkpoint_equals_an_uninterrupted_run(tmp_path):
    x, y = blobs()
    x_val, y_val = blobs(30, seed=4)

    def trainer_for(seed_of_init):
        model = make_model(seed=seed_of_init, dropout=0.3)  # dropout draws from chainrule's generator
        optimizer = optim.Adam(model.parameters(), lr=0.01)
        scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
        return Trainer(model, nn.CrossEntropyLoss(), optimizer, metrics=["accuracy"], scheduler=scheduler)

    full = trainer_for(0)
    chainrule.manual_seed(100)
    full.fit(*loaders(x, y, val=(x_val, y_val)), epochs=5, verbose=0)

    first_part = trainer_for(0)
    chainrule.manual_seed(100)
    first_part.fit(
        *loaders(x, y, val=(x_val, y_val)), epochs=2, verbose=0, callbacks=[ModelCheckpoint(tmp_path)]
    )
    chainrule.manual_seed(12345)  # whatever happened in between must not matter
    chainrule.randn(10)
    resumed = trainer_for(7)  # a different initialisation, replaced by the checkpoint
    history = resumed.fit(
        *loaders(x, y, seed=99, val=(x_val, y_val)),
        epochs=5,
        verbose=0,
        resume_from=tmp_path / "checkpoint.safetensors",
    )
    assert history.epochs == [1, 2, 3, 4, 5]
    for name, array in weights(full.model).items():
        np.testing.assert_array_equal(weights(resumed.model)[name], array, err_msg=name)
    strip = [{k: v for k, v in row.items() if k != "time"} for row in full.history.rows]
    assert [{k: v for k, v in row.items() if k != "time"} for row in history.rows] == strip
    assert history["lr"] == [0.01, 0.01, 0.005, 0.005, 0.0025]


def test_fit_function_shortcut():
    x, y = blobs()
    model = make_model()
    history = fit(
        model,
        nn.CrossEntropyLoss(),
        optim.Adam(model.parameters(), lr=0.01),
        loaders(x, y),
        epochs=2,
        metrics=["accuracy"],
        verbose=0,
    )
    assert len(history) == 2 and "accuracy" in history
