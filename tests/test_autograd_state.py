"""Engine state the op tests do not reach: .grad accumulation when the backward is itself
recorded, and the version counter a detached tensor or a view shares with its source (all
found unguarded by the mutation check, ``python -m mutation``)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule


def test_create_graph_backward_accumulates_into_an_existing_grad():
    x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward(create_graph=True)
    first = x.grad
    assert first.requires_grad  # the gradient carries its own graph
    (x * x).sum().backward(create_graph=True)
    np.testing.assert_array_equal(x.grad.array, [4.0, 8.0])  # 2x + 2x, as PyTorch
    # the accumulated gradient is still differentiable: d/dx sum((4x)²) = 32x, added to 4x
    (x.grad * x.grad).sum().backward()
    np.testing.assert_array_equal(x.grad.array, [36.0, 72.0])


def test_changing_a_detached_output_in_place_is_caught_at_backward():
    x = chainrule.tensor([0.5, 1.0, 1.5], requires_grad=True)
    y = x.exp()  # exp's backward reads its output
    detached = y.detach()  # shares y's memory, so it must share y's version counter
    detached.mul_(0)
    assert detached._version == y._version == 1
    with pytest.raises(RuntimeError, match="is at version 1; expected version 0"):
        y.sum().backward()


@pytest.mark.parametrize(
    "make_view",
    [lambda t: t[0], lambda t: t.view(6), lambda t: t.transpose(0, 1), lambda t: t.reshape(3, 2)],
    ids=["index", "view", "transpose", "reshape"],
)
def test_changing_a_view_in_place_is_caught_at_backward(make_view):
    # a view shares its base's memory, so it shares the base's version counter (as PyTorch)
    x = chainrule.tensor([[0.5, 1.0, 1.5], [2.0, 2.5, 3.0]], requires_grad=True)
    y = x * 1.0
    z = y.sin()  # sin's backward reads its input y
    view = make_view(y)
    with chainrule.no_grad():  # chainrule refuses in-place changes to recorded tensors
        view.mul_(2)
    assert view._version == y._version == 1
    with pytest.raises(RuntimeError, match="is at version 1; expected version 0"):
        z.sum().backward()
