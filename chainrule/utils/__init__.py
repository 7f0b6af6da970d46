"""Utilities under PyTorch's paths (``chainrule.utils.data``)."""
