"""chainrule.distributions: densities, entropies and divergences against formulas written here
(NumPy, so a wrong one fails without PyTorch), gradients by gradcheck, sampling moments from the
seeded generator, validation messages, and PyTorch's values."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule import distributions as D
from chainrule.autograd import gradcheck

RNG = np.random.default_rng(21)
LOC, SCALE, VALUE = RNG.standard_normal(3), RNG.uniform(0.5, 2.0, 3), RNG.standard_normal(3)
LOGITS = RNG.standard_normal((2, 4))
PROBS = RNG.dirichlet(np.ones(4), 2)
P = RNG.uniform(0.1, 0.9, 3)
LOW, HIGH = np.array([0.0, 1.0]), np.array([2.0, 5.0])


def _log_softmax(x: np.ndarray) -> np.ndarray:
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


# Each case: call(d, t) with d the library's distributions module and t its tensor constructor,
# and the NumPy formula of the same quantity.
CASES: list[tuple[str, Callable[[Any, Any], Any], Callable[[], np.ndarray]]] = [
    ("normal_log_prob", lambda d, t: d.Normal(t(LOC), t(SCALE)).log_prob(t(VALUE)),
     lambda: -((VALUE - LOC) ** 2) / (2 * SCALE**2) - np.log(SCALE) - 0.5 * np.log(2 * np.pi)),
    ("normal_entropy", lambda d, t: d.Normal(t(LOC), t(SCALE)).entropy(),
     lambda: 0.5 * np.log(2 * np.pi * np.e * SCALE**2)),
    ("normal_cdf", lambda d, t: d.Normal(t(LOC), t(SCALE)).cdf(t(VALUE)),
     lambda: 0.5 * (1 + np.vectorize(math.erf)((VALUE - LOC) / (SCALE * np.sqrt(2))))),
    ("normal_kl", lambda d, t: d.kl_divergence(d.Normal(t(LOC), t(SCALE)), d.Normal(t(VALUE), t(2 * SCALE))),
     lambda: np.log(2.0) + (SCALE**2 + (LOC - VALUE) ** 2) / (2 * 4 * SCALE**2) - 0.5),
    ("uniform_log_prob",
     lambda d, t: d.Uniform(t(LOW), t(HIGH)).log_prob(t(np.array([1.0, 4.0]))),
     lambda: -np.log([2.0, 4.0])),
    ("uniform_kl",
     lambda d, t: d.kl_divergence(d.Uniform(t(LOW), t(HIGH)), d.Uniform(t(LOW - 1), t(HIGH + 2))),
     lambda: np.log([5.0 / 2.0, 7.0 / 4.0])),  # widths 2 and 4 inside widths 5 and 7
    ("bernoulli_log_prob", lambda d, t: d.Bernoulli(probs=t(P)).log_prob(t(np.array([1.0, 0.0, 1.0]))),
     lambda: np.log(np.where([1, 0, 1], P, 1 - P))),
    ("bernoulli_entropy", lambda d, t: d.Bernoulli(probs=t(P)).entropy(),
     lambda: -(P * np.log(P) + (1 - P) * np.log(1 - P))),
    ("bernoulli_kl",
     lambda d, t: d.kl_divergence(d.Bernoulli(probs=t(P)), d.Bernoulli(probs=t(P[::-1].copy()))),
     lambda: P * np.log(P / P[::-1]) + (1 - P) * np.log((1 - P) / (1 - P[::-1]))),
    ("categorical_log_prob", lambda d, t: d.Categorical(logits=t(LOGITS)).log_prob(t([[1, 3], [0, 2]])),
     lambda: _log_softmax(LOGITS)[[0, 1, 0, 1], [1, 3, 0, 2]].reshape(2, 2)),
    ("categorical_entropy", lambda d, t: d.Categorical(probs=t(PROBS)).entropy(),
     lambda: -(PROBS * np.log(PROBS)).sum(-1)),
    ("categorical_kl",
     lambda d, t: d.kl_divergence(d.Categorical(probs=t(PROBS)), d.Categorical(logits=t(LOGITS))),
     lambda: (PROBS * (np.log(PROBS) - _log_softmax(LOGITS))).sum(-1)),
    ("one_hot_log_prob", lambda d, t: d.OneHotCategorical(logits=t(LOGITS)).log_prob(t(np.eye(4)[[2, 0]])),
     lambda: _log_softmax(LOGITS)[[0, 1], [2, 0]]),
]
IDS = [case[0] for case in CASES]


@pytest.mark.parametrize(("name", "call", "reference"), CASES, ids=IDS)
def test_matches_the_formula(name: str, call: Any, reference: Callable[[], np.ndarray]) -> None:
    got = call(D, chainrule.tensor)
    np.testing.assert_allclose(got.array, reference(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("name", "call", "reference"), CASES, ids=IDS)
def test_matches_pytorch(name: str, call: Any, reference: Any, torch: Any) -> None:
    ours, theirs = call(D, chainrule.tensor), call(torch.distributions, torch.tensor)
    np.testing.assert_allclose(ours.array, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_log_prob_entropy_and_kl_differentiate_with_respect_to_the_parameters() -> None:
    loc, scale = chainrule.tensor(LOC, requires_grad=True), chainrule.tensor(SCALE, requires_grad=True)
    logits = chainrule.tensor(LOGITS, requires_grad=True)
    assert gradcheck(lambda m, s: D.Normal(m, s).log_prob(chainrule.tensor(VALUE)), [loc, scale])
    assert gradcheck(lambda m, s: D.kl_divergence(D.Normal(m, s), D.Normal(0.0, 1.0)), [loc, scale])
    assert gradcheck(lambda z: D.Categorical(logits=z).log_prob(chainrule.tensor([1, 2])), [logits])
    assert gradcheck(lambda z: D.Categorical(logits=z).entropy(), [logits])
    assert gradcheck(lambda z: D.Bernoulli(logits=z).log_prob(chainrule.tensor([1.0, 0.0, 1.0, 0.0])),
                     [chainrule.tensor(LOGITS[0], requires_grad=True)])


def test_rsample_carries_the_gradient_and_sample_does_not() -> None:
    loc = chainrule.tensor(1.0, requires_grad=True)
    scale = chainrule.tensor(2.0, requires_grad=True)
    chainrule.manual_seed(3)
    draws = D.Normal(loc, scale).rsample((5,))
    draws.sum().backward()
    assert float(loc.grad) == 5.0  # d(loc + scale * eps)/d loc, summed over 5 draws
    chainrule.manual_seed(3)
    noise = chainrule.randn(5)
    np.testing.assert_allclose(float(scale.grad), float(noise.sum()), rtol=1e-6)
    assert not D.Normal(loc, scale).sample((5,)).requires_grad


@pytest.mark.parametrize(("make", "mean", "variance"), [
    (lambda: D.Normal(2.0, 3.0), 2.0, 9.0),
    (lambda: D.Uniform(-1.0, 3.0), 1.0, 16 / 12),
    (lambda: D.Bernoulli(probs=0.3), 0.3, 0.21),
])
def test_samples_have_the_distributions_moments(make: Callable[[], Any], mean: float,
                                                variance: float) -> None:
    chainrule.manual_seed(0)
    draws = make().sample((40000,)).array.astype(np.float64)
    assert abs(draws.mean() - mean) < 4 * math.sqrt(variance / draws.size)
    assert abs(draws.var() - variance) < 0.05 * variance
    assert float(make().mean) == pytest.approx(mean) and float(make().variance) == pytest.approx(variance)


def test_categorical_samples_follow_the_probabilities() -> None:
    chainrule.manual_seed(1)
    draws = D.Categorical(probs=chainrule.tensor([[0.2, 0.5, 0.3], [1.0, 0.0, 0.0]])).sample((20000,)).array
    assert draws.shape == (20000, 2) and draws.dtype == np.int64
    np.testing.assert_allclose(np.bincount(draws[:, 0], minlength=3) / 20000, [0.2, 0.5, 0.3], atol=0.015)
    assert (draws[:, 1] == 0).all()
    one_hot = D.OneHotCategorical(probs=chainrule.tensor([0.0, 1.0])).sample((3,))
    np.testing.assert_array_equal(one_hot.array, [[0.0, 1.0]] * 3)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: D.Normal(0.0, -1.0), "scale must be positive"),
    (lambda: D.Uniform(1.0, 1.0), "low must be below high"),
    (lambda: D.Bernoulli(probs=1.5), r"probs must be in \[0, 1\]"),
    (lambda: D.Categorical(), "exactly one of probs and logits"),
    (lambda: D.Categorical(logits=chainrule.zeros(3)).log_prob(chainrule.tensor(3)), "outside the support"),
    (lambda: D.Bernoulli(probs=0.5).log_prob(chainrule.tensor(0.5)), "outside the support"),
])
def test_bad_parameters_and_values_say_what_is_wrong(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_validation_can_be_switched_off() -> None:
    assert float(D.Uniform(0.0, 1.0, validate_args=False).log_prob(chainrule.tensor(2.0))) == -math.inf


@pytest.fixture
def torch() -> Any:
    return pytest.importorskip("torch")
