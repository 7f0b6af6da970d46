"""Callbacks: small objects the :class:`~chainrule.train.Trainer` calls at fixed points of
training, to stop early, save checkpoints, step learning-rate schedules, log, or watch.

A callback overrides any of these (all do nothing by default)::

    on_train_begin(logs)          on_train_end(logs)
    on_epoch_begin(epoch, logs)   on_epoch_end(epoch, logs)     # epoch counts from 0
    on_batch_begin(batch, logs)   on_batch_end(batch, logs)     # batch logs: batch, size, loss
    on_after_backward(batch, logs)                              # between backward and step

and reaches the run through ``self.trainer`` (``model``, ``optimizer``, ``history``,
``stop_training``, ``verbose``, ``log()``). In ``on_epoch_end`` ``logs`` *is* the epoch's
history row: keys a callback adds there are recorded (and saved by the writers that run after
it). In ``on_after_backward`` each parameter's ``.grad`` holds the batch's gradient and the
weights are not yet updated (the place to inspect or clip gradients); in ``on_batch_end`` the
optimizer has stepped and ``.grad`` still holds the gradient.

Callbacks run in increasing ``order`` (then in the order given): observers that add to the logs
run first (negative), the learning-rate schedule at 10, writers (CSV, TensorBoard) at 80,
checkpoints at 90, the progress display last. A callback that holds state a resumed run needs
returns it from ``state_dict()`` (numbers, strings, lists, dicts, arrays) and takes it back in
``load_state_dict()``, which is called just after ``on_train_begin`` when a run resumes.
A callback can also add sections to the HTML report through ``report_sections()``.

Example, a whole callback::

    >>> class StopAtAccuracy(Callback):
    ...     def __init__(self, target=0.95):
    ...         self.target = target
    ...
    ...     def on_epoch_end(self, epoch, logs):
    ...         if logs.get("val_accuracy", 0.0) >= self.target:
    ...             self.trainer.log(f"reached {self.target:.0%} validation accuracy")
    ...             self.trainer.stop_training = True
    >>> from chainrule.train import Trainer
    >>> from chainrule.utils.data import DataLoader, TensorDataset
    >>> x = chainrule.randn(64, 2)
    >>> loader = DataLoader(TensorDataset(x, (x[:, 0] > 0).long()), batch_size=16)
    >>> model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    >>> trainer = Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.05),
    ...                   metrics=["accuracy"])
    >>> history = trainer.fit(loader, loader, epochs=100, callbacks=[StopAtAccuracy()], verbose=0)
    >>> len(history["epoch"]) < 100, history["val_accuracy"][-1] >= 0.95
    (True, True)
"""

from __future__ import annotations

import inspect
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from chainrule.utils.tensorboard import require_tensorboardx

if TYPE_CHECKING:
    from chainrule.train.trainer import Trainer


class Callback:
    """Base class: override the hooks you need; ``self.trainer`` is set before training."""

    order: int = 0
    trainer: Trainer

    def set_trainer(self, trainer: Trainer) -> None:
        self.trainer = trainer

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        pass

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        pass

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        pass

    def on_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        pass

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        pass

    def on_after_backward(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """After ``loss.backward()``, before ``optimizer.step()``; logs: batch, size, loss."""

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to continue exactly; empty for stateless callbacks."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def report_sections(self) -> list[Any]:
        """Extra :class:`~chainrule.train.report.ReportSection` objects for the HTML report."""
        return []


# ----------------------------------------------------------------------------- monitoring
_HIGHER_IS_BETTER = ("acc", "f1", "precision", "recall", "r2", "auc")


def resolve_mode(monitor: str, mode: str) -> str:
    """``"min"`` or ``"max"``; ``"auto"`` picks ``"max"`` for accuracy-like names."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    name = monitor.removeprefix("val_")
    return "max" if any(word in name for word in _HIGHER_IS_BETTER) else "min"


def monitored_value(callback: str, monitor: str, logs: dict[str, Any]) -> float:
    """The value of ``monitor`` in ``logs``, or an error that lists what is there."""
    if monitor not in logs:
        hint = " (validation metrics need fit(..., val_loader=...))" if monitor.startswith("val_") else ""
        available = sorted(key for key in logs if "/" not in key)
        raise KeyError(
            f"{callback}: monitor={monitor!r} is not in the epoch logs{hint}; available: {available}"
        )
    return float(logs[monitor])


class _Best:
    """Tracks the best monitored value so far, with a minimum improvement ``min_delta``."""

    def __init__(self, mode: str, min_delta: float = 0.0) -> None:
        self.mode = mode
        self.min_delta = abs(min_delta)
        self.value = math.inf if mode == "min" else -math.inf

    def improved(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.mode == "min":
            return value < self.value - self.min_delta
        return value > self.value + self.min_delta


# ------------------------------------------------------------------------ early stopping
class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved by more than ``min_delta`` for
    ``patience`` epochs in a row: the standard guard against overfitting, where validation
    loss starts rising while training loss keeps falling.

    With ``restore_best_weights`` the model ends training with the weights of its best epoch.

    Example::

        >>> from chainrule.train import Trainer
        >>> from chainrule.utils.data import DataLoader, TensorDataset
        >>> x, y = chainrule.randn(96, 4), chainrule.randint(0, 3, (96,))    # random labels
        >>> train_loader = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=16)
        >>> val_loader = DataLoader(TensorDataset(x[64:], y[64:]), batch_size=32)
        >>> model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
        >>> trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
        ...                   metrics=["accuracy"])
        >>> history = trainer.fit(train_loader, val_loader, epochs=100, verbose=0,
        ...     callbacks=[EarlyStopping("val_loss", patience=5, restore_best_weights=True)])
        >>> len(history["epoch"]) < 100     # random labels: validation loss soon stops falling
        True
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = False,
    ) -> None:
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.mode = resolve_mode(monitor, mode)
        self.restore_best_weights = restore_best_weights
        self._reset()

    def _reset(self) -> None:
        self.best = _Best(self.mode, self.min_delta)
        self.wait = 0
        self.best_epoch = 0
        self.stopped_epoch = 0
        self.best_weights: dict[str, np.ndarray] | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = monitored_value("EarlyStopping", self.monitor, logs or {})
        if self.best.improved(value):
            self.best.value = value
            self.best_epoch = epoch + 1
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = {
                    name: np.array(tensor.array) for name, tensor in self.trainer.model.state_dict().items()
                }
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch + 1
            self.trainer.stop_training = True
            self.trainer.log(
                f"EarlyStopping: {self.monitor} has not improved for {self.wait} epochs (best "
                f"{self.best.value:.4g} at epoch {self.best_epoch}); stopping after epoch {epoch + 1}"
            )

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.trainer.model.load_state_dict(self.best_weights)
            self.trainer.log(f"EarlyStopping: restored the weights of epoch {self.best_epoch}")

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best.value,
            "wait": self.wait,
            "best_epoch": self.best_epoch,
            "stopped_epoch": self.stopped_epoch,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best.value = state["best"]
        self.wait = state["wait"]
        self.best_epoch = state["best_epoch"]
        self.stopped_epoch = state["stopped_epoch"]
        self.best_weights = state["best_weights"]
        if self.stopped_epoch:
            self.trainer.stop_training = True  # the run had already ended here


# -------------------------------------------------------------------------- checkpoints
class ModelCheckpoint(Callback):
    """Save the whole training state (model, optimizer, schedule, random states, history,
    callbacks) to ``dirpath/filename`` in safetensors after each epoch; resume from it with
    ``trainer.fit(..., resume_from=path)``. Files are replaced atomically.

    ``save_best_only=True`` writes only when ``monitor`` improves; ``save_last=True`` then also
    keeps the latest epoch in ``last.safetensors``, so a run can both be resumed and keep its
    best state.

    Example::

        >>> checkpoint = ModelCheckpoint("runs/a", monitor="val_accuracy", save_best_only=True,
        ...                              save_last=True)
    """

    order = 90

    def __init__(
        self,
        dirpath: str | os.PathLike[str],
        filename: str = "checkpoint.safetensors",
        monitor: str = "val_loss",
        mode: str = "auto",
        save_best_only: bool = False,
        save_last: bool = False,
        last_filename: str = "last.safetensors",
    ) -> None:
        self.dirpath = Path(dirpath)
        self.filename = filename
        self.last_filename = last_filename
        self.monitor = monitor
        self.mode = resolve_mode(monitor, mode)
        self.save_best_only = save_best_only
        self.save_last = save_last
        self.best = _Best(self.mode)

    @property
    def path(self) -> Path:
        return self.dirpath / self.filename

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.dirpath.mkdir(parents=True, exist_ok=True)
        self.best = _Best(self.mode)
        # Per file: history rows already in its log, and the byte offset where they end.
        self._logged: dict[Path, tuple[int, int | None]] = {}
        # A process killed while writing leaves its temporary file (never the checkpoint itself).
        for name in (self.filename, self.last_filename):
            for stale in self.dirpath.glob(f".{name}.*.tmp"):
                stale.unlink(missing_ok=True)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if getattr(self.trainer, "divergence", None) is not None:
            return  # a diverged state is not worth resuming: keep the last good epoch's file
        improved = True
        if self.save_best_only:
            value = monitored_value("ModelCheckpoint", self.monitor, logs or {})
            improved = self.best.improved(value)
            if improved:
                self.best.value = value  # before taking the state, which includes this value
        keep_last = self.save_best_only and self.save_last
        if not improved and not keep_last:
            return
        state = self.trainer.state_dict()
        # The history goes to an append-only log beside the file (one line per epoch), so a
        # save costs the same at epoch 2000 as at epoch 2; the checkpoint keeps its length.
        rows = state.pop("history")
        state["history_rows"] = len(rows)
        metadata = {"epoch": str(epoch + 1)}
        if improved:
            self._save(self.path, state, rows, metadata)
        if keep_last:
            self._save(self.dirpath / self.last_filename, state, rows, metadata)

    def _save(self, path: Path, state: dict[str, Any], rows: list[Any], metadata: dict[str, str]) -> None:
        from chainrule.train.checkpoint import append_history_log, save_state

        # Log first: a process killed between the two leaves extra log lines, which the
        # checkpoint's own row count ignores and the next save cuts.
        logged, offset = self._logged.get(path, (0, None))
        self._logged[path] = (len(rows), append_history_log(path, rows, logged, offset))
        save_state(path, state, metadata)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best.value}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best.value = state["best"]


# ----------------------------------------------------------------------- learning rates
class LRSchedulerCallback(Callback):
    """Step a learning-rate scheduler once per epoch (or per batch with ``interval="batch"``).

    A scheduler whose ``step`` takes the monitored value (``ReduceLROnPlateau``) gets
    ``logs[monitor]``; ``monitor`` defaults to ``"val_loss"`` for it (``"loss"`` when there is
    no validation data). The scheduler's state is saved with checkpoints through this callback.

    Example::

        >>> optimizer = optim.SGD(nn.Linear(4, 3).parameters(), lr=0.1)
        >>> plateau = chainrule.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", patience=2)
        >>> schedule = LRSchedulerCallback(plateau, monitor="val_accuracy")   # hence mode="max"
    """

    order = 10

    def __init__(self, scheduler: Any, monitor: str | None = None, interval: str = "epoch") -> None:
        if interval not in ("epoch", "batch"):
            raise ValueError(f"LRSchedulerCallback: interval must be 'epoch' or 'batch', got {interval!r}")
        self.scheduler = scheduler
        self.monitor = monitor
        self.interval = interval
        self.needs_metric = _step_takes_metric(scheduler)

    def _step(self, logs: dict[str, Any]) -> None:
        if not self.needs_metric:
            self.scheduler.step()
            return
        monitor = self.monitor
        if monitor is None:
            monitor = "val_loss" if "val_loss" in logs else "loss"
        self.scheduler.step(monitored_value(type(self.scheduler).__name__, monitor, logs))

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.interval == "batch":
            self._step(logs or {})

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.interval == "epoch":
            self._step(logs or {})

    def state_dict(self) -> dict[str, Any]:
        return {"scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state["scheduler"])


def _step_takes_metric(scheduler: Any) -> bool:
    """True for schedulers like ReduceLROnPlateau whose ``step(metrics)`` needs a value."""
    try:
        parameters = inspect.signature(scheduler.step).parameters
    except (TypeError, ValueError):
        return False
    first = next(iter(parameters.values()), None)
    return (
        first is not None
        and first.default is inspect.Parameter.empty
        and first.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    )


# ---------------------------------------------------------------------------- loggers
class CSVLogger(Callback):
    """Keep ``path`` a CSV of the history, one row per epoch. The first epoch of a fit (or of a
    resumed one) rewrites the file atomically from the history, so a resumed run never holds
    duplicated or half-written rows; later epochs append their row, so an epoch's cost does not
    grow with the number of epochs (a new column rewrites the file once more).

    Example::

        >>> logger = CSVLogger("runs/a/metrics.csv")
    """

    order = 80

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._columns: list[str] | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._columns = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        from chainrule.train.history import csv_line, row_cells

        history = self.trainer.history
        row = history.rows[-1] if len(history) else {}
        if self._columns is None or any(key not in self._columns for key in row):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            history.to_csv(self.path)
            self._columns = history.keys()
            return
        with open(self.path, "a", newline="") as file:
            file.write(csv_line(row_cells(row, self._columns)))


class TensorBoardLogger(Callback):
    """Write training to TensorBoard under ``logdir`` (through tensorboardX, the optional
    ``tensorboard`` extra). View with ``tensorboard --logdir LOGDIR``.

    Every epoch: each number in the epoch's logs as a scalar (losses, metrics, ``lr``, the
    gradient-flow monitor's ``name/grad_norm`` and ``name/update_ratio``), and, with
    ``histograms``, each parameter's values (``weights/NAME``) and its gradient in the epoch's
    last batch (``gradients/NAME``). At the end, with ``figures`` and matplotlib, the report's
    gradient-flow plot as the image ``gradient_flow``.

    Example::

        >>> logger = TensorBoardLogger("runs/a/tensorboard")
    """

    order = 80

    def __init__(self, logdir: str | os.PathLike[str], histograms: bool = True, figures: bool = True) -> None:
        require_tensorboardx("TensorBoardLogger")
        self.logdir = str(logdir)
        self.histograms = histograms
        self.figures = figures
        self.writer: Any = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        from chainrule.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(self.logdir)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for key, value in (logs or {}).items():
            if key != "epoch" and isinstance(value, int | float) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, epoch + 1)
        if self.histograms:
            for name, param in self.trainer.model.named_parameters():
                self.writer.add_histogram(f"weights/{name}", param, epoch + 1)
                if param.grad is not None:
                    self.writer.add_histogram(f"gradients/{name}", param.grad, epoch + 1)
        self.writer.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.writer is None:
            return
        if self.figures:
            from chainrule.train.report import gradient_flow_figure

            history = self.trainer.history
            figure = gradient_flow_figure(history) if len(history) else None
            if figure is not None:
                self.writer.add_figure("gradient_flow", figure, len(history))
        self.writer.close()
        self.writer = None


@dataclass
class Divergence:
    """Where training diverged, as :class:`TerminateOnDivergence` found it.

    Attributes:
        epoch: the epoch it happened in, counted from 1.
        step: the batch of that epoch, counted from 1; ``None`` when it showed only at the
            end of the epoch (a non-finite validation loss).
        loss: the loss that gave it away (NaN, infinite, or grown by orders of magnitude).
        lr: the learning rate of the epoch.
        reason: what was seen, e.g. ``"the loss became nan"``.
    """

    epoch: int
    step: int | None
    loss: float
    lr: float
    reason: str

    @property
    def where(self) -> str:
        """``"at step 7 of epoch 1"`` or ``"at the end of epoch 1"``."""
        if self.step is None:
            return f"at the end of epoch {self.epoch}"
        return f"at step {self.step} of epoch {self.epoch}"

    def __str__(self) -> str:
        return (
            f"training diverged {self.where}: {self.reason}, with learning rate {self.lr:.3g}; try a "
            "learning rate at least 10 times lower, or gradient clipping (nn.utils.clip_grad_norm_)"
        )


class TerminateOnDivergence(Callback):
    """Stop at once when training diverges: a batch's loss is NaN or infinite, or has grown
    more than ``max_growth`` times above the run's first loss, or an epoch ends with a NaN or
    infinite validation loss. Nothing useful follows divergence, and weights that produced
    such a loss are not worth keeping.

    It leaves a :class:`Divergence` in ``trainer.divergence`` (``ModelCheckpoint`` then keeps
    the last good epoch's checkpoint instead of writing the diverged state) and, with ``log``,
    says where it happened in one line. The history keeps the epoch in which it happened, so
    the report shows it.

    Args:
        max_growth: how many times the first batch's loss a later one may reach; ``None``
            checks only for NaN and infinity. The default, three orders of magnitude, is far
            above the noise of a healthy run (losses fall from their first value).
        log: print the finding through ``trainer.log`` (the command line prints it itself).

    Example, a learning rate far too high for the data::

        >>> import chainrule
        >>> from chainrule import nn, optim
        >>> from chainrule.train import TerminateOnDivergence, Trainer
        >>> _ = chainrule.manual_seed(0)
        >>> model = nn.Linear(2, 1)
        >>> trainer = Trainer(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=10.0))
        >>> batches = [(chainrule.ones(8, 2), chainrule.zeros(8, 1))] * 10
        >>> _ = trainer.fit(batches, epochs=3, callbacks=[TerminateOnDivergence()], verbose=0)
        >>> trainer.divergence.epoch, trainer.divergence.step
        (1, 2)
        >>> trainer.divergence.reason
        'the loss grew to 2.12e+03, 3.5e+03 times its first value 0.61'
    """

    def __init__(self, max_growth: float | None = 1e3, log: bool = True) -> None:
        if max_growth is not None and not max_growth > 1:
            raise ValueError(f"TerminateOnDivergence: max_growth must be > 1 or None, got {max_growth!r}")
        self.max_growth = max_growth
        self.log = log
        self.first_loss: float | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.first_loss = None

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or self.trainer.divergence is not None:
            return
        if not math.isfinite(loss):
            self._diverged(batch + 1, loss, f"the loss became {loss}")
        elif self.first_loss is None:
            self.first_loss = float(loss)
        elif self.max_growth is not None and self.first_loss > 0 and loss > self.max_growth * self.first_loss:
            self._diverged(
                batch + 1,
                loss,
                f"the loss grew to {loss:.3g}, {loss / self.first_loss:.2g} times its first value "
                f"{self.first_loss:.3g}",
            )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.trainer.divergence is not None:
            return
        for key, name in (("loss", "the epoch's mean loss"), ("val_loss", "the validation loss")):
            value = (logs or {}).get(key)
            if value is not None and not math.isfinite(value):
                self._diverged(None, value, f"{name} became {value}")
                return

    def _diverged(self, step: int | None, loss: float, reason: str) -> None:
        trainer = self.trainer
        trainer.divergence = Divergence(
            epoch=trainer.epoch + 1,
            step=step,
            loss=float(loss),
            lr=float(trainer.optimizer.param_groups[0]["lr"]),
            reason=reason,
        )
        trainer.stop_training = True
        if self.log:
            trainer.log(f"{type(self).__name__}: {trainer.divergence}")

    def state_dict(self) -> dict[str, Any]:
        return {"first_loss": self.first_loss}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.first_loss = state.get("first_loss")


class TerminateOnNaN(TerminateOnDivergence):
    """Keras's callback: stop at once when a batch's loss (or an epoch's validation loss) is
    NaN or infinite; :class:`TerminateOnDivergence` with ``max_growth=None``.

    Example::

        >>> from chainrule.train import TerminateOnNaN
        >>> TerminateOnNaN().max_growth is None
        True
    """

    def __init__(self, log: bool = True) -> None:
        super().__init__(max_growth=None, log=log)


# ------------------------------------------------------------------------- gradient flow
# Per-batch statistics kept as per-epoch means in the history (the monitor's weight norms are
# left out: they are only the denominator of the update ratio).
_FLOW_SUFFIXES = ("/grad_norm", "/dead_fraction", "/saturated_fraction")


class GradientFlowCallback(Callback):
    """Watch how gradients flow through the network while it trains, with a
    :class:`~chainrule.diagnostics.GradientFlowMonitor`, and say what is wrong in words.

    After the backward pass of every ``every``-th batch it records, per parameter, the
    gradient's L2 norm and the relative size of the optimizer's update
    (``|W_after - W_before| / |W_before|``, of that one step), and per activation layer the
    fraction of dead ReLU units and of saturated sigmoid/tanh units. Each epoch's means go
    into the history under flat names::

        fc1.weight/grad_norm      fc1.weight/update_ratio
        relu1/dead_fraction       sig1/saturated_fraction

    At the end of every epoch the monitor diagnoses the last recorded batch; ``findings`` holds
    the latest diagnosis (a list of :class:`~chainrule.diagnostics.Finding`, empty when the flow
    is healthy: no vanishing, exploding or NaN gradients, dead ReLUs or saturated units). It is
    printed at the end of training (``verbose >= 1``) and, with ``verbose=2``, whenever it
    changes between epochs; the HTML report shows it next to the gradient-norm plot.

    ``every=None`` (the default) records every k-th batch with k = batches per epoch //
    ``RECORDS_PER_EPOCH`` (at least 1): all batches of short epochs, 50 to 100 of long ones,
    so the cost stays small on large datasets; give ``every=1`` to record each batch. The
    trainer adds this callback unless ``track_grad_norms=False`` or you pass your own.

    Example::

        >>> from chainrule.train import Trainer
        >>> from chainrule.utils.data import DataLoader, TensorDataset
        >>> x, y = chainrule.randn(96, 4), chainrule.randint(0, 3, (96,))    # random labels
        >>> train_loader = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=16)
        >>> val_loader = DataLoader(TensorDataset(x[64:], y[64:]), batch_size=32)
        >>> model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
        >>> trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
        ...                   metrics=["accuracy"])
        >>> with chainrule.no_grad():
        ...     _ = model[0].bias.fill_(-10.0)      # every hidden ReLU unit starts dead
        >>> flow = GradientFlowCallback()
        >>> history = trainer.fit(train_loader, val_loader, epochs=2, callbacks=[flow], verbose=0)
        >>> [str(finding) for finding in flow.findings]
        ['[dead_units] 100% of the ReLU units after 1 output zero for the whole batch; ...']
    """

    order = -100
    RECORDS_PER_EPOCH = 50

    def __init__(self, every: int | None = None, watch_activations: bool = True) -> None:
        if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
            raise ValueError(
                f"GradientFlowCallback: every must be a positive integer or None, got {every!r}"
            )
        self.every = every
        self._stride = every or 1
        self.watch_activations = watch_activations
        self.monitor: Any = None
        self.findings: list[Any] = []
        self._diagnosed = False  # whether findings hold a diagnosis (not just nothing yet)
        self._announced: list[tuple[str, str]] = []
        self._reset_epoch()

    def _reset_epoch(self) -> None:
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}
        self._weights_before: dict[str, np.ndarray] | None = None

    def _add(self, key: str, value: float) -> None:
        self._sums[key] = self._sums.get(key, 0.0) + value
        self._counts[key] = self._counts.get(key, 0) + 1

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        from chainrule.diagnostics.gradient_flow import GradientFlowMonitor

        self._detach()  # a previous fit that raised may have left its hooks on the model
        self.monitor = GradientFlowMonitor(self.trainer.model, watch_activations=self.watch_activations,
                                           track_update_ratio=False)  # measured per step below
        self._stride = self.every or self._automatic_stride()
        self.findings = []
        self._diagnosed = False
        self._announced = []

    def _automatic_stride(self) -> int:
        try:
            batches = len(self.trainer.train_loader)
        except TypeError:  # an iterable without a length: record every batch
            return 1
        return max(1, batches // self.RECORDS_PER_EPOCH)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._reset_epoch()

    def on_after_backward(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if batch % self._stride:
            return
        for key, value in self.monitor.record().items():
            if key.endswith(_FLOW_SUFFIXES):
                self._add(key, value)
        # The update ratio is measured on this step alone (weights before and after it), so
        # it needs no state across batches and a resumed run records the same numbers.
        self._weights_before = {
            name: np.array(param.array, copy=True)
            for name, param in self.trainer.model.named_parameters()
            if param.grad is not None
        }

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._weights_before is None:
            return
        for name, param in self.trainer.model.named_parameters():
            before = self._weights_before.get(name)
            if before is None:
                continue
            before_norm = _l2_norm(before)
            self._add(f"{name}/update_ratio", _l2_norm(param.array - before) / (before_norm or 1.0))
        self._weights_before = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not self._counts:
            return
        if logs is not None:
            for key, total in self._sums.items():
                logs[key] = total / self._counts[key]
        self.findings = self.monitor.diagnose()
        self._diagnosed = True
        self.monitor.history.clear()  # diagnose() needs only the last record; keep memory flat
        if self.trainer.verbose == 2:
            self._announce_changes(epoch)

    def _announce_changes(self, epoch: int) -> None:
        current = [(finding.kind, finding.layer) for finding in self.findings]
        if current == self._announced:
            return
        if not self.findings:
            self.trainer.log(f"Gradient flow after epoch {epoch + 1}: no problems any more")
        for finding in self.findings:
            self.trainer.log(f"Gradient flow after epoch {epoch + 1}: {finding}")
        self._announced = current

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._detach()
        for line in self.summary_lines():
            self.trainer.log(line)

    def summary_lines(self) -> list[str]:
        """The diagnosis as printed at the end of training: a headline, then one line per
        finding (``[kind] message; hint``)."""
        if not self._diagnosed:
            return []  # no batch was recorded: nothing to say either way
        if not self.findings:
            return [
                "Gradient flow: no problems found (checked for vanishing, exploding and NaN "
                "gradients, dead ReLUs and saturated units)"
            ]
        count = len(self.findings)
        headline = f"Gradient flow: {count} finding{'s' if count > 1 else ''} in the last epoch"
        return [headline] + [f"  {finding}" for finding in self.findings]

    @property
    def diagnosed(self) -> bool:
        """True once ``findings`` holds a diagnosis (at least one batch recorded, or restored
        from a checkpoint); an empty ``findings`` then means healthy flow."""
        return self._diagnosed

    def _detach(self) -> None:
        if self.monitor is not None:
            self.monitor.remove()

    def state_dict(self) -> dict[str, Any]:
        return {
            "diagnosed": self._diagnosed,
            "findings": [
                {
                    "kind": f.kind,
                    "layer": f.layer,
                    "message": f.message,
                    "hint": f.hint,
                    "figures": {key: float(value) for key, value in f.figures.items()},
                }
                for f in self.findings
            ]
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from chainrule.diagnostics.gradient_flow import Finding

        self.findings = [Finding(**saved) for saved in state.get("findings", [])]
        self._diagnosed = bool(state.get("diagnosed", True))
        self._announced = [(finding.kind, finding.layer) for finding in self.findings]


def _l2_norm(array: np.ndarray) -> float:
    flat = np.asarray(array).ravel()
    # vdot of a float32 array with itself stays float32 and makes no temporary.
    return math.sqrt(float(np.vdot(flat, flat)))


# ------------------------------------------------------------------------------ progress
# tqdm's layout without its own rate, which would count validation time; ours is in the postfix.
_BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"


class ProgressLogger(Callback):
    """Show progress: a live tqdm bar per epoch with the running loss and samples/s
    (``verbose=1`` on a terminal), or one line per epoch (``verbose=2``, or ``verbose=1`` when
    the output is not a terminal, e.g. a log file or CI). A finished bar gives way to that
    line, which keeps every metric however narrow the terminal.

    The trainer adds it when ``verbose > 0``.
    """

    order = 1000

    def __init__(self, verbose: int = 1, stream: TextIO | None = None) -> None:
        self.verbose = verbose
        self.stream = stream
        self.bar: Any = None

    def _out(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stdout

    @property
    def uses_bar(self) -> bool:
        stream = self._out()
        return self.verbose == 1 and hasattr(stream, "isatty") and stream.isatty()

    def write(self, message: str) -> None:
        """Print a message without breaking a live bar."""
        if self.bar is not None:
            self.bar.write(message, file=self._out())
        else:
            print(message, file=self._out(), flush=True)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()
        self._samples = 0
        self._loss_sum = 0.0
        self._train_seconds = 0.0
        if self.uses_bar:
            from tqdm.auto import tqdm

            loader = self.trainer.train_loader
            total = (
                len(loader.dataset)
                if hasattr(loader, "dataset") and hasattr(loader.dataset, "__len__")
                else None
            )
            self.bar = tqdm(
                total=total,
                desc=f"Epoch {epoch + 1}/{self.trainer.epochs}",
                unit=" samples",
                bar_format=_BAR_FORMAT,
                leave=False,  # replaced by the epoch's line when done
                file=self._out(),
                dynamic_ncols=True,
            )

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        size = int(logs.get("size", 1))
        self._samples += size
        self._loss_sum += float(logs.get("loss", math.nan)) * size
        self._train_seconds = time.perf_counter() - self._start  # throughput leaves out validation
        if self.bar is not None:
            self.bar.update(size)
            running_loss = self._loss_sum / max(self._samples, 1)
            self.bar.set_postfix_str(f"loss {running_loss:.4f}, {self._rate()}", refresh=False)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        if self.bar is not None:
            # tqdm cuts a bar to the terminal's width, which cut the metrics off the finished bar
            # ("loss 2.1073  accura"); a plain line wraps instead.
            self.bar.close()
            self.bar = None
        elapsed = logs.get("time", time.perf_counter() - self._start)
        print(
            f"Epoch {epoch + 1}/{self.trainer.epochs}  {format_logs(logs)}  {elapsed:.1f}s ({self._rate()})",
            file=self._out(),
            flush=True,
        )

    def _rate(self) -> str:
        """Training throughput so far this epoch, e.g. ``"25,299 samples/s"``."""
        if self._train_seconds <= 0:
            return "- samples/s"
        return f"{self._samples / self._train_seconds:,.0f} samples/s"

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def format_logs(logs: dict[str, Any]) -> str:
    """``loss 0.4123  accuracy 0.8812  val_loss ...``: the headline numbers of an epoch."""
    parts = []
    for key, value in logs.items():
        if key in ("epoch", "time") or "/" in key:
            continue
        if isinstance(value, float | int) and not isinstance(value, bool):
            # Four decimals suit losses and scores; an exploding loss reads better as 2.71e+14.
            wide = key == "lr" or not abs(value) < 1e5
            parts.append(f"{key} {value:.4g}" if wide else f"{key} {value:.4f}")
    return "  ".join(parts)
