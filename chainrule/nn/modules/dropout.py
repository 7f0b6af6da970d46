"""``Dropout``: inverted dropout, active only in training mode."""

from __future__ import annotations

from chainrule.nn import functional as F
from chainrule.nn.modules.module import Module
from chainrule.tensor import Tensor


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


class Dropout1d(_DropoutNd):
    """Channel dropout for (N, C, L) or (C, L) input: each channel of each sample is zeroed
    with probability ``p`` (survivors scaled by 1 / (1 - p)); identity in eval mode."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.dropout1d(input, self.p, self.training)


class Dropout2d(_DropoutNd):
    """Channel dropout for (N, C, H, W) or (C, H, W) input: each feature map is zeroed with
    probability ``p`` (survivors scaled by 1 / (1 - p)); identity in eval mode.

    Example::

        >>> nn.Dropout2d(0.25)(chainrule.ones(2, 8, 4, 4)).shape
        (2, 8, 4, 4)
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.dropout2d(input, self.p, self.training)


class Dropout3d(_DropoutNd):
    """Channel dropout for (N, C, D, H, W) or (C, D, H, W) input: each volume is zeroed with
    probability ``p`` (survivors scaled by 1 / (1 - p)); identity in eval mode. Other ranks:
    see ``F.dropout3d``.

    Example::

        >>> nn.Dropout3d(0.25)(chainrule.ones(2, 4, 2, 3, 3)).shape
        (2, 4, 2, 3, 3)
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.dropout3d(input, self.p, self.training)
