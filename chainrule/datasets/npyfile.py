"""Reading a ``.npy`` file nobody vetted: numbers only, never unpickled, and nothing allocated
before the header's claims are checked against the file's size."""

from __future__ import annotations

import ast
import math
import os
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np

_MAGIC = b"\x93NUMPY"
_MAX_HEADER = 10_000  # NumPy's own default limit for untrusted headers


def read_npy(path: str | os.PathLike) -> np.ndarray:
    """The numeric array in a ``.npy`` file.

    The header's shape and dtype are checked before any array is allocated: the data must be
    plain numbers (bool, int, uint, float) and exactly as long as the shape says, so a small
    file cannot claim terabytes.

    Raises:
        ValueError: empty file, an ``.npz``/zip archive, a damaged header, a non-numeric dtype, or
            a size that disagrees with the header; the message names the file.

    Example:
        >>> import numpy as np, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "x.npy")
        >>> np.save(path, np.arange(6.0).reshape(2, 3))
        >>> read_npy(path).shape
        (2, 3)
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        start = handle.read(len(_MAGIC))
        if not start:
            raise ValueError(f"{path} is empty; save an array with numpy.save")
        if start.startswith(b"PK"):
            raise ValueError(
                f"{path} is a zip archive (an .npz file), not a .npy file; save a single array "
                f"with numpy.save"
            )
        if start != _MAGIC:
            raise ValueError(f"{path} is not a .npy file (it does not start with NumPy's magic bytes)")
        shape, fortran_order, dtype = _read_header(handle, path)
        if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
            raise ValueError(f"{path} holds {dtype} data; inputs must be plain numbers")
        count = math.prod(shape)
        expected = count * dtype.itemsize
        available = size - handle.tell()
        if expected != available:
            raise ValueError(
                f"{path}: the header says shape {shape} of {dtype} ({expected} bytes) but the file "
                f"holds {available} bytes of data; the file is damaged or truncated"
            )
        data = handle.read(expected)
    array = np.frombuffer(data, dtype=dtype, count=count)
    return array.reshape(shape, order="F" if fortran_order else "C")


def _read_header(handle: BinaryIO, path: Path) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Shape, Fortran order and dtype from the header after the magic bytes. Parsed here
    rather than by NumPy's reader, whose tokenizer raises several undocumented error types on
    damaged headers."""
    version = handle.read(2)
    length_size = {b"\x01\x00": 2, b"\x02\x00": 4}.get(version)
    if length_size is None:
        raise ValueError(f"{path}: .npy format version {tuple(version)} is not supported; use numpy.save")
    length = int.from_bytes(handle.read(length_size), "little")
    if length > _MAX_HEADER:
        raise ValueError(f"{path}: the .npy header claims {length} bytes, more than {_MAX_HEADER}")
    text = handle.read(length).decode("latin1")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. invalid escape sequences in a damaged header
            header = ast.literal_eval(text)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        header = None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise ValueError(f"{path} has a damaged .npy header; expected descr, fortran_order and shape")
    shape, fortran_order, descr = header["shape"], header["fortran_order"], header["descr"]
    if not (isinstance(shape, tuple) and all(type(size) is int and size >= 0 for size in shape)):
        raise ValueError(f"{path}: the .npy header's shape {str(shape)[:80]} is not a tuple of sizes")
    if not isinstance(fortran_order, bool) or not isinstance(descr, str):
        raise ValueError(f"{path} has a damaged .npy header (fortran_order or descr)")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError, OverflowError, MemoryError):
        raise ValueError(f"{path}: the .npy header's dtype {descr[:40]!r} is not a NumPy type") from None
    return shape, fortran_order, dtype
