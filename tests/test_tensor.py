"""The Tensor as a PyTorch user meets it: creation functions, dtypes and the default dtype,
seeding, attributes and conversions, repr, and mixing with NumPy arrays and scalars."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule


# ------------------------------------------------------------------------------ creation
@pytest.mark.parametrize("make", [chainrule.zeros, chainrule.ones, chainrule.empty,
                                  chainrule.rand, chainrule.randn])
def test_creation_takes_sizes_as_arguments_or_a_tuple(make: Any) -> None:
    assert make(2, 3).shape == (2, 3)
    assert make((2, 3)).shape == (2, 3)
    assert make([4]).shape == (4,)
    assert make().shape == ()
    assert make(2, 3).dtype == np.float32
    assert make(2, dtype=chainrule.float64).dtype == np.float64
    assert make(2, requires_grad=True).requires_grad


def test_zeros_ones_full_values() -> None:
    np.testing.assert_array_equal(chainrule.zeros(2, 2).array, np.zeros((2, 2)))
    np.testing.assert_array_equal(chainrule.ones(3).array, np.ones(3))
    full = chainrule.full((2, 3), 7.5)
    np.testing.assert_array_equal(full.array, np.full((2, 3), 7.5))
    assert full.dtype == np.float32
    assert chainrule.full((2,), 3).dtype == np.int64
    assert chainrule.full((2,), True).dtype == np.bool_


def test_arange_dtypes_and_values() -> None:
    np.testing.assert_array_equal(chainrule.arange(5).array, [0, 1, 2, 3, 4])
    assert chainrule.arange(5).dtype == np.int64
    np.testing.assert_array_equal(chainrule.arange(1, 7, 2).array, [1, 3, 5])
    floats = chainrule.arange(0.0, 1.0, 0.25)
    assert floats.dtype == np.float32
    np.testing.assert_array_equal(floats.array, [0.0, 0.25, 0.5, 0.75])
    assert chainrule.arange(3, dtype=chainrule.float64).dtype == np.float64


def test_linspace_and_eye() -> None:
    line = chainrule.linspace(0, 1, 5)
    assert line.dtype == np.float32
    np.testing.assert_allclose(line.array, [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_array_equal(chainrule.eye(3).array, np.eye(3))
    np.testing.assert_array_equal(chainrule.eye(2, 3).array, np.eye(2, 3))
    assert chainrule.eye(2).dtype == np.float32


def test_random_creation_ranges_and_statistics() -> None:
    chainrule.manual_seed(0)
    uniform = chainrule.rand(10_000)
    assert 0.0 <= uniform.array.min() and uniform.array.max() < 1.0
    assert abs(uniform.array.mean() - 0.5) < 0.02
    normal = chainrule.randn(10_000)
    assert abs(normal.array.mean()) < 0.05 and abs(normal.array.std() - 1.0) < 0.05
    integers = chainrule.randint(2, 5, (1000,))
    assert integers.dtype == np.int64
    assert set(np.unique(integers.array)) == {2, 3, 4}
    assert chainrule.randint(3, size=(2, 2)).shape == (2, 2)


def test_like_functions_copy_shape_and_dtype() -> None:
    source = chainrule.ones(2, 3, dtype=chainrule.float64)
    for make in (chainrule.zeros_like, chainrule.ones_like, chainrule.randn_like):
        made = make(source)
        assert made.shape == (2, 3) and made.dtype == np.float64 and not made.requires_grad
    np.testing.assert_array_equal(chainrule.zeros_like(source).array, np.zeros((2, 3)))
    np.testing.assert_array_equal(chainrule.ones_like(source).array, np.ones((2, 3)))
    assert chainrule.zeros_like(source, dtype=chainrule.float32).dtype == np.float32
    assert chainrule.ones_like(source, requires_grad=True).requires_grad


def test_tensor_copies_its_data_and_from_numpy_shares_it() -> None:
    array = np.array([1.0, 2.0])
    copied, shared = chainrule.tensor(array), chainrule.from_numpy(array)
    array[0] = 9.0
    assert copied.array[0] == 1.0 and shared.array[0] == 9.0


# -------------------------------------------------------------------------------- dtypes
def test_dtypes_from_python_and_numpy_data() -> None:
    assert chainrule.tensor([1.0, 2.0]).dtype == np.float32
    assert chainrule.tensor(1.5).dtype == np.float32
    assert chainrule.tensor([1, 2]).dtype == np.int64
    assert chainrule.tensor([True, False]).dtype == np.bool_
    assert chainrule.tensor([1.0], dtype=chainrule.float64).dtype == np.float64
    assert chainrule.tensor([1], dtype=chainrule.float32).dtype == np.float32
    assert chainrule.tensor(np.zeros(2, dtype=np.float64)).dtype == np.float64  # as torch.tensor
    assert chainrule.tensor([1.0], dtype="float64").dtype == np.float64
    assert chainrule.tensor([1.0], dtype=float).dtype == np.float32


def test_set_default_dtype_changes_floating_creation() -> None:
    assert chainrule.get_default_dtype() == np.float32
    chainrule.set_default_dtype(chainrule.float64)
    assert chainrule.get_default_dtype() == np.float64
    assert chainrule.tensor([1.0]).dtype == np.float64
    assert chainrule.zeros(2).dtype == np.float64
    assert chainrule.randn(2).dtype == np.float64
    assert chainrule.tensor([1]).dtype == np.int64
    chainrule.set_default_dtype(chainrule.float32)
    assert chainrule.tensor([1.0]).dtype == np.float32
    with pytest.raises(TypeError, match="floating"):
        chainrule.set_default_dtype(chainrule.int64)


def test_dtype_conversions() -> None:
    x = chainrule.tensor([1.7, -2.2])
    assert x.double().dtype == np.float64
    assert x.long().dtype == np.int64 and x.long().tolist() == [1, -2]
    assert x.to(chainrule.float64).dtype == np.float64
    assert x.to("cpu") is x
    assert x.float() is x
    assert (x > 0).dtype == np.bool_


def test_unknown_dtype_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="unknown dtype"):
        chainrule.zeros(2, dtype="float31")


# --------------------------------------------------------------------------------- seeds
def test_manual_seed_makes_random_numbers_reproducible() -> None:
    chainrule.manual_seed(123)
    first = (chainrule.randn(5).array, chainrule.rand(3).array, chainrule.randint(0, 100, (4,)).array)
    chainrule.manual_seed(123)
    second = (chainrule.randn(5).array, chainrule.rand(3).array, chainrule.randint(0, 100, (4,)).array)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(chainrule.randn(5).array, first[0])
    chainrule.manual_seed(124)
    assert not np.array_equal(chainrule.randn(5).array, first[0])


def test_a_generator_is_independent_of_the_global_seed() -> None:
    generator = chainrule.Generator().manual_seed(7)
    first = chainrule.randn(4, generator=generator).array
    chainrule.manual_seed(0)
    chainrule.randn(10)
    generator.manual_seed(7)
    np.testing.assert_array_equal(chainrule.randn(4, generator=generator).array, first)


# ---------------------------------------------------------------------------- attributes
def test_shape_attributes() -> None:
    x = chainrule.zeros(2, 3, 4)
    assert x.shape == (2, 3, 4) and x.ndim == 3 and x.dim() == 3
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.numel() == 24 and len(x) == 2
    assert x.dtype == chainrule.float32
    assert chainrule.zeros(2, 3).T.shape == (3, 2)
    np.testing.assert_array_equal(chainrule.arange(6).reshape(2, 3).T.array, np.arange(6).reshape(2, 3).T)


def test_item_and_tolist_and_numpy() -> None:
    assert chainrule.tensor(2.5).item() == 2.5
    assert isinstance(chainrule.tensor([3]).item(), int)
    with pytest.raises(ValueError, match="one element"):
        chainrule.ones(2).item()
    assert chainrule.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    x = chainrule.ones(2)
    array = x.numpy()
    array[0] = 5.0
    assert x.array[0] == 5.0, "numpy() shares memory, as PyTorch's"
    assert float(chainrule.tensor(1.5)) == 1.5 and int(chainrule.tensor(3)) == 3


def test_numpy_of_a_tensor_in_a_graph_raises() -> None:
    y = chainrule.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="detach"):
        y.numpy()
    assert y.detach().numpy().tolist() == [2.0, 2.0]


def test_detach_shares_data_and_leaves_the_graph() -> None:
    x = chainrule.ones(2, requires_grad=True)
    y = x * 2
    detached = y.detach()
    assert detached.grad_fn is None and not detached.requires_grad and detached.is_leaf
    detached.array[0] = 7.0
    assert y.array[0] == 7.0


def test_clone_copies_data_and_keeps_the_gradient_path() -> None:
    x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    copy = x.clone()
    assert copy.grad_fn is not None and copy.grad_fn.name() == "CloneBackward0"
    copy.detach().array[0] = 9.0
    assert x.array[0] == 1.0
    (copy * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.array, [3.0, 3.0])


def test_requires_grad_is_leaf_and_grad_fn() -> None:
    x = chainrule.ones(2)
    assert not x.requires_grad and x.is_leaf and x.grad_fn is None
    assert x.requires_grad_() is x and x.requires_grad and x.is_leaf
    y = x * 2
    assert y.requires_grad and not y.is_leaf and y.grad_fn.name() == "MulBackward0"
    assert y.grad_fn.next_functions[0][0].variable is x
    x.requires_grad_(False)
    assert not (x * 2).requires_grad


def test_truth_value_of_a_multi_element_tensor_is_ambiguous() -> None:
    assert bool(chainrule.tensor([1.0]))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(chainrule.ones(2))


# ---------------------------------------------------------------------------------- repr
@pytest.mark.parametrize("make, expected", [
    (lambda: chainrule.tensor([1.0, 2.0], requires_grad=True), "tensor([1., 2.], requires_grad=True)"),
    (lambda: chainrule.tensor([1.0, 2.0], requires_grad=True) * 2,
     "tensor([2., 4.], grad_fn=<MulBackward0>)"),
    (lambda: (chainrule.ones(2, requires_grad=True) + 1).sum(), "tensor(4., grad_fn=<SumBackward0>)"),
    (lambda: chainrule.tensor([1.5, 2.25]), "tensor([1.5000, 2.2500])"),
    (lambda: chainrule.tensor(3.5), "tensor(3.5000)"),
    (lambda: chainrule.tensor(3.0), "tensor(3.)"),
    (lambda: chainrule.tensor([1, 2]), "tensor([1, 2])"),
    (lambda: chainrule.tensor([True, False]), "tensor([ True, False])"),
    (lambda: chainrule.tensor([-1.0, 2.0]), "tensor([-1.,  2.])"),
    (lambda: chainrule.tensor([[1.0, 2.0], [3.0, 4.0]]), "tensor([[1., 2.],\n        [3., 4.]])"),
    (lambda: chainrule.tensor([1e-5, 1.0]), "tensor([1.0000e-05, 1.0000e+00])"),
    (lambda: chainrule.tensor([1.0, 2.0], dtype=chainrule.float64),
     "tensor([1., 2.], dtype=chainrule.float64)"),
    (lambda: chainrule.tensor([1, 2], dtype=chainrule.int32), "tensor([1, 2], dtype=chainrule.int32)"),
    (lambda: chainrule.zeros(0, 3), "tensor([], size=(0, 3))"),
    (lambda: chainrule.tensor([float("inf"), 1.0]), "tensor([inf, 1.])"),
])
def test_repr_is_pytorchs(make: Any, expected: str) -> None:
    assert repr(make()) == expected


_REPR_CASES = {
    "decimals": lambda lib: lib.tensor([0.1, 0.2, 0.3333]),
    "nan": lambda lib: lib.tensor(float("nan")),
    "3d": lambda lib: lib.arange(24.0).reshape(2, 3, 4) / 7,
    "summarized_int_matrix": lambda lib: lib.arange(3000).reshape(30, 100),
    "wrapped_line": lambda lib: lib.arange(40.0) / 3,
    "zeros": lambda lib: lib.zeros(2, 2),
    "zero_and_negative": lambda lib: lib.tensor([0.0, -0.5]),
    "summarized_3d": lambda lib: lib.arange(2000.0).reshape(2, 10, 100) - 5,
    "bool_column": lambda lib: lib.tensor([[True], [False]]),
    "huge": lambda lib: lib.tensor(1e10),
    "tiny_and_zero": lambda lib: lib.tensor([1e-10, 0.0]),
    "nan_and_decimal": lambda lib: lib.tensor([float("nan"), 1.5]),
    "negative_ints": lambda lib: lib.arange(-5, 5),
    "summarized_vector": lambda lib: lib.arange(2000.0),
    "wide_range": lambda lib: lib.tensor([1234567.0, 1.0]),
    "float64": lambda lib: lib.ones(2, 3, dtype=lib.float64) * 0.3,
}


@pytest.mark.parametrize("name", list(_REPR_CASES))
def test_repr_matches_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    make = _REPR_CASES[name]
    assert repr(make(chainrule)) == repr(make(torch)).replace("torch.", "chainrule.")


# ------------------------------------------------------------------------ NumPy interop
def test_numpy_arrays_on_either_side_of_operators_give_tensors() -> None:
    x = chainrule.tensor([1.0, 2.0, 3.0], requires_grad=True)
    array = np.array([2.0, 2.0, 2.0], dtype=np.float32)
    results = [x + array, array + x, x * array, array * x, x - array, array - x, x / array,
               array / x, x**array, array**x]
    expected = [[3, 4, 5], [3, 4, 5], [2, 4, 6], [2, 4, 6], [-1, 0, 1], [1, 0, -1],
                [0.5, 1, 1.5], [2, 1, 2 / 3], [1, 4, 9], [2, 4, 8]]
    for result, values in zip(results, expected):
        assert isinstance(result, chainrule.Tensor) and result.requires_grad
        np.testing.assert_allclose(result.array, values, rtol=1e-6)
    matrix = np.ones((3, 2), dtype=np.float32)
    assert isinstance(x @ matrix, chainrule.Tensor) and (x @ matrix).shape == (2,)
    assert isinstance(np.ones((2, 3), dtype=np.float32) @ x, chainrule.Tensor)


def test_numpy_scalars_on_either_side_keep_float32() -> None:
    x = chainrule.tensor([1.0, 2.0])
    for result in (x * np.float64(2.0), np.float64(2.0) * x, x + np.float64(1), np.float64(1) - x,
                   x / np.float64(3.0), np.float64(3.0) / x, x ** np.float64(2.0), x * np.int64(3)):
        assert isinstance(result, chainrule.Tensor)
        assert result.dtype == np.float32, result
    np.testing.assert_allclose((np.float64(3.0) / x).array, [3.0, 1.5])


def test_a_zero_dim_float64_tensor_does_not_promote_a_float32_one() -> None:
    """PyTorch's rule: a dimensioned tensor's dtype wins over a 0-d one of the same kind."""
    x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    scale = chainrule.tensor(0.5, dtype=chainrule.float64, requires_grad=True)
    for result in (x * scale, scale * x, x + scale, x - scale, x / scale, scale / x, x**scale,
                   chainrule.maximum(x, scale), chainrule.where(x > 1, x, scale),
                   x * np.array(0.5), np.array(0.5) + x):
        assert result.dtype == np.float32, result
    (x * scale).sum().backward()
    assert x.grad.dtype == np.float32 and scale.grad.dtype == np.float64
    np.testing.assert_allclose(scale.grad.item(), 3.0)
    dimensioned = chainrule.tensor([1.0, 2.0], dtype=chainrule.float64)
    assert (x * dimensioned).dtype == np.float64, "two dimensioned tensors promote, as PyTorch"
    assert (chainrule.tensor(1.0) * chainrule.tensor(1.0, dtype=chainrule.float64)).dtype == np.float64


def test_comparisons_give_bool_tensors_without_grad() -> None:
    x = chainrule.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result in (x > 2, x >= 2, x < 2, x <= 2, x == 2, x != 2, x > np.float64(1.5)):
        assert result.dtype == np.bool_ and not result.requires_grad
    assert (x == 2).tolist() == [False, True, False]
    assert ((x > 1) & (x < 3)).tolist() == [False, True, False]


def test_view_dtype_reinterprets_the_bytes_as_pytorch():
    x = chainrule.tensor([1.0, 2.0])
    bits = x.view(chainrule.int32)
    assert bits.tolist() == [1065353216, 1073741824]  # IEEE 754 single: 1.0 = 0x3F800000
    bits[0] = 1077936128  # 3.0: the view shares memory
    assert x.tolist() == [3.0, 2.0]
    assert chainrule.ones(2, 4).view(chainrule.float64).shape == (2, 2)
    assert chainrule.ones(2, 2).view(chainrule.uint8).shape == (2, 8)
    assert chainrule.ones(4, 2)[:, :1].view(chainrule.int16).tolist() == [[0, 16256]] * 4
    assert not chainrule.ones(2, requires_grad=True).view(chainrule.int32).requires_grad
    with pytest.raises(RuntimeError, match="self.size\\(-1\\) must be divisible by 2"):
        chainrule.ones(3).view(chainrule.float64)
    with pytest.raises(RuntimeError, match="self.dim\\(\\) cannot be 0"):
        chainrule.tensor(1.0).view(chainrule.int16)
    with pytest.raises(RuntimeError, match="self.stride\\(-1\\) must be 1"):
        chainrule.ones(4, 2).t().view(chainrule.int16)


def test_python_ints_wrap_into_integer_tensors_as_pytorch():
    """PyTorch casts a Python int to the tensor's integer dtype (modulo 2**bits) instead of
    raising: uint8 50 + 300 is 50 + 44; comparisons wrap too; beyond int64 is an OverflowError."""
    a = chainrule.tensor([50], dtype=chainrule.uint8)
    assert (a + 300).tolist() == [94] and (a + 300).dtype == chainrule.uint8
    assert (300 - a).tolist() == [250] and (a * 300).tolist() == [152] and (a % 300).tolist() == [6]
    assert (a + (-1)).tolist() == [49]
    assert (a < 300).tolist() == [False] and (a == 306).tolist() == [True]
    assert a.clone().add_(300).tolist() == [94] and a.clone().mul_(300).tolist() == [152]
    assert (chainrule.tensor([1], dtype=chainrule.int8) + 200).tolist() == [-55]
    assert (chainrule.tensor([1.0]) + 300).tolist() == [301.0]
    with pytest.raises(OverflowError):
        chainrule.tensor([5]) + 2**70


def test_python_int_wrapping_matches_pytorch():
    torch = pytest.importorskip("torch")
    for dtype in ("uint8", "int8", "int16", "int32"):
        values = [0, 7, 100]
        for scalar in (300, -1, 70000, 2**33 + 5):
            for op in (lambda t, s: t + s, lambda t, s: t * s, lambda t, s: s - t, lambda t, s: t < s):
                ours = op(chainrule.tensor(values, dtype=getattr(chainrule, dtype)), scalar)
                theirs = op(torch.tensor(values, dtype=getattr(torch, dtype)), scalar)
                assert ours.tolist() == theirs.tolist(), (dtype, scalar)


def test_shape_slices_and_sums_stay_shapes() -> None:
    # scripts write x.shape[1:].numel() and x.shape[:1] + (10,), which need torch.Size back
    shape = chainrule.zeros(2, 3, 4).shape
    assert isinstance(shape[1:], chainrule.Size) and shape[1:].numel() == 12
    assert isinstance(shape[:1] + (10,), chainrule.Size) and shape[:1] + (10,) == (2, 10)
    assert isinstance((5,) + shape, chainrule.Size) and (5,) + shape == (5, 2, 3, 4)
    assert isinstance(shape * 2, chainrule.Size) and 2 * shape == (2, 3, 4, 2, 3, 4)
    assert shape[-1] == 4 and type(shape[-1]) is int  # one dimension is an int, as in PyTorch
    with pytest.raises(TypeError):
        shape + [1]  # noqa: B018 (torch.Size refuses a list too)


# ------------------------------------------------------------------------- print options
@pytest.fixture
def default_print_options():
    yield
    chainrule.set_printoptions(profile="default")


PRINT_CASES = [
    ({"precision": 2}, [1 / 3, 2.5]),
    ({"sci_mode": True}, [1 / 3, 2.0]),
    ({"sci_mode": False}, [1e-6, 3e9]),
    ({"threshold": 5, "edgeitems": 1}, list(range(10))),
    ({"profile": "short"}, [[1 / 3] * 5] * 5),
    ({"linewidth": 30}, [1.5] * 12),
    ({"profile": "full"}, [0.5] * 1200),
]


@pytest.mark.parametrize(("options", "values"), PRINT_CASES)
def test_print_options_change_how_tensors_print(options: dict, values: list, default_print_options) -> None:
    before = repr(chainrule.tensor(values))
    chainrule.set_printoptions(**options)
    after = repr(chainrule.tensor(values))
    assert after != before
    chainrule.set_printoptions(profile="default")
    assert repr(chainrule.tensor(values)) == before


@pytest.mark.parametrize(("options", "values"), PRINT_CASES)
def test_print_options_print_as_pytorch_does(options: dict, values: list, default_print_options) -> None:
    torch = pytest.importorskip("torch")
    try:
        chainrule.set_printoptions(**options)
        torch.set_printoptions(**options)
        assert repr(chainrule.tensor(values, dtype=chainrule.float32)) == repr(
            torch.tensor(values, dtype=torch.float32))
    finally:
        torch.set_printoptions(profile="default")


def test_print_options_refuse_an_unknown_profile() -> None:
    with pytest.raises(ValueError, match="profile must be one of"):
        chainrule.set_printoptions(profile="long")


def test_small_torch_switches() -> None:
    assert chainrule.tensor([2.0]).is_nonzero() and not chainrule.is_nonzero(chainrule.tensor(0))
    with pytest.raises(RuntimeError, match="2 elements has no single truth value"):
        chainrule.is_nonzero(chainrule.ones(2))
    assert not chainrule.is_complex(chainrule.ones(1))
    chainrule.use_deterministic_algorithms(True, warn_only=True)
    assert chainrule.are_deterministic_algorithms_enabled()
    assert chainrule.is_deterministic_algorithms_warn_only_enabled()
    chainrule.use_deterministic_algorithms(False)
    assert not chainrule.are_deterministic_algorithms_enabled()
    try:
        chainrule.set_default_tensor_type(chainrule.DoubleTensor)
        assert chainrule.tensor([1.0]).dtype == chainrule.float64
        chainrule.set_default_tensor_type("torch.FloatTensor")
        assert chainrule.tensor([1.0]).dtype == chainrule.float32
        with pytest.raises(TypeError, match="only floating tensor types"):
            chainrule.set_default_tensor_type(chainrule.LongTensor)
    finally:
        chainrule.set_default_dtype(chainrule.float32)
