"""``Function``: the base of every differentiable op, and the node it leaves in the graph.

An op is one small class with ``forward`` and ``backward`` side by side::

    >>> class MyExp(Function):
    ...     @staticmethod
    ...     def forward(ctx, x):            # x is a NumPy array
    ...         ctx.save_output()
    ...         return np.exp(x)
    ...
    ...     @staticmethod
    ...     def backward(ctx, grad):        # grad is a Tensor
    ...         return grad * ctx.saved_output
    >>> x = chainrule.zeros(2, requires_grad=True)
    >>> MyExp.apply(x).sum().backward()
    >>> x.grad
    tensor([1., 1.])

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

An op with several results returns them from ``forward`` as a tuple of arrays; ``apply`` then
returns a tuple of Tensors, and ``backward`` receives one gradient per output (zeros for an
output nothing used, as PyTorch's ``materialize_grads``). Integer outputs, and those named by
``ctx.mark_non_differentiable(index, ...)``, never require grad:

>>> class MinMax(Function):
...     @staticmethod
...     def forward(ctx, x):
...         ctx.save_inputs(0)
...         return np.asarray(x.min()), np.asarray(x.max())
...
...     @staticmethod
...     def backward(ctx, grad_min, grad_max):
...         (x,) = ctx.saved_inputs
...         return grad_min * (x == x.min()) + grad_max * (x == x.max())
>>> x = chainrule.tensor([3.0, 1.0, 2.0], requires_grad=True)
>>> low, high = MinMax.apply(x)
>>> high.backward()  # the gradient of the unused output is materialised as zeros
>>> x.grad
tensor([1., 0., 0.])
"""

from __future__ import annotations

import weakref
from contextvars import ContextVar
from typing import Any

import numpy as np

from chainrule.autograd.anomaly import ANOMALY_MODE, check_forward
from chainrule.grad_mode import GRAD_MODE

# The modes of the running thread, read on every op.
_grad_enabled = GRAD_MODE.get
_anomaly_enabled = ANOMALY_MODE.get

#: While set to a list, every node recorded in the running thread is appended to it, in the
#: order made. This is how gradient checkpointing (``chainrule.utils.checkpoint``) tells the
#: nodes of a segment from those of the graph around it.
NodeLog: ContextVar[list[Any] | None] = ContextVar("chainrule.node_log", default=None)
_node_log = NodeLog.get

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

    # The engine tells graph nodes from leaf tensors by this flag (cheaper than isinstance),
    # and the stand-in nodes of a multi-output op's results (``OutputNode``) by the second.
    _is_node = True
    _is_output = False
    #: An op whose backward takes ``grad_destinations``: per input, None or the array of a
    #: leaf's ``.grad`` that the backward may add that input's gradient into itself (and
    #: then return None for it), sparing a full-size temporary; the engine passes it only
    #: when that gives the same sums in the same order (``engine._grad_destinations``).
    fills_grads = False

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
    # What the slots hold (set by apply, read by backward and the engine).
    needs_input_grad: tuple[bool, ...]
    requires_grad: bool
    next_edges: list[Any]
    input_shapes: list[Any]
    input_dtypes: list[Any]
    _saved_index: tuple[int, ...] | None
    _saved: Any
    _saved_versions: Any
    _save_out: bool
    _out_data: Any
    _out_version: list[int]
    _out_saved_version: int
    _freed: bool
    _tensor_hooks: list[Any] | None
    _retained: Any
    _anomaly_location: Any
    _non_differentiable: Any  # in __dict__: output indices that never require grad

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
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise NotImplementedError(f"{type(ctx).__name__} has no backward rule")

    # ------------------------------------------------------------------ recording a call
    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` on the arrays behind ``args`` and, when any tensor argument
        requires grad and recording is on, link the result into the graph."""
        # This is the per-op hot path: plain loops and attribute stores only.
        ctx = _new_object(cls)
        if not _grad_enabled():  # no recording (e.g. during backward): no edges to collect
            return ctx._run_unrecorded(args, kwargs)
        raw: list[Any] = []
        needs = []
        edges: list[Any] = []
        shapes: list[Any] = []
        dtypes: list[Any] = []
        requires_grad = False
        for a in args:
            if isinstance(a, Tensor):
                data = a.array
                raw.append(data)
                if a.requires_grad:
                    requires_grad = True
                    needs.append(True)
                    edges.append(a.grad_fn or a)
                    shapes.append(data.shape)
                    dtypes.append(data.dtype)
                    continue
            else:
                raw.append(a)
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
        try:
            out_data = cls.forward(ctx, *raw, **kwargs)
        except ValueError as error:
            raise _named_broadcast_error(cls, raw, error) from None
        if type(out_data) is tuple:
            return ctx._outputs(out_data, raw, args, edges, shapes, dtypes)
        if _anomaly_enabled():
            check_forward(ctx, raw, out_data)

        out = _new_object(Tensor)
        out.array = out_data
        out._grad = None
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
        ctx._record(args, edges, shapes, dtypes)
        if ctx._save_out:
            ctx._out_data = out_data
            ctx._out_version = out._vc
            ctx._out_saved_version = out._vc[0]
        return out

    def _record(self, args: tuple[Any, ...], edges: list[Any], shapes: list[Any], dtypes: list[Any]) -> None:
        """Link this node into the graph: its input edges and what backward reads."""
        self.next_edges = edges
        self.input_shapes = shapes
        self.input_dtypes = dtypes
        if self._saved_index is not None:
            saved = tuple([args[i] for i in self._saved_index])
            self._saved = saved
            self._saved_versions = tuple(
                [t._vc[0] if isinstance(t, Tensor) else None for t in saved]
            )
        self._freed = False
        self._tensor_hooks = None
        self._retained = None
        log = _node_log()
        if log is not None:
            log.append(self)

    def _outputs(self, arrays: tuple[Any, ...], raw: list[Any], args: tuple[Any, ...], edges: list[Any],
                 shapes: list[Any], dtypes: list[Any]) -> tuple[Tensor, ...]:
        """``apply``'s end for a forward that returned several arrays: one Tensor each, the
        differentiable ones linked to this node through an ``OutputNode`` apiece."""
        if _anomaly_enabled():
            for array in arrays:
                check_forward(self, raw, array)
        if self._save_out:
            raise TypeError(f"{type(self).__name__}.forward returned several outputs; save_output() "
                            "keeps a single one (save what backward needs on ctx instead)")
        outputs = tuple([Tensor._wrap(array) for array in arrays])
        if not self.requires_grad:
            return outputs
        constant = self.__dict__.pop("_non_differentiable", ())
        self.output_meta = tuple([(array.shape, array.dtype) for array in arrays])
        for index, out in enumerate(outputs):
            if out.dtype.kind == "f" and index not in constant:
                out.requires_grad = True
                out.grad_fn = OutputNode(self, index)
        self._record(args, edges, shapes, dtypes)
        return outputs

    def mark_non_differentiable(self, *indices: int) -> None:
        """In ``forward`` of a multi-output op: the outputs at ``indices`` (e.g. statistics kept
        for a running average) never require grad and get no gradient in backward."""
        self._non_differentiable = indices

    def _materialized(self, grads: list[Tensor | None]) -> list[Tensor]:
        """The gradients of a multi-output op's outputs, zeros where none arrived."""
        return [Tensor._wrap(np.zeros(shape, dtype=dtype)) if grad is None else grad
                for grad, (shape, dtype) in zip(grads, self.output_meta)]

    def _run_unrecorded(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor | tuple[Tensor, ...]:
        """``apply`` with recording off: forward on the arrays, the result a plain Tensor."""
        self.requires_grad = False
        self.needs_input_grad = _no_grads(len(args))
        self._saved_index = None
        self._save_out = False
        raw = []  # a loop, not a comprehension: Python 3.11 makes a frame for those
        for a in args:
            raw.append(a.array if isinstance(a, Tensor) else a)
        try:
            out_data = self.forward(self, *raw, **kwargs)
        except ValueError as error:
            raise _named_broadcast_error(type(self), raw, error) from None
        if type(out_data) is tuple:
            return self._outputs(out_data, raw, args, [], [], [])
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


def _named_broadcast_error(cls: type, raw: list[Any], error: ValueError) -> ValueError:
    """NumPy's broadcast message names no op: say which one, with the shapes that clashed.
    Any other ValueError is passed on as it is."""
    if "could not be broadcast" not in str(error):
        return error
    clashing = " and ".join(str(tuple(a.shape)) for a in raw if hasattr(a, "shape"))
    return ValueError(f"{cls.__name__}: shapes {clashing} cannot be broadcast together")


class OutputNode:
    """The ``grad_fn`` of one output of a multi-output op. Each output gets its own (so hooks,
    ``retain_grad`` and ``autograd.grad`` tell the outputs apart); the engine files the gradient
    arriving here under ``index`` and runs the op's backward once all its outputs are done."""

    _is_node = True
    _is_output = True
    __slots__ = ("function", "index", "next_edges", "input_shapes", "input_dtypes", "_tensor_hooks",
                 "_retained", "__weakref__")
    _freed = False

    def __init__(self, function: Function, index: int) -> None:
        self.function = function
        self.index = index
        self.next_edges = [function]
        self.input_shapes = [None]
        self.input_dtypes = [None]
        self._tensor_hooks = None
        self._retained = None

    def name(self) -> str:
        return self.function.name()

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        return self.function.next_functions

    def __repr__(self) -> str:
        return f"<{self.name()} object at {id(self.function):#x} (output {self.index})>"

    register_hook = Function.register_hook
    _retain = Function._retain


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
            data = arg.array
            if data is array or (
                (data if data.base is None else data.base) is owner and np.shares_memory(data, array)
            ):
                return shared_counter(arg)
    return [0]


def shared_counter(tensor: Tensor) -> list[int]:
    """``tensor``'s version counter, marked as shared by another tensor (a view of it): a second
    item tells in-place methods that a change recorded for autograd could not reach every
    tensor of the memory (``chainrule.ops.inplace``)."""
    counter = tensor._vc
    if len(counter) == 1:
        counter.append(1)
    return counter


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
