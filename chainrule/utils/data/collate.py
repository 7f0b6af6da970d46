"""``default_collate``: merge a list of samples into one batch, following PyTorch's rules."""

from __future__ import annotations

import collections.abc
import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.grad_mode import is_grad_enabled
from chainrule.tensor import Tensor

_COLLATE_ERROR = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}. "
    "Pass a collate_fn to the DataLoader for other kinds of samples."
)


def _is_text_array(array: np.ndarray) -> bool:
    return array.dtype.kind in "SaUO"


def _stack_tensors(batch: list[Tensor]) -> Tensor:
    shapes = {tuple(tensor.shape) for tensor in batch}
    if len(shapes) > 1:
        raise RuntimeError(
            f"default_collate: stack expects each tensor to be equal size, but the samples have "
            f"shapes {sorted(shapes)}; pad them to one shape or pass a collate_fn that does"
        )
    if is_grad_enabled() and any(tensor.requires_grad for tensor in batch):
        from chainrule.ops.movement import stack  # keeps the graph to the samples

        return stack(batch)
    return Tensor._wrap(np.stack([tensor.array for tensor in batch]))


def default_collate(batch: Sequence[Any]) -> Any:
    """Merge samples into a batch, recursively by the type of the first sample:

    * tensors and NumPy arrays → one tensor stacked along a new first dimension (dtype kept);
    * NumPy scalars → a 1-d tensor of their dtype;
    * Python floats → a float64 tensor, ints → int64, bools → bool (PyTorch's rule);
    * strings and bytes → the list as it is;
    * dicts → a dict of collated values, namedtuples → the namedtuple of collated fields;
    * tuples → a **list** of collated fields (as PyTorch), other sequences keep their type.

    Example::

        >>> batch = default_collate([(np.zeros(3), 1), (np.ones(3), 0)])
        >>> batch[0].shape, batch[1].tolist()
        ((2, 3), [1, 0])
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack_tensors(list(batch))
    if isinstance(elem, np.ndarray):
        if _is_text_array(elem):
            raise TypeError(_COLLATE_ERROR.format(f"a NumPy array of dtype {elem.dtype}"))
        return _stack_tensors([Tensor._wrap(np.asarray(sample)) for sample in batch])
    if isinstance(elem, np.generic) and not isinstance(elem, np.str_ | np.bytes_):
        return Tensor._wrap(np.asarray(batch))
    if isinstance(elem, bool):
        return Tensor._wrap(np.array(batch, dtype=np.bool_))
    if isinstance(elem, float):
        return Tensor._wrap(np.array(batch, dtype=np.float64))
    if isinstance(elem, int):
        return Tensor._wrap(np.array(batch, dtype=np.int64))
    if isinstance(elem, str | bytes):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([sample[key] for sample in batch]) for key in elem}
        if isinstance(elem, collections.abc.MutableMapping):
            clone = copy.copy(elem)
            clone.update(collated)
            return clone
        try:
            return type(elem)(collated)  # type: ignore[call-arg]  # a mapping type taking a dict
        except TypeError:
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(field) for field in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(sample) != size for sample in batch):
            raise RuntimeError(
                "each element in list of batch should be of equal size; got sample lengths "
                f"{sorted({len(sample) for sample in batch})}"
            )
        fields = [default_collate(field) for field in zip(*batch)]
        if isinstance(elem, tuple):
            return fields
        try:
            return type(elem)(fields)  # type: ignore[call-arg]  # a sequence type taking a list
        except TypeError:
            return fields
    raise TypeError(_COLLATE_ERROR.format(type(elem)))


def default_convert(data: Any) -> Any:
    """Turn NumPy arrays and scalars inside ``data`` into tensors (no copy), keeping the
    structure (tuples become lists, as in PyTorch). Used by a DataLoader with
    ``batch_size=None``.

    Example::

        >>> default_convert({"x": np.zeros(2)})["x"]
        tensor([0., 0.], dtype=chainrule.float64)
    """
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return data if _is_text_array(data) else Tensor._wrap(data)
    if isinstance(data, np.generic) and not isinstance(data, np.str_ | np.bytes_):
        return Tensor._wrap(np.asarray(data))
    if isinstance(data, str | bytes):
        return data
    if isinstance(data, collections.abc.Mapping):
        converted = {key: default_convert(value) for key, value in data.items()}
        if isinstance(data, collections.abc.MutableMapping):
            clone = copy.copy(data)
            clone.update(converted)
            return clone
        return converted
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(value) for value in data))
    if isinstance(data, tuple):
        return [default_convert(value) for value in data]
    if isinstance(data, collections.abc.Sequence):
        converted_items = [default_convert(value) for value in data]
        try:
            return type(data)(converted_items)  # type: ignore[call-arg]  # a sequence type taking a list
        except TypeError:
            return converted_items
    return data
