"""Gradient checkpointing: keep a segment's inputs, recompute its activations in backward.

A training step normally keeps every activation its backward needs until backward uses it, so
memory grows with depth. ``checkpoint(function, *args)`` keeps only what ``function`` was called
with; when backward reaches the segment, ``function`` runs again and its fresh activations
serve the backward rules. Gradients are the same to the bit as without checkpointing: the
recomputation replays the same ops on the same arrays, and the random-number state is put back
first so that dropout draws the same masks. The cost is one more forward pass of each segment.

``checkpoint_sequential(functions, segments, input)`` splits a chain of modules into segments
and checkpoints each but the last (whose activations backward needs at once anyway); with
``sqrt(n)`` segments of a depth-``n`` chain, memory falls from ``O(n)`` to ``O(sqrt(n))``
activations.

The two variants of PyTorch, chosen by ``use_reentrant`` (pass it; leaving it out warns and
picks ``True``, as PyTorch does):

* ``use_reentrant=False`` (recommended) records the segment's graph in forward as usual, then
  empties its nodes of what they saved; the first of them that backward reaches runs the
  segment again and gives each node back what its recomputed twin saved. The graph itself is
  the ordinary one, so ``autograd.grad``, ``create_graph=True`` (second order), hooks on the
  segment's tensors, keyword arguments, several or non-tensor outputs and inputs that need no
  gradient all work as without checkpointing.
* ``use_reentrant=True`` runs the segment without recording and leaves one node,
  ``CheckpointFunctionBackward``, whose backward runs the segment again and a backward pass
  through it (that pass puts the gradients of the parameters straight into their ``.grad``).
  As in PyTorch, it works with ``backward()`` only, not with ``autograd.grad``, and only when
  a tensor argument requires grad.

Example, a 4-layer MLP in 2 segments:

>>> from chainrule import nn
>>> from chainrule.utils.checkpoint import checkpoint_sequential
>>> model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU())
>>> x = chainrule.randn(5, 8, requires_grad=True)
>>> out = checkpoint_sequential(model, 2, x, use_reentrant=False)
>>> out.sum().backward()
>>> tuple(x.grad.shape)
(5, 8)
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable
from typing import Any

from chainrule.autograd.engine import INTO_GRAD, run_backward
from chainrule.autograd.function import Function as _Op
from chainrule.autograd.function import NodeLog, OutputNode
from chainrule.grad_mode import GRAD_MODE, enable_grad, no_grad
from chainrule.random import get_rng_state, set_rng_state
from chainrule.tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential", "CheckpointError"]


class CheckpointError(RuntimeError):
    """The recomputation of a checkpointed segment did not make the ops its forward made (the
    segment depends on something besides its arguments that changed in between). PyTorch's
    name, and like PyTorch's a ``RuntimeError``: a bug in the segment, not bad input (a
    damaged checkpoint *file* is ``chainrule.errors.CheckpointFileError``)."""


def checkpoint(
    function: Callable[..., Any],
    *args: Any,
    use_reentrant: bool | None = None,
    preserve_rng_state: bool = True,
    **kwargs: Any,
) -> Any:
    """Run ``function(*args, **kwargs)`` keeping only its arguments for backward; its
    activations are recomputed when backward needs them.

    Args:
        function: the segment, e.g. a module or a chain of layers.
        args: its positional arguments; tensors of any shape, and anything else.
        use_reentrant: ``False`` (recommended) or ``True``; see the module docstring. Leaving it
            out warns and uses ``True``, as PyTorch does.
        preserve_rng_state: put the random-number state back before recomputing, so dropout
            draws the same masks (gradients then equal those without checkpointing).
        kwargs: keyword arguments of ``function`` (``use_reentrant=False`` only).

    Returns:
        What ``function`` returns: a tensor, or a tuple of tensors and other values.

    Example:

    >>> from chainrule.utils.checkpoint import checkpoint
    >>> layer = chainrule.nn.Linear(3, 2)
    >>> x = chainrule.ones(4, 3, requires_grad=True)
    >>> y = checkpoint(layer, x, use_reentrant=False)
    >>> y.sum().backward()
    >>> tuple(layer.weight.grad.shape)
    (2, 3)
    """
    if use_reentrant is None:
        warnings.warn(
            "chainrule.utils.checkpoint.checkpoint: pass use_reentrant explicitly; without it "
            "the reentrant variant (use_reentrant=True) runs, as in PyTorch, but "
            "use_reentrant=False is recommended (it works with autograd.grad and second order)",
            stacklevel=2,
        )
        use_reentrant = True
    if use_reentrant:
        if kwargs:
            raise ValueError(
                f"Unexpected keyword arguments: {', '.join(kwargs)} (the reentrant "
                "checkpoint passes positional arguments only; use use_reentrant=False)"
            )
        return _reentrant_checkpoint(function, args, preserve_rng_state)
    if not GRAD_MODE.get():
        return function(*args, **kwargs)  # nothing is recorded, so nothing to drop
    segment = _Segment(function, args, kwargs, preserve_rng_state)
    nodes: list[Any] = []
    previous_log = NodeLog.get()
    NodeLog.set(nodes)
    try:
        outputs = function(*args, **kwargs)
    finally:
        NodeLog.set(previous_log)
    segment.empty(nodes)
    return outputs


def checkpoint_sequential(
    functions: Any,
    segments: int,
    input: Tensor,  # noqa: A002 - PyTorch's name
    use_reentrant: bool | None = None,
    **kwargs: Any,
) -> Any:
    """Run a chain of modules split into ``segments`` parts of equal length (the last one takes
    what is left over), checkpointing every part but the last.

    Args:
        functions: an ``nn.Sequential`` or a list of callables, applied in order.
        segments: how many parts, from 1 to ``len(functions)``; ``sqrt(len(functions))``
            minimises memory.
        input: the first function's input, of any shape it takes.
        use_reentrant: as in :func:`checkpoint`.
        kwargs: ``preserve_rng_state`` (passed on to :func:`checkpoint`).

    Returns:
        The last function's output.

    Example:

    >>> from chainrule.utils.checkpoint import checkpoint_sequential
    >>> chain = chainrule.nn.Sequential(*[chainrule.nn.Linear(4, 4) for _ in range(9)])
    >>> out = checkpoint_sequential(chain, 3, chainrule.ones(2, 4), use_reentrant=False)
    >>> tuple(out.shape)
    (2, 4)
    """
    if use_reentrant is None:
        warnings.warn(
            "chainrule.utils.checkpoint.checkpoint_sequential: pass use_reentrant explicitly; "
            "without it the reentrant variant (use_reentrant=True) runs, as in PyTorch, but "
            "use_reentrant=False is recommended",
            stacklevel=2,
        )
        use_reentrant = True
    unknown = set(kwargs) - {"preserve_rng_state"}
    if unknown:
        raise ValueError(f"Unexpected keyword arguments: {', '.join(sorted(unknown))}")
    from chainrule.nn import Sequential

    if isinstance(functions, Sequential):
        chain = list(functions.children())
    elif isinstance(functions, list | tuple):
        chain = list(functions)
    else:
        raise TypeError(
            f"checkpoint_sequential: functions must be an nn.Sequential or a list of "
            f"callables, got a {type(functions).__name__}"
        )
    if isinstance(segments, bool) or not isinstance(segments, int) or not 1 <= segments <= len(chain):
        raise ValueError(
            f"checkpoint_sequential: segments is {segments!r}, but it must be a whole "
            f"number from 1 to the number of functions ({len(chain)})"
        )
    size = len(chain) // segments
    for start in range(0, size * (segments - 1), size):
        input = checkpoint(
            _run_chain(chain[start : start + size]), input, use_reentrant=use_reentrant, **kwargs
        )
    return _run_chain(chain[size * (segments - 1) :])(input)


def _run_chain(chain: list[Any]) -> Callable[[Any], Any]:  # modules or other callables
    def run(value: Any) -> Any:
        for function in chain:
            value = function(value)
        return value

    return run


# ------------------------------------------------------------------- use_reentrant=False
class _Segment:
    """One call of :func:`checkpoint`: what it takes to run the segment again, and (weakly) the
    nodes its forward made, emptied of what they saved.

    When backward reaches the first of those nodes, the segment runs again; each node gets
    back what its recomputed twin saved, and the recomputed tensors among it are relinked to
    the original nodes, so the backward (and, with ``create_graph``, the graph it records)
    is the one the plain run would have made: same nodes, same arrays, same order of sums.

    The nodes point to the segment (through their ``backward``) but it holds them weakly, so
    no reference cycle keeps a graph nobody runs backward through alive."""

    def __init__(
        self,
        function: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        preserve_rng_state: bool,
    ) -> None:
        self.function = function
        self.args = args
        self.kwargs = kwargs
        self.rng_state = get_rng_state() if preserve_rng_state else None
        #: The version counters (and versions) of the tensors the segment's nodes saved that
        #: they did not make: an in-place change to one before backward would change the
        #: recomputation. Counters, not tensors, so that none is kept alive (a tensor made in
        #: the segment without a grad_fn, such as a dropout mask, cannot be told from one made
        #: outside).
        self.inputs: list[tuple[list[int], int, str]] = [
            _version_of(t) for t in args if isinstance(t, Tensor)
        ]
        self.nodes: list[weakref.ref[Any]] = []
        self.kinds: list[type] = []

    def empty(self, nodes: list[Any]) -> None:
        """Drop what ``nodes`` (made by the segment's forward, in order) keep for backward;
        the backward of each one now starts with :meth:`restore`."""
        made = {id(node) for node in nodes}
        self.nodes = [weakref.ref(node) for node in nodes]
        self.kinds = [type(node) for node in nodes]
        for node in nodes:
            for tensor in _saved_by(node):
                if id(tensor.grad_fn) not in made:
                    self.inputs.append(_version_of(tensor))
            node._saved = None
            node._out_data = None
            output_meta = node.__dict__.get("output_meta")  # the engine reads it (several outputs)
            node.__dict__.clear()
            if output_meta is not None:
                node.output_meta = output_meta
            # An instance attribute shadows the class's staticmethod: the engine's
            # ``node.backward(node, *grads)`` lands here first.
            node.backward = self.restore

    def restore(self, node: Any, *grads: Tensor, **options: Any) -> Any:
        """Recompute the segment, give every node back what it saved, run ``node``'s backward
        (with the engine's ``options``, such as ``grad_destinations``)."""
        originals = [ref() for ref in self.nodes]
        twins = self._recompute()
        index_of = {id(twin): index for index, twin in enumerate(twins)}
        # The edges to the outputs of multi-output nodes, so relinked tensors use the same ones.
        output_edges = {
            (id(edge.function), edge.index): edge
            for original in originals
            if original is not None
            for edge in original.next_edges
            if edge is not None and edge._is_node and edge._is_output
        }

        def original_of(grad_fn: Any) -> Any:
            if grad_fn is None:
                return None
            if grad_fn._is_output:
                index = index_of.get(id(grad_fn.function))
                function = None if index is None else originals[index]
                if function is None:
                    return grad_fn
                key = (id(function), grad_fn.index)
                return output_edges.get(key) or OutputNode(function, grad_fn.index)
            index = index_of.get(id(grad_fn))
            original_node = None if index is None else originals[index]
            return grad_fn if original_node is None else original_node

        for original, twin in zip(originals, twins):
            if original is None:
                continue  # nothing can run backward through it any more
            for tensor in _saved_by(twin):
                tensor.grad_fn = original_of(tensor.grad_fn)
            original._saved = getattr(twin, "_saved", None)
            if twin._saved_index is not None:
                original._saved_versions = twin._saved_versions
            original._out_data = getattr(twin, "_out_data", None)
            original.__dict__.clear()
            original.__dict__.update(twin.__dict__)
        return type(node).backward(node, *grads, **options)

    def _recompute(self) -> list[Any]:
        """Run the segment again as in forward; its nodes, in the order made."""
        for counter, version, what in self.inputs:
            if counter[0] != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an "
                    f"inplace operation: a {what} that a checkpointed segment reads is at version "
                    f"{counter[0]}; expected version {version} instead. Change it only after "
                    "backward, or clone() it before changing it."
                )
        twins: list[Any] = []
        previous_log = NodeLog.get()
        rng_now = get_rng_state() if self.rng_state is not None else None
        NodeLog.set(twins)
        try:
            if self.rng_state is not None:
                set_rng_state(self.rng_state)
            with enable_grad():
                self.function(*self.args, **self.kwargs)
        finally:
            NodeLog.set(previous_log)
            if rng_now is not None:
                set_rng_state(rng_now)
        kinds = [type(twin) for twin in twins]
        if kinds != self.kinds:
            raise CheckpointError(
                f"the checkpointed segment made {len(self.kinds)} ops in forward "
                f"({_names(self.kinds)}) but {len(kinds)} when recomputed for backward "
                f"({_names(kinds)}); it must depend on its arguments alone (not on a global "
                "setting or a counter that changed in between)"
            )
        return twins


def _version_of(tensor: Tensor) -> tuple[list[int], int, str]:
    return tensor._vc, tensor._vc[0], f"[{tensor.dtype} tensor of shape {tuple(tensor.shape)}]"


def _saved_by(node: Any) -> list[Tensor]:
    """The tensors ``node`` keeps for backward: saved inputs, ``save_for_backward``'s, and
    any a backward rule stored on the node itself."""
    kept = [*(getattr(node, "_saved", None) or ()), *node.__dict__.get("_kept", ())]
    for value in node.__dict__.values():
        if isinstance(value, Tensor):
            kept.append(value)
        elif isinstance(value, tuple | list):
            kept.extend(item for item in value if isinstance(item, Tensor))
    return [tensor for tensor in kept if isinstance(tensor, Tensor)]


def _names(kinds: list[type]) -> str:
    shown = ", ".join(kind.__name__ for kind in kinds[:6])
    return shown + (", ..." if len(kinds) > 6 else "")


# -------------------------------------------------------------------- use_reentrant=True
class CheckpointFunction(_Op):
    """The one node a reentrant checkpoint leaves in the graph (``CheckpointFunctionBackward``,
    PyTorch's name); its forward runs the segment unrecorded, its backward runs it again and a
    backward pass through it."""

    @classmethod
    def name(cls) -> str:
        return "CheckpointFunctionBackward"  # PyTorch's, without the 0 of a built-in op

    @staticmethod
    def forward(
        ctx: Any,
        *arrays: Any,
        function: Callable[..., Any],
        args: tuple[Any, ...],
        preserve_rng_state: bool,
        made: dict[str, Any],
    ) -> Any:
        ctx.function = function
        ctx.args = args
        ctx.rng_state = get_rng_state() if preserve_rng_state else None
        with no_grad():
            outputs = function(*args)
        is_tuple = isinstance(outputs, tuple)
        outputs = outputs if is_tuple else (outputs,)
        ctx.tensor_positions = [i for i, out in enumerate(outputs) if isinstance(out, Tensor)]
        if not ctx.tensor_positions:
            raise TypeError("the checkpointed segment returned no tensor; checkpoint() needs one")
        made.update(is_tuple=is_tuple, outputs=outputs, tensor_positions=ctx.tensor_positions)
        arrays_out = tuple(outputs[i].array for i in ctx.tensor_positions)
        return arrays_out if is_tuple else arrays_out[0]

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Tensor | None, ...]:
        if not INTO_GRAD.get():
            raise RuntimeError(
                "use_reentrant=True checkpointing works with .backward() only, not with "
                "autograd.grad(); pass use_reentrant=False to checkpoint() (or call .backward())"
            )
        detached = [
            a.detach().requires_grad_(a.requires_grad) if isinstance(a, Tensor) else a for a in ctx.args
        ]
        rng_now = get_rng_state() if ctx.rng_state is not None else None
        try:
            if ctx.rng_state is not None:
                set_rng_state(ctx.rng_state)
            with enable_grad():
                outputs = ctx.function(*detached)
        finally:
            if rng_now is not None:
                set_rng_state(rng_now)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        pairs = [
            (outputs[i], grad) for i, grad in zip(ctx.tensor_positions, grads) if outputs[i].requires_grad
        ]
        if not pairs:
            raise RuntimeError(
                "none of the outputs of the checkpointed segment requires grad, "
                "so checkpoint() is not needed here"
            )
        run_backward(
            [out for out, _ in pairs], [grad for _, grad in pairs], retain_graph=False, create_graph=False
        )
        return tuple(d.grad if isinstance(d, Tensor) else None for d in detached)


def _reentrant_checkpoint(
    function: Callable[..., Any], args: tuple[Any, ...], preserve_rng_state: bool
) -> Any:
    if not GRAD_MODE.get() or not any(isinstance(a, Tensor) and a.requires_grad for a in args):
        if GRAD_MODE.get():
            warnings.warn("None of the inputs have requires_grad=True. Gradients will be None", stacklevel=3)
        with no_grad():
            return function(*args)
    made: dict[str, Any] = {}
    result = CheckpointFunction.apply(
        *args, function=function, args=args, preserve_rng_state=preserve_rng_state, made=made
    )
    if not made["is_tuple"]:
        return result
    outputs = list(made["outputs"])  # the non-tensor outputs go back where the segment put them
    several: Any = result  # a segment with several outputs makes apply return a tuple of tensors
    for position, tensor in zip(made["tensor_positions"], several):
        outputs[position] = tensor
    return tuple(outputs)
