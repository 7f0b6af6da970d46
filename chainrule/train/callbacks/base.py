"""The base class every callback derives from, and the helpers callbacks that watch a metric share."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

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


class BestSoFar:
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
