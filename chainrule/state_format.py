"""The layout of a nested state (a model's ``state_dict()``, an optimizer's, a whole training
state) in one safetensors file: every array becomes a named tensor keyed by its path, e.g.
``model/fc1.weight``, and everything else goes, with placeholders where the arrays were, into
one JSON string (the skeleton) in the file's metadata.

``chainrule.save`` and the training checkpoints (:mod:`chainrule.train.checkpoint`) both write
this layout; nothing in it is executed when read.

Example::

    >>> tensors, skeleton = flatten_state({"epoch": 3, "weight": np.ones(2)})
    >>> sorted(tensors), unflatten_state(tensors, skeleton)["epoch"]
    (['weight'], 3)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
    tensors[unique] = contiguous_array(array)
    return unique


def contiguous_array(array: np.ndarray) -> np.ndarray:
    # Not np.ascontiguousarray: it turns a 0-d array into shape (1,).
    return array if array.flags.c_contiguous else np.array(array, order="C")


def _decode(node: Any, tensors: Mapping[str, np.ndarray]) -> Any:
    from chainrule.tensor import Tensor

    if isinstance(node, list):
        if not any(isinstance(item, list | dict) for item in node):
            return node  # e.g. the 625 numbers of Python's random state: nothing to rebuild
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
            return tuple(_decode(payload, tensors))
        if marker == _ITEMS:
            return {_decode(key, tensors): _decode(item, tensors) for key, item in payload}
    return {key: _decode(item, tensors) for key, item in node.items()}
