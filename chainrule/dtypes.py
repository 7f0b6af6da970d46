"""Tensor dtypes: PyTorch's names for NumPy dtypes, and the default floating dtype.

``chainrule.float32`` is ``numpy.dtype("float32")``, so a dtype from either library works
wherever the other's does. ``as_dtype`` resolves every spelling a user may give.

Example::

    >>> chainrule.dtypes.as_dtype("double") is chainrule.float64
    True
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

float16 = half = np.dtype(np.float16)
float32 = float = np.dtype(np.float32)  # noqa: A001 - PyTorch's names
float64 = double = np.dtype(np.float64)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
int16 = short = np.dtype(np.int16)
int32 = int = np.dtype(np.int32)  # noqa: A001
int64 = long = np.dtype(np.int64)
bool = np.dtype(np.bool_)  # noqa: A001

_DTYPE_NAMES: dict[str, np.dtype] = {
    "float16": float16,
    "half": float16,
    "float32": float32,
    "float": float32,
    "float64": float64,
    "double": float64,
    "int8": int8,
    "uint8": uint8,
    "int16": int16,
    "int32": int32,
    "int64": int64,
    "long": int64,
    "bool": bool,
}


class _Defaults:
    """The default floating dtype, set by ``set_default_dtype``."""

    dtype = float32


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype of floating tensors made from Python data (float32 unless changed).

    Example::

        >>> chainrule.set_default_dtype(chainrule.float64)   # e.g. for gradient checks
        >>> chainrule.tensor([1.5]).dtype
        dtype('float64')
        >>> chainrule.set_default_dtype(chainrule.float32)   # the default again
    """
    dtype = as_dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: only floating dtypes are allowed, got {dtype}")
    _Defaults.dtype = dtype


def get_default_dtype() -> np.dtype:
    """The dtype of floating tensors made from Python data."""
    return _Defaults.dtype


def as_dtype(dtype: Any) -> np.dtype:
    """Resolve ``chainrule.float32``, ``numpy.float32``, ``"float32"`` or a Python type."""
    if dtype is None:
        return _Defaults.dtype
    if isinstance(dtype, str):
        if dtype not in _DTYPE_NAMES:
            raise TypeError(f"unknown dtype {dtype!r}; use one of {sorted(_DTYPE_NAMES)}")
        return _DTYPE_NAMES[dtype]
    if dtype is builtins.float:
        return _Defaults.dtype
    if dtype is builtins.int:
        return int64
    if dtype is builtins.bool:
        return bool
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{dtype!r} is not a dtype; use e.g. chainrule.float32") from None
