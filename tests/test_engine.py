"""The backward engine as PyTorch users rely on it: accumulation, retain_graph, errors, deep
graphs, freeing saved tensors, skipping unneeded gradients, grad modes, hooks, retain_grad,
autograd.grad (higher order, allow_unused, several outputs and inputs), in-place ops and the
version counter, aliasing of .grad, float32 end to end, and clear error messages."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import numpy as np
import pytest

import chainrule
import chainrule.nn.functional as F
from chainrule.autograd import gradcheck
from chainrule.ops import linalg
from chainrule.ops.linalg import Linear, MatMul


def leaf(values: Any, dtype: Any = chainrule.float64) -> chainrule.Tensor:
    return chainrule.tensor(values, dtype=dtype, requires_grad=True)


# ------------------------------------------------------------------- accumulation, retain_graph
def test_gradients_accumulate_into_leaves_across_backward_calls() -> None:
    x = leaf([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.array, [2.0, 4.0, 6.0])
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.array, [5.0, 7.0, 9.0])
    x.grad = None
    x.sin().sum().backward()
    np.testing.assert_allclose(x.grad.array, np.cos([1.0, 2.0, 3.0]))


def test_second_backward_without_retain_graph_raises_naming_retain_graph() -> None:
    x = leaf([1.0, 2.0])
    loss = x.exp().sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        loss.backward()


def test_retain_graph_allows_a_second_backward_that_accumulates() -> None:
    x = leaf([1.0, 2.0])
    loss = (x.exp() * x).sum()
    loss.backward(retain_graph=True)
    first = x.grad.array.copy()
    loss.backward()
    np.testing.assert_allclose(x.grad.array, 2 * first)
    np.testing.assert_allclose(first, np.exp([1.0, 2.0]) * (1 + np.array([1.0, 2.0])))


def test_backward_of_a_non_scalar_needs_a_gradient() -> None:
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match=r"implicitly created only for outputs with one element.*\(2,\)"):
        y.backward()


def test_backward_with_a_gradient_of_the_wrong_shape_raises() -> None:
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match=r"shape \(3,\).*shape \(2,\)"):
        y.backward(chainrule.ones(3, dtype=chainrule.float64))


def test_backward_with_an_explicit_gradient_is_a_vector_jacobian_product() -> None:
    x = leaf([1.0, 2.0, 3.0])
    (x * x).backward(chainrule.tensor([1.0, 0.5, -1.0], dtype=chainrule.float64))
    np.testing.assert_allclose(x.grad.array, [2.0, 2.0, -6.0])


def test_backward_of_a_tensor_that_does_not_require_grad_raises() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        chainrule.ones(2).sum().backward()


# --------------------------------------------------------------------------- deep graphs
def test_a_chain_of_ten_thousand_ops_backpropagates_without_recursion() -> None:
    x = leaf(1.0)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 1.0001**10_000, rtol=1e-9)


def test_a_wide_and_deep_graph_with_shared_nodes_counts_every_path() -> None:
    # y_{k+1} = y_k + y_k doubles the gradient at each of 50 levels: 2**50 paths.
    x = leaf(1.0)
    y = x
    for _ in range(50):
        y = y + y
    y.backward()
    assert x.grad.item() == 2.0**50


# -------------------------------------------------------------------------------- memory
def test_saved_tensors_are_released_by_backward() -> None:
    x = leaf(np.linspace(0.1, 1.0, 5))
    hidden = x * 2  # saved by the Sin node below
    hidden_ref = weakref.ref(hidden)
    out = hidden.sin().sum()
    sin_node = out.grad_fn.next_edges[0]
    del hidden
    gc.collect()
    assert hidden_ref() is not None, "the Sin node should keep its input alive until backward"
    out.backward()
    gc.collect()
    assert hidden_ref() is None, "backward should have dropped the tensor saved for it"
    assert sin_node._saved is None


def test_saved_output_and_ctx_attributes_are_released_by_backward() -> None:
    x = leaf(np.linspace(-1.0, 1.0, 6).reshape(2, 3))
    probabilities = F.softmax(x, dim=1)  # saves its output
    relu_out = F.relu(x + 0.05)          # keeps a mask as a ctx attribute
    (probabilities * relu_out).sum().backward()
    assert probabilities.grad_fn._out_data is None
    assert not hasattr(relu_out.grad_fn, "mask")


def test_retain_graph_keeps_saved_tensors() -> None:
    x = leaf([0.5, 1.5])
    out = x.exp().sum()
    out.backward(retain_graph=True)
    assert out.grad_fn.next_edges[0]._out_data is not None


# --------------------------------------------------------------- only needed gradients
class _MatmulCounter:
    """Counts the matrix products run by ``chainrule.ops.linalg``: its ops and its backward
    shortcuts all multiply through ``chainrule.kernels.blas.matmul`` there."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real_blas = linalg.blas
        counter = self

        class CountingBlas:
            def __getattr__(self, name: str) -> Any:
                return getattr(real_blas, name)

            @staticmethod
            def matmul(*args: Any, **kwargs: Any) -> Any:
                counter.count += 1
                return real_blas.matmul(*args, **kwargs)

        monkeypatch.setattr(linalg, "blas", CountingBlas())


def _record_needs(monkeypatch: pytest.MonkeyPatch, op: type) -> list[tuple[bool, ...]]:
    seen: list[tuple[bool, ...]] = []
    original = op.backward

    def recording(ctx: Any, grad: Any) -> Any:
        seen.append(tuple(ctx.needs_input_grad))
        return original(ctx, grad)

    monkeypatch.setattr(op, "backward", staticmethod(recording))
    return seen


def test_linear_backward_skips_the_input_gradient_of_a_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    needs = _record_needs(monkeypatch, Linear)
    x = chainrule.randn(8, 4)  # a data batch: no requires_grad
    weight, bias = chainrule.randn(3, 4, requires_grad=True), chainrule.randn(3, requires_grad=True)
    out = F.linear(x, weight, bias).sum()
    counter = _MatmulCounter(monkeypatch)
    out.backward()
    assert needs == [(False, True, True)]
    assert counter.count == 1, "only the weight gradient needs a matrix product"
    assert x.grad is None and weight.grad is not None and bias.grad is not None


def test_matmul_backward_computes_only_the_gradient_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    needs = _record_needs(monkeypatch, MatMul)
    x = chainrule.randn(5, 4)
    weight = chainrule.randn(4, 2, requires_grad=True)
    out = (x @ weight).sum()
    counter = _MatmulCounter(monkeypatch)
    out.backward()
    assert needs == [(False, True)]
    assert counter.count == 1
    assert x.grad is None
    np.testing.assert_allclose(weight.grad.array, x.array.sum(0)[:, None] * np.ones((4, 2)), rtol=1e-5)


def test_a_subgraph_that_needs_no_gradient_is_not_recorded() -> None:
    constant = chainrule.randn(3).exp() * 2
    assert constant.grad_fn is None and not constant.requires_grad
    x = leaf([1.0, 2.0, 3.0])
    out = (x * constant.double()).sum()
    assert [e for e in out.grad_fn.next_edges[0].next_edges if e is not None] == [x]


# ---------------------------------------------------------------------------- grad modes
def test_no_grad_as_context_manager_and_decorator() -> None:
    x = leaf([1.0])
    with chainrule.no_grad():
        assert not chainrule.is_grad_enabled()
        assert not (x * 2).requires_grad
    assert chainrule.is_grad_enabled()

    @chainrule.no_grad()
    def double(t: chainrule.Tensor) -> chainrule.Tensor:
        return t * 2

    assert double(x).grad_fn is None
    assert chainrule.is_grad_enabled()


def test_enable_grad_inside_no_grad_as_context_manager_and_decorator() -> None:
    x = leaf([1.0])

    @chainrule.enable_grad()
    def double(t: chainrule.Tensor) -> chainrule.Tensor:
        return t * 2

    with chainrule.no_grad():
        with chainrule.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
        assert double(x).requires_grad
        assert not chainrule.is_grad_enabled()


def test_set_grad_enabled_as_call_context_manager_and_decorator() -> None:
    x = leaf([1.0])
    chainrule.set_grad_enabled(False)
    assert not chainrule.is_grad_enabled() and not (x * 2).requires_grad
    chainrule.set_grad_enabled(True)
    assert chainrule.is_grad_enabled() and (x * 2).requires_grad
    with chainrule.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert chainrule.is_grad_enabled()

    @chainrule.set_grad_enabled(False)
    def double(t: chainrule.Tensor) -> chainrule.Tensor:
        return t * 2

    assert chainrule.is_grad_enabled(), "decorating must not switch recording off for good"
    assert not double(x).requires_grad
    assert chainrule.is_grad_enabled()


def test_grad_mode_is_restored_when_the_block_raises() -> None:
    @chainrule.no_grad()
    def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError):
        fail()
    assert chainrule.is_grad_enabled()
    with pytest.raises(ValueError), chainrule.no_grad():
        raise ValueError("boom")
    assert chainrule.is_grad_enabled()


# ---------------------------------------------------------------------- hooks, retain_grad
def test_hook_on_a_leaf_can_replace_its_gradient_and_be_removed() -> None:
    x = leaf([1.0, 2.0])
    handle = x.register_hook(lambda grad: grad * 2)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.array, [4.0, 8.0])
    handle.remove()
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.array, [2.0, 4.0])


def test_hook_on_a_non_leaf_changes_what_flows_upstream() -> None:
    x = leaf([1.0, 2.0])
    hidden = x * 3
    seen = []
    hidden.register_hook(lambda grad: seen.append(grad.array.copy()))
    hidden.register_hook(lambda grad: grad * 10)
    (hidden * hidden).sum().backward()
    np.testing.assert_allclose(seen[0], [6.0, 12.0])  # d/dh of h^2, before the scaling hook
    np.testing.assert_allclose(x.grad.array, 3 * 10 * np.array([6.0, 12.0]))


def test_hooks_see_the_total_gradient_once_for_a_tensor_used_twice() -> None:
    x = leaf([1.0, 2.0])
    hidden = x * 1
    leaf_calls, hidden_calls = [], []
    x.register_hook(lambda grad: leaf_calls.append(grad.array.copy()))
    hidden.register_hook(lambda grad: hidden_calls.append(grad.array.copy()))
    (hidden + hidden + x).sum().backward()
    assert len(hidden_calls) == 1 and len(leaf_calls) == 1
    np.testing.assert_allclose(hidden_calls[0], [2.0, 2.0])
    np.testing.assert_allclose(leaf_calls[0], [3.0, 3.0])


def test_a_hook_returning_the_wrong_shape_raises() -> None:
    x = leaf([1.0, 2.0])
    x.register_hook(lambda grad: grad.sum())
    with pytest.raises(RuntimeError, match=r"hook.*shape \(\).*shape \(2,\)"):
        (x * 2).sum().backward()
    y = leaf([1.0, 2.0])
    hidden = y * 2
    hidden.register_hook(lambda grad: chainrule.ones(3, dtype=chainrule.float64))
    with pytest.raises(RuntimeError, match="hook"):
        hidden.sum().backward()


def test_hook_on_a_tensor_without_grad_raises() -> None:
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        chainrule.ones(2).register_hook(lambda grad: grad)


def test_retain_grad_keeps_the_gradient_of_a_non_leaf() -> None:
    x = leaf([1.0, 2.0])
    hidden = x * x
    other = x * 2
    hidden.retain_grad()
    assert hidden.retains_grad and not other.retains_grad
    (hidden * 3 + other).sum().backward()
    np.testing.assert_allclose(hidden.grad.array, [3.0, 3.0])
    assert other.grad is None
    np.testing.assert_allclose(x.grad.array, [8.0, 14.0])


# --------------------------------------------------------------------------- autograd.grad
def test_grad_returns_gradients_without_touching_dot_grad() -> None:
    x = leaf([1.0, 2.0])
    (gradient,) = chainrule.autograd.grad((x**3).sum(), x)
    np.testing.assert_allclose(gradient.array, [3.0, 12.0])
    assert x.grad is None and gradient.grad_fn is None


def test_hessian_vector_product_matches_the_analytic_hessian() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 3))
    x = leaf(rng.standard_normal(3))
    v = rng.standard_normal(3)
    matrix = chainrule.tensor(a)
    f = (x @ matrix @ x) + (x**3).sum()  # Hessian: A + A^T + diag(6 x)
    (gradient,) = chainrule.autograd.grad(f, x, create_graph=True)
    np.testing.assert_allclose(gradient.array, (a + a.T) @ x.array + 3 * x.array**2)
    (hvp,) = chainrule.autograd.grad((gradient * chainrule.tensor(v)).sum(), x)
    np.testing.assert_allclose(hvp.array, (a + a.T + np.diag(6 * x.array)) @ v, rtol=1e-12)


def test_gradient_penalty_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(1)
    x = leaf(rng.standard_normal((4, 3)))

    def penalty(weight: chainrule.Tensor) -> chainrule.Tensor:
        critic = (x @ weight).tanh().sum()
        (input_grad,) = chainrule.autograd.grad(critic, x, create_graph=True)
        return ((input_grad.norm(dim=1) - 1) ** 2).mean()

    weight = leaf(rng.standard_normal((3, 2)))
    assert penalty(weight).requires_grad
    assert gradcheck(penalty, (weight,))


def test_third_order_derivative() -> None:
    x = leaf(0.7)
    (first,) = chainrule.autograd.grad(x.sin() * x, x, create_graph=True)
    (second,) = chainrule.autograd.grad(first, x, create_graph=True)
    (third,) = chainrule.autograd.grad(second, x)
    value = 0.7
    # d^3/dx^3 (x sin x) = -3 sin x - x cos x
    np.testing.assert_allclose(third.item(), -3 * np.sin(value) - value * np.cos(value))


def test_grad_of_an_unused_input_raises_unless_allow_unused() -> None:
    x, unused = leaf([1.0]), leaf([2.0])
    with pytest.raises(RuntimeError, match="allow_unused"):
        chainrule.autograd.grad((x * 2).sum(), [x, unused])
    grads = chainrule.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert grads[1] is None
    np.testing.assert_allclose(grads[0].array, [2.0])
    grads = chainrule.autograd.grad((x * 2).sum(), [x, unused], materialize_grads=True)
    np.testing.assert_array_equal(grads[1].array, [0.0])


def test_grad_of_several_outputs_and_inputs_sums_over_outputs() -> None:
    a, b = leaf([1.0, 2.0]), leaf([3.0, -1.0])
    first, second = a * b, (a + b).exp()
    weights = [chainrule.tensor([1.0, 2.0], dtype=chainrule.float64),
               chainrule.tensor([0.5, -1.0], dtype=chainrule.float64)]
    grad_a, grad_b = chainrule.autograd.grad([first, second], [a, b], weights)
    exp_sum = np.exp(a.array + b.array)
    np.testing.assert_allclose(grad_a.array, weights[0].array * b.array + weights[1].array * exp_sum)
    np.testing.assert_allclose(grad_b.array, weights[0].array * a.array + weights[1].array * exp_sum)


def test_backward_of_outputs_one_computed_from_another_counts_each_edge_once() -> None:
    # The first output's node is also reached from the second: walked twice, it would count
    # its edges twice and x would wait forever for a second gradient.
    x = leaf([1.0, 2.0])
    for second_first in (False, True):
        first = x * 3
        outputs = [first, first * 2]
        if second_first:
            outputs.reverse()
        x.grad = None
        chainrule.autograd.backward(outputs, [chainrule.ones(2, dtype=chainrule.float64)] * 2)
        np.testing.assert_array_equal(x.grad.array, [9.0, 9.0])


def test_grad_with_respect_to_a_non_leaf() -> None:
    x = leaf([0.3, 1.2])
    hidden = x * 2
    out = hidden.sin().sum() + (x * 5).sum()
    grad_hidden, grad_x = chainrule.autograd.grad(out, [hidden, x])
    np.testing.assert_allclose(grad_hidden.array, np.cos(hidden.array))
    np.testing.assert_allclose(grad_x.array, 2 * np.cos(hidden.array) + 5)


def test_grad_of_an_input_that_does_not_require_grad_raises() -> None:
    x = leaf([1.0])
    with pytest.raises(RuntimeError, match="input 1 does not require grad"):
        chainrule.autograd.grad((x * 2).sum(), [x, chainrule.ones(1)])


# ----------------------------------------------------------------------------- in-place ops
def test_in_place_ops_on_a_tensor_that_does_not_require_grad() -> None:
    t = chainrule.tensor([1.0, 2.0, 3.0])
    t.add_(1).mul_(2).sub_(1).div_(2)
    np.testing.assert_allclose(t.array, [1.5, 2.5, 3.5])
    t.add_(chainrule.tensor([1.0, 1.0, 1.0]), alpha=2)
    np.testing.assert_allclose(t.array, [3.5, 4.5, 5.5])
    t.clamp_(min=4.0, max=5.0)
    np.testing.assert_allclose(t.array, [4.0, 4.5, 5.0])
    t.copy_(chainrule.tensor([7.0, 8.0, 9.0]))
    np.testing.assert_allclose(t.array, [7.0, 8.0, 9.0])
    t.fill_(2.5)
    np.testing.assert_allclose(t.array, [2.5, 2.5, 2.5])
    t.zero_()
    np.testing.assert_array_equal(t.array, [0.0, 0.0, 0.0])
    assert t.dtype == np.float32 and t._version == 9


def test_in_place_ops_keep_float32_with_float64_operands() -> None:
    t = chainrule.zeros(3)
    t.add_(np.float64(0.1)).mul_(np.array([1.0, 2.0, 3.0])).sub_(chainrule.ones(3, dtype=chainrule.float64))
    assert t.dtype == np.float32
    np.testing.assert_allclose(t.array, [-0.9, -0.8, -0.7], rtol=1e-6)


def test_random_in_place_fills() -> None:
    chainrule.manual_seed(0)
    t = chainrule.empty(20_000)
    t.uniform_(-2.0, 3.0)
    assert t.array.min() >= -2.0 and t.array.max() < 3.0
    assert abs(t.array.mean() - 0.5) < 0.05  # standard error 5 / sqrt(12 * 20000) = 0.01
    t.normal_(1.0, 2.0)
    assert abs(t.array.mean() - 1.0) < 0.1 and abs(t.array.std() - 2.0) < 0.1
    assert t.dtype == np.float32


def test_in_place_updates_of_a_parameter_under_no_grad() -> None:
    weight = leaf([1.0, 2.0], dtype=chainrule.float32)
    (weight * weight).sum().backward()
    with chainrule.no_grad():
        weight.sub_(weight.grad, alpha=0.5)
        weight -= 0.5 * weight.grad
    np.testing.assert_allclose(weight.array, [-1.0, -2.0])
    assert weight.is_leaf and weight.requires_grad and weight.grad_fn is None
    with chainrule.no_grad():
        weight.zero_().add_(1.0).uniform_().normal_().fill_(3.0).clamp_(max=1.0)
        weight.copy_(chainrule.tensor([5.0, 6.0]))
    np.testing.assert_allclose(weight.array, [5.0, 6.0])


@pytest.mark.parametrize("update", [
    lambda t: t.add_(1), lambda t: t.mul_(2), lambda t: t.sub_(1), lambda t: t.div_(2),
    lambda t: t.zero_(), lambda t: t.fill_(1.0), lambda t: t.copy_(chainrule.ones(2)),
    lambda t: t.clamp_(0.0, 1.0), lambda t: t.uniform_(), lambda t: t.normal_(),
])
def test_in_place_on_a_leaf_requiring_grad_while_recording_raises(update: Any) -> None:
    weight = chainrule.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        update(weight)
    np.testing.assert_array_equal(weight.array, [1.0, 1.0])


def test_changing_a_tensor_saved_for_backward_raises_at_backward() -> None:
    x = leaf([1.0, 2.0])
    scale = chainrule.tensor([3.0, 4.0], dtype=chainrule.float64)
    out = (x * scale).sum()  # Mul saves scale
    scale.mul_(2)
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation.*is at version 1; "
                                           r"expected version 0 instead\. MulBackward0"):
        out.backward()


def test_changing_a_saved_output_under_no_grad_raises_at_backward() -> None:
    x = leaf([1.0, 2.0])
    hidden = x.exp()  # Exp saves its output
    out = hidden.sum()
    with chainrule.no_grad():
        hidden.add_(1)
    with pytest.raises(RuntimeError, match=r"inplace operation.*output 0 of ExpBackward0"):
        out.backward()


def test_leaf_gradients_fed_the_same_gradient_are_not_aliases() -> None:
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    a.grad.add_(1)
    np.testing.assert_array_equal(b.grad.array, [1.0, 1.0])
    np.testing.assert_array_equal(a.grad.array, [2.0, 2.0])


def test_a_gradient_passed_to_backward_does_not_become_a_dot_grad() -> None:
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    gradient = chainrule.tensor([1.0, 1.0], dtype=chainrule.float64)
    (a + b).backward(gradient)
    a.grad.mul_(5)
    b.grad.add_(1)
    np.testing.assert_array_equal(gradient.array, [1.0, 1.0])
    np.testing.assert_array_equal(a.grad.array, [5.0, 5.0])
    np.testing.assert_array_equal(b.grad.array, [2.0, 2.0])


def test_a_broadcast_gradient_gives_a_writable_dot_grad_of_the_input_shape() -> None:
    bias = leaf([0.0, 0.0, 0.0])
    (chainrule.ones(4, 3, dtype=chainrule.float64) + bias).sum().backward()
    assert bias.grad.shape == (3,)
    bias.grad.add_(1)
    np.testing.assert_array_equal(bias.grad.array, [5.0, 5.0, 5.0])
    scalar = leaf(2.0)
    (chainrule.ones(2, 2, dtype=chainrule.float64) * scalar).sum().backward()
    assert scalar.grad.shape == () and scalar.grad.item() == 4.0


# ---------------------------------------------------------------------------- float32
def test_a_small_mlp_stays_float32_end_to_end() -> None:
    chainrule.manual_seed(0)
    x = chainrule.randn(8, 5)
    target = chainrule.randint(0, 3, (8,))
    w1 = chainrule.randn(16, 5, requires_grad=True)
    b1 = chainrule.zeros(16, requires_grad=True)
    w2 = chainrule.randn(3, 16, requires_grad=True)
    hidden = F.relu(F.linear(x, w1, b1)) * np.float64(0.5) + np.array(0.1)
    hidden = F.gelu(hidden) / 2.0 - chainrule.tensor(0.25)
    logits = hidden @ w2.T
    loss = F.cross_entropy(logits, target) + np.float64(1e-3) * (w1**2).sum() + w2.abs().mean()
    for value in (x, hidden, logits, loss):
        assert value.dtype == np.float32, value
    loss.backward()
    for parameter in (w1, b1, w2):
        assert parameter.grad.dtype == np.float32
        assert parameter.grad.shape == parameter.shape


def test_float32_gradient_of_float64_scalar_ops_is_float32() -> None:
    x = chainrule.tensor([0.5, 1.5], requires_grad=True)
    y = (x * np.float64(2.0) + np.float64(1.0)) ** np.float64(2.0) / np.float64(3.0)
    y = y.exp().log() - np.float64(0.5)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


# ---------------------------------------------------------------------------- errors
def test_matmul_shape_mismatch_names_the_op_and_both_shapes() -> None:
    with pytest.raises(RuntimeError) as error:
        chainrule.ones(128, 784) @ chainrule.ones(512, 10)
    assert str(error.value) == "matmul: (128, 784) @ (512, 10): inner sizes 784 and 512 differ"


def test_indexing_with_a_float_raises() -> None:
    x = chainrule.ones(3)
    with pytest.raises(IndexError, match="float"):
        x[1.0]
    with pytest.raises(IndexError, match="float"):
        x[chainrule.tensor([0.0, 1.0])]


def test_a_bool_or_integer_tensor_cannot_require_grad() -> None:
    with pytest.raises(RuntimeError, match="floating point"):
        chainrule.tensor([True, False], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        chainrule.tensor([1, 2]).requires_grad_()


def test_requires_grad_cannot_be_switched_off_on_a_non_leaf() -> None:
    hidden = leaf([1.0]) * 2
    with pytest.raises(RuntimeError, match="detach"):
        hidden.requires_grad_(False)


def test_broadcasting_mismatch_raises() -> None:
    with pytest.raises(ValueError):
        chainrule.ones(2, 3) + chainrule.ones(4)


def test_an_op_name_taken_by_another_chainrule_module_is_refused() -> None:
    from chainrule.autograd.function import OP_REGISTRY, Function

    with pytest.raises(TypeError, match="an op named Exp already exists in chainrule.ops.elementwise"):
        type("Exp", (Function,), {"__module__": "chainrule.ops.some_new_module"})
    assert OP_REGISTRY["Exp"].__module__ == "chainrule.ops.elementwise"


class Exp(chainrule.autograd.Function):
    """A user's op named like chainrule's own, written to PyTorch's contract: e^x with the
    derivative written out."""

    @staticmethod
    def forward(ctx, x):
        result = x.exp()
        ctx.save_for_backward(result)
        return result

    @staticmethod
    def backward(ctx, grad):
        (result,) = ctx.saved_tensors
        return grad * result


class ArrayExp(chainrule.autograd.function.Function):
    """The same op on chainrule's array-level contract (the library's own ops' base class),
    under the same clashing name."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_output()
        return np.exp(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.saved_output


ArrayExp.__name__ = ArrayExp.__qualname__ = "Exp"


@pytest.mark.parametrize("user_op", [Exp, ArrayExp], ids=["pytorch-contract", "array-contract"])
def test_a_user_op_may_share_a_name_with_a_chainrule_op(user_op) -> None:
    from chainrule.autograd.function import OP_REGISTRY

    x = leaf([0.0, 1.0])
    user_op.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.array, np.exp([0.0, 1.0]))
    assert OP_REGISTRY["Exp"] is chainrule.ops.elementwise.Exp  # the library's op is still checked
    assert user_op not in OP_REGISTRY.values()
    assert gradcheck(user_op.apply, (leaf([0.5, -1.0]),))


# ------------------------------------------------------------ what a backward rule returns
def malformed_functions(lib: Any) -> dict[str, Any]:
    """Four Functions whose backward returns a malformed gradient, written for either library
    (``lib.autograd.Function``), so that PyTorch can show what it does with each."""

    class TransposedGradient(lib.autograd.Function):
        """Identity whose backward hands back the gradient transposed: (4, 3) for (3, 4)."""

        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            return grad.T

    class TooManyGradients(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2, grad

    class TooFewGradients(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, grad):
            return grad

    class Float64Gradient(lib.autograd.Function):
        """x * 3 whose backward computes in float64 whatever the input's dtype."""

        @staticmethod
        def forward(ctx, x):
            return x * 3

        @staticmethod
        def backward(ctx, grad):
            return grad.double() * 3

    return {f.__name__: f for f in (TransposedGradient, TooManyGradients, TooFewGradients, Float64Gradient)}


MALFORMED = malformed_functions(chainrule)
TransposedGradient = MALFORMED["TransposedGradient"]
TooManyGradients = MALFORMED["TooManyGradients"]
TooFewGradients = MALFORMED["TooFewGradients"]
Float64Gradient = MALFORMED["Float64Gradient"]


class BroadcastGradient(chainrule.autograd.function.Function):
    """x (3,) whose backward returns a (2, 3) gradient: broadcasting the engine sums away."""

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad.expand(2, 3)


class ArrayGradient(chainrule.autograd.function.Function):
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad.array


def test_a_gradient_of_a_shape_that_is_not_broadcasting_raises() -> None:
    x = chainrule.ones(3, 4, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"TransposedGradientBackward0? returned an invalid gradient for "
                                           r"its input 0: shape \(4, 3\), but the input has shape \(3, 4\)"):
        TransposedGradient.apply(x).sum().backward()
    assert x.grad is None


def test_a_gradient_with_broadcasting_left_in_is_summed_to_the_input_shape() -> None:
    x = leaf([1.0, 2.0, 3.0])
    BroadcastGradient.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad.array, [2.0, 2.0, 2.0])


@pytest.mark.parametrize("function, arguments, returned, expected", [
    (TooManyGradients, 1, 2, 1),
    (TooFewGradients, 2, 1, 2),
])
def test_a_wrong_number_of_gradients_raises(function: Any, arguments: int, returned: int,
                                            expected: int) -> None:
    inputs = [leaf([1.0, 2.0]) for _ in range(arguments)]
    with pytest.raises(RuntimeError, match=rf"{function.__name__}Backward0? returned {returned} "
                                           rf"gradients, but its forward took {expected} arguments"):
        function.apply(*inputs).sum().backward()


def test_a_float64_gradient_is_cast_to_a_float32_input() -> None:
    x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    Float64Gradient.apply(x).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.array, [3.0, 3.0])
    (dx,) = chainrule.autograd.grad(Float64Gradient.apply(x).sum(), x)
    assert dx.dtype == np.float32


def test_a_gradient_that_is_not_a_tensor_raises() -> None:
    with pytest.raises(TypeError, match="ArrayGradientBackward0 returned a ndarray as the gradient of "
                                        "its input 0"):
        ArrayGradient.apply(leaf([1.0])).sum().backward()


def test_malformed_gradients_fail_in_pytorch_too() -> None:
    """The same four rules as PyTorch Functions: PyTorch refuses the shape and both counts,
    and casts the dtype."""
    torch = pytest.importorskip("torch")
    functions = malformed_functions(torch)
    with pytest.raises(RuntimeError, match=r"invalid gradient at index 0 - got \[4, 3\]"):
        functions["TransposedGradient"].apply(torch.ones(3, 4, requires_grad=True)).sum().backward()
    with pytest.raises(RuntimeError, match=r"incorrect number of gradients \(expected 1, got 2\)"):
        functions["TooManyGradients"].apply(torch.ones(2, requires_grad=True)).sum().backward()
    with pytest.raises(RuntimeError, match=r"incorrect number of gradients \(expected 2, got 1\)"):
        pair = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
        functions["TooFewGradients"].apply(*pair).sum().backward()
    x = torch.ones(2, requires_grad=True)
    functions["Float64Gradient"].apply(x).sum().backward()
    assert x.grad.dtype == torch.float32


def test_mixed_precision_ops_give_a_float32_leaf_a_float32_grad() -> None:
    """A float32 leaf times a float64 tensor computes in float64; the gradient reaching the
    leaf is cast back, as in PyTorch (it used to arrive, and stay, as float64)."""
    x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    scale = chainrule.tensor([0.1, 0.2], dtype=chainrule.float64)
    out = (x * scale).sum()
    assert out.dtype == np.float64
    out.backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.array, [0.1, 0.2], rtol=1e-7)


# ------------------------------------------------------------------------ per-thread modes
def _in_two_threads(first: Any, second: Any) -> list[Any]:
    """Run ``first(wait)`` and ``second(wait)`` in two threads, each calling ``wait()`` to meet
    the other mid-way (so that each runs its second half while the other is inside its own
    block); return their results, re-raising a failure."""
    import threading

    barrier = threading.Barrier(2, timeout=30)
    results: list[Any] = [None, None]

    def run(index: int, work: Any) -> None:
        try:
            results[index] = work(barrier.wait)
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            results[index] = error

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def test_no_grad_in_one_thread_leaves_recording_on_in_another() -> None:
    x = leaf([1.0, 2.0])

    def evaluating(wait: Any) -> tuple[bool, bool]:
        with chainrule.no_grad():
            wait()  # the other thread records now, while this one is inside no_grad
            out = x * 2
            wait()
        return out.requires_grad, chainrule.is_grad_enabled()

    def training(wait: Any) -> tuple[bool, bool]:
        wait()
        out = x * 2
        wait()
        (grad,) = chainrule.autograd.grad(out.sum(), x)
        return out.requires_grad and out.grad_fn is not None, grad.array.tolist() == [2.0, 2.0]

    assert _in_two_threads(evaluating, training) == [(False, True), (True, True)]


def test_a_new_thread_records_even_when_the_starting_thread_does_not() -> None:
    x = leaf([1.0])
    with chainrule.no_grad():
        results = _in_two_threads(lambda wait: (x * 2).requires_grad,
                                  lambda wait: chainrule.is_grad_enabled())
        assert not (x * 2).requires_grad
    assert results == [True, True]


def test_anomaly_detection_in_one_thread_leaves_another_unchecked() -> None:
    from chainrule.autograd import AnomalyError, detect_anomaly, is_anomaly_enabled

    def checking(wait: Any) -> str:
        with detect_anomaly():
            wait()
            try:
                with np.errstate(invalid="ignore"):
                    chainrule.tensor([-1.0]).log()
            except AnomalyError as error:
                message = str(error)
            wait()
        return message

    def unchecked(wait: Any) -> tuple[bool, bool]:
        wait()
        with np.errstate(invalid="ignore"):
            out = chainrule.tensor([-1.0]).log()  # NaN, unreported: detection is off in this thread
        wait()
        return is_anomaly_enabled(), bool(np.isnan(out.array).all())

    message, (enabled, nan) = _in_two_threads(checking, unchecked)
    assert "anomaly detected in forward: Log returned 1 NaN" in message
    assert not enabled and nan
