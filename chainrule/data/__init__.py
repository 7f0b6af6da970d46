"""Tools for looking at data before training on it.

Example:
    >>> import numpy as np
    >>> from chainrule.data import check
    >>> check((np.array([[0.0, 1.0], [2.0, 3.0]]), np.array([0, 1]))).ok
    True
"""

from chainrule.data.check import DataReport, Finding, check

__all__ = ["DataReport", "Finding", "check"]
