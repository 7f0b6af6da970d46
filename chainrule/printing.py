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

_PROFILES: dict[str, dict[str, Any]] = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": builtins.float("inf"), "edgeitems": 3, "linewidth": 80},
}
_options: dict[str, Any] = {**_PROFILES["default"], "sci_mode": None}


def set_printoptions(precision: builtins.int | None = None, threshold: builtins.float | None = None,
                     edgeitems: builtins.int | None = None, linewidth: builtins.int | None = None,
                     profile: str | None = None, sci_mode: builtins.bool | None = None) -> None:
    """How tensors print from now on, as ``torch.set_printoptions``: ``precision`` decimals,
    summarized above ``threshold`` elements with ``edgeitems`` at each end, lines of at most
    ``linewidth``; ``profile`` "default", "short" or "full" sets all four first; ``sci_mode``
    True or False forces scientific notation on or off (None: chosen per tensor).

    Example::

        >>> chainrule.set_printoptions(precision=2)
        >>> chainrule.tensor([1.0 / 3])
        tensor([0.33])
        >>> chainrule.set_printoptions(profile="default")
    """
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {sorted(_PROFILES)}, got {profile!r}")
        _options.update(_PROFILES[profile])
    given = {"precision": precision, "threshold": threshold, "edgeitems": edgeitems, "linewidth": linewidth}
    _options.update({name: value for name, value in given.items() if value is not None})
    _options["sci_mode"] = sci_mode


def get_printoptions() -> dict[str, Any]:
    """The current print options (a copy), as ``torch._tensor_str.get_printoptions``."""
    return dict(_options)


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
        edge = _options["edgeitems"]
        if size > 2 * edge:
            keep = np.r_[0:edge, size - edge : size]
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
        if _options["sci_mode"] is not None:
            self.sci_mode = _options["sci_mode"]
        # The width comes from the finite non-zero values only; 0, inf and nan just fit in.
        self.width = max(len(self._text(v)) for v in values.tolist())

    def _text(self, value: Any) -> str:
        if self.kind == "b":
            return "True" if value else "False"
        if self.kind != "f":
            return str(value)
        precision = _options["precision"]
        if self.sci_mode:
            return f"{value:.{precision}e}"
        if self.int_mode:
            return f"{value:.0f}" + ("." if np.isfinite(value) else "")
        return f"{value:.{precision}f}"

    def __call__(self, value: Any) -> str:
        return self._text(value).rjust(self.width)


def _format_body(data: np.ndarray) -> str:
    summarize = data.size > _options["threshold"]
    element_format = _ElementFormat(_summarized(data) if summarize else data)
    return _format_nested(data, len("tensor("), summarize, element_format)


def _format_nested(
    data: np.ndarray, indent: builtins.int, summarize: builtins.bool, element_format: _ElementFormat
) -> str:
    if data.ndim == 0:
        return element_format(data.item())
    size = data.shape[0]
    rows: list[builtins.int | None] = list(range(size))
    edge = _options["edgeitems"]
    if summarize and size > 2 * edge:
        rows = rows[:edge] + [None] + rows[-edge:]  # None: the elided middle
    if data.ndim == 1:
        items = [" ..." if i is None else element_format(data[i].item()) for i in rows]
        per_line = builtins.max(1, (_options["linewidth"] - indent) // (element_format.width + 2))
        lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    parts = [
        "..." if i is None else _format_nested(data[i], indent + 1, summarize, element_format) for i in rows
    ]
    # Rows of a matrix go one per line; blocks of higher dims are set apart by blank lines.
    return "[" + ("," + "\n" * (data.ndim - 1) + " " * (indent + 1)).join(parts) + "]"
