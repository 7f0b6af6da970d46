"""ReLU forward and backward as single passes (see ``chainrule.ops.elementwise.Relu``).

NumPy's ``maximum`` with a broadcast 0 runs about 4x slower than a copy on large float32
arrays, and the backward's multiply by a boolean mask converts the mask element by element;
one loop does each step in one pass, with the same results: ``maximum(x, 0)`` (NaN stays NaN,
-0.0 becomes +0.0) and ``grad * mask``.
"""

from __future__ import annotations

from chainrule.backends.numba import CHUNK, prange, scalar, threaded_kernel


# Each kernel hands the flat loop one chunk at a time, as a contiguous slice: a loop over a
# whole 1-D array is what LLVM vectorises (an index range inside the chunk loop measured
# 3-8x slower). Serial, the chunks run in order; threaded, threads share them.
@scalar
def _relu_forward_span(x, out, mask):  # noqa: ANN001
    for index in range(x.size):
        value = x[index]
        positive = value > 0
        mask[index] = positive
        out[index] = value if positive or value != value else 0


@scalar
def _relu_backward_span(grad, mask, out):  # noqa: ANN001
    for index in range(grad.size):
        out[index] = grad[index] * mask[index]


@threaded_kernel(threshold="ELEMENTWISE_THRESHOLD")
def relu_forward(x, out, mask):  # noqa: ANN001
    """``out = maximum(x, 0)`` and ``mask = x > 0``, over flat arrays."""
    for chunk in prange((x.size + CHUNK - 1) // CHUNK):
        start, stop = chunk * CHUNK, min(chunk * CHUNK + CHUNK, x.size)
        _relu_forward_span(x[start:stop], out[start:stop], mask[start:stop])


@threaded_kernel(threshold="ELEMENTWISE_THRESHOLD")
def relu_backward(grad, mask, out):  # noqa: ANN001
    """``out = grad * mask``, over flat arrays."""
    for chunk in prange((grad.size + CHUNK - 1) // CHUNK):
        start, stop = chunk * CHUNK, min(chunk * CHUNK + CHUNK, grad.size)
        _relu_backward_span(grad[start:stop], mask[start:stop], out[start:stop])
