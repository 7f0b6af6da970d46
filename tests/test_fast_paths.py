"""Fast gradient code gives the same numbers with and without ``create_graph``, to the bit.

The fused ops' gradients are gradient ops (``LinearGrad``, ``ReluGrad``, ...) whose forward is the
fast array code, so ``loss.backward()`` and ``autograd.grad(..., create_graph=True)`` take one
path; these run the layouts and options where a second path used to differ (channel-major
gradients, kept convolution columns, ignored targets). ``test_ops.py`` checks every op of the
database the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import chainrule
import chainrule.nn.functional as F
from chainrule.kernels import blas


def gradients_both_ways(loss_of: Callable[..., chainrule.Tensor],
                        arrays: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(clear path, fast path) gradients of ``loss_of(*tensors)`` for tensors made of ``arrays``."""
    tensors = [chainrule.tensor(a, requires_grad=True) for a in arrays]
    clear = chainrule.autograd.grad(loss_of(*tensors), tensors, create_graph=True)
    tensors = [chainrule.tensor(a, requires_grad=True) for a in arrays]
    loss_of(*tensors).backward()
    return [g.detach().numpy() for g in clear], [t.grad.numpy() for t in tensors]


def assert_identical(clear: list[np.ndarray], fast: list[np.ndarray]) -> None:
    for expected, actual in zip(clear, fast, strict=True):
        np.testing.assert_array_equal(actual, expected, strict=True)


@pytest.mark.parametrize("x_shape", [(5, 7), (7,), (2, 3, 7)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_backward(x_shape, dtype):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(shape).astype(dtype) for shape in (x_shape, (4, 7), (4,))]
    assert_identical(*gradients_both_ways(lambda x, w, b: F.linear(x, w, b).sin().sum(), arrays))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_backward(reduction):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((6, 5)).astype(np.float32) * 3
    target = chainrule.tensor(np.array([0, 4, -100, 2, 2, 1]))

    def loss(x):
        out = F.cross_entropy(x, target, reduction=reduction)
        return out if reduction != "none" else (out * chainrule.arange(6.0)).sum()

    assert_identical(*gradients_both_ways(loss, [logits]))


@pytest.mark.parametrize("kwargs", [dict(), dict(padding=1, stride=2), dict(groups=2, dilation=2)])
def test_conv2d_weight_gradient_from_kept_columns(kwargs):
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((2, 4, 9, 9)), rng.standard_normal((6, 4 // kwargs.get("groups", 1), 3, 3)),
              rng.standard_normal(6)]
    assert_identical(*gradients_both_ways(lambda x, w, b: F.conv2d(x, w, b, **kwargs).square().sum(), arrays))


@pytest.mark.parametrize("numba", [False, True])
def test_relu_backward_in_any_layout(numba):
    # the gradient arrives in C order while the forward's input was channel-major (a flatten
    # after a convolution): the shortcut multiplies across the two layouts
    chainrule.backends.numba.enabled = numba
    rng = np.random.default_rng(3)
    channel_major = np.ascontiguousarray(rng.standard_normal((3, 4, 5)).swapaxes(0, 1)).swapaxes(0, 1)
    assert_identical(*gradients_both_ways(
        lambda x: (chainrule.relu(x).reshape(4, 15) * chainrule.arange(15.0)).sum(), [channel_major]))


@pytest.mark.parametrize("batch", [1, 40])
def test_linear_forward_takes_either_product_order_with_the_same_result(batch):
    # a batch of 1 against 16 outputs takes weight @ x.T, a batch of 40 takes x @ weight.T
    rng = np.random.default_rng(4)
    x, weight, bias = rng.standard_normal((batch, 9)), rng.standard_normal((16, 9)), rng.standard_normal(16)
    out = F.linear(chainrule.tensor(x), chainrule.tensor(weight), chainrule.tensor(bias)).numpy()
    assert out.flags.c_contiguous
    np.testing.assert_allclose(out, x @ weight.T + bias, rtol=1e-12)
    out32 = F.linear(*(chainrule.tensor(a.astype(np.float32)) for a in (x, weight, bias))).numpy()
    np.testing.assert_allclose(out32, x @ weight.T + bias, rtol=1e-5, atol=1e-5)


def test_narrow_head_under_mkl_runs_weight_first(monkeypatch):
    """Under MKL a head of few outputs (MNIST-1D's, 1280 -> 10 at batch 100) runs weight @ x.T,
    which MKL takes, rather than x @ weight.T, which would stay with OpenBLAS; the result is
    the same product, row-major."""
    from chainrule.backends import blas as blas_backend

    if not blas_backend.is_available():
        pytest.skip("the mkl package is not installed")
    blas_backend.use("mkl")
    shapes = []
    real = blas.matmul

    def spy(a, b, out=None):
        shapes.append((a.shape, b.shape))
        return real(a, b, out=out)

    monkeypatch.setattr(blas, "matmul", spy)
    rng = np.random.default_rng(9)
    shapes_in = ((100, 1280), (10, 1280), (10,))
    x, weight, bias = (rng.standard_normal(shape).astype(np.float32) for shape in shapes_in)
    try:
        out = F.linear(chainrule.tensor(x), chainrule.tensor(weight), chainrule.tensor(bias)).numpy()
    finally:
        blas_backend.use("auto")
    assert shapes == [((10, 1280), (1280, 100))]
    assert out.flags.c_contiguous
    np.testing.assert_allclose(out, x.astype(np.float64) @ weight.T + bias, rtol=1e-4, atol=1e-4)


def test_long_weight_gradient_product_sums_slices_to_the_full_product():
    # (K + O) = 11 makes slices of 5957 positions; 25 000 positions take five, the last short
    from chainrule.ops.conv import _long_product

    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((2, 9, 25_000)), rng.standard_normal((2, 25_000, 2))
    np.testing.assert_allclose(_long_product(a, b), a @ b, rtol=1e-12)
    small_a, small_b = a[:, :, :3000], b[:, :3000]  # too short to slice: the plain product
    plain = blas.matmul(small_a, small_b)  # the GEMM chainrule chose, as _long_product's
    np.testing.assert_array_equal(_long_product(small_a, small_b), plain)


def test_reshape_gradient_comes_back_in_the_input_layout():
    """A flatten after a 1-D convolution (channel-major output) passes its gradient back
    channel-major, the layout of the ReLU mask and the convolution that read it next."""
    rng = np.random.default_rng(6)
    x = chainrule.tensor(rng.standard_normal((4, 1, 9)), requires_grad=True)
    weight = chainrule.tensor(rng.standard_normal((3, 1, 3)), requires_grad=True)
    features = F.relu(F.conv1d(x, weight, padding=1))
    assert features.detach().numpy().swapaxes(0, 1).flags.c_contiguous  # the premise: channel-major
    captured = {}
    features.register_hook(lambda grad: captured.setdefault("grad", grad))
    grad_output = rng.standard_normal((4, 27))
    features.flatten(1).backward(chainrule.tensor(grad_output))
    grad = captured["grad"].numpy()
    assert grad.swapaxes(0, 1).flags.c_contiguous
    np.testing.assert_array_equal(grad, grad_output.reshape(4, 3, 9))
    plain = chainrule.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    plain.reshape(6).backward(chainrule.ones(6, dtype=chainrule.float64))
    assert plain.grad.numpy().flags.c_contiguous  # contiguous inputs keep contiguous gradients


@pytest.mark.parametrize("transposed", [False, True])
def test_1d_convolution_as_shifted_gemms_matches_the_stacked_taps(transposed, monkeypatch):
    """1-D convolutions run as k shifted GEMMs from 64 input channels per group and as one GEMM
    on im2col columns below (the op database's samples, all narrow, test the latter against
    references and finite differences): both give the same outputs and gradients on every
    geometry, at any channel count."""
    import chainrule.ops.conv as conv

    rng = np.random.default_rng(7)
    op = F.conv_transpose1d if transposed else F.conv1d
    geometries = [dict(padding=1), dict(stride=2, padding=2, dilation=2, groups=2), dict(stride=3)]
    if transposed:
        geometries = [dict(padding=1), dict(stride=2, padding=1, output_padding=1, groups=2),
                      dict(stride=1, dilation=3, output_padding=2)]
    for kwargs in geometries:
        x = rng.standard_normal((3, 4, 11))
        shape = (4, 4 // kwargs.get("groups", 1), 3) if transposed else (6, 4 // kwargs.get("groups", 1), 3)
        weight = rng.standard_normal(shape)
        # the bias: on the stacked taps a row of ones in the columns (its gradient from the
        # weight gradient's product), on the shifted GEMMs a pass of its own
        bias = rng.standard_normal(shape[1] * kwargs.get("groups", 1) if transposed else shape[0])
        results = []
        for threshold in (1, 1_000):
            monkeypatch.setattr(conv, "SHIFTED_GEMM_MIN_CHANNELS", threshold)
            tensors = [chainrule.tensor(a, requires_grad=True) for a in (x, weight, bias)]
            out = op(*tensors, **kwargs)
            (out * out).sum().backward()
            results.append([out.detach().numpy(), *(t.grad.numpy() for t in tensors)])
        for shifted, stacked in zip(*results, strict=True):
            np.testing.assert_allclose(shifted, stacked, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("threshold", [1, 1_000])
def test_1d_input_gradient_as_a_flipped_convolution_matches_the_general_path(threshold, monkeypatch):
    """At stride 1 the input gradient of conv1d (and conv_transpose1d's forward) runs as a
    convolution of the gradient with the flipped kernel; the general path (k products added
    into a zero-filled buffer, then cropped) gives the same numbers, on every geometry the
    flipped window covers and on those it hands back (padding beyond the kernel's reach)."""
    import chainrule.ops.conv as conv

    monkeypatch.setattr(conv, "SHIFTED_GEMM_MIN_CHANNELS", threshold)
    rng = np.random.default_rng(8)
    cases = [(F.conv1d, dict(padding=1), (6, 4, 3)),
             (F.conv1d, dict(padding=(2,), dilation=2, groups=2), (6, 2, 3)),
             (F.conv1d, dict(padding="same"), (6, 4, 4)), (F.conv1d, dict(padding=4), (6, 4, 3)),
             (F.conv_transpose1d, dict(padding=1, output_padding=0), (4, 3, 3)),
             (F.conv_transpose1d, dict(dilation=3, output_padding=2, groups=2), (4, 3, 2))]
    for op, kwargs, shape in cases:
        x, weight = rng.standard_normal((3, 4, 11)), rng.standard_normal(shape)
        out_channels = shape[1] * kwargs.get("groups", 1) if op is F.conv_transpose1d else shape[0]
        bias = rng.standard_normal(out_channels)
        results = []
        for flipped in (conv._flipped, lambda *args: None):
            monkeypatch.setattr(conv, "_flipped", flipped)
            tensors = [chainrule.tensor(a, requires_grad=True) for a in (x, weight, bias)]
            out = op(*tensors, **kwargs)
            (out * out).sum().backward()
            results.append([out.detach().numpy(), *(t.grad.numpy() for t in tensors)])
        for fast, general in zip(*results, strict=True):
            np.testing.assert_allclose(fast, general, rtol=1e-12, atol=1e-12)
