"""``History``: what happened in each epoch of training, one flat row of numbers per epoch.

A row holds ``epoch`` (1-based: the number of epochs completed), training metrics (``loss``,
``accuracy``...), validation metrics with a ``val_`` prefix (``val_loss``...), the learning rate
``lr``, the epoch's wall time ``time`` in seconds, and per-parameter gradient norms named like
``fc1.weight/grad_norm``. Names are flat strings, so the history is a table: ``to_csv`` writes it
and ``history["val_loss"]`` reads one column.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any


class History:
    """Per-epoch records of a training run.

    Example::

        >>> from chainrule.train import Trainer
        >>> from chainrule.utils.data import DataLoader, TensorDataset
        >>> x = chainrule.randn(96, 4)
        >>> y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()      # three classes
        >>> train_loader = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=16)
        >>> val_loader = DataLoader(TensorDataset(x[64:], y[64:]), batch_size=32)
        >>> model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
        >>> trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
        ...                   metrics=["accuracy"])
        >>> history = trainer.fit(train_loader, val_loader, epochs=5, verbose=0)
        >>> [round(loss, 2) for loss in history["val_loss"]]     # one value per epoch
        [1.02, 0.98, 0.95, 0.93, 0.91]
        >>> history.best("val_loss")            # (epoch, value) of the lowest
        (5, 0.908...)
        >>> csv_text = history.to_csv("metrics.csv")
    """

    def __init__(self, rows: Sequence[Mapping[str, float]] | None = None) -> None:
        self.rows: list[dict[str, float]] = [dict(row) for row in rows or []]

    def append(self, row: dict[str, float]) -> None:
        """Add one epoch's row. The dict is kept as is (not copied), so a callback that adds
        keys to ``logs`` in ``on_epoch_end`` adds them to this row too."""
        self.rows.append(row)

    def keys(self) -> list[str]:
        """Every column name, in the order first seen."""
        seen: dict[str, None] = {}
        for row in self.rows:
            seen.update(dict.fromkeys(row))
        return list(seen)

    def __getitem__(self, key: str) -> list[float]:
        """One column: a value per epoch (NaN for epochs that did not record ``key``)."""
        if key not in self:
            raise KeyError(f"History has no {key!r}; it records {self.keys()}")
        return [row.get(key, math.nan) for row in self.rows]

    def __contains__(self, key: object) -> bool:
        return any(key in row for row in self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, float]]:
        return iter(self.rows)

    def __repr__(self) -> str:
        return f"History(epochs={len(self)}, keys={self.keys()})"

    @property
    def epochs(self) -> list[int]:
        return [int(row["epoch"]) for row in self.rows]

    def last(self, key: str, default: float = math.nan) -> float:
        """The latest recorded value of ``key`` (``default`` if never recorded)."""
        for row in reversed(self.rows):
            if key in row:
                return row[key]
        return default

    def best(self, key: str, mode: str = "min") -> tuple[int, float]:
        """``(epoch, value)`` where ``key`` was lowest (``mode="min"``) or highest (``"max"``);
        NaNs are ignored, ties go to the earliest epoch."""
        if mode not in ("min", "max"):
            raise ValueError(f"History.best: mode must be 'min' or 'max', got {mode!r}")
        candidates = [
            (row["epoch"], row[key]) for row in self.rows if key in row and not math.isnan(row[key])
        ]
        if not candidates:
            raise ValueError(f"History.best: no epoch recorded a number for {key!r}")
        sign = 1.0 if mode == "min" else -1.0
        epoch, value = min(candidates, key=lambda pair: sign * pair[1])
        return int(epoch), value

    def to_dict(self) -> dict[str, list[float]]:
        """``{column: [value per epoch]}``, as Keras's ``history.history``."""
        return {key: self[key] for key in self.keys()}

    def to_csv(self, path: str | os.PathLike[str] | None = None) -> str:
        """Write (atomically) or return the history as CSV, one row per epoch. Floats are
        written with ``repr`` so reading them back gives the same numbers bit for bit."""
        columns = self.keys()
        text = csv_line(columns) + "".join(csv_line(row_cells(row, columns)) for row in self.rows)
        if path is not None:
            from chainrule.files import atomic_write_bytes

            atomic_write_bytes(path, text.encode())
        return text

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> History:
        """Read a file written by :meth:`to_csv` (empty cells mean "not recorded")."""
        with open(path, newline="") as file:
            rows = [
                {key: float(value) for key, value in row.items() if value != ""}
                for row in csv.DictReader(file)
            ]
        return cls(rows)


def row_cells(row: Mapping[str, Any], columns: list[str]) -> list[str]:
    """One epoch's CSV cells in ``columns`` order ("" where the row did not record a column)."""
    return ["" if key not in row else _format_number(row[key]) for key in columns]


def csv_line(cells: list[str]) -> str:
    """One CSV line (quoted as needed), ending in a newline."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


def _format_number(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    return repr(float(value))
