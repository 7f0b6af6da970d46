"""``chainrule.autograd.Function``: user-defined differentiable functions, with PyTorch's contract.

A PyTorch script's custom function runs unchanged:

>>> class Cube(chainrule.autograd.Function):
...     @staticmethod
...     def forward(ctx, x):                 # x is a Tensor; forward runs with grad off
...         ctx.save_for_backward(x)
...         return x ** 3
...
...     @staticmethod
...     def backward(ctx, grad_output):      # one gradient per input of forward
...         (x,) = ctx.saved_tensors
...         return grad_output * 3 * x ** 2
>>> x = chainrule.tensor([2.0], requires_grad=True)
>>> Cube.apply(x).backward()
>>> x.grad
tensor([12.])

This differs from chainrule's own ops (``chainrule.autograd.function.Function``), whose
``forward`` works on raw NumPy arrays: a user function's ``forward`` receives the Tensors
themselves, and everything it does is written in Tensor operations. Under the hood one op,
:class:`CustomFunctionNode`, carries every call into the graph; it is the ``ctx`` that both
methods receive, so attributes set on ``ctx`` in forward are there in backward.

Supported: ``ctx.save_for_backward`` / ``ctx.saved_tensors`` (with the in-place modification
check), ``ctx.needs_input_grad``, ``ctx.mark_non_differentiable``,
``ctx.set_materialize_grads``, ``ctx.mark_dirty``, the ``setup_context`` style of PyTorch 2,
``once_differentiable``, and second-order gradients when backward is written in Tensor ops.
A forward returns one Tensor (several outputs are not supported yet).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from chainrule.autograd.function import Function as _Op
from chainrule.grad_mode import GRAD_MODE
from chainrule.tensor import Tensor


class CustomFunctionNode(_Op):
    """The graph node (and ``ctx``) of one call of a user-defined :class:`Function`."""

    __slots__ = ("_function",)
    _function: type[Function]
    _output: Tensor

    @staticmethod
    def forward(
        ctx: CustomFunctionNode, *arrays: Any, function: type[Function], inputs: tuple[Any, ...]
    ) -> Any:
        ctx._function = function
        ctx._saved, ctx._saved_versions = (), ()
        ctx._non_differentiable = False
        ctx.materialize_grads = True
        previous = GRAD_MODE.enabled
        GRAD_MODE.enabled = False  # PyTorch runs forward with grad off: its ops are not recorded
        try:
            if function.setup_context is Function.setup_context:
                output = function.forward(ctx, *inputs)
            else:
                output = function.forward(*inputs)
                function.setup_context(ctx, inputs, output)
        finally:
            GRAD_MODE.enabled = previous
        if not isinstance(output, Tensor):
            kind = "several outputs" if isinstance(output, tuple | list) else f"a {type(output).__name__}"
            raise TypeError(
                f"{function.__name__}.forward returned {kind}; a custom Function's forward must "
                "return one Tensor here (several outputs are not supported yet)"
            )
        ctx._output = output
        return output.array

    @staticmethod
    def backward(ctx: CustomFunctionNode, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        function = ctx._function
        grads = function.backward(ctx, grad_output)
        if not isinstance(grads, tuple):
            grads = (grads,)
        expected = len(ctx.needs_input_grad)
        # PyTorch accepts extra trailing Nones, nothing else beyond the inputs.
        if len(grads) < expected or any(g is not None for g in grads[expected:]):
            raise RuntimeError(
                f"{ctx.name()} returned {len(grads)} gradients, but its forward took {expected} "
                "arguments; backward must return one gradient per argument of forward (None for an "
                "argument that has none)"
            )
        for index, grad in enumerate(grads[:expected]):
            if grad is not None and not isinstance(grad, Tensor):
                raise TypeError(
                    f"{function.__name__}.backward returned a {type(grad).__name__} as gradient "
                    f"{index}; return a Tensor or None"
                )
        return grads[:expected]  # the engine drops those of inputs that need no gradient

    # --------------------------------------------------------------- PyTorch's ctx methods
    def save_for_backward(self, *tensors: Tensor | None) -> None:
        """Keep ``tensors`` (inputs, outputs or None) for backward; read them back from
        ``saved_tensors``, which fails if one was changed in place meanwhile."""
        for tensor in tensors:
            if tensor is not None and not isinstance(tensor, Tensor):
                raise TypeError(
                    f"save_for_backward can only save Tensors (or None), got a {type(tensor).__name__}; "
                    "keep other values as attributes of ctx"
                )
        # The base op's slots for saved inputs, so its checks (freed, changed in place) apply.
        self._saved = tuple(tensors)
        self._saved_versions = tuple(None if t is None else t._vc[0] for t in tensors)

    @property
    def saved_tensors(self) -> tuple[Tensor | None, ...]:
        return self.saved_inputs

    # PyTorch's ctx takes the output tensors; the engine's Function takes output indices.
    def mark_non_differentiable(self, *tensors: Tensor) -> None:  # type: ignore[override]
        """Declare the output not differentiable: it will not require grad."""
        self._non_differentiable = True

    def set_materialize_grads(self, value: bool) -> None:
        """Accepted for PyTorch's API; with one output its gradient is always a Tensor."""
        self.materialize_grads = value

    def mark_dirty(self, *tensors: Tensor) -> None:
        """Declare inputs changed in place by forward: their version counters move on, so a
        graph that saved them before sees the change."""
        for tensor in tensors:
            tensor._vc[0] += 1

    def name(self) -> str:  # type: ignore[override]
        return f"{self._function.__name__}Backward"


class Function:
    """Base class of user-defined differentiable functions (PyTorch's ``autograd.Function``);
    see the module docstring for the contract.

    Shapes: whatever ``forward`` makes. Example::

        >>> class Double(chainrule.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         return x * 2
        ...     @staticmethod
        ...     def backward(ctx, grad_output):
        ...         return grad_output * 2
        >>> x = chainrule.ones(3, requires_grad=True)
        >>> Double.apply(x).sum().backward()
        >>> x.grad
        tensor([2., 2., 2.])
    """

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a custom Function must define forward as a @staticmethod")

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise NotImplementedError("a custom Function must define backward as a @staticmethod")

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        """PyTorch 2's alternative: a ``forward(*args)`` without ctx, then this fills ctx."""

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        if kwargs:
            raise TypeError(f"{cls.__name__}.apply takes positional arguments only, as in PyTorch")
        out = CustomFunctionNode.apply(*args, function=cls, inputs=args)
        node = out.grad_fn
        if node is not None:
            output = node.__dict__.pop("_output")
            out._vc = output._vc  # forward's result and the returned tensor share memory
            if node._non_differentiable:
                out.grad_fn = None
                out.requires_grad = False
        return out


class OnceDifferentiable(_Op):
    """Passes a gradient through unchanged, and refuses to be differentiated again: what a
    backward decorated with :func:`once_differentiable` returns under ``create_graph=True``."""

    function_name: str

    @staticmethod
    def forward(ctx: OnceDifferentiable, grad: Any, grad_output: Any, function_name: str) -> Any:
        ctx.function_name = function_name
        return grad

    @staticmethod
    def backward(ctx: OnceDifferentiable, grad: Tensor) -> Any:
        raise RuntimeError(
            f"trying to differentiate twice the backward of {ctx.function_name}, which is marked "
            "@once_differentiable; remove the decorator and write backward in Tensor ops to get "
            "second-order gradients"
        )


def once_differentiable(backward: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a custom Function's ``backward`` that is not itself differentiable: it runs
    with grad off, and differentiating its result again raises instead of giving a wrong zero.

    Example:

    >>> from chainrule.autograd.custom_function import once_differentiable
    >>> class Clip(chainrule.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x.clamp(0.0, 1.0)
    ...
    ...     @staticmethod
    ...     @once_differentiable
    ...     def backward(ctx, grad_output):
    ...         (x,) = ctx.saved_tensors
    ...         return grad_output * ((x >= 0) & (x <= 1))
    >>> x = chainrule.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    >>> Clip.apply(x).sum().backward()
    >>> x.grad
    tensor([0., 1., 0.])
    """

    @functools.wraps(backward)
    def wrapper(ctx: Any, *grad_outputs: Any) -> Any:
        create_graph = GRAD_MODE.enabled
        GRAD_MODE.enabled = False
        try:
            grads = backward(ctx, *grad_outputs)
        finally:
            GRAD_MODE.enabled = create_graph
        # Unlike PyTorch, saved inputs count too: otherwise the second derivative through
        # them would be a silent zero rather than this error.
        candidates = [*grad_outputs, *ctx._saved]
        differentiable = [t for t in candidates if isinstance(t, Tensor) and t.requires_grad]
        if not create_graph or not differentiable:
            return grads
        name = ctx._function.__name__
        if not isinstance(grads, tuple):
            return None if grads is None else OnceDifferentiable.apply(grads, differentiable[0], name)
        return tuple(
            None if g is None else OnceDifferentiable.apply(g, differentiable[0], name) for g in grads
        )

    return wrapper


FunctionCtx = CustomFunctionNode  # the type of ``ctx``, under PyTorch's name
