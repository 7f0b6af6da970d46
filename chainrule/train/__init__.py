"""Training without writing the loop: ``Trainer`` / ``fit``, callbacks, checkpoints, reports.

Example::

    from chainrule.train import EarlyStopping, ModelCheckpoint, Trainer

    trainer = Trainer(model, nn.CrossEntropyLoss(), optimizer, metrics=["accuracy"])
    history = trainer.fit(train_loader, val_loader, epochs=20,
                          callbacks=[EarlyStopping(patience=3), ModelCheckpoint("runs/a")])
    print(trainer.evaluate(test_loader))

The trainer watches by default: ``GradientFlowCallback`` (gradient norms, update ratios, dead
and saturated units, a diagnosis at the end) and, with validation data,
``chainrule.diagnostics.OverfittingMonitor``.
"""

from chainrule.train import metrics
from chainrule.train.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    GradientFlowCallback,
    LRSchedulerCallback,
    ModelCheckpoint,
    ProgressLogger,
    TensorBoardLogger,
    TerminateOnDivergence,
    TerminateOnNaN,
)
from chainrule.train.checkpoint import load_model, load_state, save_model, save_state
from chainrule.train.history import History
from chainrule.train.report import ReportSection, RunRecord, write_report
from chainrule.train.trainer import Trainer, fit

__all__ = [
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "GradientFlowCallback",
    "History",
    "LRSchedulerCallback",
    "ModelCheckpoint",
    "ProgressLogger",
    "ReportSection",
    "RunRecord",
    "TensorBoardLogger",
    "TerminateOnDivergence",
    "TerminateOnNaN",
    "Trainer",
    "fit",
    "load_model",
    "load_state",
    "metrics",
    "save_model",
    "save_state",
    "write_report",
]
