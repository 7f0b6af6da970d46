"""GRU and LSTM gate arithmetic, one time step per call, as single passes (see
``chainrule.nn.modules.rnn`` for the NumPy versions).

A step's gates are a few thousand floats (batch 100, hidden 64), so the NumPy path's dozen
elementwise calls per step cost more in per-call overhead than in arithmetic. Each loop here
does a step's gate work in one pass after the step's matrix product, which stays with NumPy's
BLAS.

Numerics: the backward loops use only ``+ - *`` on the same values, so they differ from the
NumPy path only by operation order and intermediate precision; the forward loops take ``tanh``
from the C library where NumPy uses its own vectorised ``tanh``. The results are therefore not
the NumPy path's to the bit, but agree within a few float32 rounding errors per step
(``tests/test_kernels.py`` bounds the difference over whole sequences: relative 1e-5 in
float32, 1e-12 in float64). The sigmoid is written as NumPy's path writes it,
``0.5 tanh(x / 2) + 0.5``, which never overflows.
"""

from __future__ import annotations

import math

from chainrule.backends.numba import kernel


@kernel
def gru_forward_step(gates_x, from_hidden, bias, h, gates, hidden_n, h_new):  # noqa: ANN001
    """One GRU step after ``from_hidden = h W_hh^T`` (N, 3H): fills ``gates`` (N, 3H) with r,
    z, n, ``hidden_n`` (N, H) with W_hn h + b_hn and ``h_new`` (N, H)."""
    batch, size = h.shape
    for b in range(batch):
        for k in range(size):
            r = 0.5 * math.tanh(0.5 * (gates_x[b, k] + (from_hidden[b, k] + bias[k]))) + 0.5
            z_at = size + k
            z = 0.5 * math.tanh(0.5 * (gates_x[b, z_at] + (from_hidden[b, z_at] + bias[z_at]))) + 0.5
            n_at = 2 * size + k
            hidden = from_hidden[b, n_at] + bias[n_at]
            n = math.tanh(r * hidden + gates_x[b, n_at])
            gates[b, k], gates[b, z_at], gates[b, n_at] = r, z, n
            hidden_n[b, k] = hidden
            h_new[b, k] = (h[b, k] - n) * z + n


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
            grad_through_n = grad_h * (1 - z_bk)
            grad_n = grad_through_n * (1 - n_bk * n_bk)
            grad_z = grad_through_n * (h_prev[b, k] - n_bk) * z_bk
            grad_r = grad_n * hidden_n[b, k] * r_bk * (1 - r_bk)
            grad_gates_x[b, k], grad_gates_h[b, k] = grad_r, grad_r
            grad_gates_x[b, size + k], grad_gates_h[b, size + k] = grad_z, grad_z
            grad_gates_x[b, 2 * size + k], grad_gates_h[b, 2 * size + k] = grad_n, grad_n * r_bk
            carry[b, k] = grad_h * z_bk


@kernel
def lstm_forward_step(gates, c, cell, tanh_cell, h_new):  # noqa: ANN001
    """One LSTM step after ``gates = h W_hh^T + gates_x + b_hh`` (N, 4H, pre-activations):
    applies the gates' nonlinearities in place (i, f, o sigmoid, g tanh) and fills ``cell``
    (c' = f c + i g), ``tanh_cell`` and ``h_new`` (o tanh(c'))."""
    batch, size = c.shape
    for b in range(batch):
        for k in range(size):
            i = 0.5 * math.tanh(0.5 * gates[b, k]) + 0.5
            f = 0.5 * math.tanh(0.5 * gates[b, size + k]) + 0.5
            g = math.tanh(gates[b, 2 * size + k])
            o = 0.5 * math.tanh(0.5 * gates[b, 3 * size + k]) + 0.5
            gates[b, k], gates[b, size + k], gates[b, 2 * size + k], gates[b, 3 * size + k] = i, f, g, o
            c_new = f * c[b, k] + i * g
            cell[b, k] = c_new
            tanh_c = math.tanh(c_new)
            tanh_cell[b, k] = tanh_c
            h_new[b, k] = o * tanh_c


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
            grad_cell = grad_c[b, k] + grad_h * o_bk * (1 - tanh_c * tanh_c)
            grad_gates[b, k] = grad_cell * g_bk * i_bk * (1 - i_bk)
            grad_gates[b, size + k] = grad_cell * c_prev[b, k] * f_bk * (1 - f_bk)
            grad_gates[b, 2 * size + k] = grad_cell * i_bk * (1 - g_bk * g_bk)
            grad_gates[b, 3 * size + k] = grad_h * tanh_c * o_bk * (1 - o_bk)
            grad_c[b, k] = grad_cell * f_bk
