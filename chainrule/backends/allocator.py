"""Keep freed large blocks in the process instead of handing them back to the OS.

glibc's malloc serves blocks above ``M_MMAP_THRESHOLD`` (128 KiB at first, adapting upwards)
with fresh ``mmap`` calls and returns freed memory above ``M_TRIM_THRESHOLD`` to the OS. A
training step allocates and frees the same large activation and gradient arrays every time,
so without tuning each step pays for new pages again (page faults and zeroing): measured on
this project's 2-core VM, keeping two new 1.6 MB arrays alive per step cost 1.27 ms, and 0.11 ms
with the thresholds below. Raising both thresholds lets malloc reuse those blocks.

The setting is the whole process's, so importing chainrule never makes it: ``chainrule
train`` (the command line), ``Trainer`` and the benchmarks call ``tune_allocator()``; a script
of your own may call it too. It does nothing where the C library is not glibc (macOS, Windows,
musl). Memory that a process frees stays reserved for it (up to the trim threshold), which is
the point: the next step reuses it.

Example::

    >>> import chainrule
    >>> chainrule.backends.tune_allocator()   # False where the C library is not glibc
    True
    >>> chainrule.backends.allocator.is_tuned()
    True
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 * 1024 * 1024  # blocks below 256 MiB come from the reusable heap
TRIM_THRESHOLD = 1024 * 1024 * 1024  # keep up to 1 GiB of freed memory for reuse


class _State:
    tuned = False  # whether this process's malloc thresholds were set by tune_allocator


def tune_allocator() -> bool:
    """Set glibc's malloc thresholds for array-heavy work, for the whole process; True when
    they were set (now or by an earlier call), False where the C library is not glibc."""
    if _State.tuned:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    _State.tuned = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return _State.tuned


def is_tuned() -> bool:
    """Whether ``tune_allocator`` has set this process's malloc thresholds."""
    return _State.tuned
