"""Type promotion as PyTorch's, over every binary op and dtype pair: against PyTorch when it is
installed, against the checked-in table (tests/promotion_table.json) always."""

import json

import numpy as np
import pytest
from promotion_cases import TABLE_PATH, cases, key, result, table

import chainrule

# Where PyTorch refuses a Python number but chainrule accepts it (the result dtype is still
# PyTorch's rule); every other refusal must be a refusal here too.
LENIENT_OPS = ("maximum", "minimum")


def _mismatches(expected: dict[str, str]) -> list[str]:
    problems = []
    for case in cases():
        want, got = expected[key(case)], result(chainrule, case)
        if want == "error" and case[0] in LENIENT_OPS and case[3] == "number":
            continue
        if want != got:
            problems.append(f"{key(case)}: PyTorch {want}, chainrule {got}")
    return problems


def test_every_binary_op_and_dtype_pair_follows_the_checked_in_table():
    expected = json.loads(TABLE_PATH.read_text())
    assert len(expected) == sum(1 for _ in cases())
    problems = _mismatches(expected)
    assert not problems, f"{len(problems)} cases differ, e.g.\n" + "\n".join(problems[:20])


def test_checked_in_table_is_pytorchs():
    torch = pytest.importorskip("torch")
    assert json.loads(TABLE_PATH.read_text()) == table(torch), (
        "tests/promotion_table.json is stale; regenerate it with python tests/promotion_cases.py"
    )


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda t: t.ones(2) * t.ones(2, dtype=t.int64), "float32"),
        (lambda t: t.ones(2) + t.tensor(3), "float32"),
        (lambda t: t.ones(2) * t.tensor(2.0, dtype=t.float64), "float32"),
        (lambda t: t.tensor([1, 2]) / 2, "float32"),
        (lambda t: t.tensor([1, 2]) + 0.5, "float32"),
        (lambda t: t.tensor([True]) + 1.5, "float32"),
        (lambda t: t.tensor([1, 2]) // 2, "int64"),
        (lambda t: t.tensor([1.0, 2.0]) // 2, "float32"),
        (lambda t: t.tensor([1, 2]) % 1.5, "float32"),
        (lambda t: 2.0 ** t.tensor([1, 2]), "float32"),
        (lambda t: 2 ** t.tensor([1, 2]), "int64"),
        (lambda t: t.tensor([1, 2]).exp(), "float32"),
        (lambda t: t.sqrt(t.tensor([1, 4])), "float32"),
        (lambda t: t.sigmoid(t.tensor([1, 4], dtype=t.int32)), "float32"),
        (lambda t: t.tensor([1, 2], dtype=t.int32) + 5, "int32"),
        (lambda t: t.ones(2, dtype=t.float16) + 0.5, "float16"),
        (lambda t: t.ones(2, dtype=t.float16) * t.ones(2, dtype=t.int64), "float16"),
    ],
)
def test_the_silent_float64_cases_stay_in_pytorchs_dtype(make, expected):
    assert str(make(chainrule).dtype) == expected
    torch = pytest.importorskip("torch")
    assert str(make(torch).dtype) == f"torch.{expected}"


def test_float32_parameters_get_float32_gradients_from_mixed_dtype_maths():
    weight = chainrule.ones(3, requires_grad=True)
    scale = chainrule.tensor(2.0, dtype=chainrule.float64, requires_grad=True)
    counts = chainrule.tensor([1, 2, 3])
    loss = (weight * scale * counts / 2).sum()
    assert loss.dtype == chainrule.float32
    loss.backward()
    assert weight.grad.dtype == chainrule.float32 and scale.grad.dtype == chainrule.float64
    np.testing.assert_allclose(weight.grad.numpy(), [1.0, 2.0, 3.0])
    np.testing.assert_allclose(scale.grad.numpy(), 3.0)


def test_result_type_promote_types_and_can_cast_match_pytorch():
    dtypes = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
    torch = pytest.importorskip("torch")
    for first in dtypes:
        for second in dtypes:
            ours = chainrule.promote_types(getattr(chainrule, first), getattr(chainrule, second))
            theirs = torch.promote_types(getattr(torch, first), getattr(torch, second))
            assert f"torch.{ours}" == str(theirs), (first, second)
            assert chainrule.can_cast(
                getattr(chainrule, first), getattr(chainrule, second)
            ) == torch.can_cast(getattr(torch, first), getattr(torch, second)), (first, second)
    for number in (True, 2, 0.5):
        for dtype in dtypes:
            ours = chainrule.result_type(chainrule.ones(2, dtype=getattr(chainrule, dtype)), number)
            theirs = torch.result_type(torch.ones(2, dtype=getattr(torch, dtype)), number)
            assert f"torch.{ours}" == str(theirs), (dtype, number)


def test_promotion_rules_hold_without_pytorch():
    assert chainrule.promote_types(chainrule.int64, chainrule.float16) == chainrule.float16
    assert chainrule.promote_types(chainrule.uint8, chainrule.int8) == chainrule.int16
    assert chainrule.promote_types(chainrule.bool, chainrule.uint8) == chainrule.uint8
    assert (
        chainrule.result_type(chainrule.ones(2), chainrule.tensor(1.0, dtype=chainrule.float64))
        == chainrule.float32
    )
    assert (
        chainrule.result_type(chainrule.tensor(1), chainrule.tensor(1.0, dtype=chainrule.float64))
        == chainrule.float64
    )
    assert chainrule.result_type(chainrule.tensor([1]), 2.5) == chainrule.float32
    assert not chainrule.can_cast(chainrule.float32, chainrule.int32)
    assert not chainrule.can_cast(chainrule.int8, chainrule.bool)
    assert chainrule.can_cast(chainrule.bool, chainrule.float16)


@pytest.mark.parametrize(
    ("use", "message"),
    [
        (lambda t: t.nn.Linear(2, 2).double()(t.ones(1, 2)), "dtype"),
        (lambda t: t.ones(2, 2) @ t.ones(2, 2, dtype=t.float64), "dtype"),
        (lambda t: t.tensor([1, 2]).add_(0.5), "can't"),
        (lambda t: t.tensor([1, 2]).div_(2), "can't"),
        (lambda t: t.tensor([1, 2]).mul_(t.ones(2)), "can't"),
        (lambda t: t.tensor([True]) - t.tensor([True]), "(?i)subtraction"),
    ],
)
def test_where_pytorch_raises_chainrule_raises(use, message):
    with pytest.raises(RuntimeError, match=message):
        use(chainrule)
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        use(torch)


def test_in_place_ops_that_fit_still_work():
    counts = chainrule.tensor([1, 2])
    counts.add_(1)
    counts.mul_(3)
    assert counts.tolist() == [6, 9] and counts.dtype == chainrule.int64
    floats = chainrule.ones(2)
    floats.add_(chainrule.tensor([1, 2]))
    assert floats.tolist() == [2.0, 3.0] and floats.dtype == chainrule.float32


def test_assigning_a_wrong_grad_fails_at_the_assignment():
    def assign(lib, value):
        weight = lib.ones(2, 3, requires_grad=True)
        weight.grad = value(lib)

    for value, error in (
        (lambda lib: 0.0, TypeError),
        (lambda lib: lib.ones(3, 2), RuntimeError),
        (lambda lib: lib.ones(2, 3, dtype=lib.float64), RuntimeError),
    ):
        with pytest.raises(error, match="assigned grad"):
            assign(chainrule, value)
    weight = chainrule.ones(2, 3, requires_grad=True)
    weight.grad = chainrule.full((2, 3), 0.5)
    weight.grad = None
    assert weight.grad is None
    torch = pytest.importorskip("torch")
    for value, error in ((lambda lib: 0.0, TypeError), (lambda lib: lib.ones(3, 2), RuntimeError)):
        with pytest.raises(error):
            assign(torch, value)


def test_view_of_a_non_contiguous_tensor_raises_as_pytorch():
    def attempt(lib):
        x = lib.arange(6.0).reshape(2, 3)
        return x.t().view(-1)

    with pytest.raises(RuntimeError, match="not contiguous.*reshape"):
        attempt(chainrule)
    x = chainrule.arange(6.0).reshape(2, 3)
    assert x.t().view(3, 2, 1).shape == (3, 2, 1)  # splitting a dim needs no copy: allowed
    assert not x.t().is_contiguous() and x.t().contiguous().is_contiguous()
    assert x.t().contiguous().view(-1).tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        attempt(torch)
    assert torch.arange(6.0).reshape(2, 3).t().view(3, 2, 1).shape == (3, 2, 1)
