"""Attributions: known answers for linear models, completeness of integrated gradients."""

import numpy as np
import pytest

import chainrule as torch
from chainrule.interpret import (
    input_x_gradient,
    integrated_gradients,
    rank_features,
    saliency,
    smoothgrad,
)


def linear_model(weight, bias):
    w = torch.tensor(weight, dtype=torch.float64)
    b = torch.tensor(bias, dtype=torch.float64)
    return lambda x: x @ w.T + b


def small_mlp(seed=0):
    rng = np.random.default_rng(seed)
    w1 = torch.tensor(rng.standard_normal((5, 4)), dtype=torch.float64)
    w2 = torch.tensor(rng.standard_normal((3, 5)), dtype=torch.float64)
    return lambda x: torch.tanh(x @ w1.T) @ w2.T


def test_linear_model_attributions_are_weight_times_input_minus_baseline():
    rng = np.random.default_rng(1)
    weight, bias = rng.standard_normal((3, 4)), rng.standard_normal(3)
    model = linear_model(weight, bias)
    x = rng.standard_normal((6, 4))
    baseline = rng.standard_normal(4)
    targets = np.array([0, 1, 2, 2, 1, 0])
    ig = integrated_gradients(model, x, target=targets, baseline=baseline, steps=4)
    np.testing.assert_allclose(ig.attributions.numpy(), weight[targets] * (x - baseline), rtol=1e-10)
    np.testing.assert_allclose(saliency(model, x, target=targets, abs=False).numpy(),
                               weight[targets], rtol=1e-12)
    np.testing.assert_allclose(input_x_gradient(model, x, target=1).numpy(), weight[1] * x, rtol=1e-12)
    assert ig.completeness_gap.numpy().max() < 1e-10


def test_completeness_gap_shrinks_as_steps_grow():
    model = small_mlp()
    x = np.random.default_rng(2).standard_normal((5, 4)) * 2
    gaps = [integrated_gradients(model, x, target=1, steps=s).completeness_gap.numpy().max()
            for s in (2, 8, 32)]
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 1e-6


def test_completeness_holds_for_attributions_summed():
    model = small_mlp(3)
    x = np.random.default_rng(4).standard_normal((3, 4))
    ig = integrated_gradients(model, x, target=2, steps=64)
    f = model(torch.tensor(x)).numpy()[:, 2] - model(torch.zeros(1, 4, dtype=torch.float64)).numpy()[:, 2]
    np.testing.assert_allclose(ig.attributions.numpy().sum(axis=1), f, atol=1e-8)


def test_saliency_matches_finite_differences():
    model = small_mlp(5)
    x = np.random.default_rng(6).standard_normal((2, 4))
    s = saliency(model, x, target=0, abs=False).numpy()
    eps = 1e-6
    for i in range(4):
        d = np.zeros_like(x)
        d[:, i] = eps
        plus, minus = model(torch.tensor(x + d)).numpy(), model(torch.tensor(x - d)).numpy()
        numeric = (plus[:, 0] - minus[:, 0]) / (2 * eps)
        np.testing.assert_allclose(s[:, i], numeric, rtol=1e-6, atol=1e-9)


def test_smoothgrad_of_linear_model_is_abs_weight_and_reproducible():
    weight = np.array([[1.0, -2.0, 0.5]])
    model = linear_model(weight, [0.0])
    x = np.ones((2, 3))
    sg = smoothgrad(model, x, samples=5, seed=3).numpy()
    np.testing.assert_allclose(sg, np.abs(weight).repeat(2, 0))
    mlp = small_mlp(7)
    x4 = np.random.default_rng(8).standard_normal((2, 4))
    np.testing.assert_array_equal(smoothgrad(mlp, x4, target=0, seed=1).numpy(),
                                  smoothgrad(mlp, x4, target=0, seed=1).numpy())


def test_rank_features_orders_by_mean_absolute_attribution():
    attributions = np.array([[0.1, -3.0, 1.0], [0.2, 1.0, -1.0]])
    ranked = rank_features(attributions, ["age", "income", "debt"])
    assert [name for name, _ in ranked] == ["income", "debt", "age"]
    assert ranked[0][1] == pytest.approx(2.0)


def test_bad_target_is_a_clear_error():
    model = small_mlp()
    with pytest.raises(ValueError, match="give target="):
        saliency(model, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="one index per sample"):
        saliency(model, np.zeros((2, 4)), target=[0, 1, 2])
