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

    >>> state = {"epoch": 3, "model": model.state_dict(), "optimizer": optimizer.state_dict()}
    >>> save_state("checkpoint.safetensors", state)
    >>> restored = load_state("checkpoint.safetensors")
    >>> model.load_state_dict(restored["model"]); optimizer.load_state_dict(restored["optimizer"])
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import stat
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_NAME = "chainrule.state"
FORMAT_VERSION = "1"

# Placeholders in the JSON skeleton. Each is an object with exactly one of these keys.
_TENSOR = "__tensor__"  # a chainrule Tensor, restored as a Tensor
_NDARRAY = "__ndarray__"  # a NumPy array, restored as an array
_SCALAR = "__npscalar__"  # a NumPy scalar (np.float32(1.5)), restored as one
_TUPLE = "__tuple__"  # JSON has no tuples; optimizers keep e.g. betas as one
_ITEMS = "__items__"  # a dict whose keys are not all plain strings (optimizer state keys are ints)
_MARKERS = (_TENSOR, _NDARRAY, _SCALAR, _TUPLE, _ITEMS)


# ------------------------------------------------------------------------------ atomic writes
def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers only ever see the old file or the new one.

    The bytes go to a temporary file in the same folder (``os.replace`` is atomic only within
    one file system), which is flushed and fsync'ed before it replaces ``path``; the folder is
    fsync'ed afterwards so the rename itself survives a power cut.

    Example::

        >>> atomic_write_bytes("runs/a/metrics.csv", b"epoch,loss\\n1,0.5\\n")
    """
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):
            # mkstemp makes the file private (0600); give it the mode a plain open() would.
            os.fchmod(descriptor, _file_mode(path))
        with os.fdopen(descriptor, "wb") as file:
            _write_all(file, data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        # Whatever went wrong (even KeyboardInterrupt), the old file is untouched; drop the
        # half-written temporary so failed attempts do not pile up.
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


def _file_mode(path: Path) -> int:
    """The existing file's permissions, or those a new file gets under the current umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _write_all(file: Any, data: bytes) -> None:
    """Write in chunks: a separate function so tests can make a write fail half-way."""
    view = memoryview(data)
    chunk = 1 << 20
    for start in range(0, len(view), chunk):
        file.write(view[start : start + chunk])


def _fsync_directory(folder: Path) -> None:
    if os.name != "posix":
        return  # Windows cannot open a directory for fsync; os.replace is still atomic there.
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# ------------------------------------------------------------------- nested state <-> tensors
def flatten_state(state: Any) -> tuple[dict[str, np.ndarray], str]:
    """Split a nested state into ``(tensors, skeleton_json)``.

    ``tensors`` maps a readable path such as ``"optimizer/state/0/exp_avg"`` to a contiguous
    array; ``skeleton_json`` is the state with each array replaced by a placeholder naming its
    key. :func:`unflatten_state` inverts it exactly (dtypes, shapes, tuples, int dict keys).

    Example::

        >>> tensors, skeleton = flatten_state({"step": 3, "w": np.ones(2, np.float32)})
        >>> sorted(tensors), json.loads(skeleton)
        (['w'], {'step': 3, 'w': {'__ndarray__': 'w'}})
    """
    tensors: dict[str, np.ndarray] = {}
    skeleton = _encode(state, (), tensors)
    return tensors, json.dumps(skeleton, allow_nan=True)


def unflatten_state(tensors: Mapping[str, np.ndarray], skeleton_json: str) -> Any:
    """Rebuild the nested state that :func:`flatten_state` split."""
    return _decode(json.loads(skeleton_json), tensors)


def _encode(value: Any, path: tuple[str, ...], tensors: dict[str, np.ndarray]) -> Any:
    from chainrule.tensor import Tensor

    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Tensor):
        return {_TENSOR: _store(np.asarray(value.array), path, tensors)}
    if isinstance(value, np.ndarray):
        return {_NDARRAY: _store(value, path, tensors)}
    if isinstance(value, np.generic):
        return {_SCALAR: _store(np.asarray(value), path, tensors)}
    if isinstance(value, tuple):
        return {_TUPLE: [_encode(item, (*path, str(i)), tensors) for i, item in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(item, (*path, str(i)), tensors) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        if all(isinstance(key, str) and key not in _MARKERS for key in value):
            return {key: _encode(item, (*path, key), tensors) for key, item in value.items()}
        return {
            _ITEMS: [
                [_encode(key, path, {}), _encode(item, (*path, str(key)), tensors)]
                for key, item in value.items()
            ]
        }
    where = "/".join(path) or "the top level"
    raise TypeError(
        f"checkpoint: cannot store a {type(value).__name__} at {where}; a checkpoint holds only "
        "numbers, strings, None, lists, tuples, dicts and arrays/tensors (never pickled objects). "
        "Convert it to one of those in your state_dict()"
    )


def _store(array: np.ndarray, path: tuple[str, ...], tensors: dict[str, np.ndarray]) -> str:
    if array.dtype == object:
        raise TypeError(f"checkpoint: the array at {'/'.join(path)} has dtype object; use a numeric dtype")
    key = "/".join(path) or "value"
    # A dict key containing '/' could make two paths meet; a suffix keeps every key unique.
    unique, counter = key, 1
    while unique in tensors:
        counter += 1
        unique = f"{key}#{counter}"
    tensors[unique] = _contiguous(array)
    return unique


def _contiguous(array: np.ndarray) -> np.ndarray:
    # Not np.ascontiguousarray: it turns a 0-d array into shape (1,).
    return array if array.flags.c_contiguous else np.array(array, order="C")


def _decode(node: Any, tensors: Mapping[str, np.ndarray]) -> Any:
    from chainrule.tensor import Tensor

    if isinstance(node, list):
        return [_decode(item, tensors) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((marker, payload),) = node.items()
        if marker == _TENSOR:
            return Tensor._wrap(np.array(tensors[payload]))
        if marker == _NDARRAY:
            return np.array(tensors[payload])
        if marker == _SCALAR:
            return tensors[payload][()]
        if marker == _TUPLE:
            return tuple(_decode(item, tensors) for item in payload)
        if marker == _ITEMS:
            return {_decode(key, tensors): _decode(item, tensors) for key, item in payload}
    return {key: _decode(item, tensors) for key, item in node.items()}


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
    """Read a state written by :func:`save_state` (tensors and JSON only, nothing executed)."""
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != FORMAT_NAME:
        raise ValueError(
            f"{path} is a safetensors file but not a chainrule checkpoint (its metadata has no "
            f"format={FORMAT_NAME!r}); to load bare weights use load_model()"
        )
    return unflatten_state(tensors, metadata["skeleton"])


def read_safetensors(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """All tensors and the metadata of a safetensors file, with a clear error if it is damaged."""
    from safetensors import SafetensorError, safe_open

    if not Path(path).is_file():
        raise FileNotFoundError(f"no such checkpoint file: {path}")
    try:
        with safe_open(str(path), framework="numpy") as file:
            metadata = dict(file.metadata() or {})
            tensors = {key: file.get_tensor(key) for key in file.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(f"{path} is not a readable safetensors file ({error})") from None
    return tensors, metadata


def save_model(path: str | os.PathLike[str], model: Any, metadata: Mapping[str, str] | None = None) -> None:
    """Save ``model.state_dict()`` as a plain safetensors file keyed by parameter name
    (``fc1.weight``...), readable by any safetensors tool. Written atomically.

    Example::

        >>> save_model("model.safetensors", model)
        >>> load_model("model.safetensors", model)
    """
    from safetensors.numpy import save

    tensors = {name: _contiguous(np.asarray(value)) for name, value in model.state_dict().items()}
    atomic_write_bytes(path, save(tensors, metadata=dict(metadata or {})))


def load_model(path: str | os.PathLike[str], model: Any, strict: bool = True) -> Any:
    """Load weights saved by :func:`save_model` into ``model`` (in place); returns ``model``."""
    from chainrule.tensor import Tensor

    tensors, _ = read_safetensors(path)
    model.load_state_dict({name: Tensor._wrap(array) for name, array in tensors.items()}, strict=strict)
    return model


# --------------------------------------------------------------------------- random states
def capture_rng_state(generators: Iterable[Any] = ()) -> dict[str, Any]:
    """Every random-number state a training run draws from: chainrule's default generator
    (initialisation, dropout, shuffling without a generator), each given ``chainrule.Generator``
    (e.g. a DataLoader's), NumPy's legacy global state and Python's ``random``.

    Example::

        >>> state = capture_rng_state([loader.generator])
        >>> restore_rng_state(state, [loader.generator])   # the same draws follow again
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
