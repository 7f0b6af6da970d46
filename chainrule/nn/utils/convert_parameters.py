"""Flatten parameters into one vector and back (PyTorch's ``parameters_to_vector`` /
``vector_to_parameters``), e.g. for second-order methods or weight averaging."""

from __future__ import annotations

from collections.abc import Iterable

from chainrule.grad_mode import no_grad
from chainrule.ops.movement import cat
from chainrule.tensor import Tensor


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters, flattened and concatenated in order. Shape: (total number of
    elements,). Differentiable, so a loss of the vector backpropagates to the parameters.

    Example::

        >>> nn.utils.parameters_to_vector(nn.Linear(3, 2).parameters()).shape
        (8,)
    """
    if isinstance(parameters, Tensor):
        raise TypeError("parameters_to_vector expects an iterable of tensors, got a single Tensor; "
                        "pass e.g. model.parameters()")
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of ``vec`` (shape (total,)) into the parameters, in order."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected vec to be a Tensor, got {type(vec).__name__}")
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if vec.shape != (total,):
        raise ValueError(f"vector_to_parameters: vec of shape {tuple(vec.shape)} does not fit "
                         f"parameters with {total} elements in all; expected shape ({total},)")
    offset = 0
    with no_grad():
        for p in params:
            p.copy_(vec.array[offset:offset + p.numel()].reshape(p.shape))
            offset += p.numel()
