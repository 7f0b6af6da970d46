"""MNIST-1D, generated on the spot by the ``mnist1d`` package (nothing is downloaded)."""

from __future__ import annotations

import random

import numpy as np

from chainrule.datasets._base import DatasetSplits, missing_dependency


def mnist1d(seed: int = 0, *, num_samples: int = 5000) -> DatasetSplits:
    """MNIST-1D: ten digit-like 1-D templates, padded, scaled, shifted, sheared and noised.

    A small benchmark on which linear models, MLPs and CNNs differ clearly, and which trains in
    seconds on a CPU. Size: ``num_samples`` signals of length 40 (default 5,000: 4,000 train and
    1,000 test, 10 classes of equal size). Source: Greydanus & Kobak, "Scaling down deep
    learning with MNIST-1D" (ICML 2024), generated with ``mnist1d.data.make_dataset`` and its
    default arguments apart from the seed and size; ``seed=42`` reproduces the package's own
    default dataset. The 80/20 split is the package's.

    ``mnist1d`` seeds NumPy's and Python's global random generators; their states are restored
    afterwards, so calling this does not change other random streams.

    Args:
        seed: seed of the generator.
        num_samples: total number of signals; a multiple of 10 keeps the classes equal.

    Returns:
        DatasetSplits with x float32 of shape ``(N, 40)`` (standardised over the whole
        dataset by the package) and y int64 in 0..9.

    Example:
        >>> data = mnist1d(seed=0, num_samples=500)     # the default 5,000 take seconds
        >>> data.x_train.shape, data.x_test.shape
        ((400, 40), (100, 40))
    """
    try:
        import mnist1d.data
    except ImportError as err:
        raise missing_dependency("mnist1d", "mnist1d") from err
    if num_samples < 20:
        raise ValueError(f"num_samples={num_samples} is too small; use at least 20 (2 per class)")

    args = mnist1d.data.get_dataset_args()
    args.seed = seed
    args.num_samples = num_samples
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        generated = mnist1d.data.make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return DatasetSplits(
        x_train=np.asarray(generated["x"], dtype=np.float32),
        y_train=np.asarray(generated["y"], dtype=np.int64),
        x_test=np.asarray(generated["x_test"], dtype=np.float32),
        y_test=np.asarray(generated["y_test"], dtype=np.int64),
        name="mnist1d",
        num_classes=10,
        classes=list(range(10)),
    )
