"""Reader for the IDX file format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number, one big-endian uint32 per dimension, then the values in
C order. The magic number is ``0x00 0x00 <type code> <number of dimensions>``, so image files
(uint8, 3 dimensions) start with 2051 and label files (uint8, 1 dimension) with 2049.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049

# Type code -> big-endian dtype, from the format's description on Yann LeCun's MNIST page.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_SIGNATURE = b"\x1f\x8b"


class IDXFormatError(ValueError):
    """A file is not a well-formed IDX file (bad magic number, truncated data, corrupt gzip)."""


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as handle:
        raw = handle.read()
    # Decide by content, not by name: a file renamed without its .gz is still read correctly.
    if not raw.startswith(_GZIP_SIGNATURE):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise IDXFormatError(
            f"{path} looks gzip-compressed but cannot be decompressed ({err}); the file is "
            f"probably truncated or corrupt. Delete it and download it again"
        ) from err


def read_idx(path: str | os.PathLike, *, expected_magic: int | None = None) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a NumPy array.

    Args:
        path: the file, e.g. ``t10k-images-idx3-ubyte`` or ``t10k-images-idx3-ubyte.gz``.
            Compression is detected from the file's first bytes, not its name.
        expected_magic: if given, the magic number the file must have, e.g. ``2051`` for
            MNIST images or ``2049`` for labels.

    Returns:
        An array of the shape stored in the header, e.g. ``(10000, 28, 28)`` uint8 for MNIST
        test images, in native byte order.

    Raises:
        IDXFormatError: (a ``ValueError``) for an unknown magic number or type code, a wrong
            ``expected_magic``, or a data length that does not match the header.

    Example:
        >>> path = "t10k-images-idx3-ubyte.gz"  # MNIST's, downloaded  # doctest: +SKIP
        >>> images = read_idx(path, expected_magic=2051)  # doctest: +SKIP
        >>> images.shape, images.dtype  # doctest: +SKIP
        ((10000, 28, 28), dtype('uint8'))
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise IDXFormatError(f"{path} is {len(data)} bytes long, too short for an IDX header")
    zero_bytes, type_code, ndim = struct.unpack(">HBB", data[:4])
    magic = int.from_bytes(data[:4], "big")
    if zero_bytes != 0 or type_code not in IDX_DTYPES or ndim == 0:
        raise IDXFormatError(
            f"{path} is not an IDX file: magic number {magic} (0x{magic:08x}) should be "
            f"0x0000TTDD with a type code TT in {[hex(code) for code in IDX_DTYPES]} and "
            f"DD >= 1 dimensions (MNIST images have 2051, labels 2049)"
        )
    if expected_magic is not None and magic != expected_magic:
        raise IDXFormatError(
            f"{path} has magic number {magic} but {expected_magic} was expected "
            f"({IMAGES_MAGIC} = images, {LABELS_MAGIC} = labels); are the image and label files "
            f"swapped?"
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise IDXFormatError(f"{path} ends inside its header ({len(data)} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:header_size])
    dtype = IDX_DTYPES[type_code]
    expected_size = header_size + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected_size:
        raise IDXFormatError(
            f"{path} holds {len(data)} bytes but its header (shape {shape}, {dtype.name}) "
            f"implies {expected_size}; the file is truncated or corrupt. Delete it and "
            f"download it again"
        )
    values = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    # astype copies into native byte order, giving a writable array not tied to ``data``.
    return values.astype(dtype.newbyteorder("="))
