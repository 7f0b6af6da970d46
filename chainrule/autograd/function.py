"""``Function``: the base of every differentiable op, and the node it leaves in the graph.

An op is one small class with ``forward`` and ``backward`` side by side::

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):            # x is a NumPy array
            ctx.save_output()
            return np.exp(x)

        @staticmethod
        def backward(ctx, grad):        # grad is a Tensor
            return grad * ctx.saved_output

``forward`` works on raw NumPy arrays (and passes non-tensor arguments such as ``dim`` through
unchanged). ``backward`` works on Tensors with chainrule's own ops, so when the engine runs it
with recording on (``create_graph=True``) the gradient is itself differentiable. It returns one
gradient per positional argument of ``forward`` (``None`` where there is none), with any
broadcasting left in: the engine sums each gradient back to its input's shape once.

The instance made by ``apply`` is both the ``ctx`` of both methods and the graph node: it keeps
the edges to the nodes (or leaf tensors) of its inputs and what ``backward`` needs.

An output whose array shares memory with a tensor argument (a reshape, a slice, a transpose,
or the argument itself) is a view of it and shares its version counter, as PyTorch's views
do: an in-place change through either is seen by every backward that saved either.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from chainrule.autograd.anomaly import _AnomalyMode, check_forward
from chainrule.grad_mode import _GradMode

# The modes of the running thread, read on every op.
_grad_enabled = _GradMode.get
_anomaly_enabled = _AnomalyMode.get

#: chainrule's own ops (Function subclasses defined in the ``chainrule`` package), by class
#: name. The op test suite checks that each one is exercised, so names must be unique here.
#: A user's Function subclass is not entered: its name may be anything (``class Exp(Function)``
#: beside chainrule's ``Exp``), and a registry entry would keep every class made (say, in a
#: loop) alive for the life of the process.
OP_REGISTRY: dict[str, type[Function]] = {}

_FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or to read saved tensors after they "
    "were freed). The saved tensors of {op} were released by the first backward; pass "
    "retain_graph=True to the first backward() or autograd.grad() call if you need to "
    "backward through the graph again."
)


class Function:
    """Base class of ops; see the module docstring for how to write one."""

    # The engine tells graph nodes from leaf tensors by this flag (cheaper than isinstance).
    _is_node = True

    __slots__ = (
        "needs_input_grad",
        "requires_grad",
        "next_edges",
        "input_shapes",
        "input_dtypes",
        "_saved_index",
        "_saved",
        "_saved_versions",
        "_save_out",
        "_out_data",
        "_out_version",
        "_out_saved_version",
        "_freed",
        "_tensor_hooks",
        "_retained",
        "_anomaly_location",
        "__dict__",
        "__weakref__",
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__module__.startswith("chainrule."):
            return  # a user's op: see OP_REGISTRY
        existing = OP_REGISTRY.get(cls.__name__)
        if existing is not None and existing.__module__ != cls.__module__:
            # A silent replacement would hide the earlier op from the registry's checks.
            raise TypeError(
                f"an op named {cls.__name__} already exists in {existing.__module__}; chainrule's "
                f"op class names must be unique (rename the one in {cls.__module__})"
            )
        OP_REGISTRY[cls.__name__] = cls

    # ----------------------------------------------------------------- what an op implements
    @staticmethod
    def forward(ctx: Function, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Function, grad_output: Tensor) -> Any:
        raise NotImplementedError(f"{type(ctx).__name__} has no backward rule")

    # ------------------------------------------------------------------ recording a call
    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        """Run ``forward`` on the arrays behind ``args`` and, when any tensor argument
        requires grad and recording is on, link the result into the graph."""
        # This is the per-op hot path: plain loops and attribute stores only.
        ctx = _new_object(cls)
        if not _grad_enabled():  # no recording (e.g. during backward): no edges to collect
            return ctx._run_unrecorded(args, kwargs)
        raw = []
        needs = []
        edges = []
        shapes = []
        dtypes = []
        requires_grad = False
        for a in args:
            if isinstance(a, Tensor) and a.requires_grad:
                requires_grad = True
                data = a.data
                raw.append(data)
                needs.append(True)
                edges.append(a.grad_fn or a)
                shapes.append(data.shape)
                dtypes.append(data.dtype)
            else:
                raw.append(a.data if isinstance(a, Tensor) else a)
                needs.append(False)
                edges.append(None)
                shapes.append(None)
                dtypes.append(None)
        if requires_grad:
            ctx.requires_grad = True
            ctx.needs_input_grad = tuple(needs)
        else:
            requires_grad = False
            ctx.requires_grad = False
            ctx.needs_input_grad = _no_grads(len(args))
        ctx._saved_index = None
        ctx._save_out = False
        out_data = cls.forward(ctx, *raw, **kwargs)
        if _anomaly_enabled():
            check_forward(ctx, raw, out_data)

        out = _new_object(Tensor)
        out.data = out_data
        out.grad = None
        shares = out_data.base is not None
        if not shares:
            for item in raw:  # an op that returns an argument's array itself (inlined: hot path)
                if item is out_data:
                    shares = True
                    break
        out._vc = _counter_for(out_data, args) if shares else [0]
        out._hooks = None
        out.requires_grad = requires_grad
        if not requires_grad:
            out.grad_fn = None
            return out
        out.grad_fn = ctx
        ctx.next_edges = edges
        ctx.input_shapes = shapes
        ctx.input_dtypes = dtypes
        if ctx._saved_index is not None:
            saved = tuple([args[i] for i in ctx._saved_index])
            ctx._saved = saved
            ctx._saved_versions = tuple(
                [t._vc[0] if isinstance(t, Tensor) else None for t in saved]
            )
        if ctx._save_out:
            ctx._out_data = out_data
            ctx._out_version = out._vc
            ctx._out_saved_version = out._vc[0]
        ctx._freed = False
        ctx._tensor_hooks = None
        ctx._retained = None
        return out

    def _run_unrecorded(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
        """``apply`` with recording off: forward on the arrays, the result a plain Tensor."""
        self.requires_grad = False
        self.needs_input_grad = _no_grads(len(args))
        self._saved_index = None
        self._save_out = False
        raw = [a.data if isinstance(a, Tensor) else a for a in args]
        out_data = self.forward(self, *raw, **kwargs)
        if _anomaly_enabled():
            check_forward(self, raw, out_data)
        out = Tensor._wrap(out_data)
        shares = out_data.base is not None
        if not shares:
            for item in raw:  # as in apply
                if item is out_data:
                    shares = True
                    break
        if shares:
            out._vc = _counter_for(out_data, args)
        return out

    # ----------------------------------------------------------------- saving for backward
    def save_inputs(self, *indices: int) -> None:
        """Keep the positional arguments at ``indices`` for backward (read them back, as
        the original Tensors, from ``saved_inputs``). Keeping the Tensors rather than their
        arrays is what makes second-order gradients flow through them."""
        self._saved_index = indices

    def save_output(self) -> None:
        """Keep this op's output for backward (read it back from ``saved_output``)."""
        self._save_out = True

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep tensors that are not positional arguments of ``forward`` for backward, such as
        the index tensors inside an indexing key (``forward`` sees only their arrays); read
        them back from ``saved_tensors``, which raises if one was changed in place since, as
        ``saved_inputs`` does. Anything that is not a Tensor is kept as it is, unchecked."""
        self._kept = tensors
        self._kept_versions = tuple(
            [t._vc[0] if isinstance(t, Tensor) else None for t in tensors]
        )

    @property
    def saved_inputs(self) -> tuple[Any, ...]:
        if self._freed:
            raise RuntimeError(_FREED_MESSAGE.format(op=self.name()))
        _check_versions(self, self._saved, self._saved_versions)
        return self._saved

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        """What ``save_for_backward`` kept (empty if it was not called)."""
        if self._freed:
            raise RuntimeError(_FREED_MESSAGE.format(op=self.name()))
        kept = self.__dict__.get("_kept", ())
        if kept:
            _check_versions(self, kept, self._kept_versions)
        return kept

    @property
    def saved_output(self) -> Tensor:
        """The output as a Tensor whose ``grad_fn`` is this node, rebuilt on demand so the
        node does not keep its own output alive (which would be a reference cycle)."""
        if self._freed:
            raise RuntimeError(_FREED_MESSAGE.format(op=self.name()))
        data = self._out_data
        if self._out_version[0] != self._out_saved_version:
            raise RuntimeError(_modified_message(
                self, f"[{data.dtype} tensor of shape {tuple(data.shape)}], which is output 0 "
                f"of {self.name()},", self._out_saved_version, self._out_version[0]))
        out = Tensor._wrap(data)
        out._vc = self._out_version
        out.requires_grad = True
        out.grad_fn = self
        return out

    def release(self) -> None:
        """Drop everything kept for backward; called by the engine unless ``retain_graph``."""
        self._saved = None
        self._out_data = None
        if self.__dict__:
            self.__dict__.clear()
            self._freed = True
        elif self._saved_index is not None or self._save_out:
            self._freed = True

    # --------------------------------------------------------------------------- display
    @classmethod
    def name(cls) -> str:
        """PyTorch-style display name, e.g. ``MulBackward0``."""
        return f"{cls.__name__}Backward0"

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        """The nodes this one hands gradients to, as PyTorch shows them (leaf tensors appear
        as an ``AccumulateGrad`` marker)."""
        return tuple(
            (None if e is None else (e if e._is_node else AccumulateGrad(e)), 0)
            for e in self.next_edges
        )

    def __repr__(self) -> str:
        return f"<{self.name()} object at {id(self):#x}>"

    def register_hook(self, hook: Any) -> None:
        """Register ``hook(grad_output)`` called with the gradient flowing into this node."""
        if self._tensor_hooks is None:
            self._tensor_hooks = []
        self._tensor_hooks.append(hook)

    def _retain(self, tensor: Tensor) -> None:
        self._retained = weakref.ref(tensor)


class AccumulateGrad:
    """Display-only stand-in for a leaf tensor in ``next_functions``."""

    def __init__(self, variable: Tensor) -> None:
        self.variable = variable

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {id(self.variable):#x}>"


_new_object = object.__new__
_NO_GRADS = [(False,) * n for n in range(8)]


def _no_grads(count: int) -> tuple[bool, ...]:
    return _NO_GRADS[count] if count < 8 else (False,) * count


def _counter_for(array: np.ndarray, args: tuple[Any, ...]) -> list[int]:
    """The version counter of the tensor argument whose memory ``array`` shares (the output is
    a view of it, as NumPy decides: a reshape of a non-contiguous array, for one, is a copy),
    else a new counter."""
    # NumPy points a view's .base at the array that owns the memory, so only an argument with
    # the same owner can share memory; the exact (costlier) test runs for those alone, and an
    # op's view of its own temporary array costs an identity test per argument.
    owner = array if array.base is None else array.base
    for arg in args:
        if isinstance(arg, Tensor):
            data = arg.data
            if data is array or (
                (data if data.base is None else data.base) is owner and np.shares_memory(data, array)
            ):
                return arg._vc
    return [0]


def _check_versions(node: Function, tensors: tuple[Any, ...], versions: tuple[Any, ...]) -> None:
    for tensor, version in zip(tensors, versions):
        if version is not None and tensor._vc[0] != version:
            producer = tensor.grad_fn
            what = f"[{tensor.dtype} tensor of shape {tuple(tensor.shape)}]" + (
                "" if producer is None else f", which is output 0 of {producer.name()},")
            raise RuntimeError(_modified_message(node, what, version, tensor._vc[0]))


def _modified_message(node: Function, what: str, saved: int, now: int) -> str:
    # PyTorch's wording, so that its users (and their searches) recognise the error.
    return (
        f"one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: {what} is at version {now}; expected version {saved} instead. {node.name()} "
        f"saved it for its backward. Use an out-of-place op (e.g. x = x + y instead of "
        f"x.add_(y)), or clone() the tensor before changing it."
    )


from chainrule.tensor import Tensor  # noqa: E402  (Tensor's methods call ops, ops need Function)
