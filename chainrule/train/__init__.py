"""Training without writing the loop: ``Trainer`` / ``fit``, callbacks, checkpoints, reports.

Example::

    >>> from chainrule.train import EarlyStopping, ModelCheckpoint, Trainer
    >>> from chainrule.utils.data import DataLoader, TensorDataset
    >>> x = chainrule.randn(96, 4)
    >>> data = TensorDataset(x, (x[:, 0] > 0).long())
    >>> train_loader = DataLoader(data, batch_size=16, shuffle=True)
    >>> val_loader = test_loader = DataLoader(data, batch_size=96)     # to keep it short
    >>> model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    >>> optimizer = optim.Adam(model.parameters(), lr=1e-2)
    >>> trainer = Trainer(model, nn.CrossEntropyLoss(), optimizer, metrics=["accuracy"])
    >>> history = trainer.fit(train_loader, val_loader, epochs=20, verbose=0,
    ...                       callbacks=[EarlyStopping(patience=3), ModelCheckpoint("runs/a")])
    >>> print(trainer.evaluate(test_loader))
    {'loss': ..., 'accuracy': ...}

The trainer watches by default: ``GradientFlowCallback`` (gradient norms, update ratios, dead
and saturated units, a diagnosis at the end) and, with validation data, ``OverfittingMonitor``
(also reachable as ``chainrule.diagnostics.OverfittingMonitor``).
"""

from chainrule.train import metrics
from chainrule.train.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    GradientFlowCallback,
    LRSchedulerCallback,
    ModelCheckpoint,
    OverfittingMonitor,
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
    "OverfittingMonitor",
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
