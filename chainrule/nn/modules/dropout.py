"""``Dropout``: inverted dropout, active only in training mode."""

from __future__ import annotations

import numpy as np

from chainrule.nn import functional as F
from chainrule.nn.modules.module import Module
from chainrule.tensor import Tensor, _rng


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be a probability in [0, 1], got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """During training, zero each element with probability ``p`` and scale the survivors by
    1 / (1 - p), so evaluation (``model.eval()``) is the identity with no rescaling.
    Shape: (*) → (*). Masks come from chainrule's seeded generator.

    Example::

        >>> layer = nn.Dropout(0.5)
        >>> layer.eval()(chainrule.ones(3))
        tensor([1., 1., 1.])
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.dropout(input, self.p, self.training)


class _ChannelDropout(_DropoutNd):
    """Zero whole channels: one draw per (sample, channel), shared over the positions."""

    _spatial: tuple[str, ...]

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        n = len(self._spatial)
        if input.ndim not in (n + 1, n + 2):
            names = ", ".join(self._spatial)
            raise ValueError(f"{self!r}: expected input of shape (N, C, {names}) or (C, {names}), "
                             f"got shape {tuple(input.shape)}")
        if not self.training or self.p == 0.0:
            return input
        channels = input.shape[: input.ndim - n]
        keep = _rng().random(channels, dtype=np.float32) >= self.p
        scale = 0.0 if self.p == 1.0 else 1.0 / (1.0 - self.p)
        mask = (keep * scale).astype(input.dtype).reshape(channels + (1,) * n)
        return input * Tensor._wrap(mask)


class Dropout1d(_ChannelDropout):
    """Channel dropout for (N, C, L) or (C, L) input: each channel of each sample is zeroed
    with probability ``p`` (survivors scaled by 1 / (1 - p)); identity in eval mode."""

    _spatial = ("L",)


class Dropout2d(_ChannelDropout):
    """Channel dropout for (N, C, H, W) or (C, H, W) input: each feature map is zeroed with
    probability ``p`` (survivors scaled by 1 / (1 - p)); identity in eval mode.

    Example::

        >>> nn.Dropout2d(0.25)(chainrule.ones(2, 8, 4, 4)).shape
        (2, 8, 4, 4)
    """

    _spatial = ("H", "W")
