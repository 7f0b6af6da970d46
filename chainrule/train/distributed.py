"""``mpiexec -n N chainrule train``: the training workflow, data-parallel over N processes.

Every process builds the same model and walks the same shuffled global batches; each trains on
its contiguous slice of every batch (:class:`BatchShards`), and
:class:`~chainrule.nn.parallel.DistributedDataParallel` averages the gradients, weighted by slice
size, so an update equals the single-process one for the whole batch. Validation and test
batches are dealt round-robin and every process's losses, outputs and targets are gathered in
the data's order before metrics are computed (:class:`DataParallelTrainer`), so the metrics are
those of one process over all the data. Process 0 alone writes the run folder, the logs, the
progress bar and the report.

Random draws inside the model (dropout) and augmentation use each process's own stream, seeded
at the start of every epoch from (seed, epoch, rank); a checkpoint therefore resumes every
process bit for bit, provided the job has the same number of processes (a different number is
refused: each process's share of every batch, and its random stream, depend on it).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ConfigError
from chainrule.train.callbacks import Callback
from chainrule.train.trainer import Trainer, _OutputCollector

# Set by mpiexec in each process: MPICH's Hydra (PMI_SIZE), Open MPI, PMIx launchers, and Slurm's
# srun (which launches MPI programs through PMI/PMIx as well).
_WORLD_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")
CHECKPOINT_KEY = "processes"  # how many processes trained a checkpoint (in its saved config)


def launched_world_size() -> int:
    """How many processes the MPI launcher started (1 when not started by one)."""
    for name in _WORLD_SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 1:
            return int(value)
    return 1


class DataParallel:
    """The process group of a data-parallel ``chainrule train``: rank, size and helpers to
    share what process 0 decided (the run folder, the config) with the others."""

    def __init__(self) -> None:
        from chainrule import distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("mpi")
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self.blas_threads = share_cores_among_local_processes()

    @property
    def writes(self) -> bool:
        """Whether this process writes files and prints: process 0 only."""
        return self.rank == 0

    def share(self, value: Any, root: int = 0) -> Any:
        """Process ``root``'s ``value`` (plain data: str, numbers, lists, dicts), sent as JSON."""
        from chainrule import distributed as dist

        comm = dist._current().comm
        sends = self.rank == root
        payload = json.dumps(value).encode() if sends else b""
        length = np.array([len(payload)], dtype=np.int64)
        comm.Bcast(length, root=root)
        buffer = (
            np.frombuffer(payload, dtype=np.uint8).copy() if sends else np.empty(int(length[0]), np.uint8)
        )
        comm.Bcast(buffer, root=root)
        return json.loads(buffer.tobytes().decode())

    def check_batches(self, train_samples: int, batch_size: int) -> None:
        """Refuse a batch size that would leave some process a batch without samples."""
        last = train_samples % batch_size
        if batch_size < self.world_size or 0 < last < self.world_size:
            small = batch_size if batch_size < self.world_size else last
            raise ConfigError(
                f"batch_size {batch_size} leaves a batch of {small} samples for {self.world_size} "
                f"processes ({train_samples} training samples), so some process would get none; "
                "choose a batch size that leaves every batch at least one sample per process"
            )


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def share_cores_among_local_processes() -> int | None:
    """Limit BLAS to (cores / processes on this node) threads each, unless the user set a
    thread count (``torchrun`` sets one thread for the same reason): N processes each running as
    many BLAS threads as there are cores oversubscribe the machine, and busy-waiting threads slow
    every step many times over. Returns the limit set (None: left alone, or threadpoolctl, of
    the ``distributed`` extra, is missing)."""
    from chainrule import distributed as dist

    if any(os.environ.get(name) for name in _THREAD_VARIABLES):
        return None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    mpi = dist._mpi()
    node = dist._current().comm.Split_type(mpi.COMM_TYPE_SHARED)
    local = node.Get_size()
    node.Free()
    threads = max(1, (os.cpu_count() or 1) // local)
    threadpool_limits(limits=threads, user_api="blas")
    return threads


def check_resume_processes(checkpoint: Path, world_size: int) -> None:
    """Refuse to resume ``checkpoint`` with another number of processes than trained it."""
    from chainrule.train.checkpoint import read_checkpoint_config

    saved = (read_checkpoint_config(checkpoint) or {}).get(CHECKPOINT_KEY, 1)
    if saved != world_size:

        def how(count: Any) -> str:
            return "one process" if count == 1 else f"{count} processes (mpiexec -n {count})"

        raise ConfigError(
            f"{checkpoint} was trained by {how(saved)} but this job has {how(world_size)}; resume "
            f"it with {'plain chainrule train' if saved == 1 else f'mpiexec -n {saved}'} --resume, since "
            "each process's share of every batch and its random draws depend on the number"
        )


def let_process_zero_speak_first(seconds: float = 2.0) -> None:
    """In a failing process other than 0, wait a moment before reporting: when process 0 fails
    the same way (bad input is seen by all), its one sentence ends the job alone."""
    from chainrule import distributed as dist

    if dist.is_initialized() and dist.get_rank() > 0:
        time.sleep(seconds)


def end_failed_job(status: int) -> None:
    """End every process of an MPI job with ``status`` (``MPI_Abort``) after this one failed;
    the others would otherwise wait for it in their next collective. Alone: nothing."""
    from chainrule import distributed as dist

    if dist.is_initialized() and dist.get_world_size() > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        let_process_zero_speak_first()  # when it failed too, its abort ends the job first
        dist.abort(status)


def process_zero() -> bool:
    """Whether this process prints and writes: process 0 of an MPI job, or a process alone."""
    from chainrule import distributed as dist

    return not dist.is_initialized() or dist.get_rank() == 0


class BatchShards:
    """This process's contiguous slice of every batch of ``loader`` (sizes differ by at most
    one); before each batch it tells the gradient reducer the slice's share of the batch, so
    the averaged gradient weights every sample alike. Exposes the loader's samplers and
    generator, which the trainer saves in checkpoints."""

    def __init__(self, loader: Any, rank: int, world_size: int, reducer: Any) -> None:
        self.loader = loader
        self.rank = rank
        self.world_size = world_size
        self.reducer = reducer
        self.generator = getattr(loader, "generator", None)
        self.sampler = getattr(loader, "sampler", None)
        self.batch_sampler = getattr(loader, "batch_sampler", None)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        for inputs, targets in self.loader:
            size = len(inputs)
            bounds = np.linspace(0, size, self.world_size + 1).round().astype(int)
            start, stop = bounds[self.rank], bounds[self.rank + 1]
            self.reducer.contribution = self.world_size * (stop - start) / size
            yield inputs[start:stop], targets[start:stop]


class _EveryNthBatch:
    """Batches ``rank``, ``rank + N``, ``rank + 2N``, ... of a loader."""

    def __init__(self, loader: Iterable[Any], rank: int, world_size: int) -> None:
        self.loader, self.rank, self.world_size = loader, rank, world_size

    def __iter__(self) -> Iterator[Any]:
        for index, batch in enumerate(self.loader):
            if index % self.world_size == self.rank:
                yield batch


class DataParallelTrainer(Trainer):
    """A :class:`~chainrule.train.trainer.Trainer` for one process of a data-parallel job: the
    model's gradients are averaged across processes, evaluation is shared out and its results
    gathered, and all processes stop together.

    Give it the plain model: gradients are averaged by the post-accumulate-grad hooks of a
    :class:`~chainrule.nn.parallel.DistributedDataParallel` built here, so ``trainer.model``
    and its checkpoints keep the keys of a single-process run.
    """

    def __init__(self, parallel: DataParallel, model: Any, *args: Any, **kwargs: Any) -> None:
        from chainrule.nn.parallel import DistributedDataParallel

        super().__init__(model, *args, **kwargs)
        self.parallel = parallel
        self.ddp = DistributedDataParallel(model)

    def shard(self, loader: Any) -> BatchShards:
        return BatchShards(loader, self.parallel.rank, self.parallel.world_size, self.ddp._reducer)

    def evaluate(self, loader: Iterable[Any], prefix: str = "") -> dict[str, float]:
        self.ddp.sync_buffers()  # process 0's running statistics, as a single process would have
        return super().evaluate(_EveryNthBatch(loader, self.parallel.rank, self.parallel.world_size), prefix)

    def _combined(self, collector: _OutputCollector) -> _OutputCollector:
        return gather_collector(collector)

    def _assemble_callbacks(self, callbacks: Any, verbose: int) -> list[Callback]:
        assembled = super()._assemble_callbacks(callbacks, verbose)
        config = self.config or {}
        return [
            SeedEachProcess(int(config.get("seed", 0)), self.parallel.rank),
            *assembled,
            StopTogether(self.parallel),
        ]

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["config"] = {**(state.get("config") or {}), CHECKPOINT_KEY: self.parallel.world_size}
        return state


def gather_collector(collector: _OutputCollector) -> _OutputCollector:
    """Every process's losses, outputs and targets in one collector, batches in the order
    (position in its process's list, rank): the data's order both for slices of training
    batches and for round-robin evaluation batches."""
    from chainrule import distributed as dist

    comm = dist._current().comm
    totals = np.array([collector.loss_sum, collector.samples], dtype=np.float64)
    comm.Allreduce(dist._mpi().IN_PLACE, totals)
    combined = _OutputCollector(collector.keep_outputs)
    combined.loss_sum, combined.samples = float(totals[0]), int(totals[1])
    if collector.keep_outputs:
        combined._outputs = _gather_batches(comm, collector._outputs)
        combined._targets = _gather_batches(comm, collector._targets)
    return combined


def _gather_batches(comm: Any, batches: list[np.ndarray]) -> list[np.ndarray]:
    """All processes' lists of arrays, interleaved: the metadata (sizes, dtype, row shape) as
    small Python objects, the arrays themselves through MPI's buffer interface."""
    mine = [(len(batch), batch.dtype.str, batch.shape[1:]) for batch in batches]
    everyone = comm.allgather(mine)
    described = next((entries[0] for entries in everyone if entries), None)
    if described is None:
        return []
    _, dtype_text, row_shape = described
    dtype, row = np.dtype(dtype_text), int(np.prod(row_shape, dtype=np.int64))
    send = (
        np.concatenate([np.ascontiguousarray(b, dtype=dtype).reshape(-1) for b in batches])
        if batches
        else (np.empty(0, dtype=dtype))
    )
    counts = [sum(rows for rows, _, _ in entries) * row for entries in everyone]
    received = np.empty(sum(counts), dtype=dtype)
    comm.Allgatherv(send, [received, counts])
    per_rank: list[list[np.ndarray]] = []
    offset = 0
    for entries in everyone:
        arrays = []
        for rows, _, _ in entries:
            arrays.append(received[offset : offset + rows * row].reshape(rows, *row_shape))
            offset += rows * row
        per_rank.append(arrays)
    longest = max(len(arrays) for arrays in per_rank)
    return [arrays[i] for i in range(longest) for arrays in per_rank if i < len(arrays)]


class SeedEachProcess(Callback):
    """At the start of every epoch, seed the global random stream from (seed, epoch, rank): the
    processes draw different dropout masks, and a resumed job draws what it would have drawn."""

    order = -1000

    def __init__(self, seed: int, rank: int) -> None:
        self.seed, self.rank = seed, rank

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        import chainrule

        state = np.random.SeedSequence([self.seed, epoch, self.rank]).generate_state(2)
        chainrule.manual_seed(int(state[0]) << 32 | int(state[1]))
        np.random.seed(int(state[0]))


class StopTogether(Callback):
    """After every batch and epoch, stop all processes if any callback stopped one (a
    divergence seen in one process's share of a batch), so none waits alone for the others; a
    divergence is told to every process, which then all keep the same epoch's weights."""

    order = 2000

    def __init__(self, parallel: DataParallel) -> None:
        self.parallel = parallel

    def _agree(self) -> None:
        from chainrule import distributed as dist
        from chainrule.train.callbacks import Divergence

        trainer, size = self.trainer, self.parallel.world_size
        # [stop?, size - (lowest rank that saw a divergence)], both combined with MAX
        flags = np.array(
            [trainer.stop_training, 0 if trainer.divergence is None else size - self.parallel.rank],
            dtype=np.int64,
        )
        dist._current().comm.Allreduce(dist._mpi().IN_PLACE, flags, op=dist._mpi().MAX)
        trainer.stop_training = bool(flags[0])
        if flags[1]:
            seen = self.parallel.share(
                None if trainer.divergence is None else vars(trainer.divergence), int(size - flags[1])
            )
            trainer.divergence = Divergence(**seen)

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._agree()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._agree()
