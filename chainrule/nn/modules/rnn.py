"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` and the one-step cells ``RNNCell``, ``LSTMCell``,
``GRUCell``, with PyTorch's constructor arguments, parameter names (``weight_ih_l0``,
``bias_hh_l1_reverse``, ...), gate order and initialisation, so state dicts interchange with PyTorch.

How a layer runs, per layer and direction:

1. the input's share of every gate for all time steps at once, with one matmul:
   ``gates_x = x @ W_ih^T + b_ih``, of shape (L, N, gates * H);
2. the recurrence, the only part that has to loop over time, as one fused op
   (``RNNRecurrence``, ``LSTMRecurrence``, ``GRURecurrence``) whose forward and backward
   (backpropagation through time) are written on NumPy arrays: a whole sequence is one node of
   the graph instead of about fifteen per time step.

The gradient of a fused op is one op, ``RecurrenceGrad``, whose forward backpropagates through
time on the kept arrays, with or without ``create_graph``. Its own backward (second order)
recomputes the step states from the inputs in chainrule ops, runs the same algorithm on Tensors
and differentiates that. The gate-gradient formulas are written once (``_gru_gate_grads`` etc.),
for anything with ``+ - * @``, and serve both.

Gates, in PyTorch's order: LSTM (i, f, g, o); GRU (r, z, n) with
``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`` and ``h' = (1 - z) * n + z * h``.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.autograd.function import Function
from chainrule.backends import numba as numba_backend
from chainrule.creation import empty, zeros
from chainrule.dtypes import as_dtype
from chainrule.kernels import recurrent as recurrent_kernels
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.modules.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops.double_backward import composite_vjp
from chainrule.ops.elementwise import relu, sigmoid, tanh
from chainrule.ops.linalg import linear
from chainrule.ops.movement import cat, stack
from chainrule.tensor import Tensor

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


# ------------------------------------------------------------------ gate maths, both paths
def _steps(length: int, reverse: bool) -> range:
    """Time steps in the order a direction reads them."""
    return range(length - 1, -1, -1) if reverse else range(length)


def _rnn_gate_grads(grad_h: Any, h: Any, nonlinearity: str) -> Any:
    """For h = act(a): d loss / d a from d loss / d h (act is tanh or relu)."""
    if nonlinearity == "tanh":
        return grad_h * (1 - h * h)
    return grad_h * (h > 0)


def _gru_gate_grads(grad_h: Any, h_prev: Any, r: Any, z: Any, n: Any, hidden_n: Any) -> tuple[Any, Any, Any]:
    """For h' = n + z (h - n), r = sigmoid(a_r), z = sigmoid(a_z), n = tanh(a_n + r hidden_n):
    d loss / d (a_r, a_z, a_n) from d loss / d h'."""
    grad_through_n = grad_h * (1 - z)
    grad_n = grad_through_n * (1 - n * n)
    grad_z = grad_through_n * (h_prev - n) * z
    grad_r = grad_n * hidden_n * r * (1 - r)
    return grad_r, grad_z, grad_n


def _lstm_gate_grads(grad_h: Any, grad_c: Any, c_prev: Any, i: Any, f: Any, g: Any, o: Any,
                     tanh_c: Any) -> tuple[tuple[Any, Any, Any, Any], Any]:
    """For c' = f c + i g and h' = o tanh(c'): d loss / d (a_i, a_f, a_g, a_o), the gates'
    pre-activations, and d loss / d c, from d loss / d h' and the gradient carried into c'."""
    grad_c = grad_c + grad_h * o * (1 - tanh_c * tanh_c)
    grad_i = grad_c * g * i * (1 - i)
    grad_f = grad_c * c_prev * f * (1 - f)
    grad_g = grad_c * i * (1 - g * g)
    grad_o = grad_h * tanh_c * o * (1 - o)
    return (grad_i, grad_f, grad_g, grad_o), grad_c * f


def _rnn_step(gates_x: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None,
              nonlinearity: str) -> Tensor:
    """One Elman step in chainrule ops: act(gates_x + h W_hh^T + b_hh)."""
    pre_activation = gates_x + linear(h, weight_hh, bias_hh)
    return tanh(pre_activation) if nonlinearity == "tanh" else relu(pre_activation)


def _gru_step(gates_x: Tensor, h: Tensor, weight_hh: Tensor,
              bias_hh: Tensor | None) -> tuple[Tensor, tuple[Tensor, ...]]:
    """One GRU step in chainrule ops: the new state and (r, z, n, hidden_n)."""
    x_r, x_z, x_n = gates_x.chunk(3, -1)
    h_r, h_z, hidden_n = linear(h, weight_hh, bias_hh).chunk(3, -1)
    r = sigmoid(x_r + h_r)
    z = sigmoid(x_z + h_z)
    n = tanh(x_n + r * hidden_n)
    return n + z * (h - n), (r, z, n, hidden_n)


def _lstm_step(gates_x: Tensor, h: Tensor, c: Tensor, weight_hh: Tensor,
               bias_hh: Tensor | None) -> tuple[Tensor, Tensor, tuple[Tensor, ...]]:
    """One LSTM step in chainrule ops: the new h and c, and (i, f, g, o, tanh(c))."""
    i, f, g, o = (gates_x + linear(h, weight_hh, bias_hh)).chunk(4, -1)
    i, f, g, o = sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
    c = f * c + i * g
    tanh_c = tanh(c)
    return o * tanh_c, c, (i, f, g, o, tanh_c)


# --------------------------------------------------- whole sequences in chainrule ops
def _rnn_sequence_graph(gates_x: Tensor, h0: Tensor, weight_hh: Tensor, bias_hh: Tensor | None,
                        nonlinearity: str, reverse: bool) -> tuple[list[Tensor], list[tuple]]:
    """Outputs by position, and states[t] = (h_prev, h) by position."""
    outputs: list[Any] = [None] * gates_x.shape[0]
    states: list[Any] = [None] * gates_x.shape[0]
    h = h0
    for t in _steps(gates_x.shape[0], reverse):
        h_new = _rnn_step(gates_x[t], h, weight_hh, bias_hh, nonlinearity)
        states[t] = (h, h_new)
        outputs[t] = h = h_new
    return outputs, states


def _gru_sequence_graph(gates_x: Tensor, h0: Tensor, weight_hh: Tensor, bias_hh: Tensor | None,
                        reverse: bool) -> tuple[list[Tensor], list[tuple]]:
    """Outputs by position, and states[t] = (h_prev, r, z, n, hidden_n) by position."""
    outputs: list[Any] = [None] * gates_x.shape[0]
    states: list[Any] = [None] * gates_x.shape[0]
    h = h0
    for t in _steps(gates_x.shape[0], reverse):
        h_new, gates = _gru_step(gates_x[t], h, weight_hh, bias_hh)
        states[t] = (h, *gates)
        outputs[t] = h = h_new
    return outputs, states


def _lstm_sequence_graph(gates_x: Tensor, h0: Tensor, c0: Tensor, weight_hh: Tensor,
                         bias_hh: Tensor | None, reverse: bool,
                         weight_hr: Tensor | None = None) -> tuple[list[Tensor], Tensor, list[tuple]]:
    """Outputs by position, the last cell state, and states[t] = (h_prev, c_prev, i, f, g, o,
    tanh_c) by position. With ``weight_hr`` (``proj_size > 0``) each h is projected."""
    outputs: list[Any] = [None] * gates_x.shape[0]
    states: list[Any] = [None] * gates_x.shape[0]
    h, c = h0, c0
    for t in _steps(gates_x.shape[0], reverse):
        h_new, c_new, gates = _lstm_step(gates_x[t], h, c, weight_hh, bias_hh)
        if weight_hr is not None:
            h_new = linear(h_new, weight_hr)
        states[t] = (h, c, *gates)
        outputs[t] = h = h_new
        c = c_new
    return outputs, c, states


# ------------------------------------------------- backpropagation through time, both paths
class _ArraySteps:
    """Per-step gate gradients of the fused backward, written straight into one (L, N, G)
    array (no per-step concatenation, no stacking at the end)."""

    def __init__(self, length: int, batch: int, width: int, dtype: np.dtype) -> None:
        self.array = np.empty((length, batch, width), dtype)

    def put(self, t: int, parts: Sequence[np.ndarray]) -> np.ndarray:
        row, start = self.array[t], 0
        for part in parts:
            row[:, start:start + part.shape[-1]] = part
            start += part.shape[-1]
        return row

    def result(self) -> np.ndarray:
        return self.array


class _TensorSteps:
    """Per-step gate gradients as chainrule Tensors (create_graph), stacked at the end."""

    def __init__(self, length: int, batch: int, width: int, dtype: np.dtype) -> None:
        self.steps: list[Any] = [None] * length

    def put(self, t: int, parts: Sequence[Tensor]) -> Tensor:
        self.steps[t] = parts[0] if len(parts) == 1 else cat(list(parts), dim=-1)
        return self.steps[t]

    def result(self) -> Tensor:
        return stack(self.steps)


def _hidden_weight_grads(grad_gates_h: Any, previous: Any, needs: Sequence[bool]) -> tuple[Any, Any]:
    """d loss / d (W_hh, b_hh) from the gates' gradients (L, N, G) and the states (L, N, H)
    they read: one matmul over all steps."""
    grad_weight = grad_bias = None
    if needs[0]:
        flat_grad = grad_gates_h.reshape(-1, grad_gates_h.shape[-1])
        grad_weight = flat_grad.T @ previous.reshape(flat_grad.shape[0], -1)
    if needs[1]:
        grad_bias = grad_gates_h.sum((0, 1))
    return grad_weight, grad_bias


def _rnn_bptt(grad: Any, steps: range, states: list[tuple], previous: Any, weight_hh: Any,
              nonlinearity: str, needs: Sequence[bool], steps_type: type) -> tuple[Any, ...]:
    """Gradients of (gates_x, h0, W_hh, b_hh) of an Elman direction. ``states[t]`` is
    (h_prev, h), ``previous`` every h_prev as one (L, N, H) array or Tensor."""
    grad_gates = steps_type(len(steps), grad.shape[1], grad.shape[2], grad.dtype)
    grad_h = None
    for t in reversed(steps):
        h_prev, h = states[t]
        grad_h = grad[t] if grad_h is None else grad[t] + grad_h
        grad_h = grad_gates.put(t, [_rnn_gate_grads(grad_h, h, nonlinearity)]) @ weight_hh
    all_gates = grad_gates.result()
    return (all_gates, grad_h, *_hidden_weight_grads(all_gates, previous, needs))


def _gru_bptt(grad: Any, steps: range, states: list[tuple], previous: Any, weight_hh: Any,
              needs: Sequence[bool], steps_type: type) -> tuple[Any, ...]:
    """Gradients of (gates_x, h0, W_hh, b_hh) of a GRU direction, ``states[t]`` being
    (h_prev, r, z, n, hidden_n). The hidden side of n is scaled by r, so the gradient of the
    hidden side's gates differs from the input side's there."""
    length, batch, size = len(steps), grad.shape[1], grad.shape[2]
    grad_gates_x = steps_type(length, batch, 3 * size, grad.dtype)
    grad_gates_h = steps_type(length, batch, 3 * size, grad.dtype)
    grad_h = None
    for t in reversed(steps):
        h_prev, r, z, n, hidden_n = states[t]
        grad_h = grad[t] if grad_h is None else grad[t] + grad_h
        grad_r, grad_z, grad_n = _gru_gate_grads(grad_h, h_prev, r, z, n, hidden_n)
        grad_gates_x.put(t, [grad_r, grad_z, grad_n])
        grad_h = grad_h * z + grad_gates_h.put(t, [grad_r, grad_z, grad_n * r]) @ weight_hh
    all_gates_h = grad_gates_h.result()
    return (grad_gates_x.result(), grad_h, *_hidden_weight_grads(all_gates_h, previous, needs))


def _lstm_bptt(grad: Any, grad_c: Any, steps: range, states: list[tuple], previous: Any, weight_hh: Any,
               needs: Sequence[bool], steps_type: type) -> tuple[Any, ...]:
    """Gradients of (gates_x, h0, c0, W_hh, b_hh) of an LSTM direction, ``states[t]`` being
    (h_prev, c_prev, i, f, g, o, tanh_c); ``grad`` holds the hidden states' gradients, ``grad_c``
    the last cell state's."""
    length, batch, size = len(steps), grad.shape[1], grad.shape[2]
    grad_gates = steps_type(length, batch, 4 * size, grad.dtype)
    grad_h = None
    for t in reversed(steps):
        h_prev, c_prev, i, f, g, o, tanh_c = states[t]
        grad_h = grad[t] if grad_h is None else grad[t] + grad_h
        gate_grads, grad_c = _lstm_gate_grads(grad_h, grad_c, c_prev, i, f, g, o, tanh_c)
        grad_h = grad_gates.put(t, gate_grads) @ weight_hh
    all_gates = grad_gates.result()
    return (all_gates, grad_h, grad_c, *_hidden_weight_grads(all_gates, previous, needs))


def _gru_bptt_fused(grad: np.ndarray, steps: range, states: list[tuple], previous: np.ndarray,
                    weight_hh: np.ndarray, needs: Sequence[bool]) -> tuple[Any, ...]:
    """``_gru_bptt`` on arrays with the numba step kernel: the same gradients, one kernel call
    and one matmul per step (see ``chainrule.kernels.recurrent`` for how the numbers compare)."""
    length, batch, size = grad.shape
    grad_gates_x = np.empty((length, batch, 3 * size), grad.dtype)
    grad_gates_h = np.empty_like(grad_gates_x)
    from_later, carried, carry = (np.zeros((batch, size), grad.dtype) for _ in range(3))
    for t in reversed(steps):
        recurrent_kernels.gru_backward_step(grad[t], from_later, carried, *states[t], grad_gates_x[t],
                                            grad_gates_h[t], carry)
        np.matmul(grad_gates_h[t], weight_hh, out=from_later)
        carried, carry = carry, carried
    return (grad_gates_x, from_later + carried, *_hidden_weight_grads(grad_gates_h, previous, needs))


def _lstm_bptt_fused(grad: np.ndarray, grad_c: np.ndarray, steps: range, states: list[tuple],
                     previous: np.ndarray, weight_hh: np.ndarray, needs: Sequence[bool]) -> tuple[Any, ...]:
    """``_lstm_bptt`` on arrays with the numba step kernel (one kernel call and one matmul per
    step)."""
    length, batch, size = grad.shape
    grad_gates = np.empty((length, batch, 4 * size), grad.dtype)
    from_later = np.zeros((batch, size), grad.dtype)
    grad_c = np.array(np.broadcast_to(grad_c, (batch, size)), grad.dtype)  # updated in place
    for t in reversed(steps):
        h_prev, *gate_states = states[t]
        recurrent_kernels.lstm_backward_step(grad[t], from_later, grad_c, *gate_states, grad_gates[t])
        np.matmul(grad_gates[t], weight_hh, out=from_later)
    return (grad_gates, from_later, grad_c, *_hidden_weight_grads(grad_gates, previous, needs))


def _bptt(spec: tuple, grad: Any, grad_c: Any, inputs: Sequence[Any], needs: Sequence[bool],
          states: list[tuple] | None = None, previous: Any = None) -> tuple[Any, ...]:
    """Gradients of the recurrence ``spec`` = (kind, reverse, nonlinearity) for its ``inputs``
    (gates_x, h0, c0 or None, W_hh, b_hh or None), in that order (None for c0 unless an LSTM).
    On arrays with the states the forward kept; on Tensors (``states`` None) it recomputes the
    states in chainrule ops first, so the result is differentiable."""
    kind, reverse, nonlinearity = spec
    gates_x, h0, c0, weight_hh, bias_hh = inputs
    steps, weight_needs = _steps(gates_x.shape[0], reverse), needs[3:]
    steps_type = _ArraySteps
    if states is None:
        steps_type = _TensorSteps
        if kind == "rnn":
            _, states = _rnn_sequence_graph(gates_x, h0, weight_hh, bias_hh, nonlinearity, reverse)
        elif kind == "gru":
            _, states = _gru_sequence_graph(gates_x, h0, weight_hh, bias_hh, reverse)
        else:
            _, _, states = _lstm_sequence_graph(gates_x, h0, c0, weight_hh, bias_hh, reverse)
        previous = stack([state[0] for state in states])
    elif kind != "rnn" and numba_backend.handles(grad, gates_x, weight_hh):
        if kind == "lstm":
            return _lstm_bptt_fused(grad, grad_c, steps, states, previous, weight_hh, weight_needs)
        found = _gru_bptt_fused(grad, steps, states, previous, weight_hh, weight_needs)
        return found[:2] + (None,) + found[2:]
    if kind == "rnn":
        found = _rnn_bptt(grad, steps, states, previous, weight_hh, nonlinearity, weight_needs, steps_type)
    elif kind == "gru":
        found = _gru_bptt(grad, steps, states, previous, weight_hh, weight_needs, steps_type)
    else:
        return _lstm_bptt(grad, grad_c, steps, states, previous, weight_hh, weight_needs, steps_type)
    return found[:2] + (None,) + found[2:]


class RecurrenceGrad(Function):
    """The gradients of a recurrence op (``RNNRecurrence``, ``GRURecurrence``,
    ``LSTMRecurrence``): backpropagation through time on the arrays its forward kept, the one
    first-order rule. Inputs: the output's gradient, the last cell state's (LSTM, else None),
    then the op's (gates_x, h0, c0 or None, W_hh, b_hh or None); outputs: the gradients of those
    of the op's inputs in ``needs``. Its own backward differentiates the same algorithm run on
    Tensors (``_bptt`` without kept states)."""

    @staticmethod
    def forward(ctx, grad, grad_c, gates_x, h0, c0, weight_hh, bias_hh, spec, states, previous, needs):
        ctx.save_inputs(0, 1, 2, 3, 4, 5, 6)
        ctx.spec, ctx.needs = spec, needs
        found = _bptt(spec, grad, grad_c, (gates_x, h0, c0, weight_hh, bias_hh), needs, states, previous)
        return tuple(g for g, need in zip(found, needs) if need)

    @staticmethod
    def backward(ctx, *grad_grads):
        given = iter(grad_grads)
        grad_outputs = [next(given) if need else None for need in ctx.needs]

        def first_order(grad, grad_c, *inputs):
            return _bptt(ctx.spec, grad, grad_c, inputs, ctx.needs)

        found = composite_vjp(first_order, ctx.saved_inputs, ctx.needs_input_grad[:7], grad_outputs)
        return (*found, None, None, None, None)


def _recurrence_backward(ctx: Function, spec: tuple, grad: Tensor, grad_c: Tensor | None,
                         needs: tuple[bool, ...]) -> list[Tensor | None]:
    """A recurrence op's backward: its gradients (one per entry of ``needs``, for gates_x, h0,
    c0, W_hh, b_hh) from one ``RecurrenceGrad`` node."""
    gates_x, h0, *rest = ctx.saved_inputs
    c0 = rest.pop(0) if spec[0] == "lstm" else None
    inputs = (gates_x, h0, c0, *rest)
    found = iter(RecurrenceGrad.apply(grad, grad_c, *inputs, spec, ctx.states, ctx.previous, needs))
    return [next(found) if need else None for need in needs]


# ------------------------------------------------------------ the recurrences on arrays
def _sigmoid_(array: np.ndarray) -> np.ndarray:
    """Logistic sigmoid in place, as 0.5 tanh(x / 2) + 0.5: no overflow for any x."""
    array *= 0.5
    np.tanh(array, out=array)
    array *= 0.5
    array += 0.5
    return array


def _rnn_forward_arrays(gates_x: np.ndarray, h0: np.ndarray, weight_hh: np.ndarray,
                        bias_hh: np.ndarray | None, nonlinearity: str, reverse: bool) -> tuple:
    outputs = np.empty(gates_x.shape[:2] + (weight_hh.shape[1],), gates_x.dtype)
    previous = np.empty_like(outputs)  # the state each step reads, for the weight gradient
    weight_t = np.ascontiguousarray(weight_hh.T)
    states: list[Any] = [None] * len(outputs)
    h = h0
    for t in _steps(len(outputs), reverse):
        previous[t] = h
        h_new = np.matmul(h, weight_t, out=outputs[t])
        h_new += gates_x[t]
        if bias_hh is not None:
            h_new += bias_hh
        if nonlinearity == "tanh":
            np.tanh(h_new, out=h_new)
        else:
            np.maximum(h_new, 0, out=h_new)
        states[t] = (previous[t], h_new)
        h = h_new
    return outputs, states, previous


def _gru_forward_arrays(gates_x: np.ndarray, h0: np.ndarray, weight_hh: np.ndarray,
                        bias_hh: np.ndarray | None, reverse: bool) -> tuple:
    size = weight_hh.shape[1]
    outputs = np.empty(gates_x.shape[:2] + (size,), gates_x.dtype)
    gates = np.empty_like(gates_x)  # r, z, n after their nonlinearities
    hidden_n = np.empty_like(outputs)  # W_hn h + b_hn, the part r scales
    previous = np.empty_like(outputs)  # the state each step reads, for the weight gradient
    weight_t = np.ascontiguousarray(weight_hh.T)
    states: list[Any] = [None] * len(outputs)
    h = h0
    for t in _steps(len(outputs), reverse):
        previous[t] = h
        from_hidden = h @ weight_t
        if bias_hh is not None:
            from_hidden += bias_hh
        r_z = np.add(gates_x[t, :, :2 * size], from_hidden[:, :2 * size], out=gates[t, :, :2 * size])
        _sigmoid_(r_z)
        hidden_n[t] = from_hidden[:, 2 * size:]
        n = np.multiply(r_z[:, :size], hidden_n[t], out=gates[t, :, 2 * size:])
        n += gates_x[t, :, 2 * size:]
        np.tanh(n, out=n)
        h_new = np.subtract(h, n, out=outputs[t])
        h_new *= r_z[:, size:]
        h_new += n
        states[t] = (previous[t], r_z[:, :size], r_z[:, size:], n, hidden_n[t])
        h = h_new
    return outputs, states, previous


def _lstm_forward_arrays(gates_x: np.ndarray, h0: np.ndarray, c0: np.ndarray, weight_hh: np.ndarray,
                         bias_hh: np.ndarray | None, reverse: bool) -> tuple:
    length, size = gates_x.shape[0], weight_hh.shape[1]
    outputs = np.empty((length + 1,) + h0.shape, gates_x.dtype)  # every h, then the last c
    gates = np.empty_like(gates_x)  # i, f, g, o after their nonlinearities
    cells = np.empty((length,) + h0.shape, gates_x.dtype)
    tanh_cells = np.empty_like(cells)
    previous = np.empty_like(cells)  # the hidden state each step reads, for the weight gradient
    weight_t = np.ascontiguousarray(weight_hh.T)
    states: list[Any] = [None] * length
    h, c = h0, c0
    for t in _steps(length, reverse):
        previous[t] = h
        step = np.matmul(h, weight_t, out=gates[t])
        step += gates_x[t]
        if bias_hh is not None:
            step += bias_hh
        _sigmoid_(step[:, :2 * size])
        np.tanh(step[:, 2 * size:3 * size], out=step[:, 2 * size:3 * size])
        _sigmoid_(step[:, 3 * size:])
        i, f, g, o = step[:, :size], step[:, size:2 * size], step[:, 2 * size:3 * size], step[:, 3 * size:]
        c_new = np.multiply(f, c, out=cells[t])
        c_new += i * g
        np.tanh(c_new, out=tanh_cells[t])
        states[t] = (previous[t], c, i, f, g, o, tanh_cells[t])
        h = np.multiply(o, tanh_cells[t], out=outputs[t])
        c = c_new
    outputs[length] = c
    return outputs, states, previous


# --------------------------------------------------------------------------- fused ops
class RNNRecurrence(Function):
    """The recurrent part of one Elman RNN layer in one direction, over a whole sequence.

    Inputs: gates_x (L, N, H) = x W_ih^T + b_ih for every step, h0 (N, H), weight_hh (H, H),
    bias_hh (H,) or None, nonlinearity ``"tanh"`` or ``"relu"``, reverse (read the sequence
    from its end). Output: (L, N, H), position t holding the state after reading step t.
    """

    @staticmethod
    def forward(ctx, gates_x, h0, weight_hh, bias_hh, nonlinearity, reverse):
        ctx.save_inputs(0, 1, 2, 3)
        ctx.nonlinearity, ctx.reverse = nonlinearity, reverse
        outputs, ctx.states, ctx.previous = _rnn_forward_arrays(gates_x, h0, weight_hh, bias_hh,
                                                                nonlinearity, reverse)
        return outputs

    @staticmethod
    def backward(ctx, grad):
        need_x, need_h, need_w, need_b = ctx.needs_input_grad[:4]
        found = _recurrence_backward(ctx, ("rnn", ctx.reverse, ctx.nonlinearity), grad, None,
                                     (need_x, need_h, False, need_w, need_b))
        return (*found[:2], *found[3:], None, None)


class GRURecurrence(Function):
    """The recurrent part of one GRU layer in one direction, over a whole sequence.

    Inputs: gates_x (L, N, 3H) = x W_ih^T + b_ih for every step (gates r, z, n), h0 (N, H),
    weight_hh (3H, H), bias_hh (3H,) or None, reverse (read the sequence from its end).
    Output: (L, N, H), position t holding the state after reading step t.
    """

    @staticmethod
    def forward(ctx, gates_x, h0, weight_hh, bias_hh, reverse):
        ctx.save_inputs(0, 1, 2, 3)
        ctx.reverse = reverse
        outputs, ctx.states, ctx.previous = _gru_forward_arrays(gates_x, h0, weight_hh, bias_hh, reverse)
        return outputs

    @staticmethod
    def backward(ctx, grad):
        need_x, need_h, need_w, need_b = ctx.needs_input_grad[:4]
        found = _recurrence_backward(ctx, ("gru", ctx.reverse, None), grad, None,
                                     (need_x, need_h, False, need_w, need_b))
        return (*found[:2], *found[3:], None)


class LSTMRecurrence(Function):
    """The recurrent part of one LSTM layer in one direction, over a whole sequence.

    Inputs: gates_x (L, N, 4H) = x W_ih^T + b_ih for every step (gates i, f, g, o), h0 and c0
    (N, H), weight_hh (4H, H), bias_hh (4H,) or None, reverse (read the sequence from its end).
    Outputs: (L, N, H), the hidden state after each step, and (N, H), the last cell state.
    """

    @staticmethod
    def forward(ctx, gates_x, h0, c0, weight_hh, bias_hh, reverse):
        ctx.save_inputs(0, 1, 2, 3, 4)
        ctx.reverse = reverse
        outputs, ctx.states, ctx.previous = _lstm_forward_arrays(gates_x, h0, c0, weight_hh, bias_hh, reverse)
        return outputs[:-1], outputs[-1]

    @staticmethod
    def backward(ctx, grad, grad_c):
        found = _recurrence_backward(ctx, ("lstm", ctx.reverse, None), grad, grad_c, ctx.needs_input_grad[:5])
        return (*found, None)


# ------------------------------------------------------------------------------ layers
def _check_layer_args(owner: str, input_size: int, hidden_size: int, dropout: float = 0.0,
                      num_layers: int = 1) -> None:
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout <= 1:
        raise ValueError(f"{owner}: dropout should be a number in range [0, 1] representing the "
                         f"probability of an element being zeroed, got {dropout!r}")


def _check_dtype(layer: Module, tensor: Tensor, what: str) -> None:
    weight_dtype = layer.weight_ih_l0.dtype if hasattr(layer, "weight_ih_l0") else layer.weight_ih.dtype
    if tensor.dtype != weight_dtype:
        raise RuntimeError(
            f"{layer!r}: {what} has dtype {tensor.dtype} but the layer's parameters are {weight_dtype}; "
            f"convert one to the other, e.g. {what}.to({weight_dtype}) or layer.to({tensor.dtype})"
        )


class RNNBase(Module):
    """What ``RNN``, ``LSTM`` and ``GRU`` share: the parameters of every layer and direction
    (``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``, with a
    ``_reverse`` suffix for the backward direction, and ``weight_hr_l{k}`` for a projected LSTM),
    the checks of inputs and initial states, and the loop over layers and directions.

    Every parameter starts as U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch's.
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        owner = type(self).__name__
        if mode not in _GATES:
            raise ValueError(f"{owner}: unknown mode {mode!r}; use one of {sorted(_GATES)}")
        _check_layer_args(owner, input_size, hidden_size, dropout, num_layers)
        if proj_size < 0 or (proj_size and mode != "LSTM") or proj_size >= hidden_size:
            raise ValueError(f"{owner}: proj_size must be 0, or (for LSTM only) a positive integer "
                             f"smaller than hidden_size={hidden_size}; got {proj_size}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{owner}: dropout={dropout} acts between layers, so with num_layers=1 it "
                          "does nothing; add layers or apply nn.Dropout to the output", stacklevel=2)
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.dropout, self.proj_size = float(dropout), proj_size
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        gate_size = _GATES[mode] * hidden_size
        out_size = proj_size or hidden_size
        num_directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input_size = input_size if layer == 0 else out_size * num_directions
                shapes = {"weight_ih": (gate_size, layer_input_size), "weight_hh": (gate_size, out_size)}
                if bias:
                    shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
                if proj_size:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                names = [kind + suffix for kind in shapes]
                for name, shape in zip(names, shapes.values()):
                    setattr(self, name, Parameter(empty(*shape, dtype=as_dtype(dtype))))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -bound, bound)

    def flatten_parameters(self) -> None:
        """Kept for PyTorch scripts (it packs cuDNN weights there); nothing to do here."""

    @property
    def _flat_weights(self) -> list[Parameter]:
        return [self._parameters[name] for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters, one list per layer and direction, in PyTorch's order."""
        return [[self._parameters[name] for name in names] for names in self._all_weights]

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            text += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        if self.batch_first is not False:
            text += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            text += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            text += f", bidirectional={self.bidirectional}"
        return text

    # ------------------------------------------------------------------------- checks
    def _check_input(self, input: Tensor) -> bool:  # noqa: A002
        """Whether ``input`` is batched; raises on a wrong rank, size or dtype."""
        if not isinstance(input, Tensor):
            raise TypeError(f"{self!r}: input must be a Tensor, got {type(input).__name__}")
        layout = "(N, L, H_in)" if self.batch_first else "(L, N, H_in)"
        if input.ndim not in (2, 3):
            raise ValueError(f"{self!r}: expected input to be 2-D (L, H_in) unbatched or 3-D {layout} "
                             f"batched, got {input.ndim}-D input of shape {tuple(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{self!r}: input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {input.shape[-1]} (input of shape "
                               f"{tuple(input.shape)}, expected layout {layout})")
        time_dim = 1 if self.batch_first and input.ndim == 3 else 0
        if input.shape[time_dim] == 0:
            raise RuntimeError(f"{self!r}: expected a sequence of length > 0, got input of shape "
                               f"{tuple(input.shape)}")
        _check_dtype(self, input, "input")
        return input.ndim == 3

    def _initial_state(self, state: Tensor | None, size: int, sequence: Tensor, batched: bool,
                       what: str) -> list[Tensor]:
        """One (N, size) tensor per layer and direction, zeros when ``state`` is None."""
        count = self.num_layers * (2 if self.bidirectional else 1)
        batch = sequence.shape[1]
        if state is None:
            zero = zeros(batch, size, dtype=sequence.dtype)
            return [zero] * count
        if not isinstance(state, Tensor):
            raise TypeError(f"{self!r}: {what} must be a Tensor, got {type(state).__name__}")
        expected = (count, batch, size) if batched else (count, size)
        if tuple(state.shape) != expected:
            kind = "3-D for batched" if batched else "2-D for unbatched"
            raise RuntimeError(f"{self!r}: expected {what} of shape {expected} ({kind} input: "
                               f"num_layers * num_directions, {'N, ' if batched else ''}"
                               f"hidden size), got {tuple(state.shape)}")
        _check_dtype(self, state, what)
        if not batched:
            state = state.unsqueeze(1)
        return [state[k] for k in range(count)]

    # ------------------------------------------------------------------------ forward
    def _run_direction(self, layer_input: Tensor, name: str, reverse: bool, h0: Tensor,
                       c0: Tensor | None) -> tuple[Tensor, Tensor, Tensor | None]:
        """One layer in one direction over (L, N, H_in): outputs (L, N, H_out), last h, last c."""
        params = self._parameters
        gates_x = linear(layer_input, params["weight_ih" + name], params.get("bias_ih" + name))
        weight_hh, bias_hh = params["weight_hh" + name], params.get("bias_hh" + name)
        last = 0 if reverse else gates_x.shape[0] - 1
        if self.mode == "GRU":
            outputs = GRURecurrence.apply(gates_x, h0, weight_hh, bias_hh, reverse)
            return outputs, outputs[last], None
        if self.mode != "LSTM":
            nonlinearity = "tanh" if self.mode == "RNN_TANH" else "relu"
            outputs = RNNRecurrence.apply(gates_x, h0, weight_hh, bias_hh, nonlinearity, reverse)
            return outputs, outputs[last], None
        if self.proj_size:
            by_step, c_n, _ = _lstm_sequence_graph(gates_x, h0, c0, weight_hh, bias_hh, reverse,
                                                   params["weight_hr" + name])
            return stack(by_step), by_step[last], c_n
        outputs, c_n = LSTMRecurrence.apply(gates_x, h0, c0, weight_hh, bias_hh, reverse)
        return outputs, outputs[last], c_n

    def _run(self, input: Tensor, h0: Tensor | None, c0: Tensor | None = None) -> tuple:  # noqa: A002
        batched = self._check_input(input)
        sequence = input.transpose(0, 1) if batched and self.batch_first else input
        if not batched:
            sequence = sequence.unsqueeze(1)
        out_size = self.proj_size or self.hidden_size
        h_initial = self._initial_state(h0, out_size, sequence, batched, "hx")
        c_initial = None
        if self.mode == "LSTM":
            c_initial = self._initial_state(c0, self.hidden_size, sequence, batched, "cx")
        num_directions = 2 if self.bidirectional else 1
        layer_input, h_last, c_last = sequence, [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(num_directions):
                index = layer * num_directions + direction
                reverse = direction == 1
                name = f"_l{layer}" + ("_reverse" if reverse else "")
                cell = c_initial[index] if c_initial is not None else None
                output, h_n, c_n = self._run_direction(layer_input, name, reverse, h_initial[index], cell)
                outputs.append(output)
                h_last.append(h_n)
                c_last.append(c_n)
            layer_input = outputs[0] if num_directions == 1 else cat(outputs, dim=-1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        output, h_n = layer_input, stack(h_last)
        c_n = stack(c_last) if self.mode == "LSTM" else None
        if not batched:
            output, h_n = output.squeeze(1), h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, h_n, c_n


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu,
    stacked ``num_layers`` deep, optionally bidirectional.

    Shapes: input (L, N, H_in), or (N, L, H_in) with ``batch_first``, or (L, H_in) unbatched;
    hx (num_layers * num_directions, N, H) or zeros. Returns (output, h_n): output
    (L, N, num_directions * H) (batch first if asked), h_n like hx.

    Example::

        >>> rnn = nn.RNN(10, 20, num_layers=2)
        >>> output, h_n = rnn(chainrule.randn(5, 3, 10))
        >>> output.shape, h_n.shape
        ((5, 3, 20), (2, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device: Any = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}; use 'tanh' or 'relu'")
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:  # noqa: A002
        output, h_n, _ = self._run(input, hx)
        return output, h_n


class GRU(RNNBase):
    """Gated recurrent unit, stacked ``num_layers`` deep, optionally bidirectional. Per step::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h

    Shapes: input (L, N, H_in), or (N, L, H_in) with ``batch_first``, or (L, H_in) unbatched;
    hx (num_layers * num_directions, N, H) or zeros. Returns (output, h_n): output
    (L, N, num_directions * H) (batch first if asked), h_n like hx.

    Example::

        >>> gru = nn.GRU(1, 64, batch_first=True, bidirectional=True)
        >>> output, h_n = gru(chainrule.randn(100, 40, 1))
        >>> output.shape, h_n.shape
        ((100, 40, 128), (2, 100, 64))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:  # noqa: A002
        output, h_n, _ = self._run(input, hx)
        return output, h_n


class LSTM(RNNBase):
    """Long short-term memory, stacked ``num_layers`` deep, optionally bidirectional. Per step::

        i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (W_i* x + b_i* + W_h* h + b_h*)
        c' = f * c + i * g
        h' = o * tanh(c')          (times W_hr^T when proj_size > 0)

    Shapes: input (L, N, H_in), or (N, L, H_in) with ``batch_first``, or (L, H_in) unbatched;
    hx = (h_0, c_0), each (num_layers * num_directions, N, H) (h_0's last size is proj_size if
    set), or zeros. Returns (output, (h_n, c_n)), output (L, N, num_directions * H_out).

    Example::

        >>> lstm = nn.LSTM(10, 20, batch_first=True)
        >>> output, (h_n, c_n) = lstm(chainrule.randn(3, 5, 10))
        >>> output.shape, c_n.shape
        ((3, 5, 20), (1, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device: Any = None, dtype: Any = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, proj_size, device=device, dtype=dtype)

    def forward(self, input: Tensor,  # noqa: A002
                hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if hx is not None and (not isinstance(hx, tuple | list) or len(hx) != 2):
            raise TypeError(f"{self!r}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
        h0, c0 = hx if hx is not None else (None, None)
        output, h_n, c_n = self._run(input, h0, c0)
        return output, (h_n, c_n)


# ------------------------------------------------------------------------------- cells
class RNNCellBase(Module):
    """What the cells share: ``weight_ih`` (gates * H, H_in), ``weight_hh`` (gates * H, H),
    ``bias_ih`` and ``bias_hh`` (gates * H,), all U(-1/sqrt(H), 1/sqrt(H)) at first."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        _check_layer_args(type(self).__name__, input_size, hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        dtype = as_dtype(dtype)
        self.weight_ih = Parameter(empty(num_chunks * hidden_size, input_size, dtype=dtype))
        self.weight_hh = Parameter(empty(num_chunks * hidden_size, hidden_size, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(empty(num_chunks * hidden_size, dtype=dtype))
            self.bias_hh = Parameter(empty(num_chunks * hidden_size, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -bound, bound)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            text += f", nonlinearity={self.nonlinearity}"
        return text

    def _check_input(self, input: Tensor) -> bool:  # noqa: A002
        """Whether ``input`` is batched; raises on a wrong rank, size or dtype."""
        if not isinstance(input, Tensor):
            raise TypeError(f"{self!r}: input must be a Tensor, got {type(input).__name__}")
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise RuntimeError(f"{self!r}: expected input of shape (N, {self.input_size}) or "
                               f"({self.input_size},) (last size = input_size), got "
                               f"{tuple(input.shape)}")
        _check_dtype(self, input, "input")
        return input.ndim == 2

    def _state(self, state: Tensor | None, input: Tensor, batched: bool, what: str) -> Tensor:  # noqa: A002
        """The (N, H) state for one step: ``state`` checked (and given a batch dim), or zeros."""
        if state is None:
            return zeros(input.shape[0], self.hidden_size, dtype=input.dtype)
        expected = (input.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        if not isinstance(state, Tensor) or tuple(state.shape) != expected:
            shape = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
            raise RuntimeError(f"{self!r}: expected {what} of shape {expected}, got {shape}")
        _check_dtype(self, state, what)
        return state if batched else state.unsqueeze(0)


class RNNCell(RNNCellBase):
    """One Elman step: h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act tanh or relu.

    Shapes: input (N, H_in) or (H_in,), hx (N, H) / (H,) or zeros → h' (N, H) / (H,).

    Example::

        >>> cell = nn.RNNCell(10, 20)
        >>> cell(chainrule.randn(3, 10)).shape
        (3, 20)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device: Any = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r}; use 'tanh' or 'relu'")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        batched = self._check_input(input)
        x = input if batched else input.unsqueeze(0)
        h = self._state(hx, x, batched, "hx")
        gates_x = linear(x, self.weight_ih, self.bias_ih)
        h = _rnn_step(gates_x, h, self.weight_hh, self.bias_hh, self.nonlinearity)
        return h if batched else h.squeeze(0)


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n as in ``GRU``).

    Shapes: input (N, H_in) or (H_in,), hx (N, H) / (H,) or zeros → h' (N, H) / (H,).

    Example::

        >>> cell = nn.GRUCell(10, 20)
        >>> cell(chainrule.randn(3, 10)).shape
        (3, 20)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        batched = self._check_input(input)
        x = input if batched else input.unsqueeze(0)
        h = self._state(hx, x, batched, "hx")
        h, _ = _gru_step(linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step (gates i, f, g, o as in ``LSTM``).

    Shapes: input (N, H_in) or (H_in,), hx = (h, c) each (N, H) / (H,), or zeros →
    (h', c').

    Example::

        >>> cell = nn.LSTMCell(10, 20)
        >>> h, c = cell(chainrule.randn(3, 10))
        >>> h.shape, c.shape
        ((3, 20), (3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor,  # noqa: A002
                hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        if hx is not None and (not isinstance(hx, tuple | list) or len(hx) != 2):
            raise TypeError(f"{self!r}: hx must be a tuple (h, c), got {type(hx).__name__}")
        batched = self._check_input(input)
        x = input if batched else input.unsqueeze(0)
        h0, c0 = hx if hx is not None else (None, None)
        h = self._state(h0, x, batched, "hx[0]")
        c = self._state(c0, x, batched, "hx[1]")
        h, c, _ = _lstm_step(linear(x, self.weight_ih, self.bias_ih), h, c, self.weight_hh, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))
