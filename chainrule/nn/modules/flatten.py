"""``Flatten`` and ``Unflatten``: reshape layers for moving between conv and dense parts."""

from __future__ import annotations

from collections.abc import Sequence

from chainrule.nn.modules.module import Module
from chainrule.tensor import Tensor


class Flatten(Module):
    """Merge dimensions ``start_dim`` .. ``end_dim`` into one; by default all but the batch
    dimension. Shape: (N, *dims) → (N, prod(dims)).

    Example::

        >>> nn.Flatten()(chainrule.zeros(32, 1, 28, 28)).shape
        (32, 784)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size``. Shape: (*, prod(sizes), *) →
    (*, *sizes, *).

    Example::

        >>> nn.Unflatten(1, (1, 28, 28))(chainrule.zeros(32, 784)).shape
        (32, 1, 28, 28)
    """

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        size = input.shape[self.dim] if -input.ndim <= self.dim < input.ndim else None
        known = 1
        for s in self.unflattened_size:
            known *= s if s != -1 else 1
        if size is None or (size != known if -1 not in self.unflattened_size else size % known):
            raise ValueError(
                f"{self!r}: dimension {self.dim} of input shape {tuple(input.shape)} can't be "
                f"split into {self.unflattened_size}"
            )
        return input.unflatten(self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
