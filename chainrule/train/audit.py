"""Fairness audits of a finished run: the run folder's model and stored preprocessing applied
to the rows of a CSV file, then :func:`chainrule.fairness.audit_model` on the result
(``chainrule audit``). The fairness package works on arrays; this module reads the files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ConfigError
from chainrule.fairness.audit import FairnessAudit, audit_model


def run_audit(
    run_dir: Path,
    data_csv: Path,
    sensitive: str,
    target: str | None = None,
    *,
    pos_label: Any = None,
    trust_model_code: bool = False,
) -> FairnessAudit:
    """Audit a finished ``chainrule train`` run on the rows of a CSV file.

    The run folder's ``config.toml`` and ``model.safetensors`` rebuild the model
    (:func:`chainrule.train.saved.load_run`). The CSV's features get the preprocessing training
    fitted, which the run folder stores (the training data is not needed): every raw feature
    column the model was trained on must be present by name; numeric columns are standardised
    with the training means and standard deviations and text ones one-hot encoded with the
    training categories (a value training never saw is an error naming it; an empty cell
    encodes as none of them, as in training). This works for runs on a CSV file and on the
    built-in tables (iris, wine, breast_cancer; columns named after their ``feature_names``,
    raw values).

    Extra columns are ignored; the ``sensitive`` column is read from the CSV whether or not
    the model uses it. Audit on data the model was not trained on, or the rates flatter it.

    Args:
        run_dir: the run folder.
        data_csv: the CSV file to audit on, with a header row.
        sensitive: the column holding each row's group.
        target: the column with the true labels (default: the run's ``target``, or ``"target"``
            for a built-in dataset). Labels may be the original values (e.g. ``"benign"``) or,
            for a built-in dataset, class indices.
        pos_label: the positive class, as it is written in the CSV; default: the second class
            of a binary classifier. Required with more than two classes (one against the rest).
        trust_model_code: allow loading a run whose model is a user's Python file (it runs
            that file; see ``chainrule.train.models.run_model_spec``).

    Example:
        >>> report = run_audit(Path("runs/adult"), Path("adult_test.csv"), "sex")  # a run  # doctest: +SKIP
        >>> print(report.to_text())  # doctest: +SKIP
    """
    from chainrule.datasets.csvfile import read_table
    from chainrule.train.saved import load_run

    loaded = load_run(run_dir, trust_model_code)
    if loaded.description["task"] != "classification":
        raise ConfigError(
            f"{run_dir} holds a regression model; a fairness audit needs a classifier (predicted "
            f"classes to compare between groups)"
        )
    data_csv = Path(data_csv)
    if not data_csv.is_file():
        raise ConfigError(f"data file {str(data_csv)!r} does not exist")
    try:
        columns = {column.name: column for column in read_table(data_csv, ",")}
    except ValueError as error:  # an empty file, ragged rows, repeated column names
        raise ConfigError(str(error)) from None
    if sensitive not in columns:
        raise ConfigError(f"{data_csv} has no column {sensitive!r}; its columns are {list(columns)}")
    if target is None:
        target = loaded.description.get("target") or "target"
    if target not in columns:
        raise ConfigError(
            f"{data_csv} has no target column {target!r}; its columns are {list(columns)} "
            f"(name the label column with --target)"
        )
    features = _training_features(loaded, columns, data_csv)
    input_shape = tuple(loaded.description["input_shape"])
    classes = [str(name) for name in (loaded.description["class_names"] or [])]
    labels = _class_indices(columns[target], classes, data_csv)
    positive = _positive_index(pos_label, classes)
    result = audit_model(
        loaded.model,
        features.reshape(len(features), *input_shape),
        labels,
        _group_values(columns[sensitive], data_csv),
        pos_label=positive,
        sensitive_name=sensitive,
    )
    result.pos_label = classes[positive] if classes else positive  # as the CSV writes it
    return result


def _parses(cell: str) -> bool:
    from chainrule.datasets.csvfile import is_number

    return is_number(cell)


def _training_features(loaded: Any, columns: dict[str, Any], data_csv: Path) -> np.ndarray:
    """The CSV's rows as the model's features, preprocessed as in training (the run folder's
    stored preprocessing)."""
    if loaded.encoder.column_names is None:
        raise ConfigError(
            f"auditing from a CSV works for runs trained on a table (a CSV file, iris, wine, "
            f"breast_cancer); the model in {loaded.run_dir} takes images or signals"
        )
    try:
        return loaded.encoder.encode_columns(columns)
    except ValueError as error:
        raise ConfigError(f"{data_csv}: {error}") from None


def _class_indices(column: Any, classes: list[str], data_csv: Path) -> np.ndarray:
    """Target cells as class indices: by class name or value, else as an index."""
    position = {name: index for index, name in enumerate(classes)}
    # Class indices are accepted only when no class is itself a number, so they cannot clash.
    indices_allowed = not any(_parses(name) for name in classes)
    indices = []
    for cell, line in zip(column.cells, column.lines):
        index = position.get(cell)
        if index is None and _parses(cell):
            number = float(cell)
            # "1.0" in the audit file for a class written "1" in training, or an index 0..K-1.
            index = position.get(str(int(number))) if number.is_integer() else position.get(str(number))
            if index is None and indices_allowed and number.is_integer() and 0 <= number < len(classes):
                index = int(number)
        if index is None:
            raise ConfigError(
                f"{data_csv}, line {line}: target {column.name!r} is {cell!r}, which is not one of "
                f"the classes the model knows: {classes}"
            )
        indices.append(index)
    return np.array(indices, dtype=np.int64)


def _positive_index(pos_label: Any, classes: list[str]) -> int:
    if pos_label is None:
        if len(classes) > 2:
            raise ConfigError(
                f"the model has {len(classes)} classes {classes}; name the positive one with "
                f"pos_label (the audit compares it against the rest)"
            )
        return 1
    if str(pos_label) in classes:
        return classes.index(str(pos_label))
    raise ConfigError(f"pos_label {pos_label!r} is not one of the model's classes {classes}")


def _group_values(column: Any, data_csv: Path) -> list[Any]:
    """The sensitive column's values, as numbers when every one is a number (so they sort
    numerically and ``1.0`` and ``1`` are one group)."""
    missing = column.is_missing()
    if missing.any():
        line = column.lines[int(np.flatnonzero(missing)[0])]
        raise ConfigError(
            f"{data_csv}: sensitive column {column.name!r} has no value on line {line}; every row "
            f"needs a group (fill in a value such as 'unknown', or drop the row)"
        )
    numbers = column.as_numbers()
    if numbers is None:
        return list(column.cells)
    return [int(value) if value.is_integer() else float(value) for value in numbers]
