"""Recurrent layers: RNN (tanh, relu), LSTM, GRU and their cells.

Checked against PyTorch twins sharing one state dict (float64, rtol 1e-6): outputs, final
states, input and initial-state gradients and every parameter gradient, over layers, directions,
batch_first, initial states and unbatched input. Without PyTorch: the fused recurrences against
the same maths written step by step in chainrule ops, gradcheck (first and second order) through
tiny layers, initialisation, float32 staying float32, and clear errors for bad input.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule.autograd import grad, gradcheck, gradgradcheck
from chainrule.nn.modules import rnn
from chainrule.nn.modules.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from chainrule.ops import recurrent

RNG = np.random.default_rng(20240601)
F64 = chainrule.float64


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _random(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def _assert_close(ours: chainrule.Tensor, theirs: Any, what: str) -> None:
    theirs = theirs.detach().numpy()
    assert ours.shape == theirs.shape, what
    np.testing.assert_allclose(ours.array, theirs, rtol=1e-6, atol=1e-10, err_msg=what)


# (our class, extra constructor kwargs, PyTorch's class name)
MODES = {
    "rnn_tanh": (RNN, {}, "RNN"),
    "rnn_relu": (RNN, {"nonlinearity": "relu"}, "RNN"),
    "lstm": (LSTM, {}, "LSTM"),
    "gru": (GRU, {}, "GRU"),
}


def _twins(torch: Any, mode: str, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    ours_cls, extra, theirs_name = MODES[mode]
    theirs = getattr(torch.nn, theirs_name)(*args, **extra, **kwargs).double()
    ours = ours_cls(*args, **extra, **kwargs, dtype=F64)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def _run_and_compare(torch: Any, ours: Any, theirs: Any, x: np.ndarray,
                     states: list[np.ndarray] | None) -> None:
    """Forward both layers, backpropagate random covectors through output and final states,
    compare values and the gradients of input, initial states and parameters."""
    ours_x = chainrule.tensor(x, requires_grad=True)
    theirs_x = torch.tensor(x, requires_grad=True)
    ours_states = [chainrule.tensor(s, requires_grad=True) for s in states or []]
    theirs_states = [torch.tensor(s, requires_grad=True) for s in states or []]
    is_lstm = isinstance(ours, LSTM)
    if not states:
        ours_out, ours_final = ours(ours_x)
        theirs_out, theirs_final = theirs(theirs_x)
    elif is_lstm:
        ours_out, ours_final = ours(ours_x, tuple(ours_states))
        theirs_out, theirs_final = theirs(theirs_x, tuple(theirs_states))
    else:
        ours_out, ours_final = ours(ours_x, ours_states[0])
        theirs_out, theirs_final = theirs(theirs_x, theirs_states[0])
    ours_results = [ours_out, *(ours_final if is_lstm else (ours_final,))]
    theirs_results = [theirs_out, *(theirs_final if is_lstm else (theirs_final,))]
    ours_loss, theirs_loss = 0, 0
    for index, (mine, reference) in enumerate(zip(ours_results, theirs_results)):
        _assert_close(mine, reference, f"result {index}")
        covector = _random(*mine.shape)
        ours_loss = ours_loss + (mine * chainrule.tensor(covector)).sum()
        theirs_loss = theirs_loss + (reference * torch.tensor(covector)).sum()
    ours_loss.backward()
    theirs_loss.backward()
    _assert_close(ours_x.grad, theirs_x.grad, "input gradient")
    for index, (mine, reference) in enumerate(zip(ours_states, theirs_states)):
        _assert_close(mine.grad, reference.grad, f"initial state {index} gradient")
    ours_params = dict(ours.named_parameters())
    for name, reference in theirs.named_parameters():
        _assert_close(ours_params[name].grad, reference.grad, f"gradient of {name}")


# ------------------------------------------------------------------------ against PyTorch
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("num_layers, bidirectional", [(1, False), (1, True), (2, False), (2, True)])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_layers_match_pytorch(torch: Any, mode: str, num_layers: int, bidirectional: bool,
                              batch_first: bool, with_state: bool) -> None:
    length, batch, input_size, hidden = 5, 3, 4, 6
    ours, theirs = _twins(torch, mode, input_size, hidden, num_layers=num_layers,
                          bidirectional=bidirectional, batch_first=batch_first)
    x = _random(batch, length, input_size) if batch_first else _random(length, batch, input_size)
    count = num_layers * (2 if bidirectional else 1)
    states = None
    if with_state:
        states = [_random(count, batch, hidden) for _ in range(2 if mode == "lstm" else 1)]
    _run_and_compare(torch, ours, theirs, x, states)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("with_state", [False, True])
def test_unbatched_input_matches_pytorch(torch: Any, mode: str, with_state: bool) -> None:
    ours, theirs = _twins(torch, mode, 3, 4, num_layers=2, bidirectional=True, batch_first=True)
    states = [_random(4, 4) for _ in range(2 if mode == "lstm" else 1)] if with_state else None
    _run_and_compare(torch, ours, theirs, _random(6, 3), states)


@pytest.mark.parametrize("mode", MODES)
def test_without_bias_matches_pytorch(torch: Any, mode: str) -> None:
    ours, theirs = _twins(torch, mode, 3, 4, bias=False, bidirectional=True)
    assert not any("bias" in name for name, _ in ours.named_parameters())
    _run_and_compare(torch, ours, theirs, _random(4, 2, 3), None)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_with_projection_matches_pytorch(torch: Any, bidirectional: bool) -> None:
    theirs = torch.nn.LSTM(3, 5, num_layers=2, proj_size=2, bidirectional=bidirectional).double()
    ours = LSTM(3, 5, num_layers=2, proj_size=2, bidirectional=bidirectional, dtype=F64)
    ours.load_state_dict(theirs.state_dict())
    count = 4 if bidirectional else 2
    _run_and_compare(torch, ours, theirs, _random(4, 2, 3), [_random(count, 2, 2), _random(count, 2, 5)])


def test_dropout_zero_in_training_mode_matches_pytorch(torch: Any) -> None:
    ours, theirs = _twins(torch, "gru", 3, 4, num_layers=2, dropout=0.0)
    ours.train()
    theirs.train()
    _run_and_compare(torch, ours, theirs, _random(5, 2, 3), None)


@pytest.mark.parametrize("mode", MODES)
def test_state_dict_names_shapes_and_order_match_pytorch(torch: Any, mode: str) -> None:
    ours, theirs = _twins(torch, mode, 3, 5, num_layers=2, bidirectional=True)
    ours_shapes = [(name, tuple(t.shape)) for name, t in ours.state_dict().items()]
    theirs_shapes = [(name, tuple(t.shape)) for name, t in theirs.state_dict().items()]
    assert ours_shapes == theirs_shapes
    # And the other way round: PyTorch accepts our state dict.
    theirs.load_state_dict({name: torch.tensor(t.array) for name, t in ours.state_dict().items()})


@pytest.mark.parametrize("cell_name", ["RNNCell", "RNNCell-relu", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_cells_match_pytorch(torch: Any, cell_name: str, batched: bool, with_state: bool, bias: bool) -> None:
    name, _, nonlinearity = cell_name.partition("-")
    extra = {"nonlinearity": nonlinearity} if nonlinearity else {}
    theirs = getattr(torch.nn, name)(3, 4, bias=bias, **extra).double()
    ours = getattr(rnn, name)(3, 4, bias=bias, **extra, dtype=F64)
    ours.load_state_dict(theirs.state_dict())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    batch_shape = (2,) if batched else ()
    x = _random(*batch_shape, 3)
    ours_x, theirs_x = chainrule.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    count = 2 if name == "LSTMCell" else 1
    state_arrays = [_random(*batch_shape, 4) for _ in range(count)] if with_state else []
    ours_states = [chainrule.tensor(s, requires_grad=True) for s in state_arrays]
    theirs_states = [torch.tensor(s, requires_grad=True) for s in state_arrays]
    if not with_state:
        ours_result, theirs_result = ours(ours_x), theirs(theirs_x)
    elif count == 2:
        ours_result, theirs_result = ours(ours_x, tuple(ours_states)), theirs(theirs_x, tuple(theirs_states))
    else:
        ours_result, theirs_result = ours(ours_x, ours_states[0]), theirs(theirs_x, theirs_states[0])
    ours_results = ours_result if count == 2 else (ours_result,)
    theirs_results = theirs_result if count == 2 else (theirs_result,)
    ours_loss, theirs_loss = 0, 0
    for mine, reference in zip(ours_results, theirs_results):
        _assert_close(mine, reference, "cell output")
        covector = _random(*mine.shape)
        ours_loss = ours_loss + (mine * chainrule.tensor(covector)).sum()
        theirs_loss = theirs_loss + (reference * torch.tensor(covector)).sum()
    ours_loss.backward()
    theirs_loss.backward()
    _assert_close(ours_x.grad, theirs_x.grad, "input gradient")
    for mine, reference in zip(ours_states, theirs_states):
        _assert_close(mine.grad, reference.grad, "state gradient")
    ours_params = dict(ours.named_parameters())
    for param_name, reference in theirs.named_parameters():
        _assert_close(ours_params[param_name].grad, reference.grad, f"gradient of {param_name}")


def test_second_order_gradient_penalty_matches_pytorch(torch: Any) -> None:
    """d/dW of |d(sum output)/dx|^2: runs the fused ops' differentiable (create_graph) backward."""
    for mode in ("gru", "lstm", "rnn_tanh"):
        ours, theirs = _twins(torch, mode, 2, 3, bidirectional=True)
        x = _random(4, 2, 2)
        ours_x, theirs_x = chainrule.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        covector = _random(4, 2, 6)
        ours_out = (ours(ours_x)[0] * chainrule.tensor(covector)).sum()
        theirs_out = (theirs(theirs_x)[0] * torch.tensor(covector)).sum()
        (ours_dx,) = grad(ours_out, ours_x, create_graph=True)
        (theirs_dx,) = torch.autograd.grad(theirs_out, theirs_x, create_graph=True)
        _assert_close(ours_dx, theirs_dx, f"{mode}: first-order gradient")
        (ours_dx * ours_dx).sum().backward()
        (theirs_dx * theirs_dx).sum().backward()
        _assert_close(ours_x.grad, theirs_x.grad, f"{mode}: second-order input gradient")
        ours_params = dict(ours.named_parameters())
        for name, reference in theirs.named_parameters():
            _assert_close(ours_params[name].grad, reference.grad, f"{mode}: second-order gradient of {name}")


# ------------------------------------------------------ fused recurrences vs step by step
def _sequence_inputs(mode: str, length: int = 4, batch: int = 3, hidden: int = 5) -> dict[str, Any]:
    gates = {"rnn": 1, "rnn_relu": 1, "gru": 3, "lstm": 4}[mode]

    def leaf(*shape: int, scale: float = 1.0) -> chainrule.Tensor:
        return chainrule.tensor(_random(*shape) * scale, requires_grad=True)

    inputs = {"gates_x": leaf(length, batch, gates * hidden), "h0": leaf(batch, hidden),
              "weight_hh": leaf(gates * hidden, hidden, scale=0.5), "bias_hh": leaf(gates * hidden)}
    if mode == "lstm":
        inputs["c0"] = leaf(batch, hidden)
    return inputs


def _fused_and_stepwise(mode: str, inputs: dict[str, Any], reverse: bool) -> tuple[Any, Any]:
    """The fused op's output and the same sequence computed with chainrule ops step by step."""
    gates_x, h0, weight_hh, bias_hh = (inputs[k] for k in ("gates_x", "h0", "weight_hh", "bias_hh"))
    if mode in ("rnn", "rnn_relu"):
        nonlinearity = "relu" if mode == "rnn_relu" else "tanh"
        fused = recurrent.RNNRecurrence.apply(gates_x, h0, weight_hh, bias_hh, nonlinearity, reverse)
        steps, _ = recurrent._rnn_sequence_graph(gates_x, h0, weight_hh, bias_hh, nonlinearity, reverse)
        return fused, chainrule.stack(steps)
    if mode == "gru":
        fused = recurrent.GRURecurrence.apply(gates_x, h0, weight_hh, bias_hh, reverse)
        steps, _ = recurrent._gru_sequence_graph(gates_x, h0, weight_hh, bias_hh, reverse)
        return fused, chainrule.stack(steps)
    hidden, cell = recurrent.LSTMRecurrence.apply(gates_x, h0, inputs["c0"], weight_hh, bias_hh, reverse)
    fused = chainrule.cat([hidden, cell.unsqueeze(0)])
    steps, last_cell, _ = recurrent.lstm_sequence_graph(gates_x, h0, inputs["c0"], weight_hh, bias_hh,
                                                        reverse)
    return fused, chainrule.cat([chainrule.stack(steps), last_cell.unsqueeze(0)])


@pytest.mark.parametrize("mode", ["rnn", "rnn_relu", "gru", "lstm"])
@pytest.mark.parametrize("reverse", [False, True])
def test_fused_recurrence_matches_stepwise_ops(mode: str, reverse: bool) -> None:
    """Values and gradients of the fused op equal those of the composite path (autograd
    through chainrule's elementary ops), and its create_graph backward gives the same numbers."""
    inputs = _sequence_inputs(mode)
    leaves = list(inputs.values())
    fused, stepwise = _fused_and_stepwise(mode, inputs, reverse)
    np.testing.assert_allclose(fused.array, stepwise.array, rtol=1e-12, atol=1e-14)
    covector = chainrule.tensor(_random(*fused.shape))
    fused_grads = grad((fused * covector).sum(), leaves, retain_graph=True)
    stepwise_grads = grad((stepwise * covector).sum(), leaves)
    graph_grads = grad((fused * covector).sum(), leaves, create_graph=True)
    for name, a, b, c in zip(inputs, fused_grads, stepwise_grads, graph_grads):
        np.testing.assert_allclose(a.array, b.array, rtol=1e-10, atol=1e-12, err_msg=f"d/d {name}")
        np.testing.assert_allclose(
            c.array, b.array, rtol=1e-10, atol=1e-12, err_msg=f"create_graph d/d {name}"
        )
    assert any(g.requires_grad for g in graph_grads)  # create_graph gave a differentiable result


@pytest.mark.parametrize("mode", ["rnn", "gru", "lstm"])
def test_fused_recurrence_skips_unneeded_parameter_gradients(mode: str, monkeypatch: Any) -> None:
    asked = []
    compute = recurrent._hidden_weight_grads

    def spy(grad_gates: Any, previous: Any, needs: Any) -> Any:
        asked.append(tuple(needs))
        return compute(grad_gates, previous, needs)

    monkeypatch.setattr(recurrent, "_hidden_weight_grads", spy)
    inputs = _sequence_inputs(mode)
    inputs["weight_hh"] = chainrule.tensor(inputs["weight_hh"].array)  # a constant this time
    fused, _ = _fused_and_stepwise(mode, inputs, reverse=False)
    fused.sum().backward()
    assert asked == [(False, True)]
    assert inputs["gates_x"].grad is not None and inputs["bias_hh"].grad is not None


# ---------------------------------------------------------------- finite differences
def _tiny(cls: type, **kwargs: Any) -> Any:
    chainrule.manual_seed(3)
    return cls(2, 3, dtype=F64, **kwargs)


@pytest.mark.parametrize("cls", [GRU, LSTM, RNN])
def test_gradcheck_tiny_layer(cls: type) -> None:
    layer = _tiny(cls, bidirectional=True)
    x = chainrule.tensor(_random(3, 2, 2), requires_grad=True)
    h0 = chainrule.tensor(_random(2, 2, 3), requires_grad=True)
    params = list(layer.parameters())

    def run(x: Any, h0: Any, *weights: Any) -> tuple[Any, ...]:
        if cls is LSTM:
            output, (h_n, c_n) = layer(x, (h0, h0 * 0.5))
            return output, h_n, c_n
        return layer(x, h0)

    assert gradcheck(run, (x, h0, *params))


@pytest.mark.parametrize("cls", [GRU, LSTM, RNN])
def test_gradgradcheck_tiny_layer(cls: type) -> None:
    """Second order against finite differences: checks the fused ops' create_graph backward."""
    layer = _tiny(cls, bidirectional=True)
    x = chainrule.tensor(_random(3, 2, 2), requires_grad=True)
    h0 = chainrule.tensor(_random(2, 2, 3), requires_grad=True)

    def run(x: Any, h0: Any, weight_hh: Any) -> Any:
        if cls is LSTM:
            return layer(x, (h0, h0 * 0.5))[0]
        return layer(x, h0)[0]

    assert gradgradcheck(run, (x, h0, layer.weight_hh_l0_reverse))


@pytest.mark.parametrize("cell", [RNNCell, GRUCell, LSTMCell])
def test_gradcheck_tiny_cells(cell: type) -> None:
    chainrule.manual_seed(5)
    module = cell(2, 3, dtype=F64)
    x = chainrule.tensor(_random(2, 2), requires_grad=True)
    h = chainrule.tensor(_random(2, 3), requires_grad=True)

    def run(x: Any, h: Any, *weights: Any) -> Any:
        return module(x, (h, h * 2.0)) if cell is LSTMCell else module(x, h)

    assert gradcheck(run, (x, h, *module.parameters()))


# -------------------------------------------------------------- behaviour without PyTorch
@pytest.mark.parametrize("mode", MODES)
def test_initialisation_is_uniform_within_one_over_sqrt_hidden(mode: str) -> None:
    cls, extra, _ = MODES[mode]
    layer = cls(16, 64, num_layers=2, bidirectional=True, **extra)
    bound = 1 / math.sqrt(64)
    values = np.concatenate([p.array.ravel() for p in layer.parameters()])
    assert values.dtype == np.float32
    assert np.abs(values).max() <= bound
    # U(-b, b) has standard deviation b / sqrt(3); a constant or narrower init would not.
    assert values.std() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    assert all(p.requires_grad for p in layer.parameters())


def test_parameter_names_follow_pytorch_without_torch() -> None:
    names = [name for name, _ in LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2).named_parameters()]
    per_direction = ["weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"]
    expected = [f"{kind}_l{layer}{suffix}" for layer, suffix in itertools.product((0, 1), ("", "_reverse"))
                for kind in per_direction]
    assert names == expected
    gru = GRU(3, 4, num_layers=2, bidirectional=True)
    assert gru.weight_ih_l1.shape == (12, 8)  # the second layer reads both directions
    assert gru.weight_hh_l0_reverse.shape == (12, 4)
    assert [len(weights) for weights in gru.all_weights] == [4, 4, 4, 4]


@pytest.mark.parametrize("cls", [RNN, GRU, LSTM])
def test_float32_stays_float32(cls: type) -> None:
    layer = cls(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    x = chainrule.randn(2, 5, 3, requires_grad=True)
    output, final = layer(x)
    assert output.dtype == np.float32
    assert output.shape == (2, 5, 8)
    h_n = final[0] if cls is LSTM else final
    assert h_n.shape == (4, 2, 4)  # h_n is never batch first
    (output.sum() + h_n.sum()).backward()
    assert x.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in layer.parameters())


def test_last_output_of_each_direction_is_in_h_n() -> None:
    layer = GRU(3, 4, bidirectional=True)
    output, h_n = layer(chainrule.randn(6, 2, 3))
    np.testing.assert_array_equal(h_n.array[0], output.array[-1, :, :4])  # forward ends at the last step
    np.testing.assert_array_equal(h_n.array[1], output.array[0, :, 4:])  # backward ends at the first


def test_reverse_direction_reads_the_sequence_backwards() -> None:
    """The reverse direction of a bidirectional layer is a forward layer on the flipped input."""
    chainrule.manual_seed(0)
    both = LSTM(3, 4, bidirectional=True, dtype=F64)
    single = LSTM(3, 4, dtype=F64)
    single.load_state_dict({name.replace("_reverse", ""): value for name, value in both.state_dict().items()
                            if name.endswith("_reverse")})
    x = chainrule.tensor(_random(5, 2, 3))
    output, _ = both(x)
    flipped_output, _ = single(x.flip(0))
    np.testing.assert_allclose(output.array[:, :, 4:], flipped_output.array[::-1], rtol=1e-12)


def test_dropout_between_layers_only_in_training() -> None:
    chainrule.manual_seed(0)
    layer = GRU(3, 8, num_layers=2, dropout=0.5, dtype=F64)
    x = chainrule.tensor(_random(4, 2, 3))
    layer.eval()
    first, _ = layer(x)
    second, _ = layer(x)
    np.testing.assert_array_equal(first.array, second.array)
    layer.train()
    trained, _ = layer(x)
    assert not np.allclose(trained.array, first.array)
    # Without dropout the training-mode output is the evaluation-mode one.
    layer.dropout = 0.0
    np.testing.assert_allclose(layer(x)[0].array, first.array, rtol=1e-12)


def test_dropout_with_one_layer_warns() -> None:
    with pytest.warns(UserWarning, match="num_layers=1"):
        GRU(3, 4, dropout=0.2)


def test_repr_matches_pytorch_style() -> None:
    expected = "GRU(1, 64, batch_first=True, bidirectional=True)"
    assert repr(GRU(1, 64, batch_first=True, bidirectional=True)) == expected
    assert repr(LSTM(3, 4, num_layers=2, bias=False)) == "LSTM(3, 4, num_layers=2, bias=False)"
    assert repr(RNNCell(3, 4, nonlinearity="relu")) == "RNNCell(3, 4, nonlinearity=relu)"


def test_flatten_parameters_is_accepted() -> None:
    layer = LSTM(2, 3)
    assert layer.flatten_parameters() is None


# ------------------------------------------------------------------------------ errors
def test_wrong_input_size_names_layer_and_expected_size() -> None:
    layer = GRU(4, 8, num_layers=2)
    with pytest.raises(RuntimeError, match=r"GRU\(4, 8, num_layers=2\).*Expected 4, got 3"):
        layer(chainrule.randn(5, 2, 3))


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4, 4)])
def test_wrong_input_rank_is_rejected(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"LSTM\(4, 8\).*2-D .* or 3-D"):
        LSTM(4, 8)(chainrule.randn(*shape))


def test_wrong_initial_state_shape_is_rejected() -> None:
    layer = GRU(3, 4, num_layers=2, bidirectional=True)
    with pytest.raises(RuntimeError, match=r"expected hx of shape \(4, 2, 4\).*got \(2, 2, 4\)"):
        layer(chainrule.randn(5, 2, 3), chainrule.zeros(2, 2, 4))
    with pytest.raises(RuntimeError, match=r"expected hx of shape \(4, 4\)"):
        layer(chainrule.randn(5, 3), chainrule.zeros(4, 2, 4))  # unbatched input needs 2-D hx


def test_lstm_state_must_be_a_pair() -> None:
    with pytest.raises(TypeError, match=r"tuple \(h_0, c_0\)"):
        LSTM(3, 4)(chainrule.randn(5, 2, 3), chainrule.zeros(1, 2, 4))
    with pytest.raises(RuntimeError, match=r"expected cx of shape \(1, 2, 4\)"):
        LSTM(3, 4)(chainrule.randn(5, 2, 3), (chainrule.zeros(1, 2, 4), chainrule.zeros(1, 2, 5)))


def test_dtype_mismatch_is_rejected_not_promoted() -> None:
    with pytest.raises(RuntimeError, match=r"input has dtype float64 but the layer's parameters are float32"):
        GRU(3, 4)(chainrule.randn(5, 2, 3, dtype=F64))


def test_empty_sequence_is_rejected() -> None:
    with pytest.raises(RuntimeError, match="length > 0"):
        RNN(3, 4, batch_first=True)(chainrule.randn(2, 0, 3))


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        GRU(3, 4, num_layers=2, dropout=1.5)
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        LSTM(3, 0)
    with pytest.raises(ValueError, match="proj_size"):
        LSTM(3, 4, proj_size=4)


def test_cell_errors() -> None:
    cell = GRUCell(3, 4)
    with pytest.raises(RuntimeError, match=r"GRUCell\(3, 4\).*\(N, 3\)"):
        cell(chainrule.randn(2, 5))
    with pytest.raises(RuntimeError, match=r"expected hx of shape \(2, 4\)"):
        cell(chainrule.randn(2, 3), chainrule.zeros(3, 4))
    with pytest.raises(TypeError, match=r"tuple \(h, c\)"):
        LSTMCell(3, 4)(chainrule.randn(2, 3), chainrule.zeros(2, 4))
