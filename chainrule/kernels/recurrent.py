"""GRU and LSTM backpropagation through time, one time step per call, as single passes (see
``chainrule.ops.recurrent`` for the NumPy versions).

A step's gates are a few thousand floats (batch 100, hidden 64), so the NumPy path's dozen
elementwise calls per step cost more in per-call overhead than in arithmetic. Each loop here
does a step's gate-gradient work in one pass before the step's matrix product, which stays
with NumPy's BLAS: on the benchmark's GRU direction (40 steps, batch 100, hidden 64) the
backward took 7.5-9.3 ms against NumPy's 12.2-14.3 ms (one thread, CPU time, shared machine).
The forward passes stay with NumPy: written the same way, with the C library's scalar ``tanh``,
they ran 2.5x slower than NumPy's vectorised ``tanh`` (30 ms against 12 ms).

Numerics: the loops use only ``+ - *`` on the NumPy path's values, in the same formulas, but
not the same intermediate precision (integer constants promote float32 intermediates to
float64), so the results are not the NumPy path's to the bit. ``tests/test_kernels.py`` bounds
the difference over whole sequences: relative 1e-5 in float32, 1e-12 in float64.
"""

from __future__ import annotations

from chainrule.backends.numba import kernel


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
