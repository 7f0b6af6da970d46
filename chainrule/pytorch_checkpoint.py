"""Reading PyTorch's checkpoints (``.pt``, ``.pth``) without running code from them.

PyTorch writes checkpoints with pickle, and a pickle is a small program: it names Python
callables ("globals") and calls them, so ``pickle.load`` on a file from elsewhere can run
anything (``os.system`` included). What a checkpoint of weights really needs is a handful of
globals: PyTorch's tensor rebuild functions, its storage classes and dtypes, ``OrderedDict``,
``torch.Size`` and a few builtins (what PyTorch's own ``weights_only=True`` allows). The
unpickler here resolves exactly those names to stand-ins written in chainrule, and refuses
every other name with one sentence before anything is called, so nothing from the file runs
and PyTorch need not be installed.

Two layouts are read:

- the zip archive PyTorch writes by default since 1.6 (``<prefix>/data.pkl`` plus one record
  per storage, ``<prefix>/data/<key>``);
- the older "legacy" stream (``_use_new_zipfile_serialization=False``): a magic number, the
  pickled object, the list of storage keys, then each storage's bytes.

Tensors come back as chainrule tensors with PyTorch's values, shapes and strides; tensors that
shared a storage in PyTorch (views, slices) share memory here too. ``bfloat16``, which NumPy
lacks, is widened to float32 (exactly: every bfloat16 is a float32). ``nn.Parameter`` comes
back as ``chainrule.nn.Parameter``.

This module is used through :func:`chainrule.load`, which recognises the format by its first
bytes::

    >>> import io, zipfile
    >>> archive = io.BytesIO()
    >>> with zipfile.ZipFile(archive, "w") as zf:
    ...     zf.writestr("m/data.pkl", b"\\x80\\x02cos\\nsystem\\nX\\x04\\x00\\x00\\x00trueq\\x00\\x85R.")
    >>> chainrule.load(io.BytesIO(archive.getvalue()))
    Traceback (most recent call last):
    ...
    chainrule.errors.UntrustedCodeError: the file object refers to os.system, which ... refuses ...
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.errors import CheckpointFileError, UntrustedCodeError

ZIP_MAGIC = b"PK\x03\x04"
# The first object of PyTorch's legacy stream (torch/serialization.py's MAGIC_NUMBER).
LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_BFLOAT16 = "bfloat16"


@dataclass(frozen=True)
class _Kind:
    """An element type as PyTorch names it: the NumPy dtype of its bytes on disk."""

    name: str
    stored: np.dtype


_KINDS = {
    name: _Kind(name, np.dtype(stored))
    for name, stored in [
        ("float32", "<f4"),
        ("float64", "<f8"),
        ("float16", "<f2"),
        (_BFLOAT16, "<u2"),
        ("int64", "<i8"),
        ("int32", "<i4"),
        ("int16", "<i2"),
        ("int8", "i1"),
        ("uint8", "u1"),
        ("bool", "?"),
        ("complex64", "<c8"),
        ("complex128", "<c16"),
    ]
}
# torch.<name> as a pickled dtype, and torch.<Name>Storage as a pickled storage class.
_DTYPE_NAMES = {
    **{name: name for name in _KINDS},
    "float": "float32",
    "double": "float64",
    "half": "float16",
    "long": "int64",
    "int": "int32",
    "short": "int16",
    "cfloat": "complex64",
    "cdouble": "complex128",
}
_STORAGE_NAMES = {
    "FloatStorage": "float32",
    "DoubleStorage": "float64",
    "HalfStorage": "float16",
    "BFloat16Storage": _BFLOAT16,
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
    "UntypedStorage": "uint8",
}


class _Storage:
    """One storage's elements (a flat NumPy array over the checkpoint's bytes), shared by every
    tensor that views it."""

    def __init__(self, kind: _Kind, buffer: bytearray, name: str) -> None:
        self.kind = kind
        self.elements = np.frombuffer(buffer, dtype=kind.stored)
        self.name = name

    def as_kind(self, kind: _Kind) -> np.ndarray:
        """The bytes read as ``kind`` (an untyped storage gets its type from the tensor)."""
        if kind == self.kind:
            return self.elements
        return self.elements.view(np.uint8).view(kind.stored)


def _strided(
    storage: _Storage, kind: _Kind, offset: int, size: Iterable[int], stride: Iterable[int]
) -> np.ndarray:
    """The array PyTorch's (offset, size, stride) describe inside ``storage``, refusing any
    that reaches outside it (a crafted file must not read memory it does not hold)."""
    elements = storage.as_kind(kind)
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride) or min((*size, *stride, offset, 0)) < 0:
        raise CheckpointFileError(
            f"{storage.name} describes a tensor with size {size}, stride {stride} "
            f"and offset {offset}, which is not a valid layout; the file is damaged"
        )
    last = offset + sum((n - 1) * s for n, s in zip(size, stride)) if 0 not in size else offset - 1
    if last >= len(elements):
        raise CheckpointFileError(
            f"{storage.name} describes a tensor that reaches element {last} of a "
            f"storage of {len(elements)}; the file is truncated or damaged"
        )
    itemsize = elements.itemsize
    array = np.lib.stride_tricks.as_strided(
        elements[offset:] if 0 not in size else elements[:0],
        shape=size,
        strides=tuple(s * itemsize for s in stride),
        writeable=True,
    )
    if kind.name == _BFLOAT16:  # bfloat16 is float32's upper half: widening is exact
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array


def _tensor(array: np.ndarray, requires_grad: Any = False) -> Any:
    from chainrule.tensor import Tensor

    tensor = Tensor._wrap(array)
    if requires_grad is True and array.dtype.kind in "fc":
        tensor.requires_grad_(True)
    return tensor


# -------------------------------------------------- stand-ins for the globals a checkpoint names
def _rebuild_tensor(storage: _Storage, storage_offset: int, size: Any, stride: Any) -> Any:
    return _tensor(_strided(storage, storage.kind, storage_offset, size, stride))


def _rebuild_tensor_v2(
    storage: _Storage,
    storage_offset: int,
    size: Any,
    stride: Any,
    requires_grad: Any = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> Any:
    return _tensor(_strided(storage, storage.kind, storage_offset, size, stride), requires_grad)


def _rebuild_tensor_v3(
    storage: _Storage,
    storage_offset: int,
    size: Any,
    stride: Any,
    requires_grad: Any,
    backward_hooks: Any,
    dtype: _Kind,
    metadata: Any = None,
) -> Any:
    kind = dtype if isinstance(dtype, _Kind) else _KINDS.get(getattr(dtype, "name", ""))
    kind = _check_kind(kind, storage.name)
    return _tensor(_strided(storage, kind, storage_offset, size, stride), requires_grad)


def _rebuild_parameter(
    data: Any, requires_grad: Any = True, backward_hooks: Any = None, state: Any = None
) -> Any:
    from chainrule.nn import Parameter

    return Parameter(data, requires_grad=bool(requires_grad) and data.dtype.kind in "fc")


def _rebuild_from_type_v2(func: Callable[..., Any], new_type: Any, args: tuple[Any, ...], state: Any) -> Any:
    """A tensor saved with extra attributes: rebuilt by ``func`` (itself one of the allowed
    stand-ins, since pickle resolved it through the same lookup); the attributes are dropped."""
    from chainrule.nn import Parameter

    value = func(*args)
    return _rebuild_parameter(value, True) if new_type is Parameter else value


def _encode(text: str, encoding: str = "latin1") -> bytes:
    # How protocol 2 pickles bytes; other codecs (zlib, bz2) could be decompression bombs.
    if encoding not in ("latin1", "latin-1"):
        raise UntrustedCodeError(
            f"a checkpoint asks for the {encoding!r} codec, which a "
            "weights-only load refuses; only latin1 encodes bytes in pickles"
        )
    return text.encode("latin1")


def _device(spec: Any, index: Any = None) -> str:
    return str(spec) if index is None else f"{spec}:{index}"


def _allowed_globals() -> dict[tuple[str, str], Any]:
    from chainrule.nn import Parameter
    from chainrule.tensor import Tensor

    allowed: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("collections", "Counter"): collections.Counter,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "bytearray"): bytearray,
        ("builtins", "complex"): complex,
        ("_codecs", "encode"): _encode,
        ("torch", "Size"): tuple,
        ("torch", "device"): _device,
        ("torch", "Tensor"): Tensor,
        ("torch._tensor", "Tensor"): Tensor,
        ("torch.nn.parameter", "Parameter"): Parameter,
        ("torch.serialization", "_get_layout"): str,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    }
    for name, kind in _DTYPE_NAMES.items():  # a dtype in the checkpoint becomes chainrule's
        allowed["torch", name] = _KINDS[kind] if kind == _BFLOAT16 else _KINDS[kind].stored.newbyteorder("=")
    for name, kind in _STORAGE_NAMES.items():
        for module in ("torch", "torch.storage"):
            allowed[module, name] = _KINDS[kind]
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose only globals are the stand-ins above (plus any the user
    allowed by name), and whose storages are read by ``load_storage``."""

    def __init__(
        self,
        data: bytes | io.BytesIO,
        name: str,
        safe_globals: Iterable[Any],
        load_storage: Callable[[tuple[Any, ...]], Any],
    ) -> None:
        super().__init__(data if isinstance(data, io.BytesIO) else io.BytesIO(data))
        self._name = name
        self._load_storage = load_storage
        self._allowed = _allowed_globals()
        for entry in safe_globals:
            value, full_name = entry if isinstance(entry, tuple) else (entry, None)
            full_name = full_name or f"{value.__module__}.{value.__qualname__}"
            module, _, qualname = full_name.rpartition(".")
            self._allowed[module, qualname] = value

    def find_class(self, module: str, name: str) -> Any:
        # Every global a pickle names comes through here (GLOBAL, STACK_GLOBAL, INST, OBJ and
        # the copyreg extension codes), so refusing here refuses before anything is called.
        if module == "__builtin__":  # protocol 2 names builtins by their Python 2 module
            module = "builtins"
        try:
            return self._allowed[module, name]
        except KeyError:
            raise UntrustedCodeError(
                f"{self._name} refers to {module}.{name}, which a weights-only load refuses "
                "because calling it could run code; PyTorch checkpoints are read for tensors, "
                "numbers, strings and containers only (in PyTorch, save model.state_dict() "
                "rather than objects), or, if you trust this file and the name, allow it with "
                "chainrule.serialization.add_safe_globals"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise CheckpointFileError(
                f"{self._name} refers to an external object {pid!r:.60} that "
                "is not a PyTorch storage; it is not a checkpoint chainrule reads"
            )
        return self._load_storage(pid)


def _unpickle(unpickler: _RestrictedUnpickler) -> Any:
    name = unpickler._name
    try:
        return unpickler.load()
    except (UntrustedCodeError, CheckpointFileError):
        raise
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        struct.error,
        UnicodeDecodeError,
    ) as error:
        raise CheckpointFileError(
            f"{name} is a damaged PyTorch checkpoint ({error}); save it again from PyTorch"
        ) from None


def _check_kind(kind: Any, name: str) -> _Kind:
    if not isinstance(kind, _Kind):
        raise CheckpointFileError(
            f"{name} tags a storage with {kind!r:.60}, not a PyTorch storage type; the file is damaged"
        )
    return kind


# ------------------------------------------------------------------------------- the two layouts
def load_zip(data: bytes, name: str, safe_globals: Iterable[Any] = ()) -> Any:
    """The object in a PyTorch zip checkpoint's bytes."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        pickles = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
    except (zipfile.BadZipFile, ValueError, EOFError) as error:
        raise CheckpointFileError(
            f"{name} starts like a zip archive (PyTorch's checkpoint format) but "
            f"cannot be read as one ({error}); it is truncated or damaged, so "
            "copy or save it again"
        ) from None
    if not pickles:
        raise CheckpointFileError(
            f"{name} is a zip archive without the data.pkl record of a PyTorch checkpoint; check the path"
        )
    prefix = pickles[0][: -len("data.pkl")]
    byteorder = _read_record(archive, prefix + "byteorder", name, missing=b"little")
    storages: dict[str, _Storage] = {}

    def load_storage(pid: tuple[Any, ...]) -> _Storage:
        if len(pid) != 5:
            raise CheckpointFileError(
                f"{name} has a storage reference of the wrong form; the file is damaged"
            )
        _, kind, key, _location, numel = pid
        key = str(key)
        if key not in storages:
            kind = _check_kind(kind, name)
            raw = _read_record(archive, f"{prefix}data/{key}", name)
            wanted = int(numel) * kind.stored.itemsize
            if len(raw) < wanted:
                raise CheckpointFileError(
                    f"{name} holds {len(raw)} bytes for storage {key} where "
                    f"{wanted} are needed; the file is truncated or damaged"
                )
            buffer = bytearray(raw[:wanted])
            if byteorder == b"big":  # written on a big-endian machine
                buffer = bytearray(
                    np.frombuffer(buffer, kind.stored.newbyteorder(">")).astype(kind.stored).tobytes()
                )
            storages[key] = _Storage(kind, buffer, name)
        return storages[key]

    pickled = _read_record(archive, pickles[0], name)
    return _unpickle(_RestrictedUnpickler(pickled, name, safe_globals, load_storage))


def _read_record(archive: zipfile.ZipFile, record: str, name: str, missing: bytes | None = None) -> bytes:
    try:
        return archive.read(record)
    except KeyError:
        if missing is not None:
            return missing
        raise CheckpointFileError(
            f"{name} lacks the record {record} that its pickle refers to; the "
            "checkpoint is incomplete, so save it again"
        ) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as error:
        raise CheckpointFileError(
            f"{name} has a damaged record {record} ({error}); the file is "
            "truncated or corrupted, so copy or save it again"
        ) from None


def is_legacy(data: bytes) -> bool:
    """Whether pickle bytes start with PyTorch's legacy magic number (read safely)."""
    stream = io.BytesIO(data)
    try:
        first = _RestrictedUnpickler(stream, "", (), _no_storage).load()
    except Exception:  # not a pickle we can read at all: the caller says what it is
        return False
    return first == LEGACY_MAGIC_NUMBER


def _no_storage(pid: tuple[Any, ...]) -> Any:
    raise pickle.UnpicklingError("a storage outside a checkpoint")


def load_legacy(data: bytes, name: str, safe_globals: Iterable[Any] = ()) -> Any:
    """The object in a checkpoint in PyTorch's legacy (pre-zip) stream format.

    The storages' bytes follow the pickled object, so the object is read twice: once to learn
    the storages (tensors built from empty placeholders are dropped), then again for real."""
    stream = io.BytesIO(data)
    found: dict[str, tuple[_Kind, int]] = {}

    def note_storage(pid: tuple[Any, ...]) -> _Storage:
        if len(pid) != 6 or pid[5] is not None:
            raise CheckpointFileError(
                f"{name} uses storage views from a PyTorch release before 0.4, "
                "which chainrule does not read; load and save it again in PyTorch"
            )
        kind, numel = _check_kind(pid[1], name), int(pid[4])
        if not 0 <= numel * kind.stored.itemsize <= len(data):  # its bytes must be in the file
            raise CheckpointFileError(
                f"{name} declares a storage of {numel} elements, more than the "
                "file holds; the file is truncated or damaged"
            )
        found[str(pid[2])] = (kind, numel)
        return _Storage(kind, bytearray(numel * kind.stored.itemsize), name)

    def unpickler(load_storage: Callable[[tuple[Any, ...]], Any]) -> _RestrictedUnpickler:
        return _RestrictedUnpickler(stream, name, safe_globals, load_storage)

    for _ in range(3):  # the magic number, the protocol version, the system description
        _unpickle(unpickler(_no_storage))
    start = stream.tell()
    _unpickle(unpickler(note_storage))
    keys = _unpickle(unpickler(_no_storage))
    if not isinstance(keys, list) or set(map(str, keys)) != set(found):
        raise CheckpointFileError(f"{name} lists storages that its object does not use; the file is damaged")
    storages: dict[str, _Storage] = {}
    for key in map(str, keys):
        kind, numel = found[key]
        header = stream.read(8)
        size = int.from_bytes(header, "little") if len(header) == 8 else -1
        raw = stream.read(numel * kind.stored.itemsize)
        if size != numel or len(raw) != numel * kind.stored.itemsize:
            raise CheckpointFileError(
                f"{name} ends inside the bytes of storage {key}; the file is "
                "truncated, so copy or save it again"
            )
        storages[key] = _Storage(kind, bytearray(raw), name)
    stream.seek(start)
    return _unpickle(unpickler(lambda pid: storages[str(pid[2])]))


__all__ = ["ZIP_MAGIC", "is_legacy", "load_legacy", "load_zip"]
