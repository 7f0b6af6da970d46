"""Reading a ``.npy`` file nobody vetted: numbers only, never unpickled, and nothing allocated
before the header's claims are checked against the file's size."""

from __future__ import annotations

import math
import os
from pathlib import Path

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
        handle.seek(0)
        try:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                header = np.lib.format.read_array_header_1_0(handle, max_header_size=_MAX_HEADER)
            elif version == (2, 0):
                header = np.lib.format.read_array_header_2_0(handle, max_header_size=_MAX_HEADER)
            else:
                raise ValueError(f"format version {version} is not supported; use numpy.save")
        except (ValueError, UnicodeDecodeError, EOFError) as error:
            raise ValueError(f"{path} has a damaged .npy header ({_first_line(error)})") from None
        shape, fortran_order, dtype = header
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


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__
