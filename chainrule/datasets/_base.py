"""The container every loader returns, and the seeded train/test split they share.

Nothing here imports chainrule's core: datasets must load even while the autograd engine is
being rebuilt, and a data-only script should not pay for importing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_INSTALL_HINT = 'pip install "chainrule[datasets]"'


@dataclass(kw_only=True, repr=False)
class DatasetSplits:
    """A dataset cut into a training and a test split, as plain NumPy arrays.

    Attributes:
        x_train: features, shape ``(N_train, ...)``, float32; ``None`` if the split was not loaded.
        y_train: targets, shape ``(N_train,)``: int64 class indices in ``0..num_classes-1`` for
            classification, float32 values for regression; ``None`` if not loaded.
        x_test, y_test: the same for the test split.
        name: short name of the dataset, e.g. ``"digits"``.
        num_classes: number of classes, or ``None`` for a regression dataset.
        feature_names: one name per feature column (flat features only), or ``None``.
        classes: what each class index stands for (``classes[k]`` is the original label of
            class ``k``), or ``None``.
        preprocessing: statistics fitted on the training split (for example the means and
            standard deviations used to standardise), so new data can be transformed the same
            way; ``None`` if the loader fitted nothing.

    Example:
        >>> import numpy as np
        >>> splits = DatasetSplits(
        ...     x_train=np.zeros((4, 2), np.float32), y_train=np.array([0, 1, 0, 1]),
        ...     x_test=np.ones((2, 2), np.float32), y_test=np.array([1, 0]),
        ...     name="toy", num_classes=2)
        >>> splits
        DatasetSplits(name='toy', task='classification', num_classes=2, x_train=(4, 2), x_test=(2, 2))
    """

    x_train: np.ndarray | None
    y_train: np.ndarray | None
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    name: str
    num_classes: int | None
    feature_names: list[str] | None = None
    classes: list[Any] | None = None
    preprocessing: dict[str, Any] | None = field(default=None)

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if (x is None) != (y is None):
                raise ValueError(
                    f"DatasetSplits {self.name!r}: x_{split} and y_{split} must both be arrays "
                    f"or both be None, got one of each"
                )
            if x is not None and len(x) != len(y):
                raise ValueError(
                    f"DatasetSplits {self.name!r}: x_{split} has {len(x)} samples but y_{split} "
                    f"has {len(y)}; every sample needs exactly one target"
                )

    @property
    def task(self) -> str:
        """``"classification"`` if the dataset has classes, else ``"regression"``."""
        return "regression" if self.num_classes is None else "classification"

    def __repr__(self) -> str:
        def shape(array: np.ndarray | None) -> Any:
            return None if array is None else tuple(array.shape)

        return (
            f"DatasetSplits(name={self.name!r}, task={self.task!r}, "
            f"num_classes={self.num_classes}, x_train={shape(self.x_train)}, "
            f"x_test={shape(self.x_test)})"
        )

    def tensor_datasets(self) -> tuple[Any, Any]:
        """Wrap the splits as ``(train, test)`` ``chainrule.utils.data.TensorDataset`` objects.

        A split that was not loaded comes back as ``None``. The tensors share memory with the
        arrays (``from_numpy``), as in PyTorch.

        Example:
            >>> from chainrule.datasets import load
            >>> train_set, test_set = load("iris").tensor_datasets()
            >>> len(train_set), len(test_set)
            (120, 30)
        """
        # Imported here so that loading data never requires the autograd core.
        from chainrule.creation import from_numpy
        from chainrule.utils.data import TensorDataset

        def wrap(x: np.ndarray | None, y: np.ndarray | None) -> Any:
            if x is None or y is None:
                return None
            return TensorDataset(from_numpy(x), from_numpy(y))

        return wrap(self.x_train, self.y_train), wrap(self.x_test, self.y_test)


def missing_dependency(package: str, loader: str) -> ImportError:
    """The error a loader raises when its optional dependency is not installed."""
    return ImportError(
        f"chainrule.datasets.{loader}() needs the optional package {package!r}, which is not "
        f"installed. Install the dataset extras with: {_INSTALL_HINT}"
    )


def _test_count(test_size: float | int, num_samples: int) -> int:
    """How many of ``num_samples`` go to the test split; rejects sizes that leave a split empty."""
    if isinstance(test_size, (bool, np.bool_)) or not isinstance(
        test_size, (int, float, np.integer, np.floating)
    ):
        raise TypeError(
            f"test_size must be a fraction in (0, 1) or a whole number of samples, got {test_size!r}"
        )
    if isinstance(test_size, (int, np.integer)):
        count = int(test_size)
    else:
        if not 0.0 < test_size < 1.0:
            raise ValueError(
                f"test_size={test_size} is not a fraction strictly between 0 and 1; pass e.g. "
                f"0.2, or an integer number of test samples"
            )
        # Rounding up matches scikit-learn's train_test_split, so sizes agree with it.
        count = int(np.ceil(test_size * num_samples))
    if not 1 <= count <= num_samples - 1:
        raise ValueError(
            f"test_size={test_size} gives {count} test samples out of {num_samples}; both splits "
            f"need at least one sample"
        )
    return count


def train_test_indices(
    num_samples: int,
    test_size: float | int = 0.2,
    seed: int = 0,
    stratify: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic shuffled split of ``range(num_samples)`` into train and test indices.

    With ``stratify`` (class labels, shape ``(num_samples,)``) each class is split on its own,
    so both splits keep the class proportions: the test count is shared out over the classes in
    proportion to their sizes, and the leftover samples from rounding go to the classes with the
    largest remainders. Every class must have at least two samples, one per split.

    Args:
        num_samples: number of samples N.
        test_size: fraction of samples in (0, 1), or an integer count, for the test split.
        seed: seed of ``np.random.default_rng``; the same seed always gives the same split.
        stratify: labels to keep balanced, shape ``(N,)``, or ``None`` for a plain random split.

    Returns:
        ``(train_indices, test_indices)``, int64 arrays that partition ``range(N)``, each in a
        shuffled order.

    Example:
        >>> train_idx, test_idx = train_test_indices(10, test_size=0.2, seed=0)
        >>> len(train_idx), len(test_idx)
        (8, 2)
    """
    num_test = _test_count(test_size, num_samples)
    rng = np.random.default_rng(seed)
    if stratify is None:
        order = rng.permutation(num_samples).astype(np.int64)
        return order[num_test:], order[:num_test]

    labels = np.asarray(stratify)
    if labels.shape != (num_samples,):
        raise ValueError(
            f"stratify must hold one label per sample, shape ({num_samples},), got {labels.shape}"
        )
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    too_small = classes[counts < 2]
    if len(too_small):
        raise ValueError(
            f"cannot make a stratified split: class(es) {too_small.tolist()} have fewer than 2 "
            f"samples, so they cannot appear in both splits. Remove those samples, gather more "
            f"data, or split without stratification"
        )
    # Largest-remainder rounding: the per-class test counts add up to num_test exactly.
    ideal = counts * num_test / num_samples
    per_class = np.floor(ideal).astype(np.int64)
    leftover = num_test - int(per_class.sum())
    by_remainder = np.argsort(-(ideal - per_class), kind="stable")
    per_class[by_remainder[:leftover]] += 1
    # Keep at least one sample of every class in each split.
    per_class = np.clip(per_class, 1, counts - 1)

    train_parts, test_parts = [], []
    for class_index, class_test_count in enumerate(per_class):
        members = rng.permutation(np.flatnonzero(inverse == class_index))
        test_parts.append(members[:class_test_count])
        train_parts.append(members[class_test_count:])
    # Shuffle across classes too, so the splits are not ordered by class.
    train_indices = rng.permutation(np.concatenate(train_parts))
    test_indices = rng.permutation(np.concatenate(test_parts))
    return train_indices.astype(np.int64), test_indices.astype(np.int64)


def standardize(
    x_train: np.ndarray, x_test: np.ndarray, names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Scale columns to zero mean and unit variance using training-split statistics only.

    Fitting on the training split alone keeps test-set information out of training. Columns that
    are constant in the training split keep a scale of 1 (dividing by 0 would make NaNs).

    Returns:
        ``(x_train_scaled, x_test_scaled, spec)``, float32 arrays and the preprocessing spec
        ``{"columns": [{"name", "mean", "std"}, ...]}`` that scales new raw rows the same way.
    """
    from chainrule.datasets.encoding import FeatureEncoder, NumberColumn

    mean = x_train.mean(axis=0, dtype=np.float64)
    std = x_train.std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0
    columns = tuple(NumberColumn(str(name), float(m), float(s)) for name, m, s in zip(names, mean, std))
    encoder = FeatureEncoder(columns=columns)
    return encoder.encode_array(x_train), encoder.encode_array(x_test), encoder.to_spec() or {}


def check_names(value: Sequence[str] | str, allowed: Sequence[str], what: str) -> tuple[str, ...]:
    """Turn a name or sequence of names into a tuple, rejecting any outside ``allowed``."""
    names = (value,) if isinstance(value, str) else tuple(value)
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        raise ValueError(f"{what} must be a non-empty subset of {list(allowed)}, got {value!r}")
    return names
