"""The trainer's overfitting watcher (:class:`OverfittingMonitor`): the curves are judged by
:func:`chainrule.diagnostics.detect_overfitting`; this callback feeds it each epoch and says
what it finds."""

from __future__ import annotations

from typing import Any

from chainrule.diagnostics.gradient_flow import Finding
from chainrule.diagnostics.overfitting import detect_overfitting
from chainrule.train.callbacks.base import Callback


class OverfittingMonitor(Callback):
    """A Trainer callback that watches ``loss`` and ``val_loss`` after each epoch and, the
    first time :func:`detect_overfitting` flags the curves, says so once, in words (through
    the trainer's log, or printed when used on its own), and keeps the finding in
    ``self.finding``. Training is not stopped; for that add ``EarlyStopping``.

    Example::

        >>> from chainrule.train import Trainer
        >>> from chainrule.utils.data import DataLoader, TensorDataset
        >>> x, y = chainrule.randn(64, 8), chainrule.randint(0, 2, (64,))   # labels to memorise
        >>> train_loader = DataLoader(TensorDataset(x[:32], y[:32]), batch_size=8)
        >>> val_loader = DataLoader(TensorDataset(x[32:], y[32:]), batch_size=32)
        >>> model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 2))
        >>> trainer = Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2))
        >>> monitor = OverfittingMonitor(patience=3)
        >>> history = trainer.fit(train_loader, val_loader, epochs=30, callbacks=[monitor], verbose=0)
        >>> monitor.finding.figures["began_epoch"]   # None if it never overfitted
        3
    """

    def __init__(self, patience: int = 3, min_delta: float = 0.0) -> None:
        detect_overfitting([], [], patience, min_delta)  # checks the arguments now
        self.patience = patience
        self.min_delta = min_delta
        self._reset()

    def _reset(self) -> None:
        self.train_loss: list[float] = []
        self.val_loss: list[float] = []
        self.finding: Finding | None = None
        self._found_after: int | None = None  # number of epochs seen when it was found

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        for key in ("loss", "val_loss"):
            if key not in logs:
                hint = " (fit needs a val_loader to compute it)" if key == "val_loss" else ""
                available = sorted(name for name in logs if "/" not in name)
                raise KeyError(
                    f"OverfittingMonitor: {key!r} is not in the epoch logs{hint}; available: {available}"
                )
        self.train_loss.append(float(logs["loss"]))
        self.val_loss.append(float(logs["val_loss"]))
        if self.finding is not None:
            return
        self.finding = detect_overfitting(self.train_loss, self.val_loss, self.patience, self.min_delta)
        if self.finding is not None:
            self._found_after = len(self.val_loss)
            self._say(f"Overfitting: {self.finding.message}. Try: {self.finding.hint}.")

    def _say(self, text: str) -> None:
        trainer = getattr(self, "trainer", None)
        if trainer is not None:
            trainer.log(text)
        else:
            print(text)

    def state_dict(self) -> dict[str, Any]:
        # The curves are the history's loss and val_loss columns, which a checkpoint already
        # keeps (append-only): saving them again here would make each save grow with the epochs.
        trainer = getattr(self, "trainer", None)
        saved: dict[str, Any] = {"found_after": -1 if self._found_after is None else self._found_after}
        if trainer is None:
            saved.update(train_loss=list(self.train_loss), val_loss=list(self.val_loss))
        return saved

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "train_loss" in state:
            train_loss, val_loss = state["train_loss"], state["val_loss"]
        else:  # rebuilt from the trainer's restored history
            rows = self.trainer.history.rows
            train_loss = [row["loss"] for row in rows]
            val_loss = [row["val_loss"] for row in rows]
        self.train_loss = [float(value) for value in train_loss]
        self.val_loss = [float(value) for value in val_loss]
        found_after = int(state["found_after"])
        self._found_after = None if found_after < 0 else found_after
        self.finding = None
        if self._found_after is not None:  # rebuilt as it was when first reported, not said again
            self.finding = detect_overfitting(
                self.train_loss[:found_after], self.val_loss[:found_after], self.patience, self.min_delta
            )
