"""Reader for the IDX file format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number, one big-endian uint32 per dimension, then the values in
C order. The magic number is ``0x00 0x00 <type code> <number of dimensions>``, so image files
(uint8, 3 dimensions) start with 2051 and label files (uint8, 1 dimension) with 2049.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from chainrule.errors import DataFileError

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
# Deflate cannot compress better than about 1032:1, so a gzip file whose header declares more
# than this many times its own size is corrupt or hostile: refused before reading any of it.
_MAX_DEFLATE_RATIO = 1100


class IDXFormatError(DataFileError):
    """A file is not a well-formed IDX file (bad magic number, truncated data, corrupt gzip)."""


def read_idx(
    path: str | os.PathLike,
    *,
    expected_magic: int | None = None,
    expected_shape: tuple[int | None, ...] | None = None,
) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a NumPy array.

    Memory is bounded by the header: the data's size is computed from the declared shape (in
    Python integers, so no overflow) and checked against the file before anything is
    allocated, and a compressed file is decompressed only up to that size (a few bytes of
    gzip cannot expand into gigabytes).

    Args:
        path: the file, e.g. ``t10k-images-idx3-ubyte`` or ``t10k-images-idx3-ubyte.gz``.
            Compression is detected from the file's first bytes, not its name.
        expected_magic: if given, the magic number the file must have, e.g. ``2051`` for
            MNIST images or ``2049`` for labels.
        expected_shape: if given, the shape the header must declare (``None`` for any size
            along that axis), e.g. ``(None, 28, 28)``; checked before any data is read.

    Returns:
        An array of the shape stored in the header, e.g. ``(10000, 28, 28)`` uint8 for MNIST
        test images, in native byte order.

    Raises:
        IDXFormatError: (a :class:`~chainrule.errors.DataFileError`, so a ``ValueError``) for
            an unknown magic number or type code, a wrong ``expected_magic``, corrupt
            compression, or a data length that does not match the header.

    Example:
        >>> path = "t10k-images-idx3-ubyte.gz"  # MNIST's, downloaded  # doctest: +SKIP
        >>> images = read_idx(path, expected_magic=2051)  # doctest: +SKIP
        >>> images.shape, images.dtype  # doctest: +SKIP
        ((10000, 28, 28), dtype('uint8'))
    """
    path = Path(path)
    file_size = path.stat().st_size
    with open(path, "rb") as raw:
        # Decide by content, not by name: a file renamed without its .gz is still read correctly.
        compressed = raw.read(2) == _GZIP_SIGNATURE
        raw.seek(0)
        stream: Any = gzip.GzipFile(fileobj=raw) if compressed else raw
        try:
            return _read_idx_stream(stream, path, file_size, compressed, expected_magic, expected_shape)
        except (OSError, EOFError, zlib.error) as err:
            if not compressed:
                raise
            raise IDXFormatError(
                f"{path} looks gzip-compressed but cannot be decompressed ({err}); the file is "
                f"probably truncated or corrupt. Delete it and download it again"
            ) from None


def _read_idx_stream(
    stream: BinaryIO,
    path: Path,
    file_size: int,
    compressed: bool,
    expected_magic: int | None,
    expected_shape: tuple[int | None, ...] | None,
) -> np.ndarray:
    head = stream.read(4)
    if len(head) < 4:
        raise IDXFormatError(f"{path} is {len(head)} bytes long, too short for an IDX header")
    zero_bytes, type_code, ndim = struct.unpack(">HBB", head)
    magic = int.from_bytes(head, "big")
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
    dims = stream.read(4 * ndim)
    header_size = 4 + 4 * ndim
    if len(dims) < 4 * ndim:
        raise IDXFormatError(f"{path} ends inside its header ({4 + len(dims)} bytes)")
    shape = struct.unpack(f">{ndim}I", dims)
    dtype = IDX_DTYPES[type_code]
    if expected_shape is not None and (
        len(shape) != len(expected_shape)
        or any(want is not None and size != want for size, want in zip(shape, expected_shape))
    ):
        wanted = tuple("N" if size is None else size for size in expected_shape)
        raise IDXFormatError(f"{path} declares shape {shape}, expected {wanted}".replace("'", ""))
    if math.prod(size for size in shape if size) * dtype.itemsize > np.iinfo(np.intp).max:
        # NumPy cannot even describe such an array, empty or not (e.g. 0 x 2^31 x 2^31).
        raise IDXFormatError(f"{path} declares shape {shape}, too large for any array; the file is corrupt")
    data_size = math.prod(shape) * dtype.itemsize  # Python ints: 65536**4 does not wrap around
    expected_size = header_size + data_size
    limit = file_size * _MAX_DEFLATE_RATIO if compressed else file_size
    if expected_size > limit or (not compressed and expected_size != file_size):
        raise IDXFormatError(
            f"{path} holds {file_size} bytes{' compressed' if compressed else ''} but its header "
            f"(shape {shape}, {dtype.name}) implies {expected_size}; the file is truncated or "
            f"corrupt. Delete it and download it again"
        )
    data = stream.read(data_size + 1)  # one byte more shows data beyond what the header says
    if len(data) != data_size:
        found = header_size + len(data)
        raise IDXFormatError(
            f"{path} holds {'more than ' if len(data) > data_size else ''}{found} bytes of data "
            f"but its header (shape {shape}, {dtype.name}) implies {expected_size}; the file is "
            f"truncated or corrupt. Delete it and download it again"
        )
    values = np.frombuffer(data, dtype=dtype).reshape(shape)
    # astype copies into native byte order, giving a writable array not tied to ``data``.
    return values.astype(dtype.newbyteorder("="))
