"""Writing files so that a reader never sees half of one.

Checkpoints, run folders, reports, saved tensors, ONNX exports and downloaded datasets all
write through :func:`atomic_write_bytes`: a process killed mid-write leaves the previous file
(or none) intact, never a truncated one.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers only ever see the old file or the new one.

    The bytes go to a temporary file in the same folder (``os.replace`` is atomic only within
    one file system), which is flushed and fsync'ed before it replaces ``path``; the folder is
    fsync'ed afterwards so the rename itself survives a power cut.

    Example::

        >>> atomic_write_bytes("metrics.csv", b"epoch,loss\\n1,0.5\\n")
        >>> open("metrics.csv").read()
        'epoch,loss\\n1,0.5\\n'
    """
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):
            # mkstemp makes the file private (0600); give it the mode a plain open() would.
            os.fchmod(descriptor, _file_mode(path))
        with os.fdopen(descriptor, "wb") as file:
            _write_all(file, data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        # Whatever went wrong (even KeyboardInterrupt), the old file is untouched; drop the
        # half-written temporary so failed attempts do not pile up.
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


def _file_mode(path: Path) -> int:
    """The existing file's permissions, or those a new file gets under the current umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _write_all(file: Any, data: bytes) -> None:
    """Write in chunks: a separate function so tests can make a write fail half-way."""
    view = memoryview(data)
    chunk = 1 << 20
    for start in range(0, len(view), chunk):
        file.write(view[start : start + chunk])


def _fsync_directory(folder: Path) -> None:
    if os.name != "posix":
        return  # Windows cannot open a directory for fsync; os.replace is still atomic there.
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
