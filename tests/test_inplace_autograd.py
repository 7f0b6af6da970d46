"""In-place changes recorded for autograd (chainrule.ops.inplace).

Each scenario is written once, against a library argument: the chainrule tests compare its
gradients with the same computation written out of place (and with NumPy values where they are
short to state), and the ``*_as_pytorch`` tests run the very same scenario on PyTorch, where it
is installed, to show that these are PyTorch's gradients too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule

X = np.array([0.5, -1.5, 2.0, 3.0])


def _x(lib: Any) -> Any:
    return lib.tensor(X, dtype=lib.float64, requires_grad=True)


def _mask(lib: Any) -> Any:
    return lib.tensor([True, False, True, False])


# Each scenario returns the loss; the in-place method and the value written in both depend on x.
SCENARIOS: dict[str, Callable[[Any, Any], Any]] = {
    "buffer rows set from a loop": lambda lib, x: _buffer_rows(lib, x),
    "accumulator += loss": lambda lib, x: _accumulate(lib, x),
    "masked_fill_ then mul_": lambda lib, x: ((x * 2).masked_fill_(_mask(lib), -3.0) * x).sum(),
    "add_ with alpha": lambda lib, x: ((x * 3).add_(x.exp(), alpha=0.5) * x).sum(),
    "sub_": lambda lib, x: ((x * 3).sub_(x.sin()) ** 2).sum(),
    "mul_ by itself": lambda lib, x: (x * 1.5).mul_(x).sum(),
    "div_": lambda lib, x: ((x + 5).div_(x * x + 1) * x).sum(),
    "addcmul_": lambda lib, x: (x * 2).addcmul_(x, x.cos(), value=0.25).pow(2).sum(),
    "addcdiv_": lambda lib, x: (x * 2).addcdiv_(x, x * x + 1, value=2.0).pow(2).sum(),
    "lerp_": lambda lib, x: (x * 2).lerp_(x.exp(), 0.25).pow(2).sum(),
    "clamp_": lambda lib, x: ((x * 2).clamp_(-1.0, 2.5) * x).sum(),
    "sqrt_": lambda lib, x: ((x * x + 1).sqrt_() * x).sum(),
    "fill_ cuts the old value's gradient": lambda lib, x: ((x * 2).fill_(3.0) * x).sum(),
    "zero_": lambda lib, x: ((x * 2).zero_() + x).pow(2).sum(),
    "copy_ from a tensor that requires grad": lambda lib, x: (
        lib.zeros(4, dtype=lib.float64).copy_(x.exp()) * x
    ).sum(),
    "setitem with a slice": lambda lib, x: _set_slice(x),
    "setitem with a mask and a number": lambda lib, x: _set_mask(lib, x),
    "setitem broadcasting a 0-d tensor": lambda lib, x: _set_broadcast(lib, x),
    "scatter_": lambda lib, x: (x * 2).scatter_(0, lib.tensor([3, 0]), x[:2] * 5).pow(2).sum(),
    "scatter_add_": lambda lib, x: (x * 2).scatter_add_(0, lib.tensor([3, 3]), x[:2] * 5).pow(2).sum(),
    "in-place change after another op read the old value": lambda lib, x: _read_then_change(x),
    "relu_, sigmoid_ and tanh_ as functions": lambda lib, x: (
        lib.relu_(x * 2) * lib.sigmoid_(x * 1.0) + lib.tanh_(x * 0.5)
    ).sum(),
    "pow_, clamp_min_ and clamp_max_": lambda lib, x: (
        (x * 1.0).pow_(3) + (x * 2).clamp_min_(0.3) * (x * 2).clamp_max_(2.5) * x
    ).sum(),
}


def _buffer_rows(lib: Any, x: Any) -> Any:
    """A recurrent loop writing each step into a preallocated buffer (common in PyTorch code)."""
    outputs = lib.zeros(3, 4, dtype=lib.float64)
    h = x
    for t in range(3):
        h = (h * 0.5 + 1).tanh()
        outputs[t] = h
    return (outputs * lib.arange(12, dtype=lib.float64).reshape(3, 4)).sum()


def _accumulate(lib: Any, x: Any) -> Any:
    total = lib.zeros((), dtype=lib.float64)
    for scale in (1.0, 2.0, 3.0):
        total += (x * scale).sin().sum()
    return total


def _set_slice(x: Any) -> Any:
    y = x * 2
    y[1:3] = x[:2].exp()
    return (y * y).sum()


def _set_mask(lib: Any, x: Any) -> Any:
    y = x * 2
    y[_mask(lib)] = 7.0
    return (y * x).sum()


def _set_broadcast(lib: Any, x: Any) -> Any:
    y = lib.zeros(2, 4, dtype=lib.float64)
    y[:, 1] = x.sum()
    y[0] = x
    return (y * y).sum()


def _read_then_change(x: Any) -> Any:
    h = x * 2
    r = h.relu()  # keeps its mask, not h
    h.mul_(3)
    return (r * x).sum() + h.sum()


def _gradient(lib: Any, scenario: Callable[[Any, Any], Any]) -> np.ndarray:
    x = _x(lib)
    scenario(lib, x).backward()
    return np.asarray(x.grad.detach().numpy() if lib is not chainrule else x.grad.array)


def _numeric_gradient(scenario: Callable[[Any, Any], Any]) -> np.ndarray:
    """Central differences of the scenario in chainrule with no gradient recorded (so every
    in-place method takes its plain in-place path): an oracle independent of the recording."""
    grad = np.zeros_like(X)
    step = 1e-6
    for i in range(X.size):
        values = []
        for sign in (1, -1):
            shifted = X.copy()
            shifted[i] += sign * step
            with chainrule.no_grad():
                values.append(float(scenario(chainrule, chainrule.tensor(shifted, dtype=chainrule.float64))))
        grad[i] = (values[0] - values[1]) / (2 * step)
    return grad


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_in_place_changes_are_differentiated(name: str) -> None:
    got = _gradient(chainrule, SCENARIOS[name])
    np.testing.assert_allclose(got, _numeric_gradient(SCENARIOS[name]), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_in_place_changes_are_differentiated_as_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(_gradient(chainrule, SCENARIOS[name]), _gradient(torch, SCENARIOS[name]),
                               rtol=1e-12, atol=1e-12)


TWINS = ("relu", "sigmoid", "tanh", "exp", "log", "log1p", "neg", "abs", "sign", "sin", "cos", "floor",
         "ceil", "square", "rsqrt")


@pytest.mark.parametrize("name", TWINS)
def test_each_in_place_twin_equals_its_method_in_values_and_gradients(name: str) -> None:
    start = np.array([0.25, 1.5, 2.75, 4.0])  # positive, so log and rsqrt are defined
    a = chainrule.tensor(start, requires_grad=True)
    b = chainrule.tensor(start, requires_grad=True)
    expected = getattr(a * 1.0, name)()
    got = getattr(b * 1.0, f"{name}_")()
    np.testing.assert_array_equal(got.array, expected.array)
    assert got.requires_grad == expected.requires_grad  # sign, floor and ceil have no gradient
    if expected.requires_grad:
        (expected * expected).sum().backward()
        (got * got).sum().backward()
        np.testing.assert_array_equal(b.grad.array, a.grad.array)
    plain = chainrule.tensor(start)
    array = plain.array
    assert getattr(plain, f"{name}_")() is plain and plain.array is array  # no gradient: in place
    np.testing.assert_array_equal(array, expected.array)


def test_the_buffer_gradient_by_hand() -> None:
    """outputs[0] = x * 2, outputs[1] = x * x: the gradient NumPy states in one line."""
    x = _x(chainrule)
    outputs = chainrule.zeros(2, 4, dtype=chainrule.float64)
    outputs[0] = x * 2
    outputs[1] = x * x
    outputs.sum().backward()
    np.testing.assert_array_equal(x.grad.array, 2 + 2 * X)
    assert outputs.requires_grad and outputs.grad_fn is not None


def test_a_tensor_in_its_own_change_means_its_old_value() -> None:
    """y.mul_(y) squares y. PyTorch refuses to differentiate this one (its Mul saved y, which
    then changed); chainrule's recorded op reads the old value, so the gradient is exact."""
    x = _x(chainrule)
    y = x * 1.0
    y.mul_(y)
    (y * x).sum().backward()
    np.testing.assert_allclose(x.grad.array, 3 * X**2, rtol=1e-15)


def test_a_recorded_change_keeps_the_tensor_object_and_its_dtype() -> None:
    x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    same = y.add_(chainrule.tensor([1, 1]))  # int64 into float32: the result stays float32
    assert same is y and y.dtype == chainrule.float32 and y._version == 1
    assert y.tolist() == [3.0, 5.0]


def test_without_recording_the_array_is_changed_in_place() -> None:
    """Optimizer steps run under no_grad: the parameter's array must stay the same object (a
    view or an optimizer's state may hold it)."""
    p = chainrule.ones(3, requires_grad=True)
    array = p.array
    with chainrule.no_grad():
        p.add_(chainrule.ones(3), alpha=-0.5).mul_(2)
        p[0] = 7.0
    assert p.array is array and p.tolist() == [7.0, 1.0, 1.0] and p._version == 3


def test_a_saved_tensor_changed_in_place_is_still_refused() -> None:
    x = _x(chainrule)
    y = x * 2
    z = y * y  # saves y
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*MulBackward0 saved it"):
        z.sum().backward()


REFUSED: dict[str, tuple[Callable[[Any], Any], str]] = {
    "a leaf that requires grad": (lambda x: x.add_(1), "add_: a leaf tensor that requires grad"),
    "a view of a non-leaf": (lambda x: (x * 2)[1:].mul_(2), "mul_: this tensor shares its memory"),
    "the base of a view": (lambda x: _base_of_view(x), "fill_: this tensor shares its memory"),
    "detach() of a non-leaf, then a value that requires grad": (
        lambda x: (x * 2).detach().copy_(x),
        "copy_: this tensor shares its memory",
    ),
}


def _base_of_view(x: Any) -> Any:
    y = x * 2
    _ = y.reshape(2, 2)
    return y.fill_(x.sum())


@pytest.mark.parametrize("name", list(REFUSED))
def test_what_cannot_be_recorded_is_refused_in_one_sentence(name: str) -> None:
    change, message = REFUSED[name]
    with pytest.raises(RuntimeError, match=message) as caught:
        change(_x(chainrule))
    assert "\n" not in str(caught.value) and str(caught.value).count(". ") == 0


def test_plus_equals_on_a_leaf_still_binds_a_new_tensor() -> None:
    x = _x(chainrule)
    original = x
    x += 1
    assert x is not original and original.grad_fn is None and x.grad_fn is not None
