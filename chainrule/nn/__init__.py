"""Neural-network building blocks: ``Module``, ``Parameter``, layers, losses, init, utils."""

from chainrule.nn import functional, init, parallel, utils  # noqa: F401
from chainrule.nn.modules import *  # noqa: F401,F403
from chainrule.nn.modules import __all__ as _modules_all
from chainrule.nn.parameter import Parameter  # noqa: F401

__all__ = ["Parameter", "functional", "init", "parallel", "utils", *_modules_all]
