"""The recurrences as ops: one layer in one direction over a whole sequence is one node of the
graph (``RNNRecurrence``, ``GRURecurrence``, ``LSTMRecurrence``), whatever its length.

The layers in ``chainrule.nn.modules.rnn`` compute the input's share of every gate for all time
steps with one matmul, ``gates_x = x @ W_ih^T + b_ih`` of shape (L, N, gates * H), and hand it to
one of these ops, whose forward and backward (backpropagation through time) loop over time on
NumPy arrays.

The gradient of a fused op is one op, ``RecurrenceGrad``, whose forward backpropagates through
time on the kept arrays, with or without ``create_graph``. Its own backward (second order)
recomputes the step states from the inputs in chainrule ops, runs the same algorithm on Tensors
and differentiates that. The gate-gradient formulas are written once (``_gru_gate_grads`` etc.),
for anything with ``+ - * @``, and serve both.

Gates, in PyTorch's order: LSTM (i, f, g, o); GRU (r, z, n) with
``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`` and ``h' = (1 - z) * n + z * h``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.autograd.function import Function
from chainrule.backends import numba as numba_backend
from chainrule.kernels import blas
from chainrule.kernels import recurrent as recurrent_kernels
from chainrule.ops.double_backward import composite_vjp
from chainrule.ops.elementwise import relu, sigmoid, tanh
from chainrule.ops.linalg import linear
from chainrule.ops.movement import cat, stack
from chainrule.tensor import Tensor


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


def rnn_step(gates_x: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None,
              nonlinearity: str) -> Tensor:
    """One Elman step in chainrule ops: act(gates_x + h W_hh^T + b_hh)."""
    pre_activation = gates_x + linear(h, weight_hh, bias_hh)
    return tanh(pre_activation) if nonlinearity == "tanh" else relu(pre_activation)


def gru_step(gates_x: Tensor, h: Tensor, weight_hh: Tensor,
              bias_hh: Tensor | None) -> tuple[Tensor, tuple[Tensor, ...]]:
    """One GRU step in chainrule ops: the new state and (r, z, n, hidden_n)."""
    x_r, x_z, x_n = gates_x.chunk(3, -1)
    h_r, h_z, hidden_n = linear(h, weight_hh, bias_hh).chunk(3, -1)
    r = sigmoid(x_r + h_r)
    z = sigmoid(x_z + h_z)
    n = tanh(x_n + r * hidden_n)
    return n + z * (h - n), (r, z, n, hidden_n)


def lstm_step(gates_x: Tensor, h: Tensor, c: Tensor, weight_hh: Tensor,
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
        h_new = rnn_step(gates_x[t], h, weight_hh, bias_hh, nonlinearity)
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
        h_new, gates = gru_step(gates_x[t], h, weight_hh, bias_hh)
        states[t] = (h, *gates)
        outputs[t] = h = h_new
    return outputs, states


def lstm_sequence_graph(gates_x: Tensor, h0: Tensor, c0: Tensor, weight_hh: Tensor,
                         bias_hh: Tensor | None, reverse: bool,
                         weight_hr: Tensor | None = None) -> tuple[list[Tensor], Tensor, list[tuple]]:
    """Outputs by position, the last cell state, and states[t] = (h_prev, c_prev, i, f, g, o,
    tanh_c) by position. With ``weight_hr`` (``proj_size > 0``) each h is projected."""
    outputs: list[Any] = [None] * gates_x.shape[0]
    states: list[Any] = [None] * gates_x.shape[0]
    h, c = h0, c0
    for t in _steps(gates_x.shape[0], reverse):
        h_new, c_new, gates = lstm_step(gates_x[t], h, c, weight_hh, bias_hh)
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


def _product(a: Any, b: Any) -> Any:
    """``a @ b`` for the recurrences written for both arrays and Tensors: arrays through
    chainrule's BLAS choice (``chainrule.kernels.blas``), Tensors through ``matmul``."""
    return blas.matmul(a, b) if isinstance(a, np.ndarray) else a @ b


def _hidden_weight_grads(grad_gates_h: Any, previous: Any, needs: Sequence[bool]) -> tuple[Any, Any]:
    """d loss / d (W_hh, b_hh) from the gates' gradients (L, N, G) and the states (L, N, H)
    they read: one matmul over all steps."""
    grad_weight = grad_bias = None
    if needs[0]:
        flat_grad = grad_gates_h.reshape(-1, grad_gates_h.shape[-1])
        grad_weight = _product(flat_grad.T, previous.reshape(flat_grad.shape[0], -1))
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
        grad_h = _product(grad_gates.put(t, [_rnn_gate_grads(grad_h, h, nonlinearity)]), weight_hh)
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
        grad_h = grad_h * z + _product(grad_gates_h.put(t, [grad_r, grad_z, grad_n * r]), weight_hh)
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
        grad_h = _product(grad_gates.put(t, gate_grads), weight_hh)
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
        blas.matmul(grad_gates_h[t], weight_hh, out=from_later)
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
        blas.matmul(grad_gates[t], weight_hh, out=from_later)
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
    steps_type: type = _ArraySteps
    if states is None:
        steps_type = _TensorSteps
        if kind == "rnn":
            _, states = _rnn_sequence_graph(gates_x, h0, weight_hh, bias_hh, nonlinearity, reverse)
        elif kind == "gru":
            _, states = _gru_sequence_graph(gates_x, h0, weight_hh, bias_hh, reverse)
        else:
            _, _, states = lstm_sequence_graph(gates_x, h0, c0, weight_hh, bias_hh, reverse)
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


def _recurrence_backward(ctx: Any, spec: tuple, grad: Tensor, grad_c: Tensor | None,
                         needs: tuple[bool, ...]) -> list[Tensor | None]:
    """A recurrence op's backward: its gradients (one per entry of ``needs``, for gates_x, h0,
    c0, W_hh, b_hh) from one ``RecurrenceGrad`` node."""
    gates_x, h0, *rest = ctx.saved_inputs
    c0 = rest.pop(0) if spec[0] == "lstm" else None
    inputs = (gates_x, h0, c0, *rest)
    outputs: Any = RecurrenceGrad.apply(grad, grad_c, *inputs, spec, ctx.states, ctx.previous, needs)
    found = iter(outputs)
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
        h_new = blas.matmul(h, weight_t, out=outputs[t])
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


def _gru_step_arrays(gates_x: np.ndarray, from_hidden: np.ndarray, bias_hh: np.ndarray | None,
                     h_prev: np.ndarray, gates: np.ndarray, hidden_n: np.ndarray, h: np.ndarray) -> None:
    """One GRU step on arrays, what ``chainrule.kernels.recurrent.gru_forward_step`` does in one
    pass: fills ``gates`` (r, z, n), ``hidden_n`` and the new state ``h``; ``from_hidden`` is
    h_prev W_hh^T and is updated in place."""
    size = h_prev.shape[1]
    if bias_hh is not None:
        from_hidden += bias_hh
    r_z = np.add(gates_x[:, :2 * size], from_hidden[:, :2 * size], out=gates[:, :2 * size])
    _sigmoid_(r_z)
    hidden_n[...] = from_hidden[:, 2 * size:]
    n = np.multiply(r_z[:, :size], hidden_n, out=gates[:, 2 * size:])
    n += gates_x[:, 2 * size:]
    np.tanh(n, out=n)
    np.subtract(h_prev, n, out=h)
    h *= r_z[:, size:]
    h += n


def _gru_forward_arrays(gates_x: np.ndarray, h0: np.ndarray, weight_hh: np.ndarray,
                        bias_hh: np.ndarray | None, reverse: bool) -> tuple:
    size = weight_hh.shape[1]
    outputs = np.empty(gates_x.shape[:2] + (size,), gates_x.dtype)
    gates = np.empty_like(gates_x)  # r, z, n after their nonlinearities
    hidden_n = np.empty_like(outputs)  # W_hn h + b_hn, the part r scales
    previous = np.empty_like(outputs)  # the state each step reads, for the weight gradient
    weight_t = np.ascontiguousarray(weight_hh.T)
    from_hidden = np.empty(gates_x.shape[1:], gates_x.dtype)
    step, bias = _gru_step_arrays, bias_hh
    if gates_x.dtype == np.float32 and numba_backend.handles(gates_x, h0, weight_hh):
        # the kernel's tanh is float32's (see chainrule.kernels.recurrent); float64 stays exact
        step = recurrent_kernels.gru_forward_step
        bias = np.zeros(3 * size, gates_x.dtype) if bias_hh is None else bias_hh
    states: list[Any] = [None] * len(outputs)
    h = h0
    for t in _steps(len(outputs), reverse):
        previous[t] = h
        blas.matmul(previous[t], weight_t, out=from_hidden)
        step(gates_x[t], from_hidden, bias, previous[t], gates[t], hidden_n[t], outputs[t])
        states[t] = (previous[t], gates[t, :, :size], gates[t, :, size:2 * size], gates[t, :, 2 * size:],
                     hidden_n[t])
        h = outputs[t]
    return outputs, states, previous


def _lstm_step_arrays(gates_x: np.ndarray, bias_hh: np.ndarray | None, c_prev: np.ndarray,
                      gates: np.ndarray, cells: np.ndarray, tanh_cells: np.ndarray, h: np.ndarray) -> None:
    """One LSTM step on arrays, what ``chainrule.kernels.recurrent.lstm_forward_step`` does in
    one pass: ``gates`` holds h_prev W_hh^T and becomes (i, f, g, o) after their nonlinearities;
    fills the new cell state ``cells``, its tanh ``tanh_cells`` and the new state ``h``."""
    size = c_prev.shape[1]
    gates += gates_x
    if bias_hh is not None:
        gates += bias_hh
    _sigmoid_(gates[:, :2 * size])
    np.tanh(gates[:, 2 * size:3 * size], out=gates[:, 2 * size:3 * size])
    _sigmoid_(gates[:, 3 * size:])
    np.multiply(gates[:, size:2 * size], c_prev, out=cells)
    cells += gates[:, :size] * gates[:, 2 * size:3 * size]
    np.tanh(cells, out=tanh_cells)
    np.multiply(gates[:, 3 * size:], tanh_cells, out=h)


def _lstm_forward_arrays(gates_x: np.ndarray, h0: np.ndarray, c0: np.ndarray, weight_hh: np.ndarray,
                         bias_hh: np.ndarray | None, reverse: bool) -> tuple:
    length, size = gates_x.shape[0], weight_hh.shape[1]
    outputs = np.empty((length + 1,) + h0.shape, gates_x.dtype)  # every h, then the last c
    gates = np.empty_like(gates_x)  # i, f, g, o after their nonlinearities
    cells = np.empty((length,) + h0.shape, gates_x.dtype)
    tanh_cells = np.empty_like(cells)
    previous = np.empty_like(cells)  # the hidden state each step reads, for the weight gradient
    weight_t = np.ascontiguousarray(weight_hh.T)
    step, bias = _lstm_step_arrays, bias_hh
    if gates_x.dtype == np.float32 and numba_backend.handles(gates_x, h0, c0, weight_hh):
        # the kernel's tanh is float32's (see chainrule.kernels.recurrent); float64 stays exact
        step = recurrent_kernels.lstm_forward_step
        bias = np.zeros(4 * size, gates_x.dtype) if bias_hh is None else bias_hh
    states: list[Any] = [None] * length
    h, c = h0, c0
    for t in _steps(length, reverse):
        previous[t] = h
        blas.matmul(previous[t], weight_t, out=gates[t])
        step(gates_x[t], bias, c, gates[t], cells[t], tanh_cells[t], outputs[t])
        i, f, g, o = (gates[t, :, j * size:(j + 1) * size] for j in range(4))
        states[t] = (previous[t], c, i, f, g, o, tanh_cells[t])
        h, c = outputs[t], cells[t]
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
