"""Checkpoints in safetensors, written atomically, that can never run code when loaded.

A checkpoint is any nested training state (the model's ``state_dict()``, the optimizer's, the
scheduler's, random-number states, the history so far, the epoch, the config) stored in one
``.safetensors`` file:

* every array (a chainrule ``Tensor`` or a NumPy array or scalar) becomes a named tensor, keyed
  by its path in the state, e.g. ``model/fc1.weight`` or ``optimizer/state/0/exp_avg``;
* everything else (numbers, strings, lists, dicts, tuples) goes, with placeholders where the
  arrays were, into one JSON string in the file's metadata.

Loading reads tensors and JSON only (no pickle), so a checkpoint from an untrusted source
cannot execute anything. Writes go to a temporary file in the same folder, are flushed and
fsync'ed, then ``os.replace``'d over the old file: a process killed mid-write leaves the
previous checkpoint intact.

Example::

    >>> model = nn.Linear(4, 2)
    >>> optimizer = optim.Adam(model.parameters())
    >>> state = {"epoch": 3, "model": model.state_dict(), "optimizer": optimizer.state_dict()}
    >>> save_state("checkpoint.safetensors", state)
    >>> restored = load_state("checkpoint.safetensors")
    >>> model.load_state_dict(restored["model"]); optimizer.load_state_dict(restored["optimizer"])
    <All keys matched successfully>
    >>> restored["epoch"]
    3
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import CheckpointFileError
from chainrule.files import atomic_write_bytes
from chainrule.state_format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    contiguous_array,
    flatten_state,
    unflatten_state,
)


# ------------------------------------------------------------------------- files on disk
def save_state(path: str | os.PathLike[str], state: Any, metadata: Mapping[str, str] | None = None) -> None:
    """Write a nested training state to a ``.safetensors`` file, atomically.

    ``metadata`` adds plain strings to the file header (readable by any safetensors tool).
    """
    from safetensors.numpy import save

    tensors, skeleton = flatten_state(state)
    header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "skeleton": skeleton}
    header.update(metadata or {})
    atomic_write_bytes(path, save(tensors, metadata=header))


def load_state(path: str | os.PathLike[str]) -> Any:
    """Read a state written by :func:`save_state` (tensors and JSON only, nothing executed).

    Raises:
        CheckpointFileError: (a ``ValueError``) the file is not a readable chainrule checkpoint,
            or its metadata does not describe the tensors it holds (damaged or edited).
    """
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != FORMAT_NAME or "skeleton" not in metadata:
        raise CheckpointFileError(
            f"{path} is a safetensors file but not a chainrule checkpoint (its metadata has no "
            f"format={FORMAT_NAME!r} and skeleton); to load bare weights use load_model()"
        )
    try:
        state = unflatten_state(tensors, metadata["skeleton"])
    except (KeyError, TypeError, ValueError, IndexError, RecursionError) as error:
        # The skeleton is JSON from the file: whatever it holds, a bad one is the file's fault.
        raise CheckpointFileError(
            f"{path} has damaged or edited metadata ({type(error).__name__}: {_short(error)}); "
            "use an intact copy of the checkpoint or train again"
        ) from None
    if isinstance(state, dict) and "history_rows" in state:
        # A ModelCheckpoint's history lives in its append-only log (see history_log_path).
        state["history"] = read_history_log(path, _count(state.pop("history_rows"), path))
    return state


def read_checkpoint_config(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``config`` a training checkpoint was saved with (None if it holds none), reading only
    the file's header, not its tensors."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as file:
            skeleton = (file.metadata() or {}).get("skeleton", "{}")
        config = json.loads(skeleton).get("config")
    except (SafetensorError, OSError, ValueError, AttributeError, RecursionError) as error:
        raise CheckpointFileError(
            f"{path} is not a readable chainrule checkpoint ({_short(error)})"
        ) from None
    return config if isinstance(config, dict) else None


def read_safetensors(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """All tensors and the metadata of a safetensors file, with a clear error if it is damaged.

    The safetensors format checks that every tensor lies inside the file, so nothing is
    allocated beyond the file's own size."""
    from safetensors import SafetensorError, safe_open

    if not Path(path).is_file():
        raise FileNotFoundError(f"no such checkpoint file: {path}")
    try:
        with safe_open(str(path), framework="numpy") as file:
            metadata = dict(file.metadata() or {})
            tensors = {key: file.get_tensor(key) for key in file.keys()}
    except (SafetensorError, ValueError, TypeError) as error:
        raise CheckpointFileError(
            f"{path} is not a readable safetensors file ({_short(error)}); it is truncated or "
            "damaged: use an intact copy or train again"
        ) from None
    return tensors, metadata


def _short(error: BaseException, limit: int = 200) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[:limit] + "..."


def save_model(path: str | os.PathLike[str], model: Any, metadata: Mapping[str, str] | None = None) -> None:
    """Save ``model.state_dict()`` as a plain safetensors file keyed by parameter name
    (``fc1.weight``...), readable by any safetensors tool. Written atomically.

    Example::

        >>> model = nn.Linear(4, 2)
        >>> save_model("model.safetensors", model)
        >>> load_model("model.safetensors", model)
        Linear(in_features=4, out_features=2, bias=True)
    """
    from safetensors.numpy import save

    tensors = {name: contiguous_array(np.asarray(value)) for name, value in model.state_dict().items()}
    atomic_write_bytes(path, save(tensors, metadata=dict(metadata or {})))


def load_model(path: str | os.PathLike[str], model: Any, strict: bool = True) -> Any:
    """Load weights saved by :func:`save_model` into ``model`` (in place); returns ``model``.

    The file's tensors are checked against the model first (:func:`check_weights`): names,
    shapes, floating-point dtypes and finite values.
    """
    from chainrule.tensor import Tensor

    tensors, _ = read_safetensors(path)
    check_weights(tensors, model, path, strict=strict)
    model.load_state_dict({name: Tensor._wrap(array) for name, array in tensors.items()}, strict=strict)
    return model


def check_weights(tensors: Mapping[str, Any], model: Any, source: Any, strict: bool = True) -> None:
    """Refuse weights that do not fit ``model``, in one sentence naming ``source``: missing,
    extra or renamed tensors (when ``strict``), wrong shapes, integer or boolean arrays where
    the model has floating-point ones (a silent cast would load e.g. all-zero weights), and
    NaN or infinite values.

    Example::

        >>> model = nn.Linear(2, 1)
        >>> check_weights(model.state_dict(), model, "memory")  # fits: nothing to say
        >>> bad = {**model.state_dict(), "bias": chainrule.tensor([float("nan")])}
        >>> check_weights(bad, model, "memory")
        Traceback (most recent call last):
        ...
        chainrule.errors.CheckpointFileError: ...
    """
    targets = model.state_dict()
    names, expected = set(tensors), set(targets)
    missing, unexpected = sorted(expected - names), sorted(names - expected)
    if strict and (missing or unexpected):
        parts = []
        if missing:
            parts.append(f"missing {_listed(missing)}")
        if unexpected:
            parts.append(f"unexpected {_listed(unexpected)}")
        raise CheckpointFileError(
            f"{source} does not fit the model: {'; '.join(parts)} (it was saved from a different "
            "model, or edited); load it into the model it was trained with"
        )
    for name in sorted(names & expected):
        array, target = _array_of(tensors[name]), _array_of(targets[name])
        if array.shape != target.shape:
            raise CheckpointFileError(
                f"{source}: {name} has shape {array.shape} but the model's is {target.shape}; "
                "load it into the model it was trained with"
            )
        if target.dtype.kind == "f" and array.dtype.kind != "f":
            raise CheckpointFileError(
                f"{source}: {name} holds {array.dtype} values where the model has {target.dtype} "
                "ones; the weights were not saved by chainrule (or were edited)"
            )
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise CheckpointFileError(
                f"{source}: {name} holds NaN or infinite values; the run diverged or the file was "
                "edited, so retrain (with a smaller learning rate) or use an earlier checkpoint"
            )


def _array_of(value: Any) -> np.ndarray:
    data = getattr(value, "array", value)
    return data if isinstance(data, np.ndarray) else np.asarray(data)


def _listed(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# ----------------------------------------------------------------------- training state
HISTORY_LOG_SUFFIX = ".history.jsonl"


def history_log_path(checkpoint: str | os.PathLike[str]) -> Path:
    """Where a training checkpoint keeps its history: one JSON line per epoch, appended each
    epoch, so saving costs the same at epoch 2000 as at epoch 2 (the checkpoint itself stores
    only how many lines belong to it)."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + HISTORY_LOG_SUFFIX)


def append_history_log(
    checkpoint: str | os.PathLike[str], rows: list[Mapping[str, Any]], start: int, offset: int | None = None
) -> int:
    """Make the log hold exactly ``rows``, given that its first ``start`` lines already are
    ``rows[:start]`` and end at byte ``offset`` (found by reading them when None): lines beyond
    (left by a process killed between writing the log and the checkpoint) are cut, then
    ``rows[start:]`` appended and fsync'ed. Returns the new end offset, for the next call."""
    path = history_log_path(checkpoint)
    mode = "r+b" if path.exists() else "w+b"
    with open(path, mode) as file:
        file.seek(_offset_after_lines(file, start) if offset is None else offset)
        file.truncate()
        for row in rows[start:]:
            file.write(json.dumps(dict(row), allow_nan=True, default=_plain_number).encode() + b"\n")
        file.flush()
        os.fsync(file.fileno())
        return file.tell()


def _plain_number(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"a history row holds a {type(value).__name__}; rows hold numbers")


def _offset_after_lines(file: Any, count: int) -> int:
    file.seek(0)
    for _ in range(count):
        if not file.readline().endswith(b"\n"):
            break
    return file.tell()


def read_history_log(checkpoint: str | os.PathLike[str], count: int) -> list[dict[str, float]]:
    """The first ``count`` rows of the checkpoint's history log."""
    path = history_log_path(checkpoint)
    rows: list[dict[str, float]] = []
    try:
        with open(path, "rb") as file:
            for _ in range(count):
                line = file.readline()
                row = json.loads(line) if line.endswith(b"\n") else None
                if not isinstance(row, dict):
                    break
                rows.append(row)
    except FileNotFoundError:
        pass
    except (ValueError, RecursionError):
        rows = []  # an edited line: reported below like a short log
    if len(rows) != count:
        raise CheckpointFileError(
            f"{path} should hold the {count} epochs {checkpoint} was saved after, but "
            f"{len(rows)} could be read; restore the file or train again"
        )
    return rows


def load_training_state(path: str | os.PathLike[str], model: Any = None) -> dict[str, Any]:
    """A training checkpoint written by ``ModelCheckpoint``, checked before anything uses it:
    its history (from the history log), epoch count, random states and, given ``model``, its
    weights (:func:`check_weights`). Raises :class:`CheckpointFileError` naming what is wrong."""
    state = load_state(path)
    if not isinstance(state, dict) or not {"epoch", "model", "optimizer", "rng"} <= set(state):
        raise CheckpointFileError(
            f"{path} is a chainrule state file but not a training checkpoint (it lacks epoch, "
            "model, optimizer or rng); resume only from a run's checkpoint.safetensors"
        )
    epoch = state["epoch"]
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch <= 10**9:
        raise CheckpointFileError(
            f"{path}: epoch {epoch!r} is not a count of finished epochs (damaged or edited)"
        )
    history = state.get("history")
    if not isinstance(history, list) or not all(isinstance(row, dict) for row in history):
        raise CheckpointFileError(f"{path}: its history is not a list of epoch records (damaged or edited)")
    if len(history) != epoch:
        raise CheckpointFileError(
            f"{path} claims {epoch} finished epochs but records {len(history)}; it was damaged or "
            "edited: use an intact copy or train again"
        )
    _check_rng_state(state["rng"], path)
    if model is not None:
        if not isinstance(state["model"], Mapping):
            raise CheckpointFileError(
                f"{path}: its model state is not a table of tensors (damaged or edited)"
            )
        check_weights(state["model"], model, path)
    return state


def _count(value: Any, path: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10**9:
        raise CheckpointFileError(
            f"{path}: history_rows {value!r} is not a count of epochs (damaged or edited)"
        )
    return value


def _check_rng_state(state: Any, path: Any) -> None:
    from chainrule.random import generator_from_state

    if not isinstance(state, Mapping) or not {"chainrule", "generators", "numpy", "python"} <= set(state):
        raise CheckpointFileError(f"{path}: its random-number states are incomplete (damaged or edited)")
    generators = state["generators"]
    saved = [state["chainrule"], *(generators if isinstance(generators, list) else [None])]
    try:
        for generator_state in saved:
            generator_from_state(_array_of(generator_state))
        np.random.RandomState().set_state(state["numpy"])
        version, internal, gauss = state["python"]
        random.Random().setstate((version, tuple(internal), gauss))
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as error:
        raise CheckpointFileError(
            f"{path}: a random-number state in it is not valid ({_short(error)}); the file was "
            "damaged or edited"
        ) from None


# --------------------------------------------------------------------------- random states
def capture_rng_state(generators: Iterable[Any] = ()) -> dict[str, Any]:
    """Every random-number state a training run draws from: chainrule's default generator
    (initialisation, dropout, shuffling without a generator), each given ``chainrule.Generator``
    (e.g. a DataLoader's), NumPy's legacy global state and Python's ``random``.

    Example::

        >>> from chainrule.utils.data import DataLoader
        >>> loader = DataLoader(range(6), batch_size=3, shuffle=True, generator=chainrule.Generator())
        >>> state = capture_rng_state([loader.generator])
        >>> first = [batch.tolist() for batch in loader]
        >>> restore_rng_state(state, [loader.generator])   # the same draws follow again
        >>> [batch.tolist() for batch in loader] == first
        True
    """
    import chainrule

    return {
        "chainrule": chainrule.get_rng_state(),
        "generators": [generator.get_state() for generator in generators],
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def restore_rng_state(state: Mapping[str, Any], generators: Iterable[Any] = ()) -> None:
    """Put back the states :func:`capture_rng_state` took (the same generators, same order)."""
    import chainrule

    generators = list(generators)
    saved = state["generators"]
    if len(saved) != len(generators):
        raise ValueError(
            f"the checkpoint holds {len(saved)} generator state(s) but {len(generators)} "
            "generator(s) were given to restore; pass the same generators that were saved"
        )
    chainrule.set_rng_state(state["chainrule"])
    for generator, generator_state in zip(generators, saved):
        generator.set_state(generator_state)
    np.random.set_state(state["numpy"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
