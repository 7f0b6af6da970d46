"""Run folders and their configuration: what ``chainrule train`` does, callable from Python.

A run is described by a flat configuration (:data:`SETTINGS`: dataset, model, epochs, ...),
given by defaults, a TOML file and command-line flags, in rising priority. Every run writes a
folder ``<out>/<name>/``::

    config.toml              the complete configuration (edit it and pass it back with --config)
    metrics.csv              one row per epoch (appended each epoch)
    checkpoint.safetensors   the whole training state after the last finished epoch (resumable)
    model.safetensors        the final weights, plus what is needed to rebuild the model and
                             the fitted preprocessing (scaling, categories, column order, classes)
    test.safetensors         the test split as the model sees it (evaluate needs no dataset)
    report.html              the self-contained report (data checks, curves, gradient flow,
                             attributions, ...)
    audit.json               fairness audits, once ``chainrule audit`` has run on the folder

Before training, the data is checked (:func:`check_data`): NaN or infinite inputs stop the run
unless ``allow_nan`` is set. While training, the trainer watches the gradient flow and
overfitting and says what it finds.

Example::

    >>> from chainrule.train.run import train_run
    >>> result = train_run({"dataset": "iris", "epochs": 30, "lr": 0.01, "name": "iris-a"}, verbose=0)
    >>> result.test_metrics["accuracy"] > 0.8, result.run_dir
    (True, PosixPath('runs/iris-a'))
"""

from __future__ import annotations

import contextlib
import datetime
import difflib
import functools
import hashlib
import json
import math
import os
import random
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from chainrule.errors import ConfigError, InputError
from chainrule.learning import LEARNING_RULES
from chainrule.train.callbacks import Callback

CONFIG_FILE = "config.toml"
CHECKPOINT_FILE = "checkpoint.safetensors"
MODEL_FILE = "model.safetensors"
METRICS_FILE = "metrics.csv"
REPORT_FILE = "report.html"
TEST_FILE = "test.safetensors"
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULERS = ("none", "plateau", "cosine")
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3}
IMAGE_SHAPES = {"digits": (8, 8), "mnist": (28, 28), "fashion_mnist": (28, 28)}


# ----------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Setting:
    default: Any
    kind: type  # bool, int, float, str, list or dict (a one-level table)
    help: str
    choices: tuple[str, ...] | None = None
    items: type = int  # what a list holds


SETTINGS: dict[str, Setting] = {
    "dataset": Setting(
        "digits",
        str,
        "a dataset name (digits, iris, wine, breast_cancer, diabetes, mnist, "
        "fashion_mnist, mnist1d) or a .csv file",
    ),
    "target": Setting("", str, "the column to predict, for a .csv dataset"),
    "drop_columns": Setting([], list, "columns of a .csv dataset to ignore (ids, free text)", items=str),
    "categorical": Setting(
        [], list, "columns of a .csv dataset to one-hot encode although they hold numbers", items=str
    ),
    "max_categories": Setting(100, int, "most distinct values a text column of a .csv may have"),
    "data_dir": Setting("", str, "folder of downloaded data (mnist, fashion_mnist); empty: their cache"),
    "dataset_sha256": Setting(
        "", str, "SHA-256 of a .csv dataset: recorded by train, checked when the config is trained again"
    ),
    "model": Setting("mlp", str, "mlp, cnn or path/to/file.py:ClassName"),
    "hidden": Setting([128], list, "hidden layer widths of the mlp"),
    "channels": Setting([16, 32], list, "channels of the cnn's convolutions"),
    "dropout": Setting(0.0, float, "dropout probability between layers (mlp, cnn)"),
    "checkpoint_segments": Setting(
        0, int, "gradient checkpointing: recompute activations in backward in this many segments "
        "of an nn.Sequential model, for less memory (about sqrt(layers) saves most; 0: off)"
    ),
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
    "tensorboard": Setting(
        "", str, "write TensorBoard logs to this folder ({run} stands for the run folder; empty: none)"
    ),
    "name": Setting("", str, "run folder name (default: dataset-model-time)"),
    "out": Setting("runs", str, "folder that holds run folders"),
    "model_args": Setting({}, dict, "keyword arguments for a model class given as file.py:ClassName"),
    "learning_rule": Setting(
        "bp",
        str,
        "how the network learns: bp (backprop), fa (feedback alignment), dfa (direct feedback "
        "alignment), sign (sign symmetry), ff (forward-forward)",
        LEARNING_RULES,
    ),
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
        list: f"a list of {'integers' if setting.items is int else 'strings'}",
        dict: "a table of keyword arguments",
    }
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is list and ok:
        ok = all(isinstance(item, setting.items) and not isinstance(item, bool) for item in value)
    if not ok:
        raise ConfigError(f"{source}{key!r} must be {names[kind]}, got {value!r}")
    if kind is float and not math.isfinite(value):
        raise ConfigError(f"{source}{key!r} must be a finite number, got {value!r}")
    if kind is dict:
        _check_model_args(value, source)
    if setting.choices and value not in setting.choices:
        raise ConfigError(f"{source}{key} = {value!r} is not one of {', '.join(setting.choices)}")
    return value


def _check_model_args(model_args: Mapping[str, Any], source: str) -> None:
    """[model_args] values are what config.toml can hold and give back: numbers, strings,
    booleans and lists of them (not dates, nor tables inside the table)."""
    for name, value in model_args.items():
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, bool | int | float | str) for item in items):
            raise ConfigError(
                f"{source}[model_args] {name} = {value!r} is a {type(value).__name__}; model arguments "
                "must be numbers, strings, true/false or lists of those"
            )


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
    require(0.0 <= config["momentum"] < 1.0, f"momentum must be in [0, 1), got {config['momentum']}")
    require(config["patience"] >= 0, f"patience must be >= 0, got {config['patience']}")
    require(
        config["checkpoint_segments"] >= 0,
        f"checkpoint_segments must be >= 0 (0: off), got {config['checkpoint_segments']}",
    )
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
    csv_only = [key for key in ("drop_columns", "categorical") if config[key]]
    if csv_only and not dataset.endswith(".csv"):
        raise ConfigError(f"{source}{csv_only[0]} is for a .csv dataset, not {dataset!r}")
    if config["max_categories"] < 1:
        raise ConfigError(f"{source}max_categories must be at least 1, got {config['max_categories']}")
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
    except RecursionError:
        raise ConfigError(f"{path} nests arrays or tables too deeply to be a config") from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {error.start}); TOML files are UTF-8, so save it as UTF-8"
        ) from None
    except OSError as error:
        raise ConfigError(f"cannot read config file {str(path)!r}: {error.strerror or error}") from None


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
LOCK_FILE = ".lock"
# What a run folder holds before its config.toml exists when a first write was interrupted:
# such a folder is an abandoned start, not someone else's files, so a new run may take it.
_LEFTOVERS = re.compile(r"\.lock|\..+\.tmp|model_code")
# Settings a resume may change: they do not change the model, the optimizer or the data split.
RESUME_MAY_CHANGE = frozenset(
    {"epochs", "name", "out", "data_dir", "allow_nan", "patience", "tensorboard", "checkpoint_segments"}
)


class RunFolderLock:
    """An exclusive ``fcntl`` lock on ``<run_dir>/.lock``, held while a process writes the run
    folder, so two processes never write one run (a second ``train --name`` or a concurrent
    ``--resume`` is refused). Released by :meth:`release` or when the process ends, however it
    ends. On systems without ``fcntl`` (Windows) it does nothing.

    Example::

        >>> Path("runs/iris-a").mkdir(parents=True)
        >>> lock = RunFolderLock(Path("runs/iris-a"))
        >>> lock.release()
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._file: Any = None
        try:
            import fcntl
        except ImportError:
            return
        self._file = open(run_dir / LOCK_FILE, "a+b")  # noqa: SIM115 (held open while locked)
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._file.close()
            self._file = None
            from chainrule.errors import RunFolderError

            raise RunFolderError(
                f"run folder {run_dir} is being written by another chainrule process; wait for it "
                "to finish (then --resume it), or choose another --name"
            ) from None

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor drops the lock
            self._file = None


def new_run_dir(config: Mapping[str, Any]) -> tuple[Path, RunFolderLock]:
    """``<out>/<name>``, made now and locked; a default name is ``<dataset>-<model>-<time>``,
    numbered if taken. A given name that already holds a run is an error (resume it instead),
    as is one that is a symbolic link or a folder of other files (they would be overwritten)."""
    from chainrule.errors import RunFolderError

    out = Path(config["out"])
    if config["name"]:
        run_dir = out / config["name"]
        if run_dir.is_symlink():
            raise RunFolderError(
                f"run folder {run_dir} is a symbolic link; chainrule writes only to real folders, "
                "so choose another --name"
            )
        run_dir.mkdir(parents=True, exist_ok=True)
        lock = RunFolderLock(run_dir)
        try:
            if (run_dir / CONFIG_FILE).exists():
                raise RunFolderError(
                    f"run folder {run_dir} already holds a run; continue it with --resume {run_dir} "
                    "or choose another --name"
                )
            others = sorted(entry.name for entry in run_dir.iterdir() if not _LEFTOVERS.fullmatch(entry.name))
            if others:
                raise RunFolderError(
                    f"{run_dir} exists and is not a chainrule run folder (it holds {', '.join(others[:3])}"
                    f"{', ...' if len(others) > 3 else ''}); choose another --name or --out"
                )
        except BaseException:
            lock.release()
            raise
    else:
        stem = (
            f"{Path(config['dataset']).stem}-{Path(config['model'].split(':')[-1]).stem}-"
            f"{datetime.datetime.now():%Y%m%d-%H%M%S}"
        )
        out.mkdir(parents=True, exist_ok=True)
        run_dir, number = out / stem, 1
        while True:
            try:
                run_dir.mkdir()  # not exist_ok: two processes starting together get two folders
                break
            except FileExistsError:
                number += 1
                run_dir = out / f"{stem}-{number}"
        lock = RunFolderLock(run_dir)
    remove_stale_temporaries(run_dir)
    return run_dir, lock


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete the temporary files a process killed mid-write left (``.<file>.<random>.tmp``
    beside ``<file>``, from :func:`~chainrule.train.checkpoint.atomic_write_bytes`); the file
    they were to replace is intact. Call only while holding the folder's lock. Returns them."""
    stale = [*run_dir.glob(".*.tmp"), *run_dir.glob("model_code/.*.tmp")]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def open_run_to_resume(run_dir: Path) -> tuple[dict[str, Any], RunFolderLock]:
    """Lock a run folder for ``--resume`` and read its config.toml (unvalidated)."""
    from chainrule.errors import RunFolderError

    if not run_dir.is_dir():
        raise RunFolderError(f"cannot resume {run_dir}: no such folder")
    lock = RunFolderLock(run_dir)
    try:
        if not (run_dir / CONFIG_FILE).is_file():
            interrupted = all(_LEFTOVERS.fullmatch(entry.name) for entry in run_dir.iterdir())
            raise RunFolderError(
                f"cannot resume {run_dir}: the run was stopped before it wrote its {CONFIG_FILE}, "
                "so nothing was trained; start it again with the same --name"
                if interrupted
                else f"cannot resume {run_dir}: it has no {CONFIG_FILE} (is it a run folder?)"
            )
        remove_stale_temporaries(run_dir)
        return read_toml(run_dir / CONFIG_FILE), lock
    except BaseException:
        lock.release()
        raise


def check_resume_config(config: Mapping[str, Any], checkpoint: Path) -> None:
    """Refuse to resume when config.toml now differs from the config the checkpoint was
    trained with in a setting that changes the model, the optimizer or the data split."""
    from chainrule.train.checkpoint import read_checkpoint_config

    saved = read_checkpoint_config(checkpoint)
    if saved is None:
        return
    saved = resolve_config_paths(saved, checkpoint.parent)
    # A .csv dataset whose SHA-256 was recorded may move: its content is what must not change.
    may_change = RESUME_MAY_CHANGE | ({"dataset"} if saved.get("dataset_sha256") else set())
    differing = sorted(
        key
        for key in SETTINGS
        if key not in may_change
        and key in saved
        and _normalised(saved[key]) != _normalised(config[key])
    )
    if differing:
        changes = "; ".join(f"{key} {saved[key]!r} -> {config[key]!r}" for key in differing)
        raise ConfigError(
            f"{checkpoint.parent / CONFIG_FILE} differs from the config {checkpoint} was trained with "
            f"({changes}); resuming would not continue the same run: undo the change, or train a "
            "new run with chainrule train --config"
        )


def _normalised(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# --------------------------------------------------------------------------- data paths
# A relative path in a config file is relative to the file's folder (as in most tools), so a
# config and its data can move together and a run resumes from any working directory; a flag
# is relative to the working directory. A run records the absolute path and, for a .csv, the
# file's SHA-256, so training a config again never silently picks up a different file.
def resolve_config_paths(config: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """``config``, read from a file in ``folder``, with its relative data paths (a ``.csv``
    dataset, ``data_dir``) made absolute against ``folder``."""
    resolved = dict(config)
    for key in ("dataset", "data_dir"):
        value = resolved.get(key)
        if isinstance(value, str) and value and (key == "data_dir" or value.endswith(".csv")):
            resolved[key] = os.path.abspath(folder / Path(value).expanduser())
    return resolved


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
        other = " (a run resumes only on the data it was trained on)" if resuming else (
            f", or delete dataset_sha256 from {source or 'the config'} to train on the file as it is now")
        raise ConfigError(
            f"{where}dataset file {path!r} is not the file this config was trained on (its SHA-256 is "
            f"now {digest[:12]}..., dataset_sha256 records {recorded[:12]}...); restore that file{other}"
        )
    config["dataset"], config["dataset_sha256"] = path, digest


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
    from chainrule.datasets._encoding import MissingValueError

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
    model_spec: str | None = None,
) -> Any:
    """The model the config names (or ``model_spec``, e.g. a run folder's verified copy of the
    model's file); a regression model ends in a fixed ``Rescale`` layer so it learns
    standardised targets but outputs the data's own units."""
    from chainrule import nn
    from chainrule.models import Rescale, build_model

    try:
        model = build_model(
            model_spec or config["model"],
            input_shape,
            num_outputs,
            hidden=config["hidden"],
            channels=config["channels"],
            dropout=config["dropout"],
            model_args=config["model_args"],
        )
    except InputError:
        raise
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
    gradient-flow findings of the last epoch and the data check's report. After a divergence,
    ``divergence`` says where (a :class:`~chainrule.train.callbacks.Divergence`), ``kept_epoch``
    is the epoch whose weights were saved and scored (``None``: no model saved, no test metrics)."""

    run_dir: Path
    test_metrics: dict[str, float]
    history: Any
    config: dict[str, Any] = field(default_factory=dict)
    gradient_findings: list[Any] | None = None
    data_report: Any = None
    divergence: Any = None
    kept_epoch: int | None = None


def train_run(
    config: Mapping[str, Any],
    *,
    resume: str | Path | None = None,
    verbose: int = 1,
    batch_delay: float = 0.0,
    stream: TextIO | None = None,
    trust_model_code: bool = False,
) -> RunResult:
    """Train as ``chainrule train`` does and write the run folder.

    The folder is locked (:class:`RunFolderLock`) while this runs, so no other process writes
    it meanwhile.

    Args:
        config: settings (see :data:`SETTINGS`); missing ones take their defaults. Ignored
            with ``resume``, which reads the run folder's own config.toml.
        resume: a run folder to continue from its last checkpoint, bit for bit as if it had
            never stopped. Refused if config.toml was edited in a way that changes the model,
            optimizer or data split (see :func:`check_resume_config`).
        verbose: 0 silent, 1 progress bar, 2 a line per epoch.
        batch_delay: seconds to sleep after each batch (for tests of interruption).
        stream: where to print the run's messages (default stdout).
        trust_model_code: let ``resume`` run the model file a run folder names (see
            :func:`chainrule.models.run_model_spec`).
    """
    from chainrule.train.distributed import let_process_zero_speak_first

    with contextlib.ExitStack() as held:
        try:
            return _train_run(config, resume, verbose, batch_delay, stream, trust_model_code, held)
        except Exception:
            let_process_zero_speak_first()
            raise


def _train_run(
    config: Mapping[str, Any],
    resume: str | Path | None,
    verbose: int,
    batch_delay: float,
    stream: TextIO | None,
    trust_model_code: bool,
    held: contextlib.ExitStack,
) -> RunResult:
    from chainrule.learning import apply_rule
    from chainrule.models import is_model_file, run_model_spec, save_model_code
    from chainrule.train.callbacks import CSVLogger, EarlyStopping, ModelCheckpoint, TerminateOnDivergence
    from chainrule.train.distributed import (
        DataParallel,
        DataParallelTrainer,
        check_resume_processes,
        launched_world_size,
    )
    from chainrule.train.trainer import Trainer

    out = stream if stream is not None else sys.stdout
    model_spec = None
    # Under `mpiexec -n N` (N > 1): data-parallel, and process 0 alone writes and prints.
    parallel = DataParallel() if launched_world_size() > 1 else None
    writes = parallel is None or parallel.writes
    verbose = verbose if writes else 0
    if resume is not None:
        run_dir = Path(resume)
        saved_config = None
        if writes:
            saved_config, lock = open_run_to_resume(run_dir)
            held.callback(lock.release)
        if parallel is not None:
            saved_config = parallel.share(saved_config)
        saved_config = resolve_config_paths(saved_config, run_dir)
        config = validate_config({**saved_config, **config}, source=str(run_dir / CONFIG_FILE))
        model_spec = run_model_spec(config["model"], run_dir, trust_model_code)
        if (run_dir / CHECKPOINT_FILE).is_file():
            check_resume_config(config, run_dir / CHECKPOINT_FILE)
            check_resume_processes(run_dir / CHECKPOINT_FILE, 1 if parallel is None else parallel.world_size)
        pin_dataset(config, str(run_dir / CONFIG_FILE), resuming=True)
    else:
        config = validate_config(config)
        pin_dataset(config)
    data = prepare_data(config)
    data_report = check_data(data, allow_nan=config["allow_nan"])
    if verbose:
        print(data_report, file=out, flush=True)
    if config["learning_rule"] == "ff" and data.task != "classification":
        raise ConfigError(
            f"learning rule 'ff' classifies (it writes the label into the input), but {config['dataset']} "
            "is a regression task; choose bp, fa, dfa or sign"
        )
    seed_everything(config["seed"])
    model = build_model_for(
        config,
        data.input_shape,
        data.num_outputs,
        data.task,
        data.target_mean,
        data.target_variance,
        model_spec=model_spec,
    )
    optimizer = build_optimizer(config, model)
    if parallel is not None:
        parallel.check_batches(len(data.x_train), config["batch_size"])
    trainer = (Trainer if parallel is None else functools.partial(DataParallelTrainer, parallel))(
        model,
        loss_for(data.task, data.target_variance),
        optimizer,
        metrics=TRAIN_METRICS[data.task],
        scheduler=build_scheduler(config, optimizer),
        config=config,
        learning_rule=apply_rule(model, config["learning_rule"], seed=config["seed"]),
        checkpoint_segments=config["checkpoint_segments"],
    )
    if resume is None and writes:
        run_dir, lock = new_run_dir(config)
        held.callback(lock.release)
        if is_model_file(config["model"]):
            save_model_code(config["model"], run_dir)
    if resume is None and parallel is not None:
        run_dir = Path(parallel.share(str(run_dir) if writes else None))
    if writes:
        write_config(run_dir, config)

    callbacks: list[Any] = [TerminateOnDivergence(log=False)]  # the CLI names a divergence as its error
    if writes:
        callbacks += [CSVLogger(run_dir / METRICS_FILE), ModelCheckpoint(run_dir, CHECKPOINT_FILE)]
    if config["patience"]:
        callbacks.append(EarlyStopping("val_loss", patience=config["patience"], restore_best_weights=True))
    if batch_delay > 0:
        callbacks.append(BatchDelay(batch_delay))
    if config["tensorboard"] and writes:
        from chainrule.train.callbacks import TensorBoardLogger

        callbacks.append(TensorBoardLogger(config["tensorboard"].replace("{run}", str(run_dir))))
    checkpoint = run_dir / CHECKPOINT_FILE
    resume_from = checkpoint if resume is not None and checkpoint.is_file() else None
    if resume is not None and resume_from is None and verbose:
        print(f"{run_dir} has no checkpoint yet; training from the start", file=out)

    train_loader = make_train_loader(config, data)
    if parallel is not None:
        train_loader = trainer.shard(train_loader)  # the global batch, split across processes
    val_loader = None if data.x_val is None else make_loader(data.x_val, data.y_val, 256)
    if verbose:
        print(
            f"Training {config['model']} on {config['dataset']}: {len(data.x_train)} training, "
            f"{0 if data.x_val is None else len(data.x_val)} validation, {len(data.x_test)} test samples "
            f"-> {run_dir}",
            file=out,
            flush=True,
        )
    # NumPy's overflow and invalid-value warnings would point into chainrule's ops; what they
    # lead to (a NaN or exploding loss) is named by TerminateOnDivergence instead.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        history = trainer.fit(
            train_loader,
            val_loader,
            epochs=config["epochs"],
            callbacks=callbacks,
            verbose=verbose,
            resume_from=resume_from,
        )
        kept_epoch = None if trainer.divergence is None else _restore_last_good_epoch(trainer, checkpoint)
        test_metrics: dict[str, float] = {}
        if trainer.divergence is None or kept_epoch is not None:
            if writes:
                save_model_file(run_dir, model, config, data)
            test_metrics = evaluate_model(trainer, data)
        note = _model_note(trainer, kept_epoch)
        if writes:
            write_run_report(run_dir, trainer, config, data, test_metrics, data_report, model_note=note)
    return RunResult(
        run_dir=run_dir,
        test_metrics=test_metrics,
        history=history,
        config=config,
        gradient_findings=_gradient_findings(trainer),
        data_report=data_report,
        divergence=trainer.divergence,
        kept_epoch=kept_epoch,
    )


def _restore_last_good_epoch(trainer: Any, checkpoint: Path) -> int | None:
    """After a divergence, load the model weights of ``checkpoint`` (``ModelCheckpoint`` keeps
    the last epoch before it) and return that epoch; ``None`` if it diverged before any."""
    from chainrule.train.checkpoint import load_state

    if not checkpoint.is_file():
        return None
    state = load_state(checkpoint)
    trainer.model.load_state_dict(state["model"])
    return int(state["epoch"])


def _model_note(trainer: Any, kept_epoch: int | None) -> str | None:
    """What model.safetensors holds when it is not simply the weights training ended with."""
    if trainer.divergence is None:
        return None
    if kept_epoch is None:
        return (
            f"No model was saved: training diverged in epoch {trainer.divergence.epoch}, before any "
            "epoch ended with weights worth keeping."
        )
    return (
        f"{MODEL_FILE} holds the weights after epoch {kept_epoch}, the last before training "
        "diverged; the test scores are theirs."
    )


def _gradient_findings(trainer: Any) -> list[Any] | None:
    from chainrule.train.callbacks import GradientFlowCallback

    for callback in trainer.callbacks:
        if isinstance(callback, GradientFlowCallback) and callback.diagnosed:
            return list(callback.findings)
    return None


def evaluate_model(trainer: Any, data: PreparedData) -> dict[str, float]:
    """Loss and the task's metrics on the test split (leaves the confusion matrix in trainer)."""
    return evaluate_arrays(trainer, data.x_test, data.y_test, data.task)


def evaluate_arrays(trainer: Any, x: np.ndarray, y: np.ndarray, task: str) -> dict[str, float]:
    """Loss and the task's test metrics on ``(x, y)`` (leaves the confusion matrix in trainer)."""
    from chainrule.train.trainer import _resolve_metrics

    saved_metrics = trainer.metrics
    trainer.metrics = _resolve_metrics(TEST_METRICS[task], trainer.loss_fn)
    try:
        return trainer.evaluate(make_loader(x, y, 256))
    finally:
        trainer.metrics = saved_metrics


def save_model_file(run_dir: Path, model: Any, config: Mapping[str, Any], data: PreparedData) -> None:
    """model.safetensors (weights plus what rebuilds the model and encodes raw rows for it)
    and test.safetensors (the test split, so the folder evaluates without the dataset)."""
    from chainrule.datasets._encoding import FeatureEncoder
    from chainrule.train.checkpoint import save_model

    description = {
        "model": config["model"],
        "input_shape": list(data.input_shape),
        "num_outputs": data.num_outputs,
        "task": data.task,
        "class_names": data.class_names,
        "target_variance": data.target_variance,
        "target": data.target,
        "preprocessing": FeatureEncoder.from_spec(data.preprocessing).to_spec(),
    }
    save_model(run_dir / MODEL_FILE, model, metadata={"chainrule": json.dumps(description)})
    save_test_split(run_dir, data.x_test, data.y_test, FeatureEncoder.from_spec(data.preprocessing))


def save_test_split(run_dir: Path, x_test: np.ndarray, y_test: np.ndarray, encoder: Any = None) -> None:
    """The test split as the model sees it, in ``test.safetensors`` (``x``, ``y``); images whose
    pixels were bytes are stored as those bytes (``x_raw``, a quarter of the size) when
    encoding them again gives exactly ``x_test``.

    Why a copy and not a path plus a content hash: a run folder is shared and moved, and a
    path (often relative, to a file that may change or be deleted) breaks on any other machine
    or folder; the test split is small next to the training data (iris 30 rows, MNIST's 10,000
    images 31 MB), and with it ``evaluate`` reproduces training's test metrics exactly.
    """
    from safetensors.numpy import save

    from chainrule.train.checkpoint import atomic_write_bytes

    tensors = {"x": np.ascontiguousarray(x_test), "y": np.ascontiguousarray(y_test)}
    if encoder is not None and encoder.columns is None and encoder.scale != 1.0:
        raw = np.rint(x_test.astype(np.float64) * encoder.scale)
        if raw.min(initial=0) >= 0 and raw.max(initial=0) <= 255:
            raw = raw.astype(np.uint8)
            if np.array_equal(encoder.encode_array(raw, x_test.shape[1:]), x_test):
                tensors = {"x_raw": np.ascontiguousarray(raw), "y": tensors["y"]}
    atomic_write_bytes(run_dir / TEST_FILE, save(tensors, metadata={"chainrule": "test split"}))


def check_model_description(
    text: str, tensors: Mapping[str, np.ndarray], config: Mapping[str, Any], source: Path
) -> dict[str, Any]:
    """The model description in model.safetensors' metadata, checked before anything is built
    from it: field types, and for the built-in models the input and output sizes against the
    weights actually in the file (so a description claiming 10^11 inputs allocates nothing)."""
    from chainrule.errors import CheckpointFileError

    def refuse(problem: str) -> CheckpointFileError:
        return CheckpointFileError(f"{source}: {problem}; the file was damaged or edited, so train again")

    try:
        description = json.loads(text)
    except (ValueError, RecursionError):
        raise refuse("its model description is not JSON") from None
    if not isinstance(description, dict):
        raise refuse("its model description is not a JSON object")
    shape, outputs = description.get("input_shape"), description.get("num_outputs")
    if not (isinstance(shape, list) and shape and all(_positive_int(size) for size in shape)):
        raise refuse(f"input_shape {shape!r} is not a list of positive integers")
    if not _positive_int(outputs):
        raise refuse(f"num_outputs {outputs!r} is not a positive integer")
    if description.get("task") not in TEST_METRICS:
        raise refuse(f"task {description.get('task')!r} is not one of {', '.join(TEST_METRICS)}")
    variance = description.get("target_variance", 1.0)
    if not (isinstance(variance, int | float) and math.isfinite(variance) and variance >= 0):
        raise refuse(f"target_variance {variance!r} is not a non-negative number")
    description["target_variance"] = variance  # the default, for every reader after this check
    names = description.get("class_names")
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise refuse("class_names is not a list of strings")
    if config["model"] in ("mlp", "cnn"):
        first, last = _first_and_last_weights(tensors)
        if first is None or last is None:
            raise refuse("it holds no layer weights")
        if config["model"] == "mlp":
            inputs, last_inputs = math.prod(shape), last.shape[1]
        else:
            inputs, last_inputs = (
                (shape[0] if len(shape) == 3 else 1),
                _cnn_features(shape, config["channels"]),
            )
        if first.shape[1:2] != (inputs,) or last.shape != (outputs, last_inputs):
            raise refuse(
                f"its description (input_shape {shape}, num_outputs {outputs}) does not match its "
                f"weights (first layer {first.shape}, last layer {last.shape})"
            )
    return description


def _cnn_features(input_shape: list[int], channels: list[int]) -> int:
    """The width of the cnn's final Linear for this input shape (as models.cnn builds it)."""
    spatial = list(input_shape[1:]) if len(input_shape) == 3 else list(input_shape[:1])
    for _ in channels:
        if min(spatial) >= 2:
            spatial = [size // 2 for size in spatial]
    return channels[-1] * math.prod(spatial)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 2**40


def _first_and_last_weights(tensors: Mapping[str, np.ndarray]) -> tuple[Any, Any]:
    """The first and last layer weights of a built-in model (named fc1/conv1 ... fc<n>/fc)."""
    weights = [
        (name, array) for name, array in tensors.items() if name.endswith(".weight") and array.ndim >= 2
    ]

    def layer_order(item: tuple[str, Any]) -> tuple[int, int]:
        layer = item[0].split(".")[0]
        digits = "".join(ch for ch in layer if ch.isdigit())
        return (1 if layer.startswith("fc") else 0, int(digits) if digits else 10**6)

    weights.sort(key=layer_order)
    if not weights:
        return None, None
    return weights[0][1], weights[-1][1]


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
    model_note: str | None = None,
) -> None:
    """report.html of a finished run: the trainer's record plus test metrics, misclassified
    images (or, for regression, predicted against actual values), the data check's findings
    and the attributions. Without ``test_metrics`` (a run that diverged before any good epoch)
    nothing is drawn from the model's outputs: they would be the diverged model's."""
    from chainrule.train.report import RunRecord, write_report
    from chainrule.train.trainer import class_predictions

    scored = bool(test_metrics) and trainer.last_outputs is not None  # last_outputs are the test split's
    classification = data.task == "classification"
    examples = []
    if scored and classification and data.image_shape is not None:
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
    predictions = None
    if scored and not classification:
        predictions = {"actual": trainer.last_targets, "predicted": trainer.last_outputs, "split": "test"}
    run = RunRecord.from_trainer(
        trainer,
        title=f"chainrule run · {run_dir.name}",
        dataset=config["dataset"],
        model_name=config["model"],
        task=data.task,
        test_metrics=test_metrics,
        class_names=data.class_names,
        examples=examples,
        confusion_matrix=trainer.confusion_matrix if scored and classification else None,
        predictions=predictions,
        data_report=data_report,
        attributions=attribution_summary(trainer.model, data) if scored else None,
        model_note=model_note,
    )
    write_report(run_dir / REPORT_FILE, run)


# ------------------------------------------------------------------- evaluate and predict
@dataclass
class LoadedRun:
    config: dict[str, Any]
    model: Any
    description: dict[str, Any]
    encoder: Any = None  # chainrule.datasets._encoding.FeatureEncoder: raw rows to features
    run_dir: Path = field(default_factory=Path)


def load_run(run_dir: str | Path, trust_model_code: bool = False) -> LoadedRun:
    """Rebuild a finished run's model from its folder (config.toml + model.safetensors), with
    the preprocessing training fitted.

    A run whose model is a user's Python file is refused unless ``trust_model_code`` (loading
    it runs that code); see :func:`chainrule.models.run_model_spec`."""
    from chainrule.models import run_model_spec
    from chainrule.train.checkpoint import load_model, read_safetensors

    run_dir = Path(run_dir)
    for needed in (CONFIG_FILE, MODEL_FILE):
        if not (run_dir / needed).is_file():
            raise ConfigError(
                f"{run_dir} has no {needed}; is it a finished run folder (see {run_dir.parent})?"
            )
    config = validate_config(read_toml(run_dir / CONFIG_FILE), source=str(run_dir / CONFIG_FILE))
    tensors, metadata = read_safetensors(run_dir / MODEL_FILE)
    if "chainrule" not in metadata:
        raise ConfigError(f"{run_dir / MODEL_FILE} was not written by chainrule train (no model description)")
    description = check_model_description(metadata["chainrule"], tensors, config, run_dir / MODEL_FILE)
    encoder = _stored_encoder(run_dir, description, config)
    model_spec = run_model_spec(config["model"], run_dir, trust_model_code)
    model = build_model_for(
        config,
        tuple(description["input_shape"]),
        description["num_outputs"],
        description["task"],
        0.0,
        description["target_variance"],
        model_spec=model_spec,
    )
    load_model(run_dir / MODEL_FILE, model)
    model.eval()
    return LoadedRun(config=config, model=model, description=description, encoder=encoder, run_dir=run_dir)


def _stored_encoder(run_dir: Path, description: dict[str, Any], config: Mapping[str, Any]) -> Any:
    """The FeatureEncoder of model.safetensors' description, checked against the model's input
    width. A run saved before the preprocessing was stored refits it from the dataset."""
    from chainrule.datasets._encoding import FeatureEncoder

    source = str(run_dir / MODEL_FILE)
    shape = description.get("input_shape")
    if not (isinstance(shape, list) and shape and all(type(size) is int and size > 0 for size in shape)):
        raise ConfigError(f"{source}: the model description's input_shape {str(shape)[:60]} is not sizes")
    if not isinstance(description.get("target", ""), str):
        raise ConfigError(f"{source}: the model description's target is not a column name")
    if "preprocessing" in description:
        spec = description["preprocessing"]
    else:  # an older run folder: the same seeded split gives the same statistics
        spec = load_splits(config).preprocessing
    try:
        encoder = FeatureEncoder.from_spec(spec, source)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    width = math.prod(description["input_shape"])
    names = encoder.feature_names
    if names is not None and len(names) != width:
        raise ConfigError(
            f"{source}: the stored preprocessing makes {len(names)} features but the model takes "
            f"{width}; the file was altered"
        )
    return encoder


def load_test_split(loaded: LoadedRun) -> tuple[np.ndarray, np.ndarray]:
    """The run's test split ``(x, y)`` from test.safetensors, checked against the model; a run
    folder from before test splits were stored reloads its dataset instead."""
    from chainrule.train.checkpoint import read_safetensors

    path = loaded.run_dir / TEST_FILE
    if not path.is_file():
        data = prepare_data(loaded.config)
        check_data_fits(loaded, data, loaded.run_dir)
        return data.x_test, data.y_test
    try:
        tensors, _ = read_safetensors(path)
    except Exception as error:  # safetensors raises its own types for a damaged file
        raise ConfigError(f"{path} cannot be read ({error}); the run folder is damaged") from None
    description = loaded.description
    input_shape = tuple(description["input_shape"])
    x, y, raw = tensors.get("x"), tensors.get("y"), tensors.get("x_raw")
    problem = None
    if y is None or (x is None) == (raw is None) or not set(tensors) <= {"x", "x_raw", "y"}:
        problem = "it must hold the tensors 'y' and either 'x' or 'x_raw' (bytes)"
    elif raw is not None:
        try:
            if raw.dtype != np.uint8:
                raise ValueError(f"x_raw holds {raw.dtype}, not bytes")
            x = loaded.encoder.encode_array(raw, input_shape)
        except ValueError as error:
            problem = str(error)
    if problem is None:
        problem = _split_mismatch(x, y, description)
    if problem is not None:
        raise ConfigError(f"{path} does not fit the model: {problem}")
    return x, y


def _split_mismatch(x: np.ndarray, y: np.ndarray, description: Mapping[str, Any]) -> str | None:
    """What is wrong with a stored test split for the described model, or None."""
    input_shape, outputs = tuple(description["input_shape"]), description["num_outputs"]
    if x.dtype != np.float32 or x.shape[1:] != input_shape or len(x) != len(y) or len(x) == 0:
        return f"x has shape {x.shape} ({x.dtype}); the model takes float32 samples of shape {input_shape}"
    if description["task"] == "classification":
        if y.dtype != np.int64 or y.ndim != 1 or y.min() < 0 or y.max() >= outputs:
            return f"y must hold class indices 0..{outputs - 1}"
    elif y.dtype != np.float32 or y.shape != (len(x), outputs):
        return f"y must be float32 of shape ({len(x)}, {outputs})"
    return None


def evaluate_run(
    run_dir: str | Path, trust_model_code: bool = False
) -> tuple[dict[str, float], np.ndarray | None, LoadedRun]:
    """Test metrics of a finished run, recomputed from its saved model and test split; and the
    confusion matrix for a classifier."""
    from chainrule.train.trainer import Trainer

    loaded = load_run(run_dir, trust_model_code)
    x_test, y_test = load_test_split(loaded)
    task = loaded.description["task"]
    trainer = Trainer(
        loaded.model,
        loss_for(task, loaded.description["target_variance"]),
        optimizer=None,
        track_grad_norms=False,
    )
    metrics = evaluate_arrays(trainer, x_test, y_test, task)
    return metrics, trainer.confusion_matrix, loaded


def check_data_fits(loaded: LoadedRun, data: PreparedData, run_dir: Path) -> None:
    """Refuse data that is not the kind the saved model was trained on (a config.toml edited
    after training to name another dataset), naming both shapes."""
    trained = (tuple(loaded.description["input_shape"]), loaded.description["num_outputs"])
    if (data.input_shape, data.num_outputs) != trained:
        raise ConfigError(
            f"{run_dir / CONFIG_FILE} names the dataset {loaded.config['dataset']!r}, whose samples "
            f"have shape {data.input_shape} and {data.num_outputs} output(s), but the model was "
            f"trained on shape {trained[0]} with {trained[1]}; restore the config it was trained with"
        )


def read_inputs(path: str | Path, loaded: LoadedRun) -> np.ndarray:
    """New samples for a run's model, in the dataset's raw form, encoded as training did.

    * a ``.csv`` with a header row: for a table, the training columns by name (others are
      ignored; missing ones are named in the error); for images or signals, the values of each
      row in order.
    * a ``.csv`` of numbers without a header, or a ``.npy`` (never unpickled): raw values, one
      sample per row (a table's columns in training order).

    Returns float32 features of shape ``(N, *input_shape)``.
    """
    from chainrule.datasets._csvfile import read_table
    from chainrule.datasets._npyfile import read_npy

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"input file {str(path)!r} does not exist")
    input_shape = tuple(loaded.description["input_shape"])
    encoder = loaded.encoder
    try:
        if path.suffix == ".npy":
            return encoder.encode_array(read_npy(path), input_shape)
        if path.suffix != ".csv":
            raise ValueError("inputs must be a .npy or .csv file")
        if encoder.column_names is not None and _has_header(path, encoder.column_names):
            columns = {column.name: column for column in read_table(path)}
            return encoder.encode_columns(columns).reshape(-1, *input_shape)
        return encoder.encode_array(_read_numeric_csv(path), input_shape)
    except ValueError as error:
        raise ConfigError(f"{path}: {error}") from None


def _has_header(path: Path, column_names: list[str]) -> bool:
    """Whether a CSV's first row names columns: it holds text, or the training columns' names
    (which may look like numbers, e.g. years)."""
    from chainrule.datasets._csvfile import is_header, read_rows

    first = next(read_rows(path), None)
    return first is not None and (is_header(first[1]) or set(column_names) <= set(first[1]))


def _read_numeric_csv(path: Path) -> np.ndarray:
    """Rows of numbers (a first row that is not numbers is a header and skipped); an empty or
    missing cell is NaN, which the encoder fills or refuses."""
    from chainrule.datasets._csvfile import is_header, is_missing, is_number, read_rows

    rows: list[list[float]] = []
    for line, cells in read_rows(path):
        if not rows and line == 1 and is_header(cells):
            continue
        if rows and len(cells) != len(rows[0]):
            raise ValueError(f"line {line} has {len(cells)} values but the first row has {len(rows[0])}")
        for column, cell in enumerate(cells, start=1):
            if not (is_number(cell) or is_missing(cell)):
                raise ValueError(f"line {line}, column {column}: {cell[:40]!r} is not a number")
        rows.append([float("nan") if is_missing(cell) else float(cell) for cell in cells])
    if not rows:
        raise ValueError("it holds no rows of numbers")
    return np.array(rows, dtype=np.float64)


def predict_run(loaded: LoadedRun, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(predictions, outputs)`` of a loaded run's model for encoded ``inputs`` (see
    :func:`read_inputs`): class indices (values for regression) and the raw outputs (logits
    for a classifier)."""
    from chainrule.train.trainer import Trainer, class_predictions

    trainer = Trainer(loaded.model, None, optimizer=None, track_grad_norms=False)
    outputs = trainer.predict(inputs)
    if loaded.description["task"] == "classification":
        return class_predictions(outputs), outputs
    return (outputs[:, 0] if outputs.ndim == 2 and outputs.shape[1] == 1 else outputs), outputs
