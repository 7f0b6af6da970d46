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
import os
import threading
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


def prange(*bounds: int) -> range:
    """``numba.prange`` for kernels, without importing numba: a kernel's loop over this runs
    on several threads in its threaded build (``threaded_kernel``), and is ``range`` otherwise."""
    return range(*bounds)


def _jit(function: Callable[..., Any], **options: Any) -> Callable[..., Any]:
    """``numba.njit(**options)(function)``, the scalar functions it names compiled first and
    bound in a copy of its globals (the module's own names stay plain Python)."""
    import numba

    namespace = dict(function.__globals__)
    for name in function.__code__.co_names:
        if getattr(namespace.get(name), "__chainrule_scalar__", False):
            namespace[name] = _jit(namespace[name], inline="always", error_model="numpy")
        elif namespace.get(name) is prange:
            namespace[name] = numba.prange
    rebuilt = types.FunctionType(function.__code__, namespace, function.__name__,
                                 function.__defaults__, function.__closure__)
    if options.get("parallel"):
        # numba's disk cache files a function under its qualified name and bytecode, not its
        # options: without another name the threaded build would load the serial one's
        rebuilt.__qualname__ = f"{function.__qualname__}_parallel"
    return numba.njit(**options)(rebuilt)


_KERNEL_OPTIONS = dict(cache=True, nogil=True, error_model="numpy")
"""NumPy's error model: a float division by zero gives inf or nan as NumPy's would, instead
of raising, and a loop with no exception branch can be vectorised."""


def kernel(function: Callable[..., Any]) -> Callable[..., Any]:
    """Compile ``function`` with ``numba.njit`` the first time it is called.

    Importing numba costs about half a second, so ``import chainrule`` does not; a kernel module
    decorates its loops with this and the import happens when an op first needs one."""
    compiled: Callable[..., Any] | None = None

    def call(*args: Any) -> Any:
        nonlocal compiled
        if compiled is None:
            compiled = _jit(function, **_KERNEL_OPTIONS)
        return compiled(*args)

    return functools.update_wrapper(call, function)  # name, docstring and __wrapped__


# ------------------------------------------------------------------------------ threads
THREADS_VARIABLE = "CHAINRULE_KERNEL_THREADS"

PARALLEL_THRESHOLD = 32_768
"""The fewest elements (of a kernel's largest array) for which a threaded kernel runs its
threaded build; below it waking the threads costs more than they save (docs/threads.md)."""

ELEMENTWISE_THRESHOLD = 131_072
"""The same for the elementwise kernels (ReLU, the SGD step), whose serial loop is already at
memory speed: ReLU forward on float32 measured 17.9 us serial and 16.1 threaded at 131,072
elements, 56.9 and 21.6 at 262,144, and threaded slower below (11.5 against 7.7 at 65,536)."""

CHUNK = 8_192
"""Elements per chunk of the threaded elementwise kernels (ReLU, the SGD step): threads share
the chunks, and each chunk is one loop that LLVM vectorises. Kernels hold it as a constant, and
numba's disk cache is invalidated by their own files only: after changing it, clear the cache
(the ``__pycache__`` folders of chainrule/kernels)."""

threaded_calls = 0
"""How many kernel calls ran their threaded build (for tests and diagnosis)."""

_threads_asked: int | str | None = None  # "auto" or a count, from set_num_threads or the env
_threads_process: int | None = None  # the process that started numba's threads
_layer_threadsafe = True  # False on numba's workqueue layer, which one thread at a time may use


def _parse_threads(value: Any, source: str) -> int | str:
    """``"auto"`` or a positive int, from ``value``; a ``ConfigError`` naming ``source`` else."""
    from chainrule.errors import ConfigError

    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    if not isinstance(value, bool):
        try:
            count = int(text)
        except ValueError:
            count = 0
        if count >= 1 and str(count) == text.lstrip("+"):
            return count
    raise ConfigError(f"kernel threads {value!r} (from {source}) is neither 'auto' nor a positive "
                      "whole number")


def set_num_threads(threads: int | str) -> None:
    """Run the threaded kernels on ``threads`` threads (a positive int), or ``"auto"``: as many
    as MKL runs chainrule's products on, and 1 under NumPy's OpenBLAS (see docs/threads.md).
    A bad value raises ``ConfigError`` (a ``ValueError``)::

        >>> import chainrule
        >>> chainrule.backends.numba.set_num_threads(1)
        >>> chainrule.backends.numba.get_num_threads()
        1
        >>> chainrule.backends.numba.set_num_threads("auto")
    """
    global _threads_asked
    _threads_asked = _parse_threads(threads, "backends.numba.set_num_threads")


def get_num_threads() -> int:
    """How many threads the threaded kernels run on. The first call reads
    ``CHAINRULE_KERNEL_THREADS`` (``auto`` when unset); numba caps the count at its own
    ``NUMBA_NUM_THREADS`` (the machine's cores unless set)."""
    global _threads_asked
    if _threads_asked is None:
        _threads_asked = _parse_threads(os.environ.get(THREADS_VARIABLE, "").strip() or "auto",
                                        THREADS_VARIABLE)
    if _threads_asked != "auto":
        return int(_threads_asked)
    from chainrule.backends import blas

    mkl = blas.load_mkl() if blas.current() == "mkl" else None
    # under OpenBLAS one: its spinning pool and numba's against each other slow steps down
    return mkl.threads() if mkl is not None else 1


def threading_layer() -> str:
    """The numba threading layer chainrule asks for: ``omp`` (TBB measured slower), or
    ``workqueue`` when numba's OpenMP layer does not load; ``NUMBA_THREADING_LAYER`` wins."""
    asked = os.environ.get("NUMBA_THREADING_LAYER", "").strip()
    if asked:
        return asked
    try:
        from numba.np.ufunc import omppool  # type: ignore[attr-defined]  # noqa: F401 (a compiled module)
    except ImportError:
        return "workqueue"
    return "omp"


def _start_threads() -> None:
    """Start numba's threads on ``threading_layer()``. numba fixes its layer when it first
    starts threads, reading ``numba.config.THREADING_LAYER``, which every compilation resets
    from the environment: so the layer is set here and the threads started at once, before any
    threaded kernel compiles."""
    global _threads_process, _layer_threadsafe
    import numba

    numba.config.reload_config()
    numba.config.THREADING_LAYER = threading_layer()  # type: ignore[attr-defined]
    numba.get_num_threads()  # starts the threads: the layer is fixed from here on
    _threads_process = os.getpid()
    _layer_threadsafe = numba.threading_layer() != "workqueue"


def _kernel_threads(work: int, threshold: int | str | None) -> int:
    """The threads for a kernel call over ``work`` elements: 1 for the serial build."""
    # a threshold named by a string is this module's constant of that name, read at each call
    limit = globals()[threshold] if isinstance(threshold, str) else threshold
    if work < (PARALLEL_THRESHOLD if limit is None else limit):
        return 1
    threads = get_num_threads()
    if threads <= 1:
        return 1
    if _threads_process is None:
        _start_threads()
    elif _threads_process != os.getpid():
        return 1  # a forked child: GNU OpenMP's threads do not survive fork()
    if not _layer_threadsafe and threading.current_thread() is not threading.main_thread():
        return 1  # workqueue aborts when two threads launch kernels at once: the main one only
    import numba

    return min(threads, numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]


def threaded_kernel(function: Callable[..., Any] | None = None, *, threshold: int | str | None = None
                    ) -> Any:
    """``kernel`` for a loop written with ``numba.prange``: compiled serial (``prange`` is then
    ``range``) and, the first time a call has at least ``threshold`` elements
    (``PARALLEL_THRESHOLD`` unless given; a string names another of this module's constants,
    read at each call) in its largest array and ``get_num_threads()`` > 1, threaded.
    Parallelise only independent outer indices, never a reduction: both builds then give the
    same bits."""
    if function is None:
        return functools.partial(threaded_kernel, threshold=threshold)
    serial = kernel(function)
    threaded: Callable[..., Any] | None = None

    def call(*args: Any) -> Any:
        global threaded_calls
        nonlocal threaded
        work = 0
        for arg in args:  # a loop, not a generator: this runs on every kernel call
            work = max(work, getattr(arg, "size", 0))
        threads = _kernel_threads(work, threshold)
        if threads == 1:
            return serial(*args)
        if threaded is None:
            threaded = _jit(function, parallel=True, **_KERNEL_OPTIONS)
        import numba

        if numba.get_num_threads() != threads:  # numba's count is per calling thread
            numba.set_num_threads(threads)
        threaded_calls += 1
        return threaded(*args)

    return functools.update_wrapper(call, function)
