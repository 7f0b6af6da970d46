"""Load a table from a CSV file into standardised, one-hot encoded NumPy arrays.

Every statistic (means, standard deviations, category lists) is fitted on the training split
only and then applied to both splits, so nothing about the test rows leaks into training.
"""

from __future__ import annotations

import csv as csv_module
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.datasets._base import DatasetSplits, train_test_indices

# Cell values read as "no value" (compared after stripping and lower-casing).
MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})

_TASKS = ("auto", "classification", "regression")
_NA_POLICIES = ("error", "mean")


@dataclass
class _Column:
    name: str
    cells: list[str]  # stripped text, one per data row
    lines: list[int]  # the file line each cell came from, for error messages

    def is_missing(self) -> np.ndarray:
        return np.array([cell.lower() in MISSING_MARKERS for cell in self.cells], dtype=bool)

    def as_numbers(self) -> np.ndarray | None:
        """The column as float64 with NaN where missing, or None if any cell is not a number."""
        values = np.full(len(self.cells), np.nan)
        for row, cell in enumerate(self.cells):
            if cell.lower() in MISSING_MARKERS:
                continue
            try:
                values[row] = float(cell)
            except ValueError:
                return None
        return values


def _read_table(path: Path, delimiter: str) -> list[_Column]:
    with open(path, newline="", encoding="utf-8-sig") as handle:  # -sig drops Excel's BOM
        reader = csv_module.reader(handle, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path} is empty; expected a header row with column names")
        names = [name.strip() for name in header]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"{path}: column names {duplicated} appear more than once")
        columns = [_Column(name, [], []) for name in names]
        for cells in reader:
            if all(not cell.strip() for cell in cells):
                continue  # blank lines are layout, not data
            if len(cells) != len(names):
                raise ValueError(
                    f"{path}, line {reader.line_num}: {len(cells)} fields but the header has "
                    f"{len(names)}; check for a stray delimiter or a missing quote"
                )
            for column, cell in zip(columns, cells):
                column.cells.append(cell.strip())
                column.lines.append(reader.line_num)
    if not columns[0].cells:
        raise ValueError(f"{path} has a header but no data rows")
    return columns


def _reject_infinite(column: _Column, values: np.ndarray) -> None:
    infinite = np.flatnonzero(np.isinf(values))
    if len(infinite):
        row = infinite[0]
        raise ValueError(
            f"column {column.name!r}, line {column.lines[row]}: value {column.cells[row]!r} is "
            f"infinite; replace it with a finite number or leave the cell empty"
        )


def _target(
    column: _Column, task: str, max_classes: int
) -> tuple[np.ndarray, str, list[Any] | None]:
    missing = np.flatnonzero(column.is_missing())
    if len(missing):
        row = missing[0]
        raise ValueError(
            f"target column {column.name!r} has no value on line {column.lines[row]} "
            f"({len(missing)} rows in all); targets cannot be imputed, drop those rows"
        )
    numbers = column.as_numbers()
    if numbers is not None:
        _reject_infinite(column, numbers)
    if task == "auto":
        integer_valued = numbers is not None and bool(np.all(numbers == np.round(numbers)))
        few_values = numbers is not None and len(np.unique(numbers)) <= max_classes
        is_classification = numbers is None or (integer_valued and few_values)
        task = "classification" if is_classification else "regression"
    if task == "regression":
        if numbers is None:
            bad = next(cell for cell in column.cells if _not_a_number(cell))
            raise ValueError(
                f"task='regression' needs a numeric target, but column {column.name!r} holds "
                f"text such as {bad!r}; use task='classification' or pick another column"
            )
        return numbers.astype(np.float32), task, None

    if numbers is not None:
        classes_found, labels = np.unique(numbers, return_inverse=True)
        # Integer class values read back as ints, e.g. 3 rather than 3.0.
        classes = [
            int(value) if float(value).is_integer() else float(value) for value in classes_found
        ]
    else:
        classes_found, labels = np.unique(np.array(column.cells, dtype=object), return_inverse=True)
        classes = [str(value) for value in classes_found]
    return labels.astype(np.int64), task, classes


def _not_a_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return True
    return False


def csv(
    path: str | os.PathLike,
    target: str,
    test_size: float | int = 0.2,
    seed: int = 0,
    categorical: Sequence[str] | None = None,
    *,
    task: str = "auto",
    na: str = "error",
    delimiter: str = ",",
    max_classes: int = 20,
) -> DatasetSplits:
    """Load a CSV table with a header row as a train/test split ready for a network.

    Features: a column is numeric if every present value parses as a number, otherwise (or if
    named in ``categorical``) it is categorical. Numeric columns are standardised with the mean
    and standard deviation of the training split (a constant column keeps standard deviation 1).
    Categorical columns are one-hot encoded with the categories seen in the training split; a
    value seen only in the test split (or a missing one) encodes as all zeros. Feature columns
    keep the file's order, a categorical column expanding in place into ``"name=value"`` columns.

    Missing values are empty cells or ``NA``, ``N/A``, ``NaN``, ``null``, ``None``, ``?`` (any
    case). In a numeric column they raise an error naming the column and line unless
    ``na="mean"``, which fills them with the training mean (0 after standardising).

    Task (``task="auto"``): classification if the target column holds text, or holds only whole
    numbers with at most ``max_classes`` distinct values; regression otherwise. Class labels
    are mapped to ``0..K-1`` in sorted order and ``classes[k]`` gives the original value. The
    split is stratified for classification, plain random for regression, fixed by ``seed``.

    Args:
        path: the CSV file; the first row names the columns.
        target: name of the column to predict.
        test_size: fraction (or count) of rows in the test split.
        seed: seed of the split.
        categorical: column names to treat as categories even though they hold numbers
            (e.g. postcodes).
        task: ``"auto"``, ``"classification"`` or ``"regression"``.
        na: ``"error"`` or ``"mean"``, what to do with missing numeric feature values.
        delimiter: the field separator, e.g. ``";"`` or ``"\\t"``.
        max_classes: the most distinct whole-number target values ``task="auto"`` still
            treats as classes.

    Returns:
        DatasetSplits named after the file, with x float32 of shape ``(N, D)``, y int64 class
        indices or float32 values, ``feature_names``, ``classes`` and the fitted statistics in
        ``preprocessing``.

    Example:
        >>> data = csv("penguins.csv", target="species", categorical=["island"])  # yours  # doctest: +SKIP
        >>> data.classes  # doctest: +SKIP
        ['Adelie', 'Chinstrap', 'Gentoo']
    """
    if task not in _TASKS:
        raise ValueError(f"task must be one of {list(_TASKS)}, got {task!r}")
    if na not in _NA_POLICIES:
        raise ValueError(f"na must be one of {list(_NA_POLICIES)}, got {na!r}")
    path = Path(path)
    columns = _read_table(path, delimiter)
    by_name = {column.name: column for column in columns}
    if target not in by_name:
        raise ValueError(f"{path} has no column {target!r}; its columns are {list(by_name)}")
    categorical = [] if categorical is None else list(categorical)
    unknown = [name for name in categorical if name not in by_name]
    if unknown:
        raise ValueError(
            f"categorical names {unknown} are not columns of {path}; its columns are "
            f"{list(by_name)}"
        )
    if target in categorical:
        raise ValueError(
            f"the target {target!r} is listed in categorical; to treat a numeric target as "
            f"classes pass task='classification' instead"
        )

    y, task, classes = _target(by_name[target], task, max_classes)
    try:
        train_idx, test_idx = train_test_indices(
            len(y), test_size, seed, stratify=y if task == "classification" else None
        )
    except ValueError as err:
        raise ValueError(
            f"{path}: {err}. If {target!r} is a quantity rather than a class, pass "
            f"task='regression'"
        ) from err

    train_blocks, test_blocks, feature_names = [], [], []
    preprocessing: dict[str, Any] = {"target": target, "task": task, "numeric": {}, "categories": {}}
    for column in columns:
        if column.name == target:
            continue
        numbers = None if column.name in categorical else column.as_numbers()
        if numbers is None:
            encoded, categories = _one_hot(column, train_idx)
            preprocessing["categories"][column.name] = categories
            feature_names.extend(f"{column.name}={category}" for category in categories)
        else:
            encoded, stats = _standardize_column(column, numbers, train_idx, na)
            preprocessing["numeric"][column.name] = stats
            feature_names.append(column.name)
        train_blocks.append(encoded[train_idx])
        test_blocks.append(encoded[test_idx])
    if not feature_names:
        raise ValueError(f"{path} has no feature columns besides the target {target!r}")

    return DatasetSplits(
        x_train=np.concatenate(train_blocks, axis=1).astype(np.float32),
        y_train=y[train_idx],
        x_test=np.concatenate(test_blocks, axis=1).astype(np.float32),
        y_test=y[test_idx],
        name=path.stem,
        num_classes=None if classes is None else len(classes),
        feature_names=feature_names,
        classes=classes,
        preprocessing=preprocessing,
    )


def _standardize_column(
    column: _Column, values: np.ndarray, train_idx: np.ndarray, na: str
) -> tuple[np.ndarray, dict[str, float]]:
    """Standardise one numeric column with training statistics; returns shape (N, 1)."""
    _reject_infinite(column, values)
    missing = np.isnan(values)
    if missing.any() and na == "error":
        rows = np.flatnonzero(missing)
        lines = ", ".join(str(column.lines[row]) for row in rows[:5])
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        raise ValueError(
            f"column {column.name!r} has missing values on line(s) {lines}{more}; fill them in, "
            f"drop those rows, or pass na='mean' to fill them with the training mean"
        )
    observed_train = values[train_idx][~missing[train_idx]]
    if len(observed_train) == 0:
        raise ValueError(
            f"column {column.name!r} has no values in the training split, so it cannot be "
            f"standardised; drop the column"
        )
    mean = float(observed_train.mean())
    std = float(observed_train.std())
    if std == 0.0 or not math.isfinite(std):
        std = 1.0
    filled = np.where(missing, mean, values)
    return ((filled - mean) / std)[:, None], {"mean": mean, "std": std}


def _one_hot(column: _Column, train_idx: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """One-hot encode with the training split's categories; returns (N, K) and the categories."""
    missing = column.is_missing()
    categories = sorted({column.cells[row] for row in train_idx if not missing[row]})
    position = {category: index for index, category in enumerate(categories)}
    encoded = np.zeros((len(column.cells), len(categories)))
    for row, cell in enumerate(column.cells):
        index = position.get(cell)  # unseen or missing values stay all zeros
        if index is not None and not missing[row]:
            encoded[row, index] = 1.0
    return encoded, categories
