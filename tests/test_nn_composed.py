"""nn.functional's activations, distances, losses and reshuffles built from ops
(``chainrule.nn.composed``) and the layers over them.

Each function is checked against a NumPy formula written here from its definition (so a wrong
formula fails without PyTorch), by gradcheck and gradgradcheck on float64 inputs, and against
PyTorch's values and gradients when PyTorch is installed."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import chainrule
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.autograd import gradcheck, gradgradcheck

SELU = (1.6732632423543772848170429916717, 1.0507009873554804934193349852946)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _norm(x: np.ndarray, axis: int, keepdims: bool = False) -> np.ndarray:
    return np.sqrt((x * x).sum(axis=axis, keepdims=keepdims))


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (_norm(a, 1) * _norm(b, 1))


def _stirling(counts: np.ndarray) -> np.ndarray:
    """Stirling's approximation of log(k!) for counts above 1, 0 for the others."""
    k = np.maximum(counts, 1)
    return np.where(counts > 1, k * np.log(k) - k + 0.5 * np.log(2 * math.pi * k), 0.0)


def _rng_values(seed: int, *shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    """Values drawn at least 0.05 from the kinks at 0, +-0.5 and +-3 the piecewise functions have."""
    values = np.random.default_rng(seed).uniform(low, high, shape)
    for kink in (0.0, 0.5, -0.5, 3.0, -3.0):
        near = np.abs(values - kink) < 0.05
        values[near] += 0.1
    return values


@dataclass
class Case:
    name: str
    call: Callable[..., Any]  # call(F, *tensors): F is chainrule's or torch's nn.functional
    reference: Callable[..., np.ndarray]  # the NumPy formula on the same arrays
    arrays: list[np.ndarray]
    targets: list[np.ndarray] = field(default_factory=list)  # passed after arrays, no gradient
    gradgrad: bool = True


def _cases() -> list[Case]:
    x = _rng_values(1, 3, 4)
    image = _rng_values(2, 2, 8, 3, 2)
    pair = (_rng_values(3, 4, 5), _rng_values(4, 4, 5))
    signs = np.array([1.0, -1.0, -1.0, 1.0])
    log_probs = np.log(np.random.default_rng(5).dirichlet(np.ones(5), 4))
    probs = np.random.default_rng(6).dirichlet(np.ones(5), 4)
    probs[0, 1] = 0.0  # a zero-probability target: contributes 0, not nan
    counts = np.array([[0.0, 1.0, 3.0], [2.0, 5.0, 0.0]])
    return [
        Case("hardsigmoid", lambda f, a: f.hardsigmoid(a), lambda a: np.clip(a + 3, 0, 6) / 6,
             [_rng_values(7, 3, 4, low=-5, high=5)], gradgrad=False),
        Case("hardswish", lambda f, a: f.hardswish(a), lambda a: a * np.clip(a + 3, 0, 6) / 6,
             [_rng_values(8, 3, 4, low=-5, high=5)]),
        Case("mish", lambda f, a: f.mish(a), lambda a: a * np.tanh(_softplus(a)), [x]),
        Case("prelu", lambda f, a, w: f.prelu(a, w),
             lambda a, w: np.where(a >= 0, a, w.reshape(-1, 1, 1) * a),
             [image[:, :3], np.array([0.1, 0.2, -0.3])]),
        Case("prelu_shared", lambda f, a, w: f.prelu(a, w), lambda a, w: np.where(a >= 0, a, w * a),
             [x, np.array([0.25])]),
        Case("softmin", lambda f, a: f.softmin(a, dim=1),
             lambda a: np.exp(-a) / np.exp(-a).sum(1, keepdims=True), [x]),
        Case("logsigmoid", lambda f, a: f.logsigmoid(a), lambda a: -_softplus(-a), [x * 10]),
        Case("softsign", lambda f, a: f.softsign(a), lambda a: a / (1 + np.abs(a)), [x]),
        Case("tanhshrink", lambda f, a: f.tanhshrink(a), lambda a: a - np.tanh(a), [x]),
        Case("celu", lambda f, a: f.celu(a, alpha=0.7),
             lambda a: np.maximum(a, 0) + np.minimum(0, 0.7 * (np.exp(a / 0.7) - 1)), [x]),
        Case("selu", lambda f, a: f.selu(a),
             lambda a: SELU[1] * (np.maximum(a, 0) + np.minimum(0, SELU[0] * np.expm1(a))), [x]),
        Case("glu", lambda f, a: f.glu(a, dim=1), lambda a: a[:, :2] * _sigmoid(a[:, 2:]), [x]),
        Case("hardshrink", lambda f, a: f.hardshrink(a, 0.5),
             lambda a: np.where(np.abs(a) > 0.5, a, 0.0), [x]),
        Case("softshrink", lambda f, a: f.softshrink(a, 0.5),
             lambda a: np.where(a > 0.5, a - 0.5, np.where(a < -0.5, a + 0.5, 0.0)), [x]),
        Case("threshold", lambda f, a: f.threshold(a, 0.5, -1.0), lambda a: np.where(a > 0.5, a, -1.0), [x]),
        Case("normalize", lambda f, a: f.normalize(a, dim=1), lambda a: a / _norm(a, 1, True), [x]),
        Case("cosine_similarity", lambda f, a, b: f.cosine_similarity(a, b, dim=1),
             _cosine, list(pair)),
        Case("pairwise_distance", lambda f, a, b: f.pairwise_distance(a, b),
             lambda a, b: _norm(a - b + 1e-6, -1), list(pair)),
        Case("kl_div", lambda f, a, t: f.kl_div(a, t, reduction="batchmean"),
             lambda a, t: np.where(t > 0, t * (np.log(np.where(t > 0, t, 1)) - a), 0).sum() / 4,
             [log_probs], [probs]),
        Case("kl_div_log_target", lambda f, a, t: f.kl_div(a, t, reduction="sum", log_target=True),
             lambda a, t: (np.exp(t) * (t - a)).sum(), [log_probs], [np.log(probs + 0.1)]),
        Case("margin_ranking_loss", lambda f, a, b, y: f.margin_ranking_loss(a, b, y, margin=0.3),
             lambda a, b, y: np.maximum(0, -y * (a - b) + 0.3).mean(),
             [pair[0][:, 0], pair[1][:, 0]], [signs]),
        Case("soft_margin_loss", lambda f, a, y: f.soft_margin_loss(a, y),
             lambda a, y: np.log1p(np.exp(-y * a)).mean(), [pair[0][:, 0]], [signs]),
        Case("cosine_embedding_loss",
             lambda f, a, b, y: f.cosine_embedding_loss(a, b, y, margin=0.1),
             lambda a, b, y: np.where(y == 1, 1 - _cosine(a, b), np.maximum(0, _cosine(a, b) - 0.1)).mean(),
             list(pair), [signs]),
        Case("triplet_margin_loss",
             lambda f, a, p, n: f.triplet_margin_loss(a, p, n, margin=0.5, swap=True),
             lambda a, p, n: np.maximum(
                 _norm(a - p + 1e-6, -1) - np.minimum(_norm(a - n + 1e-6, -1), _norm(p - n + 1e-6, -1)) + 0.5,
                 0).mean(),
             [pair[0], pair[1], _rng_values(9, 4, 5)]),
        Case("poisson_nll_loss_full", lambda f, a, t: f.poisson_nll_loss(a, t, full=True),
             lambda a, t: (np.exp(a) - t * a + _stirling(t)).mean(),
             [_rng_values(10, 2, 3)], [counts]),
        Case("poisson_nll_loss_rate", lambda f, a, t: f.poisson_nll_loss(a, t, log_input=False),
             lambda a, t: (a - t * np.log(a + 1e-8)).mean(),
             [_rng_values(11, 2, 3, low=0.5, high=3.0)], [counts]),
        Case("gaussian_nll_loss", lambda f, a, v, t: f.gaussian_nll_loss(a, t, v, full=True),
             lambda a, v, t: (0.5 * (np.log(v) + (a - t) ** 2 / v) + 0.5 * np.log(2 * math.pi)).mean(),
             [pair[0], _rng_values(12, 4, 5, low=0.5, high=2.0)], [pair[1]]),
        Case("pixel_shuffle", lambda f, a: f.pixel_shuffle(a, 2),
             lambda a: a.reshape(2, 2, 2, 2, 3, 2).transpose(0, 1, 4, 2, 5, 3).reshape(2, 2, 6, 4), [image]),
        Case("pixel_unshuffle", lambda f, a: f.pixel_unshuffle(a, 2),
             lambda a: a.reshape(2, 1, 2, 2, 2, 2).transpose(0, 1, 3, 5, 2, 4).reshape(2, 4, 2, 2),
             [_rng_values(13, 2, 1, 4, 4)]),
        Case("interpolate_scale", lambda f, a: f.interpolate(a, scale_factor=2),
             lambda a: a.repeat(2, axis=2).repeat(2, axis=3), [image]),
        Case("interpolate_size", lambda f, a: f.interpolate(a, size=(5, 3)),
             lambda a: a[:, :, [0, 0, 1, 1, 2]][:, :, :, [0, 0, 1]],  # floor(i * 3 / 5), floor(i * 2 / 3)
             [image]),
    ]


CASES = _cases()


def _call(case: Case, library: Any, arrays: list[Any], targets: list[Any]) -> Any:
    return case.call(library, *arrays, *targets)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matches_its_numpy_definition(case: Case) -> None:
    tensors = [chainrule.tensor(a) for a in case.arrays]
    targets = [chainrule.tensor(t) for t in case.targets]
    got = _call(case, F, tensors, targets)
    np.testing.assert_allclose(got.array, case.reference(*case.arrays, *case.targets), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_gradients_match_finite_differences(case: Case) -> None:
    targets = [chainrule.tensor(t) for t in case.targets]
    inputs = [chainrule.tensor(a, requires_grad=True) for a in case.arrays]

    def function(*tensors: Any) -> Any:
        return _call(case, F, list(tensors), targets)

    assert gradcheck(function, inputs)
    if case.gradgrad:
        assert gradgradcheck(function, inputs)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matches_pytorch(case: Case, torch: Any) -> None:
    ours = [chainrule.tensor(a, requires_grad=True) for a in case.arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in case.arrays]
    ours_out = _call(case, F, ours, [chainrule.tensor(t) for t in case.targets])
    theirs_out = _call(case, torch.nn.functional, theirs, [torch.tensor(t) for t in case.targets])
    np.testing.assert_allclose(ours_out.array, theirs_out.detach().numpy(), rtol=1e-7, atol=1e-10)
    covector = np.random.default_rng(0).standard_normal(ours_out.shape)
    ours_out.backward(chainrule.tensor(covector))
    theirs_out.backward(torch.tensor(covector))
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine.grad.array, reference.grad.numpy(), rtol=1e-6, atol=1e-10)


def test_float32_stays_float32() -> None:
    x = chainrule.randn(3, 4)
    for function in (F.hardswish, F.mish, F.selu, F.softsign, F.logsigmoid, F.normalize):
        assert function(x).dtype == chainrule.float32, function.__name__


@pytest.mark.parametrize(("call", "message"), [
    (lambda: F.prelu(chainrule.randn(2, 3), chainrule.ones(2)), "2 slopes for 3 channels"),
    (lambda: F.glu(chainrule.randn(2, 3)), "odd size 3"),
    (lambda: F.pixel_shuffle(chainrule.randn(1, 6, 2, 2), 2), "6 channels do not divide"),
    (lambda: F.interpolate(chainrule.randn(1, 1, 4), scale_factor=2, mode="bilinear"), "not supported"),
    (lambda: F.interpolate(chainrule.randn(1, 1, 4), size=3, scale_factor=2), "exactly one"),
    (lambda: F.gaussian_nll_loss(chainrule.randn(3), chainrule.randn(3), -chainrule.ones(3)), "negative"),
    (lambda: F.celu(chainrule.randn(3), alpha=0.0), "must not be 0"),
])
def test_bad_arguments_say_what_is_wrong(call: Callable[[], Any], message: str) -> None:
    with pytest.raises((ValueError, NotImplementedError), match=message):
        call()


# ------------------------------------------------------------------------------------ layers
LAYERS = [
    ("Hardswish", (), lambda f, x: f.hardswish(x)),
    ("Hardsigmoid", (), lambda f, x: f.hardsigmoid(x)),
    ("Mish", (), lambda f, x: f.mish(x)),
    ("Softmin", (1,), lambda f, x: f.softmin(x, 1)),
    ("LogSigmoid", (), lambda f, x: f.logsigmoid(x)),
    ("Softsign", (), lambda f, x: f.softsign(x)),
    ("Tanhshrink", (), lambda f, x: f.tanhshrink(x)),
    ("SELU", (), lambda f, x: f.selu(x)),
    ("CELU", (0.5,), lambda f, x: f.celu(x, 0.5)),
    ("GLU", (1,), lambda f, x: f.glu(x, 1)),
    ("Hardshrink", (0.3,), lambda f, x: f.hardshrink(x, 0.3)),
    ("Softshrink", (0.3,), lambda f, x: f.softshrink(x, 0.3)),
    ("Threshold", (0.1, 20.0), lambda f, x: f.threshold(x, 0.1, 20.0)),
    ("PixelShuffle", (2,), lambda f, x: f.pixel_shuffle(x, 2)),
    ("PixelUnshuffle", (2,), lambda f, x: f.pixel_unshuffle(x, 2)),
    ("Upsample", ((6, 4),), lambda f, x: f.interpolate(x, size=(6, 4))),
    ("UpsamplingNearest2d", (None, 3), lambda f, x: f.interpolate(x, scale_factor=3)),
    ("ZeroPad2d", ((1, 2, 0, 1),), lambda f, x: f.pad(x, (1, 2, 0, 1))),
    ("ConstantPad2d", (1, 3.5), lambda f, x: f.pad(x, (1, 1, 1, 1), value=3.5)),
    ("ConstantPad1d", ((2, 0), -1.0), lambda f, x: f.pad(x, (2, 0), value=-1.0)),
]


@pytest.mark.parametrize(("name", "args", "functional"), LAYERS, ids=[layer[0] for layer in LAYERS])
def test_layer_calls_its_function(name: str, args: tuple[Any, ...], functional: Any) -> None:
    x = chainrule.randn(2, 4, 2, 2)
    layer = getattr(nn, name)(*args)
    np.testing.assert_array_equal(layer(x).array, functional(F, x).array)
    assert name in repr(layer)


@pytest.mark.parametrize(("name", "args", "functional"), LAYERS, ids=[layer[0] for layer in LAYERS])
def test_layer_repr_matches_pytorch(name: str, args: tuple[Any, ...], functional: Any, torch: Any) -> None:
    assert repr(getattr(nn, name)(*args)) == repr(getattr(torch.nn, name)(*args))


def test_prelu_layer_learns_one_slope_per_channel() -> None:
    layer = nn.PReLU(num_parameters=3, init=0.1)
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    np.testing.assert_array_equal(layer.weight.array, np.full(3, 0.1, np.float32))
    x = chainrule.tensor([[[-1.0], [-2.0], [3.0]]])
    layer(x).sum().backward()
    np.testing.assert_allclose(layer.weight.grad.array, [-1.0, -2.0, 0.0])


VECTORS, BATCH, SIGNS = (4, 3), (4,), "signs"  # input shapes of the loss layers below
LOSSES = [
    ("KLDivLoss", {"reduction": "batchmean"}, [VECTORS, VECTORS],
     lambda f, a, b: f.kl_div(a, b, reduction="batchmean")),
    ("MarginRankingLoss", {"margin": 0.2}, [BATCH, BATCH, SIGNS],
     lambda f, a, b, y: f.margin_ranking_loss(a, b, y, margin=0.2)),
    ("SoftMarginLoss", {}, [BATCH, SIGNS], lambda f, a, y: f.soft_margin_loss(a, y)),
    ("CosineEmbeddingLoss", {}, [VECTORS, VECTORS, SIGNS],
     lambda f, a, b, y: f.cosine_embedding_loss(a, b, y)),
    ("TripletMarginLoss", {"margin": 0.5}, [VECTORS] * 3,
     lambda f, a, p, n: f.triplet_margin_loss(a, p, n, margin=0.5)),
    ("PoissonNLLLoss", {"full": True}, [VECTORS, VECTORS],
     lambda f, a, t: f.poisson_nll_loss(a, t, full=True)),
    ("GaussianNLLLoss", {}, [VECTORS] * 3, lambda f, a, t, v: f.gaussian_nll_loss(a, t, v)),
    ("CosineSimilarity", {"dim": 1}, [VECTORS, VECTORS], lambda f, a, b: f.cosine_similarity(a, b, 1)),
    ("PairwiseDistance", {"p": 1.0}, [VECTORS, VECTORS], lambda f, a, b: f.pairwise_distance(a, b, 1.0)),
]


@pytest.mark.parametrize(("name", "kwargs", "shapes", "functional"), LOSSES, ids=[loss[0] for loss in LOSSES])
def test_loss_layer_calls_its_function(name: str, kwargs: dict[str, Any], shapes: list[Any],
                                       functional: Any) -> None:
    signs = chainrule.tensor([1.0, -1.0, 1.0, -1.0])
    arrays = [signs if shape == SIGNS else chainrule.rand(*shape) + 0.5 for shape in shapes]
    layer = getattr(nn, name)(**kwargs)
    np.testing.assert_array_equal(layer(*arrays).array, functional(F, *arrays).array)


@pytest.fixture
def torch() -> Any:
    return pytest.importorskip("torch")


def test_unfold_and_fold_layers(torch: Any) -> None:
    x = np.random.default_rng(9).standard_normal((2, 3, 6, 5))
    unfold, fold = nn.Unfold((2, 3), stride=2, padding=1), nn.Fold((6, 5), (2, 3), stride=2, padding=1)
    assert repr(unfold) == repr(torch.nn.Unfold((2, 3), stride=2, padding=1))
    assert repr(fold) == repr(torch.nn.Fold((6, 5), (2, 3), stride=2, padding=1))
    columns = unfold(chainrule.tensor(x))
    np.testing.assert_allclose(fold(columns).array, torch.nn.functional.fold(
        torch.nn.functional.unfold(torch.tensor(x), (2, 3), stride=2, padding=1), (6, 5), (2, 3), stride=2,
        padding=1).numpy(), rtol=1e-12)
