"""Backward's memory: a Linear layer adds its weight gradient into an existing ``.grad`` itself
(written in place when the ``.grad`` is zeroed, so no weight-sized temporary), with the same
bits as the engine's ``.grad += gradient``; and the engine drops each node's gradients as soon
as it has passed them on."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np

import chainrule
from chainrule import nn
from chainrule.autograd.function import Function


def _bits(array: np.ndarray) -> np.ndarray:
    """The array's bit patterns, so that -0.0 and +0.0 (and NaN payloads) count as different."""
    return array.view(np.uint32 if array.dtype == np.float32 else np.uint64)


def _weight_gradient(layer: nn.Linear, x: chainrule.Tensor, upstream: np.ndarray) -> np.ndarray:
    """The gradient one backward through ``layer`` sends its weight, as a fresh ``.grad``."""
    layer.zero_grad(set_to_none=True)
    layer(x).backward(chainrule.from_numpy(upstream))
    return layer.weight.grad.array.copy()


def _layer_and_data(batch_shape: tuple[int, ...] = (6,)) -> tuple[nn.Linear, chainrule.Tensor, np.ndarray]:
    chainrule.manual_seed(0)
    layer = nn.Linear(5, 4)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((*batch_shape, 5)).astype(np.float32)
    x[..., 2] = 0.0  # column 2 of the weight gradient is a sum of zeros
    upstream = rng.standard_normal((*batch_shape, 4)).astype(np.float32)
    return layer, chainrule.from_numpy(x), upstream


def test_a_zeroed_grad_receives_the_bits_of_zeros_plus_the_gradient(monkeypatch) -> None:
    # OpenBLAS starts its sums at +0.0, so its products hold no -0.0; a BLAS that starts from
    # the first term gives -0.0 for a sum of -0.0 terms. Such a product is emulated here: where
    # writing it into a zeroed .grad and adding it into one would differ.
    matmul = np.matmul

    def signed_zero_matmul(a, b, out=None):
        product = matmul(a, b)
        product[product == 0] = -0.0
        if out is None:
            return product
        out[...] = product
        return out

    monkeypatch.setattr(np, "matmul", signed_zero_matmul)
    for batch_shape in [(6,), (2, 3)]:  # a 3-D input takes the folded-batch path
        layer, x, upstream = _layer_and_data(batch_shape)
        fresh = _weight_gradient(layer, x, upstream)
        assert np.signbit(fresh[:, 2]).all()
        layer.zero_grad(set_to_none=False)
        layer(x).backward(chainrule.from_numpy(upstream))
        expected = np.zeros_like(fresh)
        expected += fresh  # what accumulating into zeros gives: +0.0 where fresh has -0.0
        assert not np.signbit(expected[:, 2]).any()
        assert np.array_equal(_bits(layer.weight.grad.array), _bits(expected))


def test_a_nonzero_grad_receives_the_bits_of_grad_plus_the_gradient() -> None:
    layer, x, upstream = _layer_and_data()
    fresh = _weight_gradient(layer, x, upstream)
    before = np.random.default_rng(2).standard_normal(fresh.shape).astype(np.float32)
    layer.weight.grad = chainrule.from_numpy(before.copy())
    layer(x).backward(chainrule.from_numpy(upstream))
    assert np.array_equal(_bits(layer.weight.grad.array), _bits(before + fresh))


def test_a_weight_used_twice_gets_its_gradients_summed_before_they_are_added() -> None:
    # Adding one use's gradient into .grad before the other's arrives would round differently:
    # (grad + a) + b, not grad + (a + b) as the engine adds them.
    chainrule.manual_seed(0)
    layer = nn.Linear(64, 64)
    rng = np.random.default_rng(3)
    x = chainrule.from_numpy(rng.standard_normal((8, 64)).astype(np.float32))
    upstream = chainrule.from_numpy(rng.standard_normal((8, 64)).astype(np.float32))

    def twice() -> chainrule.Tensor:
        return layer(layer(x))

    layer.zero_grad(set_to_none=True)
    twice().backward(upstream)
    summed = layer.weight.grad.array.copy()
    before = rng.standard_normal(summed.shape).astype(np.float32) * 100
    layer.weight.grad = chainrule.from_numpy(before.copy())
    twice().backward(upstream)
    assert np.array_equal(_bits(layer.weight.grad.array), _bits(before + summed))


def test_hooks_on_the_weight_still_see_its_gradient() -> None:
    layer, x, upstream = _layer_and_data()
    fresh = _weight_gradient(layer, x, upstream)
    seen: list[np.ndarray] = []
    layer.weight.register_hook(lambda grad: seen.append(grad.array.copy()))
    layer.zero_grad(set_to_none=False)
    layer(x).backward(chainrule.from_numpy(upstream))
    assert len(seen) == 1 and np.array_equal(seen[0], fresh)


def test_no_weight_sized_temporary_when_the_grad_is_zeroed() -> None:
    chainrule.manual_seed(0)
    layer = nn.Linear(512, 512)  # a 1 MB weight; the batch's arrays are 16 kB
    x = chainrule.randn(8, 512)
    layer(x).sum().backward()  # the .grad buffers exist from now on
    layer.zero_grad(set_to_none=False)
    loss = layer(x).sum()
    gc.collect()
    tracemalloc.start()
    try:
        loss.backward()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < layer.weight.array.nbytes // 4
    expected = chainrule.ones(8, 512).T @ x  # d(sum)/dW = ones^T x
    assert np.allclose(layer.weight.grad.array, expected.array, rtol=1e-5, atol=1e-5)


class _Emit(Function):
    """y = x * w, recording a weak reference to the gradient it sends the leaf ``w``."""

    sent: list[weakref.ref] = []

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_inputs(0, 1)
        return x * w

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_inputs
        grad_w = grad * x
        _Emit.sent.append(weakref.ref(grad_w))
        return grad * w, grad_w


class _Check(Function):
    """The identity; its backward records whether the gradient sent to ``w`` is still alive."""

    alive: list[bool] = []

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        _Check.alive.append(_Emit.sent[-1]() is not None)
        return grad


def test_a_gradient_added_into_grad_is_dropped_before_the_next_backward_runs() -> None:
    # Kept alive until the next node's backward returned, a weight gradient would add its size
    # to that backward's peak (or to a checkpointed segment's recomputation).
    x = chainrule.ones(3, requires_grad=True)
    w = chainrule.ones(3, requires_grad=True)
    w.grad = chainrule.zeros(3)  # so the gradient is added into .grad, not kept as it
    _Emit.apply(_Check.apply(x), w).sum().backward()
    assert _Check.alive == [False]
    assert np.array_equal(w.grad.array, np.ones(3, dtype=np.float32))


def test_a_compiled_step_replays_the_weight_gradient_into_whatever_grad_is_there() -> None:
    # Recorded while .grad existed, a replay must not write into that one array: here .grad
    # is set to None between calls, and the compiled step must still train as eagerly.
    def train(compiled: bool) -> list[np.ndarray]:
        chainrule.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        optimizer = chainrule.optim.SGD(model.parameters(), lr=0.1)

        def step(x: chainrule.Tensor, y: chainrule.Tensor) -> chainrule.Tensor:
            optimizer.zero_grad(set_to_none=False)
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            optimizer.step()
            return loss

        run = chainrule.compile(step) if compiled else step
        rng = np.random.default_rng(0)
        x = chainrule.from_numpy(rng.standard_normal((8, 4)).astype(np.float32))
        y = chainrule.from_numpy(rng.standard_normal((8, 2)).astype(np.float32))
        model(x).sum().backward()  # .grad exists while the step is recorded
        for call in range(6):
            run(x, y)
            if call == 3:
                model.zero_grad(set_to_none=True)
        return [p.array.copy() for p in model.parameters()]

    for eager, compiled in zip(train(False), train(True)):
        assert np.array_equal(eager, compiled)
