"""GRU and LSTM steps, one time step per call, as single passes (see ``chainrule.ops.recurrent``
for the NumPy versions).

A step's gates are a few thousand floats (batch 100, hidden 64), so the NumPy path's dozen
elementwise calls per step cost more in per-call overhead than in arithmetic. Each kernel does
a step's gate work in one call around the step's matrix product, which stays with NumPy's BLAS.
On the benchmark's GRU direction (40 steps, batch 100, hidden 64; one thread, CPU time, shared
machine) the backward took 7.5-9.3 ms against NumPy's 12.2-14.3 ms, the forward 5.3 ms against
12.2 ms.

The forward steps are float32's (``gru_forward_step``, ``lstm_forward_step``; float64 takes the
NumPy path): they compute tanh and the sigmoid with ``tanh32``, a rational function of plain
arithmetic that LLVM vectorises. With the C library's scalar ``tanh`` (18 ns an element here,
NumPy's vectorised one 4 ns) the same loop ran 2.5x slower than NumPy's dozen calls a step.

Numerics: the NumPy path's formulas in the arrays' dtype, but not its results to the bit:
``tanh32`` is within 4e-7 relative of the exact tanh (6 float32 ulps at worst, 0.7 on average;
NumPy's float32 tanh is within 1.4), and the backward kernels group some sums differently.
``tests/test_kernels.py`` checks ``tanh32`` on a dense grid and bounds the difference over
whole sequences: relative 1e-5 in float32, 1e-12 in float64.
"""

from __future__ import annotations

import numpy as np

from chainrule.backends.numba import kernel, scalar

# tanh(x) ~= x P(x^2) / Q(x^2) for |x| <= 9, where float32's tanh reaches +-1: degree-4
# polynomials in x^2 fitted for this module by least squares on the relative error, reweighted
# towards its largest values (Lawson's iteration) over 42,000 points of [0, 9].
_TANH_BOUND = np.float32(9.0)
_P0, _P1, _P2 = np.float32(9.99999980e-01), np.float32(1.33812178e-01), np.float32(3.49581467e-03)
_P3, _P4 = np.float32(2.06127449e-05), np.float32(1.33596133e-08)
_Q0, _Q1, _Q2 = np.float32(1.0), np.float32(4.67145335e-01), np.float32(2.58778483e-02)
_Q3, _Q4 = np.float32(3.28600248e-04), np.float32(7.77861110e-07)
_HALF = np.float32(0.5)
# 1 as a float32 keeps a float32 kernel in float32 (a Python 1 would promote it to float64, as
# NumPy does not) and is exact in float64
_ONE = np.float32(1.0)


@scalar
def tanh32(x):  # noqa: ANN001, ANN201
    """tanh of a float32 within 4e-7 relative (see the module's docstring)."""
    x = min(max(x, -_TANH_BOUND), _TANH_BOUND)
    square = x * x
    numerator = (((_P4 * square + _P3) * square + _P2) * square + _P1) * square + _P0
    denominator = (((_Q4 * square + _Q3) * square + _Q2) * square + _Q1) * square + _Q0
    return x * numerator / denominator


@scalar
def sigmoid32(x):  # noqa: ANN001, ANN201
    """The logistic sigmoid of a float32 as 0.5 tanh(x / 2) + 0.5, as the NumPy path computes it."""
    return tanh32(x * _HALF) * _HALF + _HALF


@kernel
def gru_forward_step(gates_x, from_hidden, bias, h_prev, gates, hidden_n, h):  # noqa: ANN001
    """One float32 GRU step: from the input's gates (N, 3H), ``from_hidden`` = h_prev W_hh^T
    (N, 3H) and ``bias`` = b_hh (3H; zeros when the layer has none), fills ``gates`` (N, 3H:
    r, z, n after their nonlinearities), ``hidden_n`` (N, H: W_hn h_prev + b_hn, the part r
    scales) and the new state ``h`` (N, H), in the NumPy path's order of operations."""
    # Four loops a row, each writing one array and never reading what it writes at another
    # offset: LLVM vectorises such loops (8 float32 a time); the one-loop version, writing
    # three arrays, stayed scalar and took 5x longer.
    batch, size = h_prev.shape
    for b in range(batch):
        for k in range(2 * size):
            gates[b, k] = sigmoid32(gates_x[b, k] + (from_hidden[b, k] + bias[k]))
        for k in range(size):
            hidden_n[b, k] = from_hidden[b, 2 * size + k] + bias[2 * size + k]
        for k in range(size):  # n, kept in h for now
            h[b, k] = tanh32(gates[b, k] * hidden_n[b, k] + gates_x[b, 2 * size + k])
        gates[b, 2 * size:] = h[b]
        for k in range(size):
            h[b, k] = (h_prev[b, k] - h[b, k]) * gates[b, size + k] + h[b, k]


@kernel
def lstm_forward_step(gates_x, bias, c_prev, gates, cells, tanh_cells, h):  # noqa: ANN001
    """One float32 LSTM step: ``gates`` (N, 4H) holds h_prev W_hh^T and becomes i, f, g, o after
    their nonlinearities (with the input's gates ``gates_x`` and ``bias`` = b_hh added, zeros
    when the layer has none); fills the new cell state ``cells``, its tanh ``tanh_cells`` and the
    new state ``h`` (N, H), in the NumPy path's order of operations. One array written per loop,
    as in ``gru_forward_step``."""
    batch, size = c_prev.shape
    for b in range(batch):
        for k in range(2 * size):
            gates[b, k] = sigmoid32((gates[b, k] + gates_x[b, k]) + bias[k])
        for k in range(2 * size, 3 * size):
            gates[b, k] = tanh32((gates[b, k] + gates_x[b, k]) + bias[k])
        for k in range(3 * size, 4 * size):
            gates[b, k] = sigmoid32((gates[b, k] + gates_x[b, k]) + bias[k])
        for k in range(size):
            cells[b, k] = gates[b, size + k] * c_prev[b, k] + gates[b, k] * gates[b, 2 * size + k]
        for k in range(size):
            tanh_cells[b, k] = tanh32(cells[b, k])
        for k in range(size):
            h[b, k] = gates[b, 3 * size + k] * tanh_cells[b, k]


@kernel
def gru_backward_step(incoming, from_later, carried, h_prev, r, z, n, hidden_n,  # noqa: ANN001
                      grad_gates_x, grad_gates_h, carry):
    """One GRU step of backpropagation through time. The state's gradient is ``incoming`` (the
    output's, N x H) + ``from_later`` (the next step's ``grad_gates_h @ W_hh``) + ``carried``
    (the next step's ``carry``); fills the gates' gradients on the input side (N, 3H) and the
    hidden side (N, 3H; n scaled by r) and this step's ``carry``, the gradient through z."""
    batch, size = h_prev.shape
    for b in range(batch):
        for k in range(size):
            grad_h = incoming[b, k] + (from_later[b, k] + carried[b, k])
            r_bk, z_bk, n_bk = r[b, k], z[b, k], n[b, k]
            grad_through_n = grad_h * (_ONE - z_bk)
            grad_n = grad_through_n * (_ONE - n_bk * n_bk)
            grad_z = grad_through_n * (h_prev[b, k] - n_bk) * z_bk
            grad_r = grad_n * hidden_n[b, k] * r_bk * (_ONE - r_bk)
            grad_gates_x[b, k], grad_gates_h[b, k] = grad_r, grad_r
            grad_gates_x[b, size + k], grad_gates_h[b, size + k] = grad_z, grad_z
            grad_gates_x[b, 2 * size + k], grad_gates_h[b, 2 * size + k] = grad_n, grad_n * r_bk
            carry[b, k] = grad_h * z_bk


@kernel
def lstm_backward_step(incoming, from_later, grad_c, c_prev, i, f, g, o, tanh_cell,  # noqa: ANN001
                       grad_gates):
    """One LSTM step of backpropagation through time: the state's gradient is ``incoming`` +
    ``from_later`` (the next step's ``grad_gates @ W_hh``); ``grad_c`` (N, H) holds the gradient
    carried into c' and is replaced by the one carried into c. Fills ``grad_gates`` (N, 4H)."""
    batch, size = c_prev.shape
    for b in range(batch):
        for k in range(size):
            grad_h = incoming[b, k] + from_later[b, k]
            i_bk, f_bk, g_bk, o_bk, tanh_c = i[b, k], f[b, k], g[b, k], o[b, k], tanh_cell[b, k]
            grad_cell = grad_c[b, k] + grad_h * o_bk * (_ONE - tanh_c * tanh_c)
            grad_gates[b, k] = grad_cell * g_bk * i_bk * (_ONE - i_bk)
            grad_gates[b, size + k] = grad_cell * c_prev[b, k] * f_bk * (_ONE - f_bk)
            grad_gates[b, 2 * size + k] = grad_cell * i_bk * (_ONE - g_bk * g_bk)
            grad_gates[b, 3 * size + k] = grad_h * tanh_c * o_bk * (_ONE - o_bk)
            grad_c[b, k] = grad_cell * f_bk
