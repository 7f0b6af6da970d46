"""Switches for optional accelerated kernels, in the manner of ``torch.backends``.

Every op has a NumPy implementation, the reference. Where an optional compiler is installed,
some ops run fused kernels instead, which give the same numbers (tests compare the two paths
element for element) in fewer passes over memory::

    >>> import chainrule
    >>> chainrule.backends.numba.is_available()   # True when the numba extra is installed
    True
    >>> chainrule.backends.numba.enabled = False  # back to the NumPy path
    >>> chainrule.backends.numba.enabled = True
"""

from chainrule.backends import cuda, cudnn, mps, numba  # noqa: F401
