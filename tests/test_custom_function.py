"""User-defined autograd.Function with PyTorch's contract: forward gets Tensors (grad off),
ctx.save_for_backward / saved_tensors, needs_input_grad, mark_non_differentiable,
setup_context, once_differentiable; checked by finite differences and against PyTorch."""

import numpy as np
import pytest

import chainrule
from chainrule.autograd import Function, gradcheck, gradgradcheck, once_differentiable


def make_functions(lib):
    """The same custom functions written against ``lib`` (chainrule or torch)."""

    class ScaledCube(lib.autograd.Function):
        """scale * x**3 + y, with a non-tensor argument."""

        @staticmethod
        def forward(ctx, x, y, scale):
            ctx.save_for_backward(x)
            ctx.scale = scale
            ctx.seen = (type(x).__name__, lib.is_grad_enabled())
            return scale * x**3 + y

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return grad_output * 3 * ctx.scale * x**2, grad_output, None

    class SmoothClip(lib.autograd.Function):
        """x * sigmoid(x), in the setup_context style of PyTorch 2."""

        @staticmethod
        def forward(x):
            return x * lib.sigmoid(x)

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            s = lib.sigmoid(x)
            return grad_output * (s + x * s * (1 - s))

    return ScaledCube, SmoothClip


ScaledCube, SmoothClip = make_functions(chainrule)


def _double(shape, seed=0):
    array = np.random.default_rng(seed).normal(size=shape)
    return chainrule.tensor(array, dtype=chainrule.float64, requires_grad=True)


def test_forward_receives_tensors_with_grad_off_and_ctx_attributes_reach_backward():
    x, y = _double((3,)), _double((3,), seed=1)
    out = ScaledCube.apply(x, y, 2.0)
    assert out.requires_grad and out.grad_fn.name() == "ScaledCubeBackward"
    assert out.grad_fn.seen == ("Tensor", False)
    assert out.grad_fn.needs_input_grad == (True, True, False)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6.0 * x.detach().numpy() ** 2)
    np.testing.assert_allclose(y.grad.numpy(), np.ones(3))


def test_gradients_pass_first_and_second_order_checks():
    x, y = _double((2, 3)), _double((3,), seed=1)
    assert gradcheck(lambda a, b: ScaledCube.apply(a, b, 1.5), (x, y))
    assert gradgradcheck(lambda a, b: ScaledCube.apply(a, b, 1.5), (x[0].detach().requires_grad_(), y))
    assert gradcheck(SmoothClip.apply, (x,))
    assert gradgradcheck(SmoothClip.apply, (_double((4,)),))


def test_a_wrong_backward_is_caught_by_gradcheck():
    class WrongCube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return grad_output * 2 * x**2  # should be 3 x^2

    with pytest.raises(Exception, match="(?i)jacobian|mismatch|gradient"):
        gradcheck(WrongCube.apply, (_double((3,)),))


def test_inputs_that_need_no_grad_get_none_and_constants_pass_through():
    x = _double((3,))
    y = chainrule.ones(3, dtype=chainrule.float64)  # does not require grad
    out = ScaledCube.apply(x, y, 1.0)
    assert out.grad_fn.needs_input_grad == (True, False, False)
    out.sum().backward()
    assert y.grad is None and x.grad is not None
    constant = ScaledCube.apply(y, y, 1.0)
    assert not constant.requires_grad and constant.grad_fn is None


def test_mark_non_differentiable_output_does_not_require_grad():
    class ArgMaxMask(Function):
        @staticmethod
        def forward(ctx, x):
            mask = (x == x.max()).float()
            ctx.mark_non_differentiable(mask)
            ctx.set_materialize_grads(False)
            return mask

        @staticmethod
        def backward(ctx, grad_output):
            return None

    mask = ArgMaxMask.apply(chainrule.tensor([1.0, 3.0, 2.0], requires_grad=True))
    assert mask.tolist() == [0.0, 1.0, 0.0] and not mask.requires_grad and mask.grad_fn is None


def test_changing_a_saved_tensor_in_place_is_detected():
    x = _double((3,))
    base = x * 1.0
    out = ScaledCube.apply(base, base, 1.0)
    with chainrule.no_grad():
        base.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*ScaledCubeBackward"):
        out.sum().backward()


def test_backward_twice_without_retain_graph_says_so():
    out = ScaledCube.apply(_double((3,)), _double((3,), seed=1), 1.0)
    out.sum().backward(retain_graph=True)
    out.sum().backward()  # retained once: fine
    with pytest.raises(RuntimeError, match="second time"):
        out.sum().backward()


def test_bad_backward_results_and_bad_forward_outputs_are_named():
    class TooFew(Function):
        @staticmethod
        def forward(ctx, x, y):
            return x + y

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output

    with pytest.raises(RuntimeError, match="TooFewBackward returned 1 gradients, but its forward took 2"):
        TooFew.apply(_double((2,)), _double((2,))).sum().backward()

    class ExtraNone(TooFew):
        @staticmethod
        def backward(ctx, grad_output):
            return grad_output, grad_output, None

    a = _double((2,))
    ExtraNone.apply(a, _double((2,))).sum().backward()
    assert a.grad.tolist() == [1.0, 1.0]

    class Pair(Function):
        @staticmethod
        def forward(ctx, x):
            return x, x

    with pytest.raises(TypeError, match="returned several outputs"):
        Pair.apply(_double((2,)))
    with pytest.raises(TypeError, match="positional arguments only"):
        ScaledCube.apply(_double((2,)), y=1)


def test_once_differentiable_allows_first_order_and_refuses_second_order():
    class Square(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @once_differentiable
        def backward(ctx, grad_output):
            assert not chainrule.is_grad_enabled()
            (x,) = ctx.saved_tensors
            return 2 * x * grad_output

    x = _double((3,))
    (grad,) = chainrule.autograd.grad(Square.apply(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(grad.detach().numpy(), 2 * x.detach().numpy())
    with pytest.raises(RuntimeError, match="differentiate twice the backward of Square"):
        grad.sum().backward()
    assert gradcheck(Square.apply, (x,))


def test_same_functions_give_pytorchs_gradients():
    torch = pytest.importorskip("torch")
    torch_cube, torch_clip = make_functions(torch)
    rng = np.random.default_rng(3)
    x_array, y_array = rng.normal(size=(4,)), rng.normal(size=(4,))

    def run(lib, cube, clip):
        x = lib.tensor(x_array, requires_grad=True)
        y = lib.tensor(y_array, requires_grad=True)
        out = clip.apply(cube.apply(x, y, 0.5))
        out.sum().backward()
        return out.detach().numpy(), x.grad.numpy(), y.grad.numpy()

    for ours, theirs in zip(run(chainrule, ScaledCube, SmoothClip), run(torch, torch_cube, torch_clip)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10)


def test_a_gradient_that_is_not_a_tensor_is_named():
    class ReturnsArray(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output.numpy() * 2

    with pytest.raises(TypeError, match="ReturnsArray.backward returned a ndarray as gradient 0"):
        ReturnsArray.apply(_double((2,))).sum().backward()
