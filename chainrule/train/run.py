"""Run folders and their configuration: what ``chainrule train`` does, callable from Python.

A run is described by a flat configuration (:data:`SETTINGS`: dataset, model, epochs, ...),
given by defaults, a TOML file and command-line flags, in rising priority. Every run writes a
folder ``<out>/<name>/``::

    config.toml              the complete configuration (edit it and pass it back with --config)
    metrics.csv              one row per epoch (rewritten each epoch)
    checkpoint.safetensors   the whole training state after the last finished epoch (resumable)
    model.safetensors        the final weights, plus what is needed to rebuild the model
    report.html              the self-contained report (data checks, curves, gradient flow,
                             attributions, ...)
    audit.json               fairness audits, once ``chainrule audit`` has run on the folder

Before training, the data is checked (:func:`check_data`): NaN or infinite inputs stop the run
unless ``allow_nan`` is set. While training, the trainer watches the gradient flow and
overfitting and says what it finds.

Example::

    >>> from chainrule.train.run import train_run
    >>> result = train_run({"dataset": "iris", "epochs": 30})
    >>> result.test_metrics["accuracy"], result.run_dir
"""

from __future__ import annotations

import datetime
import difflib
import json
import math
import random
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from chainrule.train.callbacks import Callback

CONFIG_FILE = "config.toml"
CHECKPOINT_FILE = "checkpoint.safetensors"
MODEL_FILE = "model.safetensors"
METRICS_FILE = "metrics.csv"
REPORT_FILE = "report.html"
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULERS = ("none", "plateau", "cosine")
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3}
IMAGE_SHAPES = {"digits": (8, 8), "mnist": (28, 28), "fashion_mnist": (28, 28)}


class ConfigError(ValueError):
    """A bad setting, said in one sentence that names the setting and what would be valid."""


# ----------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Setting:
    default: Any
    kind: type  # bool, int, float, str, list (of ints) or dict (a one-level table)
    help: str
    choices: tuple[str, ...] | None = None


SETTINGS: dict[str, Setting] = {
    "dataset": Setting(
        "digits",
        str,
        "a dataset name (digits, iris, wine, breast_cancer, diabetes, mnist, "
        "fashion_mnist, mnist1d) or a .csv file",
    ),
    "target": Setting("", str, "the column to predict, for a .csv dataset"),
    "data_dir": Setting("", str, "folder of downloaded data (mnist, fashion_mnist); empty: their cache"),
    "model": Setting("mlp", str, "mlp, cnn or path/to/file.py:ClassName"),
    "hidden": Setting([128], list, "hidden layer widths of the mlp"),
    "channels": Setting([16, 32], list, "channels of the cnn's convolutions"),
    "dropout": Setting(0.0, float, "dropout probability between layers (mlp, cnn)"),
    "epochs": Setting(20, int, "number of passes over the training data"),
    "batch_size": Setting(32, int, "samples per optimizer step"),
    "optimizer": Setting("adam", str, "the optimizer", OPTIMIZERS),
    "lr": Setting(None, float, "learning rate (default: 0.05 for sgd, 1e-3 otherwise)"),
    "momentum": Setting(0.9, float, "momentum of sgd"),
    "weight_decay": Setting(0.0, float, "L2 penalty on the weights (decoupled for adamw)"),
    "scheduler": Setting("none", str, "learning-rate schedule", SCHEDULERS),
    "patience": Setting(0, int, "early stopping: epochs without val_loss improvement (0: off)"),
    "seed": Setting(0, int, "seeds weight init, shuffling, dropout and the validation split"),
    "val_split": Setting(0.1, float, "fraction of the training data held out for validation"),
    "augment": Setting(
        False, bool, "image datasets: shift training images at random, up to 2 pixels (1 on 8x8 digits)"
    ),
    "allow_nan": Setting(
        False,
        bool,
        "train even though the data has NaN or infinite inputs (a CSV's missing values are then "
        "filled with the training mean)",
    ),
    "name": Setting("", str, "run folder name (default: dataset-model-time)"),
    "out": Setting("runs", str, "folder that holds run folders"),
    "model_args": Setting({}, dict, "keyword arguments for a model class given as file.py:ClassName"),
}


# Longer names people type for a setting, so a typo of either gets a "did you mean".
_SPELLED_OUT = {
    "learning_rate": "lr",
    "num_epochs": "epochs",
    "validation_split": "val_split",
    "early_stopping_patience": "patience",
    "lr_scheduler": "scheduler",
    "hidden_sizes": "hidden",
}


def default_config() -> dict[str, Any]:
    return {
        key: (
            list(s.default)
            if isinstance(s.default, list)
            else dict(s.default)
            if isinstance(s.default, dict)
            else s.default
        )
        for key, s in SETTINGS.items()
    }


def validate_config(config: Mapping[str, Any], source: str = "") -> dict[str, Any]:
    """Check names, types and ranges; returns the full config with defaults filled in and
    ``lr`` resolved. Raises :class:`ConfigError` naming the first problem, prefixed by
    ``source`` (e.g. the config file's path) when given."""
    source = f"{source}: " if source else ""
    unknown = [key for key in config if key not in SETTINGS]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, [*SETTINGS, *_SPELLED_OUT], n=1)
        hint = f"did you mean {_SPELLED_OUT.get(close[0], close[0])!r}? " if close else ""
        raise ConfigError(f"{source}unknown key {key!r}; {hint}valid keys: {', '.join(SETTINGS)}")
    full = default_config()
    for key, value in config.items():
        full[key] = _check_type(key, value, source)
    _check_ranges(full, source)
    if full["lr"] is None:
        full["lr"] = DEFAULT_LR[full["optimizer"]]
    return full


def _check_type(key: str, value: Any, source: str) -> Any:
    setting = SETTINGS[key]
    kind = setting.kind
    if value is None and setting.default is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    names = {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list of integers",
        dict: "a table of keyword arguments",
    }
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is list and ok:
        ok = all(isinstance(item, int) and not isinstance(item, bool) for item in value)
    if not ok:
        raise ConfigError(f"{source}{key!r} must be {names[kind]}, got {value!r}")
    if setting.choices and value not in setting.choices:
        raise ConfigError(f"{source}{key} = {value!r} is not one of {', '.join(setting.choices)}")
    return value


def _check_ranges(config: dict[str, Any], source: str) -> None:
    def require(condition: bool, message: str) -> None:
        if not condition:
            raise ConfigError(f"{source}{message}")

    require(config["epochs"] >= 1, f"epochs must be at least 1, got {config['epochs']}")
    require(config["batch_size"] >= 1, f"batch_size must be at least 1, got {config['batch_size']}")
    require(
        config["lr"] is None or (math.isfinite(config["lr"]) and config["lr"] > 0),
        f"lr must be a positive number, got {config['lr']}",
    )
    require(0.0 <= config["val_split"] < 1.0, f"val_split must be in [0, 1), got {config['val_split']}")
    require(0.0 <= config["dropout"] < 1.0, f"dropout must be in [0, 1), got {config['dropout']}")
    require(config["weight_decay"] >= 0, f"weight_decay must be >= 0, got {config['weight_decay']}")
    require(config["patience"] >= 0, f"patience must be >= 0, got {config['patience']}")
    require(config["seed"] >= 0, f"seed must be a non-negative integer, got {config['seed']}")
    require(
        all(width >= 1 for width in config["hidden"]), f"hidden widths must be >= 1, got {config['hidden']}"
    )
    require(
        len(config["channels"]) >= 1 and all(c >= 1 for c in config["channels"]),
        f"channels must be one or more positive integers, got {config['channels']}",
    )
    require(
        not (config["patience"] and config["val_split"] == 0),
        "patience (early stopping) watches val_loss, so it needs val_split > 0",
    )
    require(
        not (config["scheduler"] == "plateau" and config["val_split"] == 0),
        "scheduler = 'plateau' watches val_loss, so it needs val_split > 0",
    )
    require(
        config["name"] == ""
        or re.fullmatch(r"[A-Za-z0-9._-]+", config["name"]) is not None
        and config["name"] not in (".", ".."),
        f"name {config['name']!r} may use only letters, digits, '.', '_' and '-'",
    )
    _check_dataset_name(config, source)
    model = config["model"]
    require(
        model in ("mlp", "cnn") or re.fullmatch(r".+\.py:[A-Za-z_]\w*", model) is not None,
        f"model {model!r} is not mlp, cnn or path/to/file.py:ClassName",
    )
    require(
        not config["augment"] or config["dataset"] in IMAGE_SHAPES,
        f"augment shifts images, so it needs an image dataset ({', '.join(IMAGE_SHAPES)}), "
        f"not {config['dataset']!r}",
    )


def _check_dataset_name(config: dict[str, Any], source: str) -> None:
    from chainrule.datasets import list_datasets

    dataset = config["dataset"]
    if dataset.endswith(".csv"):
        if not config["target"]:
            raise ConfigError(
                f"{source}the CSV dataset {dataset!r} needs target = the column to predict (--target)"
            )
        return
    if dataset not in list_datasets():
        raise ConfigError(
            f"{source}unknown dataset {dataset!r}; valid names: "
            f"{', '.join(list_datasets())}, or a path to a .csv file"
        )


# ----------------------------------------------------------------------------------- TOML
def dumps_toml(mapping: Mapping[str, Any], header: str = "") -> str:
    """TOML text for a mapping of scalars, lists of scalars and one level of tables.

    Enough for a configuration and no dependency; ``tomllib`` reads the result back to equal
    values (floats exactly, via ``repr``).

    Example::

        >>> print(dumps_toml({"lr": 0.001, "hidden": [128, 64], "model_args": {"depth": 3}}))
        lr = 0.001
        hidden = [128, 64]
        <BLANKLINE>
        [model_args]
        depth = 3
    """
    lines = [f"# {line}" for line in header.splitlines()]
    tables = []
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            tables.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value, key)}")
    for key, table in tables:
        lines += ["", f"[{_toml_key(key)}]"]
        for inner_key, value in table.items():
            if isinstance(value, Mapping):
                raise TypeError(f"dumps_toml: {key}.{inner_key} is a nested table; only one level is written")
            lines.append(f"{_toml_key(inner_key)} = {_toml_value(value, f'{key}.{inner_key}')}")
    return "\n".join(lines) + "\n"


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def _toml_value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item, where) for item in value) + "]"
    raise TypeError(f"dumps_toml: cannot write {where} = {value!r} ({type(value).__name__}) as TOML")


_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_string(text: str) -> str:
    escaped = []
    for char in text:
        if char in _TOML_ESCAPES:
            escaped.append(_TOML_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04X}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file with ``tomllib`` (Python 3.11+) or ``tomli``; errors as ConfigError."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise ConfigError(
                "reading TOML on Python 3.10 needs the tomli package: pip install tomli"
            ) from None
    path = Path(path)
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None


def load_config(path: str | Path) -> dict[str, Any]:
    """Read and validate a config file (unknown keys and bad values raise ConfigError)."""
    return validate_config(read_toml(path), source=str(path))


def write_config(run_dir: Path, config: Mapping[str, Any]) -> None:
    from chainrule.train.checkpoint import atomic_write_bytes

    header = (
        "chainrule run configuration, written by `chainrule train`.\n"
        "Train again with: chainrule train --config this-file"
    )
    atomic_write_bytes(run_dir / CONFIG_FILE, dumps_toml(config, header).encode())


# ----------------------------------------------------------------------------- run folders
def new_run_dir(config: Mapping[str, Any]) -> Path:
    """``<out>/<name>``, made now; a default name is ``<dataset>-<model>-<time>``, numbered
    if taken. A given name that already holds a run is an error (resume it instead)."""
    out = Path(config["out"])
    if config["name"]:
        run_dir = out / config["name"]
        if (run_dir / CONFIG_FILE).exists():
            raise ConfigError(
                f"run folder {run_dir} already holds a run; continue it with --resume {run_dir} "
                "or choose another --name"
            )
    else:
        stem = (
            f"{Path(config['dataset']).stem}-{Path(config['model'].split(':')[-1]).stem}-"
            f"{datetime.datetime.now():%Y%m%d-%H%M%S}"
        )
        run_dir, number = out / stem, 1
        while run_dir.exists():
            number += 1
            run_dir = out / f"{stem}-{number}"
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


# ------------------------------------------------------------------------------ the data
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

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def load_splits(config: Mapping[str, Any]) -> Any:
    """The dataset's train/test ``DatasetSplits`` as the config asks for it."""
    from chainrule import datasets

    name = config["dataset"]
    if name.endswith(".csv"):
        if not Path(name).is_file():
            raise ConfigError(f"dataset file {name!r} does not exist")
        return _load_csv(name, config["target"], config["allow_nan"])
    kwargs: dict[str, Any] = {}
    if name in IMAGE_SHAPES:
        kwargs["flatten"] = config["model"] != "cnn"
    if name in ("mnist", "fashion_mnist") and config["data_dir"]:
        kwargs["root"] = config["data_dir"]
    return datasets.load(name, **kwargs)


def _load_csv(path: str, target: str, allow_nan: bool) -> Any:
    """``datasets.csv``, its complaints about the file turned into ConfigErrors. Missing values
    are filled with the training mean only when ``allow_nan`` says so."""
    from chainrule import datasets

    try:
        return datasets.csv(path, target=target, na="mean" if allow_nan else "error")
    except ValueError as error:
        hint = ""
        if not allow_nan and _loads_when_filled(path, target):
            hint = " (on the command line: --allow-nan)"  # the trouble was missing values
        raise ConfigError(f"{path}: {error}{hint}") from None


def _loads_when_filled(path: str, target: str) -> bool:
    from chainrule import datasets

    try:
        datasets.csv(path, target=target, na="mean")
    except ValueError:
        return False
    return True


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


# ---------------------------------------------------------------------- model and parts
def build_model_for(
    config: Mapping[str, Any],
    input_shape: tuple[int, ...],
    num_outputs: int,
    task: str,
    target_mean: float = 0.0,
    target_variance: float = 1.0,
) -> Any:
    """The model the config names; a regression model ends in a fixed ``Rescale`` layer so it
    learns standardised targets but outputs the data's own units."""
    from chainrule import nn
    from chainrule.models import Rescale, build_model

    try:
        model = build_model(
            config["model"],
            input_shape,
            num_outputs,
            hidden=config["hidden"],
            channels=config["channels"],
            dropout=config["dropout"],
            model_args=config["model_args"],
        )
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if task == "regression":
        rescale = Rescale(math.sqrt(target_variance) if target_variance > 0 else 1.0, target_mean)
        if isinstance(model, nn.Sequential):
            model.add_module("rescale", rescale)
        else:
            model = nn.Sequential(model, rescale)
    return model


def build_optimizer(config: Mapping[str, Any], model: Any) -> Any:
    from chainrule import optim

    params, lr, decay = model.parameters(), config["lr"], config["weight_decay"]
    if config["optimizer"] == "sgd":
        return optim.SGD(params, lr=lr, momentum=config["momentum"], weight_decay=decay)
    if config["optimizer"] == "adam":
        return optim.Adam(params, lr=lr, weight_decay=decay)
    if config["optimizer"] == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=decay)
    return optim.RMSprop(params, lr=lr, weight_decay=decay)


def build_scheduler(config: Mapping[str, Any], optimizer: Any) -> Any:
    from chainrule.optim import lr_scheduler

    if config["scheduler"] == "plateau":
        return lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)
    if config["scheduler"] == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=config["epochs"])
    return None


def loss_for(task: str, target_variance: float) -> Any:
    from chainrule import nn
    from chainrule.models import ScaledMSELoss

    return nn.CrossEntropyLoss() if task == "classification" else ScaledMSELoss(target_variance)


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


def seed_everything(seed: int) -> None:
    """Seed chainrule's generator, NumPy's legacy global one and Python's ``random``."""
    import chainrule

    chainrule.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


TEST_METRICS = {
    "classification": ["accuracy", "precision", "recall", "f1"],
    "regression": ["mse", "mae", "r2"],
}
TRAIN_METRICS = {"classification": ["accuracy"], "regression": ["mae"]}


class BatchDelay(Callback):
    """Sleeps after every batch: lets tests interrupt a run in the middle of an epoch."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        time.sleep(self.seconds)


# ------------------------------------------------------------------------------- training
@dataclass
class RunResult:
    """What :func:`train_run` leaves: the folder, test metrics, history, the full config, the
    gradient-flow findings of the last epoch and the data check's report."""

    run_dir: Path
    test_metrics: dict[str, float]
    history: Any
    config: dict[str, Any] = field(default_factory=dict)
    gradient_findings: list[Any] | None = None
    data_report: Any = None


def train_run(
    config: Mapping[str, Any],
    *,
    resume: str | Path | None = None,
    verbose: int = 1,
    batch_delay: float = 0.0,
    stream: TextIO | None = None,
) -> RunResult:
    """Train as ``chainrule train`` does and write the run folder.

    Args:
        config: settings (see :data:`SETTINGS`); missing ones take their defaults. Ignored
            with ``resume``, which reads the run folder's own config.toml.
        resume: a run folder to continue from its last checkpoint, bit for bit as if it had
            never stopped.
        verbose: 0 silent, 1 progress bar, 2 a line per epoch.
        batch_delay: seconds to sleep after each batch (for tests of interruption).
        stream: where to print the run's messages (default stdout).
    """
    from chainrule.train.callbacks import CSVLogger, EarlyStopping, ModelCheckpoint, TerminateOnNaN
    from chainrule.train.trainer import Trainer

    out = stream if stream is not None else sys.stdout
    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / CONFIG_FILE).is_file():
            raise ConfigError(f"cannot resume {run_dir}: it has no {CONFIG_FILE} (is it a run folder?)")
        config = validate_config(
            {**read_toml(run_dir / CONFIG_FILE), **config}, source=str(run_dir / CONFIG_FILE)
        )
    else:
        config = validate_config(config)
    data = prepare_data(config)
    data_report = check_data(data, allow_nan=config["allow_nan"])
    if verbose:
        print(data_report, file=out, flush=True)
    seed_everything(config["seed"])
    model = build_model_for(
        config, data.input_shape, data.num_outputs, data.task, data.target_mean, data.target_variance
    )
    optimizer = build_optimizer(config, model)
    trainer = Trainer(
        model,
        loss_for(data.task, data.target_variance),
        optimizer,
        metrics=TRAIN_METRICS[data.task],
        scheduler=build_scheduler(config, optimizer),
        config=config,
    )
    if resume is None:
        run_dir = new_run_dir(config)
    write_config(run_dir, config)

    callbacks: list[Any] = [
        TerminateOnNaN(),
        CSVLogger(run_dir / METRICS_FILE),
        ModelCheckpoint(run_dir, CHECKPOINT_FILE),
    ]
    if config["patience"]:
        callbacks.append(EarlyStopping("val_loss", patience=config["patience"], restore_best_weights=True))
    if batch_delay > 0:
        callbacks.append(BatchDelay(batch_delay))
    checkpoint = run_dir / CHECKPOINT_FILE
    resume_from = checkpoint if resume is not None and checkpoint.is_file() else None
    if resume is not None and resume_from is None and verbose:
        print(f"{run_dir} has no checkpoint yet; training from the start", file=out)

    train_loader = make_train_loader(config, data)
    val_loader = None if data.x_val is None else make_loader(data.x_val, data.y_val, 256)
    if verbose:
        print(
            f"Training {config['model']} on {config['dataset']}: {len(data.x_train)} training, "
            f"{0 if data.x_val is None else len(data.x_val)} validation, {len(data.x_test)} test samples "
            f"-> {run_dir}",
            file=out,
            flush=True,
        )
    history = trainer.fit(
        train_loader,
        val_loader,
        epochs=config["epochs"],
        callbacks=callbacks,
        verbose=verbose,
        resume_from=resume_from,
    )

    save_model_file(run_dir, model, config, data)
    test_metrics = evaluate_model(trainer, data)
    write_run_report(run_dir, trainer, config, data, test_metrics, data_report)
    return RunResult(
        run_dir=run_dir,
        test_metrics=test_metrics,
        history=history,
        config=config,
        gradient_findings=_gradient_findings(trainer),
        data_report=data_report,
    )


def _gradient_findings(trainer: Any) -> list[Any] | None:
    from chainrule.train.callbacks import GradientFlowCallback

    for callback in trainer.callbacks:
        if isinstance(callback, GradientFlowCallback) and callback.diagnosed:
            return list(callback.findings)
    return None


def evaluate_model(trainer: Any, data: PreparedData) -> dict[str, float]:
    """Loss and the task's metrics on the test split (leaves the confusion matrix in trainer)."""
    from chainrule.train.trainer import _resolve_metrics

    saved_metrics = trainer.metrics
    trainer.metrics = _resolve_metrics(TEST_METRICS[data.task], trainer.loss_fn)
    try:
        return trainer.evaluate(make_loader(data.x_test, data.y_test, 256))
    finally:
        trainer.metrics = saved_metrics


def save_model_file(run_dir: Path, model: Any, config: Mapping[str, Any], data: PreparedData) -> None:
    from chainrule.train.checkpoint import save_model

    description = {
        "model": config["model"],
        "input_shape": list(data.input_shape),
        "num_outputs": data.num_outputs,
        "task": data.task,
        "class_names": data.class_names,
        "target_variance": data.target_variance,
    }
    save_model(run_dir / MODEL_FILE, model, metadata={"chainrule": json.dumps(description)})


ATTRIBUTION_IMAGES = 4
ATTRIBUTION_ROWS = 48
ATTRIBUTION_STEPS = 32


def attribution_summary(
    model: Any,
    data: PreparedData,
    images: int = ATTRIBUTION_IMAGES,
    rows: int = ATTRIBUTION_ROWS,
    steps: int = ATTRIBUTION_STEPS,
) -> dict[str, Any] | None:
    """Integrated gradients (from an all-zero baseline) on the first test samples, as the
    report's "Attributions" section shows them.

    For a classifier the attributions are of the predicted class's score; for a regression
    model of its single output. Image data gives ``images`` examples with the input and the
    absolute attribution per pixel; other data ranks the features by mean absolute attribution
    over ``rows`` samples. Either way the completeness gap is summarised: how far each sample's
    attributions miss ``f(x) - f(baseline)``. ``None`` for models with several regression
    outputs (no single output to explain).

    Returns:
        ``{"method", "steps", "target", "samples", "images": [{"input", "heat", "true",
        "predicted"}], "ranking": [(feature, score)], "gap_mean", "gap_max",
        "difference_mean"}``.
    """
    from chainrule.grad_mode import no_grad
    from chainrule.interpret import integrated_gradients, rank_features
    from chainrule.tensor import from_numpy

    is_image = data.image_shape is not None
    x = np.ascontiguousarray(data.x_test[: images if is_image else rows])
    was_training = getattr(model, "training", False)
    model.eval()  # dropout would make the attributions random
    try:
        with no_grad():
            outputs = np.asarray(model(from_numpy(x)).array)
            baseline_outputs = np.asarray(model(from_numpy(np.zeros_like(x))).array)
        if data.task == "classification":
            target: np.ndarray | None = outputs.argmax(axis=1)
            picked = np.arange(len(x))
            difference = outputs[picked, target] - baseline_outputs[picked, target]
        elif outputs.ndim == 2 and outputs.shape[1] == 1:
            target = None
            difference = (outputs - baseline_outputs)[:, 0]
        else:
            return None
        result = integrated_gradients(model, x, target=target, steps=steps)
    finally:
        model.train(was_training)
    attributions = np.asarray(result.attributions.array, dtype=np.float64)
    gap = np.asarray(result.completeness_gap.array, dtype=np.float64)
    summary: dict[str, Any] = {
        "method": "integrated gradients",
        "steps": steps,
        "target": "predicted class's score" if target is not None else "model's output",
        "samples": len(x),
        "images": [],
        "ranking": [],
        "gap_mean": float(gap.mean()),
        "gap_max": float(gap.max()),
        "difference_mean": float(np.abs(difference).mean()),
    }
    if is_image:
        for index in range(len(x)):
            heat = np.abs(attributions[index]).reshape(data.image_shape)
            summary["images"].append(
                {
                    "input": x[index].reshape(data.image_shape),
                    "heat": heat.sum(axis=0) if heat.ndim == 3 else heat,
                    "true": int(data.y_test[index]),
                    "predicted": int(target[index]),
                }
            )
    else:
        flat = attributions.reshape(len(x), -1)
        names = data.feature_names
        if names is not None and len(names) != flat.shape[1]:
            names = None
        summary["ranking"] = rank_features(flat, names, top=15)
    return summary


def write_run_report(
    run_dir: Path,
    trainer: Any,
    config: Mapping[str, Any],
    data: PreparedData,
    test_metrics: dict[str, float],
    data_report: Any = None,
) -> None:
    """report.html of a finished run: the trainer's record plus test metrics, misclassified
    images, the data check's findings and the attributions."""
    from chainrule.train.report import RunRecord, write_report
    from chainrule.train.trainer import class_predictions

    examples = []
    if data.task == "classification" and data.image_shape is not None and trainer.last_outputs is not None:
        predicted = class_predictions(trainer.last_outputs, trainer.loss_fn)
        wrong = np.flatnonzero(predicted != trainer.last_targets)[:16]
        examples = [
            {
                "input": data.x_test[i].reshape(data.image_shape),
                "true": int(data.y_test[i]),
                "predicted": int(predicted[i]),
                "index": int(i),
            }
            for i in wrong
        ]
    run = RunRecord.from_trainer(
        trainer,
        title=f"chainrule run · {run_dir.name}",
        dataset=config["dataset"],
        model_name=config["model"],
        test_metrics=test_metrics,
        class_names=data.class_names,
        examples=examples,
        confusion_matrix=trainer.confusion_matrix if data.task == "classification" else None,
        data_report=data_report,
        attributions=attribution_summary(trainer.model, data),
    )
    write_report(run_dir / REPORT_FILE, run)


# ------------------------------------------------------------------- evaluate and predict
@dataclass
class LoadedRun:
    config: dict[str, Any]
    model: Any
    description: dict[str, Any]


def load_run(run_dir: str | Path) -> LoadedRun:
    """Rebuild a finished run's model from its folder (config.toml + model.safetensors)."""
    from chainrule.train.checkpoint import load_model, read_safetensors

    run_dir = Path(run_dir)
    for needed in (CONFIG_FILE, MODEL_FILE):
        if not (run_dir / needed).is_file():
            raise ConfigError(
                f"{run_dir} has no {needed}; is it a finished run folder (see {run_dir.parent})?"
            )
    config = validate_config(read_toml(run_dir / CONFIG_FILE), source=str(run_dir / CONFIG_FILE))
    _, metadata = read_safetensors(run_dir / MODEL_FILE)
    if "chainrule" not in metadata:
        raise ConfigError(f"{run_dir / MODEL_FILE} was not written by chainrule train (no model description)")
    description = json.loads(metadata["chainrule"])
    model = build_model_for(
        config,
        tuple(description["input_shape"]),
        description["num_outputs"],
        description["task"],
        0.0,
        description["target_variance"],
    )
    load_model(run_dir / MODEL_FILE, model)
    model.eval()
    return LoadedRun(config=config, model=model, description=description)


def evaluate_run(run_dir: str | Path) -> tuple[dict[str, float], np.ndarray | None, LoadedRun]:
    """Test metrics of a finished run, recomputed from its saved model; and the confusion
    matrix for a classifier."""
    from chainrule.train.trainer import Trainer

    loaded = load_run(run_dir)
    data = prepare_data(loaded.config)
    trainer = Trainer(
        loaded.model,
        loss_for(data.task, loaded.description["target_variance"]),
        optimizer=None,
        track_grad_norms=False,
    )
    metrics = evaluate_model(trainer, data)
    return metrics, trainer.confusion_matrix, loaded


def read_inputs(path: str | Path, input_shape: tuple[int, ...]) -> np.ndarray:
    """Samples from a ``.npy`` file (never unpickled) or a numeric ``.csv`` (a header row is
    skipped), reshaped to ``(N, *input_shape)`` and cast to float32."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"input file {str(path)!r} does not exist")
    if path.suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as error:
            raise ConfigError(f"{path} is not a plain numeric .npy file ({error})") from None
    elif path.suffix == ".csv":
        array = _read_numeric_csv(path)
    else:
        raise ConfigError(f"input {str(path)!r} must be a .npy or .csv file")
    if array.dtype.kind not in "fiub":
        raise ConfigError(f"{path} holds {array.dtype} data; inputs must be numbers")
    size = math.prod(input_shape)
    if array.ndim == 1 and array.size == size:
        array = array[None]  # a single sample
    if array.ndim < 2 or math.prod(array.shape[1:]) != size:
        raise ConfigError(
            f"{path} has shape {array.shape}, but the model takes samples of shape {input_shape} "
            f"({size} values each)"
        )
    return array.reshape(len(array), *input_shape).astype(np.float32)


def _read_numeric_csv(path: Path) -> np.ndarray:
    for skip in (0, 1):  # a first row that is not numbers is a header
        try:
            return np.loadtxt(path, delimiter=",", ndmin=2, skiprows=skip, dtype=np.float64)
        except ValueError:
            continue
    raise ConfigError(f"{path} is not a CSV of numbers (one sample per row, an optional header row)")


def predict_run(loaded: LoadedRun, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(predictions, outputs)`` of a loaded run's model: class indices (values for regression)
    and the raw outputs (logits for a classifier)."""
    from chainrule.train.trainer import Trainer, class_predictions

    trainer = Trainer(loaded.model, None, optimizer=None, track_grad_norms=False)
    outputs = trainer.predict(inputs)
    if loaded.description["task"] == "classification":
        return class_predictions(outputs), outputs
    return (outputs[:, 0] if outputs.ndim == 2 and outputs.shape[1] == 1 else outputs), outputs
