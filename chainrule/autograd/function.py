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
"""

from __future__ import annotations

import weakref
from typing import Any

from chainrule.autograd.anomaly import _AnomalyMode, check_forward
from chainrule.grad_mode import _GradMode

#: Every Function subclass, by name. The op test suite checks that each one is exercised.
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
        "_saved_index",
        "_saved",
        "_saved_versions",
        "_save_out",
        "_out_data",
        "_out_version",
        "_freed",
        "_tensor_hooks",
        "_retained",
        "_anomaly_location",
        "__dict__",
        "__weakref__",
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        existing = OP_REGISTRY.get(cls.__name__)
        if existing is not None and existing.__module__ != cls.__module__:
            # A silent replacement would hide the earlier op from the registry's checks.
            raise TypeError(
                f"an op named {cls.__name__} already exists in {existing.__module__}; op class "
                f"names must be unique (rename the one in {cls.__module__})"
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
        if not _GradMode.enabled:  # no recording (e.g. during backward): no edges to collect
            return ctx._run_unrecorded(args, kwargs)
        raw = []
        needs = []
        edges = []
        shapes = []
        requires_grad = False
        for a in args:
            if isinstance(a, Tensor) and a.requires_grad:
                requires_grad = True
                data = a.array
                raw.append(data)
                needs.append(True)
                edges.append(a.grad_fn or a)
                shapes.append(data.shape)
            else:
                raw.append(a.array if isinstance(a, Tensor) else a)
                needs.append(False)
                edges.append(None)
                shapes.append(None)
        if requires_grad and _GradMode.enabled:
            ctx.requires_grad = True
            ctx.needs_input_grad = tuple(needs)
        else:
            requires_grad = False
            ctx.requires_grad = False
            ctx.needs_input_grad = _no_grads(len(args))
        ctx._saved_index = None
        ctx._save_out = False
        out_data = cls.forward(ctx, *raw, **kwargs)
        if _AnomalyMode.enabled:
            check_forward(ctx, raw, out_data)

        out = _new_object(Tensor)
        out.array = out_data
        out._grad = None
        out._vc = [0]
        out._hooks = None
        out.requires_grad = requires_grad
        if not requires_grad:
            out.grad_fn = None
            return out
        out.grad_fn = ctx
        ctx.next_edges = edges
        ctx.input_shapes = shapes
        if ctx._saved_index is not None:
            saved = tuple([args[i] for i in ctx._saved_index])
            ctx._saved = saved
            ctx._saved_versions = tuple(
                [t._vc[0] if isinstance(t, Tensor) else None for t in saved]
            )
        if ctx._save_out:
            ctx._out_data = out_data
            ctx._out_version = out._vc
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
        raw = [a.array if isinstance(a, Tensor) else a for a in args]
        out_data = self.forward(self, *raw, **kwargs)
        if _AnomalyMode.enabled:
            check_forward(self, raw, out_data)
        return Tensor._wrap(out_data)

    # ----------------------------------------------------------------- saving for backward
    def save_inputs(self, *indices: int) -> None:
        """Keep the positional arguments at ``indices`` for backward (read them back, as
        the original Tensors, from ``saved_inputs``). Keeping the Tensors rather than their
        arrays is what makes second-order gradients flow through them."""
        self._saved_index = indices

    def save_output(self) -> None:
        """Keep this op's output for backward (read it back from ``saved_output``)."""
        self._save_out = True

    @property
    def saved_inputs(self) -> tuple[Any, ...]:
        if self._freed:
            raise RuntimeError(_FREED_MESSAGE.format(op=self.name()))
        for tensor, version in zip(self._saved, self._saved_versions):
            if version is not None and tensor._vc[0] != version:
                raise RuntimeError(_modified_message(self, tensor.shape, version, tensor._vc[0]))
        return self._saved

    @property
    def saved_output(self) -> Tensor:
        """The output as a Tensor whose ``grad_fn`` is this node, rebuilt on demand so the
        node does not keep its own output alive (which would be a reference cycle)."""
        if self._freed:
            raise RuntimeError(_FREED_MESSAGE.format(op=self.name()))
        data = self._out_data
        if self._out_version[0] != 0:
            raise RuntimeError(_modified_message(self, data.shape, 0, self._out_version[0]))
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


def _modified_message(node: Function, shape: tuple[int, ...], saved: int, now: int) -> str:
    return (
        f"one of the tensors needed for gradient computation has been modified by an in-place "
        f"operation: a tensor of shape {tuple(shape)} saved by {node.name()} is at version "
        f"{now}; expected version {saved}. Use an out-of-place op (e.g. x = x + y instead of "
        f"x.add_(y)), or clone() the tensor before changing it."
    )


from chainrule.tensor import Tensor  # noqa: E402  (Tensor's methods call ops, ops need Function)
