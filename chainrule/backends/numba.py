"""The numba backend: fused loops for the ops NumPy can only write as several passes.

Install with ``pip install chainrule[numba]``. Kernels compile on first use (about a second
each, cached on disk afterwards) and release the GIL. ``enabled`` switches them off for the whole
process, e.g. to compare against the NumPy path::

    >>> import chainrule
    >>> chainrule.backends.numba.enabled = False
    >>> chainrule.backends.numba.enabled = True   # the default again
"""

from __future__ import annotations

import functools
import importlib.util
import types
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
    if not (enabled and is_available()):  # active(), inlined: this runs for every kernel call
        return False
    for array in arrays:
        if array.dtype.char not in "fd":
            return False
    return True


def scalar(function: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a scalar function that kernels call (e.g. an approximation of tanh). It stays plain
    Python; a kernel that names it compiles it along, so numba is still imported only when a
    kernel first runs. Call it only from kernels of its own module: numba's disk cache of a
    kernel is invalidated by changes to the kernel's file alone."""
    setattr(function, "__chainrule_scalar__", True)  # noqa: B010 (an attribute functions lack)
    return function


def _jit(function: Callable[..., Any], **options: Any) -> Callable[..., Any]:
    """``numba.njit(**options)(function)``, the scalar functions it names compiled first and
    bound in a copy of its globals (the module's own names stay plain Python)."""
    import numba

    namespace = dict(function.__globals__)
    for name in function.__code__.co_names:
        if getattr(namespace.get(name), "__chainrule_scalar__", False):
            namespace[name] = _jit(namespace[name], inline="always", error_model="numpy")
    rebuilt = types.FunctionType(function.__code__, namespace, function.__name__,
                                 function.__defaults__, function.__closure__)
    return numba.njit(**options)(rebuilt)


def kernel(function: Callable[..., Any]) -> Callable[..., Any]:
    """Compile ``function`` with ``numba.njit`` the first time it is called.

    Importing numba costs about half a second, so ``import chainrule`` does not; a kernel module
    decorates its loops with this and the import happens when an op first needs one."""
    compiled: Callable[..., Any] | None = None

    def call(*args: Any) -> Any:
        nonlocal compiled
        if compiled is None:
            # NumPy's error model: a float division by zero gives inf or nan as NumPy's would,
            # instead of raising, and a loop with no exception branch can be vectorised
            compiled = _jit(function, cache=True, nogil=True, error_model="numpy")
        return compiled(*args)

    return functools.update_wrapper(call, function)  # name, docstring and __wrapped__
