"""Data preparation for a run: load the configured dataset, pin a CSV file by its SHA-256,
hold out the validation split, check the arrays, and build the loaders (with the optional
shift augmentation for images)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ConfigError
from chainrule.train.config import IMAGE_SHAPES


def pin_dataset(config: dict[str, Any], source: str = "", resuming: bool = False) -> None:
    """Make ``config``'s data paths absolute (a relative one against the working directory)
    and record a ``.csv`` dataset's SHA-256 in ``dataset_sha256``, or, where the config already
    records one, refuse a file whose content differs. ``source`` names the config file."""
    if config["data_dir"]:
        config["data_dir"] = os.path.abspath(Path(config["data_dir"]).expanduser())
    if not config["dataset"].endswith(".csv"):
        return
    path = os.path.abspath(Path(config["dataset"]).expanduser())
    where = f"{source}: " if source else ""
    fix = f"write its new path as dataset in {source}" if source else "give its path with --dataset"
    if not Path(path).is_file():
        raise ConfigError(f"{where}dataset file {path!r} does not exist; put it back there or {fix}")
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    recorded = config["dataset_sha256"]
    if recorded and recorded != digest:
        other = (
            " (a run resumes only on the data it was trained on)"
            if resuming
            else (
                f", or delete dataset_sha256 from {source or 'the config'} to train on the file as it is now"
            )
        )
        raise ConfigError(
            f"{where}dataset file {path!r} is not the file this config was trained on (its SHA-256 is "
            f"now {digest[:12]}..., dataset_sha256 records {recorded[:12]}...); restore that file{other}"
        )
    config["dataset"], config["dataset_sha256"] = path, digest


@dataclass
class PreparedData:
    """Arrays for training, validation and test, and what the model needs to know."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray
    task: str
    num_outputs: int
    class_names: list[str] | None
    image_shape: tuple[int, ...] | None
    target_mean: float = 0.0
    target_variance: float = 1.0
    feature_names: list[str] | None = None
    # What turns the dataset's raw rows into these features (a FeatureEncoder spec), and the
    # name of a CSV's target column; both go into the run folder for predict and audit.
    preprocessing: dict[str, Any] | None = None
    target: str = ""

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def load_splits(config: Mapping[str, Any]) -> Any:
    """The dataset's train/test ``DatasetSplits`` as the config asks for it."""
    from chainrule import datasets

    name = config["dataset"]
    if name.endswith(".csv"):
        if not Path(name).is_file():
            raise ConfigError(f"dataset file {name!r} does not exist (looked in {Path.cwd()})")
        return _load_csv(name, config)
    kwargs: dict[str, Any] = {}
    if name in IMAGE_SHAPES:
        kwargs["flatten"] = config["model"] != "cnn"
    if name in ("mnist", "fashion_mnist") and config["data_dir"]:
        kwargs["root"] = config["data_dir"]
    return datasets.load(name, **kwargs)


def _load_csv(path: str, config: Mapping[str, Any]) -> Any:
    """``datasets.csv``, its complaints about the file turned into ConfigErrors. Missing values
    are filled with the training mean only when ``allow_nan`` says so."""
    from chainrule import datasets
    from chainrule.datasets.encoding import MissingValueError

    try:
        return datasets.csv(
            path,
            target=config["target"],
            na="mean" if config["allow_nan"] else "error",
            categorical=config["categorical"],
            drop_columns=config["drop_columns"],
            max_categories=config["max_categories"],
        )
    except MissingValueError as error:
        raise ConfigError(f"{path}: {error} (on the command line: --allow-nan)") from None
    except ValueError as error:
        message = str(error)
        named = message.startswith(str(Path(path)))
        raise ConfigError(message if named else f"{path}: {message}") from None


def prepare_data(config: Mapping[str, Any]) -> PreparedData:
    """Load the dataset and hold out ``val_split`` of the training split (stratified for
    classification, seeded by ``seed``)."""
    from chainrule.datasets import train_test_indices

    splits = load_splits(config)
    if splits.x_train is None or splits.x_test is None:
        raise ConfigError(f"dataset {config['dataset']!r} did not load both a train and a test split")
    x, y = splits.x_train, splits.y_train
    x_val = y_val = None
    if config["val_split"] > 0:
        stratify = y if splits.task == "classification" else None
        try:
            train_idx, val_idx = train_test_indices(
                len(y), config["val_split"], config["seed"], stratify=stratify
            )
        except ValueError as error:
            raise ConfigError(f"val_split = {config['val_split']}: {error}") from None
        x, y, x_val, y_val = x[train_idx], y[train_idx], x[val_idx], y[val_idx]
    task = splits.task
    data = PreparedData(
        x_train=x,
        y_train=y,
        x_val=x_val,
        y_val=y_val,
        x_test=splits.x_test,
        y_test=splits.y_test,
        task=task,
        num_outputs=splits.num_classes if task == "classification" else _target_width(y),
        class_names=[str(label) for label in splits.classes] if splits.classes is not None else None,
        image_shape=IMAGE_SHAPES.get(config["dataset"]),
        feature_names=list(splits.feature_names) if splits.feature_names is not None else None,
        preprocessing=splits.preprocessing,
        target=config["target"],
    )
    if task == "regression":
        data.y_train, data.y_test = _column(data.y_train), _column(data.y_test)
        data.y_val = None if data.y_val is None else _column(data.y_val)
        data.target_mean = float(np.mean(data.y_train, dtype=np.float64))
        data.target_variance = float(np.var(data.y_train, dtype=np.float64))
    return data


def check_data(data: PreparedData, allow_nan: bool = False) -> Any:
    """Run :func:`chainrule.data.check` on the training data (its validation rows included)
    against the test data; returns its ``DataReport``.

    NaN or infinite inputs turn every gradient into NaN, so they raise a :class:`ConfigError`
    unless ``allow_nan``; the other findings are left to the caller to show.

    Example::

        >>> from chainrule.train.config import validate_config
        >>> report = check_data(prepare_data(validate_config({"dataset": "wine"})))
        >>> print(report)
        Data check (142 train, 36 test samples): no problems found
    """
    from chainrule.data import check

    x_train, y_train = data.x_train, data.y_train
    if data.x_val is not None:
        x_train = np.concatenate([x_train, data.x_val])
        y_train = np.concatenate([y_train, data.y_val])
    classification = data.task == "classification"
    report = check(
        (x_train, y_train),
        (data.x_test, data.y_test),
        num_classes=data.num_outputs if classification else None,
        task=data.task,
        feature_names=data.feature_names,
    )
    non_finite = report.by_kind("nan_inf")
    if non_finite and not allow_nan:
        found = "; ".join(finding.message.split(";")[0] for finding in non_finite)
        raise ConfigError(
            f"refusing to train: {found}; NaN and infinite inputs turn every gradient into NaN, "
            "so fix the data or pass --allow-nan (allow_nan = true) to train anyway"
        )
    return report


def _target_width(y: np.ndarray) -> int:
    return 1 if y.ndim == 1 else int(y.shape[1])


def _column(y: np.ndarray) -> np.ndarray:
    return y.reshape(-1, 1).astype(np.float32) if y.ndim == 1 else y.astype(np.float32)


def make_loader(x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool = False, seed: int = 0) -> Any:
    import chainrule
    from chainrule.utils.data import DataLoader, TensorDataset

    dataset = TensorDataset(chainrule.from_numpy(x), chainrule.from_numpy(y))
    generator = chainrule.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)


class FlatImageShift:
    """Shift an image by up to ``max_shift`` pixels in each direction, whether the sample is
    stored as an image ``(C, H, W)`` or flattened ``(C*H*W,)`` (as the mlp takes it); draws
    from chainrule's global generator, so checkpoints capture it and resumed runs repeat it.

    Example::

        >>> FlatImageShift((8, 8))(chainrule.ones(64)).shape
        (64,)
    """

    def __init__(self, image_shape: tuple[int, ...], max_shift: int = 2) -> None:
        from chainrule.utils.data.transforms import RandomShift

        self.image_shape = tuple(image_shape)
        self.shift = RandomShift(max_shift)

    def __call__(self, sample: Any) -> Any:
        return self.shift(sample.reshape(self.image_shape)).reshape(sample.shape)

    def __repr__(self) -> str:
        return f"FlatImageShift({self.image_shape}, max_shift={self.shift.max_shift[0]})"


def augment_shift(image_shape: tuple[int, ...]) -> int:
    """How far ``--augment`` shifts an image: 2 pixels (MNIST's 28x28), but 1 for images under
    16 pixels a side, where 2 would move a digit by a quarter of the frame (on the 8x8
    digits it costs some 30 points of accuracy instead of helping)."""
    return 2 if min(image_shape[-2:]) >= 16 else 1


def make_train_loader(config: Mapping[str, Any], data: PreparedData) -> Any:
    """The shuffled training loader; with ``augment`` each image is shifted at random (see
    :func:`augment_shift`) every time it is drawn."""
    loader = make_loader(data.x_train, data.y_train, config["batch_size"], shuffle=True, seed=config["seed"])
    if not config["augment"] or data.image_shape is None:
        return loader
    from chainrule.utils.data import DataLoader
    from chainrule.utils.data.transforms import TransformDataset

    shift = FlatImageShift(data.image_shape, augment_shift(data.image_shape))
    augmented = TransformDataset(loader.dataset, shift)
    return DataLoader(augmented, batch_size=config["batch_size"], shuffle=True, generator=loader.generator)
