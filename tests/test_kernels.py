"""The numba kernels compute exactly what the NumPy paths compute (``chainrule.backends.numba``).

Each test runs the same computation with the backend off, then on, and compares the results
element for element: the kernels are fast paths, never different answers. (Max pooling's
kernels have their own file, ``test_kernels_pool.py``.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.backends.numba import _jit
from chainrule.kernels import activation, optim
from chainrule.kernels import loss as loss_kernels
from chainrule.kernels.recurrent import sigmoid32, tanh32

pytest.importorskip("numba")


def on_both_paths(compute: Callable[[], Any]) -> tuple[Any, Any]:
    """``compute()`` with NumPy only, then with the numba kernels."""
    chainrule.backends.numba.enabled = False
    reference = compute()
    chainrule.backends.numba.enabled = True
    return reference, compute()


def assert_same(reference: Any, fast: Any) -> None:
    for expected, actual in zip(reference, fast, strict=True):
        assert actual.dtype == expected.dtype
        np.testing.assert_array_equal(actual, expected, strict=True)


def channel_major(array: np.ndarray) -> np.ndarray:
    """The same values as an (N, C, ...) view of (C, N, ...) memory, as convolutions return."""
    return np.ascontiguousarray(array.swapaxes(0, 1)).swapaxes(0, 1)


# ----------------------------------------------------------------- convolutions (col2im)
CONV2D_CASES = [
    dict(),
    dict(padding=1),
    dict(stride=2),
    dict(stride=(2, 3), padding=(1, 2)),
    dict(dilation=2, padding=2),
    dict(groups=2, padding=1),
    dict(padding="same"),
]


@pytest.mark.parametrize("kwargs", CONV2D_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["contiguous", "channel-major"])
def test_conv2d_values_and_gradients_match_numpy_path(kwargs, dtype, layout):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 9, 8)).astype(dtype)
    x = channel_major(x) if layout == "channel-major" else x
    weight = rng.standard_normal((6, 4 // kwargs.get("groups", 1), 3, 3)).astype(dtype)
    bias = rng.standard_normal(6).astype(dtype)

    def compute():
        inputs = [chainrule.tensor(a, requires_grad=True) for a in (x, weight, bias)]
        out = F.conv2d(*inputs, **kwargs)
        out.backward(chainrule.tensor(np.cos(np.arange(out.numel())).reshape(out.shape).astype(dtype)))
        return [out.detach().numpy()] + [t.grad.numpy() for t in inputs]

    assert_same(*on_both_paths(compute))


@pytest.mark.parametrize("kwargs", [dict(padding=2), dict(stride=2, padding=1, output_padding=1),
                                    dict(dilation=2, groups=2)])
def test_conv_transpose2d_and_conv1d_match_numpy_path(kwargs):
    rng = np.random.default_rng(1)
    y = rng.standard_normal((2, 4, 5, 6))
    weight = rng.standard_normal((4, 3, 3, 3))
    signal = rng.standard_normal((2, 4, 11))
    kernel_1d = rng.standard_normal((6, 4 // kwargs.get("groups", 1), 3))
    conv1d_kwargs = {k: v for k, v in kwargs.items() if k != "output_padding"}

    def compute():
        inputs = [chainrule.tensor(a, requires_grad=True) for a in (y, weight, signal, kernel_1d)]
        transposed = F.conv_transpose2d(inputs[0], inputs[1], **kwargs)
        one_d = F.conv1d(inputs[2], inputs[3], **conv1d_kwargs)
        (transposed.square().sum() + one_d.sin().sum()).backward()
        return [transposed.detach().numpy(), one_d.detach().numpy()] + [t.grad.numpy() for t in inputs]

    assert_same(*on_both_paths(compute))


CONV1D_CASES = [
    dict(),
    dict(padding=2),
    dict(padding="same"),
    dict(stride=3, padding=1),
    dict(dilation=2, padding=3),
    dict(groups=2, padding=1),
    dict(padding=5),
]


@pytest.mark.parametrize("kwargs", CONV1D_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["contiguous", "channel-major"])
def test_conv1d_im2col_kernel_matches_numpy_path(kwargs, dtype, layout):
    """The 1-D im2col loop (padding by bounds test, no padded copy) against the NumPy path (the
    padded input's window view), through conv1d's values and gradients: the input gradient,
    a convolution of the output gradient, runs through the loop too."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4, 13)).astype(dtype)
    x = channel_major(x) if layout == "channel-major" else x
    weight = rng.standard_normal((6, 4 // kwargs.get("groups", 1), 4)).astype(dtype)
    bias = rng.standard_normal(6).astype(dtype)

    def compute():
        inputs = [chainrule.tensor(a, requires_grad=True) for a in (x, weight, bias)]
        out = F.conv1d(*inputs, **kwargs)
        out.backward(chainrule.tensor(np.cos(np.arange(out.numel())).reshape(out.shape).astype(dtype)))
        return [out.detach().numpy()] + [t.grad.numpy() for t in inputs]

    assert_same(*on_both_paths(compute))


@pytest.mark.parametrize("kwargs", [dict(padding=1), dict(stride=2, padding=1, output_padding=1),
                                    dict(stride=3, dilation=2, groups=2)])
def test_conv_transpose1d_im2col_kernel_matches_numpy_path(kwargs):
    """conv_transpose1d's weight gradient reads im2col columns of its output gradient for only
    as many outputs as its input has (strided: fewer than the window fits)."""
    rng = np.random.default_rng(4)
    y, weight = rng.standard_normal((2, 4, 9)), rng.standard_normal((4, 3, 3))

    def compute():
        inputs = [chainrule.tensor(a, requires_grad=True) for a in (y, weight)]
        F.conv_transpose1d(*inputs, **kwargs).square().sum().backward()
        return [t.grad.numpy() for t in inputs]

    assert_same(*on_both_paths(compute))


def test_conv2d_second_order_gradients_match_numpy_path():
    rng = np.random.default_rng(2)
    x, weight = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3))

    def compute():
        xt, wt = chainrule.tensor(x, requires_grad=True), chainrule.tensor(weight, requires_grad=True)
        grads = chainrule.autograd.grad(F.conv2d(xt, wt, padding=1).square().sum(), (xt, wt),
                                        create_graph=True)
        (grads[0].square().sum() + grads[1].square().sum()).backward()
        return [g.detach().numpy() for g in grads] + [xt.grad.numpy(), wt.grad.numpy()]

    assert_same(*on_both_paths(compute))


@pytest.mark.parametrize("numba", [True, False])
def test_col2im_is_the_adjoint_of_im2col(numba):
    # Independent of either path's arithmetic: <col2im(c), x> = <c, im2col(x)>.
    rng = np.random.default_rng(3)
    window = chainrule.ops.conv.Window((2, 3), (2, 1), ((1, 0), (2, 1)), (1, 2))
    x = rng.standard_normal((2, 4, 6, 7))
    out_hw = chainrule.ops.conv.window_output_size(x.shape[2:], window)
    chainrule.backends.numba.enabled = numba
    columns_of_x = chainrule.ops.conv._im2col(x, window, 1, out_hw)
    columns = rng.standard_normal(columns_of_x.shape)
    by_position = columns.reshape(4, 2, 3, 2, *out_hw).transpose(1, 2, 0, 3, 4, 5)[None].copy()
    summed = chainrule.ops.conv._col2im(by_position, window, (6, 7))
    assert np.isclose(np.sum(summed * x), np.sum(columns * columns_of_x))


# ------------------------------------------------------------------------------- ReLU
def test_relu_special_values_match_numpy_path():
    values = np.array([-0.0, 0.0, np.nan, -np.inf, np.inf, -1.5, 2.5, 1e-45], np.float32)
    x = np.tile(values, (3, 1))

    def compute():
        xt = chainrule.tensor(x, requires_grad=True)
        out = chainrule.relu(xt)
        out.backward(chainrule.tensor(np.array([np.nan, 1, -np.inf, 2, 3, -0.0, 4, 5] * 3,
                                               np.float32).reshape(3, 8)))
        return out.detach().numpy(), xt.grad.numpy()

    reference, fast = on_both_paths(compute)
    assert_same(reference, fast)
    assert not np.signbit(fast[0][0, 0])  # relu(-0.0) is +0.0 on both paths


@pytest.mark.parametrize("layout", ["contiguous", "channel-major", "strided", "broadcast grad"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_on_every_memory_layout_matches_numpy_path(layout, dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 5, 6, 3)).astype(dtype)
    if layout == "channel-major":
        x = channel_major(x)
    elif layout == "strided":
        x = rng.standard_normal((4, 5, 12, 3)).astype(dtype)[:, :, ::2]

    def compute():
        xt = chainrule.tensor(x, requires_grad=True)
        out = chainrule.relu(xt)
        grad = np.arange(out.numel(), dtype=dtype).reshape(out.shape) - 100
        if layout == "broadcast grad":
            grad = np.broadcast_to(grad[:1], out.shape)
        out.backward(chainrule.tensor(np.asarray(grad)) if layout != "broadcast grad"
                     else chainrule.from_numpy(grad))
        return out.detach().numpy(), xt.grad.numpy()

    assert_same(*on_both_paths(compute))


def test_relu_kernels_run_when_enabled_and_not_when_disabled(monkeypatch):
    calls = []
    original = activation.relu_forward
    monkeypatch.setattr(activation, "relu_forward", lambda *a: calls.append(1) or original(*a))
    x = chainrule.randn(4, 4)
    chainrule.backends.numba.enabled = False
    chainrule.relu(x)
    assert calls == []
    chainrule.backends.numba.enabled = True
    chainrule.relu(x)
    assert calls == [1]


# ------------------------------------------------------------------ cross-entropy row maxima
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ignored", [False, True])
def test_cross_entropy_matches_numpy_path(reduction, dtype, ignored):
    """Loss and logits gradient, with rows holding NaN, infinities and zeros of both signs."""
    rng = np.random.default_rng(6)
    logits = (rng.standard_normal((9, 10)) * 4).astype(dtype)
    logits[1, 3] = np.nan
    logits[2, 0] = np.inf
    logits[3, :] = -np.inf
    logits[4, :] = 0.0
    logits[4, ::2] = -0.0
    logits[5, 0] = np.nan  # NaN first in its row
    target = rng.integers(0, 10, 9)
    if ignored:
        target[[0, 6]] = -100

    def compute():
        x = chainrule.tensor(logits, requires_grad=True)
        loss = F.cross_entropy(x, chainrule.tensor(target), reduction=reduction)
        loss.sum().backward()
        return [loss.detach().numpy(), x.grad.numpy()]

    with np.errstate(invalid="ignore"):
        assert_same(*on_both_paths(compute))


def test_subtract_row_max_is_numpys_to_the_bit():
    rng = np.random.default_rng(7)
    logits = rng.standard_normal((33, 10)).astype(np.float32)
    logits[3, 5] = logits[4, 0] = np.nan  # a NaN anywhere makes the row's maximum NaN
    logits[5, 2] = np.inf
    shifted = np.empty_like(logits)
    loss_kernels.subtract_row_max(logits, shifted)
    with np.errstate(invalid="ignore"):
        expected = logits - logits.max(axis=1, keepdims=True)
    np.testing.assert_array_equal(shifted, expected, strict=True)


# ------------------------------------------------------------------------- SGD update
@pytest.mark.parametrize("options", [
    dict(momentum=0.9),
    dict(momentum=0.9, dampening=0.3),
    dict(momentum=0.8, nesterov=True, weight_decay=0.01),
    dict(momentum=0.5, maximize=True, weight_decay=0.1),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_momentum_steps_match_numpy_path(options, dtype):
    rng = np.random.default_rng(5)
    start = [rng.standard_normal(shape).astype(dtype) for shape in ((7, 5), (5,), (3, 2, 2))]
    grads = [[rng.standard_normal(a.shape).astype(dtype) for a in start] for _ in range(3)]
    assert_same(*on_both_paths(lambda: _sgd_steps(start, grads, options)))


def _sgd_steps(start: list[np.ndarray], grads: list[list[np.ndarray]], options: dict) -> list[np.ndarray]:
    """Parameters and momentum buffers after SGD steps with ``grads`` from ``start``."""
    params = [chainrule.nn.Parameter(chainrule.tensor(a.copy())) for a in start]
    optimizer = chainrule.optim.SGD(params, lr=0.037, **options)
    for step_grads in grads:
        for param, grad in zip(params, step_grads):
            param.grad = chainrule.tensor(grad)
        optimizer.step()
    buffers = [optimizer.state[p]["momentum_buffer"].numpy() for p in params]
    return [p.detach().numpy() for p in params] + buffers


@pytest.mark.parametrize("dtypes", [(np.float32, np.float64), (np.float64, np.float32)])
def test_sgd_momentum_step_over_two_dtypes_matches_numpy_path(dtypes):
    # One step makes the update's scalars once per dtype: each parameter must get its own.
    rng = np.random.default_rng(6)
    start = [rng.standard_normal((4, 3)).astype(dtype) for dtype in dtypes + dtypes]
    grads = [[rng.standard_normal(a.shape).astype(a.dtype) for a in start] for _ in range(2)]
    options = dict(momentum=0.9, dampening=0.3, weight_decay=0.01)
    assert_same(*on_both_paths(lambda: _sgd_steps(start, grads, options)))


@pytest.mark.parametrize("options", [dict(momentum=0.9), dict(momentum=0.9, nesterov=True)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_momentum_flushes_subnormal_buffers_as_numpy_path(options, dtype):
    """Buffers of zero gradients decay into the subnormal range; both paths store them as
    +0.0 at the same step, keep NaN, and turn -0.0 into +0.0."""
    tiny = np.finfo(dtype).tiny
    start = np.array([tiny * 4, -tiny * 4, tiny / 8, 1.0, np.nan, -0.0, 2.0], dtype)

    def compute():
        param = chainrule.nn.Parameter(chainrule.tensor(np.ones(start.size, dtype)))
        optimizer = chainrule.optim.SGD([param], lr=0.5, **options)
        trace = []
        for step in range(30):
            param.grad = chainrule.tensor(start if step == 0 else np.zeros_like(start))
            optimizer.step()
            trace.append(optimizer.state[param]["momentum_buffer"].numpy().copy())
        return [param.detach().numpy(), *trace]

    reference, fast = on_both_paths(compute)
    assert_same(reference, fast)
    buffers = np.array(fast[1:])
    assert not ((buffers != 0) & (np.abs(buffers) < tiny)).any()  # never subnormal
    assert buffers[0, 2] == 0  # subnormal from the first step
    assert (buffers[0, :2] != 0).all() and (buffers[-1, :2] == 0).all()  # decayed, then flushed
    assert np.signbit(buffers[:, 5]).sum() == 0 and np.isnan(buffers[:, 4]).all()


def test_sgd_kernel_is_skipped_for_non_contiguous_gradients(monkeypatch):
    monkeypatch.setattr(optim, "sgd_momentum", lambda *a: pytest.fail("kernel used on a strided grad"))
    param = chainrule.nn.Parameter(chainrule.ones(3, 4))
    param.grad = chainrule.ones(4, 3).T
    chainrule.optim.SGD([param], lr=0.1, momentum=0.9).step()
    np.testing.assert_allclose(param.detach().numpy(), 0.9)


def test_a_numba_that_does_not_import_leaves_the_numpy_paths(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def broken_numba(name, *args, **kwargs):
        if name == "numba":
            raise RuntimeError("built against another NumPy")
        return real_import(name, *args, **kwargs)

    backend = chainrule.backends.numba
    monkeypatch.setattr(backend, "_available", None)
    monkeypatch.setattr(builtins, "__import__", broken_numba)
    with pytest.warns(RuntimeWarning, match="does not import .*built against another NumPy"):
        assert not backend.is_available()
    assert not backend.active()
    x = chainrule.tensor([[-1.0, 2.0]], requires_grad=True)
    chainrule.relu(x).sum().backward()  # the NumPy path
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 1.0]])


@pytest.mark.parametrize("dtype", [np.float16, np.int32])
def test_dtypes_the_kernels_do_not_compile_for_take_the_numpy_path(monkeypatch, dtype):
    monkeypatch.setattr(activation, "relu_forward", lambda *a: pytest.fail(f"kernel used on {dtype}"))
    assert chainrule.backends.numba.active()
    out = chainrule.relu(chainrule.tensor(np.array([-2, 0, 3], dtype=dtype)))
    np.testing.assert_array_equal(out.numpy(), np.array([0, 0, 3], dtype=dtype))


@pytest.mark.parametrize("dtype, rtol, atol", [(np.float32, 1e-5, 1e-6), (np.float64, 1e-12, 1e-14)])
@pytest.mark.parametrize("kind, bias", [("GRU", True), ("GRU", False), ("LSTM", True), ("LSTM", False)])
def test_recurrent_kernels_match_numpy_path_within_their_documented_tolerance(kind, bias, dtype, rtol, atol,
                                                                              monkeypatch):
    """GRU and LSTM layers give the NumPy path's outputs, states and every gradient within the
    tolerance ``chainrule.kernels.recurrent`` documents, and the numba run does go through the
    step kernels."""
    from chainrule.kernels import recurrent

    calls = []
    for name in ("gru_forward_step", "gru_backward_step", "lstm_forward_step", "lstm_backward_step"):
        original = getattr(recurrent, name)
        monkeypatch.setattr(recurrent, name,
                            lambda *args, _f=original, _n=name: calls.append(_n) or _f(*args))
    rng = np.random.default_rng(0)
    layer = getattr(nn, kind)(3, 5, num_layers=2, bias=bias, bidirectional=True, batch_first=True)
    layer.to(chainrule.float32 if dtype is np.float32 else chainrule.float64)
    sequences = rng.standard_normal((4, 7, 3)).astype(dtype)
    output_grad = rng.standard_normal((4, 7, 10)).astype(dtype)

    def compute() -> list[np.ndarray]:
        layer.zero_grad()
        inputs = chainrule.tensor(sequences, requires_grad=True)
        outputs, state = layer(inputs)
        states = state if kind == "LSTM" else (state,)
        loss = (outputs * chainrule.tensor(output_grad)).sum() + sum((s * s).sum() for s in states)
        loss.backward()
        return [outputs.detach().numpy(), *(s.detach().numpy() for s in states), inputs.grad.numpy(),
                *(p.grad.numpy() for p in layer.parameters())]

    reference, fast = on_both_paths(compute)
    # the forward kernels are float32's (their tanh is a float32 approximation)
    forward = {f"{kind.lower()}_forward_step"} if dtype is np.float32 else set()
    assert set(calls) == {f"{kind.lower()}_backward_step"} | forward
    for expected, actual in zip(reference, fast, strict=True):
        assert actual.dtype == expected.dtype
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def apply_tanh32(values, out):  # noqa: ANN001
    for index in range(values.shape[0]):
        out[index] = tanh32(values[index])


def apply_sigmoid32(values, out):  # noqa: ANN001
    for index in range(values.shape[0]):
        out[index] = sigmoid32(values[index])


def test_tanh32_is_within_its_documented_bound_of_tanh():
    """``tanh32`` (the GRU forward kernel's tanh and sigmoid) stays within 4e-7 relative of the
    exact tanh over a dense grid of float32s, including past its clamp at |x| = 9."""
    # compiled here without numba's disk cache, which is keyed by this file alone and would keep
    # an old tanh32 after chainrule/kernels/recurrent.py changes
    apply_tanh32_compiled, apply_sigmoid32_compiled = _jit(apply_tanh32), _jit(apply_sigmoid32)
    values = np.concatenate([np.linspace(-12, 12, 200_001), np.geomspace(1e-30, 1, 3001)]).astype(np.float32)
    values = np.concatenate([values, -values])
    found = np.empty_like(values)
    apply_tanh32_compiled(values, found)
    exact = np.tanh(values.astype(np.float64))
    relative = np.abs(found - exact) / np.maximum(np.abs(exact), np.finfo(np.float64).tiny)
    assert found.dtype == np.float32 and relative.max() < 4e-7
    apply_sigmoid32_compiled(values, found)
    # the sigmoid, 0.5 tanh(x / 2) + 0.5, is within half of tanh32's error, absolute
    np.testing.assert_allclose(found, 1 / (1 + np.exp(-values.astype(np.float64))), rtol=0, atol=2e-7)

