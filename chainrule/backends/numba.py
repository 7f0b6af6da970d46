"""The numba backend: fused loops for the ops NumPy can only write as several passes.

Install with ``pip install chainrule[numba]``. Kernels compile on first use (about a second
each, cached on disk afterwards) and release the GIL. ``enabled`` switches them off for the whole
process, e.g. to compare against the NumPy path::

    >>> import chainrule
    >>> chainrule.backends.numba.enabled = False
    >>> chainrule.backends.numba.enabled = True   # the default again
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable
from typing import Any

enabled: bool = True
"""Use numba kernels where they exist (when numba is installed). Set to False for NumPy only."""

_available: bool | None = None


def is_available() -> bool:
    """Whether numba imports. Checked once, when an op first asks: importing numba takes about
    half a second, so ``import chainrule`` does not do it. A numba that is installed but does not
    import (e.g. built for another NumPy) is reported once and left aside: every op has its NumPy
    path."""
    global _available
    if _available is None:
        _available = False
        if importlib.util.find_spec("numba") is not None:
            try:
                import numba  # noqa: F401
            except Exception as error:  # any failure of a broken install, not only ImportError
                warnings.warn(f"chainrule: numba is installed but does not import ({error}); "
                              "chainrule uses its NumPy kernels instead", RuntimeWarning, stacklevel=2)
            else:
                _available = True
    return _available


def active() -> bool:
    """Whether ops should take their numba kernels now: installed and ``enabled``."""
    return enabled and is_available()


def handles(*arrays: Any) -> bool:
    """Whether ops should give ``arrays`` to their numba kernels: the backend is active and
    every array is float32 or float64, the dtypes the kernels compile for (integers, float16
    and long doubles stay on the NumPy path)."""
    return active() and all(array.dtype.char in "fd" for array in arrays)


def kernel(function: Callable[..., Any]) -> Callable[..., Any]:
    """Compile ``function`` with ``numba.njit`` the first time it is called.

    Importing numba costs about half a second, so ``import chainrule`` does not; a kernel module
    decorates its loops with this and the import happens when an op first needs one."""
    compiled: Callable[..., Any] | None = None

    def call(*args: Any) -> Any:
        nonlocal compiled
        if compiled is None:
            import numba

            compiled = numba.njit(cache=True, nogil=True)(function)
        return compiled(*args)

    call.__name__, call.__doc__ = function.__name__, function.__doc__
    call.__wrapped__ = function  # type: ignore[attr-defined]  # a function takes new attributes
    return call
