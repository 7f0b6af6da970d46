"""Which BLAS runs chainrule's matrix products: NumPy's own (OpenBLAS in NumPy's wheels) or
Intel's oneMKL from the ``mkl`` wheel (``pip install chainrule[mkl]``).

On Intel CPUs MKL runs the GEMMs of a training step 1.2-1.7x faster than NumPy's OpenBLAS; on
AMD CPUs it ran 3-28% slower (BENCHMARKS.md, "The BLAS choice"). So the default, ``"auto"``,
takes MKL when it is installed and the CPU is Intel's, and NumPy otherwise. The choice comes
from the ``CHAINRULE_BLAS`` environment variable (``auto``, ``numpy`` or ``mkl``), read when the
first product runs, or from :func:`use`::

    >>> import chainrule
    >>> chainrule.backends.blas.use("numpy")   # every product through np.matmul
    >>> chainrule.backends.blas.current()
    'numpy'
    >>> chainrule.backends.blas.use("auto")

Numerics: MKL is loaded in strict conditional numerical reproducibility (``MKL_CBWR=AUTO,STRICT``
unless the environment already sets ``MKL_CBWR``), so a product gives the same bits whatever the
memory alignment and the thread count; what chainrule promises to the bit (compiled replay and
eager, checkpointed and plain, distributed ranks, runs with one seed) holds under either BLAS.
The two libraries round differently, so MKL's products differ from NumPy's in the last bits
(relative 1e-7 of the sum's magnitude in float32).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import sys
from dataclasses import dataclass
from typing import Any

from chainrule.errors import ConfigError

CHOICES = ("auto", "numpy", "mkl")
ENVIRONMENT_VARIABLE = "CHAINRULE_BLAS"

_choice: str | None = None  # what ``use`` or the environment asked for; read lazily
_resolved: str | None = None  # "numpy" or "mkl"
_mkl: MKL | None = None
_mkl_error: str | None = None  # why MKL did not load, once tried


@dataclass(frozen=True)
class MKL:
    """The loaded ``libmkl_rt``: its CBLAS products, their addresses and a description."""

    library: ctypes.CDLL
    sgemm: Any  # ctypes function, argtypes set
    dgemm: Any
    version: str
    reproducibility: str

    @property
    def sgemm_address(self) -> int:
        return int(ctypes.cast(self.sgemm, ctypes.c_void_p).value or 0)

    @property
    def dgemm_address(self) -> int:
        return int(ctypes.cast(self.dgemm, ctypes.c_void_p).value or 0)

    def threads(self) -> int:
        return int(self.library.MKL_Get_Max_Threads())


def _library_path() -> str | None:
    """``libmkl_rt`` of the ``mkl`` wheel (in the environment's ``lib``), or the system's."""
    found = sorted(glob.glob(os.path.join(sys.prefix, "lib", "libmkl_rt.so*")))
    found += sorted(glob.glob(os.path.join(sys.prefix, "Library", "bin", "mkl_rt*.dll")))
    return found[0] if found else ctypes.util.find_library("mkl_rt")


def _gemm_argtypes(real: type) -> list[Any]:
    integer, pointer = ctypes.c_int, ctypes.c_void_p
    return [integer] * 6 + [real, pointer, integer, pointer, integer, real, pointer, integer]


def load_mkl() -> MKL | None:
    """Load ``libmkl_rt`` once (None when it is absent or does not load; ``mkl_error()`` says
    why). Before it loads, reproducibility is set strict and the threading layer to
    ``THREADING_LAYER``, unless the environment says otherwise; MKL then takes the threads of
    NumPy's BLAS pool, which keeps one."""
    global _mkl, _mkl_error
    if _mkl is not None or _mkl_error is not None:
        return _mkl
    path = _library_path()
    if path is None:
        _mkl_error = "the mkl package is not installed (pip install chainrule[mkl])"
        return None
    os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
    os.environ.setdefault("MKL_THREADING_LAYER", THREADING_LAYER)
    try:
        library = ctypes.CDLL(path)
        sgemm, dgemm = library.cblas_sgemm, library.cblas_dgemm
    except (OSError, AttributeError) as error:
        _mkl_error = f"{path} does not load ({error})"
        return None
    for function, real in ((sgemm, ctypes.c_float), (dgemm, ctypes.c_double)):
        function.restype, function.argtypes = None, _gemm_argtypes(real)
    version = ctypes.create_string_buffer(256)
    library.MKL_Get_Version_String(version, len(version))
    _mkl = MKL(library, sgemm, dgemm, version.value.decode().split(" for ")[0].strip(),
               os.environ["MKL_CBWR"])
    library.MKL_Set_Dynamic(0)  # a fixed thread count: reproducibility needs it
    threads = _numpy_blas_threads()
    library.MKL_Set_Num_Threads(threads or library.MKL_Get_Max_Threads())
    if os.environ["MKL_THREADING_LAYER"].upper() != "SEQUENTIAL":
        _one_thread_for_numpy_blas()
    return _mkl


THREADING_LAYER = "INTEL"
"""MKL's threading layer unless ``MKL_THREADING_LAYER`` is set. MKL takes the threads of NumPy's
OpenBLAS pool, and that pool is cut to one thread (it keeps the small products, which gain
nothing from threads), so that one pool runs at a time: two pools spinning against each other
made steps 10 times slower on a 2-core Xeon. Measured there on a quiet machine, wall time at
two threads, chainrule's step against PyTorch's (BENCHMARKS.md, docs/blas.md): MLP
784-512-512-10 batch 128 0.95x with MKL threaded (0.79x with NumPy's OpenBLAS; sequential MKL
is 1.5x slower than two OpenBLAS threads on its products), batch 32 1.00x (0.72x), the CNN
1.01x (0.95x). GNU OpenMP measured the same as Intel's; Intel's ships with the mkl wheel."""


def _numpy_blas_threads() -> int | None:
    """Threads of NumPy's BLAS pool, so MKL takes as many (None without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    pools = [pool for pool in threadpool_info() if pool.get("internal_api") == "openblas"]
    pools.sort(key=lambda pool: "/numpy" not in pool.get("filepath", ""))  # NumPy's own first
    return int(pools[0]["num_threads"]) if pools else None


def _one_thread_for_numpy_blas() -> None:
    """Cut NumPy's OpenBLAS pool to one thread, process-wide (see ``THREADING_LAYER``)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return
    ThreadpoolController().select(internal_api="openblas").limit(limits=1)


def mkl_error() -> str | None:
    """Why MKL is not available (None when it is, or has not been tried)."""
    return _mkl_error


def is_available() -> bool:
    """Whether MKL's ``libmkl_rt`` is installed and loads (loading it on first ask)."""
    return load_mkl() is not None


def cpu_vendor(cpuinfo_path: str = "/proc/cpuinfo") -> str:
    """The CPU's vendor id, e.g. "GenuineIntel" or "AuthenticAMD" ("" when unknown)."""
    try:
        with open(cpuinfo_path, encoding="utf-8", errors="replace") as file:
            for line in file:
                if line.startswith("vendor_id"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return ""


def _resolve(choice: str) -> str:
    if choice not in CHOICES:
        raise ConfigError(
            f"unknown BLAS {choice!r} (from {ENVIRONMENT_VARIABLE} or backends.blas.use); "
            f"choose one of {', '.join(CHOICES)}"
        )
    if choice == "numpy":
        return "numpy"
    if choice == "mkl":
        if not is_available():
            raise ConfigError(f"BLAS 'mkl' was asked for, but {mkl_error()}; install it or choose "
                              f"{ENVIRONMENT_VARIABLE}=numpy")
        return "mkl"
    return "mkl" if cpu_vendor() == "GenuineIntel" and is_available() else "numpy"


def use(choice: str) -> None:
    """Run chainrule's matrix products with ``choice``: ``"auto"`` (MKL when installed and the
    CPU is Intel's), ``"numpy"`` or ``"mkl"``. Raises ``ConfigError`` for another name, or for
    ``"mkl"`` when it is not installed."""
    global _choice, _resolved
    _resolved = _resolve(choice)
    _choice = choice


def current() -> str:
    """The BLAS that runs chainrule's products now: ``"numpy"`` or ``"mkl"``. The first call
    reads ``CHAINRULE_BLAS`` (``auto`` when unset)."""
    global _choice, _resolved
    if _resolved is None:
        choice = os.environ.get(ENVIRONMENT_VARIABLE, "auto").strip().lower() or "auto"
        _resolved, _choice = _resolve(choice), choice
    return _resolved


def describe() -> str:
    """One line on the BLAS in use, for reports and the benchmarks' CPU line."""
    if current() == "numpy":
        return f"numpy's (np.matmul; {ENVIRONMENT_VARIABLE}={_choice})"
    assert _mkl is not None
    return (f"mkl ({_mkl.version}; {_mkl.threads()} threads, {os.environ.get('MKL_THREADING_LAYER')} "
            f"threading, MKL_CBWR={_mkl.reproducibility}; {ENVIRONMENT_VARIABLE}={_choice})")
