"""Reading a CSV file into columns of text cells, and the strict rule for what is a number.

Everything here works in one pass over the file with memory proportional to it, and turns
every problem with the file (encoding, quoting, ragged rows, repeated names) into a
``ValueError`` of one sentence that names the file and the line.
"""

from __future__ import annotations

import csv as csv_module
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Cell values read as "no value" (compared after stripping and lower-casing).
MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})

# A number as people write them in data files: optional sign, digits with an optional decimal
# point, optional exponent; "inf"/"infinity" parse so they can be refused by name. Stricter than
# Python's float(), which also takes "1_000", other scripts' digits and surrounding spaces.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?inf(?:inity)?", re.I)


def is_number(cell: str) -> bool:
    """Whether a (stripped) cell is a number in the strict sense above.

    Example:
        >>> is_number("-1.5e3"), is_number("1.2.3"), is_number("12,5"), is_number("1_000")
        (True, False, False, False)
    """
    return _NUMBER.fullmatch(cell) is not None


def is_missing(cell: str) -> bool:
    return cell.lower() in MISSING_MARKERS


@dataclass
class _Column:
    """One column of a CSV file: its name, its stripped cells, and the file line of each row
    (one list shared by every column of the file, for error messages)."""

    name: str
    cells: list[str]
    lines: list[int]

    def is_missing(self) -> np.ndarray:
        return np.array([is_missing(cell) for cell in self.cells], dtype=bool)

    def parse_numbers(self) -> tuple[np.ndarray, list[int]]:
        """``(values, bad_rows)``: the column as float64 with NaN where a cell is missing or not
        a number, and the rows whose cell is present but not a number."""
        values = np.full(len(self.cells), np.nan)
        bad_rows = []
        for row, cell in enumerate(self.cells):
            if is_missing(cell):
                continue
            if is_number(cell):
                values[row] = float(cell)
            else:
                bad_rows.append(row)
        return values, bad_rows

    def as_numbers(self) -> np.ndarray | None:
        """The column as float64 with NaN where missing, or None if any cell is not a number."""
        values, bad_rows = self.parse_numbers()
        return None if bad_rows else values

    def describe_bad_cells(self, rows: list[int], limit: int = 3) -> str:
        """``"line 6: '1.2.3', line 9: 'abc'"`` for the first ``limit`` rows, and a count of the rest."""
        shown = ", ".join(f"line {self.lines[row]}: {_clip(self.cells[row])!r}" for row in rows[:limit])
        more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
        return shown + more


def _clip(cell: str, width: int = 40) -> str:
    return cell if len(cell) <= width else cell[: width - 3] + "..."


def read_rows(path: Path, delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    """``(line, cells)`` for every row of a CSV file that is not blank, cells stripped; one
    pass, one row in memory at a time.

    Raises:
        ValueError: the file is not UTF-8 or is badly quoted; the message names the line.
    """
    reader = None
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:  # -sig drops Excel's BOM
            reader = csv_module.reader(handle, delimiter=delimiter)
            for cells in reader:
                stripped = [cell.strip() for cell in cells]
                if any(stripped):  # blank lines are layout, not data
                    yield reader.line_num, stripped
    except UnicodeDecodeError:
        line = _first_line_not_utf8(path)
        raise ValueError(f"{path}, line {line} is not UTF-8 text; save the file as UTF-8 CSV") from None
    except csv_module.Error as error:
        line = reader.line_num if reader is not None else 1
        raise ValueError(f"{path}, line {line}: {_csv_problem(error)}") from None


def _first_line_not_utf8(path: Path) -> int:
    """The line of the first byte sequence that is not UTF-8 (text mode decodes in chunks,
    so its error does not say)."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 1


def is_header(cells: list[str]) -> bool:
    """Whether a first row names columns: some cell is neither a number nor a missing marker."""
    return any(not is_number(cell) and not is_missing(cell) for cell in cells)


def read_table(path: Path, delimiter: str = ",") -> list[_Column]:
    """The columns of a CSV file whose first row names them; blank lines are skipped.

    Raises:
        ValueError: the file is empty, not UTF-8, badly quoted, has rows of the wrong length or
            repeated column names, or no data rows; the message names the file and the line.
    """
    rows = read_rows(path, delimiter)
    first = next(rows, None)
    if first is None:
        raise ValueError(f"{path} is empty; expected a header row with column names")
    names = first[1]
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        shown = ", ".join(repr(_clip(name)) for name in repeated[:5])
        raise ValueError(f"{path}: column name(s) {shown} appear more than once in the header")
    lines: list[int] = []
    columns = [_Column(name, [], lines) for name in names]
    for line, cells in rows:
        if len(cells) != len(names):
            raise ValueError(
                f"{path}, line {line}: {len(cells)} fields but the header has {len(names)}; check "
                f"for a stray delimiter or a missing quote"
            )
        for column, cell in zip(columns, cells):
            column.cells.append(cell)
        lines.append(line)
    if not lines:
        raise ValueError(f"{path} has a header but no data rows")
    return columns


def _csv_problem(error: csv_module.Error) -> str:
    message = str(error)
    if "field larger than field limit" in message:
        limit = csv_module.field_size_limit()
        return (
            f'a field is longer than {limit} characters, most likely a quote (") opened and never '
            f"closed; close or remove it"
        )
    return f"the file is not valid CSV ({message}); check the quoting on that line"
