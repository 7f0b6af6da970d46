"""DistributedDataParallel: every process holds the model, trains on its own share of each batch,
and the gradients are averaged across processes before the optimizer steps.

How the averaging overlaps backward: parameters are grouped, in reverse registration order (the
order in which backward tends to finish them), into flat buckets of at most ``bucket_cap_mb``
megabytes. Each parameter's post-accumulate-grad hook copies its finished ``.grad`` into its
bucket; the moment a bucket is full it starts a nonblocking ``MPI_Iallreduce`` while backward goes
on with earlier layers. Buckets start strictly in order, so every process issues the same
collectives in the same order, as MPI requires. The hook of the last parameter to finish waits for
the reductions and writes the averages back into ``.grad``; when ``loss.backward()`` returns the
gradients are the averages on every process.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from chainrule import distributed as dist
from chainrule.nn.modules.module import Module
from chainrule.tensor import Tensor


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training over :mod:`chainrule.distributed`.

    At construction rank 0's parameters and buffers are broadcast, so all processes start
    equal. Every ``backward()`` then averages the gradients across processes (see the module
    docstring for how it overlaps backward). Batch statistics of BatchNorm are each process's
    own (no SyncBatchNorm); with ``broadcast_buffers`` (the default, as PyTorch) rank 0's buffers,
    e.g. running means, are sent to all at the start of every forward.

    Args:
        module: the model; reach it as ``.module`` (to save it, ``ddp.module.state_dict()``
            has the keys a single-process run has).
        bucket_cap_mb: the largest bucket, in megabytes (PyTorch's default 25). Smaller
            buckets start communicating sooner; larger ones pay MPI's latency fewer times.
        broadcast_buffers: send rank 0's buffers to all processes before every forward.
        device_ids, output_device, dim, process_group, gradient_as_bucket_view, static_graph:
            accepted for PyTorch scripts; CPU processes have no devices to name.
        find_unused_parameters: must stay False: every parameter that requires grad must get a
            gradient in every backward (one that does not is named in an error at the next
            forward).

    Shapes: the wrapped module's own; forward passes its arguments through.

    Example (with ``mpiexec -n 2`` the two processes' gradients are averaged; alone, the
    average of one)::

        >>> import chainrule.distributed as dist
        >>> from chainrule.nn.parallel import DistributedDataParallel
        >>> dist.init_process_group("mpi")
        >>> model = DistributedDataParallel(nn.Linear(3, 1))
        >>> model(chainrule.ones(4, 3)).sum().backward()
        >>> model.module.weight.grad
        tensor([[4., 4., 4.]])
        >>> dist.destroy_process_group()
    """

    def __init__(
        self,
        module: Module,
        device_ids: Any = None,
        output_device: Any = None,
        dim: int = 0,
        broadcast_buffers: bool = True,
        process_group: Any = None,
        bucket_cap_mb: float = 25.0,
        find_unused_parameters: bool = False,
        gradient_as_bucket_view: bool = False,
        static_graph: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(
                f"DistributedDataParallel: expects a chainrule.nn.Module, got {type(module).__name__}"
            )
        if find_unused_parameters:
            raise ValueError(
                "DistributedDataParallel: find_unused_parameters=True is not supported; every "
                "parameter that requires grad must receive a gradient in each backward (set "
                "requires_grad=False on the ones a model leaves unused)"
            )
        if not bucket_cap_mb > 0:
            raise ValueError(
                f"DistributedDataParallel: bucket_cap_mb must be positive, got {bucket_cap_mb!r}"
            )
        if process_group is not None:
            raise ValueError(
                "DistributedDataParallel: only the default process group exists; leave process_group out"
            )
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.require_backward_grad_sync = True
        self.bucket_cap_mb = bucket_cap_mb
        named = _trained_parameters(module)
        self._reducer = _Reducer(named, int(bucket_cap_mb * 1024 * 1024))
        _check_same_model(named)
        self._sync_states(include_parameters=True)
        self._hook_handles = [
            param.register_post_accumulate_grad_hook(self._reducer.gradient_ready) for _, param in named
        ]

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        self._reducer.check_finished()
        self._reducer.sync = self.require_backward_grad_sync
        if self.broadcast_buffers and self.module.training:
            self._sync_states(include_parameters=False)
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Inside this block backward only accumulates each process's own gradients; the
        first backward after it averages the accumulated sums (gradient accumulation over
        several micro-batches with one reduction).

        Example::

            >>> import chainrule.distributed as dist
            >>> from chainrule.nn.parallel import DistributedDataParallel
            >>> dist.init_process_group("mpi")
            >>> model = DistributedDataParallel(nn.Linear(3, 1))
            >>> with model.no_sync():
            ...     model(chainrule.ones(1, 3)).sum().backward()     # kept local
            >>> model(chainrule.ones(1, 3)).sum().backward()         # both averaged
            >>> model.module.bias.grad
            tensor([2.])
            >>> dist.destroy_process_group()
        """
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    def _sync_states(self, include_parameters: bool) -> None:
        """Broadcast rank 0's buffers (and parameters) to every process."""
        tensors = list(self.module.buffers())
        if include_parameters:
            tensors = [param for _, param in _trained_parameters(self.module, everything=True)] + tensors
        for tensor in tensors:
            dist.broadcast(tensor, src=0)

    def sync_buffers(self) -> None:
        """Send rank 0's buffers (BatchNorm's running statistics) to every process, e.g.
        before evaluating on each process's share of the data."""
        self._sync_states(include_parameters=False)

    def extra_repr(self) -> str:
        return f"bucket_cap_mb={self.bucket_cap_mb}, buckets={len(self._reducer.buckets)}"


def _trained_parameters(module: Module, everything: bool = False) -> list[tuple[str, Tensor]]:
    """(name, parameter) of each distinct parameter (shared ones once) that requires grad."""
    seen: set[int] = set()
    found: list[tuple[str, Tensor]] = []
    for name, param in module.named_parameters():
        if id(param) in seen or not (everything or param.requires_grad):
            continue
        seen.add(id(param))
        found.append((name, param))
    return found


def _check_same_model(named: list[tuple[str, Tensor]]) -> None:
    """Refuse models whose parameters differ between processes: their gradients would be added
    element by element into nonsense (or the job would hang)."""
    layout = repr([(name, tuple(param.shape), str(param.dtype)) for name, param in named])
    digest = int.from_bytes(hashlib.sha256(layout.encode()).digest()[:7], "little")
    mine = Tensor._wrap(np.array([digest], dtype=np.int64))
    everyone = [Tensor._wrap(np.zeros(1, dtype=np.int64)) for _ in range(dist.get_world_size())]
    dist.all_gather(everyone, mine)
    if len({int(tensor.array[0]) for tensor in everyone}) > 1:
        raise RuntimeError(
            "DistributedDataParallel: the processes hold models with different parameters (names, "
            "shapes or dtypes); build the same model on every process"
        )


class _Bucket:
    """Parameters whose gradients travel together in one flat array."""

    def __init__(self, params: list[Tensor], dtype: np.dtype) -> None:
        self.params = params
        self.offsets = np.cumsum([0] + [param.array.size for param in params])
        self.flat = np.zeros(int(self.offsets[-1]), dtype=dtype)
        self.waiting = len(params)
        self.request: Any = None


class _Reducer:
    """Counts finished gradients per bucket, starts each full bucket's Iallreduce in order, and
    writes the averages back when the last one is done."""

    def __init__(self, named: list[tuple[str, Tensor]], cap_bytes: int) -> None:
        self.names = {id(param): name for name, param in named}
        self.buckets: list[_Bucket] = []
        self.where: dict[int, tuple[_Bucket, int]] = {}
        current: list[Tensor] = []
        size = 0
        # Reverse registration order: the last layers' gradients are finished first.
        for _, param in reversed(named):
            nbytes = param.array.nbytes
            if current and (size + nbytes > cap_bytes or param.dtype != current[0].dtype):
                self._add_bucket(current)
                current, size = [], 0
            current.append(param)
            size += nbytes
        if current:
            self._add_bucket(current)
        self.sync = True
        # This process's gradient is weighted by `contribution` before averaging: N * its share
        # of the samples, when processes hold unequal slices of a batch (1.0: equal slices).
        self.contribution = 1.0
        self.next_to_start = 0
        self.finished: set[int] = set()  # ids of this backward's finished parameters
        self.wait_seconds = 0.0  # time backward spent waiting for communication (overlap measure)

    def _add_bucket(self, params: list[Tensor]) -> None:
        bucket = _Bucket(params, params[0].array.dtype)
        for index, param in enumerate(params):
            self.where[id(param)] = (bucket, index)
        self.buckets.append(bucket)

    def gradient_ready(self, param: Tensor) -> None:
        if not self.sync:
            return
        bucket, index = self.where[id(param)]
        start, stop = bucket.offsets[index], bucket.offsets[index + 1]
        grad = param.grad
        assert grad is not None  # called once the parameter's gradient is accumulated
        if self.contribution == 1.0:
            bucket.flat[start:stop] = grad.array.reshape(-1)
        else:
            np.multiply(grad.array.reshape(-1), self.contribution, out=bucket.flat[start:stop])
        bucket.waiting -= 1
        self.finished.add(id(param))
        mpi = dist._mpi()
        comm = dist._current().comm
        while self.next_to_start < len(self.buckets) and self.buckets[self.next_to_start].waiting == 0:
            ready = self.buckets[self.next_to_start]
            ready.request = comm.Iallreduce(mpi.IN_PLACE, ready.flat, op=mpi.SUM)
            self.next_to_start += 1
        for started in self.buckets[: self.next_to_start]:
            started.request.Test()  # MPI moves a nonblocking collective on only inside MPI calls
        if len(self.finished) == len(self.where):
            self._write_back(dist.get_world_size())

    def _write_back(self, world_size: int) -> None:
        started = time.perf_counter()
        for bucket in self.buckets:
            bucket.request.Wait()
        self.wait_seconds += time.perf_counter() - started
        for bucket in self.buckets:
            bucket.flat /= world_size
            for index, param in enumerate(bucket.params):
                average = bucket.flat[bucket.offsets[index] : bucket.offsets[index + 1]].reshape(param.shape)
                param.grad = Tensor._wrap(average.copy())
            bucket.waiting = len(bucket.params)
            bucket.request = None
        self.next_to_start = 0
        self.finished.clear()

    def check_finished(self) -> None:
        """Refuse to start a forward while the last backward left gradients unaveraged."""
        if not self.finished:
            return
        missing = [name for key, name in self.names.items() if key not in self.finished]
        raise RuntimeError(
            "DistributedDataParallel: the last backward did not reach every parameter, so its "
            f"gradients were never averaged (no gradient for: {', '.join(missing[:5])}); "
            "set requires_grad=False on parameters the model does not use"
        )
