"""Writers and displays: metrics.csv, TensorBoard event files, the progress bar."""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from chainrule.train.callbacks.base import Callback
from chainrule.utils.tensorboard import require_tensorboardx

if TYPE_CHECKING:
    pass


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
            from chainrule.train.report_sections import gradient_flow_figure

            history = self.trainer.history
            figure = gradient_flow_figure(history) if len(history) else None
            if figure is not None:
                self.writer.add_figure("gradient_flow", figure, len(history))
        self.writer.close()
        self.writer = None


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
