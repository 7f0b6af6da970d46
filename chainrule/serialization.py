"""``chainrule.save`` / ``chainrule.load``: PyTorch's calls, a file format that never pickles.

What scripts save (a tensor, ``model.state_dict()``, ``optimizer.state_dict()``, a scheduler's,
and dicts, lists and tuples of those with numbers and strings) is written as one safetensors
file: every array becomes a named tensor and the nesting goes, as JSON, into the file's
metadata (the same format as the trainer's checkpoints, see ``chainrule.train.checkpoint``).
Loading reads tensors and JSON only, so a file from an untrusted source cannot run code, with
``weights_only=True`` or ``False`` alike.

``load`` also reads PyTorch's own checkpoints (``torch.save``'s zip archive, and its older
stream format), recognised by their first bytes, through an unpickler that allows only the
names PyTorch's ``weights_only=True`` allows and calls none of the file's own
(``chainrule.pytorch_checkpoint``): ``model.load_state_dict(chainrule.load("model.pt"))``.

A whole ``nn.Module`` (or optimizer) is not saved: restoring one means re-running arbitrary
class code, which is what pickle does and what makes ``.pt`` files unsafe. Save its
``state_dict()`` and load that into a freshly built model instead.

Example::

    >>> import io
    >>> model = chainrule.nn.Linear(3, 2)
    >>> buffer = io.BytesIO()
    >>> chainrule.save({"model": model.state_dict(), "epoch": 4}, buffer)
    >>> _ = buffer.seek(0)
    >>> state = chainrule.load(buffer, map_location="cpu")
    >>> state["epoch"], model.load_state_dict(state["model"])
    (4, <All keys matched successfully>)
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from chainrule import pytorch_checkpoint
from chainrule.devices import check_cpu

FileLike = str | os.PathLike[str] | IO[bytes]

_ZIP_MAGIC = pytorch_checkpoint.ZIP_MAGIC  # PyTorch's default .pt format: a zip of pickles
_PICKLE_PROTOCOL_2_PLUS = b"\x80"  # PyTorch's legacy format, and plain pickle files


class UnsupportedFileError(ValueError):
    """A file given to ``chainrule.load`` that is not in chainrule's format."""


def save(
    obj: Any,
    f: FileLike,
    pickle_module: Any = None,
    pickle_protocol: int = 2,
    _use_new_zipfile_serialization: bool = True,
) -> None:
    """Write ``obj`` (tensors, state dicts, nested dicts/lists/tuples of tensors, arrays,
    numbers, strings, None) to ``f``, a path or a binary file object.

    A path is written atomically (the old file stays intact if writing fails). The pickle
    arguments are accepted for PyTorch's signature and ignored: nothing is pickled.

    Example::

        >>> import io
        >>> buffer = io.BytesIO()
        >>> chainrule.save({"weight": chainrule.ones(2), "step": 3}, buffer)
        >>> buffer.getvalue()[8:9]  # a safetensors file: its JSON header follows the length
        b'{'
    """
    stateful = _find_stateful(obj, ())
    if stateful is not None:
        where, value = stateful
        kind = type(value).__name__
        raise TypeError(
            f"chainrule.save cannot store a whole {kind} object (at {where}): that needs pickle, "
            f"which can run code when loaded; save its state_dict() instead and restore it with "
            f"load_state_dict() into a newly built {kind}"
        )
    from chainrule.files import atomic_write_bytes
    from chainrule.state_format import FORMAT_NAME, FORMAT_VERSION, flatten_state

    tensors, skeleton = flatten_state(obj)
    data = _safetensors_bytes(
        tensors, {"format": FORMAT_NAME, "version": FORMAT_VERSION, "skeleton": skeleton}
    )
    if hasattr(f, "write"):
        f.write(data)
    else:
        atomic_write_bytes(f, data)


def load(
    f: FileLike,
    map_location: Any = None,
    pickle_module: Any = None,
    *,
    weights_only: bool | None = None,
    mmap: bool | None = None,
    **pickle_load_args: Any,
) -> Any:
    """Read what :func:`save` wrote, from a path or a binary file object.

    ``map_location`` may name the CPU (``"cpu"``, ``device("cpu")``) or be a dict/callable as
    in PyTorch (every tensor is on the CPU already). ``weights_only`` is accepted either way:
    this format holds data only, so loading never executes anything. A plain safetensors file
    (e.g. from ``save_model`` or another library) loads as a dict of tensors, and a PyTorch
    checkpoint (``torch.save``'s output) as chainrule tensors, refusing any object in it other
    than tensors, numbers, strings and containers (see ``chainrule.pytorch_checkpoint``).

    Example::

        >>> import io
        >>> buffer = io.BytesIO()
        >>> chainrule.save([1, "a", chainrule.zeros(2)], buffer)
        >>> chainrule.load(io.BytesIO(buffer.getvalue()), weights_only=True)
        [1, 'a', tensor([0., 0.])]
    """
    from chainrule.state_format import FORMAT_NAME, unflatten_state

    if isinstance(map_location, str) or hasattr(map_location, "type"):
        check_cpu(map_location)
    name = getattr(f, "name", None) if hasattr(f, "read") else str(f)
    name = name if isinstance(name, str) else "the file object"
    data = f.read() if hasattr(f, "read") else _read_path(f)
    if data.startswith(_ZIP_MAGIC):
        return pytorch_checkpoint.load_zip(data, name, _SAFE_GLOBALS)
    if data[:1] == _PICKLE_PROTOCOL_2_PLUS and pytorch_checkpoint.is_legacy(data):
        return pytorch_checkpoint.load_legacy(data, name, _SAFE_GLOBALS)
    tensors, metadata = _parse_safetensors(data, name)
    if metadata.get("format") != FORMAT_NAME:
        return _plain_state_dict(tensors)
    if "skeleton" not in metadata:
        raise UnsupportedFileError(
            f"{name} is a chainrule file without its 'skeleton' metadata; it is damaged"
        )
    return unflatten_state(tensors, metadata["skeleton"])


def _read_path(path: str | os.PathLike[str]) -> bytes:
    if not Path(path).is_file():
        raise FileNotFoundError(f"no such file: {path}")
    return Path(path).read_bytes()


def _safetensors_bytes(tensors: dict[str, Any], metadata: dict[str, str]) -> bytes:
    from safetensors.numpy import save as save_safetensors

    return save_safetensors(tensors, metadata=metadata)


def _parse_safetensors(data: bytes, name: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The tensors and metadata of safetensors bytes, or one sentence saying what the file is."""
    from safetensors import SafetensorError
    from safetensors.numpy import load as load_safetensors

    header_length = struct.unpack("<Q", data[:8])[0] if len(data) >= 8 else -1
    try:
        if not 0 < header_length <= len(data) - 8:
            raise ValueError("bad header length")
        header = json.loads(data[8 : 8 + header_length])
        tensors = load_safetensors(data)
    except (ValueError, SafetensorError, UnicodeDecodeError) as error:
        raise UnsupportedFileError(_what_else(data, name, error)) from None
    metadata = header.get("__metadata__") or {} if isinstance(header, dict) else {}
    return tensors, metadata


def _what_else(data: bytes, name: str, error: Exception) -> str:
    """One sentence on a file that is not safetensors: what it looks like, what to do."""
    if data[:1] == _PICKLE_PROTOCOL_2_PLUS:
        return (
            f"{name} is a pickle file, which chainrule never loads because unpickling can run "
            "arbitrary code; save it again with chainrule.save or safetensors"
        )
    return (
        f"{name} is not a file written by chainrule.save (nor any safetensors file: {error}); check the path"
    )


def _plain_state_dict(tensors: Mapping[str, Any]) -> dict[str, Any]:
    from chainrule.tensor import Tensor

    return {key: Tensor._wrap(array) for key, array in tensors.items()}


def _find_stateful(obj: Any, path: tuple[str, ...]) -> tuple[str, Any] | None:
    """The first object inside ``obj`` that has a ``state_dict()`` method (a module, an
    optimizer, a scheduler), with where it is, so save() can name it."""
    from chainrule.tensor import Tensor

    if isinstance(obj, Tensor):
        return None
    if callable(getattr(obj, "state_dict", None)):
        return "/".join(path) or "the top level", obj
    items: Any = ()
    if isinstance(obj, Mapping):
        items = obj.items()
    elif isinstance(obj, list | tuple):
        items = enumerate(obj)
    for key, value in items:
        found = _find_stateful(value, (*path, str(key)))
        if found is not None:
            return found
    return None


# ---------------------------------------------------------------- torch.serialization's API
_SAFE_GLOBALS: list[Any] = []


def add_safe_globals(safe_globals: list[Any]) -> None:
    """Allow more globals in PyTorch checkpoints, as PyTorch's function does: each entry is an
    object, or an ``(object, "module.name")`` pair, that a checkpoint may name and call. Use it
    only for code you trust; chainrule's own format never looks a name up at all."""
    _SAFE_GLOBALS.extend(safe_globals)


def get_safe_globals() -> list[Any]:
    return list(_SAFE_GLOBALS)


def clear_safe_globals() -> None:
    _SAFE_GLOBALS.clear()


@contextlib.contextmanager
def safe_globals(safe_globals: list[Any]) -> Iterator[None]:
    """Context manager form of :func:`add_safe_globals` (undone on exit)."""
    before = list(_SAFE_GLOBALS)
    add_safe_globals(safe_globals)
    try:
        yield
    finally:
        _SAFE_GLOBALS[:] = before


__all__ = ["save", "load", "add_safe_globals", "get_safe_globals", "clear_safe_globals", "safe_globals"]
