"""Samplers: the order in which a DataLoader visits a dataset's indices, and how it groups
them into batches (as ``torch.utils.data``).

Shuffling draws from a ``chainrule.Generator`` when one is given, else from chainrule's
global generator, so ``chainrule.manual_seed`` makes every epoch's order reproducible.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Any, Generic, TypeVar

import numpy as np

from chainrule.random import Generator, numpy_generator
from chainrule.tensor import Tensor

T = TypeVar("T")


def _numpy_generator(generator: Generator | np.random.Generator | None) -> np.random.Generator:
    if isinstance(generator, np.random.Generator):
        return generator
    return numpy_generator(generator)


# the most indices a sampler draws at once (8 MiB of int64): larger epochs come in pieces
_CHUNK = 1 << 20


class Sampler(Generic[T]):
    """Base class: an iterable of dataset indices (or of batches of them)."""

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator[T]:
        raise NotImplementedError(f"{type(self).__name__} does not implement __iter__")


class SequentialSampler(Sampler[int]):
    """Indices 0, 1, ..., len(data_source) − 1, in order.

    Example::

        >>> list(SequentialSampler(range(3)))
        [0, 1, 2]
    """

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler[int]):
    """A random permutation of the indices each epoch (or ``num_samples`` draws with
    ``replacement=True``). With ``num_samples`` beyond the dataset's length and no
    replacement, whole permutations are chained.

    Example::

        >>> sampler = RandomSampler(range(5), generator=chainrule.Generator().manual_seed(0))
        >>> sorted(sampler)
        [0, 1, 2, 3, 4]
    """

    def __init__(self, data_source: Sized, replacement: bool = False, num_samples: int | None = None,
                 generator: Generator | None = None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={replacement}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(
                f"num_samples should be a positive integer value, but got num_samples={self.num_samples}"
            )

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _index_chunks(self) -> Iterator[np.ndarray]:
        """One epoch's indices as int64 arrays of at most ``_CHUNK`` indices (whole
        permutations without replacement), so that ``num_samples=10**10`` draws lazily. An
        epoch of at most ``_CHUNK`` draws is one array, drawn as before."""
        rng = _numpy_generator(self.generator)
        size = len(self.data_source)
        if self.replacement:
            for start in range(0, self.num_samples, _CHUNK):
                count = min(_CHUNK, self.num_samples - start)
                yield rng.integers(0, size, size=count, dtype=np.int64)
            return
        whole, rest = divmod(self.num_samples, size)
        for _ in range(whole):
            yield rng.permutation(size)
        if rest:
            yield rng.permutation(size)[:rest]

    def __iter__(self) -> Iterator[int]:
        for chunk in self._index_chunks():
            yield from chunk.tolist()

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler[int]):
    """The given indices, in a new random order each epoch.

    Example::

        >>> sorted(SubsetRandomSampler([7, 3, 5]))
        [3, 5, 7]
    """

    def __init__(self, indices: Sequence[int], generator: Generator | None = None) -> None:
        self.indices = indices
        self.generator = generator

    def _epoch_indices(self) -> np.ndarray:
        order = _numpy_generator(self.generator).permutation(len(self.indices))
        return np.asarray(self.indices)[order]

    def __iter__(self) -> Iterator[int]:
        return iter(self._epoch_indices().tolist())

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler[int]):
    """``num_samples`` indices drawn with probabilities proportional to ``weights`` (e.g. to
    balance classes).

    Example::

        >>> sampler = WeightedRandomSampler([0.0, 1.0, 0.0], num_samples=4)
        >>> list(sampler)
        [1, 1, 1, 1]
    """

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: Generator | None = None) -> None:
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(
                f"num_samples should be a positive integer value, but got num_samples={num_samples}"
            )
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement}")
        weights_array = np.asarray(
            weights.array if isinstance(weights, Tensor) else weights, dtype=np.float64
        )
        if weights_array.ndim != 1:
            raise ValueError(
                f"weights should be a 1d sequence but given weights have shape {tuple(weights_array.shape)}"
            )
        if (weights_array < 0).any() or not weights_array.sum() > 0:
            raise ValueError("weights must be non-negative with a positive sum")
        if not replacement and num_samples > int((weights_array > 0).sum()):
            raise ValueError(
                f"cannot draw {num_samples} samples without replacement from "
                f"{int((weights_array > 0).sum())} indices of non-zero weight"
            )
        self.weights = weights_array
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def _epoch_indices(self) -> np.ndarray:
        probabilities = self.weights / self.weights.sum()
        rng = _numpy_generator(self.generator)
        return rng.choice(len(self.weights), size=self.num_samples, replace=self.replacement,
                          p=probabilities).astype(np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self._epoch_indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


# Samplers whose whole epoch comes out of one NumPy call; batches of them are array slices.
_ARRAY_SAMPLERS = (RandomSampler, SubsetRandomSampler, WeightedRandomSampler)


class BatchSampler(Sampler[list[int]]):
    """Group another sampler's indices into lists of ``batch_size`` (the last one shorter
    unless ``drop_last``).

    Example::

        >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
        [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler: Sampler[int] | Iterable[int], batch_size: int, drop_last: bool) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def _has_array_batches(self) -> bool:
        return type(self.sampler) is SequentialSampler or type(self.sampler) in _ARRAY_SAMPLERS

    def _array_batches(self) -> Iterator[np.ndarray]:
        """The batches as integer arrays, without a Python loop over single indices (only for
        chainrule's own samplers; see ``_has_array_batches``)."""
        size = self.batch_size
        if type(self.sampler) is SequentialSampler:
            # made batch by batch: no index array the size of the dataset
            total = len(self.sampler)
            for start in range(0, total, size):
                stop = min(start + size, total)
                if self.drop_last and stop - start < size:
                    return
                yield np.arange(start, stop, dtype=np.int64)
            return
        chunks = (
            self.sampler._index_chunks()
            if isinstance(self.sampler, RandomSampler)
            else iter([self.sampler._epoch_indices()])  # type: ignore[attr-defined]
        )
        leftover = np.zeros(0, dtype=np.int64)
        for chunk in chunks:
            indices = np.concatenate([leftover, chunk]) if len(leftover) else chunk
            usable = len(indices) - len(indices) % size
            for start in range(0, usable, size):
                yield indices[start:start + size]
            leftover = indices[usable:]
        if len(leftover) and not self.drop_last:
            yield leftover

    def __iter__(self) -> Iterator[list[Any]]:
        if self._has_array_batches():
            for indices in self._array_batches():
                yield indices.tolist()
            return
        batch: list[Any] = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        count = len(self.sampler)  # type: ignore[arg-type]
        if self.drop_last:
            return count // self.batch_size
        return (count + self.batch_size - 1) // self.batch_size
