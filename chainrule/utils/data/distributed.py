"""DistributedSampler: each process of a data-parallel job draws its own share of a dataset."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized

import numpy as np

from chainrule.random import Generator
from chainrule.utils.data.sampler import Sampler, _numpy_generator


class DistributedSampler(Sampler[int]):
    """The indices of a dataset that process ``rank`` of ``num_replicas`` trains on (PyTorch's).

    Every epoch the indices ``0..len(dataset)-1`` are put in one order, shuffled with ``seed +
    epoch`` when ``shuffle`` (the same order on every process: call :meth:`set_epoch` before each
    epoch for a new one), and process ``rank`` takes every ``num_replicas``-th index starting at
    ``rank``. So the processes' shares are disjoint and together cover the order exactly; with
    a DataLoader of batch ``b`` on each, step ``k`` of the job sees the same samples as step
    ``k`` of one process with batch ``num_replicas * b`` over the same order. When the dataset
    does not divide evenly, ``drop_last`` leaves out the last few indices of the order; otherwise
    the order is padded with its own first indices, so every process has the same number.

    Args:
        dataset: anything with ``len()``.
        num_replicas, rank: the world size and this process's rank; by default those of
            :mod:`chainrule.distributed`'s group.
        shuffle, seed, drop_last: as described above.

    Example::

        >>> from chainrule.utils.data.distributed import DistributedSampler
        >>> [list(DistributedSampler(range(5), num_replicas=2, rank=r, shuffle=False)) for r in (0, 1)]
        [[0, 2, 4], [1, 3, 0]]
    """

    def __init__(
        self,
        dataset: Sized,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if num_replicas is None or rank is None:
            from chainrule import distributed as dist

            if not dist.is_initialized():
                raise RuntimeError(
                    "DistributedSampler: pass num_replicas and rank, or call "
                    "chainrule.distributed.init_process_group('mpi') first so they are known"
                )
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive int, got {num_replicas!r}")
        if not isinstance(rank, int) or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: rank must be in [0, {num_replicas - 1}], got {rank!r}")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0
        if drop_last:
            self.num_samples = len(dataset) // num_replicas
        else:
            self.num_samples = math.ceil(len(dataset) / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self) -> Iterator[int]:
        count = len(self.dataset)
        if self.shuffle:
            order = _numpy_generator(Generator().manual_seed(self.seed + self.epoch)).permutation(count)
        else:
            order = np.arange(count)
        if self.total_size > count:
            order = np.resize(order, self.total_size)  # repeats the order from its start
        order = order[: self.total_size]
        return iter(order[self.rank :: self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Shuffle the next epoch with ``seed + epoch``; call it on every process alike."""
        self.epoch = epoch
