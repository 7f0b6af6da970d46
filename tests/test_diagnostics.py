"""Gradient-flow diagnosis and the hand-worked chain rule."""

import numpy as np
import pytest

import chainrule as torch
from chainrule import nn
from chainrule.diagnostics import GradientFlowMonitor, explain_step


class Deep(nn.Module):
    """20 Linear layers of width 64, as in the issue: sigmoid with default initialisation, or
    ReLU with He initialisation and LayerNorm."""

    def __init__(self, healthy: bool):
        super().__init__()
        layers = []
        for i in range(20):
            linear = nn.Linear(32 if i == 0 else 64, 10 if i == 19 else 64)
            if healthy:
                nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
                nn.init.zeros_(linear.bias)
            layers.append(linear)
            if i < 19:
                layers += [nn.LayerNorm(64), nn.ReLU()] if healthy else [nn.Sigmoid()]
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


def run_monitor(model, seed=0):
    torch.manual_seed(seed)
    x, y = torch.randn(64, 32), torch.randint(0, 10, (64,))
    monitor = GradientFlowMonitor(model)
    nn.functional.cross_entropy(model(x), y).backward()
    monitor.record()
    return monitor


def test_deep_sigmoid_network_is_flagged_vanishing_naming_early_layers():
    torch.manual_seed(0)
    monitor = run_monitor(Deep(healthy=False))
    findings = monitor.diagnose()
    vanishing = [f for f in findings if f.kind == "vanishing"]
    assert len(vanishing) == 1
    finding = vanishing[0]
    assert finding.layer == "layers.0"  # the weakest is the first layer
    assert "layers.0" in finding.message and "sigmoid" in finding.hint.lower()
    assert finding.figures["ratio"] > 1e6


def test_relu_he_layernorm_network_is_not_flagged():
    torch.manual_seed(0)
    monitor = run_monitor(Deep(healthy=True))
    assert [f.kind for f in monitor.diagnose()] == []
    norms = monitor.latest("grad_norm")
    assert all(np.isfinite(v) and v > 0 for v in norms.values())


def test_dead_relus_and_saturated_units_are_reported():
    torch.manual_seed(0)
    dead = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    with torch.no_grad():
        dead[0].bias.fill_(-100.0)  # every pre-activation negative: all units dead
    monitor = run_monitor_small(dead)
    assert any(f.kind == "dead_units" and f.layer == "1" for f in monitor.diagnose())
    saturated = nn.Sequential(nn.Linear(8, 16), nn.Sigmoid(), nn.Linear(16, 2))
    with torch.no_grad():
        saturated[0].weight.mul_(1000.0)
    monitor = run_monitor_small(saturated)
    assert any(f.kind == "saturated" and f.layer == "1" for f in monitor.diagnose())


def run_monitor_small(model):
    x, y = torch.randn(32, 8), torch.randint(0, 2, (32,))
    monitor = GradientFlowMonitor(model)
    nn.functional.cross_entropy(model(x), y).backward()
    monitor.record()
    return monitor


def test_update_ratio_is_recorded_between_steps():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = GradientFlowMonitor(model)
    x, y = torch.randn(8, 4), torch.randint(0, 2, (8,))
    weights = []
    for _ in range(2):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        weights.append(model[0].weight.array.copy())
        monitor.record()
        optimizer.step()
    # The second record sees the update made by the first step.
    expected = np.linalg.norm(weights[1] - weights[0]) / np.linalg.norm(weights[0])
    assert monitor.history["0.weight/update_ratio"] == [pytest.approx(expected, rel=1e-5)]
    assert expected > 0


def test_nan_gradient_is_reported():
    model = nn.Sequential(nn.Linear(2, 2))
    monitor = GradientFlowMonitor(model)
    model(torch.ones(1, 2)).sum().backward()
    model[0].weight.grad.array[0, 0] = np.nan
    monitor.record()
    assert any(f.kind == "nan" for f in monitor.diagnose())


@pytest.mark.parametrize("activation", [nn.Sigmoid, nn.ReLU, nn.Tanh])
def test_explain_step_cross_entropy_matches_engine(activation):
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(3, 4), activation(), nn.Linear(4, 2))
    explanation = explain_step(net, torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1]),
                               nn.CrossEntropyLoss(), verbose=False)
    assert explanation.max_difference < 1e-5
    assert set(explanation.hand_gradients) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    for key in ("FORWARD", "LOSS: cross-entropy", "BACKWARD", "local derivative", "UPDATE", "match"):
        assert key in explanation.text


def test_explain_step_mse_prints_update_and_leaves_model_untouched():
    torch.manual_seed(2)
    net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    explanation = explain_step(net, torch.randn(4, 2), torch.randn(4, 1), nn.MSELoss(), lr=0.5,
                               verbose=False)
    assert explanation.max_difference < 1e-5
    assert "W <- W - 0.5 dL/dW" in explanation.text
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    assert all(p.grad is None for p in net.parameters())


def test_explain_step_refuses_layers_it_cannot_work_by_hand():
    net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    with pytest.raises(TypeError, match="Dropout"):
        explain_step(net, torch.randn(2, 2), torch.randn(2, 2), nn.MSELoss(), verbose=False)


def test_update_ratio_can_be_left_to_the_caller():
    model = nn.Sequential(nn.Linear(4, 3))
    monitor = GradientFlowMonitor(model, track_update_ratio=False)
    for _ in range(2):
        model(torch.randn(2, 4)).sum().backward()
        monitor.record()
    assert not any(key.endswith("update_ratio") for key in monitor.history)
    assert len(monitor.history["0.weight/grad_norm"]) == 2
