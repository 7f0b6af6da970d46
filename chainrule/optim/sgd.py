"""Stochastic gradient descent, with momentum, Nesterov momentum and weight decay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.backends import numba as numba_backend
from chainrule.kernels import optim as optim_kernels
from chainrule.optim.optimizer import (
    Optimizer,
    ParamsT,
    _check_differentiable,
    _check_lr,
    _check_non_negative,
    _hyper,
    grad_arrays,
)
from chainrule.tensor import Tensor


def sgd(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    momentum_buffers: list[np.ndarray | None],
    *,
    lr: float,
    momentum: float,
    dampening: float,
    nesterov: bool,
    weight_decay: float,
    maximize: bool,
) -> None:
    """One SGD step on each array of ``params``, in place.

    With g the gradient (negated when ``maximize``), λ the weight decay, μ the momentum,
    τ the dampening and b the momentum buffer::

        g ← g + λ θ
        b ← g                       on the first step
        b ← μ b + (1 − τ) g         afterwards            (only when μ ≠ 0)
        b ← 0  where |b| < tiny     (flush_subnormals)
        g ← g + μ b  (Nesterov)  or  g ← b
        θ ← θ − lr g

    ``momentum_buffers[i]`` is None before the first step; new buffers are stored into the
    list. Arrays of any shape; scalars are Python floats so float32 stays float32.

    Example::

        >>> w, g = np.ones(3, np.float32), np.full(3, 0.5, np.float32)
        >>> sgd([w], [g], [None], lr=0.1, momentum=0.0, dampening=0.0, nesterov=False,
        ...     weight_decay=0.0, maximize=False)
        >>> w
        array([0.95, 0.95, 0.95], dtype=float32)
    """
    constants: dict[np.dtype, tuple[Any, ...]] = {}  # the fused steps' scalars, per dtype
    for index, (param, grad) in enumerate(zip(params, grads)):
        if momentum != 0 and _fused_momentum_step(param, grad, momentum_buffers, index, lr, momentum,
                                                  dampening, nesterov, weight_decay, maximize,
                                                  constants):
            continue
        if maximize:
            grad = -grad
        if weight_decay != 0:
            grad = grad + weight_decay * param
        if momentum != 0:
            buffer = momentum_buffers[index]
            if buffer is None:
                buffer = np.array(grad, copy=True)
                momentum_buffers[index] = buffer
            else:
                buffer *= momentum
                # Without dampening, add the gradient directly: no temporary array.
                buffer += grad if dampening == 0 else (1 - dampening) * grad
            flush_subnormals(buffer)
            grad = grad + momentum * buffer if nesterov else buffer
        param -= lr * grad


def flush_subnormals(buffer: np.ndarray) -> None:
    """Store as +0.0 the values of ``buffer`` smaller in magnitude than its dtype's smallest
    normal number (NaN stays NaN).

    A momentum buffer whose gradient is zero from some step on (a dead ReLU unit's weights)
    decays by μ each step into the subnormal range, and stays there: μ times a few units in the
    last place rounds back to itself. On Intel CPUs every arithmetic instruction that meets a
    subnormal takes a microcode assist, about a hundred cycles, so from then on each step costs
    far more (measured: MLP 784-512-512-10, batch 32, from 1.7 to 3.0 ms a step after ~800
    steps, one thread; PyTorch's step slows the same way). Flushed, such a value contributes
    ``lr * b``, which is below float32's resolution for any parameter above about 1e-31, so the
    parameters follow the unflushed path's to the bit in practice.

    Example::

        >>> b = np.array([1e-39, -2e-40, 0.5, np.nan], np.float32)
        >>> flush_subnormals(b)
        >>> b
        array([0. , 0. , 0.5, nan], dtype=float32)
    """
    buffer[np.abs(buffer) < np.finfo(buffer.dtype).tiny] = 0


def _fused_momentum_step(param: np.ndarray, grad: np.ndarray, buffers: list[np.ndarray | None],
                         index: int, lr: float, momentum: float, dampening: float, nesterov: bool,
                         weight_decay: float, maximize: bool,
                         constants: dict[np.dtype, tuple[Any, ...]]) -> bool:
    """The momentum step of ``sgd`` in one numba pass, when the backend is on and the arrays
    are plain contiguous floats; returns whether it ran. ``constants`` keeps the scalars
    made for each dtype, for the other parameters of the same step."""
    buffer = buffers[index]
    dtype = param.dtype
    if not (numba_backend.handles(param) and grad.dtype == dtype and param.flags.c_contiguous
            and grad.flags.c_contiguous and grad.shape == param.shape):
        return False
    first_step = buffer is None
    if buffer is None:
        buffer = buffers[index] = np.empty_like(param)
    scalars = constants.get(dtype)
    if scalars is None:
        scalar = dtype.type  # NumPy turns Python floats into the array's dtype: do the same
        scalars = constants[dtype] = (scalar(lr), scalar(momentum), scalar(1 - dampening),
                                      scalar(weight_decay), np.finfo(dtype).tiny)
    step_lr, step_momentum, keep, step_weight_decay, tiny = scalars
    optim_kernels.sgd_momentum(param.reshape(-1), grad.reshape(-1), buffer.reshape(-1), step_lr,
                               step_momentum, keep, step_weight_decay, nesterov, maximize, first_step,
                               tiny)
    return True


class SGD(Optimizer):
    """Stochastic gradient descent (optionally with momentum), as ``torch.optim.SGD``.

    The momentum buffer starts as the first gradient; ``nesterov`` needs a momentum and no
    dampening. ``foreach``/``fused`` are accepted and ignored (every update is whole-array).
    One difference from PyTorch: buffer values below the dtype's smallest normal number are
    stored as zero (``flush_subnormals``), so dead units' buffers do not slow every later step.

    Example::

        >>> model = nn.Linear(4, 2)

        >>> optimizer = chainrule.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> x, y, loss_fn = chainrule.randn(8, 4), chainrule.randn(8, 2), nn.MSELoss()
        >>> optimizer.zero_grad(); loss_fn(model(x), y).backward(); optimizer.step()
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        _check_differentiable("SGD", differentiable)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        _check_lr(group["lr"])
        _check_non_negative("momentum", group["momentum"])
        _check_non_negative("weight_decay", group["weight_decay"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                "Nesterov momentum requires a momentum and zero dampening; got "
                f"momentum={group['momentum']}, dampening={group['dampening']}"
            )

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            params = self._params_to_update(group)
            momentum = _hyper(group["momentum"])
            buffers: list[np.ndarray | None] = [None] * len(params)
            if momentum != 0:  # plain SGD keeps no state at all (as PyTorch's)
                for index, param in enumerate(params):
                    buffer = self.state[param].get("momentum_buffer")
                    buffers[index] = None if buffer is None else buffer.array
            sgd(
                [param.array for param in params],
                grad_arrays(params),
                buffers,
                lr=_hyper(group["lr"]),
                momentum=momentum,
                dampening=_hyper(group["dampening"]),
                nesterov=bool(group["nesterov"]),
                weight_decay=_hyper(group["weight_decay"]),
                maximize=bool(group["maximize"]),
            )
            if momentum != 0:
                for param, buffer in zip(params, buffers):
                    state = self.state[param]
                    if "momentum_buffer" not in state:
                        assert buffer is not None  # the step made one for every parameter
                        state["momentum_buffer"] = Tensor._wrap(buffer)
        return loss
