"""In-place changes that the graph must see.

An in-place method (``add_``, ``masked_fill_``, ``x[i] = v``, ...) writes straight into the
tensor's array when no gradient is involved: under ``no_grad`` (every optimizer step), or when
neither the tensor nor the value written into it requires grad. When one of them does and
operations are recorded, the change is recorded instead, as PyTorch records it: the method's
out-of-place op runs on the tensor's old value, and the tensor takes on the result's values and
its place in the graph. So ``acc += loss``, ``scores.masked_fill_(mask, -inf)`` or
``outputs[t] = h`` inside a forward pass differentiate as written.

Two choices keep every gradient right:

* The result goes into a new array rather than into the old one, so an op that kept the old
  values for its backward (a saved input, a mask) still reads them. The tensor's version counter
  moves on all the same, so a backward that saved the tensor itself refuses to run with the
  changed values (PyTorch's "modified by an inplace operation" error).
* A tensor that shares its memory with another (a view such as ``x[0]`` or ``x.view(...)``, or
  ``detach()``) is refused in one sentence: the other tensor's graph would not learn of the
  change. ``clone()`` it first. A leaf that requires grad is refused too, as in PyTorch.

Example::

    >>> x = chainrule.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> outputs = chainrule.zeros(2, 3)
    >>> outputs[0] = x * 2
    >>> outputs[1] = x * x
    >>> outputs.sum().backward()
    >>> x.grad
    tensor([4., 6., 8.])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.ops import elementwise, movement
from chainrule.tensor import Tensor


def check_recordable(tensor: Tensor, name: str) -> None:
    """Raise unless an in-place change of ``tensor`` can be recorded (see the module's text)."""
    if tensor.requires_grad and tensor.grad_fn is None:
        raise RuntimeError(
            f"{name}: a leaf tensor that requires grad can't be changed in place while operations "
            "are recorded; wrap the update in `with chainrule.no_grad():` or use the out-of-place op"
        )
    if len(tensor._vc) > 1:
        raise RuntimeError(
            f"{name}: this tensor shares its memory with another (a view such as x[0] or "
            "x.view(...), or detach()), whose graph would not see an in-place change recorded "
            "for autograd; clone() it first, or use the out-of-place op"
        )


def record_inplace(tensor: Tensor, name: str, *args: Any, **kwargs: Any) -> Tensor:
    """Record the in-place method ``name`` of ``tensor`` with arguments ``args``: run its
    out-of-place op on the old value and make ``tensor`` the result (its values, dtype kept, and
    its node). Called by the methods once ``Tensor._check_inplace`` said to record."""
    old = Tensor._wrap(tensor.array)
    old.requires_grad, old.grad_fn = tensor.requires_grad, tensor.grad_fn
    # The tensor as an argument of its own change (x.mul_(x)) means its value before it.
    args = tuple(old if arg is tensor else arg for arg in args)
    kwargs = {key: old if value is tensor else value for key, value in kwargs.items()}
    new = OUT_OF_PLACE[name](old, *args, **kwargs)
    if new.shape != tensor.shape:
        raise RuntimeError(
            f"{name}: the result has shape {tuple(new.shape)}, which can't be stored in this tensor "
            f"of shape {tuple(tensor.shape)}"
        )
    if new.dtype != tensor.dtype:
        new = new.to(tensor.dtype)
    array = new.array
    if np.may_share_memory(array, tensor.array):
        array = array.copy()
    tensor.array = array
    tensor.grad_fn = new.grad_fn
    tensor.requires_grad = new.requires_grad
    tensor._vc[0] += 1
    node = new.grad_fn
    if node is not None and getattr(node, "_out_version", None) is new._vc:
        # The node saved its output for backward: that output is now this tensor, whose own
        # counter sees any later change to it.
        node._out_data = array
        node._out_version, node._out_saved_version = tensor._vc, tensor._vc[0]
    return tensor


def _fill(old: Tensor, value: Any) -> Tensor:
    """``value`` everywhere, as an op of ``old`` (whose gradient is then zero)."""
    return elementwise.where(Tensor._wrap(np.ones(old.shape, dtype=bool)), value, old)


def _setitem(old: Tensor, index: Any, value: Any) -> Tensor:
    source = value if isinstance(value, Tensor) else Tensor._wrap(np.asarray(value, dtype=old.dtype))
    index_tensors = tuple(
        item for item in (index if isinstance(index, tuple) else (index,)) if isinstance(item, Tensor)
    )
    return movement.Scatter.apply(old, source.to(old.dtype), movement.normalize_index(index), index_tensors)


# Tensor methods with an in-place twin (``x.relu_()``), attached below.
UNARY_TWINS = ("relu", "sigmoid", "tanh", "exp", "log", "log1p", "neg", "abs", "sign", "sin", "cos",
               "floor", "ceil", "square", "rsqrt")


def _write(tensor: Tensor, method: str, *args: Any) -> Tensor:
    """The in-place method ``method``: its out-of-place op written into ``tensor``, or recorded
    when a gradient is involved."""
    if tensor._check_inplace(method, *args):
        return tensor._record_inplace(method, *args)
    result = OUT_OF_PLACE[method](Tensor._wrap(tensor.array), *args)
    if not np.can_cast(result.dtype, tensor.dtype, casting="same_kind"):
        raise RuntimeError(
            f"{method}: the result has dtype {result.dtype}, which can't be stored in this "
            f"{tensor.dtype} tensor; use the out-of-place op, or convert first"
        )
    tensor.array[...] = result.array
    return tensor


def _unary_twin(name: str) -> Callable[[Tensor], Tensor]:
    def twin(self: Tensor) -> Tensor:
        return _write(self, f"{name}_")

    twin.__name__ = twin.__qualname__ = f"{name}_"
    twin.__doc__ = f"In-place ``{name}`` (recorded when a gradient is involved)."
    return twin


def relu_(input: Tensor) -> Tensor:  # noqa: A002
    """``input.relu_()``, as ``torch.relu_`` and ``torch.nn.functional.relu_``."""
    return input.relu_()


def sigmoid_(input: Tensor) -> Tensor:  # noqa: A002
    """``input.sigmoid_()``, as ``torch.sigmoid_``."""
    return input.sigmoid_()


def tanh_(input: Tensor) -> Tensor:  # noqa: A002
    """``input.tanh_()``, as ``torch.tanh_``."""
    return input.tanh_()


def pow_(self: Tensor, exponent: Any) -> Tensor:
    """In-place ``pow`` (recorded when a gradient is involved)."""
    return _write(self, "pow_", exponent)


def clamp_min_(self: Tensor, min: Any) -> Tensor:  # noqa: A002
    """In-place ``clamp(min=min)`` (recorded when a gradient is involved)."""
    return _write(self, "clamp_min_", min)


def clamp_max_(self: Tensor, max: Any) -> Tensor:  # noqa: A002
    """In-place ``clamp(max=max)`` (recorded when a gradient is involved)."""
    return _write(self, "clamp_max_", max)


OUT_OF_PLACE: dict[str, Callable[..., Tensor]] = {
    "add_": lambda old, other, alpha=1: elementwise.add(old, other, alpha=alpha),
    "mul_": elementwise.mul,
    "div_": elementwise.div,
    "addcmul_": lambda old, tensor1, tensor2, value=1: old + value * (tensor1 * tensor2),
    "addcdiv_": lambda old, tensor1, tensor2, value=1: old + value * (tensor1 / tensor2),
    "lerp_": lambda old, end, weight: old + weight * (end - old),
    "sqrt_": elementwise.sqrt,
    "clamp_": elementwise.clamp,
    "fill_": _fill,
    "copy_": _fill,
    "masked_fill_": movement.masked_fill,
    "scatter_": movement.scatter,
    "scatter_add_": movement.scatter_add,
    "__setitem__": _setitem,
    **{f"{name}_": getattr(Tensor, name) for name in UNARY_TWINS},
    "pow_": elementwise.pow,
    "clamp_min_": lambda old, low: elementwise.clamp(old, min=low),
    "clamp_max_": lambda old, high: elementwise.clamp(old, max=high),
}

for _name in UNARY_TWINS:
    setattr(Tensor, f"{_name}_", _unary_twin(_name))
Tensor.pow_ = pow_  # type: ignore[method-assign]
Tensor.clamp_min_ = clamp_min_  # type: ignore[method-assign]
Tensor.clamp_max_ = clamp_max_  # type: ignore[method-assign]
