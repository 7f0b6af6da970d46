"""The backward pass: apply the chain rule from the outputs back to every input that needs it.

The graph is walked with a loop, never recursion (a 10,000-op chain must not hit Python's
recursion limit). Gradients waiting for a node are kept in a dict keyed by the node and
dropped once the node has run; the node's saved tensors are released right after, so memory
falls as backward proceeds (unless ``retain_graph``).

What a backward rule returns is checked as PyTorch's ``validate_outputs`` does: one gradient
per input, each of the input's shape or of a shape the input broadcasts to (the engine sums
broadcasting away, once, here), and cast to the input's dtype (a float32 leaf gets a float32
``.grad`` even when the op computed in float64). Anything else is a bug in the rule and
raises, naming the op and the input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chainrule.autograd.anomaly import ANOMALY_MODE, _InBackward, check_backward
from chainrule.autograd.function import _FREED_MESSAGE
from chainrule.grad_mode import GRAD_MODE, Switch

_Edge = Any  # a Function node, or a leaf Tensor

#: True while the running backward accumulates into ``.grad`` (``backward()``), False while it
#: returns gradients (``autograd.grad``): reentrant checkpointing works only in the first.
INTO_GRAD = Switch("chainrule.backward_into_grad", False)


def _count_consumers(roots: list[_Edge]) -> dict[_Edge, int]:
    """For each node and leaf reachable from ``roots``, how many edges lead into it."""
    consumers: dict[_Edge, int] = {}
    stack = [r for r in roots if r._is_node]
    # A node is walked when its first consumer is counted; a root, one more time only if
    # it is also reached from another root (not walked twice).
    walked = set(stack) if len(stack) > 1 else ()
    get = consumers.get
    while stack:
        for edge in stack.pop().next_edges:
            if edge is None:
                continue
            count = get(edge)
            if count is None:
                consumers[edge] = 1
                if edge._is_node and edge not in walked:
                    stack.append(edge)
            else:
                consumers[edge] = count + 1
    return consumers


def _apply_hooks(hooks: list[Any], grad: Tensor, what: str) -> Tensor:
    for hook in hooks:
        if type(hook) is PostAccumulateGradHook:
            continue  # runs after .grad is updated, in _finish_leaf
        result = hook(grad)
        if result is None:
            continue
        if not isinstance(result, Tensor):
            raise TypeError(f"a gradient hook on {what} returned {type(result).__name__}; "
                            "a hook must return a Tensor or None")
        if result.shape != grad.shape:
            raise RuntimeError(
                f"a gradient hook on {what} returned a gradient of shape {tuple(result.shape)}, "
                f"but the gradient has shape {tuple(grad.shape)}; a hook must keep the shape"
            )
        grad = result
    return grad


def run_backward(
    outputs: Sequence[Tensor],
    grad_outputs: Sequence[Tensor],
    *,
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Tensor] | None = None,
) -> list[Tensor | None] | None:
    """Backpropagate ``grad_outputs`` from ``outputs``.

    With ``inputs=None`` gradients are accumulated into the ``.grad`` of every leaf reached
    (``Tensor.backward``). Otherwise the gradients with respect to ``inputs`` are returned and
    no ``.grad`` is touched (``autograd.grad``).
    """
    roots = [outputs[0].grad_fn or outputs[0]] if len(outputs) == 1 else [t.grad_fn or t for t in outputs]
    consumers = _count_consumers(roots)
    pending: dict[_Edge, Any]  # a Tensor, or a list of them for a multi-output op
    if len(roots) == 1:  # loss.backward(): nothing leads into the one root
        pending = {roots[0]: grad_outputs[0]}
        ready = roots
        # Gradients the user handed in must not become (and later be changed in place as) a .grad.
        handed_out = {id(grad_outputs[0].array)}
    else:
        pending = {}
        for root, root_grad in zip(roots, grad_outputs):
            waiting = pending.get(root)
            pending[root] = root_grad if waiting is None else waiting + root_grad
        ready = [r for r in pending if r not in consumers]
        handed_out = {id(g.array) for g in grad_outputs}

    wanted: dict[_Edge, int] | None = None
    results: list[Tensor | None] = []
    if inputs is not None:
        wanted = {t.grad_fn or t: i for i, t in enumerate(inputs)}
        results = [None] * len(inputs)

    previous_mode = GRAD_MODE.get()
    GRAD_MODE.set(create_graph)
    previous_into_grad = INTO_GRAD.get()
    INTO_GRAD.set(inputs is None)
    pop_pending = pending.pop
    anomaly = ANOMALY_MODE.get()
    # Whether a node's backward may add a gradient straight into a leaf's .grad (see
    # _grad_destinations): only when gradients go into .grad, unrecorded and unchecked.
    direct = inputs is None and not create_graph and not anomaly
    try:
        while ready:
            edge = ready.pop()
            grad = pop_pending(edge, None)
            if not edge._is_node:
                if grad is not None:
                    if wanted is None and not edge._hooks:  # the common case
                        _accumulate(edge, grad, create_graph, handed_out)
                    else:
                        _finish_leaf(edge, grad, wanted, results, create_graph, handed_out)
                continue
            node: Any = edge  # an op node (the test above left the leaves behind)
            edges = node.next_edges
            if grad is not None:
                if node._tensor_hooks:
                    grad = _apply_hooks(node._tensor_hooks, grad, f"the output of {node.name()}")
                if node._retained is not None:
                    _retain(node, grad, create_graph)
                if wanted is not None and node in wanted:
                    results[wanted[node]] = grad
                if node._is_output:  # one result of a multi-output op: filed for the op by index
                    _file_output_grad(pending, node, grad)
                    grad = None  # what is left is to count its one edge, to the op, as done
            if grad is not None:
                if node._freed:
                    raise RuntimeError(_FREED_MESSAGE.format(op=node.name()))
                grads = node._materialized(grad) if type(grad) is list else (grad,)
                if anomaly:
                    _InBackward.set(True)
                    try:
                        input_grads = node.backward(node, *grads)
                    finally:
                        _InBackward.set(False)
                elif node.fills_grads and direct:
                    destinations = _grad_destinations(node, consumers, pending)
                    if destinations is None:
                        input_grads = node.backward(node, *grads)
                    else:
                        input_grads = node.backward(node, *grads, grad_destinations=destinations)
                else:
                    input_grads = node.backward(node, *grads)
                if not isinstance(input_grads, tuple):
                    input_grads = (input_grads,)
                if len(input_grads) != len(edges):
                    raise RuntimeError(
                        f"{node.name()} returned {len(input_grads)} gradients, but its forward "
                        f"took {len(edges)} arguments; backward must return one "
                        "gradient per argument of forward (None for an argument that has none)"
                    )
                if anomaly:
                    for index, input_grad in enumerate(input_grads):
                        if input_grad is not None:
                            check_backward(node, index, input_grad.array)
                if not retain_graph:
                    node.release()
            else:
                input_grads = (None,) * len(edges)
            for next_edge, input_grad, shape, dtype in zip(
                edges, input_grads, node.input_shapes, node.input_dtypes
            ):
                if next_edge is None:
                    continue
                if input_grad is not None:
                    # The common case costs three tests; anything else takes the slow path.
                    if (input_grad.__class__ is not Tensor or input_grad.array.shape != shape
                            or input_grad.array.dtype is not dtype):
                        input_grad = _validated(node, input_grads, next_edge, input_grad, shape, dtype)
                    waiting = pending.get(next_edge)
                    pending[next_edge] = input_grad if waiting is None else waiting + input_grad
                left = consumers[next_edge] - 1
                consumers[next_edge] = left
                if left == 0:
                    ready.append(next_edge)
            # Drop this node's gradients now, not when the next node's backward has returned:
            # a weight gradient, already added into its .grad, would otherwise live on through
            # that backward (or a checkpointed segment's recomputation) and raise the peak.
            input_grads = input_grad = waiting = None
    finally:
        GRAD_MODE.set(previous_mode)
        INTO_GRAD.set(previous_into_grad)
    return results if inputs is not None else None


def _grad_destinations(
    node: Any, consumers: dict[_Edge, int], pending: dict[_Edge, Any]
) -> tuple[Any, ...] | None:
    """For each input of ``node`` (whose class sets ``fills_grads``): the array of the
    ``.grad`` that its backward may add that input's gradient into itself, or None.

    A leaf qualifies when this node is the last to send it a gradient and none is waiting
    (so the engine would add this one gradient into ``.grad`` next, in the same order of
    sums), it has no hooks (they would have to see the gradient), and its ``.grad`` is a
    plain, writable, contiguous array of its own dtype and shape. Such a backward returns
    None for that input; it may skip the full-size temporary the gradient would be."""
    destinations = []
    found = False
    for edge in node.next_edges:
        destination = None
        if edge is not None and not edge._is_node and not edge._hooks and consumers[edge] == 1:
            current = edge._grad
            if current is not None and current.grad_fn is None and edge not in pending:
                array = current.array
                if (array.flags.writeable and array.flags.c_contiguous and array.dtype == edge.dtype
                        and array.shape == edge.array.shape):
                    destination = array
                    found = True
        destinations.append(destination)
    return tuple(destinations) if found else None


def _validated(
    node: Any, input_grads: tuple[Any, ...], edge: _Edge, grad: Any, shape: tuple[int, ...],
    dtype: Any,
) -> Tensor:
    """``grad`` as the gradient of ``node``'s input ``edge``: broadcasting summed away and cast
    to the input's dtype; a gradient that is no Tensor, or whose shape the input does not
    broadcast to, raises."""
    if not isinstance(grad, Tensor):
        raise TypeError(f"{node.name()} returned a {type(grad).__name__} as the gradient of its "
                        f"input {_position(node, input_grads, edge, grad)}; backward must return "
                        "Tensors (or None)")
    got = grad.array.shape
    if got != shape:
        if not _broadcasts_to(shape, got):
            raise RuntimeError(
                f"{node.name()} returned an invalid gradient for its input "
                f"{_position(node, input_grads, edge, grad)}: shape "
                f"{tuple(got)}, but the input has shape {tuple(shape)}; a gradient must have its "
                "input's shape or one the input broadcasts to. The op's backward rule is wrong."
            )
        grad = sum_to_shape(grad, shape)
    if grad.array.dtype != dtype:
        grad = grad.type(dtype)  # as PyTorch: the gradient takes the input's dtype
    return grad


def _position(node: Any, input_grads: tuple[Any, ...], edge: _Edge, grad: Any) -> int:
    """Which argument of ``node``'s forward ``grad`` is the gradient of (for messages)."""
    return next(i for i, (e, g) in enumerate(zip(node.next_edges, input_grads))
                if e is edge and g is grad)


def _broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """True when an array of ``shape`` broadcasts to ``target`` (NumPy's rule)."""
    if len(shape) > len(target):
        return False
    return all(s == t or s == 1 for s, t in zip(shape[::-1], target[::-1]))


def _file_output_grad(pending: dict[_Edge, Any], output: Any, grad: Tensor) -> None:
    """Keep ``grad`` for output ``output.index`` of its op: a multi-output op waits in
    ``pending`` with a list, one gradient (or None) per output."""
    grads = pending.get(output.function)
    if grads is None:
        grads = pending[output.function] = [None] * len(output.function.output_meta)
    waiting = grads[output.index]
    grads[output.index] = grad if waiting is None else waiting + grad


def _retain(node: Any, grad: Tensor, create_graph: bool) -> None:
    tensor = node._retained()
    if tensor is None:
        return
    grad = grad if create_graph else grad.detach()
    tensor.grad = grad if tensor.grad is None else tensor.grad + grad


def owned_gradient(grad: Tensor, handed_out: set[int]) -> Tensor:
    """``grad`` as a new .grad: a .grad must own its memory, so gradients passed straight
    through (the user's own gradient argument, one array sent to two inputs, broadcast or
    reshaped views) are copied, and an in-place change to one .grad never changes another."""
    data = grad.array
    if data.base is not None or id(data) in handed_out or not data.flags.writeable:
        data = data.copy()
        grad = grad._wrap(data)
    handed_out.add(id(data))
    return grad


def _finish_leaf(
    leaf: Tensor,
    grad: Tensor,
    wanted: dict[_Edge, int] | None,
    results: list[Tensor | None],
    create_graph: bool,
    handed_out: set[int],
) -> None:
    if leaf._hooks:
        grad = _apply_hooks(leaf._hooks, grad, f"a leaf tensor of shape {tuple(leaf.shape)}")
    if wanted is not None:
        if leaf in wanted:
            results[wanted[leaf]] = grad
        return
    _accumulate(leaf, grad, create_graph, handed_out)
    if leaf._hooks:
        for hook in leaf._hooks:
            if type(hook) is PostAccumulateGradHook:
                hook.hook(leaf)


def _accumulate(leaf: Tensor, grad: Tensor, create_graph: bool, handed_out: set[int]) -> None:
    current = leaf._grad
    if create_graph:
        leaf.grad = grad if current is None else current + grad
        return
    data = grad.array
    if current is None:
        leaf.grad = owned_gradient(Tensor._wrap(grad.array) if grad.grad_fn is not None else grad, handed_out)
    elif current.grad_fn is None and current.array.flags.writeable:
        current.array += data
    else:
        leaf.grad = Tensor._wrap(current.array + data)


class PostAccumulateGradHook:
    """A leaf's hook that runs after backward has added into its ``.grad``: ``hook(leaf)``.
    Kept in the leaf's hook list, marked by this class, so leaves need no extra slot."""

    __slots__ = ("hook",)

    def __init__(self, hook: Callable[[Tensor], None]) -> None:
        self.hook = hook


def sum_to_shape(grad: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Undo broadcasting: sum ``grad`` over the axes that broadcasting added or stretched so
    that it has ``shape``. Differentiable (its own backward expands again)."""
    from chainrule.ops.movement import SumToShape

    return SumToShape.apply(grad, shape)


from chainrule.tensor import Tensor  # noqa: E402
