"""Pictures of what the engine does: the computation graph as Graphviz DOT."""

from chainrule.viz.dot import to_dot

__all__ = ["to_dot"]
