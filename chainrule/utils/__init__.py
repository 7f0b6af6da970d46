"""Utilities under PyTorch's paths (``chainrule.utils.data``)."""

from chainrule.utils import data, tensorboard  # noqa: F401
