"""Type promotion as PyTorch's: ``result_type``, ``promote_types``, ``can_cast``.

NumPy and PyTorch disagree on mixed dtypes, and NumPy's answer silently moves models to
float64. PyTorch's rules, which every op here follows:

* dtypes rank by category, bool < integer < floating; ``promote_types`` of two dtypes of one
  category is the wider, of two categories the higher one's dtype (``int64`` with ``float16``
  gives ``float16``, where NumPy gives ``float64``);
* operands come in three priority groups, tensors with dimensions, 0-d tensors, Python
  numbers; a lower group changes the result only when its category is higher, so
  ``float32 tensor + 0-d float64 tensor`` stays ``float32`` and ``int64 tensor + 0.5`` is the
  default float dtype (``float32``), not ``float64``;
* true division of integers gives the default float dtype.

Example::

    >>> import chainrule as torch
    >>> torch.result_type(torch.ones(2, dtype=torch.int64), 0.5)
    dtype('float32')
    >>> torch.promote_types(torch.int64, torch.float16)
    dtype('float16')
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from chainrule.dtypes import as_dtype, get_default_dtype
from chainrule.tensor import Tensor

_BOOL = np.dtype(np.bool_)
_INT64 = np.dtype(np.int64)
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}


def promote_types(type1: Any, type2: Any) -> np.dtype:
    """The smallest dtype both ``type1`` and ``type2`` convert to without leaving their
    category (PyTorch's table; it differs from NumPy's when integers meet floats).

    Example::

        >>> promote_types(chainrule.uint8, chainrule.int8)
        dtype('int16')
    """
    first, second = as_dtype(type1), as_dtype(type2)
    if first == second:
        return first
    first_category, second_category = _CATEGORY[first.kind], _CATEGORY[second.kind]
    if first_category != second_category:
        return first if first_category > second_category else second
    return np.promote_types(first, second)  # within one category NumPy's table is PyTorch's


def _combine(higher: np.dtype | None, lower: np.dtype | None) -> np.dtype | None:
    """The dtype of a higher-priority operand group meeting a lower one: the lower group
    counts only if its category is higher (PyTorch's ``combine_categories``)."""
    if higher is None:
        return lower
    if lower is None or higher.kind == "f":
        return higher
    if higher.kind == "b" or lower.kind == "f":
        return promote_types(higher, lower)
    return higher


def _number_dtype(value: Any) -> np.dtype:
    if isinstance(value, builtins.bool | np.bool_):
        return _BOOL
    if isinstance(value, builtins.int | np.integer):
        return _INT64
    if isinstance(value, builtins.float | np.floating):
        return get_default_dtype()
    raise TypeError(f"result_type: expected a Tensor or a Python number, got {type(value).__name__}")


def result_type(tensor1: Any, tensor2: Any) -> np.dtype:
    """The dtype an arithmetic op on ``tensor1`` and ``tensor2`` (tensors, NumPy arrays or
    Python numbers) computes in, by PyTorch's rules (see the module docstring).

    Example::

        >>> result_type(chainrule.ones(3), chainrule.tensor(1.0, dtype=chainrule.float64))
        dtype('float32')
    """
    groups: dict[str, np.dtype | None] = {"dim": None, "zero": None, "number": None}
    for value in (tensor1, tensor2):
        if isinstance(value, Tensor | np.ndarray):
            group = "dim" if value.ndim else "zero"
            dtype = value.dtype
        else:
            group, dtype = "number", _number_dtype(value)
        current = groups[group]
        groups[group] = dtype if current is None else promote_types(current, dtype)
    result = _combine(groups["dim"], _combine(groups["zero"], groups["number"]))
    assert result is not None
    return result


def can_cast(from_: Any, to: Any) -> bool:
    """Whether PyTorch allows an op's result of dtype ``from_`` to be written into a tensor
    of dtype ``to`` (in-place ops, ``out=``): never floating to integer or bool, nor
    integer to bool.

    Example::

        >>> can_cast(chainrule.float32, chainrule.int64), can_cast(chainrule.int64, chainrule.float16)
        (False, True)
    """
    return _CATEGORY[as_dtype(from_).kind] <= _CATEGORY[as_dtype(to).kind]


def promote_operands(a: Any, b: Any, true_divide: bool = False) -> tuple[Any, Any]:
    """``a`` and ``b`` (Tensors or Python numbers, at least one a Tensor) cast so that NumPy
    computes in PyTorch's result dtype. Casts are ops, so gradients flow back in each input's
    own dtype. With ``true_divide``, an integer or bool result becomes the default float dtype."""
    # On every binary op, so the common cases return first: equal dtypes, or a floating tensor
    # with a Python number (NumPy 2 keeps the tensor's dtype then, as PyTorch does).
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            dtype = a.array.dtype
            if dtype is b.array.dtype and (not true_divide or dtype.kind == "f"):
                return a, b
        elif a.array.dtype.kind == "f":
            return a, b
    elif isinstance(b, Tensor) and b.array.dtype.kind == "f":
        return a, b
    target = result_type(a, b)
    if true_divide and target.kind != "f":
        target = get_default_dtype()
    return _cast(a, target), _cast(b, target)


def _cast(value: Any, dtype: np.dtype) -> Any:
    if isinstance(value, Tensor):
        return value if value.array.dtype == dtype else value.type(dtype)
    return wrap_int(value, dtype)  # a Python number takes the tensor's dtype in NumPy 2 arithmetic


def wrap_int(value: Any, dtype: np.dtype) -> Any:
    """A Python int as an integer ``dtype`` holds it, wrapped modulo 2**bits as PyTorch casts
    scalars (``uint8_tensor + 300`` adds 44; NumPy would raise OverflowError). Beyond int64
    raises OverflowError, as in PyTorch. Other values pass unchanged."""
    if type(value) is int and dtype.kind in "iu":
        info = np.iinfo(dtype)
        if not info.min <= value <= info.max:
            return np.array(value, dtype=np.int64).astype(dtype).item()
    return value


def floating(value: Tensor) -> Tensor:
    """``value`` itself if floating, else cast to the default float dtype: what PyTorch's
    floating-point maths (exp, log, sqrt, sin, sigmoid...) does with integer input."""
    if value.array.dtype.kind == "f":
        return value
    return value.type(get_default_dtype())
