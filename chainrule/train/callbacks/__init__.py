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

One module per family: :mod:`~.base` (``Callback`` and the metric-watching helpers),
:mod:`~.stopping` (early stopping, divergence), :mod:`~.saving` (checkpoints),
:mod:`~.schedule` (learning rates), :mod:`~.loggers` (CSV, TensorBoard, progress),
:mod:`~.gradient_flow`, :mod:`~.overfitting` and :mod:`~.alignment` (watchers that explain
a run); all are importable from here.

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

from chainrule.train.callbacks.base import BestSoFar, Callback, monitored_value, resolve_mode
from chainrule.train.callbacks.gradient_flow import GradientFlowCallback
from chainrule.train.callbacks.loggers import CSVLogger, ProgressLogger, TensorBoardLogger, format_logs
from chainrule.train.callbacks.overfitting import OverfittingMonitor
from chainrule.train.callbacks.saving import ModelCheckpoint
from chainrule.train.callbacks.schedule import LRSchedulerCallback
from chainrule.train.callbacks.stopping import (
    Divergence,
    EarlyStopping,
    TerminateOnDivergence,
    TerminateOnNaN,
)

__all__ = [
    "BestSoFar",
    "CSVLogger",
    "Callback",
    "Divergence",
    "EarlyStopping",
    "GradientFlowCallback",
    "LRSchedulerCallback",
    "ModelCheckpoint",
    "OverfittingMonitor",
    "ProgressLogger",
    "TensorBoardLogger",
    "TerminateOnDivergence",
    "TerminateOnNaN",
    "format_logs",
    "monitored_value",
    "resolve_mode",
]
