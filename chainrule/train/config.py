"""A run's configuration: the settings ``chainrule train`` knows (:data:`SETTINGS`), their
validation, and reading and writing ``config.toml``.

A configuration is flat (dataset, model, epochs, ...) plus one table, ``model_args``; it comes
from defaults, a TOML file and command-line flags, in rising priority. Reading uses
``tomllib`` (``tomli`` on Python 3.10), writing ``tomli-w``; every complaint is a
:class:`~chainrule.errors.ConfigError` naming the file and the setting.

Example::

    >>> config = validate_config({"dataset": "iris", "epochs": 3})
    >>> config["optimizer"], config["epochs"]
    ('adam', 3)
"""

from __future__ import annotations

import difflib
import math
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainrule.errors import ConfigError
from chainrule.learning import LEARNING_RULES

CONFIG_FILE = "config.toml"


OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")


SCHEDULERS = ("none", "plateau", "cosine")


DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3}


IMAGE_SHAPES = {"digits": (8, 8), "mnist": (28, 28), "fashion_mnist": (28, 28)}


@dataclass(frozen=True)
class Setting:
    default: Any
    kind: type  # bool, int, float, str, list or dict (a one-level table)
    help: str
    choices: tuple[str, ...] = ()
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
        0,
        int,
        "gradient checkpointing: recompute activations in backward in this many segments "
        "of an nn.Sequential model, for less memory (about sqrt(layers) saves most; 0: off)",
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


def dumps_toml(mapping: Mapping[str, Any], header: str = "") -> str:
    """TOML text (written by ``tomli-w``) for a mapping of scalars, lists of scalars and one
    level of tables: the shape of a configuration. ``header`` becomes ``#`` comment lines.

    ``tomllib`` reads the result back to equal values (floats exactly, NaN and infinities
    included). Anything else (``None``, a nested table, an object) is a ``TypeError`` naming
    the key, raised before any text is made.

    Example::

        >>> print(dumps_toml({"lr": 0.001, "depth": 3, "model_args": {"act": "relu"}}))
        lr = 0.001
        depth = 3
        <BLANKLINE>
        [model_args]
        act = "relu"
    """
    import tomli_w

    for key, value in mapping.items():
        if isinstance(value, Mapping):
            for inner_key, inner_value in value.items():
                if isinstance(inner_value, Mapping):
                    raise TypeError(
                        f"dumps_toml: {key}.{inner_key} is a nested table; only one level is written"
                    )
                _check_toml_value(inner_value, f"{key}.{inner_key}")
        else:
            _check_toml_value(value, key)
    comments = "".join(f"# {line}\n" for line in header.splitlines())
    return comments + tomli_w.dumps(dict(mapping))


def _check_toml_value(value: Any, where: str) -> None:
    items = value if isinstance(value, list | tuple) else [value]
    for item in items:
        if not isinstance(item, bool | int | float | str):
            raise TypeError(f"dumps_toml: cannot write {where} = {value!r} ({type(value).__name__}) as TOML")


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file with ``tomllib`` (Python 3.11+) or ``tomli``; errors as ConfigError."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover (Python 3.10)
        try:
            import tomli as tomllib
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
    from chainrule.files import atomic_write_bytes

    header = (
        "chainrule run configuration, written by `chainrule train`.\n"
        "Train again with: chainrule train --config this-file"
    )
    atomic_write_bytes(run_dir / CONFIG_FILE, dumps_toml(config, header).encode())


# A relative path in a config file is relative to the file's folder (as in most tools), so a
# config and its data can move together and a run resumes from any working directory; a flag
# is relative to the working directory. A run records the absolute path and, for a .csv, the
# file's SHA-256, so training a config again never silently picks up a different file.
def resolve_config_paths(config: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """``config``, read from a file in ``folder``, with its relative paths (a ``.csv`` dataset,
    ``data_dir``, a model's ``file.py``) made absolute against ``folder``."""
    resolved = dict(config)
    for key in ("dataset", "data_dir"):
        value = resolved.get(key)
        if isinstance(value, str) and value and (key == "data_dir" or value.endswith(".csv")):
            resolved[key] = os.path.abspath(folder / Path(value).expanduser())
    model = resolved.get("model")
    if isinstance(model, str):
        resolved["model"] = absolute_model_spec(model, folder)
    return resolved


def absolute_model_spec(spec: str, folder: str | Path = ".") -> str:
    """``spec`` with the file of a ``path/to/file.py:ClassName`` model made absolute against
    ``folder``, so a run records which file it ran; built-in names and anything that is not a
    model file spec are returned unchanged (validation reports those).

    Example::

        >>> absolute_model_spec("nets/small.py:Net", "/projects/iris")
        '/projects/iris/nets/small.py:Net'
        >>> absolute_model_spec("mlp", "/projects/iris")
        'mlp'
    """
    path_text, separator, class_name = spec.rpartition(":")
    if not separator or not path_text.endswith(".py"):
        return spec
    return f"{os.path.abspath(Path(folder) / Path(path_text).expanduser())}:{class_name}"
