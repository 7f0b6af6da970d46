"""Stepping a learning-rate scheduler from the trainer (:class:`LRSchedulerCallback`)."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from chainrule.train.callbacks.base import Callback, monitored_value

if TYPE_CHECKING:
    pass


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
