"""Collective communication between processes, with PyTorch's ``torch.distributed`` names, over MPI.

Start N copies of a script with an MPI launcher (``mpiexec -n 2 python train.py``, Slurm's
``srun``); each calls :func:`init_process_group` and then exchanges tensors with the others.
Arrays travel through mpi4py's buffer interface (its upper-case methods), straight from the
tensors' NumPy memory and never pickled.

The one backend is ``"mpi"``; it needs the ``distributed`` extra (``pip install
'chainrule[distributed]'``: mpi4py and the mpich wheel, which brings ``mpiexec``). Without it this
module still imports, and its functions say what to install.

In a script started as ``mpiexec -n 2 python script.py``, ``dist.init_process_group("mpi")``
joins the group and ``dist.all_reduce(t)`` leaves the sum of both processes' ``t`` in ``t`` on
each (docs/distributed.md has a whole training script).

Before :func:`init_process_group` there is no group:

    >>> import chainrule.distributed as dist
    >>> dist.is_initialized()
    False
"""

from __future__ import annotations

import enum
import sys
from typing import Any

import numpy as np

from chainrule.tensor import Tensor

__all__ = [
    "ReduceOp",
    "Work",
    "all_gather",
    "all_reduce",
    "barrier",
    "broadcast",
    "destroy_process_group",
    "get_rank",
    "get_world_size",
    "init_process_group",
    "is_available",
    "is_initialized",
    "is_mpi_available",
]

INSTALL_HINT = (
    "chainrule.distributed needs mpi4py and an MPI library: pip install 'chainrule[distributed]' "
    "(or pip install mpi4py mpich)"
)


class ReduceOp(enum.Enum):
    """How :func:`all_reduce` combines the processes' tensors (PyTorch's ``dist.ReduceOp``).
    ``AVG`` is the sum divided by the world size."""

    SUM = "sum"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    AVG = "avg"


class _Group:
    """The one process group: a private duplicate of MPI's world communicator, so messages of
    chainrule never match a user's own mpi4py messages on COMM_WORLD."""

    def __init__(self, comm: Any) -> None:
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()


_group: _Group | None = None


def _mpi() -> Any:
    """mpi4py's MPI module, or an ImportError that says what to install."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    return MPI


def is_available() -> bool:
    """Whether this module can be used: mpi4py and an MPI library are installed."""
    return is_mpi_available()


def is_mpi_available() -> bool:
    """Whether the ``"mpi"`` backend can start (mpi4py imports and finds its MPI library)."""
    try:
        _mpi()
    except (ImportError, RuntimeError):
        return False
    return True


def init_process_group(
    backend: str = "mpi",
    init_method: str | None = None,
    timeout: Any = None,
    world_size: int = -1,
    rank: int = -1,
) -> None:
    """Join the process group of all processes the MPI launcher started.

    Rank and world size come from MPI itself; ``world_size`` and ``rank``, if given, are
    checked against them. ``init_method`` and ``timeout`` are accepted for PyTorch scripts and
    must be left at their defaults (MPI has its own rendezvous; a launcher's timeout, e.g.
    ``mpiexec -timeout``, bounds a job).

    Once a group of more than one process exists, an exception that nobody catches aborts the
    whole job (``MPI_Abort``) after printing its traceback, as ``python -m mpi4py`` does: the
    other processes would otherwise wait forever in their next collective.

    Raises:
        ValueError: a backend other than ``"mpi"``, or a rank/world size MPI contradicts.
        RuntimeError: the group is already initialised.
        ImportError: mpi4py is not installed (the message says what to install).
    """
    global _group
    if backend != "mpi":
        raise ValueError(
            f"init_process_group: backend {backend!r} is not available in chainrule; use "
            "backend='mpi' (processes started by mpiexec or srun)"
        )
    if init_method is not None and init_method != "env://":
        raise ValueError(
            f"init_process_group: init_method {init_method!r} is not used by the MPI backend; the "
            "MPI launcher connects the processes, so leave init_method out"
        )
    if _group is not None:
        raise RuntimeError("init_process_group: the process group is already initialised")
    mpi = _mpi()
    comm = mpi.COMM_WORLD.Dup()
    group = _Group(comm)
    for name, given, actual in (("world_size", world_size, group.size), ("rank", rank, group.rank)):
        if given not in (-1, actual):
            comm.Free()
            raise ValueError(
                f"init_process_group: {name}={given}, but MPI started this process with "
                f"{name} {actual}; leave {name} out or start the job with a matching mpiexec -n"
            )
    _group = group
    if group.size > 1:
        _abort_on_uncaught_exceptions()


def _abort_on_uncaught_exceptions() -> None:
    previous = sys.excepthook
    if getattr(previous, "_chainrule_aborts", False):
        return

    def print_and_abort(kind: Any, value: Any, traceback: Any) -> None:
        previous(kind, value, traceback)
        sys.stderr.flush()
        abort(1)

    print_and_abort._chainrule_aborts = True  # type: ignore[attr-defined]
    sys.excepthook = print_and_abort


def abort(status: int) -> None:
    """End every process of the job with exit status ``status`` (``MPI_Abort``): what a
    process that failed alone does, so the others do not wait for it forever."""
    _mpi().COMM_WORLD.Abort(status)


def is_initialized() -> bool:
    """Whether :func:`init_process_group` has run (and no :func:`destroy_process_group` since)."""
    return _group is not None


def _current() -> _Group:
    if _group is None:
        raise RuntimeError(
            "the default process group has not been initialised; call "
            "chainrule.distributed.init_process_group(backend='mpi') first"
        )
    return _group


def get_rank() -> int:
    """This process's rank, 0 to ``get_world_size() - 1``."""
    return _current().rank


def get_world_size() -> int:
    """The number of processes in the group."""
    return _current().size


def destroy_process_group() -> None:
    """Leave the process group (MPI itself is finalised when Python exits)."""
    global _group
    group = _current()
    group.comm.Free()
    _group = None


def barrier() -> None:
    """Wait until every process has reached this call."""
    _current().comm.Barrier()


class Work:
    """What an ``async_op=True`` collective returns: :meth:`wait` blocks until it is done and
    the tensor holds the result; :meth:`is_completed` asks without blocking."""

    def __init__(self, request: Any, finish: Any = None) -> None:
        self._request = request
        self._finish = finish
        self._done = False

    def is_completed(self) -> bool:
        if not self._done and self._request.Test():
            self._complete()
        return self._done

    def wait(self) -> bool:
        if not self._done:
            self._request.Wait()
            self._complete()
        return True

    def _complete(self) -> None:
        self._done = True
        if self._finish is not None:
            self._finish()


def _buffer(tensor: Any, what: str) -> tuple[np.ndarray, Any]:
    """The tensor's array if MPI can use it in place, else a contiguous copy, and a function
    that writes a copy's result back."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{what}: expects a chainrule Tensor, got {type(tensor).__name__}")
    array = tensor.array
    if array.flags.c_contiguous and array.flags.writeable:
        return array, None
    staged = np.ascontiguousarray(array)

    def write_back() -> None:
        tensor.array[...] = staged

    return staged, write_back


def _mpi_op(op: ReduceOp) -> Any:
    if not isinstance(op, ReduceOp):
        raise TypeError(f"all_reduce: op must be a chainrule.distributed.ReduceOp, got {op!r}")
    mpi = _mpi()
    return {
        ReduceOp.SUM: mpi.SUM,
        ReduceOp.AVG: mpi.SUM,
        ReduceOp.PRODUCT: mpi.PROD,
        ReduceOp.MIN: mpi.MIN,
        ReduceOp.MAX: mpi.MAX,
    }[op]


def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, async_op: bool = False) -> Work | None:
    """Combine ``tensor`` (any shape) across processes with ``op``, in place on every process.

    With ``async_op=True`` the reduction starts (``MPI_Iallreduce``) and a :class:`Work` is
    returned; the tensor holds the result after ``work.wait()``.
    """
    group = _current()
    mpi_op = _mpi_op(op)
    if op is ReduceOp.AVG and tensor.array.dtype.kind not in "fc":
        raise TypeError(f"all_reduce: ReduceOp.AVG needs a floating-point tensor, got {tensor.dtype}")
    array, write_back = _buffer(tensor, "all_reduce")
    mpi = _mpi()

    def finish() -> None:
        if op is ReduceOp.AVG:
            array[...] /= group.size
        if write_back is not None:
            write_back()

    if async_op:
        return Work(group.comm.Iallreduce(mpi.IN_PLACE, array, op=mpi_op), finish)
    group.comm.Allreduce(mpi.IN_PLACE, array, op=mpi_op)
    finish()
    return None


def broadcast(tensor: Tensor, src: int = 0, async_op: bool = False) -> Work | None:
    """Overwrite ``tensor`` on every process with rank ``src``'s (same shape and dtype
    everywhere)."""
    group = _current()
    _check_rank(src, group, "broadcast", "src")
    array, write_back = _buffer(tensor, "broadcast")
    if async_op:
        return Work(group.comm.Ibcast(array, root=src), write_back)
    group.comm.Bcast(array, root=src)
    if write_back is not None:
        write_back()
    return None


def all_gather(tensor_list: list[Tensor], tensor: Tensor, async_op: bool = False) -> Work | None:
    """Fill ``tensor_list[r]`` with rank r's ``tensor``; the list has one tensor per process,
    each of ``tensor``'s shape and dtype."""
    group = _current()
    if len(tensor_list) != group.size:
        raise ValueError(
            f"all_gather: tensor_list has {len(tensor_list)} tensors, but the group has "
            f"{group.size} processes; pass one tensor per process"
        )
    for index, slot in enumerate(tensor_list):
        if not isinstance(slot, Tensor) or slot.shape != tensor.shape or slot.dtype != tensor.dtype:
            raise ValueError(
                f"all_gather: tensor_list[{index}] must be a Tensor of shape {tuple(tensor.shape)} "
                f"and dtype {tensor.dtype}, like the tensor sent"
            )
    send = np.ascontiguousarray(tensor.array)
    received = np.empty((group.size, *send.shape), dtype=send.dtype)

    def scatter_to_list() -> None:
        for slot, part in zip(tensor_list, received):
            slot.array[...] = part

    if async_op:
        return Work(group.comm.Iallgather(send, received), scatter_to_list)
    group.comm.Allgather(send, received)
    scatter_to_list()
    return None


def _check_rank(rank: Any, group: _Group, what: str, name: str) -> None:
    if not isinstance(rank, int) or not 0 <= rank < group.size:
        raise ValueError(f"{what}: {name}={rank!r} is not a rank of this group (0 to {group.size - 1})")
