"""Cross-entropy's row maxima as one pass (see ``chainrule.ops.loss.CrossEntropyIndices``).

NumPy's ``max(axis=1)`` over short rows (10 classes) runs its reduction loop once per row, at
about 60 ns a row: 8 us for a batch of 128, more than the exponentials. The loop below finds
each row's maximum and subtracts it in the same pass. A maximum is exact, so the result is
NumPy's ``logits - logits.max(axis=1, keepdims=True)`` to the bit (NaN propagates as there).
"""

from __future__ import annotations

from chainrule.backends.numba import kernel


@kernel
def subtract_row_max(logits, out):  # noqa: ANN001
    """``out = logits - max(logits, axis=1)`` for a 2-D ``logits`` with at least one column."""
    for row in range(logits.shape[0]):
        largest = logits[row, 0]
        for column in range(1, logits.shape[1]):
            value = logits[row, column]
            if value > largest or value != value:
                largest = value
        for column in range(logits.shape[1]):
            out[row, column] = logits[row, column] - largest
