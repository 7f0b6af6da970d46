"""Check gradients against finite differences, for users and for chainrule's own tests.

``gradcheck`` compares the whole Jacobian the engine computes (one backward per output element)
with float64 central differences, and then a vector-Jacobian product along a random direction
(one backward in all), which also exercises the engine's accumulation over several outputs.
``gradgradcheck`` runs the same check on the gradient function itself (second order).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.tensor import Tensor


class GradcheckError(RuntimeError):
    """A computed gradient disagrees with finite differences."""


def _call(fn: Callable[..., Any], inputs: Sequence[Any]) -> list[Tensor]:
    out = fn(*inputs)
    outputs = list(out) if isinstance(out, tuple | list) else [out]
    return [o for o in outputs if isinstance(o, Tensor) and o.dtype.kind == "f"]


def _prepare(inputs: Any) -> tuple[tuple[Any, ...], list[int]]:
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is nothing to check")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise ValueError(
                f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need float64 "
                "inputs to be meaningful. Pass x.double().requires_grad_()"
            )
    return inputs, checked


def _numerical_jacobians(fn: Callable[..., Any], inputs: tuple[Any, ...], checked: list[int],
                         eps: float) -> list[np.ndarray]:
    """For each checked input, a (input elements, total output elements) matrix."""
    jacobians = []
    # Recording stays as the caller has it (no no_grad()): fn may itself differentiate
    # (gradgradcheck's first-order function, a gradient penalty) and needs its graph.
    for i in checked:
        data = inputs[i].array
        columns = []
        for k in range(data.size):
            position = np.unravel_index(k, data.shape)
            original = data[position]
            data[position] = original + eps
            plus = [o.array.ravel().copy() for o in _call(fn, inputs)]
            data[position] = original - eps
            minus = [o.array.ravel().copy() for o in _call(fn, inputs)]
            data[position] = original
            columns.append(np.concatenate([(p - m) / (2 * eps) for p, m in zip(plus, minus)])
                           if plus else np.zeros(0))
        total = sum(o.array.size for o in _call(fn, inputs))
        jacobians.append(np.array(columns).reshape(data.size, total))
    return jacobians


def _analytical_jacobians(outputs: list[Tensor], inputs: tuple[Any, ...],
                          checked: list[int]) -> list[np.ndarray]:
    from chainrule.autograd import grad

    sizes = [o.array.size for o in outputs]
    total = sum(sizes)
    jacobians = [np.zeros((inputs[i].array.size, total)) for i in checked]
    column = 0
    for out in outputs:
        for j in range(out.array.size):
            if out.requires_grad:
                seed = np.zeros(out.shape, dtype=out.dtype)
                seed[np.unravel_index(j, out.shape)] = 1
                grads = grad([out], [inputs[i] for i in checked], [Tensor._wrap(seed)],
                             retain_graph=True, allow_unused=True)
                for row, g in zip(jacobians, grads):
                    if g is not None:
                        row[:, column] = g.array.ravel()
            column += 1
    return jacobians


def _location(shape: tuple[int, ...], flat: int) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def gradcheck(
    fn: Callable[..., Any],
    inputs: Any,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    seed: int = 0,
) -> bool:
    """Check the gradients of ``fn`` at ``inputs`` against float64 central differences.

    Every input with ``requires_grad=True`` (it must be float64) is checked against every
    floating output. Returns True, or raises ``GradcheckError`` naming the input, element and
    output element that disagree (returns False instead with ``raise_exception=False``).

    Example::

        >>> x = chainrule.randn(3, dtype=chainrule.float64, requires_grad=True)
        >>> chainrule.autograd.gradcheck(lambda t: (t * t.sin()).sum(), (x,))
        True
    """
    inputs, checked = _prepare(inputs)
    try:
        _check_jacobians(fn, inputs, checked, eps, atol, rtol)
        _check_random_vjp(fn, inputs, checked, eps, atol, rtol, seed)
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True


def _check_jacobians(fn: Callable[..., Any], inputs: tuple[Any, ...], checked: list[int],
                     eps: float, atol: float, rtol: float) -> None:
    outputs = _call(fn, inputs)
    analytical = _analytical_jacobians(outputs, inputs, checked)
    numerical = _numerical_jacobians(fn, inputs, checked, eps)
    output_slots = [(o_index, _location(o.shape, j)) for o_index, o in enumerate(outputs)
                    for j in range(o.array.size)]
    for i, a, n in zip(checked, analytical, numerical):
        bad = np.abs(a - n) > atol + rtol * np.abs(n)
        bad |= np.isnan(a) != np.isnan(n)
        if bad.any():
            row, column = (int(v) for v in np.argwhere(bad)[0])
            o_index, o_position = output_slots[column]
            raise GradcheckError(
                f"gradcheck: Jacobian mismatch for input {i} (shape {tuple(inputs[i].shape)}) at "
                f"element {_location(inputs[i].shape, row)} and output {o_index} at element "
                f"{o_position}: numerical {n[row, column]:.8g}, analytical {a[row, column]:.8g} "
                f"(atol={atol}, rtol={rtol}); {int(bad.sum())} of {bad.size} entries disagree"
            )


def _check_random_vjp(fn: Callable[..., Any], inputs: tuple[Any, ...], checked: list[int],
                      eps: float, atol: float, rtol: float, seed: int) -> None:
    """v . (J u) by finite differences along u against (J^T v) . u from one backward."""
    from chainrule.autograd import grad

    rng = np.random.default_rng(seed)
    outputs = _call(fn, inputs)
    differentiable = [o for o in outputs if o.requires_grad]
    if not differentiable:
        return
    directions = [rng.standard_normal(inputs[i].shape) for i in checked]
    covectors = [rng.standard_normal(o.shape) for o in outputs]
    grads = grad(differentiable, [inputs[i] for i in checked],
                 [Tensor._wrap(v) for v, o in zip(covectors, outputs) if o.requires_grad],
                 allow_unused=True)
    analytical = sum(float(np.sum(g.array * u)) for g, u in zip(grads, directions)
                             if g is not None)
    saved = [inputs[i].array.copy() for i in checked]
    # Recording stays as the caller has it (no no_grad()): fn may itself differentiate
    # (gradgradcheck's first-order function, a gradient penalty) and needs its graph.
    values = []
    for sign in (1, -1):
        for i, u, original in zip(checked, directions, saved):
            inputs[i].array[...] = original + sign * eps * u
        values.append([o.array.copy() for o in _call(fn, inputs)])
    for i, original in zip(checked, saved):
        inputs[i].array[...] = original
    numerical = sum(float(np.sum((p - m) / (2 * eps) * v))
                            for p, m, v in zip(values[0], values[1], covectors))
    if not abs(analytical - numerical) <= atol * 10 + rtol * abs(numerical):
        raise GradcheckError(
            f"gradcheck: the vector-Jacobian product along a random direction disagrees: "
            f"numerical {numerical:.8g}, analytical {analytical:.8g} for inputs {checked}"
        )


def gradgradcheck(
    fn: Callable[..., Any],
    inputs: Any,
    grad_outputs: Any = None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    seed: int = 0,
) -> bool:
    """Check second-order gradients: ``gradcheck`` of x, v -> (J(x)^T v) with the first
    backward run with ``create_graph=True``. ``v`` defaults to fixed random covectors."""
    from chainrule.autograd import grad

    inputs, checked = _prepare(inputs)
    outputs = [o for o in _call(fn, inputs) if o.requires_grad]
    if grad_outputs is None:
        rng = np.random.default_rng(seed + 1)
        grad_outputs = [Tensor(rng.standard_normal(o.shape), requires_grad=True) for o in outputs]
    else:
        grad_outputs = [g if isinstance(g, Tensor) else Tensor(g) for g in
                        ((grad_outputs,) if isinstance(grad_outputs, Tensor) else grad_outputs)]
    count = len(inputs)

    def first_order(*args: Any) -> tuple[Tensor, ...]:
        xs, vs = args[:count], args[count:]
        outs = [o for o in _call(fn, xs) if o.requires_grad]
        grads = grad(outs, [xs[i] for i in checked], list(vs), create_graph=True,
                     allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_order, (*inputs, *grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, seed=seed)
