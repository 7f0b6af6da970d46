"""Datasets: indexable (``Dataset``) or streamed (``IterableDataset``) collections of samples,
and ways to wrap, combine and split them (as ``torch.utils.data``)."""

from __future__ import annotations

import bisect
import itertools
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from chainrule.random import Generator
from chainrule.tensor import Tensor
from chainrule.utils.data.sampler import _numpy_generator

T_co = TypeVar("T_co", covariant=True)


class Dataset(Generic[T_co]):
    """Base class of map-style datasets: ``dataset[index]`` gives one sample and
    ``len(dataset)`` the number of samples. ``a + b`` concatenates two datasets.

    Example::

        >>> class Squares(Dataset):
        ...     def __len__(self): return 10
        ...     def __getitem__(self, index): return index, index * index
    """

    def __getitem__(self, index: Any) -> T_co:
        raise NotImplementedError(f"{type(self).__name__} does not implement __getitem__")

    def __add__(self, other: Dataset[T_co]) -> ConcatDataset[T_co]:
        return ConcatDataset([self, other])


class IterableDataset(Dataset[T_co]):
    """Base class of streamed datasets: iterating gives the samples (no indexing). A
    DataLoader batches them in the order they come; it cannot shuffle or sample them.

    Example::

        >>> class Counter(IterableDataset):
        ...     def __iter__(self): return iter(range(5))
    """

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError(f"{type(self).__name__} does not implement __iter__")

    def __add__(self, other: Dataset[T_co]) -> ChainDataset:  # type: ignore[override]
        return ChainDataset([self, other])


class TensorDataset(Dataset[tuple[Tensor, ...]]):
    """Samples are rows of tensors that share their first dimension: ``dataset[i]`` is
    ``(tensors[0][i], tensors[1][i], ...)``. NumPy arrays are wrapped as tensors without a copy.

    Shapes: each tensor (N, *); a sample is a tuple of (*)-shaped tensors.
    A DataLoader batches a TensorDataset with one fancy index per tensor.

    Example::

        >>> dataset = TensorDataset(chainrule.randn(100, 3), np.arange(100))
        >>> x, y = dataset[0]
        >>> x.shape, y.item()
        ((3,), 0)
    """

    def __init__(self, *tensors: Tensor | np.ndarray) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor, e.g. TensorDataset(inputs, targets)")
        wrapped = []
        for position, tensor in enumerate(tensors):
            if isinstance(tensor, np.ndarray):
                tensor = Tensor._wrap(tensor)
            elif not isinstance(tensor, Tensor):
                raise TypeError(
                    f"TensorDataset: argument {position} is a {type(tensor).__name__}; give chainrule "
                    "tensors or NumPy arrays"
                )
            if tensor.ndim == 0:
                raise ValueError(
                    f"TensorDataset: argument {position} is a 0-d tensor; every tensor needs a first "
                    "dimension indexing the samples"
                )
            wrapped.append(tensor)
        sizes = [tensor.shape[0] for tensor in wrapped]
        if len(set(sizes)) != 1:
            raise ValueError(
                "Size mismatch between tensors: TensorDataset needs the same first dimension (number "
                f"of samples) in every tensor, got first dimensions {sizes} for shapes "
                f"{[tuple(tensor.shape) for tensor in wrapped]}"
            )
        self.tensors: tuple[Tensor, ...] = tuple(wrapped)

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(tensor[index] for tensor in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class Subset(Dataset[T_co]):
    """The samples of ``dataset`` at ``indices``, in that order.

    Example::

        >>> dataset = TensorDataset(chainrule.arange(6))
        >>> evens = Subset(dataset, range(0, len(dataset), 2))
        >>> [int(sample[0]) for sample in evens]
        [0, 2, 4]
    """

    def __init__(self, dataset: Dataset[T_co], indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __getitems__(self, indices: list[int]) -> list[T_co]:
        """Several samples at once, through the dataset's own ``__getitems__`` if it has one."""
        mapped = [self.indices[i] for i in indices]
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.dataset.__getitems__(mapped)  # type: ignore[attr-defined]
        return [self.dataset[i] for i in mapped]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset[T_co]):
    """Several map-style datasets one after the other.

    Example::

        >>> train_part, extra_part = TensorDataset(chainrule.zeros(5, 2)), TensorDataset(chainrule.ones(3, 2))
        >>> both = ConcatDataset([train_part, extra_part])
        >>> len(both) == len(train_part) + len(extra_part)
        True
    """

    def __init__(self, datasets: Iterable[Dataset[T_co]]) -> None:
        self.datasets = list(datasets)
        if len(self.datasets) == 0:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for dataset in self.datasets:
            if isinstance(dataset, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset; use ChainDataset")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))  # type: ignore[arg-type]

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> T_co:
        if index < 0:
            if -index > len(self):
                raise ValueError(
                    f"absolute value of index should not exceed dataset length: index {index}, "
                    f"length {len(self)}"
                )
            index = len(self) + index
        dataset_index = bisect.bisect_right(self.cumulative_sizes, index)
        if dataset_index == len(self.datasets):
            raise IndexError(f"ConcatDataset index {index} out of range for length {len(self)}")
        start = 0 if dataset_index == 0 else self.cumulative_sizes[dataset_index - 1]
        return self.datasets[dataset_index][index - start]


class ChainDataset(IterableDataset):
    """Several iterable datasets one after the other.

    Example::

        >>> class Count(IterableDataset):
        ...     def __init__(self, n):
        ...         self.n = n
        ...     def __iter__(self):
        ...         return iter(range(self.n))
        >>> list(ChainDataset([Count(2), Count(3)]))
        [0, 1, 0, 1, 2]
    """

    def __init__(self, datasets: Iterable[Dataset[Any]]) -> None:
        self.datasets = datasets

    def __iter__(self) -> Iterator[Any]:
        for dataset in self.datasets:
            if not isinstance(dataset, IterableDataset):
                raise TypeError("ChainDataset only supports IterableDataset")
            yield from dataset

    def __len__(self) -> int:
        return sum(len(dataset) for dataset in self.datasets)  # type: ignore[arg-type,misc]


def random_split(dataset: Dataset[T_co], lengths: Sequence[int | float],
                 generator: Generator | None = None) -> list[Subset[T_co]]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths, or of the
    given fractions of its length (summing to 1; the items left over by rounding down go one
    each to the first subsets).

    Example::

        >>> dataset = TensorDataset(chainrule.arange(10))
        >>> train, val = random_split(dataset, [0.8, 0.2], generator=chainrule.Generator().manual_seed(0))
        >>> len(train), len(val)
        (8, 2)
    """
    total = len(dataset)  # type: ignore[arg-type]
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = []
        for position, fraction in enumerate(lengths):
            if fraction < 0 or fraction > 1:
                raise ValueError(f"Fraction at index {position} is not between 0 and 1")
            counts.append(int(math.floor(total * fraction)))
        for position in range(total - sum(counts)):
            counts[position % len(counts)] += 1
        for position, count in enumerate(counts):
            if count == 0:
                warnings.warn(f"Length of split at index {position} is 0. This might result in an "
                              "empty dataset.", UserWarning, stacklevel=2)
        lengths = counts
    if sum(lengths) != total:
        raise ValueError(
            "Sum of input lengths does not equal the length of the input dataset! "
            f"lengths {list(lengths)} sum to {sum(lengths)}, the dataset has {total} samples"
        )
    order = _numpy_generator(generator).permutation(int(sum(lengths))).tolist()
    subsets = []
    offset = 0
    for length in lengths:
        length = int(length)
        subsets.append(Subset(dataset, order[offset:offset + length]))
        offset += length
    return subsets
