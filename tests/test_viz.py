"""to_dot draws the graph backward walks: every op once, edges from inputs to consumers."""

import re

import chainrule as torch


def test_to_dot_lists_ops_shapes_edges_and_named_leaves():
    w = torch.randn(3, 2, requires_grad=True)
    x = torch.randn(4, 3)
    y = (x @ w).relu().sum()
    y.backward()
    dot = torch.viz.to_dot(y, {"weight": w})
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    for label in ("SumBackward0\\n()", "ReluBackward0\\n(4, 2)", "MatMulBackward0\\n(4, 2)",
                  "weight\\n(3, 2)"):
        assert label in dot
    assert "|grad| =" in dot  # w.grad exists after backward
    assert len(re.findall(r"->", dot)) == 3  # w -> matmul -> relu -> sum; x needs no gradient


def test_shared_subexpression_appears_once_with_two_edges():
    a = torch.randn(2, requires_grad=True)
    b = a.exp()
    dot = torch.viz.to_dot((b * b).sum())
    assert dot.count("ExpBackward0") == 1
    exp_id = re.search(r'(n\d+) \[[^\]]*ExpBackward0', dot).group(1)
    assert len(re.findall(rf"{exp_id} -> ", dot)) == 2
