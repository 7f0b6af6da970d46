"""Anomaly detection names the first op whose output or gradient holds NaN/Inf, with the
user's source line."""

import warnings

import numpy as np
import pytest

import chainrule as torch
from chainrule.autograd import AnomalyError, detect_anomaly, is_anomaly_enabled, set_detect_anomaly


@pytest.fixture(autouse=True)
def _quiet_numpy():
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def test_forward_nan_names_op_shapes_and_this_line():
    x = torch.tensor([1.0, -1.0, 2.0], requires_grad=True)
    with pytest.raises(AnomalyError) as info, detect_anomaly():
        x.log()  # the line the error must point at
    message = str(info.value)
    assert "Log" in message and "forward" in message
    assert "(3,)" in message
    assert f"{__file__}:" in message and "test_forward_nan_names_op_shapes_and_this_line" in message


def test_backward_inf_names_the_backward_node_and_forward_line():
    x = torch.tensor([0.0, 1.0], requires_grad=True)
    with pytest.raises(AnomalyError) as info, detect_anomaly():
        y = x.sqrt()  # finite forward (0 and 1), infinite derivative at 0
        y.sum().backward()
    message = str(info.value)
    assert "SqrtBackward0" in message and "backward" in message
    assert f"{__file__}:" in message


def test_first_bad_op_is_reported_not_a_later_one():
    x = torch.tensor([-1.0, 4.0], requires_grad=True)
    with pytest.raises(AnomalyError) as info, detect_anomaly():
        (x.sqrt() * 2).exp()
    assert "Sqrt returned" in str(info.value)


def test_off_by_default_and_restored_after_block():
    assert not is_anomaly_enabled()
    x = torch.tensor([-1.0])
    y = x.log()  # no error when off
    assert np.isnan(y.item())
    with detect_anomaly():
        assert is_anomaly_enabled()
    assert not is_anomaly_enabled()


def test_set_detect_anomaly_as_call_and_context():
    set_detect_anomaly(True)
    try:
        assert is_anomaly_enabled()
        with pytest.raises(AnomalyError):
            torch.tensor([-1.0]).log()
    finally:
        set_detect_anomaly(False)
    assert not is_anomaly_enabled()
    with set_detect_anomaly(True):
        assert is_anomaly_enabled()
    assert not is_anomaly_enabled()


def test_finite_computation_passes_and_gradients_unchanged():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with detect_anomaly():
        (x * x.exp()).sum().backward()
    expected = (1 + x.array) * np.exp(x.array)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-6)
