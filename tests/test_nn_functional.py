"""nn.functional's layer ops: convolutions, pooling, normalization, embedding, one_hot.

Each op is checked three ways: values and gradients against PyTorch (float64, rtol 1e-6) over
several configurations, gradients against finite differences (gradcheck, tiny float64
inputs) and second order (gradgradcheck); plus float32 staying float32 and bad input giving a
clear error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule
import chainrule.nn.functional as F
from chainrule.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(1234)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _random(shape: tuple[int, ...]) -> np.ndarray:
    return RNG.standard_normal(shape)


def _compare(torch: Any, ours: Callable[..., Any], theirs: Callable[..., Any],
             arrays: list[np.ndarray | None], **kwargs: Any) -> None:
    """Run both functions on the same float64 arrays (None passes None), compare the output,
    then backpropagate one random covector and compare every input's gradient."""
    ours_in = [None if a is None else chainrule.tensor(a, requires_grad=True) for a in arrays]
    theirs_in = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    ours_out = ours(*ours_in, **kwargs)
    theirs_out = theirs(*theirs_in, **kwargs)
    assert ours_out.shape == tuple(theirs_out.shape)
    np.testing.assert_allclose(ours_out.array, theirs_out.detach().numpy(), rtol=1e-6, atol=1e-10)
    covector = _random(ours_out.shape)
    ours_out.backward(chainrule.tensor(covector))
    theirs_out.backward(torch.tensor(covector))
    for index, (mine, reference) in enumerate(zip(ours_in, theirs_in)):
        if mine is not None:
            np.testing.assert_allclose(mine.grad.array, reference.grad.numpy(), rtol=1e-6, atol=1e-10,
                                       err_msg=f"gradient of argument {index}")


def _leaves(*shapes: tuple[int, ...]) -> tuple[chainrule.Tensor, ...]:
    return tuple(chainrule.tensor(_random(shape), requires_grad=True) for shape in shapes)


# ============================================================================ convolution
CONV2D_CASES = [
    # input shape, weight shape, with bias, keyword arguments
    ((2, 3, 7, 6), (4, 3, 3, 3), True, {}),
    ((2, 3, 7, 6), (4, 3, 3, 2), True, {"stride": (2, 1), "padding": 1}),
    ((2, 4, 7, 6), (6, 2, 3, 3), True, {"groups": 2, "dilation": 2, "padding": (2, 1)}),
    ((1, 5, 9, 4), (3, 5, 2, 3), False, {"stride": 3}),
    ((2, 4, 5, 5), (8, 1, 3, 3), True, {"groups": 4, "padding": 1}),
    ((2, 3, 5, 4), (2, 3, 1, 1), True, {}),
    ((1, 2, 6, 7), (3, 2, 2, 4), True, {"padding": "same", "dilation": (2, 1)}),
    ((1, 2, 6, 7), (3, 2, 3, 3), False, {"padding": "valid", "stride": 2}),
    ((3, 6, 6), (2, 3, 3, 3), True, {"padding": 1}),  # unbatched
]


@pytest.mark.parametrize("input_shape, weight_shape, bias, kwargs", CONV2D_CASES)
def test_conv2d_matches_torch(torch, input_shape, weight_shape, bias, kwargs):
    arrays = [_random(input_shape), _random(weight_shape), _random(weight_shape[:1]) if bias else None]
    _compare(torch, F.conv2d, torch.nn.functional.conv2d, arrays, **kwargs)


CONV1D_CASES = [
    ((2, 3, 9), (4, 3, 3), True, {}),
    ((2, 3, 9), (4, 3, 3), True, {"stride": 2, "padding": 1}),
    ((1, 4, 10), (6, 2, 4), False, {"groups": 2, "dilation": 2, "padding": "same"}),
    ((3, 11), (2, 3, 2), True, {"stride": 3}),  # unbatched
]


@pytest.mark.parametrize("input_shape, weight_shape, bias, kwargs", CONV1D_CASES)
def test_conv1d_matches_torch(torch, input_shape, weight_shape, bias, kwargs):
    arrays = [_random(input_shape), _random(weight_shape), _random(weight_shape[:1]) if bias else None]
    _compare(torch, F.conv1d, torch.nn.functional.conv1d, arrays, **kwargs)


CONV_TRANSPOSE2D_CASES = [
    # input shape, weight shape (C_in, C_out / groups, kh, kw), bias size or None, kwargs
    ((2, 4, 3, 4), (4, 3, 3, 3), 3, {}),
    ((2, 4, 3, 4), (4, 3, 3, 2), 3, {"stride": 2, "padding": 1, "output_padding": 1}),
    ((2, 4, 3, 4), (4, 1, 3, 3), 2, {"stride": (2, 3), "groups": 2, "dilation": 2}),
    ((1, 2, 3, 3), (2, 1, 2, 2), None, {"dilation": 3, "output_padding": 2}),
    ((1, 3, 2, 5), (3, 2, 4, 1), 2, {"stride": (3, 1), "padding": (1, 0)}),
    ((4, 3, 3), (4, 2, 3, 3), 2, {"stride": 2}),  # unbatched
]


@pytest.mark.parametrize("input_shape, weight_shape, bias, kwargs", CONV_TRANSPOSE2D_CASES)
def test_conv_transpose2d_matches_torch(torch, input_shape, weight_shape, bias, kwargs):
    arrays = [_random(input_shape), _random(weight_shape), None if bias is None else _random((bias,))]
    _compare(torch, F.conv_transpose2d, torch.nn.functional.conv_transpose2d, arrays, **kwargs)


@pytest.mark.parametrize("kwargs", [{}, {"stride": 2, "padding": 1, "output_padding": 1},
                                    {"groups": 2, "dilation": 2}])
def test_conv_transpose1d_matches_torch(torch, kwargs):
    arrays = [_random((2, 4, 5)), _random((4, 3, 3)), _random((3 * kwargs.get("groups", 1),))]
    _compare(torch, F.conv_transpose1d, torch.nn.functional.conv_transpose1d, arrays, **kwargs)


def test_conv2d_weight_gradient_alone_matches_torch(torch):
    """The first layer: the images need no gradient, so only the weight's is computed."""
    x, weight = _random((3, 2, 6, 5)), _random((4, 2, 3, 3))
    ours_w = chainrule.tensor(weight, requires_grad=True)
    theirs_w = torch.tensor(weight, requires_grad=True)
    F.conv2d(chainrule.tensor(x), ours_w, stride=2).sum().backward()
    torch.nn.functional.conv2d(torch.tensor(x), theirs_w, stride=2).sum().backward()
    np.testing.assert_allclose(ours_w.grad.array, theirs_w.grad.numpy(), rtol=1e-6)


def test_conv_transpose2d_is_the_input_gradient_of_conv2d():
    x = chainrule.tensor(_random((2, 4, 8, 6)), requires_grad=True)
    weight = chainrule.tensor(_random((4, 2, 3, 2)))
    y = F.conv2d(x, weight, stride=2, padding=1, groups=2)
    covector = chainrule.tensor(_random(y.shape))
    y.backward(covector)
    transposed = F.conv_transpose2d(covector, weight, stride=2, padding=1, groups=2, output_padding=(1, 0))
    np.testing.assert_allclose(transposed.array, x.grad.array, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs", [{"stride": 2, "padding": 1}, {"groups": 2, "dilation": (1, 2)},
                                    {"padding": "same"}])
def test_conv2d_gradcheck_and_second_order(kwargs):
    inputs = _leaves((1, 2, 4, 5), (2, 1 if "groups" in kwargs else 2, 2, 2), (2,))

    def fn(x, w, b):
        return F.conv2d(x, w, b, **kwargs)

    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


def test_conv1d_gradcheck_and_second_order():
    inputs = _leaves((2, 2, 5), (3, 2, 2), (3,))

    def fn(x, w, b):
        return F.conv1d(x, w, b, stride=2, padding=1)

    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


@pytest.mark.parametrize("kwargs", [{"stride": 2, "padding": 1, "output_padding": 1},
                                    {"dilation": 3, "output_padding": 2}])
def test_conv_transpose2d_gradcheck_and_second_order(kwargs):
    inputs = _leaves((1, 2, 2, 3), (2, 2, 2, 2), (2,))

    def fn(x, w, b):
        return F.conv_transpose2d(x, w, b, **kwargs)

    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


def test_stacked_layers_match_torch(torch):
    """conv → relu → max_pool → conv_transpose → layer_norm → avg_pool → conv1d: each op gets
    the previous op's output (in whatever memory layout it came out) and its gradients."""

    def network(nn, x, w1, b1, w2, w3, w4):
        h = nn.max_pool2d(nn.relu(nn.conv2d(x, w1, b1, padding=1)), 2)
        h = nn.conv_transpose2d(h, w2, stride=2, output_padding=1)
        h = nn.avg_pool2d(nn.layer_norm(h, h.shape[-1:]), 2, stride=1)
        h = nn.group_norm(nn.conv2d(h, w3, groups=2), 2)
        return nn.conv1d(h.flatten(2), w4, padding="same")

    shapes = [(2, 3, 8, 6), (4, 3, 3, 3), (4,), (4, 2, 2, 2), (4, 1, 2, 2), (3, 4, 3)]
    _compare(torch, lambda *a: network(F, *a), lambda *a: network(torch.nn.functional, *a),
             [_random(shape) for shape in shapes])


def test_conv2d_third_order_along_a_line():
    """Along x = x0 + t u, w = w0 + t v the output is A + t B + t^2 C (conv is bilinear), so
    loss = sum(out^2) is a quartic in t whose third derivative is 12 <B, C> + 24 t <C, C>."""
    x0, u = _random((1, 2, 4, 4)), _random((1, 2, 4, 4))
    w0, v = _random((3, 2, 2, 2)), _random((3, 2, 2, 2))
    t = chainrule.tensor(0.3, dtype=chainrule.float64, requires_grad=True)
    out = F.conv2d(chainrule.tensor(x0) + t * chainrule.tensor(u),
                   chainrule.tensor(w0) + t * chainrule.tensor(v), padding=1)
    (first,) = chainrule.autograd.grad([(out * out).sum()], [t], create_graph=True)
    (second,) = chainrule.autograd.grad([first], [t], create_graph=True)
    (third,) = chainrule.autograd.grad([second], [t])

    def conv(a, b):
        return F.conv2d(chainrule.tensor(a), chainrule.tensor(b), padding=1).array

    b, c = conv(u, w0) + conv(x0, v), conv(u, v)
    np.testing.assert_allclose(third.item(), 12 * np.sum(b * c) + 24 * 0.3 * np.sum(c * c), rtol=1e-9)


# ============================================================================== pooling
MAX_POOL2D_CASES = [
    ((2, 3, 8, 6), {"kernel_size": 2}),
    ((2, 3, 7, 6), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((2, 3, 7, 6), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ((1, 2, 9, 8), {"kernel_size": (3, 2), "stride": 1, "dilation": 2}),
    ((1, 2, 5, 7), {"kernel_size": 2, "ceil_mode": True}),
    ((2, 1, 6, 7), {"kernel_size": (2, 3), "stride": (1, 2), "padding": 1}),
    ((3, 5, 5), {"kernel_size": 2, "stride": 1}),  # unbatched
]


@pytest.mark.parametrize("shape, kwargs", MAX_POOL2D_CASES)
def test_max_pool2d_matches_torch(torch, shape, kwargs):
    _compare(torch, F.max_pool2d, torch.nn.functional.max_pool2d, [_random(shape)], **kwargs)


@pytest.mark.parametrize("shape, kwargs", MAX_POOL2D_CASES)
def test_max_pool2d_indices_match_torch(torch, shape, kwargs):
    x = _random(shape)
    _, ours = F.max_pool2d(chainrule.tensor(x), return_indices=True, **kwargs)
    _, theirs = torch.nn.functional.max_pool2d(torch.tensor(x), return_indices=True, **kwargs)
    assert ours.dtype == np.int64
    np.testing.assert_array_equal(ours.array, theirs.numpy())


@pytest.mark.parametrize("kwargs", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 1, "padding": 1}])
def test_max_pool2d_ties_send_the_gradient_to_one_winner_as_torch(torch, kwargs):
    # after a ReLU whole windows are zero: PyTorch picks the first maximum in each window
    x = np.maximum(_random((2, 2, 6, 6)), 0.0)
    x[:, :, :2, :2] = 0.0
    x[0, 0, 2:4, 2:4] = 1.5
    _compare(torch, F.max_pool2d, torch.nn.functional.max_pool2d, [x], **kwargs)
    ours = chainrule.tensor(x, requires_grad=True)
    F.max_pool2d(ours, **kwargs).sum().backward()
    # each window's gradient of 1 lands on exactly one input element, nothing is split
    assert set(np.unique(ours.grad.array)) <= set(range(10))


@pytest.mark.parametrize("kwargs", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1},
                                    {"kernel_size": 2, "stride": 1, "dilation": 2, "ceil_mode": True}])
def test_max_pool1d_matches_torch(torch, kwargs):
    _compare(torch, F.max_pool1d, torch.nn.functional.max_pool1d, [_random((2, 3, 9))], **kwargs)
    x = _random((2, 3, 9))
    _, ours = F.max_pool1d(chainrule.tensor(x), return_indices=True, **kwargs)
    _, theirs = torch.nn.functional.max_pool1d(torch.tensor(x), return_indices=True, **kwargs)
    np.testing.assert_array_equal(ours.array, theirs.numpy())


AVG_POOL2D_CASES = [
    ((2, 3, 8, 6), {"kernel_size": 2}),
    ((2, 3, 7, 6), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((2, 3, 7, 6), {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
    ((2, 3, 7, 6), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ((1, 2, 7, 5), {"kernel_size": (2, 3), "stride": (2, 1), "padding": (1, 1), "ceil_mode": True,
                    "count_include_pad": False}),
    ((1, 2, 6, 6), {"kernel_size": 3, "divisor_override": 5}),
    ((3, 5, 4), {"kernel_size": 2, "stride": 1}),  # unbatched
]


@pytest.mark.parametrize("shape, kwargs", AVG_POOL2D_CASES)
def test_avg_pool2d_matches_torch(torch, shape, kwargs):
    _compare(torch, F.avg_pool2d, torch.nn.functional.avg_pool2d, [_random(shape)], **kwargs)


@pytest.mark.parametrize("kwargs", [{"kernel_size": 3}, {"kernel_size": 3, "stride": 2, "padding": 1},
                                    {"kernel_size": 2, "ceil_mode": True, "count_include_pad": False}])
def test_avg_pool1d_matches_torch(torch, kwargs):
    _compare(torch, F.avg_pool1d, torch.nn.functional.avg_pool1d, [_random((2, 3, 9))], **kwargs)


@pytest.mark.parametrize("shape, output_size", [((2, 3, 7, 6), 1), ((2, 3, 4, 6), (2, 3)),
                                                ((2, 3, 7, 6), (3, 4)), ((1, 2, 8, 5), (4, None)),
                                                ((3, 5, 5), (2, 2)), ((1, 2, 3, 4), (5, 6))])
def test_adaptive_avg_pool2d_matches_torch(torch, shape, output_size):
    _compare(torch, F.adaptive_avg_pool2d, torch.nn.functional.adaptive_avg_pool2d, [_random(shape)],
             output_size=output_size)


@pytest.mark.parametrize("output_size", [1, 3, 4, 7])
def test_adaptive_avg_pool1d_matches_torch(torch, output_size):
    _compare(torch, F.adaptive_avg_pool1d, torch.nn.functional.adaptive_avg_pool1d,
             [_random((2, 3, 8))], output_size=output_size)


POOL_GRADCHECK_CASES = [
    (lambda x: F.max_pool2d(x, 2, stride=1), (1, 2, 3, 4)),
    (lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True), (1, 1, 4, 5)),
    (lambda x: F.max_pool1d(x, 2, stride=1, dilation=2), (1, 2, 5)),
    (lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
     (1, 2, 4, 5)),
    (lambda x: F.avg_pool1d(x, 2), (2, 1, 6)),
    (lambda x: F.adaptive_avg_pool2d(x, (3, 2)), (1, 2, 4, 5)),
    (lambda x: F.adaptive_avg_pool2d(x, (2, 1)), (1, 2, 4, 5)),
]


@pytest.mark.parametrize("fn, shape", POOL_GRADCHECK_CASES)
def test_pool_gradcheck_and_second_order(fn, shape):
    # distinct values, so no max-pool window has a tie that finite differences would straddle
    x = chainrule.tensor(RNG.permutation(np.prod(shape)).reshape(shape) * 0.1, dtype=chainrule.float64,
                         requires_grad=True)
    assert gradcheck(fn, (x,))
    assert gradgradcheck(lambda x: fn(x) * fn(x), (x,))


# ======================================================================== normalization
@pytest.mark.parametrize("shape, normalized_shape, affine", [
    ((3, 4, 5), 5, True), ((3, 4, 5), (4, 5), True), ((2, 6), (6,), False), ((7,), 7, True),
])
def test_layer_norm_matches_torch(torch, shape, normalized_shape, affine):
    parameter_shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    arrays = [_random(shape)] + ([_random(parameter_shape), _random(parameter_shape)] if affine else [])

    def ours(x, weight=None, bias=None):
        return F.layer_norm(x, normalized_shape, weight, bias, eps=1e-3)

    def theirs(x, weight=None, bias=None):
        return torch.nn.functional.layer_norm(x, parameter_shape, weight, bias, eps=1e-3)

    _compare(torch, ours, theirs, arrays)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 3, 2, 5), (1, 3, 4, 4)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_torch_including_running_stats(torch, shape, training):
    channels = shape[1]
    mean, var = _random((channels,)), RNG.random(channels) + 0.5
    ours_stats = [chainrule.tensor(mean), chainrule.tensor(var)]
    theirs_stats = [torch.tensor(mean), torch.tensor(var)]

    def ours(x, weight, bias):
        return F.batch_norm(x, *ours_stats, weight, bias, training=training, momentum=0.3, eps=1e-4)

    def theirs(x, weight, bias):
        return torch.nn.functional.batch_norm(x, *theirs_stats, weight, bias, training=training,
                                              momentum=0.3, eps=1e-4)

    _compare(torch, ours, theirs, [_random(shape), _random((channels,)), _random((channels,))])
    for mine, reference in zip(ours_stats, theirs_stats):
        np.testing.assert_allclose(mine.array, reference.numpy(), rtol=1e-6)
    if training:  # the statistics really moved, and the running variance is the unbiased one
        assert not np.allclose(ours_stats[0].array, mean)


def test_batch_norm_training_without_running_stats_or_affine(torch):
    _compare(torch, lambda x: F.batch_norm(x, None, None, training=True),
             lambda x: torch.nn.functional.batch_norm(x, None, None, training=True),
             [_random((4, 3, 5))])


@pytest.mark.parametrize("shape, groups, affine", [
    ((2, 6, 4, 3), 3, True), ((2, 6, 4, 3), 1, True), ((3, 4, 5), 4, False), ((2, 6), 2, True),
])
def test_group_norm_matches_torch(torch, shape, groups, affine):
    channels = shape[1]
    arrays = [_random(shape)] + ([_random((channels,)), _random((channels,))] if affine else [])
    _compare(torch, lambda x, w=None, b=None: F.group_norm(x, groups, w, b, eps=1e-3),
             lambda x, w=None, b=None: torch.nn.functional.group_norm(x, groups, w, b, eps=1e-3), arrays)


NORM_GRADCHECK_CASES = [
    (lambda x, w, b: F.layer_norm(x, (3,), w, b), (2, 3), (3,)),
    (lambda x, w, b: F.layer_norm(x, (2, 2), w, b), (2, 2, 2), (2, 2)),
    (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), (3, 2, 2), (2,)),
    (lambda x, w, b: F.batch_norm(x, chainrule.zeros(2, dtype=chainrule.float64),
                                  chainrule.ones(2, dtype=chainrule.float64), w, b), (3, 2, 2), (2,)),
    (lambda x, w, b: F.group_norm(x, 2, w, b), (2, 4, 2), (4,)),
]


@pytest.mark.parametrize("fn, shape, parameter_shape", NORM_GRADCHECK_CASES)
def test_norm_gradcheck_and_second_order(fn, shape, parameter_shape):
    inputs = _leaves(shape, parameter_shape, parameter_shape)
    assert gradcheck(fn, inputs)
    # squared, so the second derivative in x is not the (linear) normalization's alone
    assert gradgradcheck(lambda x, w, b: fn(x, w, b) ** 2, inputs)


def test_norm_second_order_matches_torch(torch):
    """The create_graph path (differentiable statistics) against PyTorch's double backward."""
    x, w = _random((3, 4)), _random((4,))
    ours_x, ours_w = chainrule.tensor(x, requires_grad=True), chainrule.tensor(w, requires_grad=True)
    theirs_x, theirs_w = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ours_loss = (F.layer_norm(ours_x, (4,), ours_w) ** 3).sum()
    theirs_loss = (torch.nn.functional.layer_norm(theirs_x, (4,), theirs_w) ** 3).sum()
    ours_grads = chainrule.autograd.grad([ours_loss], [ours_x, ours_w], create_graph=True)
    theirs_grads = torch.autograd.grad(theirs_loss, [theirs_x, theirs_w], create_graph=True)
    (sum(g.sum() for g in ours_grads) * 1.0).backward()
    sum(g.sum() for g in theirs_grads).backward()
    np.testing.assert_allclose(ours_x.grad.array, theirs_x.grad.numpy(), rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(ours_w.grad.array, theirs_w.grad.numpy(), rtol=1e-6, atol=1e-10)


def test_batch_norm_updates_running_stats_with_the_unbiased_variance():
    x = np.array([[1.0, 10.0], [3.0, 20.0], [8.0, 60.0]])
    mean, var = chainrule.zeros(2, dtype=chainrule.float64), chainrule.ones(2, dtype=chainrule.float64)
    F.batch_norm(chainrule.tensor(x), mean, var, training=True, momentum=0.5)
    np.testing.assert_allclose(mean.array, 0.5 * x.mean(0))
    np.testing.assert_allclose(var.array, 0.5 + 0.5 * x.var(0, ddof=1))


# ========================================================================== embedding
@pytest.mark.parametrize("padding_idx", [None, 0, 2, -1])
def test_embedding_matches_torch(torch, padding_idx):
    indices = np.array([[0, 2, 2, 3], [1, 0, 3, 3]])  # repeated indices accumulate
    _compare(torch, lambda w: F.embedding(chainrule.tensor(indices), w, padding_idx=padding_idx),
             lambda w: torch.nn.functional.embedding(torch.tensor(indices), w, padding_idx=padding_idx),
             [_random((4, 3))])


def test_embedding_gradient_accumulates_repeats_and_skips_padding():
    weight = chainrule.tensor(np.zeros((4, 2)), requires_grad=True)
    F.embedding(chainrule.tensor([1, 1, 1, 3, 0]), weight, padding_idx=3).sum().backward()
    np.testing.assert_array_equal(weight.grad.array, [[1, 1], [3, 3], [0, 0], [0, 0]])


def test_embedding_gradcheck_and_second_order():
    # no padding_idx here: its row's gradient is zero by definition, not by calculus
    indices = chainrule.tensor([[0, 2], [2, 1]])
    (weight,) = _leaves((3, 2))
    assert gradcheck(lambda w: F.embedding(indices, w), (weight,))
    assert gradgradcheck(lambda w: F.embedding(indices, w) ** 2, (weight,))


@pytest.mark.parametrize("values, num_classes", [([0, 3, 1], -1), ([[1, 0], [2, 2]], 5), ([4], 6)])
def test_one_hot_matches_torch(torch, values, num_classes):
    ours = F.one_hot(chainrule.tensor(values), num_classes)
    theirs = torch.nn.functional.one_hot(torch.tensor(values), num_classes)
    assert ours.dtype == np.int64
    np.testing.assert_array_equal(ours.array, theirs.numpy())


def test_one_hot_without_torch():
    np.testing.assert_array_equal(F.one_hot(chainrule.tensor([2, 0]), 3).array, [[0, 0, 1], [1, 0, 0]])


# ========================================================================= float32 kept
FLOAT32_CASES = [
    (lambda x, w, b: F.conv2d(x, w, b, padding=1), (2, 3, 5, 5), (4, 3, 3, 3), (4,)),
    (lambda x, w, b: F.conv1d(x, w, b, stride=2), (2, 3, 7), (4, 3, 3), (4,)),
    (lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2), (2, 3, 4, 4), (3, 2, 3, 3), (2,)),
    (lambda x, w, b: F.max_pool2d(x * w.sum() + b.sum(), 2), (2, 3, 4, 4), (1,), (1,)),
    (lambda x, w, b: F.max_pool2d(x * w.sum() + b.sum(), 3, 2, 1), (2, 3, 5, 5), (1,), (1,)),
    (lambda x, w, b: F.avg_pool2d(x * w.sum() + b.sum(), 3, 2, 1, count_include_pad=False),
     (2, 3, 5, 5), (1,), (1,)),
    (lambda x, w, b: F.adaptive_avg_pool2d(x * w.sum() + b.sum(), (2, 3)), (2, 3, 5, 5), (1,), (1,)),
    (lambda x, w, b: F.layer_norm(x, (5,), w, b), (2, 3, 5), (5,), (5,)),
    (lambda x, w, b: F.batch_norm(x, chainrule.zeros(3), chainrule.ones(3), w, b, training=True),
     (4, 3, 2), (3,), (3,)),
    (lambda x, w, b: F.batch_norm(x, chainrule.zeros(3), chainrule.ones(3), w, b), (4, 3, 2), (3,), (3,)),
    (lambda x, w, b: F.group_norm(x, 3, w, b), (2, 6, 3), (6,), (6,)),
    (lambda x, w, b: F.embedding(chainrule.tensor([[0, 1], [1, 1]]), w * b.sum()), (1,), (2, 3), (1,)),
]


@pytest.mark.parametrize("fn, x_shape, w_shape, b_shape", FLOAT32_CASES)
def test_float32_in_float32_out_and_gradients(fn, x_shape, w_shape, b_shape):
    shapes = (x_shape, w_shape, b_shape)
    inputs = [chainrule.tensor(_random(s).astype(np.float32), requires_grad=True) for s in shapes]
    out = fn(*inputs)
    assert out.dtype == np.float32
    out.sum().backward()
    for tensor in inputs:
        if tensor.grad is not None:
            assert tensor.grad.dtype == np.float32


def test_float32_running_stats_stay_float32():
    mean, var = chainrule.zeros(3), chainrule.ones(3)
    F.batch_norm(chainrule.randn(4, 3), mean, var, training=True)
    assert mean.dtype == np.float32 and var.dtype == np.float32


# ============================================================================ bad input
BAD_INPUT_CASES = [
    (lambda: F.conv2d(chainrule.randn(1, 3, 5, 5), chainrule.randn(4, 2, 3, 3)), ValueError,
     r"conv2d.*\(4, 2, 3, 3\).*\(1, 3, 5, 5\).*2 channels.*3 channels"),
    (lambda: F.conv2d(chainrule.randn(1, 4, 5, 5), chainrule.randn(3, 2, 3, 3), groups=2), ValueError,
     r"conv2d: groups=2"),
    (lambda: F.conv2d(chainrule.randn(3, 5), chainrule.randn(4, 3, 3, 3)), ValueError,
     r"conv2d: expected a 4-D input"),
    (lambda: F.conv2d(chainrule.randn(1, 3, 5, 5), chainrule.randn(4, 3, 3, 3), padding="same",
                      stride=2), ValueError, r"conv2d: padding='same'.*strided"),
    (lambda: F.conv2d(chainrule.randn(1, 3, 2, 5), chainrule.randn(4, 3, 3, 3)), ValueError,
     r"conv2d: the padded input size .*\(2, 5\).*kernel size \(3, 3\)"),
    (lambda: F.conv2d(chainrule.randn(1, 3, 5, 5), chainrule.randn(4, 3, 3, 3, dtype=chainrule.float64)),
     TypeError, r"conv2d: input dtype float32 and weight dtype float64"),
    (lambda: F.conv2d(chainrule.randn(1, 3, 5, 5), chainrule.randn(4, 3, 3, 3), chainrule.randn(3)),
     ValueError, r"conv2d: bias of shape \(3,\)"),
    (lambda: F.conv2d(chainrule.randn(1, 3, 5, 5), chainrule.randn(4, 3, 3, 3), stride=0), ValueError,
     r"conv2d: stride must be at least 1"),
    (lambda: F.conv1d(chainrule.randn(2, 3, 9), chainrule.randn(4, 2, 3)), ValueError,
     r"conv1d.*\(2, 3, 9\).*2 channels.*3 channels"),
    (lambda: F.conv_transpose2d(chainrule.randn(1, 3, 4, 4), chainrule.randn(2, 3, 3, 3)), ValueError,
     r"conv_transpose2d.*\(2, 3, 3, 3\).*2 channels.*3 channels"),
    (lambda: F.conv_transpose2d(chainrule.randn(1, 2, 4, 4), chainrule.randn(2, 3, 3, 3), stride=2,
                                output_padding=2), ValueError, r"conv_transpose2d: output_padding"),
    (lambda: F.max_pool2d(chainrule.randn(1, 1, 5, 5), 3, padding=2), ValueError,
     r"max_pool2d: padding \(2, 2\) should be at most half"),
    (lambda: F.max_pool2d(chainrule.randn(1, 1, 2, 2), 3), ValueError, r"max_pool2d: input of spatial size"),
    (lambda: F.avg_pool1d(chainrule.randn(2, 3, 4, 4), 2), ValueError, r"avg_pool1d: expected a 3-D input"),
    (lambda: F.adaptive_avg_pool2d(chainrule.randn(1, 2, 4, 4), (2, 2, 2)), ValueError,
     r"adaptive_avg_pool2d: output_size"),
    (lambda: F.layer_norm(chainrule.randn(2, 3, 4), (3,)), ValueError,
     r"layer_norm: normalized_shape \(3,\).*\(2, 3, 4\)"),
    (lambda: F.layer_norm(chainrule.randn(2, 4), (4,), chainrule.ones(3)), ValueError,
     r"layer_norm: weight of shape \(3,\)"),
    (lambda: F.batch_norm(chainrule.randn(1, 3), None, None, training=True), ValueError,
     r"batch_norm: expected more than 1 value per channel"),
    (lambda: F.batch_norm(chainrule.randn(4, 3), chainrule.zeros(2), chainrule.ones(3)), ValueError,
     r"batch_norm: running_mean of shape \(2,\).*\(4, 3\)"),
    (lambda: F.batch_norm(chainrule.randn(4, 3), None, None), ValueError,
     r"batch_norm: running_mean and running_var are needed"),
    (lambda: F.group_norm(chainrule.randn(2, 6, 3), 4), ValueError,
     r"group_norm: num_groups=4 .* 6 channels"),
    (lambda: F.embedding(chainrule.tensor([0, 5]), chainrule.randn(4, 2)), IndexError,
     r"embedding: index 5 is out of range for a weight with 4 rows"),
    (lambda: F.embedding(chainrule.tensor([0.0, 1.0]), chainrule.randn(4, 2)), TypeError,
     r"embedding: expected integer indices"),
    (lambda: F.one_hot(chainrule.tensor([0, 3]), 3), ValueError, r"one_hot: class value 3"),
    (lambda: F.one_hot(chainrule.tensor([-1, 0]), 3), ValueError,
     r"one_hot: class values must be non-negative"),
]


@pytest.mark.parametrize("call, error, message", BAD_INPUT_CASES)
def test_bad_input_gives_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()
