"""``to_dot``: the computation graph behind a tensor, as Graphviz DOT text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from chainrule.tensor import Tensor


def _shape(shape: tuple[int, ...] | None) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")" if shape is not None else "?"


def _grad_norm(tensor: Tensor) -> str:
    if tensor.grad is None:
        return ""
    return f"\\n|grad| = {float(np.linalg.norm(tensor.grad.array.astype(np.float64))):.3g}"


def to_dot(output: Tensor, params: Mapping[str, Tensor] | None = None) -> str:
    """The graph that backward would walk from ``output``, as DOT (render it with
    ``dot -Tsvg``). Op nodes show their name and output shape; leaves show their shape,
    their name when found in ``params`` (e.g. ``dict(model.named_parameters())``) and the
    norm of their ``.grad`` once backward has run.

    Example::

        >>> x = chainrule.randn(3, requires_grad=True)
        >>> loss = (x * 2).sum()
        >>> loss.backward()                               # d loss / dx = 2 everywhere
        >>> print(chainrule.viz.to_dot(loss, params={"x": x}))
        digraph chainrule {
          rankdir="BT";
          node [fontname="Helvetica", fontsize=10];
          n0 [shape=box, style="rounded,filled", fillcolor="#f1f5f9", label="SumBackward0\\n()"];
          n1 -> n0;
          n1 [shape=box, style="rounded,filled", fillcolor="#f1f5f9", label="MulBackward0\\n(3)"];
          n2 -> n1;
          n2 [shape=box, style=filled, fillcolor="#dbeafe", label="x\\n(3)\\n|grad| = 3.46"];
        }
    """
    names = {id(t): name for name, t in (params or {}).items()}
    lines = ["digraph chainrule {", '  rankdir="BT";', '  node [fontname="Helvetica", fontsize=10];']
    ids: dict[int, str] = {}

    def node_id(obj: object) -> str:
        return ids.setdefault(id(obj), f"n{len(ids)}")

    root: Any = output.grad_fn if output.grad_fn is not None else output  # a graph node or a leaf
    output_shapes = {id(root): output.shape}
    stack, seen = [root], {id(root)}
    while stack:
        item = stack.pop()
        if not item._is_node:
            label = names.get(id(item), "leaf")
            lines.append(f'  {node_id(item)} [shape=box, style=filled, fillcolor="#dbeafe", '
                         f'label="{label}\\n{_shape(item.shape)}{_grad_norm(item)}"];')
            continue
        lines.append(f'  {node_id(item)} [shape=box, style="rounded,filled", fillcolor="#f1f5f9", '
                     f'label="{item.name()}\\n{_shape(output_shapes.get(id(item)))}"];')
        for edge, shape in zip(item.next_edges, item.input_shapes):
            if edge is None:
                continue
            output_shapes.setdefault(id(edge), shape)
            lines.append(f"  {node_id(edge)} -> {node_id(item)};")
            if id(edge) not in seen:
                seen.add(id(edge))
                stack.append(edge)
    lines.append("}")
    return "\n".join(lines)
