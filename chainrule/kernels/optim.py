"""The SGD-with-momentum update as one pass over memory (see ``chainrule.optim.sgd.sgd``).

NumPy makes the update four passes over a parameter's arrays (scale the buffer, add the
gradient, scale by the learning rate, subtract), each with a temporary or a full read and write;
one loop reads each array once. Every arithmetic step is done in the arrays' dtype, rounding
where NumPy rounds, so the result is the NumPy path's to the bit (the hyperparameters arrive
already converted to that dtype, as NumPy converts Python floats). Buffer values below
``tiny`` in magnitude are stored as +0.0, as the NumPy path flushes them (``flush_subnormals``).
"""

from __future__ import annotations

from chainrule.backends.numba import CHUNK, prange, scalar, threaded_kernel


@scalar
def _momentum_span(param, grad, buffer, lr, momentum, zero, tiny):  # noqa: ANN001
    """PyTorch's defaults after the first step: a loop without branches, which LLVM vectorises
    (1.7x faster than the general loop on 100k float32 values)."""
    for index in range(param.size):
        b = momentum * buffer[index] + grad[index]
        b = zero if abs(b) < tiny else b
        buffer[index] = b
        param[index] = param[index] - lr * b


@scalar
def _general_span(param, grad, buffer, lr, momentum, keep, weight_decay, nesterov, maximize,  # noqa: ANN001
                  first_step, zero, tiny):
    for index in range(param.size):
        g = -grad[index] if maximize else grad[index]
        if weight_decay != 0:
            g = g + weight_decay * param[index]
        if first_step:
            b = g
        elif keep == 1:
            b = momentum * buffer[index] + g
        else:
            b = momentum * buffer[index] + keep * g
        b = zero if abs(b) < tiny else b
        buffer[index] = b
        g = g + momentum * b if nesterov else b
        param[index] = param[index] - lr * g


@threaded_kernel(threshold="ELEMENTWISE_THRESHOLD")
def sgd_momentum(param, grad, buffer, lr, momentum, keep, weight_decay, nesterov, maximize,  # noqa: ANN001
                 first_step, tiny):
    """One momentum step over flat arrays, in place on ``param`` and ``buffer``; ``keep`` is
    1 - dampening, ``tiny`` the dtype's smallest normal number. The arrays go to the loops a
    contiguous chunk at a time (see ``chainrule.kernels.activation``): threads share chunks."""
    zero = tiny - tiny
    plain = not (maximize or weight_decay != 0 or first_step or keep != 1 or nesterov)
    for chunk in prange((param.size + CHUNK - 1) // CHUNK):
        start, stop = chunk * CHUNK, min(chunk * CHUNK + CHUNK, param.size)
        if plain:
            _momentum_span(param[start:stop], grad[start:stop], buffer[start:stop], lr, momentum, zero, tiny)
        else:
            _general_span(param[start:stop], grad[start:stop], buffer[start:stop], lr, momentum, keep,
                          weight_decay, nesterov, maximize, first_step, zero, tiny)
