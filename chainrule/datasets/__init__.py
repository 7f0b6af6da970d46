"""Datasets as NumPy train/test splits: small classics, MNIST-style IDX files, MNIST-1D, CSV.

Every loader returns a :class:`DatasetSplits` with float32 features and int64 class labels
(float32 targets for regression). Optional dependencies (scikit-learn, mnist1d) are imported
only by the loaders that need them: ``pip install "chainrule[datasets]"``.

Example:
    >>> from chainrule import datasets
    >>> data = datasets.load("iris", seed=0)
    >>> data.x_train.shape, data.num_classes
    ((120, 4), 3)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.datasets._base import DatasetSplits, train_test_indices
from chainrule.datasets._mnist import fashion_mnist, mnist
from chainrule.datasets._mnist1d import mnist1d
from chainrule.datasets._sklearn import breast_cancer, diabetes, digits, iris, wine
from chainrule.datasets._tabular import csv
from chainrule.datasets.idx import IDXFormatError, read_idx

_REGISTRY: dict[str, Callable[..., DatasetSplits]] = {
    "digits": digits,
    "breast_cancer": breast_cancer,
    "wine": wine,
    "iris": iris,
    "diabetes": diabetes,
    "mnist": mnist,
    "fashion_mnist": fashion_mnist,
    "mnist1d": mnist1d,
}


def list_datasets() -> list[str]:
    """Names :func:`load` accepts, e.g. ``["digits", "breast_cancer", ...]``."""
    return list(_REGISTRY)


def load(name: str, **kwargs: Any) -> DatasetSplits:
    """Load a dataset by name, passing ``kwargs`` to its loader (e.g. ``seed``, ``root``).

    Names: digits, breast_cancer, wine, iris, diabetes, mnist, fashion_mnist, mnist1d. For a
    CSV file call :func:`csv` directly.

    Example:
        >>> load("digits", flatten=False).x_train.shape
        (1437, 1, 8, 8)
    """
    try:
        loader = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown dataset {name!r}; valid names are {', '.join(_REGISTRY)} "
            f"(for a CSV file use chainrule.datasets.csv(path, target=...))"
        ) from None
    return loader(**kwargs)


__all__ = [
    "DatasetSplits",
    "IDXFormatError",
    "breast_cancer",
    "csv",
    "diabetes",
    "digits",
    "fashion_mnist",
    "iris",
    "list_datasets",
    "load",
    "mnist",
    "mnist1d",
    "read_idx",
    "train_test_indices",
    "wine",
]
