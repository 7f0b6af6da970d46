"""Saving the training state after each epoch (:class:`ModelCheckpoint`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainrule.train.callbacks.base import BestSoFar, Callback, monitored_value, resolve_mode

if TYPE_CHECKING:
    pass


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
        self.best = BestSoFar(self.mode)

    @property
    def path(self) -> Path:
        return self.dirpath / self.filename

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.dirpath.mkdir(parents=True, exist_ok=True)
        self.best = BestSoFar(self.mode)
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
