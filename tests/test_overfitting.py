"""Overfitting detection: flagged at the right epoch on curves built by hand, not flagged on
noise, joint rises or recoveries; patience respected; the monitor plugs into the Trainer."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
from chainrule import nn, optim
from chainrule.diagnostics.gradient_flow import Finding
from chainrule.diagnostics.overfitting import detect_overfitting
from chainrule.train import Callback, Trainer
from chainrule.train.callbacks.overfitting import OverfittingMonitor
from chainrule.utils.data import DataLoader, TensorDataset

# Twelve epochs: training loss falls throughout; validation loss is best at epoch 6 (0.40),
# then rises for six epochs.
TRAIN = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2]
VAL = [1.1, 0.9, 0.7, 0.55, 0.45, 0.40, 0.42, 0.45, 0.5, 0.56, 0.62, 0.7]


def test_rising_validation_loss_is_flagged_from_the_epoch_after_the_best():
    finding = detect_overfitting(TRAIN, VAL, patience=3)
    assert isinstance(finding, Finding)
    assert finding.kind == "overfitting" and finding.layer == ""
    figures = finding.figures
    assert figures["best_epoch"] == 6
    assert figures["began_epoch"] == 7
    assert figures["best_val_loss"] == pytest.approx(0.40)
    assert figures["last_val_loss"] == pytest.approx(0.7)
    assert figures["train_loss_drop"] == pytest.approx(0.5 - 0.2)
    assert figures["gap"] == pytest.approx(0.7 - 0.2)
    assert "epoch 7" in finding.message
    assert "0.5" in finding.message  # the gap between validation and training loss, 0.5


def test_hint_names_the_remedies_chainrule_has():
    hint = detect_overfitting(TRAIN, VAL).hint
    remedies = ("AdamW", "weight_decay=", "nn.Dropout", "EarlyStopping", "chainrule.utils.data.transforms")
    for remedy in remedies:
        assert remedy in hint


@pytest.mark.parametrize("rising_epochs, patience, flagged", [
    (2, 3, False), (3, 3, True), (2, 2, True), (5, 6, False), (6, 6, True), (1, 1, True),
])
def test_patience_counts_epochs_above_the_best(rising_epochs, patience, flagged):
    best_at = 6  # 1-based
    train = [1.0 - 0.05 * epoch for epoch in range(best_at + rising_epochs)]
    val = [1.0 - 0.1 * epoch for epoch in range(best_at)]
    val += [val[-1] + 0.05 * (step + 1) for step in range(rising_epochs)]
    finding = detect_overfitting(train, val, patience=patience)
    assert (finding is not None) == flagged
    if flagged:
        assert finding.figures["began_epoch"] == best_at + 1


def test_noise_within_min_delta_is_not_a_rise():
    train = [1.0, 0.8, 0.6, 0.5, 0.4, 0.35, 0.3, 0.25, 0.2]
    val = [1.0, 0.8, 0.6, 0.55, 0.50, 0.505, 0.503, 0.508, 0.504]
    assert detect_overfitting(train, val, patience=3, min_delta=0.01) is None
    # Without the tolerance the same wiggles, all above the best, do count.
    assert detect_overfitting(train, val, patience=3, min_delta=0.0).figures["began_epoch"] == 6


def test_small_improvements_within_min_delta_do_not_reset_the_best():
    # Epoch 5 improves by only 0.002: with min_delta=0.01 the best stays at epoch 4.
    train = [1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    val = [1.0, 0.8, 0.6, 0.50, 0.498, 0.53, 0.56, 0.60]
    assert detect_overfitting(train, val, patience=3, min_delta=0.01).figures["best_epoch"] == 4
    assert detect_overfitting(train, val, patience=3, min_delta=0.0).figures["best_epoch"] == 5


def test_both_losses_rising_is_instability_not_overfitting():
    train = [1.0, 0.8, 0.6, 0.5, 0.6, 0.8, 1.1]
    val = [1.0, 0.8, 0.6, 0.5, 0.7, 0.9, 1.3]
    assert detect_overfitting(train, val, patience=3) is None


def test_flat_training_loss_is_not_falling():
    train = [1.0, 0.8, 0.6, 0.6, 0.6, 0.6]
    val = [1.0, 0.8, 0.6, 0.7, 0.8, 0.9]
    assert detect_overfitting(train, val, patience=3) is None


def test_recovery_to_a_new_best_clears_the_flag():
    train = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
    val = [1.0, 0.6, 0.7, 0.8, 0.9, 0.5, 0.45, 0.4]
    assert detect_overfitting(train[:5], val[:5], patience=3) is not None
    assert detect_overfitting(train, val, patience=3) is None


def test_healthy_short_empty_and_nan_curves_are_not_flagged():
    falling = [1.0, 0.8, 0.6, 0.4, 0.3]
    assert detect_overfitting(falling, [x + 0.1 for x in falling]) is None
    assert detect_overfitting([1.0, 0.5], [1.0, 2.0], patience=3) is None
    assert detect_overfitting([], []) is None
    assert detect_overfitting([1.0, 0.8], [float("nan"), float("nan")], patience=1) is None
    # A NaN epoch is not a rise, so it breaks the run of rising epochs.
    assert detect_overfitting([1, 0.9, 0.8, 0.7, 0.6], [1, 0.5, 0.6, float("nan"), 0.7]) is None


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="4 epochs but val_loss has 3"):
        detect_overfitting([1, 2, 3, 4], [1, 2, 3])
    with pytest.raises(ValueError, match="patience"):
        detect_overfitting([1], [1], patience=0)
    with pytest.raises(ValueError, match="min_delta"):
        detect_overfitting([1], [1], min_delta=-0.1)
    with pytest.raises(TypeError, match="val_loss"):
        detect_overfitting([1], ["high"])


# ------------------------------------------------------------------------------ monitor
def feed(monitor: OverfittingMonitor, train, val) -> None:
    for epoch, (loss, val_loss) in enumerate(zip(train, val)):
        monitor.on_epoch_end(epoch, {"epoch": epoch + 1, "loss": loss, "val_loss": val_loss})


def test_monitor_reports_once_when_the_flag_first_rises(capsys):
    monitor = OverfittingMonitor(patience=3)
    assert isinstance(monitor, Callback)
    feed(monitor, TRAIN[:8], VAL[:8])  # only two epochs above the best so far
    assert monitor.finding is None
    assert capsys.readouterr().out == ""
    for epoch in range(8, len(TRAIN)):
        monitor.on_epoch_end(epoch, {"loss": TRAIN[epoch], "val_loss": VAL[epoch]})
    out = capsys.readouterr().out
    assert out.count("Overfitting") == 1
    assert "since epoch 7" in out
    # The finding is the one of epoch 9, when the third rising epoch arrived.
    assert monitor.finding.figures == detect_overfitting(TRAIN[:9], VAL[:9]).figures
    assert monitor.train_loss == TRAIN and monitor.val_loss == VAL


def test_monitor_needs_val_loss():
    with pytest.raises(KeyError, match="val_loader"):
        OverfittingMonitor().on_epoch_end(0, {"loss": 1.0})
    with pytest.raises(ValueError, match="patience"):
        OverfittingMonitor(patience=0)


def test_monitor_state_round_trip_keeps_the_finding_without_repeating_it(capsys):
    monitor = OverfittingMonitor(patience=3)
    feed(monitor, TRAIN, VAL)
    capsys.readouterr()
    restored = OverfittingMonitor(patience=3)
    restored.load_state_dict(monitor.state_dict())
    assert restored.finding.figures == monitor.finding.figures
    restored.on_epoch_end(len(TRAIN), {"loss": 0.1, "val_loss": 0.8})
    assert capsys.readouterr().out == ""


def test_monitor_in_a_real_training_run_with_random_labels(capsys):
    # Random labels cannot be predicted: the network can only memorise the 16 training
    # samples, so validation loss climbs while training loss falls.
    chainrule.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    y = rng.integers(0, 2, 40)
    train = DataLoader(TensorDataset(x[:16], y[:16]), batch_size=16)
    val = DataLoader(TensorDataset(x[16:], y[16:]), batch_size=64)
    model = nn.Sequential(nn.Linear(5, 64), nn.ReLU(), nn.Linear(64, 2))
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.02),
                      track_grad_norms=False)
    monitor = OverfittingMonitor(patience=3)
    history = trainer.fit(train, val, epochs=12, callbacks=[monitor], verbose=2)
    assert monitor.train_loss == pytest.approx(list(history["loss"]))
    assert monitor.val_loss == pytest.approx(list(history["val_loss"]))
    assert monitor.finding is not None
    began = monitor.finding.figures["began_epoch"]
    found_at = monitor.state_dict()["found_after"]
    expected = detect_overfitting(history["loss"][:found_at], history["val_loss"][:found_at])
    assert began == expected.figures["began_epoch"]
    assert history["val_loss"][began - 1] > history["val_loss"][began - 2]
    assert capsys.readouterr().out.count("Overfitting:") == 1
