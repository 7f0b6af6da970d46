"""Tensor.data as PyTorch's: a Tensor sharing memory, outside autograd; the NumPy array is
Tensor.array. (This file uses PyTorch's .data on purpose; the rename script leaves it alone.)"""

import numpy as np
import pytest

import chainrule


def test_data_is_a_tensor_sharing_memory_outside_autograd():
    weight = chainrule.ones(3, requires_grad=True)
    data = weight.data
    assert isinstance(data, chainrule.Tensor) and not data.requires_grad and data.grad_fn is None
    assert isinstance(weight.array, np.ndarray) and np.shares_memory(data.array, weight.array)
    data.add_(1.0)  # no no_grad() needed: .data is outside autograd
    assert weight.tolist() == [2.0, 2.0, 2.0] and weight.requires_grad


def test_the_update_idioms_of_pytorch_scripts_work_on_parameters():
    chainrule.manual_seed(0)
    layer = chainrule.nn.Linear(3, 2)
    before = layer.weight.array.copy()
    layer(chainrule.ones(4, 3)).sum().backward()
    for parameter in layer.parameters():
        parameter.data.add_(parameter.grad.data, alpha=-0.1)  # hand-written SGD step
    np.testing.assert_allclose(layer.weight.array, before - 0.1 * layer.weight.grad.array)
    layer.bias.data.zero_()
    assert layer.bias.tolist() == [0.0, 0.0]
    layer.weight.data.uniform_(-0.5, 0.5)
    assert np.all(np.abs(layer.weight.array) <= 0.5)
    layer.weight.data.normal_(0.0, 0.01)
    snapshot = layer.weight.data.clone()
    layer.weight.data.fill_(7.0)
    assert snapshot.array.max() < 1.0 and layer.weight.array.max() == 7.0
    assert float(layer.weight.data.norm()) == pytest.approx(7.0 * np.sqrt(6))


def test_assigning_data_replaces_the_memory_and_keeps_the_tensor():
    weight = chainrule.nn.Parameter(chainrule.zeros(2, 2))
    replacement = chainrule.full((3,), 5.0)
    weight.data = replacement
    assert weight.shape == (3,) and weight.requires_grad and weight.tolist() == [5.0, 5.0, 5.0]
    replacement.mul_(2)
    assert weight.tolist() == [10.0, 10.0, 10.0]  # shares the assigned tensor's memory
    with pytest.raises(TypeError, match="data must be assigned a Tensor.*from_numpy"):
        weight.data = np.zeros(2)


def test_data_matches_pytorch_semantics():
    torch = pytest.importorskip("torch")

    def run(lib):
        weight = lib.ones(3, requires_grad=True)
        weight.data.mul_(2)
        view = weight.data
        return [weight.requires_grad, view.requires_grad, view.grad_fn is None, weight.tolist()]

    assert run(chainrule) == run(torch)
