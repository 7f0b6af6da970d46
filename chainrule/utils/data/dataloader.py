"""``DataLoader``: iterate over a dataset in (optionally shuffled) batches, as
``torch.utils.data.DataLoader``.

Everything runs in the calling process: ``num_workers > 0`` is accepted, so PyTorch scripts
run unchanged, but no worker processes are started (``get_worker_info()`` is always None and
``worker_init_fn`` is never called). For a ``TensorDataset`` (or a ``Subset`` of one) with the
default collate function, each batch is one fancy index per tensor, which is far faster than
fetching samples one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from chainrule.random import Generator
from chainrule.tensor import Tensor
from chainrule.utils.data.collate import default_collate, default_convert
from chainrule.utils.data.dataset import Dataset, IterableDataset, Subset, TensorDataset
from chainrule.utils.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler


def get_worker_info() -> None:
    """Information about the current worker process; None, as chainrule loads data in the
    main process (PyTorch also returns None there)."""
    return None


class DataLoader:
    """Batches of samples from ``dataset``.

    * ``batch_size`` samples per batch (``None``: samples one by one, through
      ``default_convert``); the last batch is shorter unless ``drop_last``;
    * ``shuffle=True``: a new random order each epoch, drawn from ``generator`` (a
      ``chainrule.Generator``) or chainrule's global generator (see ``chainrule.manual_seed``);
    * ``sampler`` / ``batch_sampler``: your own order of indices / of index batches;
    * ``collate_fn`` merges a list of samples into a batch (default: ``default_collate``,
      which stacks tensors and arrays into tensors and turns tuples into lists).

    Example::

        >>> dataset = TensorDataset(chainrule.randn(10, 3), chainrule.arange(10))
        >>> loader = DataLoader(dataset, batch_size=4, shuffle=True)
        >>> [tuple(x.shape) for x, y in loader]
        [(4, 3), (4, 3), (2, 3)]
    """

    def __init__(
        self,
        dataset: Dataset[Any],
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler[Any] | Iterable[Any] | None = None,
        batch_sampler: Sampler[list[Any]] | Iterable[list[Any]] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        generator: Generator | None = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
    ) -> None:
        _check_worker_options(num_workers, timeout, prefetch_factor, persistent_workers)
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.persistent_workers = persistent_workers
        self.generator = generator

        if isinstance(dataset, IterableDataset):
            if shuffle not in (None, False):
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified shuffle option, but got "
                    f"shuffle={shuffle}; shuffle the stream inside the dataset instead"
                )
            if sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified sampler option, but got "
                    f"sampler={sampler}"
                )
            if batch_sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified batch_sampler option, but "
                    f"got batch_sampler={batch_sampler}"
                )
        else:
            shuffle = bool(shuffle)

        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                    "and drop_last"
                )
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually exclusive with drop_last"
            )

        if sampler is None and not isinstance(dataset, IterableDataset):
            sized: Any = dataset  # a map-style dataset has __len__
            sampler = RandomSampler(sized, generator=generator) if shuffle else SequentialSampler(sized)
        if batch_size is not None and batch_sampler is None and sampler is not None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None or (
            isinstance(self.dataset, IterableDataset) and self.batch_size is not None
        )

    def __len__(self) -> int:
        if isinstance(self.dataset, IterableDataset):
            length = len(self.dataset)  # type: ignore[arg-type]
            if self.batch_size is None:
                return length
            if self.drop_last:
                return length // self.batch_size
            return (length + self.batch_size - 1) // self.batch_size
        if self.batch_sampler is not None:
            return len(self.batch_sampler)  # type: ignore[arg-type]
        return len(self.sampler)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Any]:
        """One epoch: a fresh pass (and a fresh shuffle) each time it is called."""
        if isinstance(self.dataset, IterableDataset):
            return self._iterate_stream()
        if self.batch_sampler is None:
            return (self.collate_fn(self.dataset[index]) for index in self.sampler)  # type: ignore[union-attr]
        source = _tensor_source(self.dataset) if self.collate_fn is default_collate else None
        if source is not None:
            return self._iterate_tensor_batches(*source)
        return self._iterate_batches()

    def _iterate_batches(self) -> Iterator[Any]:
        fetch_many = getattr(self.dataset, "__getitems__", None)
        for indices in self.batch_sampler:  # type: ignore[union-attr]
            if callable(fetch_many):
                samples = fetch_many(list(indices))
            else:
                samples = [self.dataset[index] for index in indices]
            yield self.collate_fn(samples)

    def _iterate_tensor_batches(self, arrays: list[np.ndarray],
                                index_map: np.ndarray | None) -> Iterator[Any]:
        # default_collate would turn each sample tuple into a list of stacked tensors; indexing
        # every array with the whole batch's indices gives the same batch in one step.
        for batch_indices in self._index_arrays():
            rows = batch_indices if index_map is None else index_map[batch_indices]
            yield [Tensor._wrap(array[rows]) for array in arrays]

    def _index_arrays(self) -> Iterator[np.ndarray]:
        batch_sampler = self.batch_sampler
        if type(batch_sampler) is BatchSampler and batch_sampler._has_array_batches():
            yield from batch_sampler._array_batches()
            return
        for indices in batch_sampler:  # type: ignore[union-attr]
            yield np.asarray(indices, dtype=np.int64)

    def _iterate_stream(self) -> Iterator[Any]:
        if self.batch_size is None:
            for sample in self.dataset:  # type: ignore[attr-defined]
                yield self.collate_fn(sample)
            return
        batch: list[Any] = []
        for sample in self.dataset:  # type: ignore[attr-defined]
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)


def _check_worker_options(num_workers: int, timeout: float, prefetch_factor: int | None,
                          persistent_workers: bool) -> None:
    if num_workers < 0:
        raise ValueError(
            "num_workers option should be non-negative; use num_workers=0 to disable multiprocessing."
        )
    if timeout < 0:
        raise ValueError("timeout option should be non-negative")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError(
            "prefetch_factor option could only be specified in multiprocessing. let num_workers > 0 "
            "to enable multiprocessing, otherwise set prefetch_factor to None."
        )
    if prefetch_factor is not None and prefetch_factor < 0:
        raise ValueError("prefetch_factor option should be non-negative")
    if persistent_workers and num_workers == 0:
        raise ValueError("persistent_workers option needs num_workers > 0")


def _tensor_source(dataset: Any) -> tuple[list[np.ndarray], np.ndarray | None] | None:
    """The arrays of a TensorDataset (possibly inside Subsets) and the map from the outer
    dataset's indices to their rows; None when batches must be fetched sample by sample
    (another dataset, an overridden __getitem__, or a tensor that records gradients)."""
    index_map = None
    while type(dataset).__getitem__ is Subset.__getitem__ and isinstance(dataset, Subset):
        try:
            indices = np.asarray(dataset.indices, dtype=np.int64)
        except (TypeError, ValueError):
            return None  # not integer positions: let the Subset resolve them itself
        if indices.ndim != 1:
            return None
        index_map = indices if index_map is None else indices[index_map]
        dataset = dataset.dataset
    if not isinstance(dataset, TensorDataset) or type(dataset).__getitem__ is not TensorDataset.__getitem__:
        return None
    if any(tensor.requires_grad for tensor in dataset.tensors):
        return None
    return [tensor.array for tensor in dataset.tensors], index_map
