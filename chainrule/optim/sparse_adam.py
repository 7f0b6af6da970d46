"""SparseAdam: PyTorch's Adam for sparse gradients. chainrule has no sparse tensors, so the
class exists only to say so in one sentence and name the dense replacement."""

from __future__ import annotations

from typing import Any

from chainrule.errors import InputError


class SparseAdam:
    """``torch.optim.SparseAdam`` needs sparse gradients (``nn.Embedding(sparse=True)``), which
    chainrule does not have; constructing it raises an InputError that says to use Adam.

    Example::

        >>> chainrule.optim.SparseAdam(nn.Embedding(10, 3).parameters())
        Traceback (most recent call last):
        ...
        chainrule.errors.InputError: SparseAdam needs sparse gradients, ... use chainrule.optim.Adam ...
    """

    def __init__(self, params: Any, *args: Any, **kwargs: Any) -> None:
        raise InputError(
            "SparseAdam needs sparse gradients, which chainrule does not have (every gradient is "
            "dense); use chainrule.optim.Adam instead (it updates every entry, not only the rows "
            "that got a gradient)"
        )
