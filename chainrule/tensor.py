"""``Tensor``: a NumPy array plus what backpropagation needs.

A Tensor holds ``array`` (a ``numpy.ndarray``), ``requires_grad``, ``grad`` and ``grad_fn`` (the
op node that made it, ``None`` for a leaf). ``data`` is PyTorch's: a Tensor sharing the memory,
outside autograd. Its methods and operators hand off to the ops in
``chainrule.ops``; NumPy arrays and Python scalars mix freely with tensors. The functions
that make tensors live in ``chainrule.creation``, dtypes in ``chainrule.dtypes``, random state
in ``chainrule.random``, printing in ``chainrule.printing``.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.devices import CPU, check_cpu, device, parse_to_arguments
from chainrule.dtypes import as_dtype, bool, float16, float32, float64, get_default_dtype, int32, int64
from chainrule.grad_mode import GRAD_MODE
from chainrule.printing import tensor_repr
from chainrule.random import numpy_generator

if TYPE_CHECKING:
    from collections.abc import Sequence

    from chainrule.random import Generator
    from chainrule.torch_functions import SortResult


def as_array(data: Any, dtype: Any = None) -> np.ndarray:
    """The array behind a new tensor made from ``data``. Python floats become the default
    dtype (float32), Python ints int64, NumPy arrays keep their dtype (as ``torch.tensor`` does)."""
    if isinstance(data, Tensor):
        data = data.array
    if dtype is not None:
        return np.array(data, dtype=as_dtype(dtype))
    array = np.array(data)
    if array.dtype.kind == "f" and not isinstance(data, np.ndarray | np.generic):
        array = array.astype(get_default_dtype(), copy=False)
    elif array.dtype.kind in "iu" and not isinstance(data, np.ndarray | np.generic):
        array = array.astype(np.int64, copy=False)
    elif array.dtype.kind not in "fiub":
        raise TypeError(
            f"cannot make a tensor from {type(data).__name__} data of NumPy dtype {array.dtype}; "
            "give numbers, nested lists of numbers, or a numeric NumPy array"
        )
    return array


class Size(tuple[int, ...]):
    """A tensor's shape, as ``torch.Size``: a tuple of ints (equal to one, printed as one) that
    also has ``numel()``.

    Example::

        >>> chainrule.zeros(2, 3).shape.numel()
        6
    """

    __slots__ = ()

    def numel(self) -> builtins.int:
        return builtins.int(np.prod(self, dtype=np.int64))

    # A slice of a shape, or a shape with dimensions added, is a shape again (as in PyTorch:
    # scripts write ``x.shape[1:].numel()`` and ``x.shape[:1] + (10,)``).
    def __getitem__(self, index: Any) -> Any:
        item = tuple.__getitem__(self, index)
        return Size(item) if isinstance(index, slice) else item

    def __add__(self, other: Any) -> Any:
        return Size(tuple.__add__(self, other)) if isinstance(other, tuple) else NotImplemented

    def __radd__(self, other: Any) -> Any:
        return Size(tuple.__add__(other, self)) if isinstance(other, tuple) else NotImplemented

    def __mul__(self, count: Any) -> Any:
        return Size(tuple.__mul__(self, count))

    __rmul__ = __mul__


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
    array: np.ndarray
    requires_grad: builtins.bool
    grad_fn: Any  # the op node (an autograd Function) that made this tensor; None for a leaf
    _vc: list[builtins.int]  # version counter, shared with every view of the same memory

    def __init__(self, data: Any, dtype: Any = None, requires_grad: builtins.bool = False) -> None:
        self.array = as_array(data, dtype)
        self._grad: Tensor | None = None
        self.grad_fn = None
        self._vc = [0]
        self._hooks: list[Any] | None = None  # hooks on the gradient, post-accumulate hooks
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
        if self.requires_grad and GRAD_MODE.get() and self.grad_fn is not None:
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
        if len(self._vc) == 1:
            self._vc.append(1)  # shared: see chainrule.autograd.function.shared_counter
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
        return self.shape == other.shape and builtins.bool(np.array_equal(self.array, other.array))

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
        (_AUTOGRAD or _autograd()).backward(self, gradient, retain_graph=retain_graph,
                                            create_graph=create_graph)

    # ---------------------------------------------------------------------------- display
    def __repr__(self) -> str:
        return tensor_repr(self)

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
    def _check_inplace(self, name: str, *sources: Any) -> builtins.bool:
        """Count an in-place change of this tensor, or return True when it must be recorded in
        the graph instead: this tensor or a value written into it (``sources``) requires grad
        while operations are recorded. The method then calls ``_record_inplace``
        (see :mod:`chainrule.ops.inplace`, which also says what it refuses)."""
        if GRAD_MODE.get() and (self.requires_grad or _any_requires_grad(sources)):
            from chainrule.ops.inplace import check_recordable

            check_recordable(self, name)
            return True
        self._vc[0] += 1
        return False

    def _record_inplace(self, name: str, *args: Any, **kwargs: Any) -> Tensor:
        from chainrule.ops.inplace import record_inplace

        return record_inplace(self, name, *args, **kwargs)

    def _inplace(self, name: str, result: Any) -> Tensor:
        """Write ``result``, an array with no gradient of its own (a constant such as a random
        fill), into this tensor; recorded as a fill when the tensor requires grad."""
        if self._check_inplace(name):
            return self._record_inplace("fill_", Tensor._wrap(np.asarray(result)))
        self.array[...] = result
        return self

    def _check_result_fits(self, name: str, other: Any, true_divide: builtins.bool = False) -> None:
        """PyTorch refuses an in-place op whose result cannot be stored in this tensor's dtype
        (``int_tensor.add_(0.5)``) instead of truncating; only non-floating tensors can fail."""
        from chainrule.promotion import can_cast, result_type

        result = result_type(self, other)
        if true_divide and result.kind != "f":
            result = get_default_dtype()
        if not can_cast(result, self.array.dtype):
            raise RuntimeError(
                f"{name}: the result has dtype {result}, which can't be stored in this {self.array.dtype} "
                f"tensor; use the out-of-place op, or convert first (e.g. x = x.float())"
            )

    def add_(self, other: Any, alpha: Any = 1) -> Tensor:
        if self._check_inplace("add_", other):
            return self._record_inplace("add_", other, alpha=alpha)
        other = _raw_scalar(other, self.array.dtype)
        if self.array.dtype.kind != "f":
            self._check_result_fits("add_", other if alpha == 1 else alpha)
        if alpha == 1:
            np.add(self.array, other, out=self.array, casting="unsafe")
        else:
            np.add(self.array, np.multiply(other, alpha), out=self.array, casting="unsafe")
        return self

    def sub_(self, other: Any, alpha: Any = 1) -> Tensor:
        return self.add_(other, alpha=-alpha)

    def mul_(self, other: Any) -> Tensor:
        if self._check_inplace("mul_", other):
            return self._record_inplace("mul_", other)
        other = _raw_scalar(other, self.array.dtype)
        if self.array.dtype.kind != "f":
            self._check_result_fits("mul_", other)
        np.multiply(self.array, other, out=self.array, casting="unsafe")
        return self

    def div_(self, other: Any) -> Tensor:
        if self.array.dtype.kind != "f":
            self._check_result_fits("div_", other, true_divide=True)
        if self._check_inplace("div_", other):
            return self._record_inplace("div_", other)
        np.divide(self.array, _raw(other), out=self.array, casting="unsafe")
        return self

    def addcmul_(self, tensor1: Any, tensor2: Any, value: Any = 1) -> Tensor:
        if self._check_inplace("addcmul_", tensor1, tensor2):
            return self._record_inplace("addcmul_", tensor1, tensor2, value=value)
        self.array += value * (_raw(tensor1) * _raw(tensor2))
        return self

    def addcdiv_(self, tensor1: Any, tensor2: Any, value: Any = 1) -> Tensor:
        if self._check_inplace("addcdiv_", tensor1, tensor2):
            return self._record_inplace("addcdiv_", tensor1, tensor2, value=value)
        self.array += value * (_raw(tensor1) / _raw(tensor2))
        return self

    def lerp_(self, end: Any, weight: Any) -> Tensor:
        if self._check_inplace("lerp_", end, weight):
            return self._record_inplace("lerp_", end, weight)
        self.array += weight * (_raw(end) - self.array)
        return self

    def sqrt_(self) -> Tensor:
        if self._check_inplace("sqrt_"):
            return self._record_inplace("sqrt_")
        self.array[...] = np.sqrt(self.array)
        return self

    def zero_(self) -> Tensor:
        return self._inplace("zero_", 0)

    def fill_(self, value: Any) -> Tensor:
        if self._check_inplace("fill_", value):
            return self._record_inplace("fill_", value)
        self.array[...] = _raw(value)
        return self

    def copy_(self, source: Any) -> Tensor:
        original, source = source, _raw(source)
        if np.shape(source) != self.shape:
            try:
                np.broadcast_to(source, self.shape)
            except ValueError:
                raise RuntimeError(
                    f"copy_: can't copy a source of shape {tuple(np.shape(source))} into a "
                    f"tensor of shape {tuple(self.shape)}"
                ) from None
        if self._check_inplace("copy_", original):
            return self._record_inplace("copy_", original)
        self.array[...] = source
        return self

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        if self._check_inplace("clamp_", min, max):
            return self._record_inplace("clamp_", min, max)
        self.array[...] = np.clip(self.array, _raw(min), _raw(max))
        return self

    def uniform_(self, a: builtins.float = 0.0, b: builtins.float = 1.0) -> Tensor:
        return self._inplace("uniform_", numpy_generator().uniform(a, b, self.shape))

    def normal_(self, mean: builtins.float = 0.0, std: builtins.float = 1.0) -> Tensor:
        return self._inplace("normal_", numpy_generator().normal(mean, std, self.shape))

    def bernoulli_(self, p: builtins.float = 0.5) -> Tensor:
        return self._inplace("bernoulli_", numpy_generator().random(self.shape) < p)

    def exponential_(self, lambd: builtins.float = 1.0) -> Tensor:
        return self._inplace("exponential_", numpy_generator().exponential(1.0 / lambd, self.shape))

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        if self._check_inplace("masked_fill_", value):
            return self._record_inplace("masked_fill_", mask, value)
        np.copyto(self.array, _raw(value), where=np.broadcast_to(_raw(mask), self.shape))
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        from chainrule.ops.movement import normalize_index

        if self._check_inplace("__setitem__ (indexed assignment)", value):
            self._record_inplace("__setitem__", index, value)
            return
        self.array[normalize_index(index)] = _raw(value)

    def _rebinds_inplace(self) -> builtins.bool:
        """Whether ``x += y`` binds ``x`` to a new tensor instead of changing it in place: for a
        leaf that requires grad, or a view of one that does, while operations are recorded, the
        two cases an in-place change cannot be recorded (``x.add_(y)`` raises for them)."""
        return self.requires_grad and GRAD_MODE.get() and (self.grad_fn is None or len(self._vc) > 1)

    def __iadd__(self, other: Any) -> Tensor:  # type: ignore[misc]  # no alpha/rounding_mode
        if self._rebinds_inplace():
            return self + other
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:  # type: ignore[misc]  # no alpha/rounding_mode
        if self._rebinds_inplace():
            return self - other
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        if self._rebinds_inplace():
            return self * other
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:  # type: ignore[misc]  # no alpha/rounding_mode
        if self._rebinds_inplace():
            return self / other
        return self.div_(other)


    # ------------------------------------------------------------- methods the ops attach
    if TYPE_CHECKING:
        # Each op module attaches its methods and operators to Tensor when imported (next to
        # the op, with no wrapper frame on the per-op path); declared here, never run, so
        # that type checkers and editors see the whole API. tests/test_tensor_api.py checks
        # that these declarations and what the modules attach agree, name and parameters.
        # chainrule.ops.elementwise
        def __add__(self, other: Any, *, alpha: Any = 1) -> Tensor: ...
        def __radd__(self, other: Any) -> Tensor: ...
        def __sub__(self, other: Any, *, alpha: Any = 1) -> Tensor: ...
        def __rsub__(self, other: Any) -> Tensor: ...
        def __mul__(self, other: Any) -> Tensor: ...
        def __rmul__(self, other: Any) -> Tensor: ...
        def __truediv__(self, other: Any, *, rounding_mode: str | None = None) -> Tensor: ...
        def __rtruediv__(self, other: Any) -> Tensor: ...
        def __pow__(self, exponent: Any) -> Tensor: ...
        def __rpow__(self, other: Any) -> Tensor: ...
        def __neg__(self) -> Tensor: ...
        def __pos__(self) -> Tensor: ...
        def __abs__(self) -> Tensor: ...
        def add(self, other: Any, *, alpha: Any = 1) -> Tensor: ...
        def sub(self, other: Any, *, alpha: Any = 1) -> Tensor: ...
        def subtract(self, other: Any, *, alpha: Any = 1) -> Tensor: ...
        def mul(self, other: Any) -> Tensor: ...
        def multiply(self, other: Any) -> Tensor: ...
        def div(self, other: Any, *, rounding_mode: str | None = None) -> Tensor: ...
        def divide(self, other: Any, *, rounding_mode: str | None = None) -> Tensor: ...
        def neg(self) -> Tensor: ...
        def negative(self) -> Tensor: ...
        def pow(self, exponent: Any) -> Tensor: ...
        def exp(self) -> Tensor: ...
        def log(self) -> Tensor: ...
        def log1p(self) -> Tensor: ...
        def sqrt(self) -> Tensor: ...
        def rsqrt(self) -> Tensor: ...
        def square(self) -> Tensor: ...
        def abs(self) -> Tensor: ...
        def sin(self) -> Tensor: ...
        def cos(self) -> Tensor: ...
        def asin(self) -> Tensor: ...
        def arcsin(self) -> Tensor: ...
        def acos(self) -> Tensor: ...
        def arccos(self) -> Tensor: ...
        def atan(self) -> Tensor: ...
        def arctan(self) -> Tensor: ...
        def atan2(self, other: Any) -> Tensor: ...
        def arctan2(self, other: Any) -> Tensor: ...
        # chainrule.array_functions
        def movedim(self, source: Any, destination: Any) -> Tensor: ...
        def moveaxis(self, source: Any, destination: Any) -> Tensor: ...
        def swapdims(self, dim0: builtins.int, dim1: builtins.int) -> Tensor: ...
        def ravel(self) -> Tensor: ...
        def diagonal(self, offset: builtins.int = 0, dim1: builtins.int = 0,
                     dim2: builtins.int = 1) -> Tensor: ...
        def trace(self) -> Tensor: ...
        def diag_embed(self, offset: builtins.int = 0, dim1: builtins.int = -2,
                       dim2: builtins.int = -1) -> Tensor: ...
        def tile(self, dims: Any) -> Tensor: ...
        def repeat_interleave(self, repeats: Any = None, dim: builtins.int | None = None, *,
                              output_size: builtins.int | None = None) -> Tensor: ...
        def fliplr(self) -> Tensor: ...
        def flipud(self) -> Tensor: ...
        def rot90(self, k: builtins.int = 1, dims: Any = (0, 1)) -> Tensor: ...
        def tensor_split(self, indices_or_sections: Any, dim: builtins.int = 0) -> tuple[Tensor, ...]: ...
        def hsplit(self, sections: Any) -> tuple[Tensor, ...]: ...
        def vsplit(self, sections: Any) -> tuple[Tensor, ...]: ...
        def kthvalue(self, k: builtins.int, dim: builtins.int = -1,
                     keepdim: builtins.bool = False) -> Any: ...
        def median(self, dim: builtins.int | None = None, keepdim: builtins.bool = False) -> Any: ...
        def aminmax(self, *, dim: builtins.int | None = None, keepdim: builtins.bool = False) -> Any: ...
        def cummax(self, dim: builtins.int) -> Any: ...
        def cummin(self, dim: builtins.int) -> Any: ...
        def diff(self, n: builtins.int = 1, dim: builtins.int = -1, prepend: Tensor | None = None,
                 append: Tensor | None = None) -> Tensor: ...
        def cross(self, other: Tensor, dim: builtins.int | None = None) -> Tensor: ...
        def kron(self, other: Tensor) -> Tensor: ...
        def dist(self, other: Tensor, p: builtins.float = 2) -> Tensor: ...
        def matrix_power(self, n: builtins.int) -> Tensor: ...
        def copysign(self, other: Any) -> Tensor: ...
        def signbit(self) -> Tensor: ...
        def heaviside(self, values: Tensor) -> Tensor: ...
        def erfc(self) -> Tensor: ...
        def bincount(self, weights: Tensor | None = None, minlength: builtins.int = 0) -> Tensor: ...
        def histc(self, bins: builtins.int = 100, min: builtins.float = 0,
                  max: builtins.float = 0) -> Tensor: ...
        # chainrule.ops.unary
        def tan(self) -> Tensor: ...
        def sinh(self) -> Tensor: ...
        def cosh(self) -> Tensor: ...
        def asinh(self) -> Tensor: ...
        def arcsinh(self) -> Tensor: ...
        def acosh(self) -> Tensor: ...
        def arccosh(self) -> Tensor: ...
        def atanh(self) -> Tensor: ...
        def arctanh(self) -> Tensor: ...
        def expm1(self) -> Tensor: ...
        def exp2(self) -> Tensor: ...
        def log2(self) -> Tensor: ...
        def log10(self) -> Tensor: ...
        def reciprocal(self) -> Tensor: ...
        def trunc(self) -> Tensor: ...
        def fix(self) -> Tensor: ...
        def frac(self) -> Tensor: ...
        def logit(self, eps: builtins.float | None = None) -> Tensor: ...
        def xlogy(self, other: Any) -> Tensor: ...
        def fmod(self, other: Any) -> Tensor: ...
        def logaddexp(self, other: Tensor) -> Tensor: ...
        def logaddexp2(self, other: Tensor) -> Tensor: ...
        def hypot(self, other: Tensor) -> Tensor: ...
        def positive(self) -> Tensor: ...
        def clamp_min(self, min: Any) -> Tensor: ...
        def clamp_max(self, max: Any) -> Tensor: ...
        def addcmul(self, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor: ...
        def addcdiv(self, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor: ...
        def nansum(self, dim: Any = None, keepdim: builtins.bool = False, *,
                   dtype: Any = None) -> Tensor: ...
        def nanmean(self, dim: Any = None, keepdim: builtins.bool = False, *,
                    dtype: Any = None) -> Tensor: ...
        def tanh(self) -> Tensor: ...
        def sigmoid(self) -> Tensor: ...
        def relu(self) -> Tensor: ...
        # in-place twins, attached by chainrule.ops.inplace
        def relu_(self) -> Tensor: ...
        def sigmoid_(self) -> Tensor: ...
        def tanh_(self) -> Tensor: ...
        def exp_(self) -> Tensor: ...
        def log_(self) -> Tensor: ...
        def log1p_(self) -> Tensor: ...
        def neg_(self) -> Tensor: ...
        def abs_(self) -> Tensor: ...
        def sign_(self) -> Tensor: ...
        def sin_(self) -> Tensor: ...
        def cos_(self) -> Tensor: ...
        def floor_(self) -> Tensor: ...
        def ceil_(self) -> Tensor: ...
        def square_(self) -> Tensor: ...
        def rsqrt_(self) -> Tensor: ...
        def pow_(self, exponent: Any) -> Tensor: ...
        def clamp_min_(self, min: Any) -> Tensor: ...  # noqa: A002
        def clamp_max_(self, max: Any) -> Tensor: ...  # noqa: A002
        def erf(self) -> Tensor: ...
        def clamp(self, min: Any = None, max: Any = None) -> Tensor: ...
        def clip(self, min: Any = None, max: Any = None) -> Tensor: ...
        def maximum(self, other: Any) -> Tensor: ...
        def minimum(self, other: Any) -> Tensor: ...
        def sign(self) -> Tensor: ...
        def floor(self) -> Tensor: ...
        def ceil(self) -> Tensor: ...
        def round(self, decimals: builtins.int = 0) -> Tensor: ...
        def isnan(self) -> Tensor: ...
        def isinf(self) -> Tensor: ...
        def isfinite(self) -> Tensor: ...
        def where(self, condition: Any, other: Any) -> Tensor: ...
        def __eq__(self, other: Any) -> Tensor: ...  # type: ignore[override]  # elementwise, as PyTorch's
        def __ne__(self, other: Any) -> Tensor: ...  # type: ignore[override]  # elementwise, as PyTorch's
        def __lt__(self, other: Any) -> Tensor: ...
        def __le__(self, other: Any) -> Tensor: ...
        def __gt__(self, other: Any) -> Tensor: ...
        def __ge__(self, other: Any) -> Tensor: ...
        def eq(self, other: Any) -> Tensor: ...
        def ne(self, other: Any) -> Tensor: ...
        def lt(self, other: Any) -> Tensor: ...
        def le(self, other: Any) -> Tensor: ...
        def gt(self, other: Any) -> Tensor: ...
        def ge(self, other: Any) -> Tensor: ...
        def __and__(self, other: Any) -> Tensor: ...
        def __or__(self, other: Any) -> Tensor: ...
        def __xor__(self, other: Any) -> Tensor: ...
        def __invert__(self) -> Tensor: ...
        def logical_not(self) -> Tensor: ...
        def __floordiv__(self, other: Any) -> Tensor: ...
        def __mod__(self, other: Any) -> Tensor: ...
        def remainder(self, other: Any) -> Tensor: ...
        # chainrule.ops.linalg
        def __matmul__(self, other: Any) -> Tensor: ...
        def __rmatmul__(self, other: Any) -> Tensor: ...
        def matmul(self, other: Any) -> Tensor: ...
        def mm(self, mat2: Tensor) -> Tensor: ...
        def bmm(self, mat2: Tensor) -> Tensor: ...
        def dot(self, other: Tensor) -> Tensor: ...
        def outer(self, vec2: Tensor) -> Tensor: ...
        def det(self) -> Tensor: ...
        def slogdet(self) -> Any: ...
        def logdet(self) -> Tensor: ...
        def inverse(self) -> Tensor: ...
        # chainrule.ops.movement
        def reshape(self, *shape: Any) -> Tensor: ...
        def view(self, *shape: Any) -> Tensor: ...
        def flatten(self, start_dim: builtins.int = 0, end_dim: builtins.int = -1) -> Tensor: ...
        def unflatten(self, dim: builtins.int, sizes: Sequence[builtins.int]) -> Tensor: ...
        def permute(self, *dims: Any) -> Tensor: ...
        def transpose(self, dim0: builtins.int, dim1: builtins.int) -> Tensor: ...
        def t(self) -> Tensor: ...
        def unsqueeze(self, dim: builtins.int) -> Tensor: ...
        def squeeze(self, dim: Any = None) -> Tensor: ...
        def expand(self, *sizes: Any) -> Tensor: ...
        def expand_as(self, other: Tensor) -> Tensor: ...
        def repeat(self, *sizes: Any) -> Tensor: ...
        def split(self, split_size_or_sections: Any, dim: builtins.int = 0) -> tuple[Tensor, ...]: ...
        def chunk(self, chunks: builtins.int, dim: builtins.int = 0) -> tuple[Tensor, ...]: ...
        def unbind(self, dim: builtins.int = 0) -> tuple[Tensor, ...]: ...
        def narrow(self, dim: builtins.int, start: builtins.int, length: builtins.int) -> Tensor: ...
        def select(self, dim: builtins.int, index: builtins.int) -> Tensor: ...
        def flip(self, *dims: Any) -> Tensor: ...
        def index_select(self, dim: builtins.int, index: Tensor) -> Tensor: ...
        def gather(self, dim: builtins.int, index: Tensor) -> Tensor: ...
        def masked_fill(self, mask: Any, value: Any) -> Tensor: ...
        def tril(self, diagonal: builtins.int = 0) -> Tensor: ...
        def triu(self, diagonal: builtins.int = 0) -> Tensor: ...
        def scatter(self, dim: builtins.int, index: Tensor, src: Any = None, *, value: Any = None,
                    reduce: str | None = None) -> Tensor: ...
        def scatter_add(self, dim: builtins.int, index: Tensor, src: Tensor) -> Tensor: ...
        def scatter_(self, *args: Any, **kwargs: Any) -> Tensor: ...
        def scatter_add_(self, *args: Any, **kwargs: Any) -> Tensor: ...
        def view_as(self, other: Any) -> Tensor: ...
        def reshape_as(self, other: Any) -> Tensor: ...
        def swapaxes(self, dim0: builtins.int, dim1: builtins.int) -> Tensor: ...
        def __getitem__(self, index: Any) -> Tensor: ...
        # chainrule.ops.reduce
        def sum(self, dim: Any = None, keepdim: builtins.bool = False, *, dtype: Any = None) -> Tensor: ...
        def mean(self, dim: Any = None, keepdim: builtins.bool = False, *, dtype: Any = None) -> Tensor: ...
        def var(self, dim: Any = None, unbiased: builtins.bool | None = None, keepdim: builtins.bool = False,
                *, correction: builtins.int | None = None) -> Tensor: ...
        def std(self, dim: Any = None, unbiased: builtins.bool | None = None, keepdim: builtins.bool = False,
                *, correction: builtins.int | None = None) -> Tensor: ...
        def logsumexp(self, dim: Any, keepdim: builtins.bool = False) -> Tensor: ...
        def prod(self, dim: builtins.int | None = None, keepdim: builtins.bool = False) -> Tensor: ...
        def cumsum(self, dim: builtins.int) -> Tensor: ...
        def norm(self, p: Any = "fro", dim: Any = None, keepdim: builtins.bool = False) -> Tensor: ...
        def argmax(self, dim: builtins.int | None = None, keepdim: builtins.bool = False) -> Tensor: ...
        def argmin(self, dim: builtins.int | None = None, keepdim: builtins.bool = False) -> Tensor: ...
        def all(self, dim: builtins.int | None = None, keepdim: builtins.bool = False) -> Tensor: ...
        def any(self, dim: builtins.int | None = None, keepdim: builtins.bool = False) -> Tensor: ...
        def amax(self, dim: Any = (), keepdim: builtins.bool = False) -> Tensor: ...
        def amin(self, dim: Any = (), keepdim: builtins.bool = False) -> Tensor: ...
        def max(self, dim: Any = None, keepdim: builtins.bool = False) -> Any: ...
        def min(self, dim: Any = None, keepdim: builtins.bool = False) -> Any: ...
        def count_nonzero(self, dim: Any = None) -> Tensor: ...
        # chainrule.torch_functions
        def new_zeros(self, *size: Any, dtype: Any = None, device: Any = None,
                      requires_grad: builtins.bool = False) -> Tensor: ...
        def new_ones(self, *size: Any, dtype: Any = None, device: Any = None,
                     requires_grad: builtins.bool = False) -> Tensor: ...
        def new_empty(self, *size: Any, dtype: Any = None, device: Any = None,
                      requires_grad: builtins.bool = False) -> Tensor: ...
        def new_full(self, size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None,
                     requires_grad: builtins.bool = False) -> Tensor: ...
        def new_tensor(self, data: Any, *, dtype: Any = None, device: Any = None,
                       requires_grad: builtins.bool = False) -> Tensor: ...
        def sort(self, dim: builtins.int = -1, descending: builtins.bool = False,
                 stable: builtins.bool = False) -> SortResult: ...
        def argsort(self, dim: builtins.int = -1, descending: builtins.bool = False,
                    stable: builtins.bool = False) -> Tensor: ...
        def topk(self, k: builtins.int, dim: builtins.int = -1, largest: builtins.bool = True,
                 sorted: builtins.bool = True) -> SortResult: ...
        def roll(self, shifts: builtins.int | tuple[builtins.int, ...],
                 dims: builtins.int | tuple[builtins.int, ...] | None = None) -> Tensor: ...
        def diag(self, diagonal: builtins.int = 0) -> Tensor: ...
        def lerp(self, end: Any, weight: Any) -> Tensor: ...
        def nan_to_num(self, nan: builtins.float = 0.0, posinf: builtins.float | None = None,
                       neginf: builtins.float | None = None) -> Tensor: ...
        def type_as(self, other: Tensor) -> Tensor: ...
        def multinomial(self, num_samples: builtins.int, replacement: builtins.bool = False, *,
                        generator: Generator | None = None) -> Tensor: ...
        def nonzero(self, *, as_tuple: builtins.bool = False) -> Any: ...
        def unique(self, sorted: builtins.bool = True, return_inverse: builtins.bool = False,
                   return_counts: builtins.bool = False, dim: builtins.int | None = None) -> Any: ...
        def is_nonzero(self) -> builtins.bool: ...
        def is_complex(self) -> builtins.bool: ...
        def isclose(self, other: Any, rtol: builtins.float = 1e-05, atol: builtins.float = 1e-08,
                    equal_nan: builtins.bool = False) -> Tensor: ...
        def allclose(self, other: Any, rtol: builtins.float = 1e-05, atol: builtins.float = 1e-08,
                     equal_nan: builtins.bool = False) -> builtins.bool: ...
        def addmm(self, mat1: Tensor, mat2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor: ...
        def baddbmm(self, batch1: Tensor, batch2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor: ...
        def addmv(self, mat: Tensor, vec: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor: ...
        # chainrule.ops.activation
        def softmax(self, dim: builtins.int, dtype: object = None) -> Tensor: ...
        def log_softmax(self, dim: builtins.int, dtype: object = None) -> Tensor: ...


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


_AUTOGRAD: Any = None


def _cuda_device(index: Any) -> Any:
    """``x.cuda(1)`` names ``cuda:1``."""
    return f"cuda:{index}" if isinstance(index, builtins.int) else index


def _any_requires_grad(values: tuple[Any, ...]) -> builtins.bool:
    for value in values:
        if isinstance(value, Tensor) and value.requires_grad:
            return True
    return False


def _raw(value: Any) -> Any:
    return value.array if isinstance(value, Tensor) else value


def _raw_scalar(value: Any, dtype: np.dtype) -> Any:
    """``_raw``, with a Python int wrapped into an integer ``dtype`` as PyTorch does."""
    if type(value) is builtins.int and dtype.kind in "iu":
        from chainrule.promotion import wrap_int

        return wrap_int(value, dtype)
    return _raw(value)


# Tensor's methods and operators are attached by chainrule.ops (each next to its op).
from chainrule import ops as _ops  # noqa: E402,F401
