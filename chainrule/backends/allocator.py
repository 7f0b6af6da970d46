"""Keep freed large blocks in the process instead of handing them back to the OS.

glibc's malloc serves blocks above ``M_MMAP_THRESHOLD`` (128 KiB at first, adapting upwards)
with fresh ``mmap`` calls and returns freed memory above ``M_TRIM_THRESHOLD`` to the OS. A
training step allocates and frees the same large activation and gradient arrays every time,
so without tuning each step pays for new pages again (page faults and zeroing): measured on
this project's 2-core VM, keeping two new 1.6 MB arrays alive per step cost 1.27 ms, and 0.11 ms
with the thresholds below. Raising both thresholds lets malloc reuse those blocks.

The setting is the whole process's, so importing chainrule never makes it. Training does: the
command line, ``Trainer``, the benchmarks, and any script's first optimizer (an optimizer means
a training loop, whose steps reuse the same arrays) call ``tune_allocator()``. A plain script
training the MNIST-1D CNN measured 3.95-4.21 ms of CPU a step without it and 2.64-2.71 ms with
it (one thread; 1,569 minor page faults a step against 0.1). ``CHAINRULE_TUNE_ALLOCATOR=0``
keeps optimizers from doing it; calling ``tune_allocator()`` yourself still works. It does
nothing where the C library is not glibc (macOS, Windows, musl). Memory that a process frees
stays reserved for it (up to the trim threshold), which is the point: the next step reuses it.

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
import os
import sys

from chainrule.errors import ConfigError

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


ENVIRONMENT_VARIABLE = "CHAINRULE_TUNE_ALLOCATOR"
_ON, _OFF = ("1", "true", "yes", "on", ""), ("0", "false", "no", "off")


def tune_for_training() -> bool:
    """``tune_allocator()`` unless ``CHAINRULE_TUNE_ALLOCATOR`` says 0 (off); what optimizers
    call when they are made. A value other than 1/0 (true/false, yes/no, on/off) raises
    ``ConfigError``."""
    setting = os.environ.get(ENVIRONMENT_VARIABLE, "1").strip().lower()
    if setting in _OFF:
        return False
    if setting not in _ON:
        raise ConfigError(f"{ENVIRONMENT_VARIABLE}={setting!r} is not a setting; use 1 (tune glibc's malloc "
                          "for training steps, the default) or 0 (leave it)")
    return tune_allocator()


def is_tuned() -> bool:
    """Whether ``tune_allocator`` has set this process's malloc thresholds."""
    return _State.tuned
