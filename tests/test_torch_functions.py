"""sort/topk/argsort/roll/diag/lerp/nan_to_num/type_as (differentiable through existing ops),
multinomial/nonzero/unique, Tensor.new_*, inference_mode, Variable, legacy constructors:
against NumPy references, finite differences, and PyTorch when installed."""

import numpy as np
import pytest

import chainrule
from chainrule.autograd import gradcheck


def _double(shape, seed=0):
    array = np.random.default_rng(seed).normal(size=shape)
    return chainrule.tensor(array, dtype=chainrule.float64, requires_grad=True)


def test_sort_topk_argsort_match_numpy_and_have_gradients():
    x = _double((3, 5))
    values, indices = chainrule.sort(x, dim=1, descending=True)
    np.testing.assert_array_equal(values.detach().numpy(), -np.sort(-x.array, axis=1))
    np.testing.assert_array_equal(indices.numpy(), np.argsort(-x.array, axis=1))
    top_values, top_indices = chainrule.topk(x, 2, dim=0, largest=False)
    np.testing.assert_array_equal(top_values.detach().numpy(), np.sort(x.array, axis=0)[:2])
    assert top_indices.dtype == chainrule.int64
    np.testing.assert_array_equal(chainrule.argsort(x, dim=0).numpy(), np.argsort(x.array, axis=0))
    assert gradcheck(lambda t: chainrule.sort(t, dim=1).values, (x,))
    assert gradcheck(lambda t: chainrule.topk(t, 3).values, (x,))
    with pytest.raises(RuntimeError, match="out of range"):
        chainrule.topk(x, 6)


def test_roll_diag_lerp_nan_to_num_match_numpy_and_have_gradients():
    x = _double((3, 4))
    np.testing.assert_array_equal(chainrule.roll(x, 1, 1).detach().numpy(), np.roll(x.array, 1, 1))
    np.testing.assert_array_equal(
        chainrule.roll(x, (2, -1), (0, 1)).detach().numpy(), np.roll(x.array, (2, -1), (0, 1))
    )
    np.testing.assert_array_equal(chainrule.roll(x, 5).detach().numpy(), np.roll(x.array, 5))
    vector = _double((3,), seed=1)
    for k in (-1, 0, 2):
        np.testing.assert_array_equal(chainrule.diag(vector, k).detach().numpy(), np.diag(vector.array, k))
        np.testing.assert_array_equal(chainrule.diag(x, k).detach().numpy(), np.diag(x.array, k))
    end = _double((3, 4), seed=2)
    np.testing.assert_allclose(
        chainrule.lerp(x, end, 0.25).detach().numpy(), x.array + 0.25 * (end.array - x.array)
    )
    for function in (
        lambda t: chainrule.roll(t, (1, 2), (0, 1)),
        lambda t: chainrule.diag(t, 1),
        lambda t: chainrule.diag(t[0], -1),
        lambda t: chainrule.lerp(t, end, 0.3),
    ):
        assert gradcheck(function, (x,))
    dirty = chainrule.tensor([np.nan, np.inf, -np.inf, 2.0], requires_grad=True)
    clean = chainrule.nan_to_num(dirty, nan=0.5, posinf=9.0)
    np.testing.assert_array_equal(clean.detach().numpy(), np.nan_to_num(dirty.array, nan=0.5, posinf=9.0))
    clean.sum().backward()
    assert dirty.grad.tolist() == [0.0, 0.0, 0.0, 1.0]


def test_integer_valued_functions():
    chainrule.manual_seed(0)
    draws = chainrule.multinomial(
        chainrule.tensor([[0.0, 1.0, 3.0], [5.0, 0.0, 0.0]]), 4000, replacement=True
    )
    assert draws.shape == (2, 4000) and draws.dtype == chainrule.int64
    counts = np.bincount(draws.array[0], minlength=3) / 4000
    assert counts[0] == 0 and abs(counts[2] - 0.75) < 0.03 and np.all(draws.array[1] == 0)
    without = chainrule.multinomial(chainrule.tensor([1.0, 1.0, 1.0, 0.0]), 3)
    assert sorted(without.tolist()) == [0, 1, 2]
    with pytest.raises(RuntimeError, match="non-zero weights"):
        chainrule.multinomial(chainrule.tensor([1.0, 0.0]), 2)
    values = chainrule.tensor([[0, 2], [3, 0]])
    assert chainrule.nonzero(values).tolist() == [[0, 1], [1, 0]]
    assert [t.tolist() for t in chainrule.nonzero(values, as_tuple=True)] == [[0, 1], [1, 0]]
    unique, inverse, counts = chainrule.unique(
        chainrule.tensor([3, 1, 3, 2]), return_inverse=True, return_counts=True
    )
    assert unique.tolist() == [1, 2, 3] and inverse.tolist() == [2, 0, 2, 1] and counts.tolist() == [1, 1, 2]


def test_new_constructors_legacy_names_variable_and_inference_mode():
    base = chainrule.ones(2, dtype=chainrule.float64)
    assert base.new_zeros(2, 3).dtype == chainrule.float64 and base.new_zeros((2, 3)).shape == (2, 3)
    assert base.new_ones(2).tolist() == [1.0, 1.0] and base.new_full((2,), 7).tolist() == [7.0, 7.0]
    assert base.new_empty(4).shape == (4,) and base.new_tensor([1, 2]).dtype == chainrule.float64
    assert base.new_zeros(1, dtype=chainrule.int64, requires_grad=False).dtype == chainrule.int64
    assert chainrule.tensor([1, 2]).type_as(base).dtype == chainrule.float64
    assert chainrule.FloatTensor([1, 2]).dtype == chainrule.float32 and chainrule.LongTensor(2, 3).shape == (
        2,
        3,
    )
    variable = chainrule.autograd.Variable(chainrule.ones(2), requires_grad=True)
    assert variable.requires_grad and variable.is_leaf
    with chainrule.inference_mode():
        assert not chainrule.is_grad_enabled()
    with chainrule.inference_mode(False):
        assert chainrule.is_grad_enabled()


def test_same_results_as_pytorch():
    torch = pytest.importorskip("torch")
    array = np.random.default_rng(4).normal(size=(4, 5))

    def run(lib):
        x = lib.tensor(array, requires_grad=True)
        values, indices = lib.topk(x, 3, dim=1)
        out = (
            values.sum()
            + lib.roll(x, 2, 0)[0].sum() * 2
            + lib.diag(x, 1).sum() * 3
            + lib.sort(x, 0)[0][-1].sum()
        )
        out = out + lib.lerp(x, x * 2, 0.5).sum()
        out.backward()
        return [out.item(), indices.tolist(), x.grad.tolist(), lib.argsort(x, dim=1).tolist()]

    ours, theirs = run(chainrule), run(torch)
    assert ours[1] == theirs[1] and ours[3] == theirs[3]
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-12)


def test_pytorch_module_paths_of_attention_classes():
    from chainrule.nn.modules.activation import MultiheadAttention
    from chainrule.nn.modules.linear import NonDynamicallyQuantizableLinear

    attention = MultiheadAttention(8, 2)
    assert isinstance(attention, chainrule.nn.MultiheadAttention)
    assert isinstance(attention.out_proj, NonDynamicallyQuantizableLinear)
    with pytest.raises(ImportError, match="cannot import name 'Nope'"):
        from chainrule.nn.modules.activation import Nope  # noqa: F401


def test_shape_is_a_size_with_numel_equal_to_a_tuple():
    x = chainrule.zeros(2, 3, 4)
    assert isinstance(x.shape, tuple) and isinstance(x.shape, chainrule.Size)
    assert x.shape == (2, 3, 4) and repr(x.shape) == "(2, 3, 4)"
    assert x.shape.numel() == 24 and x.size().numel() == 24 and x.size(1) == 3
    assert chainrule.zeros(()).shape.numel() == 1 and chainrule.zeros(0, 5).shape.numel() == 0
    torch = pytest.importorskip("torch")
    assert torch.zeros(2, 3, 4).shape.numel() == x.shape.numel()


# ------------------------------------------------------------------------------- out=
@pytest.mark.parametrize("name", chainrule.torch_functions.OUT_FUNCTIONS)
def test_every_out_function_takes_out(name):
    """Each name listed takes out= at chainrule's top level (and a Tensor method does not)."""
    function = getattr(chainrule, name)
    assert function.__wrapped__ is not None
    assert not hasattr(getattr(chainrule.Tensor, name, None), "__wrapped__")


def test_out_writes_into_the_given_tensor_and_returns_it():
    a = chainrule.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = chainrule.empty(2, 2)
    storage = out.array
    assert chainrule.matmul(a, a, out=out) is out
    np.testing.assert_array_equal(out.numpy(), a.array @ a.array)
    assert out.array is storage  # written in place, not replaced
    assert chainrule.mul(a, 2, out=out) is out and out.tolist() == [[2.0, 4.0], [6.0, 8.0]]
    assert chainrule.add(a, a, alpha=2, out=out).tolist() == [[3.0, 6.0], [9.0, 12.0]]
    # an int result into a float tensor is cast (allowed); a float result into an int tensor is not
    int_out = chainrule.zeros(2, dtype=chainrule.float64)
    chainrule.add(chainrule.tensor([1, 2]), 1, out=int_out)
    assert int_out.dtype == chainrule.float64 and int_out.tolist() == [2.0, 3.0]
    with pytest.raises(RuntimeError, match="result type float32 can't be cast to the desired output type"):
        chainrule.add(chainrule.ones(2), 0.5, out=chainrule.zeros(2, dtype=chainrule.int64))


def test_out_resizes_an_empty_tensor_silently_and_warns_for_a_wrong_shape():
    out = chainrule.empty(0)
    chainrule.sum(chainrule.ones(2, 3), dim=0, out=out)
    assert out.tolist() == [2.0, 2.0, 2.0]
    with pytest.warns(UserWarning, match=r"resized since it had shape \[5\]"):
        chainrule.cat([chainrule.ones(2), chainrule.zeros(1)], out=chainrule.empty(5))


def test_out_refuses_inputs_that_require_grad_in_grad_mode_as_pytorch():
    x = chainrule.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="out=... arguments don't support automatic differentiation"):
        chainrule.mul(x, 2, out=chainrule.empty(2))
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        chainrule.stack([chainrule.ones(2), x], out=chainrule.empty(2, 2))
    with chainrule.no_grad():
        out = chainrule.mul(x, 2, out=chainrule.empty(2))
    assert out.tolist() == [2.0, 2.0] and not out.requires_grad


def test_out_matches_pytorch():
    torch = pytest.importorskip("torch")
    a = np.arange(6.0).reshape(2, 3)
    for name, args in [("add", (a, 1.5)), ("sum", (a, 0)), ("clamp", (a, 1, 4))]:
        ours, theirs = chainrule.empty(0, dtype=chainrule.float64), torch.empty(0, dtype=torch.float64)
        wrap = [chainrule.tensor(x) if isinstance(x, np.ndarray) else x for x in args]
        twrap = [torch.tensor(x) if isinstance(x, np.ndarray) else x for x in args]
        getattr(chainrule, name)(*wrap, out=ours)
        getattr(torch, name)(*twrap, out=theirs)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


# ------------------------------------------------------------------ scatter and einsum
def test_scatter_methods_in_place_variants_and_value_form():
    index = chainrule.tensor([[1, 0], [0, 2]])
    src = chainrule.tensor([[1.0, 2.0], [3.0, 4.0]])
    expected = np.zeros((2, 3))
    expected[0, 1], expected[0, 0], expected[1, 0], expected[1, 2] = 1.0, 2.0, 3.0, 4.0
    np.testing.assert_array_equal(chainrule.zeros(2, 3).scatter(1, index, src).numpy(), expected)
    target = chainrule.zeros(2, 3)
    assert target.scatter_(1, index, src) is target
    np.testing.assert_array_equal(target.numpy(), expected)
    added = chainrule.ones(3).scatter_add_(0, chainrule.tensor([0, 0, 2]), chainrule.tensor([1.0, 2.0, 3.0]))
    assert added.tolist() == [4.0, 1.0, 4.0]
    assert chainrule.zeros(3).scatter(0, chainrule.tensor([2]), value=7.0).tolist() == [0.0, 0.0, 7.0]
    pair = chainrule.tensor([2.0, 3.0])
    summed = chainrule.ones(3).scatter(0, chainrule.tensor([1, 1]), pair, reduce="add")
    assert summed.tolist() == [1.0, 6.0, 1.0]
    leaf = chainrule.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="can't be changed in place"):
        leaf.scatter_(0, chainrule.tensor([0]), 1.0)
    with pytest.raises(RuntimeError, match="index has 1 dimensions but self has 2"):
        chainrule.zeros(2, 2).scatter(0, chainrule.tensor([0]), 1.0)
    with pytest.raises(RuntimeError, match="Expected dtype int64 for index"):
        chainrule.zeros(2).scatter(0, chainrule.tensor([0.0]), 1.0)


def test_einsum_refuses_bad_equations_in_one_sentence():
    a = chainrule.ones(2, 3)
    with pytest.raises(ValueError, match="operand 0 has 2 dimensions but subscripts 'ijk'"):
        chainrule.einsum("ijk->i", a)
    with pytest.raises(ValueError, match="2 operands in the equation"):
        chainrule.einsum("ij,jk->ik", a)
    with pytest.raises(ValueError, match="subscript j has size 4 for operand 1"):
        chainrule.einsum("ij,jk->ik", a, chainrule.ones(4, 2))
    diagonal = chainrule.einsum("ii->i", chainrule.eye(3))  # forward of a diagonal works
    assert diagonal.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(NotImplementedError, match="repeats a subscript"):
        chainrule.einsum("ii->i", chainrule.eye(3).requires_grad_())
