"""Switches for optional accelerated kernels, in the manner of ``torch.backends``.

Every op has a NumPy implementation, the reference. Where an optional compiler is installed,
some ops run fused kernels instead, which give the same numbers (tests compare the two paths
element for element) in fewer passes over memory::

    >>> import chainrule
    >>> chainrule.backends.numba.is_available()   # True when the numba extra is installed
    True
    >>> chainrule.backends.numba.enabled = False  # back to the NumPy path
    >>> chainrule.backends.numba.enabled = True

``blas`` says which BLAS runs chainrule's matrix products (NumPy's, or MKL when installed on
an Intel CPU) and switches it (see ``chainrule.backends.blas``).

``tune_allocator()`` sets glibc's malloc thresholds so that training steps reuse freed large
arrays (see ``chainrule.backends.allocator``); it is a process-wide setting, so it is an
explicit call, made by ``chainrule train`` and ``Trainer``, never by ``import chainrule``.
"""

from chainrule.backends import allocator, blas, cuda, cudnn, mps, numba  # noqa: F401
from chainrule.backends.allocator import tune_allocator  # noqa: F401
