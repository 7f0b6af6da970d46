"""Small classic datasets bundled with scikit-learn (no download needed).

scikit-learn is an optional dependency: it is imported inside each loader, so ``import
chainrule.datasets`` works without it and only these loaders ask for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.datasets._base import (
    DatasetSplits,
    missing_dependency,
    train_test_indices,
)
from chainrule.datasets._base import standardize as standardize_columns


def _load_bunch(loader_name: str, public_name: str) -> Any:
    try:
        import sklearn.datasets
    except ImportError as err:
        raise missing_dependency("scikit-learn", public_name) from err
    return getattr(sklearn.datasets, loader_name)()


def _classification(
    name: str,
    bunch: Any,
    x: np.ndarray,
    test_size: float | int,
    seed: int,
    scale: bool,
) -> DatasetSplits:
    y = np.asarray(bunch.target, dtype=np.int64)
    train_idx, test_idx = train_test_indices(len(y), test_size, seed, stratify=y)
    x_train, x_test = x[train_idx], x[test_idx]
    feature_names = [str(name) for name in bunch.feature_names]
    preprocessing = None
    if scale:
        x_train, x_test, preprocessing = standardize_columns(x_train, x_test, feature_names)
    else:
        x_train, x_test = x_train.astype(np.float32), x_test.astype(np.float32)
    return DatasetSplits(
        x_train=x_train,
        y_train=y[train_idx],
        x_test=x_test,
        y_test=y[test_idx],
        name=name,
        num_classes=len(bunch.target_names),
        feature_names=feature_names,
        classes=[str(label) for label in bunch.target_names],
        preprocessing=preprocessing,
    )


def digits(test_size: float | int = 0.2, seed: int = 0, *, flatten: bool = True) -> DatasetSplits:
    """Handwritten digits 0-9 as 8x8 grey images (UCI "Optical Recognition of Handwritten Digits").

    Size: 1,797 images, 10 classes (about 180 each). Source: scikit-learn's bundled copy of the
    UCI test set (``sklearn.datasets.load_digits``), no download. Pixels (originally counts
    0-16) are scaled to [0, 1]. The split is stratified and fixed by ``seed``.

    Args:
        test_size: fraction (or count) of images in the test split.
        seed: seed of the split.
        flatten: ``True`` gives ``x`` shape ``(N, 64)``; ``False`` gives images ``(N, 1, 8, 8)``
            (channels first, for convolutions).

    Returns:
        DatasetSplits with x float32 in [0, 1] and y int64 in 0..9.

    Example:
        >>> data = digits(seed=0)
        >>> data.x_train.shape, data.x_test.shape
        ((1437, 64), (360, 64))
    """
    bunch = _load_bunch("load_digits", "digits")
    x = np.asarray(bunch.data, dtype=np.float32) / np.float32(16.0)
    if not flatten:
        x = x.reshape(-1, 1, 8, 8)
    data = _classification("digits", bunch, x, test_size, seed, scale=False)
    data.preprocessing = {"scale": 16.0}  # so raw 0-16 counts can be fed to a trained model
    if not flatten:
        data.feature_names = None  # names describe flat columns, which an image does not have
    data.classes = list(range(10))
    return data


def breast_cancer(test_size: float | int = 0.2, seed: int = 0, *, standardize: bool = True) -> DatasetSplits:
    """Breast cancer Wisconsin (diagnostic): is a tumour malignant (class 0) or benign (class 1)?

    Size: 569 samples, 30 real-valued features computed from images of cell nuclei, 2 classes
    (212 malignant, 357 benign). Source: UCI, through ``sklearn.datasets.load_breast_cancer``
    (bundled, no download). The split is stratified and fixed by ``seed``.

    Args:
        test_size: fraction (or count) of samples in the test split.
        seed: seed of the split.
        standardize: scale each feature to zero mean and unit variance with statistics of the
            training split (stored in ``preprocessing``); the raw features span very different
            ranges, which slows gradient descent.

    Returns:
        DatasetSplits with x float32 of shape ``(N, 30)`` and y int64 in {0, 1}.

    Example:
        >>> data = breast_cancer()
        >>> data.x_train.shape, data.classes
        ((455, 30), ['malignant', 'benign'])
    """
    bunch = _load_bunch("load_breast_cancer", "breast_cancer")
    x = np.asarray(bunch.data, dtype=np.float64)  # rounded to float32 after standardising
    return _classification("breast_cancer", bunch, x, test_size, seed, scale=standardize)


def wine(test_size: float | int = 0.2, seed: int = 0, *, standardize: bool = True) -> DatasetSplits:
    """Wine recognition: which of three cultivars a wine comes from, by chemical analysis.

    Size: 178 samples, 13 features, 3 classes (59, 71, 48). Source: UCI, through
    ``sklearn.datasets.load_wine`` (bundled, no download). The split is stratified and fixed by
    ``seed``; ``standardize`` works as in :func:`breast_cancer`.

    Returns:
        DatasetSplits with x float32 of shape ``(N, 13)`` and y int64 in 0..2.

    Example:
        >>> data = wine()
        >>> data.x_train.shape
        (142, 13)
    """
    bunch = _load_bunch("load_wine", "wine")
    x = np.asarray(bunch.data, dtype=np.float64)  # rounded to float32 after standardising
    return _classification("wine", bunch, x, test_size, seed, scale=standardize)


def iris(test_size: float | int = 0.2, seed: int = 0, *, standardize: bool = True) -> DatasetSplits:
    """Fisher's iris flowers: species from sepal and petal length and width (cm).

    Size: 150 samples, 4 features, 3 classes of 50. Source: UCI, through
    ``sklearn.datasets.load_iris`` (bundled, no download). The split is stratified and fixed by
    ``seed``; ``standardize`` works as in :func:`breast_cancer`.

    Returns:
        DatasetSplits with x float32 of shape ``(N, 4)`` and y int64 in 0..2.

    Example:
        >>> data = iris()
        >>> data.x_train.shape, data.x_test.shape
        ((120, 4), (30, 4))
    """
    bunch = _load_bunch("load_iris", "iris")
    x = np.asarray(bunch.data, dtype=np.float64)  # rounded to float32 after standardising
    return _classification("iris", bunch, x, test_size, seed, scale=standardize)


def diabetes(test_size: float | int = 0.2, seed: int = 0, *, standardize: bool = True) -> DatasetSplits:
    """Diabetes progression (regression): a disease-progression score one year after baseline.

    Size: 442 patients, 10 features (age, sex, body-mass index, blood pressure, six serum
    measurements). Targets are the raw scores, roughly 25 to 346, returned unscaled. Source:
    Efron et al. (2004), through ``sklearn.datasets.load_diabetes`` (bundled, no download). The
    split is a plain random split fixed by ``seed``; ``standardize`` works as in
    :func:`breast_cancer`.

    Returns:
        DatasetSplits with x float32 of shape ``(N, 10)``, y float32 of shape ``(N,)`` and
        ``num_classes=None``.

    Example:
        >>> data = diabetes()
        >>> data.task, data.x_train.shape
        ('regression', (353, 10))
    """
    bunch = _load_bunch("load_diabetes", "diabetes")
    x = np.asarray(bunch.data, dtype=np.float64)  # rounded to float32 after standardising
    y = np.asarray(bunch.target, dtype=np.float32)
    train_idx, test_idx = train_test_indices(len(y), test_size, seed)
    x_train, x_test = x[train_idx], x[test_idx]
    feature_names = [str(name) for name in bunch.feature_names]
    preprocessing = None
    if standardize:
        x_train, x_test, preprocessing = standardize_columns(x_train, x_test, feature_names)
    else:
        x_train, x_test = x_train.astype(np.float32), x_test.astype(np.float32)
    return DatasetSplits(
        x_train=x_train,
        y_train=y[train_idx],
        x_test=x_test,
        y_test=y[test_idx],
        name="diabetes",
        num_classes=None,
        feature_names=feature_names,
        preprocessing=preprocessing,
    )
