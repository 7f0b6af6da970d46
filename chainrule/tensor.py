"""``Tensor``: a NumPy array plus what backpropagation needs, and the functions that make one.

A Tensor holds ``array`` (a ``numpy.ndarray``), ``requires_grad``, ``grad`` and ``grad_fn`` (the
op node that made it, ``None`` for a leaf). ``data`` is PyTorch's: a Tensor sharing the memory,
outside autograd. Its methods and operators hand off to the ops in
``chainrule.ops``; NumPy arrays and Python scalars mix freely with tensors.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from chainrule.devices import CPU, check_cpu, device, parse_to_arguments
from chainrule.grad_mode import _GradMode

# ------------------------------------------------------------------------------------ dtypes
float16 = half = np.dtype(np.float16)
float32 = float = np.dtype(np.float32)  # noqa: A001 - PyTorch's names
float64 = double = np.dtype(np.float64)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
int16 = short = np.dtype(np.int16)
int32 = int = np.dtype(np.int32)  # noqa: A001
int64 = long = np.dtype(np.int64)
bool = np.dtype(np.bool_)  # noqa: A001

_DTYPE_NAMES = {
    "float16": float16, "half": float16, "float32": float32, "float": float32,
    "float64": float64, "double": float64, "int8": int8, "uint8": uint8, "int16": int16,
    "int32": int32, "int64": int64, "long": int64, "bool": bool,
}


class _Defaults:
    dtype = float32


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype of floating tensors made from Python data (float32 unless changed).

    Example::

        >>> chainrule.set_default_dtype(chainrule.float64)   # e.g. for gradient checks
        >>> chainrule.tensor([1.5]).dtype
        dtype('float64')
        >>> chainrule.set_default_dtype(chainrule.float32)   # the default again
    """
    dtype = as_dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: only floating dtypes are allowed, got {dtype}")
    _Defaults.dtype = dtype


def get_default_dtype() -> np.dtype:
    """The dtype of floating tensors made from Python data."""
    return _Defaults.dtype


def as_dtype(dtype: Any) -> np.dtype:
    """Resolve ``chainrule.float32``, ``numpy.float32``, ``"float32"`` or a Python type."""
    if dtype is None:
        return _Defaults.dtype
    if isinstance(dtype, str):
        if dtype not in _DTYPE_NAMES:
            raise TypeError(f"unknown dtype {dtype!r}; use one of {sorted(_DTYPE_NAMES)}")
        return _DTYPE_NAMES[dtype]
    if dtype is builtins.float:
        return _Defaults.dtype
    if dtype is builtins.int:
        return int64
    if dtype is builtins.bool:
        return bool
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{dtype!r} is not a dtype; use e.g. chainrule.float32") from None


def _as_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Make the array behind a new tensor. Python floats become the default dtype (float32),
    Python ints int64, NumPy arrays keep their dtype (as ``torch.tensor`` does)."""
    if isinstance(data, Tensor):
        data = data.array
    if dtype is not None:
        return np.array(data, dtype=as_dtype(dtype))
    array = np.array(data)
    if array.dtype.kind == "f" and not isinstance(data, np.ndarray | np.generic):
        array = array.astype(_Defaults.dtype, copy=False)
    elif array.dtype.kind in "iu" and not isinstance(data, np.ndarray | np.generic):
        array = array.astype(np.int64, copy=False)
    elif array.dtype.kind not in "fiub":
        raise TypeError(
            f"cannot make a tensor from {type(data).__name__} data of NumPy dtype {array.dtype}; "
            "give numbers, nested lists of numbers, or a numeric NumPy array"
        )
    return array


class Size(tuple):  # type: ignore[type-arg]
    """A tensor's shape, as ``torch.Size``: a tuple of ints (equal to one, printed as one) that
    also has ``numel()``.

    Example::

        >>> chainrule.zeros(2, 3).shape.numel()
        6
    """

    __slots__ = ()

    def numel(self) -> builtins.int:
        return builtins.int(np.prod(self, dtype=np.int64))


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    Shape: any. Example::

        >>> x = chainrule.tensor([1.0, 2.0, 3.0], requires_grad=True)
        >>> (x * x).sum().backward()
        >>> x.grad
        tensor([2., 4., 6.])
    """

    _is_node = False  # the engine tells leaves from op nodes by this flag
    __slots__ = ("array", "requires_grad", "_grad", "grad_fn", "_vc", "_hooks", "__weakref__")
    __array_priority__ = 1000  # ndarray (op) Tensor hands off to Tensor's reflected operator

    def __init__(self, data: Any, dtype: Any = None, requires_grad: builtins.bool = False) -> None:
        self.array = _as_array(data, dtype)
        self._grad: Tensor | None = None
        self.grad_fn = None
        self._vc = [0]
        self._hooks: list[Callable[[Tensor], Tensor | None]] | None = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array: np.ndarray) -> Tensor:
        """A constant tensor around an existing array, without copying or checks."""
        out = Tensor.__new__(Tensor)
        out.array = array
        out._grad = None
        out.grad_fn = None
        out.requires_grad = False
        out._vc = [0]
        out._hooks = None
        return out

    # ------------------------------------------------------------------------ properties
    @property
    def data(self) -> Tensor:
        """PyTorch's .data: a Tensor sharing this one's memory, outside autograd (no
        ``requires_grad``, and changes through it are not seen by the in-place checks, as in
        PyTorch; prefer ``detach()``). The NumPy array itself is ``.array``.

        Example::

            >>> w = chainrule.ones(2, requires_grad=True)
            >>> w.data.mul_(3)  # PyTorch's .data
            tensor([3., 3.])
            >>> w
            tensor([3., 3.], requires_grad=True)
        """
        return Tensor._wrap(self.array)

    @data.setter
    def data(self, value: Tensor) -> None:
        # PyTorch's .data assignment, p.data = t: p now uses t's memory (shape and dtype may change).
        if not isinstance(value, Tensor):
            raise TypeError(
                f"a tensor's data must be assigned a Tensor, got a {type(value).__name__}; for a NumPy "
                "array use chainrule.from_numpy(array)"
            )
        self.array = value.array

    @property
    def shape(self) -> Size:
        return Size(self.array.shape)

    @property
    def grad(self) -> Tensor | None:
        """The gradient accumulated by ``backward()`` (None until then)."""
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        # Checked here, as PyTorch does, so a wrong assignment fails where it is written,
        # not at the next backward or optimizer step.
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"assigned grad expected to be a Tensor or None but got a {type(value).__name__}; "
                    "to clear gradients assign None (or call zero_grad())"
                )
            if value.array.shape != self.array.shape:
                raise RuntimeError(
                    f"assigned grad has shape {tuple(value.shape)}, but the tensor has shape "
                    f"{tuple(self.shape)}; a gradient must have its tensor's shape"
                )
            if value.array.dtype != self.array.dtype:
                raise RuntimeError(
                    f"assigned grad has dtype {value.dtype}, but the tensor has dtype {self.dtype}; "
                    f"convert it first (grad.to({self.dtype}))"
                )
        self._grad = value

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def ndim(self) -> builtins.int:
        return self.array.ndim

    @property
    def is_leaf(self) -> builtins.bool:
        return self.grad_fn is None

    @property
    def T(self) -> Tensor:  # noqa: N802 - PyTorch's name
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self) -> Tensor:  # noqa: N802
        return self.transpose(-2, -1)

    @property
    def device(self) -> device:
        """Where the data lives: always ``device(type='cpu')``."""
        return CPU

    @property
    def is_cuda(self) -> builtins.bool:
        return False

    @property
    def is_cpu(self) -> builtins.bool:
        return True

    def get_device(self) -> builtins.int:
        """-1, PyTorch's answer for a CPU tensor."""
        return -1

    @property
    def is_floating_point_(self) -> builtins.bool:
        return self.array.dtype.kind == "f"

    def is_floating_point(self) -> builtins.bool:
        return self.array.dtype.kind == "f"

    @property
    def _version(self) -> builtins.int:
        return self._vc[0]

    def size(self, dim: builtins.int | None = None) -> Any:
        return Size(self.array.shape) if dim is None else self.array.shape[dim]

    def dim(self) -> builtins.int:
        return self.array.ndim

    def numel(self) -> builtins.int:
        return self.array.size

    def element_size(self) -> builtins.int:
        return self.array.itemsize

    def __len__(self) -> builtins.int:
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    # ----------------------------------------------------------------- leaving the graph
    def item(self) -> Any:
        if self.array.size != 1:
            raise ValueError(
                f"item(): only a tensor with one element can be converted to a Python scalar, "
                f"this one has shape {self.shape}"
            )
        return self.array.item()

    def numpy(self) -> np.ndarray:
        """The array behind this tensor (shared, not copied), as ``Tensor.numpy()`` in PyTorch."""
        if self.requires_grad and _GradMode.get() and self.grad_fn is not None:
            raise RuntimeError(
                "numpy(): can't call numpy() on a tensor that is part of a graph; "
                "use tensor.detach().numpy()"
            )
        return self.array

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.array if dtype is None else self.array.astype(dtype)

    def tolist(self) -> Any:
        return self.array.tolist()

    def detach(self) -> Tensor:
        """A tensor sharing this one's data, cut from the graph."""
        out = Tensor._wrap(self.array)
        out._vc = self._vc
        return out

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self.requires_grad = False
        return self

    def clone(self) -> Tensor:
        from chainrule.ops.elementwise import Clone

        return Clone.apply(self)

    def contiguous(self) -> Tensor:
        """This tensor if its memory is in row-major order, else a row-major copy."""
        return self if self.array.flags.c_contiguous else self.clone()

    def equal(self, other: Tensor) -> builtins.bool:
        return equal(self, other)

    def is_contiguous(self) -> builtins.bool:
        return builtins.bool(self.array.flags.c_contiguous)

    def requires_grad_(self, requires_grad: builtins.bool = True) -> Tensor:
        if requires_grad and self.array.dtype.kind not in "fc":
            raise RuntimeError(
                f"only tensors of floating point dtype can require gradients; this one is "
                f"{self.array.dtype}. Convert it first, e.g. x.float().requires_grad_()"
            )
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf tensors; use detach() to take "
                "a non-leaf tensor out of the graph"
            )
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward (leaves always keep it)."""
        if self.grad_fn is not None:
            self.grad_fn._retain(self)
        elif not self.requires_grad:
            raise RuntimeError("can't retain_grad on a tensor that has requires_grad=False")

    @property
    def retains_grad(self) -> builtins.bool:
        return self.grad_fn is not None and self.grad_fn._retained is not None

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> HookHandle:
        """Call ``hook(grad)`` when the gradient with respect to this tensor is computed; a
        returned Tensor (same shape) replaces the gradient. Returns a handle whose
        ``remove()`` takes the hook off again (as PyTorch's)."""
        if not self.requires_grad:
            raise RuntimeError(
                "cannot register a hook on a tensor that doesn't require gradient"
            )
        if self.grad_fn is not None:
            self.grad_fn.register_hook(hook)
            hooks = self.grad_fn._tensor_hooks
        else:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
            hooks.append(hook)  # (was missing: hooks on leaves were never called)
        return HookHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> HookHandle:
        """Call ``hook(self)`` on a leaf after backward has added into its ``.grad`` (as
        PyTorch's): the moment a gradient is final, when data-parallel training can start
        sending it while backward goes on. Not called by ``autograd.grad``.

        Example::

            >>> w = chainrule.ones(2, requires_grad=True)
            >>> handle = w.register_post_accumulate_grad_hook(lambda leaf: print(leaf.grad))
            >>> (3 * w).sum().backward()
            tensor([3., 3.])
            >>> handle.remove()
        """
        if not self.requires_grad or self.grad_fn is not None:
            raise RuntimeError(
                "register_post_accumulate_grad_hook: only a leaf tensor that requires grad has "
                "a .grad to accumulate into; register a hook on a leaf (a Parameter, or a tensor "
                "made with requires_grad=True)"
            )
        from chainrule.autograd.engine import PostAccumulateGradHook

        if self._hooks is None:
            self._hooks = []
        entry = PostAccumulateGradHook(hook)
        self._hooks.append(entry)
        return HookHandle(self._hooks, entry)

    def backward(
        self,
        gradient: Any = None,
        retain_graph: builtins.bool | None = None,
        create_graph: builtins.bool = False,
    ) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

        ``gradient`` is the vector of the vector-Jacobian product; it may be omitted only
        for a tensor with one element.
        """
        _autograd().backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

    # ---------------------------------------------------------------------------- display
    def __repr__(self) -> str:
        data = self.array
        body = "[]" if data.size == 0 else _format_body(data)
        extras = []
        if data.dtype not in (_Defaults.dtype, int64, bool):
            extras.append(f"dtype=chainrule.{data.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name()}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if data.size == 0:
            extras.insert(0, f"size={tuple(data.shape)}")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    def __format__(self, spec: str) -> str:
        if self.array.ndim == 0:
            return format(self.array.item(), spec)
        return repr(self)

    def __bool__(self) -> builtins.bool:
        if self.array.size != 1:
            raise RuntimeError(
                f"the truth value of a tensor with {self.array.size} elements is ambiguous; "
                "use .any() or .all()"
            )
        return builtins.bool(self.array)

    def __float__(self) -> builtins.float:
        return builtins.float(self.item())

    def __int__(self) -> builtins.int:
        return builtins.int(self.item())

    def __index__(self) -> builtins.int:
        if self.array.dtype.kind not in "iu" or self.array.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return builtins.int(self.array)

    __hash__ = object.__hash__

    def __getstate__(self) -> dict[str, Any]:
        return {"data": self.array, "requires_grad": self.requires_grad}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["data"], requires_grad=state["requires_grad"])  # type: ignore[misc]

    # ---------------------------------------------------------------------- dtype changes
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)`` (other's dtype).

        The device must be the CPU (``"cpu"``, ``device("cpu")``); any other raises
        ``DeviceUnavailableError``. Returns ``self`` when nothing changes, unless ``copy=True``.

        Example::

            >>> chainrule.tensor([1, 2]).to("cpu", chainrule.float32)
            tensor([1., 2.])
        """
        dtype, copy = parse_to_arguments(args, kwargs)
        out = self if dtype is None else self.type(dtype)
        return out.clone() if copy and out is self else out

    def cpu(self) -> Tensor:
        return self

    def cuda(self, device: Any = None, non_blocking: builtins.bool = False) -> Tensor:
        """Always an error: chainrule has no CUDA device (see ``chainrule.cuda.is_available``)."""
        check_cpu("cuda" if device is None else _cuda_device(device))
        return self

    def type(self, dtype: Any) -> Tensor:
        from chainrule.ops.elementwise import Cast

        dtype = as_dtype(dtype)
        if dtype == self.array.dtype:
            return self
        return Cast.apply(self, dtype)

    def float(self) -> Tensor:
        return self.type(float32)

    def double(self) -> Tensor:
        return self.type(float64)

    def half(self) -> Tensor:
        return self.type(float16)

    def long(self) -> Tensor:
        return self.type(int64)

    def int(self) -> Tensor:
        return self.type(int32)

    def bool(self) -> Tensor:
        return self.type(bool)

    # ------------------------------------------------------------------- in-place updates
    def _check_inplace(self, name: str) -> None:
        if self.requires_grad and _GradMode.get():
            raise RuntimeError(
                f"{name}: a tensor that requires grad can't be changed in place while "
                "operations are recorded; wrap the update in `with chainrule.no_grad():` or "
                "use the out-of-place op"
            )
        self._vc[0] += 1

    def _inplace(self, name: str, result: Any) -> Tensor:
        self._check_inplace(name)
        self.array[...] = result
        return self

    def _check_result_fits(self, name: str, other: Any, true_divide: builtins.bool = False) -> None:
        """PyTorch refuses an in-place op whose result cannot be stored in this tensor's dtype
        (``int_tensor.add_(0.5)``) instead of truncating; only non-floating tensors can fail."""
        from chainrule.promotion import can_cast, result_type

        result = result_type(self, other)
        if true_divide and result.kind != "f":
            result = _Defaults.dtype
        if not can_cast(result, self.array.dtype):
            raise RuntimeError(
                f"{name}: the result has dtype {result}, which can't be stored in this {self.array.dtype} "
                f"tensor; use the out-of-place op, or convert first (e.g. x = x.float())"
            )

    def add_(self, other: Any, alpha: Any = 1) -> Tensor:
        other = _raw_scalar(other, self.array.dtype)
        if self.array.dtype.kind != "f":
            self._check_result_fits("add_", other if alpha == 1 else alpha)
        self._check_inplace("add_")
        if alpha == 1:
            np.add(self.array, other, out=self.array, casting="unsafe")
        else:
            np.add(self.array, np.multiply(other, alpha), out=self.array, casting="unsafe")
        return self

    def sub_(self, other: Any, alpha: Any = 1) -> Tensor:
        return self.add_(other, alpha=-alpha)

    def mul_(self, other: Any) -> Tensor:
        other = _raw_scalar(other, self.array.dtype)
        if self.array.dtype.kind != "f":
            self._check_result_fits("mul_", other)
        self._check_inplace("mul_")
        np.multiply(self.array, other, out=self.array, casting="unsafe")
        return self

    def div_(self, other: Any) -> Tensor:
        if self.array.dtype.kind != "f":
            self._check_result_fits("div_", other, true_divide=True)
        self._check_inplace("div_")
        np.divide(self.array, _raw(other), out=self.array, casting="unsafe")
        return self

    def addcmul_(self, tensor1: Any, tensor2: Any, value: Any = 1) -> Tensor:
        self._check_inplace("addcmul_")
        self.array += value * (_raw(tensor1) * _raw(tensor2))
        return self

    def addcdiv_(self, tensor1: Any, tensor2: Any, value: Any = 1) -> Tensor:
        self._check_inplace("addcdiv_")
        self.array += value * (_raw(tensor1) / _raw(tensor2))
        return self

    def lerp_(self, end: Any, weight: Any) -> Tensor:
        self._check_inplace("lerp_")
        self.array += weight * (_raw(end) - self.array)
        return self

    def sqrt_(self) -> Tensor:
        return self._inplace("sqrt_", np.sqrt(self.array))

    def zero_(self) -> Tensor:
        return self._inplace("zero_", 0)

    def fill_(self, value: Any) -> Tensor:
        return self._inplace("fill_", _raw(value))

    def copy_(self, source: Any) -> Tensor:
        source = _raw(source)
        if np.shape(source) != self.shape:
            try:
                np.broadcast_to(source, self.shape)
            except ValueError:
                raise RuntimeError(
                    f"copy_: can't copy a source of shape {tuple(np.shape(source))} into a "
                    f"tensor of shape {tuple(self.shape)}"
                ) from None
        return self._inplace("copy_", source)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        return self._inplace("clamp_", np.clip(self.array, min, max))

    def uniform_(self, a: builtins.float = 0.0, b: builtins.float = 1.0) -> Tensor:
        return self._inplace("uniform_", _rng().uniform(a, b, self.shape))

    def normal_(self, mean: builtins.float = 0.0, std: builtins.float = 1.0) -> Tensor:
        return self._inplace("normal_", _rng().normal(mean, std, self.shape))

    def bernoulli_(self, p: builtins.float = 0.5) -> Tensor:
        return self._inplace("bernoulli_", _rng().random(self.shape) < p)

    def exponential_(self, lambd: builtins.float = 1.0) -> Tensor:
        return self._inplace("exponential_", _rng().exponential(1.0 / lambd, self.shape))

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        self._check_inplace("masked_fill_")
        np.copyto(self.array, _raw(value), where=np.broadcast_to(_raw(mask), self.shape))
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        from chainrule.ops.movement import normalize_index

        self._check_inplace("__setitem__ (indexed assignment)")
        self.array[normalize_index(index)] = _raw(value)

    def __iadd__(self, other: Any) -> Tensor:
        if self.requires_grad and _GradMode.get():
            return self + other
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        if self.requires_grad and _GradMode.get():
            return self - other
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        if self.requires_grad and _GradMode.get():
            return self * other
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        if self.requires_grad and _GradMode.get():
            return self / other
        return self.div_(other)


class HookHandle:
    """What ``Tensor.register_hook`` returns: ``handle.remove()`` unregisters the hook.
    (PyTorch scripts call ``.remove()``; a bare function, as before, had no such method.
    Calling the handle itself still removes the hook too.)"""

    def __init__(self, hooks: list[Any], hook: Any) -> None:
        self._hooks = hooks
        self._hook = hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)

    __call__ = remove


def _autograd() -> Any:
    """chainrule.autograd, imported on first use (it imports this module)."""
    global _AUTOGRAD
    if _AUTOGRAD is None:
        import chainrule.autograd as module

        _AUTOGRAD = module
    return _AUTOGRAD


_AUTOGRAD = None


def _cuda_device(index: Any) -> Any:
    """``x.cuda(1)`` names ``cuda:1``."""
    return f"cuda:{index}" if isinstance(index, builtins.int) else index


def _raw(value: Any) -> Any:
    return value.array if isinstance(value, Tensor) else value


def _raw_scalar(value: Any, dtype: np.dtype) -> Any:
    """``_raw``, with a Python int wrapped into an integer ``dtype`` as PyTorch does."""
    if type(value) is builtins.int and dtype.kind in "iu":
        from chainrule.promotion import wrap_int

        return wrap_int(value, dtype)
    return _raw(value)


# ------------------------------------------------------------------------------ display
# PyTorch's print options: 4 decimals, summarize above 1000 elements showing 3 at each end of
# each dim, lines of at most 80 characters.
_PRECISION, _THRESHOLD, _EDGE_ITEMS, _LINE_WIDTH = 4, 1000, 3, 80


def _summarized(data: np.ndarray) -> np.ndarray:
    """The elements a summarized print shows (the first and last few along every dim)."""
    for axis, size in enumerate(data.shape):
        if size > 2 * _EDGE_ITEMS:
            keep = np.r_[0:_EDGE_ITEMS, size - _EDGE_ITEMS:size]
            data = np.take(data, keep, axis=axis)
    return data


class _ElementFormat:
    """How PyTorch prints the elements of one tensor: one width for all (right-aligned);
    floats as integers with a trailing '.' when all are whole, else with 4 decimals, or in
    scientific notation when the magnitudes span more than 1000x or leave [1e-4, 1e8]."""

    def __init__(self, shown: np.ndarray) -> None:
        self.kind = shown.dtype.kind
        self.int_mode, self.sci_mode, self.width = True, False, 1
        if self.kind != "f":
            self.width = max(len(self._text(v)) for v in shown.reshape(-1).tolist())
            return
        values = shown.reshape(-1).astype(np.float64)
        values = values[np.isfinite(values) & (values != 0)]
        if values.size == 0:
            return
        magnitudes = np.abs(values)
        largest, smallest = magnitudes.max(), magnitudes.min()
        self.int_mode = builtins.bool(np.all(values == np.ceil(values)))
        self.sci_mode = largest / smallest > 1000.0 or largest > 1.0e8
        if not self.int_mode:
            self.sci_mode = self.sci_mode or smallest < 1.0e-4
        # The width comes from the finite non-zero values only; 0, inf and nan just fit in.
        self.width = max(len(self._text(v)) for v in values.tolist())

    def _text(self, value: Any) -> str:
        if self.kind == "b":
            return "True" if value else "False"
        if self.kind != "f":
            return str(value)
        if self.sci_mode:
            return f"{value:.{_PRECISION}e}"
        if self.int_mode:
            return f"{value:.0f}" + ("." if np.isfinite(value) else "")
        return f"{value:.{_PRECISION}f}"

    def __call__(self, value: Any) -> str:
        return self._text(value).rjust(self.width)


def _format_body(data: np.ndarray) -> str:
    summarize = data.size > _THRESHOLD
    element_format = _ElementFormat(_summarized(data) if summarize else data)
    return _format_nested(data, len("tensor("), summarize, element_format)


def _format_nested(data: np.ndarray, indent: builtins.int, summarize: builtins.bool,
                   element_format: _ElementFormat) -> str:
    if data.ndim == 0:
        return element_format(data.item())
    size = data.shape[0]
    rows: list[builtins.int | None] = list(range(size))
    if summarize and size > 2 * _EDGE_ITEMS:
        rows = rows[:_EDGE_ITEMS] + [None] + rows[-_EDGE_ITEMS:]  # None: the elided middle
    if data.ndim == 1:
        items = [" ..." if i is None else element_format(data[i].item()) for i in rows]
        per_line = builtins.max(1, (_LINE_WIDTH - indent) // (element_format.width + 2))
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    parts = ["..." if i is None else _format_nested(data[i], indent + 1, summarize, element_format)
             for i in rows]
    # Rows of a matrix go one per line; blocks of higher dims are set apart by blank lines.
    return "[" + ("," + "\n" * (data.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


# --------------------------------------------------------------------- random number state
class _RandomState:
    generator = np.random.default_rng(0)
    seed = 0


def _rng() -> np.random.Generator:
    return _RandomState.generator


def manual_seed(seed: builtins.int) -> Generator:
    """Seed chainrule's random number generator (used by rand, randn, init, dropout, ...)."""
    _RandomState.generator = np.random.default_rng(seed)
    _RandomState.seed = seed
    return Generator._default()


def initial_seed() -> builtins.int:
    return _RandomState.seed


def seed() -> builtins.int:
    new_seed = builtins.int(np.random.SeedSequence().entropy % (2**63))
    manual_seed(new_seed)
    return new_seed


def get_rng_state() -> Tensor:
    """The default generator's full state, as a uint8 tensor (to restore with set_rng_state)."""
    return Tensor._wrap(_state_to_bytes(_RandomState.generator))


def set_rng_state(state: Any) -> None:
    _RandomState.generator = _generator_from_bytes(np.asarray(_raw(state), dtype=np.uint8))


def _state_to_bytes(generator: np.random.Generator) -> np.ndarray:
    import json

    state = generator.bit_generator.state
    return np.frombuffer(json.dumps(state).encode(), dtype=np.uint8).copy()


# The bit generators a saved state may name: a state comes from a file, so its name is looked
# up here, never with getattr on np.random (which would call whatever the file names).
_BIT_GENERATORS = {
    name: getattr(np.random, name) for name in ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
}


def _generator_from_bytes(data: np.ndarray) -> np.random.Generator:
    import json

    try:
        state = json.loads(data.tobytes().decode())
        name = state["bit_generator"] if isinstance(state, dict) else None
        if not isinstance(name, str) or name not in _BIT_GENERATORS:
            raise ValueError(f"bit generator {name!r} is not one of {', '.join(_BIT_GENERATORS)}")
        bit_generator = _BIT_GENERATORS[name]()
        bit_generator.state = state
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as error:
        # UnicodeDecodeError and JSONDecodeError are ValueErrors.
        raise ValueError(f"not a random-number generator state saved by chainrule ({error})") from None
    return np.random.Generator(bit_generator)


class Generator:
    """A seedable source of random numbers, as ``torch.Generator`` (used by DataLoader's
    shuffling and ``random_split``)."""

    def __init__(self, device: str = "cpu") -> None:
        self.rng = np.random.default_rng(0)
        self._seed = 0
        self._is_default = False

    @classmethod
    def _default(cls) -> Generator:
        generator = cls()
        generator._is_default = True
        return generator

    def _numpy(self) -> np.random.Generator:
        return _RandomState.generator if self._is_default else self.rng

    def manual_seed(self, seed: builtins.int) -> Generator:
        if self._is_default:
            manual_seed(seed)
        else:
            self.rng = np.random.default_rng(seed)
            self._seed = seed
        return self

    def initial_seed(self) -> builtins.int:
        return _RandomState.seed if self._is_default else self._seed

    def get_state(self) -> Tensor:
        return Tensor._wrap(_state_to_bytes(self._numpy()))

    def set_state(self, state: Any) -> Generator:
        generator = _generator_from_bytes(np.asarray(_raw(state), dtype=np.uint8))
        if self._is_default:
            _RandomState.generator = generator
        else:
            self.rng = generator
        return self


default_generator = Generator._default()


def _generator(generator: Generator | None) -> np.random.Generator:
    return _rng() if generator is None else generator._numpy()


# ------------------------------------------------------------------------------ creation
def _shape_of(size: Sequence[Any]) -> tuple[builtins.int, ...]:
    if len(size) == 1 and isinstance(size[0], Iterable):
        size = tuple(size[0])
    shape = tuple(builtins.int(s) for s in size)
    if any(s < 0 for s in shape):
        raise ValueError(f"negative dimension in size {shape}")
    return shape


def _make(array: np.ndarray, requires_grad: builtins.bool, device: Any = None) -> Tensor:
    if device is not None:
        check_cpu(device)
    out = Tensor._wrap(array)
    if requires_grad:
        out.requires_grad_(True)
    return out


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: builtins.bool = False) -> Tensor:
    """Make a tensor from Python data or a NumPy array (copied). Floating Python data gives
    the default dtype (float32); NumPy arrays keep theirs.

    Example::

        >>> chainrule.tensor([[1, 2], [3, 4]], dtype=chainrule.float32)
        tensor([[1., 2.],
                [3., 4.]])
    """
    return _make(np.array(_as_array(data, dtype), copy=True), requires_grad, device)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """Like ``tensor`` but without copying a NumPy array that already has the dtype."""
    if isinstance(data, Tensor) and (dtype is None or as_dtype(dtype) == data.dtype):
        check_cpu(device)
        return data
    return _make(_as_array(data, dtype), False, device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array`` (same dtype)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    return Tensor._wrap(array)


def zeros(*size: Any, dtype: Any = None, requires_grad: builtins.bool = False, device: Any = None) -> Tensor:
    return _make(np.zeros(_shape_of(size), dtype=as_dtype(dtype)), requires_grad, device)


def ones(*size: Any, dtype: Any = None, requires_grad: builtins.bool = False, device: Any = None) -> Tensor:
    return _make(np.ones(_shape_of(size), dtype=as_dtype(dtype)), requires_grad, device)


def empty(*size: Any, dtype: Any = None, requires_grad: builtins.bool = False, device: Any = None) -> Tensor:
    return _make(np.empty(_shape_of(size), dtype=as_dtype(dtype)), requires_grad, device)


def full(size: Sequence[builtins.int], fill_value: Any, dtype: Any = None,
         requires_grad: builtins.bool = False, device: Any = None) -> Tensor:
    if dtype is None:
        dtype = _as_array(fill_value).dtype
    return _make(np.full(_shape_of((size,)), fill_value, dtype=as_dtype(dtype)), requires_grad, device)


def _like(t: Tensor, dtype: Any) -> np.dtype:
    return t.dtype if dtype is None else as_dtype(dtype)


def zeros_like(input: Tensor, dtype: Any = None, requires_grad: builtins.bool = False,  # noqa: A002
        device: Any = None) -> Tensor:
    return _make(np.zeros(input.shape, dtype=_like(input, dtype)), requires_grad, device)


def ones_like(input: Tensor, dtype: Any = None, requires_grad: builtins.bool = False,  # noqa: A002
        device: Any = None) -> Tensor:
    return _make(np.ones(input.shape, dtype=_like(input, dtype)), requires_grad, device)


def empty_like(input: Tensor, dtype: Any = None, requires_grad: builtins.bool = False,  # noqa: A002
        device: Any = None) -> Tensor:
    return _make(np.empty(input.shape, dtype=_like(input, dtype)), requires_grad, device)


def full_like(input: Tensor, fill_value: Any, dtype: Any = None,  # noqa: A002
              requires_grad: builtins.bool = False, device: Any = None) -> Tensor:
    return _make(np.full(input.shape, fill_value, dtype=_like(input, dtype)), requires_grad, device)


def rand_like(input: Tensor, dtype: Any = None, requires_grad: builtins.bool = False,  # noqa: A002
        device: Any = None) -> Tensor:
    return rand(*input.shape, dtype=_like(input, dtype), requires_grad=requires_grad, device=device)


def randn_like(input: Tensor, dtype: Any = None, requires_grad: builtins.bool = False,  # noqa: A002
        device: Any = None) -> Tensor:
    return randn(*input.shape, dtype=_like(input, dtype), requires_grad=requires_grad, device=device)


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None,
           requires_grad: builtins.bool = False, device: Any = None) -> Tensor:
    """Values from ``start`` (default 0) up to, not including, ``end``. Integer arguments
    give int64; any float argument gives the default float dtype (as PyTorch)."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_float = any(isinstance(_raw(v), builtins.float | np.floating) for v in (start, end, step))
        dtype = _Defaults.dtype if is_float else int64
    return _make(np.arange(_raw(start), _raw(end), _raw(step)).astype(as_dtype(dtype)), requires_grad, device)


def linspace(start: builtins.float, end: builtins.float, steps: builtins.int, dtype: Any = None,
             requires_grad: builtins.bool = False, device: Any = None) -> Tensor:
    return _make(np.linspace(start, end, steps).astype(as_dtype(dtype)), requires_grad, device)


def eye(n: builtins.int, m: builtins.int | None = None, dtype: Any = None,
        requires_grad: builtins.bool = False, device: Any = None) -> Tensor:
    return _make(np.eye(n, m, dtype=as_dtype(dtype)), requires_grad, device)


def rand(*size: Any, generator: Generator | None = None, dtype: Any = None,
         requires_grad: builtins.bool = False, device: Any = None) -> Tensor:
    """Uniform samples in [0, 1), from chainrule's seeded generator (see ``manual_seed``)."""
    array = _generator(generator).random(_shape_of(size), dtype=np.float64).astype(as_dtype(dtype))
    return _make(array, requires_grad, device)


def randn(*size: Any, generator: Generator | None = None, dtype: Any = None,
          requires_grad: builtins.bool = False, device: Any = None) -> Tensor:
    """Standard normal samples, from chainrule's seeded generator (see ``manual_seed``)."""
    array = _generator(generator).standard_normal(_shape_of(size)).astype(as_dtype(dtype))
    return _make(array, requires_grad, device)


def randint(low: builtins.int, high: builtins.int | None = None, size: Sequence[builtins.int] = (),
            generator: Generator | None = None, dtype: Any = None, device: Any = None,
            requires_grad: builtins.bool = False) -> Tensor:
    if high is None:
        low, high = 0, low
    array = _generator(generator).integers(low, high, size=tuple(size))
    return _make(array.astype(int64 if dtype is None else as_dtype(dtype)), requires_grad, device)


def randperm(n: builtins.int, generator: Generator | None = None, dtype: Any = None,
             device: Any = None, requires_grad: builtins.bool = False) -> Tensor:
    permutation = _generator(generator).permutation(n)
    return _make(permutation.astype(int64 if dtype is None else as_dtype(dtype)), requires_grad, device)


def normal(mean: builtins.float, std: builtins.float, size: Sequence[builtins.int],
           generator: Generator | None = None, dtype: Any = None, device: Any = None,
           requires_grad: builtins.bool = False) -> Tensor:
    samples = _generator(generator).normal(mean, std, tuple(size)).astype(as_dtype(dtype))
    return _make(samples, requires_grad, device)


def equal(input: Tensor, other: Tensor) -> builtins.bool:  # noqa: A002
    """True if both tensors have the same shape and elements (as ``torch.equal``).

    Example::

        >>> equal(chainrule.ones(2), chainrule.ones(2))
        True
    """
    return input.shape == other.shape and builtins.bool(np.array_equal(input.array, other.array))


def is_tensor(obj: Any) -> builtins.bool:
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> builtins.int:  # noqa: A002
    return input.numel()


# Tensor's methods and operators are attached by chainrule.ops (each next to its op).
from chainrule import ops as _ops  # noqa: E402,F401
