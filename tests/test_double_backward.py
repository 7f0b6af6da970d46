"""Multi-output Functions, and the gradient ops of fused ops: one first-order path, second and
third orders from differentiating the op's rule written in chainrule ops."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import chainrule
import chainrule.nn.functional as F
from chainrule.autograd import gradcheck, gradgradcheck
from chainrule.autograd.function import OP_REGISTRY, Function
from chainrule.ops.recurrent import GRURecurrence


@pytest.fixture
def min_max_op() -> Iterator[type[Function]]:
    """An op with four outputs: min and max (differentiable), a float count marked not
    differentiable, and an int64 index (never differentiable)."""

    class MinMaxProbe(Function):
        seen: list[tuple[np.ndarray, np.ndarray]] = []  # what each backward received

        @staticmethod
        def forward(ctx, x):
            ctx.save_inputs(0)
            ctx.mark_non_differentiable(2)
            return x.min(), x.max(), np.asarray(float(x.size)), np.asarray(x.argmax())

        @staticmethod
        def backward(ctx, grad_min, grad_max, grad_count, grad_index):
            (x,) = ctx.saved_inputs
            MinMaxProbe.seen.append((grad_min.array.copy(), grad_max.array.copy()))
            is_min = chainrule.Tensor._wrap((x.array == x.array.min()).astype(x.dtype))
            is_max = chainrule.Tensor._wrap((x.array == x.array.max()).astype(x.dtype))
            return grad_min * is_min + grad_max * is_max

    yield MinMaxProbe
    OP_REGISTRY.pop("MinMaxProbe", None)


def _x() -> chainrule.Tensor:
    return chainrule.tensor([1.0, 4.0, -2.0, 3.0], dtype=chainrule.float64, requires_grad=True)


def test_a_multi_output_op_returns_a_tensor_per_output(min_max_op: Any) -> None:
    low, high, count, index = min_max_op.apply(_x())
    assert (low.item(), high.item(), count.item(), index.item()) == (-2.0, 4.0, 4.0, 1)
    assert low.requires_grad and high.requires_grad
    assert not count.requires_grad and count.grad_fn is None  # marked not differentiable
    assert not index.requires_grad and index.dtype == np.int64  # integers never are
    assert low.grad_fn is not high.grad_fn and low.grad_fn.name() == "MinMaxProbeBackward0"


def test_backward_runs_once_with_zeros_for_the_unused_output(min_max_op: Any) -> None:
    x = _x()
    low, high, _, _ = min_max_op.apply(x)
    (high * 3).backward()
    np.testing.assert_array_equal(x.grad.array, [0.0, 3.0, 0.0, 0.0])
    assert len(min_max_op.seen) == 1
    np.testing.assert_array_equal(min_max_op.seen[0][0], 0.0)  # the unused min: zeros, as PyTorch


def test_gradients_of_both_outputs_meet_in_one_backward(min_max_op: Any) -> None:
    x = _x()
    low, high, _, _ = min_max_op.apply(x)
    (low * 2 + high * 5 + low).backward()
    np.testing.assert_array_equal(x.grad.array, [0.0, 5.0, 3.0, 0.0])
    assert len(min_max_op.seen) == 1 and min_max_op.seen[0] == (3.0, 5.0)


def test_hooks_retain_grad_and_autograd_grad_tell_the_outputs_apart(min_max_op: Any) -> None:
    x = _x()
    low, high, _, _ = min_max_op.apply(x)
    high.register_hook(lambda grad: grad * 10)
    low.retain_grad()
    (low + high).backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad.array, [0.0, 10.0, 1.0, 0.0])
    assert low.grad.item() == 1.0
    (only_low,) = chainrule.autograd.grad(low * 7 + high, [low])
    assert only_low.item() == 7.0


def test_a_multi_output_op_is_differentiable_twice(min_max_op: Any) -> None:
    x = _x()
    assert gradcheck(lambda t: min_max_op.apply(t)[:2], (x,))
    assert gradgradcheck(lambda t: [o * o for o in min_max_op.apply(t * t)[:2]], (x,))


def test_save_output_is_refused_for_several_outputs() -> None:
    class TwoOutputsSavingProbe(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_output()
            return x, x

    try:
        with pytest.raises(TypeError, match="returned several outputs; save_output"):
            TwoOutputsSavingProbe.apply(_x())
    finally:
        OP_REGISTRY.pop("TwoOutputsSavingProbe", None)


def test_max_pool_indices_and_batch_norm_statistics_are_outputs_of_one_node() -> None:
    x = chainrule.randn(1, 2, 4, 4, requires_grad=True)
    out, indices = F.max_pool2d(x, 2, return_indices=True)
    assert indices.dtype == np.int64 and not indices.requires_grad
    assert out.grad_fn.name() == "MaxPool2dBackward0" and out.grad_fn.index == 0
    from chainrule.ops.norm import Normalize

    y, mean, var = Normalize.apply(x, None, None, (0, 2, 3), 1e-5)
    assert y.requires_grad and not mean.requires_grad and not var.requires_grad
    np.testing.assert_allclose(mean.array.ravel(), x.array.mean(axis=(0, 2, 3)), rtol=1e-6)


def test_lstm_returns_hidden_states_and_last_cell_from_one_node() -> None:
    from chainrule.ops import recurrent as rnn

    rng = np.random.default_rng(0)
    gates, h0, c0 = (chainrule.tensor(rng.standard_normal(s), requires_grad=True)
                     for s in ((3, 2, 8), (2, 2), (2, 2)))
    weight = chainrule.tensor(rng.standard_normal((8, 2)) * 0.5, requires_grad=True)
    hidden, cell = rnn.LSTMRecurrence.apply(gates, h0, c0, weight, None, False)
    assert hidden.shape == (3, 2, 2) and cell.shape == (2, 2)
    assert hidden.grad_fn.function is cell.grad_fn.function
    cell.sum().backward()  # the hidden states' gradient is zeros: c alone reaches c0 through f
    assert c0.grad is not None and np.abs(c0.grad.array).sum() > 0


# ---------------------------------------------------- fused ops: orders two and three
def _weights(*shape: int) -> chainrule.Tensor:
    return chainrule.tensor(np.random.default_rng(sum(shape)).standard_normal(shape))


THIRD_ORDER_CASES = {
    "layer_norm": (lambda x: F.layer_norm(x, (4,), _weights(4), _weights(4)), (3, 4)),
    "linear": (lambda x: F.linear(x, x.sin(), _weights(2)), (2, 4)),
    "cross_entropy": (lambda x: F.cross_entropy(x, chainrule.tensor([1, 0, 3])), (3, 4)),
    "gru": (lambda x: GRURecurrence.apply(x, x[0, :, :2], _weights(6, 2), None, False), (3, 1, 6)),
}


@pytest.mark.parametrize("name", THIRD_ORDER_CASES)
def test_third_order_through_a_gradient_op(name: str) -> None:
    """gradgradcheck of a gradient: the fused op's gradient op is differentiated twice, its
    second backward through ``RecordedSubgraph``."""
    op, shape = THIRD_ORDER_CASES[name]
    x = chainrule.tensor(np.random.default_rng(1).standard_normal(shape) * 0.7, requires_grad=True)
    covector = chainrule.tensor(np.random.default_rng(2).standard_normal(op(x.detach()).shape))

    def gradient(t: chainrule.Tensor) -> chainrule.Tensor:
        (g,) = chainrule.autograd.grad((op(t) * covector).sum(), [t], create_graph=True)
        return g * g

    assert gradgradcheck(gradient, (x,), atol=1e-4)
