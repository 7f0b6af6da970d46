"""Callbacks: the hook protocol, early stopping, checkpoints, schedules, loggers, NaN guard."""

import csv
import math
import sys

import numpy as np
import pytest
from event_files import read_events

import chainrule
from chainrule import nn, optim
from chainrule.train import (
    Callback,
    CSVLogger,
    EarlyStopping,
    GradientFlowCallback,
    LRSchedulerCallback,
    ModelCheckpoint,
    TensorBoardLogger,
    TerminateOnDivergence,
    TerminateOnNaN,
    Trainer,
    load_state,
)
from chainrule.utils.data import DataLoader, TensorDataset


def data(n=64, seed=0):
    centres = np.random.default_rng(0).normal(0, 3, (2, 4))
    rng = np.random.default_rng(seed + 1)
    labels = rng.integers(0, 2, n)
    x = (centres[labels] + rng.normal(0, 1, (n, 4))).astype(np.float32)
    return DataLoader(
        TensorDataset(chainrule.from_numpy(x), chainrule.from_numpy(labels.astype(np.int64))),
        batch_size=16,
        shuffle=True,
        generator=chainrule.Generator().manual_seed(seed),
    )


def trainer(lr=0.05, scheduler=None, optimizer_class=optim.SGD):
    chainrule.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    return Trainer(
        model,
        nn.CrossEntropyLoss(),
        optimizer_class(model.parameters(), lr=lr),
        metrics=["accuracy"],
        scheduler=scheduler,
    )


class Scripted(Callback):
    """Writes a made-up value per epoch into the logs (runs before the others)."""

    order = -50

    def __init__(self, key, values):
        self.key, self.values = key, values

    def on_epoch_end(self, epoch, logs):
        logs[self.key] = self.values[epoch]


class Snapshots(Callback):
    """Keeps the model's weights at the end of every epoch."""

    def __init__(self):
        self.weights = []

    def on_epoch_end(self, epoch, logs):
        self.weights.append({k: v.array.copy() for k, v in self.trainer.model.state_dict().items()})


def test_hooks_are_called_in_order_with_logs():
    calls = []

    class Recorder(Callback):
        def on_train_begin(self, logs=None):
            calls.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            calls.append(f"epoch_begin {epoch}")

        def on_batch_begin(self, batch, logs=None):
            calls.append(f"batch_begin {batch} size={logs['size']}")

        def on_batch_end(self, batch, logs=None):
            assert math.isfinite(logs["loss"])
            assert all(p.grad is not None for p in self.trainer.model.parameters())  # this batch's gradients
            calls.append(f"batch_end {batch}")

        def on_epoch_end(self, epoch, logs=None):
            calls.append(f"epoch_end {epoch} {sorted(k for k in logs if '/' not in k)}")

        def on_train_end(self, logs=None):
            calls.append("train_end")

    trainer().fit(data(32), epochs=2, callbacks=[Recorder()], verbose=0)
    assert calls[:6] == [
        "train_begin",
        "epoch_begin 0",
        "batch_begin 0 size=16",
        "batch_end 0",
        "batch_begin 1 size=16",
        "batch_end 1",
    ]
    assert calls[6] == "epoch_end 0 ['accuracy', 'epoch', 'loss', 'lr', 'time']"
    assert calls[-1] == "train_end" and len(calls) == 1 + 2 * 6 + 1


def test_a_ten_line_callback_can_stop_training():
    class StopAtAccuracy(Callback):
        def on_epoch_end(self, epoch, logs):
            if logs["accuracy"] >= 0.0:  # always true: stop after the first epoch
                self.trainer.stop_training = True

    history = trainer().fit(data(), epochs=5, callbacks=[StopAtAccuracy()], verbose=0)
    assert len(history) == 1


def test_callbacks_run_by_order_then_as_given():
    seen = []

    class Named(Callback):
        def __init__(self, name, order):
            self.name, self.order = name, order

        def on_train_begin(self, logs=None):
            seen.append(self.name)

    trainer().fit(
        data(16),
        epochs=1,
        verbose=0,
        callbacks=[Named("late", 95), Named("a", 0), Named("early", -5), Named("b", 0)],
    )
    assert seen == ["early", "a", "b", "late"]


def test_early_stopping_counts_patience_and_restores_best_weights():
    values = [1.0, 0.8, 0.79, 0.85, 0.9, 0.95, 0.7, 0.6]
    snapshots = Snapshots()
    stopper = EarlyStopping("val_score", patience=3, min_delta=0.05, mode="min", restore_best_weights=True)
    run = trainer()
    history = run.fit(
        data(), epochs=8, callbacks=[Scripted("val_score", values), stopper, snapshots], verbose=0
    )
    # 0.79 is not better than 0.8 by min_delta, so epoch 2 (0.8) stays best; 3 more epochs without
    # improvement (0.79, 0.85, 0.9) stop training after epoch 5, before the later improvement.
    assert len(history) == 5 and stopper.best_epoch == 2 and stopper.stopped_epoch == 5
    for name, array in snapshots.weights[1].items():
        np.testing.assert_array_equal(run.model.state_dict()[name].array, array)
    assert not np.array_equal(snapshots.weights[1]["0.weight"], snapshots.weights[4]["0.weight"])


def test_early_stopping_mode_auto_and_missing_monitor():
    assert EarlyStopping("val_accuracy").mode == "max"
    assert EarlyStopping("val_loss").mode == "min"
    with pytest.raises(KeyError, match=r"val_loss.*val_loader.*available: \['accuracy'"):
        trainer().fit(data(), epochs=2, callbacks=[EarlyStopping("val_loss")], verbose=0)


def test_model_checkpoint_every_epoch_best_only_and_last(tmp_path):
    scores = [0.5, 0.7, 0.6, 0.9]
    every = ModelCheckpoint(tmp_path / "every")
    best = ModelCheckpoint(
        tmp_path / "best", monitor="val_score", mode="max", save_best_only=True, save_last=True
    )
    snapshots = Snapshots()
    trainer().fit(
        data(), epochs=3, callbacks=[Scripted("val_score", scores), every, best, snapshots], verbose=0
    )
    assert load_state(tmp_path / "every" / "checkpoint.safetensors")["epoch"] == 3
    best_state = load_state(tmp_path / "best" / "checkpoint.safetensors")
    assert best_state["epoch"] == 2  # 0.7 at epoch 2 beats the 0.6 of epoch 3
    np.testing.assert_array_equal(best_state["model"]["0.weight"].array, snapshots.weights[1]["0.weight"])
    assert load_state(tmp_path / "best" / "last.safetensors")["epoch"] == 3
    assert [row["val_score"] for row in best_state["history"]] == [0.5, 0.7]


def test_lr_scheduler_callback_steps_per_epoch_and_on_a_metric():
    run = trainer(lr=0.1)
    step = optim.lr_scheduler.StepLR(run.optimizer, step_size=1, gamma=0.5)
    history = run.fit(data(), epochs=3, callbacks=[LRSchedulerCallback(step)], verbose=0)
    assert history["lr"] == [0.1, 0.05, 0.025]

    run = trainer(lr=0.1)
    plateau = optim.lr_scheduler.ReduceLROnPlateau(run.optimizer, mode="max", factor=0.1, patience=1)
    flat = [0.5, 0.5, 0.5, 0.5, 0.5]
    history = run.fit(
        data(),
        epochs=5,
        verbose=0,
        callbacks=[Scripted("val_score", flat), LRSchedulerCallback(plateau, monitor="val_score")],
    )
    # best at epoch 1; epochs 2 and 3 do not improve: more than patience=1 bad epochs -> cut after epoch 3
    assert history["lr"] == pytest.approx([0.1, 0.1, 0.1, 0.01, 0.01])


def test_scheduler_argument_of_trainer_uses_val_loss_for_plateau():
    chainrule.manual_seed(0)
    model = nn.Linear(4, 2)
    optimizer = optim.SGD(model.parameters(), lr=0.0)  # no learning: val_loss never improves
    plateau = optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=0)
    optimizer.param_groups[0]["lr"] = 1e-30  # tiny but positive so halving is visible
    history = Trainer(model, nn.CrossEntropyLoss(), optimizer, scheduler=plateau).fit(
        data(), data(32, seed=3), epochs=3, verbose=0
    )
    assert history["lr"] == pytest.approx([1e-30, 5e-31, 2.5e-31], rel=1e-9)


def test_csv_logger_writes_the_history(tmp_path):
    path = tmp_path / "logs" / "metrics.csv"
    run = trainer()
    history = run.fit(data(), epochs=3, callbacks=[CSVLogger(path)], verbose=0)
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3]
    assert [float(row["loss"]) for row in rows] == history["loss"]
    assert "0.weight/grad_norm" in rows[0]


def test_terminate_on_nan_stops_at_the_bad_batch():
    batches = []

    class Count(Callback):
        def on_batch_end(self, batch, logs):
            batches.append(batch)

    def exploding_loss(outputs, targets):
        return nn.functional.cross_entropy(outputs, targets) * float("nan")

    chainrule.manual_seed(0)
    model = nn.Linear(4, 2)
    history = Trainer(model, exploding_loss, optim.SGD(model.parameters(), lr=0.1)).fit(
        data(), epochs=3, callbacks=[TerminateOnNaN(), Count()], verbose=0
    )
    assert batches == [0] and len(history) == 1 and math.isnan(history["loss"][0])


def growing_loss(explode_at_call, factor=1e4):
    """Cross-entropy that is multiplied by ``factor`` from its ``explode_at_call``-th call on."""
    calls = []

    def loss(outputs, targets):
        calls.append(None)
        scale = factor if len(calls) >= explode_at_call else 1.0
        return nn.functional.cross_entropy(outputs, targets) * scale

    return loss


def test_terminate_on_divergence_names_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    chainrule.manual_seed(0)
    model = nn.Linear(4, 2)
    trainer = Trainer(model, growing_loss(explode_at_call=6), optim.SGD(model.parameters(), lr=0.1))
    # 64 samples in batches of 16: the 6th call is step 2 of epoch 2.
    history = trainer.fit(
        data(), epochs=4, callbacks=[TerminateOnDivergence(), ModelCheckpoint(tmp_path)], verbose=0
    )
    found = trainer.divergence
    assert (found.epoch, found.step, found.lr) == (2, 2, 0.1)
    assert "grew to" in found.reason and "times its first value" in found.reason
    assert str(found).startswith("training diverged at step 2 of epoch 2:")
    assert len(history) == 2  # the diverged epoch stays in the history ...
    assert load_state(tmp_path / "checkpoint.safetensors")["epoch"] == 1  # ... not in the checkpoint

    # Growth alone is not NaN: Keras's callback keeps going; a NaN validation loss stops it.
    model = nn.Linear(4, 2)
    trainer = Trainer(model, growing_loss(explode_at_call=6), optim.SGD(model.parameters(), lr=0.1))
    assert len(trainer.fit(data(), epochs=3, callbacks=[TerminateOnNaN()], verbose=0)) == 3
    assert trainer.divergence is None
    with pytest.raises(ValueError, match="max_growth must be > 1"):
        TerminateOnDivergence(max_growth=0.5)


def test_a_nan_validation_loss_is_a_divergence_at_the_end_of_the_epoch():
    class NanWhenEvaluating(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            out = self.fc(x)
            return out if self.training else out * float("nan")

    model = NanWhenEvaluating()
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1))
    trainer.fit(data(), data(), epochs=3, callbacks=[TerminateOnNaN()], verbose=0)
    found = trainer.divergence
    assert (found.epoch, found.step) == (1, None) and found.reason == "the validation loss became nan"
    assert str(found).startswith("training diverged at the end of epoch 1:")


def test_tensorboard_logger_missing_dependency_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r'pip install "chainrule\[tensorboard\]"'):
        TensorBoardLogger("unused")


def _read_scalars(event_file):
    events = read_events(event_file)
    return [(tag, step, value) for tag, step, kind, value in events if kind == "simple_value"]


def test_tensorboard_logger_writes_scalars(tmp_path):
    pytest.importorskip("tensorboardX")
    history = trainer().fit(data(), epochs=2, callbacks=[TensorBoardLogger(tmp_path)], verbose=0)
    (event_file,) = tmp_path.glob("events.out.tfevents.*")
    scalars = _read_scalars(event_file)
    losses = [(step, value) for tag, step, value in scalars if tag == "loss"]
    assert losses == [
        (1, pytest.approx(history["loss"][0], rel=1e-6)),
        (2, pytest.approx(history["loss"][1], rel=1e-6)),
    ]
    assert {tag for tag, _, _ in scalars} >= {"accuracy", "lr", "0.weight/grad_norm"}


def test_callback_state_survives_resume(tmp_path):
    values = [1.0, 0.5, 0.6, 0.7, 0.8, 0.9]
    first = trainer()
    first.fit(
        data(),
        epochs=3,
        verbose=0,
        callbacks=[
            Scripted("val_score", values),
            EarlyStopping("val_score", patience=3),
            ModelCheckpoint(tmp_path),
        ],
    )
    stopper = EarlyStopping("val_score", patience=3)
    resumed = trainer()
    history = resumed.fit(
        data(),
        epochs=6,
        verbose=0,
        resume_from=tmp_path / "checkpoint.safetensors",
        callbacks=[Scripted("val_score", values), stopper, ModelCheckpoint(tmp_path)],
    )
    # The wait counter carried over (one bad epoch before the checkpoint), so the stop comes
    # after epoch 5, not after epoch 6 as a fresh counter would give.
    assert len(history) == 5 and stopper.best_epoch == 2


# ------------------------------------------------------------------------- gradient flow
def dead_relu_trainer(**options):
    """A network whose first layer's biases are so negative that every ReLU outputs zero."""
    chainrule.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    with chainrule.no_grad():
        model[0].bias.fill_(-100.0)
    return Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.05), **options)


def test_gradient_flow_callback_names_dead_units_and_prints_once_per_change(capsys):
    flow = GradientFlowCallback()
    fitted = dead_relu_trainer()
    history = fitted.fit(data(), epochs=3, callbacks=[flow], verbose=2)
    out = capsys.readouterr().out
    assert [f.kind for f in flow.findings] == ["dead_units"] and flow.findings[0].layer == "1"
    assert history["1/dead_fraction"] == [1.0, 1.0, 1.0]  # every unit dead in every batch
    # verbose=2: said when it first appears (not again each epoch), then once more at the end.
    assert out.count("Gradient flow after epoch 1: [dead_units]") == 1
    assert "after epoch 2" not in out and "after epoch 3" not in out
    assert "Gradient flow: 1 finding in the last epoch\n  [dead_units] 100% of the ReLU units after 1" in out
    assert sum(isinstance(c, GradientFlowCallback) for c in fitted.callbacks) == 1  # not doubled
    # The hooks on the activation layers are gone after training.
    assert all(not module._forward_hooks for module in fitted.model.modules())


def test_gradient_flow_every_k_averages_only_the_recorded_batches():
    norms = []

    class RecordNorms(Callback):
        order = -200  # before the flow callback, in the same after-backward moment

        def on_after_backward(self, batch, logs):
            gradient = self.trainer.model[0].weight.grad.array.astype(np.float64)
            norms.append((batch, float(np.sqrt(np.sum(gradient**2)))))

    fitted = trainer()
    history = fitted.fit(
        data(n=96), epochs=1, callbacks=[RecordNorms(), GradientFlowCallback(every=2)], verbose=0
    )
    recorded = [norm for batch, norm in norms if batch % 2 == 0]  # batches 0, 2, 4 of 6
    assert len(norms) == 6 and len(recorded) == 3
    assert history["0.weight/grad_norm"][0] == pytest.approx(np.mean(recorded), rel=1e-5)
    with pytest.raises(ValueError, match="every must be a positive integer"):
        GradientFlowCallback(every=0)


def test_without_gradient_tracking_there_is_no_flow_monitor():
    fitted = trainer()
    fitted.track_grad_norms = False
    history = fitted.fit(data(), epochs=1, verbose=0)
    assert not any(isinstance(c, GradientFlowCallback) for c in fitted.callbacks)
    assert not [key for key in history.keys() if "/" in key]


def test_gradient_flow_findings_survive_a_resume(tmp_path):
    dead_relu_trainer().fit(data(), epochs=2, callbacks=[ModelCheckpoint(tmp_path)], verbose=0)
    saved = load_state(tmp_path / "checkpoint.safetensors")["callbacks"]["GradientFlowCallback"]
    assert [finding["kind"] for finding in saved["findings"]] == ["dead_units"]
    resumed = dead_relu_trainer()
    flow = GradientFlowCallback()
    checkpoint = tmp_path / "checkpoint.safetensors"
    resumed.fit(data(), epochs=2, callbacks=[flow], verbose=0, resume_from=checkpoint)
    # No epoch was left to train; the diagnosis comes back from the checkpoint.
    assert [f.kind for f in flow.findings] == ["dead_units"]
    assert "ReLU units after 1" in flow.findings[0].message


def test_without_a_recorded_batch_the_flow_monitor_claims_nothing(capsys):
    from chainrule.train import RunRecord

    fitted = trainer()
    fitted.fit(data(), epochs=0, verbose=2)
    assert "Gradient flow" not in capsys.readouterr().out
    assert RunRecord.from_trainer(fitted).gradient_findings is None  # not "healthy"
    fitted.fit(data(), epochs=1, verbose=2)
    assert "Gradient flow: no problems found" in capsys.readouterr().out
    assert RunRecord.from_trainer(fitted).gradient_findings == []
