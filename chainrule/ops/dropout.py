"""Dropout: zero elements (or whole channels) at random and scale the survivors by 1 / (1 - p).

The mask is drawn here, from chainrule's seeded generator, as a constant array; the op itself
is the multiplication by it, so its gradient is the same mask and second order comes free.
``nn.functional.dropout``, the ``nn.Dropout*`` layers and attention's weight dropout all draw
through ``dropout_mask``, so one seed gives one sequence of masks whichever door was used.
Drawing outside an op also tells ``chainrule.compile`` that the call is not replayable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chainrule.random import numpy_generator
from chainrule.tensor import Tensor


def dropout_mask(shape: Sequence[int], p: float, dtype: np.dtype) -> np.ndarray:
    """A mask of ``shape``: 0 with probability ``p``, else 1 / (1 - p) (0 everywhere when p is
    1), in ``dtype``. One float32 uniform draw per element from the default generator."""
    keep = numpy_generator().random(tuple(shape), dtype=np.float32) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    return (keep * scale).astype(dtype)


def _check_probability(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p}")


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p) (inverted
    dropout), so evaluation needs no rescaling. Identity when not ``training``.
    Shape: (*) -> (*).

    Example::

        >>> _ = chainrule.manual_seed(0)
        >>> chainrule.nn.functional.dropout(chainrule.ones(4), 0.5)
        tensor([2., 2., 2., 0.])
    """
    _check_probability(p)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0  # nothing survives: no draw needed
    return input * Tensor._wrap(dropout_mask(input.shape, p, input.dtype))


def feature_dropout(input: Tensor, p: float, training: bool) -> Tensor:  # noqa: A002
    """Dropout with one draw per entry of the first two dimensions (sample, channel), shared
    over the rest; scaled by 1 / (1 - p). Shape: (N, C, *) -> (N, C, *)."""
    _check_probability(p)
    if input.ndim < 2:
        raise RuntimeError(
            f"Feature dropout requires at least 2 dimensions in the input, got shape {tuple(input.shape)}"
        )
    if not training or p == 0.0:
        return input
    channels = input.shape[:2]
    mask = dropout_mask(channels, p, input.dtype).reshape(channels + (1,) * (input.ndim - 2))
    return input * Tensor._wrap(mask)
