"""Property tests (hypothesis): random broadcastable shapes for the binary ops and matmul, random
dims and keepdim for the reductions. Values and gradients are checked against NumPy formulas:
a binary op's gradient is its elementwise derivative on the broadcast arrays, summed back over
the broadcast axes to each input's shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import chainrule
from chainrule.autograd import gradcheck

SETTINGS = settings(max_examples=40, deadline=None)


def sum_to_shape(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Undo broadcasting, written independently of the engine: sum the added leading axes,
    then every axis where the input had size 1."""
    array = array.sum(axis=tuple(range(array.ndim - len(shape))))
    stretched = tuple(i for i, size in enumerate(shape) if size == 1 and array.shape[i] != 1)
    return array.sum(axis=stretched, keepdims=True).reshape(shape)


def leaf(array: np.ndarray) -> chainrule.Tensor:
    return chainrule.tensor(array, dtype=chainrule.float64, requires_grad=True)


# For each op: forward on NumPy arrays, and d(out)/da, d(out)/db on the broadcast arrays.
BINARY_OPS: dict[str, tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]] = {
    "add": (lambda a, b: a + b, lambda a, b: np.ones_like(a), lambda a, b: np.ones_like(b)),
    "sub": (lambda a, b: a - b, lambda a, b: np.ones_like(a), lambda a, b: -np.ones_like(b)),
    "mul": (lambda a, b: a * b, lambda a, b: b, lambda a, b: a),
    "div": (lambda a, b: a / b, lambda a, b: 1 / b, lambda a, b: -a / b**2),
    "maximum": (np.maximum, lambda a, b: (a > b) * 1.0, lambda a, b: (b > a) * 1.0),
}
CHAINRULE_OPS = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "maximum": chainrule.maximum,
}


@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       op=st.sampled_from(sorted(BINARY_OPS)), seed=st.integers(0, 2**16))
def test_binary_op_gradients_sum_the_broadcast_gradient(shapes: Any, op: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape_a, shape_b = shapes.input_shapes
    a_data = rng.standard_normal(shape_a)
    # Denominators clear of zero; continuous random values never tie for maximum.
    b_data = rng.uniform(0.5, 2.0, shape_b) * rng.choice([-1.0, 1.0], shape_b)
    forward, derivative_a, derivative_b = BINARY_OPS[op]
    a, b = leaf(a_data), leaf(b_data)
    out = CHAINRULE_OPS[op](a, b)
    assert out.shape == shapes.result_shape
    np.testing.assert_allclose(out.array, forward(a_data, b_data), rtol=1e-12)
    upstream = rng.standard_normal(shapes.result_shape)
    out.backward(chainrule.tensor(upstream, dtype=chainrule.float64))
    big_a, big_b = np.broadcast_arrays(a_data, b_data)
    assert a.grad.shape == shape_a and b.grad.shape == shape_b
    np.testing.assert_allclose(a.grad.array, sum_to_shape(upstream * derivative_a(big_a, big_b), shape_a),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.grad.array, sum_to_shape(upstream * derivative_b(big_a, big_b), shape_b),
                               rtol=1e-10, atol=1e-12)


@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3),
       seed=st.integers(0, 2**16))
def test_where_gradients_sum_the_broadcast_gradient(shapes: Any, seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape_condition, shape_a, shape_b = shapes.input_shapes
    condition = rng.random(shape_condition) > 0.5
    a, b = leaf(rng.standard_normal(shape_a)), leaf(rng.standard_normal(shape_b))
    out = chainrule.where(chainrule.tensor(condition), a, b)
    np.testing.assert_array_equal(out.array, np.where(condition, a.array, b.array))
    upstream = rng.standard_normal(shapes.result_shape)
    out.backward(chainrule.tensor(upstream, dtype=chainrule.float64))
    big_condition = np.broadcast_to(condition, shapes.result_shape)
    np.testing.assert_allclose(a.grad.array, sum_to_shape(np.where(big_condition, upstream, 0.0), shape_a))
    np.testing.assert_allclose(b.grad.array, sum_to_shape(np.where(big_condition, 0.0, upstream), shape_b))


@SETTINGS
@given(shapes=mutually_broadcastable_shapes(signature="(m,n),(n,p)->(m,p)", max_dims=2, max_side=3),
       seed=st.integers(0, 2**16))
def test_matmul_gradients_over_broadcast_batches(shapes: Any, seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape_a, shape_b = shapes.input_shapes
    a_data, b_data = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    a, b = leaf(a_data), leaf(b_data)
    out = a @ b
    np.testing.assert_allclose(out.array, np.matmul(a_data, b_data), rtol=1e-12, atol=1e-12)
    upstream = rng.standard_normal(out.shape)
    out.backward(chainrule.tensor(upstream, dtype=chainrule.float64))
    expected_a = sum_to_shape(upstream @ np.swapaxes(np.broadcast_to(b_data, shapes.input_shapes[1]), -1, -2),
                              shape_a)
    expected_b = sum_to_shape(np.swapaxes(a_data, -1, -2) @ upstream, shape_b)
    np.testing.assert_allclose(a.grad.array, expected_a, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.grad.array, expected_b, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------------ reductions
@st.composite
def shape_and_dims(draw: Any) -> tuple[tuple[int, ...], Any, bool]:
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)))
    all_dims = list(range(len(shape)))
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        dim: Any = None
    elif kind == "int":
        dim = draw(st.integers(-len(shape), len(shape) - 1))
    else:
        dim = tuple(draw(st.lists(st.sampled_from(all_dims), min_size=1, max_size=len(shape), unique=True)))
    return shape, dim, draw(st.booleans())


def _count(shape: tuple[int, ...], dim: Any) -> int:
    if dim is None:
        return int(np.prod(shape))
    dims = (dim,) if isinstance(dim, int) else dim
    return int(np.prod([shape[d] for d in dims]))


def _expand(reduced: np.ndarray, shape: tuple[int, ...], dim: Any, keepdim: bool) -> np.ndarray:
    """A reduction's result (or its gradient) broadcast back over the reduced dims."""
    if not keepdim:
        axes = range(len(shape)) if dim is None else ((dim,) if isinstance(dim, int) else dim)
        reduced = np.expand_dims(reduced, tuple(a % len(shape) for a in axes))
    return np.broadcast_to(reduced, shape)


def _softmax_over(x: np.ndarray, dim: Any) -> np.ndarray:
    axis = None if dim is None else dim
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


REDUCTIONS: dict[str, tuple[Any, Any, Any]] = {
    # name: (chainrule call, NumPy forward, analytic gradient given x and the expanded upstream)
    "sum": (lambda x, dim, keepdim: x.sum(dim=dim, keepdim=keepdim),
            lambda x, dim, keepdim: np.sum(x, axis=dim, keepdims=keepdim),
            lambda x, dim, upstream: upstream),
    "mean": (lambda x, dim, keepdim: x.mean(dim=dim, keepdim=keepdim),
             lambda x, dim, keepdim: np.mean(x, axis=dim, keepdims=keepdim),
             lambda x, dim, upstream: upstream / _count(x.shape, dim)),
    "amax": (lambda x, dim, keepdim: x.amax(dim=() if dim is None else dim, keepdim=keepdim),
             lambda x, dim, keepdim: np.amax(x, axis=dim, keepdims=keepdim),
             lambda x, dim, upstream: upstream * (x == np.amax(x, axis=dim, keepdims=True))),
    "logsumexp": (lambda x, dim, keepdim: chainrule.logsumexp(x, dim=tuple(range(x.ndim)) if dim is None
                                                              else dim, keepdim=keepdim),
                  lambda x, dim, keepdim: np.log(np.sum(np.exp(x), axis=dim, keepdims=keepdim)),
                  lambda x, dim, upstream: upstream * _softmax_over(x, dim)),
    "var": (lambda x, dim, keepdim: x.var(dim=dim, keepdim=keepdim, unbiased=False),
            lambda x, dim, keepdim: np.var(x, axis=dim, keepdims=keepdim),
            lambda x, dim, upstream: upstream * 2 * (x - x.mean(axis=dim, keepdims=True))
            / _count(x.shape, dim)),
}


@SETTINGS
@given(case=shape_and_dims(), op=st.sampled_from(sorted(REDUCTIONS)), seed=st.integers(0, 2**16))
def test_reductions_match_numpy_and_their_analytic_gradient(case: Any, op: str, seed: int) -> None:
    shape, dim, keepdim = case
    rng = np.random.default_rng(seed)
    # A permutation keeps the values distinct, so amax has a unique winner.
    data = (rng.permutation(int(np.prod(shape))).reshape(shape) - 2.0) * 0.3
    call, forward, gradient = REDUCTIONS[op]
    x = leaf(data)
    out = call(x, dim, keepdim)
    expected = np.asarray(forward(data, dim, keepdim))
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.array, expected, rtol=1e-12, atol=1e-12)
    upstream = rng.standard_normal(out.shape)
    out.backward(chainrule.tensor(upstream, dtype=chainrule.float64))
    assert x.grad.shape == shape
    np.testing.assert_allclose(x.grad.array, gradient(data, dim, _expand(upstream, shape, dim, keepdim)),
                               rtol=1e-10, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(case=shape_and_dims(), seed=st.integers(0, 2**16))
def test_std_and_prod_over_random_dims_pass_gradcheck(case: Any, seed: int) -> None:
    shape, dim, keepdim = case
    rng = np.random.default_rng(seed)
    x = leaf(rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape))
    if _count(shape, dim) > 1:  # std over one element is nan, as PyTorch's
        assert gradcheck(lambda t: t.std(dim=dim, keepdim=keepdim), (x,))
    prod_dim = dim if isinstance(dim, int) or dim is None else dim[0]
    expected = np.prod(x.array, axis=prod_dim, keepdims=keepdim)
    np.testing.assert_allclose(chainrule.prod(x, dim=prod_dim, keepdim=keepdim).array, expected)
    assert gradcheck(lambda t: chainrule.prod(t, dim=prod_dim, keepdim=keepdim), (x,))
