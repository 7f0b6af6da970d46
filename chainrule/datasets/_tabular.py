"""Load a table from a CSV file into standardised, one-hot encoded NumPy arrays.

Every statistic (means, standard deviations, category lists) is fitted on the training split
only and then applied to both splits, so nothing about the test rows leaks into training. What
was fitted is returned as a preprocessing spec (see ``chainrule.datasets.encoding``), so new
raw rows can be encoded the same way later.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.datasets._base import DatasetSplits, train_test_indices
from chainrule.datasets.csvfile import MISSING_MARKERS, _Column, is_missing, read_table
from chainrule.datasets.encoding import CategoryColumn, FeatureEncoder, NumberColumn, encode_numbers, one_hot

__all__ = ["MISSING_MARKERS", "csv"]

_TASKS = ("auto", "classification", "regression")
_NA_POLICIES = ("error", "mean")


def _read_table(path: Path, delimiter: str) -> list[_Column]:
    return read_table(path, delimiter)


def _numbers_or_text(column: _Column, path: Path, what: str) -> np.ndarray | None:
    """The column as float64 (NaN where missing) if it is numeric, None if it is text.

    The rule: a column whose present cells all parse as numbers is numeric; one where numbers
    outnumber the cells that do not parse is numeric with typos, which is an error naming
    them (a silent switch to text would one-hot encode every distinct number); otherwise text.
    """
    values, bad_rows = column.parse_numbers()
    if not bad_rows:
        return values
    numbers = int(np.count_nonzero(~np.isnan(values)))
    if numbers > len(bad_rows):
        raise ValueError(
            f"{path}: {what} {column.name!r} holds numbers, but {column.describe_bad_cells(bad_rows)} "
            f"{'is' if len(bad_rows) == 1 else 'are'} not (number(s) like 1.5 or -2e3); correct "
            f"{'it' if len(bad_rows) == 1 else 'them'}, empty the cell(s) to mark them missing, or, if "
            f"the column is text, name it as categorical"
        )
    return None


def _target(
    column: _Column, task: str, max_classes: int, path: Path
) -> tuple[np.ndarray, str, list[Any] | None]:
    missing = np.flatnonzero(column.is_missing())
    if len(missing):
        row = missing[0]
        raise ValueError(
            f"target column {column.name!r} has no value on line {column.lines[row]} "
            f"({len(missing)} rows in all); targets cannot be imputed, drop those rows"
        )
    numbers = _numbers_or_text(column, path, "target column")
    if numbers is not None and np.isinf(numbers).any():
        row = int(np.flatnonzero(np.isinf(numbers))[0])
        raise ValueError(
            f"target column {column.name!r}, line {column.lines[row]}: value {column.cells[row]!r} "
            f"is infinite; replace it with a finite number"
        )
    if task == "auto":
        integer_valued = numbers is not None and bool(np.all(numbers == np.round(numbers)))
        few_values = numbers is not None and len(np.unique(numbers)) <= max_classes
        is_classification = numbers is None or (integer_valued and few_values)
        task = "classification" if is_classification else "regression"
    if task == "regression":
        if numbers is None:
            raise ValueError(
                f"task='regression' needs a numeric target, but column {column.name!r} holds "
                f"text such as {column.cells[0][:40]!r}; use task='classification' or pick another column"
            )
        return numbers.astype(np.float32), task, None

    classes: list[Any]  # numbers or strings, as the file writes them
    if numbers is not None:
        classes_found, labels = np.unique(numbers, return_inverse=True)
        # Integer class values read back as ints, e.g. 3 rather than 3.0.
        classes = [int(value) if float(value).is_integer() else float(value) for value in classes_found]
    else:
        classes_found, labels = np.unique(np.array(column.cells, dtype=object), return_inverse=True)
        classes = [str(value) for value in classes_found]
    if len(classes) < 2:
        raise ValueError(
            f"{path}: target column {column.name!r} holds a single class, {classes[0]!r}, in all "
            f"{len(labels)} rows, and a classifier cannot learn from one class; add rows of the other "
            f"classes or choose another target column"
        )
    return labels.astype(np.int64), task, classes


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
    drop_columns: Sequence[str] | None = None,
    max_categories: int = 100,
) -> DatasetSplits:
    """Load a CSV table with a header row as a train/test split ready for a network.

    Features: a column is numeric if every present value parses as a number (``1``, ``-2.5``,
    ``3e-4``; not ``1.2.3``, ``12,5`` or ``1_000``). A column where numbers outnumber the cells
    that do not parse is taken to be numeric with typos, and is an error naming the column, the
    lines and the values; any other column (or one named in ``categorical``) is text. Numeric
    columns are standardised with the mean and standard deviation of the training split (a
    constant column keeps standard deviation 1). Text columns are one-hot encoded with the
    categories seen in the training split, if there are at most ``max_categories`` of them;
    more (an identifier, free text) is an error suggesting ``drop_columns``. A test-split value
    not seen in training (or a missing one) encodes as all zeros. Feature columns keep the
    file's order, a text column expanding in place into ``"name=value"`` columns.

    Missing values are empty cells or ``NA``, ``N/A``, ``NaN``, ``null``, ``None``, ``?`` (any
    case). In a numeric column they raise an error naming the column and line unless
    ``na="mean"``, which fills them with the training mean (0 after standardising).

    Task (``task="auto"``): classification if the target column holds text, or holds only whole
    numbers with at most ``max_classes`` distinct values; regression otherwise. Class labels
    are mapped to ``0..K-1`` in sorted order and ``classes[k]`` gives the original value. The
    split is stratified for classification, plain random for regression, fixed by ``seed``.

    Reading takes one pass over the file and memory proportional to it (the features of a text
    column are bounded by ``max_categories``).

    Args:
        path: the CSV file; the first row names the columns.
        target: name of the column to predict.
        test_size: fraction (or count) of rows in the test split.
        seed: seed of the split.
        categorical: column names to treat as text even though they hold numbers
            (e.g. postcodes).
        task: ``"auto"``, ``"classification"`` or ``"regression"``.
        na: ``"error"`` or ``"mean"``, what to do with missing numeric feature values.
        delimiter: the field separator, e.g. ``";"`` or ``"\\t"``.
        max_classes: the most distinct whole-number target values ``task="auto"`` still
            treats as classes.
        drop_columns: columns to ignore (identifiers, free text, leaks of the target).
        max_categories: the most distinct values a text column may have.

    Returns:
        DatasetSplits named after the file, with x float32 of shape ``(N, D)``, y int64 class
        indices or float32 values, ``feature_names``, ``classes`` and, in ``preprocessing``, the
        fitted spec ``{"columns": [...], "fill_missing": ..., "target": ...}``.

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
    columns = read_table(path, delimiter)
    by_name = {column.name: column for column in columns}
    if target not in by_name:
        raise ValueError(f"{path} has no column {target!r}; its columns are {_shown(by_name)}")
    categorical = [] if categorical is None else list(categorical)
    dropped = [] if drop_columns is None else list(drop_columns)
    for names, what in ((categorical, "categorical"), (dropped, "drop_columns")):
        unknown = [name for name in names if name not in by_name]
        if unknown:
            raise ValueError(
                f"{what} names {unknown} are not columns of {path}; its columns are {_shown(by_name)}"
            )
    if target in categorical:
        raise ValueError(
            f"the target {target!r} is listed in categorical; to treat a numeric target as "
            f"classes pass task='classification' instead"
        )
    if target in dropped:
        raise ValueError(f"the target {target!r} is listed in drop_columns; it is the column to predict")

    y, task, classes = _target(by_name[target], task, max_classes, path)
    try:
        train_idx, test_idx = train_test_indices(
            len(y), test_size, seed, stratify=y if task == "classification" else None
        )
    except ValueError as err:
        raise ValueError(
            f"{path}: {err}. If {target!r} is a quantity rather than a class, pass task='regression'"
        ) from err

    features = [column for column in columns if column.name != target and column.name not in dropped]
    if not features:
        raise ValueError(f"{path} has no feature columns besides the target {target!r}")
    fill_missing = na == "mean"
    specs: list[NumberColumn | CategoryColumn] = []
    blocks = []
    for column in features:
        numbers = None if column.name in categorical else _numbers_or_text(column, path, "column")
        if numbers is None:
            categories = _fit_categories(column, train_idx, max_categories, path)
            blocks.append(one_hot(categories, column, unseen="zeros"))
            spec: NumberColumn | CategoryColumn = categories
        else:
            spec = _fit_standardisation(column, numbers, train_idx)
            hint = "" if fill_missing else ", or pass na='mean' to fill them with the training mean"
            blocks.append(encode_numbers(spec, column, numbers, fill_missing, hint)[:, None])
        specs.append(spec)
    encoder = FeatureEncoder(columns=tuple(specs), fill_missing=fill_missing)
    x = np.concatenate(blocks, axis=1)
    del blocks
    return DatasetSplits(
        x_train=x[train_idx],
        y_train=y[train_idx],
        x_test=x[test_idx],
        y_test=y[test_idx],
        name=path.stem,
        num_classes=None if classes is None else len(classes),
        feature_names=encoder.feature_names,
        classes=classes,
        preprocessing={**(encoder.to_spec() or {}), "target": target},
    )


def _shown(by_name: dict[str, Any], limit: int = 20) -> str:
    names = list(by_name)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"{names[:limit]}{more}"


def _fit_standardisation(column: _Column, values: np.ndarray, train_idx: np.ndarray) -> NumberColumn:
    """Mean and standard deviation of one numeric column over the training rows."""
    train_values = values[train_idx]
    observed_train = train_values[~np.isnan(train_values)]
    if len(observed_train) == 0:
        raise ValueError(
            f"column {column.name!r} has no values in the training split, so it cannot be "
            f"standardised; drop the column"
        )
    mean = float(observed_train.mean())
    std = float(observed_train.std())
    if std == 0.0 or not np.isfinite(std):
        std = 1.0
    return NumberColumn(column.name, mean, std)


def _fit_categories(
    column: _Column, train_idx: np.ndarray, max_categories: int, path: Path
) -> CategoryColumn:
    """The training split's distinct values of one text column, sorted, at most ``max_categories``."""
    categories = sorted(cell for cell in {column.cells[row] for row in train_idx} if not is_missing(cell))
    if len(categories) > max_categories:
        raise ValueError(
            f"{path}: text column {column.name!r} has {len(categories)} distinct values in the "
            f"training rows, more than the {max_categories} that can be one-hot encoded; an "
            f"identifier or free text carries no pattern to learn, so drop it (drop_columns = "
            f"[{column.name!r}], on the command line --drop-columns {column.name!r}) or raise "
            f"max_categories"
        )
    return CategoryColumn(column.name, tuple(categories))
