"""Fused loops compiled by numba (see ``chainrule.backends.numba``), one module per op family.

Each kernel computes exactly what the NumPy path of its op computes; the op chooses between
them with ``chainrule.backends.numba.active()``.
"""
