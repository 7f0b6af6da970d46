"""Neural-network building blocks: ``Module``, ``Parameter``, layers, losses, init."""

from chainrule.nn import functional  # noqa: F401
from chainrule.nn.parameter import Parameter  # noqa: F401
