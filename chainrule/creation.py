"""Functions that make tensors: from data (``tensor``, ``as_tensor``, ``from_numpy``), filled
(``zeros``, ``ones``, ``full``, ``eye``, ``arange``, ...), and random (``rand``, ``randn``,
``randint``, ``randperm``, ``normal``), as PyTorch's.

Example::

    >>> chainrule.zeros(2, 3).shape
    (2, 3)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from chainrule.devices import check_cpu
from chainrule.dtypes import as_dtype, get_default_dtype, int64
from chainrule.random import Generator, numpy_generator
from chainrule.tensor import Tensor, as_array


def shape_of(size: Sequence[Any]) -> tuple[int, ...]:
    """The shape ``zeros(*size)`` makes: ``zeros(2, 3)`` and ``zeros((2, 3))`` alike."""
    if len(size) == 1 and isinstance(size[0], Iterable):
        size = tuple(size[0])
    shape = tuple(int(s) for s in size)
    if any(s < 0 for s in shape):
        raise ValueError(f"negative dimension in size {shape}")
    return shape


def _make(array: np.ndarray, requires_grad: bool, device: Any = None) -> Tensor:
    if device is not None:
        check_cpu(device)
    out = Tensor._wrap(array)
    if requires_grad:
        out.requires_grad_(True)
    return out


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Make a tensor from Python data or a NumPy array (copied). Floating Python data gives
    the default dtype (float32); NumPy arrays keep theirs.

    Example::

        >>> chainrule.tensor([[1, 2], [3, 4]], dtype=chainrule.float32)
        tensor([[1., 2.],
                [3., 4.]])
    """
    return _make(np.array(as_array(data, dtype), copy=True), requires_grad, device)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """Like ``tensor`` but without copying a NumPy array that already has the dtype."""
    if isinstance(data, Tensor) and (dtype is None or as_dtype(dtype) == data.dtype):
        check_cpu(device)
        return data
    return _make(as_array(data, dtype), False, device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array`` (same dtype)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    return Tensor._wrap(array)


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    return _make(np.zeros(shape_of(size), dtype=as_dtype(dtype)), requires_grad, device)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    return _make(np.ones(shape_of(size), dtype=as_dtype(dtype)), requires_grad, device)


def empty(*size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    return _make(np.empty(shape_of(size), dtype=as_dtype(dtype)), requires_grad, device)


def full(
    size: Sequence[int], fill_value: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None
) -> Tensor:
    if dtype is None:
        dtype = as_array(fill_value).dtype
    return _make(np.full(shape_of((size,)), fill_value, dtype=as_dtype(dtype)), requires_grad, device)


def _like(t: Tensor, dtype: Any) -> np.dtype:
    return t.dtype if dtype is None else as_dtype(dtype)


def zeros_like(
    input: Tensor,  # noqa: A002 - PyTorch's name
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
) -> Tensor:
    return _make(np.zeros(input.shape, dtype=_like(input, dtype)), requires_grad, device)


def ones_like(
    input: Tensor,  # noqa: A002 - PyTorch's name
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
) -> Tensor:
    return _make(np.ones(input.shape, dtype=_like(input, dtype)), requires_grad, device)


def empty_like(
    input: Tensor,  # noqa: A002 - PyTorch's name
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
) -> Tensor:
    return _make(np.empty(input.shape, dtype=_like(input, dtype)), requires_grad, device)


def full_like(
    input: Tensor,  # noqa: A002 - PyTorch's name
    fill_value: Any,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
) -> Tensor:
    return _make(np.full(input.shape, fill_value, dtype=_like(input, dtype)), requires_grad, device)


def rand_like(
    input: Tensor,  # noqa: A002 - PyTorch's name
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
) -> Tensor:
    return rand(*input.shape, dtype=_like(input, dtype), requires_grad=requires_grad, device=device)


def randn_like(
    input: Tensor,  # noqa: A002 - PyTorch's name
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
) -> Tensor:
    return randn(*input.shape, dtype=_like(input, dtype), requires_grad=requires_grad, device=device)


def arange(
    start: Any,
    end: Any = None,
    step: Any = 1,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
) -> Tensor:
    """Values from ``start`` (default 0) up to, not including, ``end``. Integer arguments
    give int64; any float argument gives the default float dtype (as PyTorch)."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_float = any(isinstance(_unwrapped(v), float | np.floating) for v in (start, end, step))
        dtype = get_default_dtype() if is_float else int64
    values = np.arange(_unwrapped(start), _unwrapped(end), _unwrapped(step))
    return _make(values.astype(as_dtype(dtype)), requires_grad, device)


def linspace(
    start: float, end: float, steps: int, dtype: Any = None, requires_grad: bool = False, device: Any = None
) -> Tensor:
    return _make(np.linspace(start, end, steps).astype(as_dtype(dtype)), requires_grad, device)


def eye(
    n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False, device: Any = None
) -> Tensor:
    return _make(np.eye(n, m, dtype=as_dtype(dtype)), requires_grad, device)


def rand(
    *size: Any,
    generator: Generator | None = None,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
) -> Tensor:
    """Uniform samples in [0, 1), from chainrule's seeded generator (see ``manual_seed``)."""
    array = numpy_generator(generator).random(shape_of(size), dtype=np.float64).astype(as_dtype(dtype))
    return _make(array, requires_grad, device)


def randn(
    *size: Any,
    generator: Generator | None = None,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
) -> Tensor:
    """Standard normal samples, from chainrule's seeded generator (see ``manual_seed``)."""
    array = numpy_generator(generator).standard_normal(shape_of(size)).astype(as_dtype(dtype))
    return _make(array, requires_grad, device)


def randint(
    low: int,
    high: int | None = None,
    size: Sequence[int] = (),
    generator: Generator | None = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    if high is None:
        low, high = 0, low
    array = numpy_generator(generator).integers(low, high, size=tuple(size))
    return _make(array.astype(int64 if dtype is None else as_dtype(dtype)), requires_grad, device)


def randperm(
    n: int,
    generator: Generator | None = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    permutation = numpy_generator(generator).permutation(n)
    return _make(permutation.astype(int64 if dtype is None else as_dtype(dtype)), requires_grad, device)


def normal(
    mean: float,
    std: float,
    size: Sequence[int],
    generator: Generator | None = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    samples = numpy_generator(generator).normal(mean, std, tuple(size)).astype(as_dtype(dtype))
    return _make(samples, requires_grad, device)


def equal(input: Tensor, other: Tensor) -> bool:  # noqa: A002
    """True if both tensors have the same shape and elements (as ``torch.equal``).

    Example::

        >>> equal(chainrule.ones(2), chainrule.ones(2))
        True
    """
    return input.equal(other)


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> int:  # noqa: A002
    return input.numel()


def _unwrapped(value: Any) -> Any:
    return value.array if isinstance(value, Tensor) else value
