"""``chainrule.linalg``, PyTorch's ``torch.linalg``: norms, inverse, determinant and solve.

The inverse, determinant and solve are ops of their own (``chainrule.ops.linalg``, checked in
the op database to second order); the norms are built from reductions.

Example::

    >>> import chainrule as torch
    >>> torch.linalg.vector_norm(torch.tensor([3.0, 4.0]))
    tensor(5.)
    >>> torch.linalg.solve(torch.tensor([[2.0, 0.0], [0.0, 4.0]]), torch.tensor([2.0, 2.0]))
    tensor([1.0000, 0.5000])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chainrule.ops.elementwise import abs as absolute
from chainrule.ops.linalg import det, inv, matmul, slogdet, solve
from chainrule.ops.reduce import amax, amin
from chainrule.ops.reduce import norm as _reduce_norm
from chainrule.tensor import Tensor


def vector_norm(x: Tensor, ord: float = 2, dim: int | Sequence[int] | None = None,  # noqa: A002
                keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """The ``ord``-norm of ``x`` over ``dim`` (every element if None), as a vector's:
    (sum |x|^ord)^(1/ord); inf and -inf give max and min |x|, 0 the count of non-zeros."""
    if dtype is not None:
        x = x.type(dtype)
    dims = tuple(range(x.ndim)) if dim is None else dim
    if ord == math.inf:
        return amax(absolute(x), dims, keepdim)
    if ord == -math.inf:
        return amin(absolute(x), dims, keepdim)
    if ord == 0:
        return (x != 0).type(x.dtype).sum(dim=dims, keepdim=keepdim)
    return _reduce_norm(x, ord, dims, keepdim)


def matrix_norm(A: Tensor, ord: Any = "fro", dim: tuple[int, int] = (-2, -1),  # noqa: N803,A002
                keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """A matrix norm over the two dimensions ``dim``: "fro" (Frobenius), 1 / -1 (largest /
    smallest column sum of |A|), inf / -inf (largest / smallest row sum). The spectral and
    nuclear norms need singular values, which chainrule does not compute yet."""
    if dtype is not None:
        A = A.type(dtype)  # noqa: N806
    rows, columns = (d % A.ndim for d in dim)
    if ord == "fro":
        return _reduce_norm(A, 2, (rows, columns), keepdim)
    if ord in (1, -1, math.inf, -math.inf):
        summed, reduced = (rows, columns) if ord in (1, -1) else (columns, rows)
        sums = absolute(A).sum(dim=summed, keepdim=True)
        pick = amax if ord > 0 else amin
        out = pick(sums, reduced, keepdim=True)
        return out if keepdim else out.squeeze(max(rows, columns)).squeeze(min(rows, columns))
    raise NotImplementedError(f"matrix_norm: ord={ord!r} needs singular values, which chainrule does "
                              "not compute yet; use 'fro', 1, -1, inf or -inf")


def norm(A: Tensor, ord: Any = None, dim: int | Sequence[int] | None = None,  # noqa: N803,A002
         keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """``vector_norm`` or ``matrix_norm`` as PyTorch chooses: with ``ord`` None, the 2-norm
    of all elements (or over ``dim``); otherwise a matrix norm when ``dim`` has two entries or
    ``A`` is 2-D with no ``dim``, a vector norm when it has one or ``A`` is 1-D."""
    if ord is None:
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if isinstance(dim, Sequence) and len(dim) == 2:
        return matrix_norm(A, ord, (int(dim[0]), int(dim[1])), keepdim, dtype=dtype)
    if dim is None and A.ndim == 2:
        return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    if dim is None and A.ndim != 1:
        raise RuntimeError(f"linalg.norm: ord={ord!r} with no dim needs a 1-D or 2-D input, got "
                           f"shape {tuple(A.shape)}; give dim")
    return vector_norm(A, ord, dim, keepdim, dtype=dtype)


__all__ = ["det", "inv", "matmul", "matrix_norm", "norm", "slogdet", "solve", "vector_norm"]
