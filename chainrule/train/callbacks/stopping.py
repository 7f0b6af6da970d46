"""Callbacks that end training: early stopping on a plateau, and on a diverging loss."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.train.callbacks.base import BestSoFar, Callback, monitored_value, resolve_mode

if TYPE_CHECKING:
    pass


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
        self.best = BestSoFar(self.mode, self.min_delta)
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
