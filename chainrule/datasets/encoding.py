"""The preprocessing a loader fitted, as data: what turns a raw row into the model's features.

Every loader records, in ``DatasetSplits.preprocessing``, a small JSON-able dictionary (the
*spec*) of what it did to the raw data, so that new raw rows can be transformed the same way
(``chainrule predict``, ``chainrule audit``) long after the training file is gone:

* ``{"columns": [...], "fill_missing": bool}`` for tables: one entry per raw input column, in
  order, either ``{"name", "mean", "std"}`` (a number, standardised as ``(x - mean) / std``) or
  ``{"name", "categories"}`` (text, one-hot encoded in the order of ``categories``).
  ``fill_missing`` says whether missing numbers become the training mean (else they are an
  error).
* ``{"scale": s}`` for images and signals: the features are the raw values divided by ``s``
  (e.g. 255 for MNIST's bytes).
* ``None``: the loader's output is the raw form (nothing to undo).

:class:`FeatureEncoder` reads a spec (checking every field, since it may come from a file) and
applies it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.datasets.csvfile import _Column, is_missing


class MissingValueError(ValueError):
    """A numeric cell has no value and the preprocessing has no rule to fill it."""


@dataclass(frozen=True)
class NumberColumn:
    """A numeric raw column, standardised as ``(x - mean) / std``."""

    name: str
    mean: float
    std: float


@dataclass(frozen=True)
class CategoryColumn:
    """A text raw column, one-hot encoded: one feature ``"name=category"`` per category."""

    name: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class FeatureEncoder:
    """Raw rows to features, as a loader's preprocessing spec says (see the module docstring).

    Example:
        >>> import numpy as np
        >>> encoder = FeatureEncoder.from_spec({"columns": [{"name": "cm", "mean": 5.0, "std": 2.0}]})
        >>> encoder.encode_array(np.array([[7.0], [3.0]]), "rows")[:, 0].tolist()
        [1.0, -1.0]
    """

    columns: tuple[NumberColumn | CategoryColumn, ...] | None = None
    scale: float = 1.0
    fill_missing: bool = False

    # ------------------------------------------------------------------------- the spec
    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None, source: str = "preprocessing") -> FeatureEncoder:
        """Check a spec field by field (it may come from a file nobody vetted) and build the
        encoder; a malformed spec is a ValueError naming ``source`` and the field."""

        def bad(what: str) -> ValueError:
            return ValueError(f"{source}: the stored preprocessing is malformed ({what})")

        if spec is None:
            return cls()
        if not isinstance(spec, Mapping):
            raise bad(f"expected a table, got {type(spec).__name__}")
        if "scale" in spec:
            scale = spec["scale"]
            if not _is_real(scale) or not math.isfinite(scale) or scale <= 0:
                raise bad(f"scale must be a positive number, got {scale!r}")
            return cls(scale=float(scale))
        columns, fill = spec.get("columns"), spec.get("fill_missing", False)
        if not isinstance(columns, list) or not columns:
            raise bad("'columns' must be a non-empty list")
        if not isinstance(fill, bool):
            raise bad(f"fill_missing must be true or false, got {fill!r}")
        parsed: list[NumberColumn | CategoryColumn] = []
        for entry in columns:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
                raise bad("every column needs a name")
            name = entry["name"]
            if "categories" in entry:
                categories = entry["categories"]
                if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
                    raise bad(f"column {name!r}: categories must be a list of strings")
                parsed.append(CategoryColumn(name, tuple(categories)))
                continue
            mean: Any = entry.get("mean")
            std: Any = entry.get("std")
            finite = _is_real(mean) and _is_real(std) and math.isfinite(mean) and math.isfinite(std)
            if not finite or std <= 0:
                raise bad(f"column {name!r}: mean and std must be finite numbers, std > 0")
            parsed.append(NumberColumn(name, float(mean), float(std)))
        if len({column.name for column in parsed}) != len(parsed):
            raise bad("a column name appears twice")
        return cls(columns=tuple(parsed), fill_missing=fill)

    def to_spec(self) -> dict[str, Any] | None:
        """The JSON-able spec :meth:`from_spec` reads back."""
        if self.columns is None:
            return None if self.scale == 1.0 else {"scale": self.scale}
        entries: list[dict[str, Any]] = [
            {"name": c.name, "mean": c.mean, "std": c.std}
            if isinstance(c, NumberColumn)
            else {"name": c.name, "categories": list(c.categories)}
            for c in self.columns
        ]
        return {"columns": entries, "fill_missing": self.fill_missing}

    @property
    def feature_names(self) -> list[str] | None:
        """One name per feature (``"name=category"`` for one-hot features), or None for arrays."""
        if self.columns is None:
            return None
        names: list[str] = []
        for column in self.columns:
            if isinstance(column, NumberColumn):
                names.append(column.name)
            else:
                names.extend(f"{column.name}={category}" for category in column.categories)
        return names

    @property
    def column_names(self) -> list[str] | None:
        """The raw columns a row must have, in order, or None when rows are plain arrays."""
        return None if self.columns is None else [column.name for column in self.columns]

    # ------------------------------------------------------------------------- applying it
    def encode_columns(self, columns: Mapping[str, _Column], unseen: str = "error") -> np.ndarray:
        """Features ``(N, D)`` float32 from a table's columns, looked up by name (others are
        ignored). ``unseen="error"`` refuses a category training never saw, ``"zeros"`` encodes it
        as all zeros; a missing category is all zeros either way, as in training."""
        names = self.column_names
        if names is None:
            raise ValueError("this model takes arrays (images or signals), not named columns")
        absent = [name for name in names if name not in columns]
        if absent:
            shown = ", ".join(repr(name) for name in absent[:10])
            more = f" and {len(absent) - 10} more" if len(absent) > 10 else ""
            raise ValueError(f"the column(s) the model was trained on are missing: {shown}{more}")
        blocks = []
        for spec in self.columns or ():
            column = columns[spec.name]
            if isinstance(spec, NumberColumn):
                values, bad_rows = column.parse_numbers()
                if bad_rows:
                    raise ValueError(
                        f"column {spec.name!r} holds numbers, but {column.describe_bad_cells(bad_rows)} "
                        "is not a number"
                    )
                blocks.append(encode_numbers(spec, column, values, self.fill_missing)[:, None])
            else:
                blocks.append(one_hot(spec, column, unseen))
        return np.concatenate(blocks, axis=1)

    def encode_array(self, array: np.ndarray, sample_shape: tuple[int, ...] | None = None) -> np.ndarray:
        """Features from raw numbers, one sample per row: ``(N, columns)`` for a table, or
        ``(N, ...)`` with ``prod(sample_shape)`` values per sample for arrays (reshaped to
        ``(N, *sample_shape)``). A 1-D array of one sample's size is one sample."""
        array = np.asarray(array)
        if self.columns is None:
            size = math.prod(sample_shape) if sample_shape is not None else None
            if array.ndim == 1 and size is not None and array.size == size:
                array = array[None]
            if array.ndim < 2 or (size is not None and math.prod(array.shape[1:]) != size):
                expected = f"samples of shape {sample_shape} ({size} values each)"
                raise ValueError(f"it has shape {array.shape}, but the model takes {expected}")
            _refuse_non_finite(array)
            shape = sample_shape if sample_shape is not None else array.shape[1:]
            # float32 arithmetic, as the loaders scale (bytes / 255 in float32), so the same
            # pixels give bit-identical features
            with np.errstate(over="ignore"):
                scaled = array.astype(np.float32) / np.float32(self.scale)
            return _refuse_overflow(scaled.reshape(len(array), *shape))
        text = [column.name for column in self.columns if isinstance(column, CategoryColumn)]
        if text:
            raise ValueError(
                f"the model has text column(s) {text}, which an array cannot hold; give a CSV "
                f"with a header row naming the columns"
            )
        if array.ndim == 1 and array.size == len(self.columns):
            array = array[None]
        if array.ndim != 2 or array.shape[1] != len(self.columns):
            raise ValueError(
                f"it has shape {array.shape}, but the model takes rows of {len(self.columns)} raw "
                f"values, the columns {self.column_names} in that order"
            )
        values = array.astype(np.float64)
        features = np.empty(values.shape, dtype=np.float32)
        for index, spec in enumerate(self.columns):
            column = values[:, index]
            if np.isinf(column).any():
                row = int(np.flatnonzero(np.isinf(column))[0])
                raise ValueError(f"row {row}, column {spec.name!r} is infinite; inputs must be finite")
            missing = np.isnan(column)
            if missing.any() and not self.fill_missing:
                raise MissingValueError(
                    f"row {int(np.flatnonzero(missing)[0])}, column {spec.name!r} is NaN and the model "
                    "was trained without missing values; fill it in or drop the row"
                )
            assert isinstance(spec, NumberColumn)
            with np.errstate(over="ignore"):
                features[:, index] = (np.where(missing, spec.mean, column) - spec.mean) / spec.std
        return _refuse_overflow(features)


def encode_numbers(
    spec: NumberColumn, column: _Column, values: np.ndarray, fill_missing: bool, hint: str = ""
) -> np.ndarray:
    """One numeric column's parsed ``values`` (NaN where missing) standardised, shape ``(N,)``.
    Infinite values are refused; missing ones become the mean if ``fill_missing``, else a
    :class:`MissingValueError` names the lines (``hint`` adds how to fill them)."""
    infinite = np.flatnonzero(np.isinf(values))
    if len(infinite):
        row = int(infinite[0])
        raise ValueError(
            f"column {spec.name!r}, line {column.lines[row]}: value {column.cells[row]!r} is "
            f"infinite; replace it with a finite number or leave the cell empty"
        )
    missing = np.isnan(values)
    if missing.any() and not fill_missing:
        rows = np.flatnonzero(missing)
        lines = ", ".join(str(column.lines[row]) for row in rows[:5])
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        raise MissingValueError(
            f"column {spec.name!r} has missing values on line(s) {lines}{more}; fill them in or "
            f"drop those rows{hint}"
        )
    filled = np.where(missing, spec.mean, values)
    return ((filled - spec.mean) / spec.std).astype(np.float32)


def one_hot(spec: CategoryColumn, column: _Column, unseen: str) -> np.ndarray:
    """One text column one-hot encoded, shape ``(N, len(categories))`` float32; a missing cell
    is all zeros; an unseen one too if ``unseen == "zeros"``, else a ValueError naming it."""
    position = {category: index for index, category in enumerate(spec.categories)}
    encoded = np.zeros((len(column.cells), len(spec.categories)), dtype=np.float32)
    for row, cell in enumerate(column.cells):
        index = position.get(cell)
        if index is not None:
            encoded[row, index] = 1.0
        elif unseen == "error" and not is_missing(cell):
            known = ", ".join(repr(category) for category in spec.categories[:10])
            more = ", ..." if len(spec.categories) > 10 else ""
            raise ValueError(
                f"column {spec.name!r}, line {column.lines[row]}: {cell[:40]!r} was never seen in "
                f"training (known values: {known}{more}); correct it, or leave the cell empty to "
                f"encode it as none of them"
            )
    return encoded


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _refuse_non_finite(array: np.ndarray) -> None:
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        row = int(np.flatnonzero(~np.isfinite(array.reshape(len(array), -1)).all(axis=1))[0])
        raise ValueError(f"sample {row} holds NaN or infinite values; inputs must be finite")


def _refuse_overflow(features: np.ndarray) -> np.ndarray:
    """Values finite in float64 but beyond float32's range would reach the model as inf."""
    flat = features.reshape(len(features), -1)
    finite = np.isfinite(flat).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"sample {row} holds values too large for float32 (about 3.4e38); check the data")
    return features
