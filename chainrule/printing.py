"""How a tensor prints: PyTorch's format, so printed results read the same in both libraries.

PyTorch's print options: 4 decimals, summarize above 1000 elements showing 3 at each end of
each dim, lines of at most 80 characters.

Example::

    >>> print(chainrule.tensor([[1.0, 2.5], [3.0, 4.0]]))
    tensor([[1.0000, 2.5000],
            [3.0000, 4.0000]])
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.dtypes import bool, get_default_dtype, int64  # noqa: A004 - PyTorch's names

if TYPE_CHECKING:
    from chainrule.tensor import Tensor

_PRECISION, _THRESHOLD, _EDGE_ITEMS, _LINE_WIDTH = 4, 1000, 3, 80


def tensor_repr(tensor: Tensor) -> str:
    """``repr(tensor)``: its elements, then its dtype unless a default one, then its
    ``grad_fn`` or ``requires_grad``."""
    data = tensor.array
    body = "[]" if data.size == 0 else _format_body(data)
    extras = []
    if data.dtype not in (get_default_dtype(), int64, bool):
        extras.append(f"dtype=chainrule.{data.dtype}")
    if tensor.grad_fn is not None:
        extras.append(f"grad_fn=<{tensor.grad_fn.name()}>")
    elif tensor.requires_grad:
        extras.append("requires_grad=True")
    if data.size == 0:
        extras.insert(0, f"size={tuple(data.shape)}")
    return "tensor(" + ", ".join([body, *extras]) + ")"


def _summarized(data: np.ndarray) -> np.ndarray:
    """The elements a summarized print shows (the first and last few along every dim)."""
    for axis, size in enumerate(data.shape):
        if size > 2 * _EDGE_ITEMS:
            keep = np.r_[0:_EDGE_ITEMS, size - _EDGE_ITEMS : size]
            data = np.take(data, keep, axis=axis)
    return data


class _ElementFormat:
    """How PyTorch prints the elements of one tensor: one width for all (right-aligned);
    floats as integers with a trailing '.' when all are whole, else with 4 decimals, or in
    scientific notation when the magnitudes span more than 1000x or leave [1e-4, 1e8]."""

    def __init__(self, shown: np.ndarray) -> None:
        self.kind = shown.dtype.kind
        self.int_mode, self.sci_mode, self.width = True, False, 1
        if self.kind != "f":
            self.width = max(len(self._text(v)) for v in shown.reshape(-1).tolist())
            return
        values = shown.reshape(-1).astype(np.float64)
        values = values[np.isfinite(values) & (values != 0)]
        if values.size == 0:
            return
        magnitudes = np.abs(values)
        largest, smallest = magnitudes.max(), magnitudes.min()
        self.int_mode = builtins.bool(np.all(values == np.ceil(values)))
        self.sci_mode = largest / smallest > 1000.0 or largest > 1.0e8
        if not self.int_mode:
            self.sci_mode = self.sci_mode or smallest < 1.0e-4
        # The width comes from the finite non-zero values only; 0, inf and nan just fit in.
        self.width = max(len(self._text(v)) for v in values.tolist())

    def _text(self, value: Any) -> str:
        if self.kind == "b":
            return "True" if value else "False"
        if self.kind != "f":
            return str(value)
        if self.sci_mode:
            return f"{value:.{_PRECISION}e}"
        if self.int_mode:
            return f"{value:.0f}" + ("." if np.isfinite(value) else "")
        return f"{value:.{_PRECISION}f}"

    def __call__(self, value: Any) -> str:
        return self._text(value).rjust(self.width)


def _format_body(data: np.ndarray) -> str:
    summarize = data.size > _THRESHOLD
    element_format = _ElementFormat(_summarized(data) if summarize else data)
    return _format_nested(data, len("tensor("), summarize, element_format)


def _format_nested(
    data: np.ndarray, indent: builtins.int, summarize: builtins.bool, element_format: _ElementFormat
) -> str:
    if data.ndim == 0:
        return element_format(data.item())
    size = data.shape[0]
    rows: list[builtins.int | None] = list(range(size))
    if summarize and size > 2 * _EDGE_ITEMS:
        rows = rows[:_EDGE_ITEMS] + [None] + rows[-_EDGE_ITEMS:]  # None: the elided middle
    if data.ndim == 1:
        items = [" ..." if i is None else element_format(data[i].item()) for i in rows]
        per_line = builtins.max(1, (_LINE_WIDTH - indent) // (element_format.width + 2))
        lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    parts = [
        "..." if i is None else _format_nested(data[i], indent + 1, summarize, element_format) for i in rows
    ]
    # Rows of a matrix go one per line; blocks of higher dims are set apart by blank lines.
    return "[" + ("," + "\n" * (data.ndim - 1) + " " * (indent + 1)).join(parts) + "]"
