"""In-place changes seen through views, and through the index tensors an op keeps for backward.

A view (reshape, permute, expand, slicing, unsqueeze/squeeze, transpose, narrow/select,
detach, split...) shares its base's version counter, as in PyTorch, so an in-place change
through any of them is caught by every backward that saved another. Each scenario takes the
library as its argument: the chainrule tests state the expected outcome on their own; the
``*_as_pytorch`` tests run the very same scenario on PyTorch, where it is installed, to show
the expectation is PyTorch's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule

MODIFIED = r"modified by an inplace operation.*is at version 1; expected version 0 instead"

# Views as both libraries define them. In the first scenario the view is written through, so
# each must be writable (expand is not; it appears where the base is written instead).
WRITABLE_VIEWS: dict[str, Callable[[Any], Any]] = {
    "reshape": lambda t: t.reshape(3, 2),
    "view": lambda t: t.view(6),
    "flatten": lambda t: t.flatten(),
    "permute": lambda t: t.permute(1, 0),
    "transpose": lambda t: t.transpose(0, 1),
    "t": lambda t: t.t(),
    "T": lambda t: t.T,
    "unsqueeze": lambda t: t.unsqueeze(0),
    "squeeze": lambda t: t.unsqueeze(1).squeeze(1),
    "int index": lambda t: t[1],
    "slice": lambda t: t[:, 1:],
    "None and Ellipsis": lambda t: t[None, ..., 0],
    "narrow": lambda t: t.narrow(1, 0, 2),
    "select": lambda t: t.select(1, 2),
    "split": lambda t: t.split(1, dim=1)[1],
    "chunk": lambda t: t.chunk(2, dim=0)[1],
    "unbind": lambda t: t.unbind(0)[0],
    "detach": lambda t: t.detach(),
    "view_as": lambda t: t.view_as(t),
    "view of a view": lambda t: t.t()[1:].unsqueeze(0),
}
READ_ONLY_VIEWS: dict[str, Callable[[Any], Any]] = {
    "expand": lambda t: t.unsqueeze(0).expand(4, 2, 3),
}
# Results that own new memory: changing them leaves the base's version alone.
COPIES: dict[str, Callable[[Any], Any]] = {
    "integer-array index": lambda t: t[[0, 1]],
    "boolean-mask index": lambda t: t[t > 3.0],
    "reshape of a non-contiguous tensor": lambda t: t.t().reshape(6),
    "clone": lambda t: t.clone(),
    "arithmetic": lambda t: t * 1,
}


def _base(lib: Any, requires_grad: bool = True) -> Any:
    return lib.tensor(np.arange(1.0, 7.0).reshape(2, 3) / 4, dtype=lib.float64, requires_grad=requires_grad)


def write_through_a_view_of_a_saved_output(lib: Any, make_view: Callable[[Any], Any]) -> Any:
    """The issue's case: Exp saves its output y; y is changed through a view of it."""
    x = _base(lib)
    y = x.exp()
    view = make_view(y)
    with lib.no_grad():
        view.mul_(0)
    y.sum().backward()
    return x.grad


def write_the_base_of_a_saved_view(lib: Any, make_view: Callable[[Any], Any]) -> Any:
    """Mul saves a view of a constant; the constant is then changed in place."""
    base = _base(lib, requires_grad=False)
    view = make_view(base)
    x = lib.ones(tuple(view.shape), dtype=lib.float64, requires_grad=True)
    out = (x * view).sum()
    base.add_(1)
    out.backward()
    return x.grad


def view_made_under_no_grad(lib: Any) -> Any:
    x = _base(lib)
    y = x.exp()
    with lib.no_grad():
        view = y[1:]
        view.mul_(2)
    y.sum().backward()
    return x.grad


def _versions_through_a_view(lib: Any) -> tuple[int, int, int]:
    base = _base(lib, requires_grad=False)
    view = base.t()[0]
    view.add_(1)
    base.mul_(2)
    return base._version, view._version, base.t()._version


@pytest.mark.parametrize("make_view", WRITABLE_VIEWS.values(), ids=WRITABLE_VIEWS.keys())
def test_writing_through_a_view_of_a_saved_output_raises(make_view: Callable[[Any], Any]) -> None:
    with pytest.raises(RuntimeError, match=MODIFIED + r"\. ExpBackward0 saved it"):
        write_through_a_view_of_a_saved_output(chainrule, make_view)


@pytest.mark.parametrize(
    "make_view", (WRITABLE_VIEWS | READ_ONLY_VIEWS).values(), ids=(WRITABLE_VIEWS | READ_ONLY_VIEWS).keys()
)
def test_writing_the_base_of_a_saved_view_raises(make_view: Callable[[Any], Any]) -> None:
    with pytest.raises(RuntimeError, match=MODIFIED + r"\. MulBackward0 saved it"):
        write_the_base_of_a_saved_view(chainrule, make_view)


def test_a_view_made_under_no_grad_shares_the_counter() -> None:
    with pytest.raises(RuntimeError, match=MODIFIED):
        view_made_under_no_grad(chainrule)


def test_views_and_their_base_report_one_version() -> None:
    assert _versions_through_a_view(chainrule) == (2, 2, 2)


@pytest.mark.parametrize("make_copy", COPIES.values(), ids=COPIES.keys())
def test_changing_a_copy_leaves_the_saved_output_valid(make_copy: Callable[[Any], Any]) -> None:
    grad = write_through_a_view_of_a_saved_output(chainrule, make_copy)
    np.testing.assert_allclose(grad.array, np.exp(np.arange(1.0, 7.0).reshape(2, 3) / 4))


def test_flip_is_a_view_in_numpy_so_it_shares_the_counter() -> None:
    """NumPy's flip shares memory (PyTorch's copies): a write through it changes the base's
    data, so the base's version must move with it."""
    base = _base(chainrule, requires_grad=False)
    flipped = base.flip(0)
    flipped.add_(1)
    assert base._version == 1
    with pytest.raises(RuntimeError, match=MODIFIED + r".*ExpBackward0"):
        write_through_a_view_of_a_saved_output(chainrule, lambda t: t.flip(1))


def test_an_op_returning_its_input_array_makes_a_view() -> None:
    class PassThrough(chainrule.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a

        @staticmethod
        def backward(ctx, grad):
            return grad

    x = _base(chainrule)
    y = x.exp()
    out = PassThrough.apply(y)
    assert out._vc is y._vc
    with chainrule.no_grad():
        out.zero_()
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.sum().backward()


def test_an_unchanged_view_leaves_backward_correct() -> None:
    x = _base(chainrule)
    y = x.exp()
    (y.t()[0] * 2).sum().backward()
    expected = np.zeros((2, 3))
    expected[:, 0] = 2 * np.exp(np.arange(1.0, 7.0).reshape(2, 3)[:, 0] / 4)
    np.testing.assert_allclose(x.grad.array, expected)


# ------------------------------------------------------------------- index tensors
def _index_ops(lib: Any) -> dict[str, Callable[[Any, Any], Any]]:
    return {
        "x[index]": lambda x, index: x[index],
        "x[:, index]": lambda x, index: x[:, index],
        "index_select": lambda x, index: x.index_select(1, index),
        "gather": lambda x, index: x.gather(1, index.unsqueeze(0).expand(2, 2)),
        "embedding": lambda x, index: lib.nn.functional.embedding(index, x),
    }


INDEX_OPS = ["x[index]", "x[:, index]", "index_select", "gather", "embedding"]


def change_an_index_tensor_after_forward(lib: Any, op: str) -> Any:
    x = _base(lib)
    index = lib.tensor([0, 1])
    out = _index_ops(lib)[op](x, index)
    index[0] = 1  # the gradient would go to row/column 1 twice
    (out * out).sum().backward()
    return x.grad


def change_a_mask_after_forward(lib: Any) -> Any:
    x = _base(lib)
    mask = lib.tensor([[True, False, True], [False, True, False]])
    out = x[mask]
    mask.fill_(True)
    (out * out).sum().backward()
    return x.grad


@pytest.mark.parametrize("op", INDEX_OPS)
def test_changing_an_index_tensor_after_forward_raises(op: str) -> None:
    with pytest.raises(RuntimeError, match=MODIFIED + r"\. \w+Backward0 saved it"):
        change_an_index_tensor_after_forward(chainrule, op)


def test_changing_a_mask_after_forward_raises() -> None:
    with pytest.raises(RuntimeError, match=MODIFIED + r"\. GetItemBackward0 saved it"):
        change_a_mask_after_forward(chainrule)


@pytest.mark.parametrize("op", INDEX_OPS)
def test_an_unchanged_index_tensor_gives_the_gradient(op: str) -> None:
    x = _base(chainrule)
    picks_rows = op in ("x[index]", "embedding")
    out = _index_ops(chainrule)[op](x, chainrule.tensor([1, 1] if picks_rows else [0, 2]))
    (out * out).sum().backward()
    values = np.arange(1.0, 7.0).reshape(2, 3) / 4
    expected = np.zeros((2, 3))
    if picks_rows:
        expected[1] = 2 * 2 * values[1]  # row 1 picked twice: both gradients add
    else:
        expected[:, [0, 2]] = 2 * values[:, [0, 2]]
    np.testing.assert_allclose(x.grad.array, expected)


def test_a_numpy_index_array_is_copied_at_forward() -> None:
    """A NumPy array carries no version counter: it is copied, so a later change to it cannot
    send the gradient elsewhere."""
    x = _base(chainrule)
    index = np.array([0, 2])
    out = x[:, index]
    index[0] = 1
    (out * out).sum().backward()
    values = np.arange(1.0, 7.0).reshape(2, 3) / 4
    expected = np.zeros((2, 3))
    expected[:, [0, 2]] = 2 * values[:, [0, 2]]
    np.testing.assert_allclose(x.grad.array, expected)


# -------------------------------------------------------------- the same, on PyTorch
@pytest.mark.parametrize("make_view", WRITABLE_VIEWS.values(), ids=WRITABLE_VIEWS.keys())
def test_writing_through_a_view_raises_as_pytorch(make_view: Callable[[Any], Any]) -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match=MODIFIED):
        write_through_a_view_of_a_saved_output(torch, make_view)


@pytest.mark.parametrize(
    "make_view", (WRITABLE_VIEWS | READ_ONLY_VIEWS).values(), ids=(WRITABLE_VIEWS | READ_ONLY_VIEWS).keys()
)
def test_writing_the_base_of_a_saved_view_raises_as_pytorch(make_view: Callable[[Any], Any]) -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match=MODIFIED):
        write_the_base_of_a_saved_view(torch, make_view)


def test_view_made_under_no_grad_and_versions_as_pytorch() -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match=MODIFIED):
        view_made_under_no_grad(torch)
    assert _versions_through_a_view(torch) == _versions_through_a_view(chainrule)


@pytest.mark.parametrize("make_copy", COPIES.values(), ids=COPIES.keys())
def test_changing_a_copy_as_pytorch(make_copy: Callable[[Any], Any]) -> None:
    torch = pytest.importorskip("torch")
    ours = write_through_a_view_of_a_saved_output(chainrule, make_copy)
    theirs = write_through_a_view_of_a_saved_output(torch, make_copy)
    np.testing.assert_allclose(ours.array, theirs.numpy())


@pytest.mark.parametrize("op", INDEX_OPS)
def test_changing_an_index_tensor_raises_as_pytorch(op: str) -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match=MODIFIED):
        change_an_index_tensor_after_forward(torch, op)


def test_changing_a_mask_raises_as_pytorch() -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match=MODIFIED):
        change_a_mask_after_forward(torch)


# -------------------------------------------------------------- where's condition
def _where_with_condition_changed(lib: Any, condition: Any) -> Any:
    """Gradients of ``where(condition, x, -x)`` after the condition's first element was flipped
    in place between forward and backward."""
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    out = lib.where(condition, x * x, -x)
    condition[0] = not condition[0]
    out.sum().backward()
    return x.grad


@pytest.mark.parametrize("lib_name", ["chainrule", "torch"])
def test_where_refuses_a_condition_changed_in_place(lib_name: str) -> None:
    """``where`` keeps its condition for backward, so changing it in place must raise as for
    any saved tensor (it would silently route the gradient to the other branch)."""
    lib = chainrule if lib_name == "chainrule" else pytest.importorskip("torch")
    condition = lib.tensor([True, False, True])
    with pytest.raises(RuntimeError, match=MODIFIED):
        _where_with_condition_changed(lib, condition)


def test_where_copies_a_numpy_condition() -> None:
    grad = _where_with_condition_changed(chainrule, np.array([True, False, True]))
    np.testing.assert_allclose(grad.array, [2.0, -1.0, 6.0])  # the condition as at forward
