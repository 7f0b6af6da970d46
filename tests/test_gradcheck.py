"""The gradient checker checked: it passes correct ops, and fails, naming the input and element,
on deliberately wrong backward rules (first and second order). The wrong ops below are
Function subclasses, so they register in OP_REGISTRY; the op coverage test ignores classes
defined in test modules. Their names are unique so that they replace no real op's entry."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
import chainrule.nn.functional as F
from chainrule.autograd import GradcheckError, gradcheck, gradgradcheck
from chainrule.autograd.function import Function
from chainrule.tensor import Tensor


def inputs(*shapes: tuple[int, ...], seed: int = 0) -> list[Tensor]:
    rng = np.random.default_rng(seed)
    return [chainrule.tensor(rng.standard_normal(shape), dtype=chainrule.float64, requires_grad=True)
            for shape in shapes]


# ---------------------------------------------------------------------------- wrong ops
class CheckerSquareTwiceTooSteep(Function):
    """x^2 with a backward rule 2x too large."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_inputs(0)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_inputs
        return grad * x * 4


class CheckerSquareWrongAtOneElement(Function):
    """x^2 whose gradient is wrong at element (1, 2) only."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_inputs(0)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_inputs
        error = np.zeros(x.shape)
        error[1, 2] = 0.5
        return grad * x * 2 + Tensor._wrap(error)


class CheckerProductWrongForSecondInput(Function):
    """a * b whose gradient for b is (a + 1) instead of a; the one for a is right."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_inputs(0, 1)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_inputs
        return grad * b, grad * (a + 1)


class CheckerSinOnArrays(Function):
    """sin with a first-order rule that is right but built from raw arrays, so with
    create_graph the gradient's dependence on x is lost (its second order is wrong)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_inputs(0)
        return np.sin(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_inputs
        return grad * Tensor._wrap(np.cos(x.array))


class CheckerSinOnTensors(Function):
    """The same sin with its rule written in Tensor ops: right at every order."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_inputs(0)
        return np.sin(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_inputs
        return grad * x.cos()


# ---------------------------------------------------------------------- correct ops pass
def test_gradcheck_and_gradgradcheck_pass_correct_functions() -> None:
    a, b = inputs((2, 3), (3,))
    assert gradcheck(lambda x, y: (x * y).sin() / (1 + y * y), (a, b))
    assert gradcheck(lambda x: F.log_softmax(x, dim=1), (a,))
    assert gradcheck(lambda x: (x.exp(), x.tanh().sum()), (a,))  # several outputs
    small_a, small_b = inputs((2,), (2,), seed=1)
    assert gradgradcheck(lambda x, y: (x * y.exp()).sin(), (small_a, small_b))
    assert gradcheck(CheckerSinOnTensors.apply, (small_a,))
    assert gradgradcheck(CheckerSinOnTensors.apply, (small_a,))


def test_gradcheck_checks_only_inputs_that_require_grad() -> None:
    (a,) = inputs((3,))
    constant = chainrule.tensor([1.0, 2.0, 3.0], dtype=chainrule.float64)
    assert gradcheck(lambda x, c: x * c, (a, constant))


# ------------------------------------------------------------------ wrong ops are caught
def test_a_backward_off_by_a_factor_of_two_fails_naming_input_and_element() -> None:
    (x,) = inputs((3,))
    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(3,\)\) at element \(0,\)") as error:
        gradcheck(CheckerSquareTwiceTooSteep.apply, (x,))
    assert "numerical" in str(error.value) and "analytical" in str(error.value)
    assert "3 of 9 entries disagree" in str(error.value)


def test_a_backward_wrong_at_one_element_fails_naming_that_element() -> None:
    (x,) = inputs((2, 3))
    with pytest.raises(GradcheckError, match=r"input 0 .* element \(1, 2\) and output 0 at element"):
        gradcheck(CheckerSquareWrongAtOneElement.apply, (x,))


def test_a_backward_wrong_for_the_second_input_names_input_1() -> None:
    a, b = inputs((2,), (2,))
    with pytest.raises(GradcheckError, match=r"input 1 \(shape \(2,\)\)"):
        gradcheck(CheckerProductWrongForSecondInput.apply, (a, b))
    assert gradcheck(lambda x: CheckerProductWrongForSecondInput.apply(x, b.detach()), (a,)), \
        "the gradient of input 0 is right; only input 1 should be reported"


def test_raise_exception_false_returns_false() -> None:
    (x,) = inputs((3,))
    assert gradcheck(CheckerSquareTwiceTooSteep.apply, (x,), raise_exception=False) is False


def test_a_backward_built_from_arrays_passes_first_order_but_fails_gradgradcheck() -> None:
    (x,) = inputs((3,))
    assert gradcheck(CheckerSinOnArrays.apply, (x,))
    with pytest.raises(GradcheckError):
        gradgradcheck(CheckerSinOnArrays.apply, (x,))
    assert gradgradcheck(CheckerSinOnArrays.apply, (x,), raise_exception=False) is False


# -------------------------------------------------------------------------- bad inputs
def test_float32_inputs_are_rejected_with_a_clear_message() -> None:
    x = chainrule.randn(3, requires_grad=True)
    with pytest.raises(ValueError, match=r"input 0 is float32.*float64.*double\(\)"):
        gradcheck(lambda t: t * 2, (x,))
    with pytest.raises(ValueError, match="float64"):
        gradgradcheck(lambda t: t * 2, (x,))


def test_no_input_requiring_grad_is_an_error() -> None:
    with pytest.raises(ValueError, match="requires_grad"):
        gradcheck(lambda t: t * 2, (chainrule.ones(2, dtype=chainrule.float64),))


def test_gradcheck_leaves_the_inputs_unchanged() -> None:
    (x,) = inputs((2, 2))
    before = x.array.copy()
    gradcheck(lambda t: t.exp().sum(), (x,))
    np.testing.assert_array_equal(x.array, before)
    assert x.grad is None, "gradcheck uses autograd.grad, so .grad is never touched"
