"""The differentiable ops, grouped by kind. Importing this package attaches each op's methods
and operators to ``Tensor`` (``x.exp()``, ``x @ w``, ``x[idx]``)."""

from chainrule.ops import elementwise, inplace, linalg, movement, reduce  # noqa: F401
