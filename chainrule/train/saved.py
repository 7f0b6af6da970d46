"""Saved runs: what a run folder keeps of its model and test split, and loading a folder back
to evaluate it or predict with it (``chainrule evaluate``, ``chainrule predict``)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ConfigError
from chainrule.train.config import CONFIG_FILE, read_toml, validate_config
from chainrule.train.data_prep import PreparedData, load_splits, prepare_data
from chainrule.train.evaluation import TEST_METRICS, evaluate_arrays
from chainrule.train.factories import build_model_for, loss_for
from chainrule.train.run_folder import MODEL_FILE, TEST_FILE


def save_model_file(run_dir: Path, model: Any, config: Mapping[str, Any], data: PreparedData) -> None:
    """model.safetensors (weights plus what rebuilds the model and encodes raw rows for it)
    and test.safetensors (the test split, so the folder evaluates without the dataset)."""
    from chainrule.datasets.encoding import FeatureEncoder
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

    from chainrule.files import atomic_write_bytes

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


@dataclass
class LoadedRun:
    config: dict[str, Any]
    model: Any
    description: dict[str, Any]
    encoder: Any = None  # chainrule.datasets.encoding.FeatureEncoder: raw rows to features
    run_dir: Path = field(default_factory=Path)


def load_run(run_dir: str | Path, trust_model_code: bool = False) -> LoadedRun:
    """Rebuild a finished run's model from its folder (config.toml + model.safetensors), with
    the preprocessing training fitted.

    A run whose model is a user's Python file is refused unless ``trust_model_code`` (loading
    it runs that code); see :func:`chainrule.train.models.run_model_spec`."""
    from chainrule.train.checkpoint import load_model, read_safetensors
    from chainrule.train.models import run_model_spec

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
    from chainrule.datasets.encoding import FeatureEncoder

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
    if problem is None and x is not None and y is not None:
        problem = _split_mismatch(x, y, description)
    if problem is not None or x is None or y is None:
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
    from chainrule.datasets.csvfile import read_table
    from chainrule.datasets.npyfile import read_npy

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
    from chainrule.datasets.csvfile import is_header, read_rows

    first = next(read_rows(path), None)
    return first is not None and (is_header(first[1]) or set(column_names) <= set(first[1]))


def _read_numeric_csv(path: Path) -> np.ndarray:
    """Rows of numbers (a first row that is not numbers is a header and skipped); an empty or
    missing cell is NaN, which the encoder fills or refuses."""
    from chainrule.datasets.csvfile import is_header, is_missing, is_number, read_rows

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

    task = loaded.description["task"]
    loss = loss_for(task, loaded.description["target_variance"])  # unused by predict
    trainer = Trainer(loaded.model, loss, optimizer=None, track_grad_norms=False)
    outputs = trainer.predict(inputs)
    if loaded.description["task"] == "classification":
        return class_predictions(outputs), outputs
    return (outputs[:, 0] if outputs.ndim == 2 and outputs.shape[1] == 1 else outputs), outputs
