"""``Parameter``: a tensor that a Module registers as one of its learnable weights."""

from __future__ import annotations

from typing import Any

from chainrule.tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that requires grad and is registered by ``Module.__setattr__``.

    Example::

        >>> w = chainrule.nn.Parameter(chainrule.randn(3, 2))
        >>> w.requires_grad
        True
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = Tensor([])
        array = data.array if isinstance(data, Tensor) else data
        super().__init__(array)
        if isinstance(data, Tensor):
            self.array = data.array  # share, as PyTorch's Parameter(t) does
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
