"""PyTorch as an oracle: every OpInfo sample of ``op_db`` runs the same call on chainrule and on
PyTorch (float64); values, gradients and, on the small samples, second-order gradients must
agree to rtol 1e-6. Skipped when PyTorch is not installed (it is never a dependency)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from op_db import GRADGRAD_MAX_ELEMENTS, OP_DB, OpInfo, SampleInput, to_library

import chainrule
import chainrule.nn.functional as F

torch = pytest.importorskip("torch")

RTOL, ATOL = 1e-6, 1e-9


def _cases() -> list[Any]:
    return [pytest.param(op, index, id=f"{op.name}-{sample.desc or index}")
            for op in OP_DB for index, sample in enumerate(op.sample_inputs())]


def _run(op: OpInfo, sample: SampleInput, lib: Any) -> tuple[list[Any], list[Any]]:
    args = [to_library(a, lib) for a in sample.args]
    kwargs = {k: to_library(v, lib, requires_grad=False) for k, v in sample.kwargs.items()}
    function = op.torch_op if lib is torch and op.torch_op is not None else op.op
    out = function(lib, *args, **kwargs)
    return args, list(out) if isinstance(out, tuple | list) else [out]


def _as_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().numpy(force=True)  # force: materialized zeros are ZeroTensors
    return value.detach().array if isinstance(value, chainrule.Tensor) else np.asarray(value)


def _assert_close(ours: Any, theirs: Any, what: str) -> None:
    ours, theirs = _as_numpy(ours), _as_numpy(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape}, PyTorch {theirs.shape}"
    if theirs.dtype.kind == "f":
        assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype}, PyTorch {theirs.dtype}"
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL, err_msg=what)
    else:
        np.testing.assert_array_equal(ours, theirs, err_msg=what)


def _differentiable(args: list[Any], outputs: list[Any]) -> tuple[list[Any], list[Any]]:
    inputs = [a for a in args if getattr(a, "requires_grad", False)]
    return inputs, [o for o in outputs if o.requires_grad]


@pytest.mark.parametrize("op, index", _cases())
def test_values_and_gradients_match_pytorch(op: OpInfo, index: int) -> None:
    sample = op.sample_inputs()[index]
    our_args, ours = _run(op, sample, chainrule)
    their_args, theirs = _run(op, sample, torch)
    assert len(ours) == len(theirs)
    for k, (mine, other) in enumerate(zip(ours, theirs)):
        _assert_close(mine, other, f"{op.name} output {k}")
    our_inputs, our_outputs = _differentiable(our_args, ours)
    their_inputs, their_outputs = _differentiable(their_args, theirs)
    assert len(our_outputs) == len(their_outputs), f"{op.name}: which outputs require grad differs"
    if not op.supports_grad or not our_outputs:
        return
    rng = np.random.default_rng(index)
    covectors = [rng.standard_normal(o.shape) for o in our_outputs]
    second_order = (op.supports_gradgrad and sample.gradgrad
                    and sample.differentiable_size() <= GRADGRAD_MAX_ELEMENTS)
    our_grads = chainrule.autograd.grad(our_outputs, our_inputs, [chainrule.tensor(v) for v in covectors],
                                        create_graph=second_order, allow_unused=True)
    their_grads = torch.autograd.grad(their_outputs, their_inputs, [torch.tensor(v) for v in covectors],
                                      create_graph=second_order, allow_unused=True)
    for k, (mine, other) in enumerate(zip(our_grads, their_grads)):
        if other is None:
            assert mine is None or not np.any(mine.array), f"{op.name}: gradient {k} should be None/zero"
            continue
        assert mine is not None, f"{op.name}: no gradient for input {k}, PyTorch has one"
        _assert_close(mine, other, f"{op.name} gradient of input {k}")
    if second_order:
        _check_second_order(op, our_inputs, our_grads, their_inputs, their_grads, rng)


def _check_second_order(op: OpInfo, our_inputs: list[Any], our_grads: tuple[Any, ...],
                        their_inputs: list[Any], their_grads: tuple[Any, ...],
                        rng: np.random.Generator) -> None:
    """Differentiate <gradient, w> once more and compare (a Hessian-vector product)."""
    pairs = [(mine, other) for mine, other in zip(our_grads, their_grads)
             if other is not None and other.requires_grad]
    if not pairs:
        return
    weights = [rng.standard_normal(other.shape) for _, other in pairs]
    our_total = sum((mine * chainrule.tensor(w)).sum() for (mine, _), w in zip(pairs, weights))
    their_total = sum((other * torch.tensor(w)).sum() for (_, other), w in zip(pairs, weights))
    if not getattr(our_total, "requires_grad", False):
        # chainrule's first-order gradient is a constant here; PyTorch's must then be too.
        assert all(not np.any(_as_numpy(h)) for h in torch.autograd.grad(
            their_total, their_inputs, allow_unused=True, materialize_grads=True)), op.name
        return
    ours = chainrule.autograd.grad(our_total, our_inputs, allow_unused=True, materialize_grads=True)
    theirs = torch.autograd.grad(their_total, their_inputs, allow_unused=True, materialize_grads=True)
    for k, (mine, other) in enumerate(zip(ours, theirs)):
        _assert_close(mine, other, f"{op.name} second-order gradient of input {k}")


# --------------------------------------------------------------- cross-entropy stability
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cross_entropy_of_logits_of_plus_minus_1000_is_finite_and_matches_pytorch(dtype: str) -> None:
    logits = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 1000.0], [1000.0, 1000.0, -1000.0]])
    target = np.array([1, 2, 0])
    ours = chainrule.tensor(logits, dtype=dtype, requires_grad=True)
    theirs = torch.tensor(logits, dtype=getattr(torch, dtype), requires_grad=True)
    our_loss = F.cross_entropy(ours, chainrule.tensor(target))
    their_loss = torch.nn.functional.cross_entropy(theirs, torch.tensor(target))
    our_loss.backward()
    their_loss.backward()
    assert np.isfinite(our_loss.item()) and np.isfinite(ours.grad.array).all()
    assert our_loss.dtype == np.dtype(dtype) and ours.grad.dtype == np.dtype(dtype)
    rtol = RTOL if dtype == "float64" else 1e-5
    np.testing.assert_allclose(our_loss.item(), their_loss.item(), rtol=rtol)
    np.testing.assert_allclose(ours.grad.array, theirs.grad.numpy(), rtol=rtol, atol=1e-7)


def test_binary_cross_entropy_with_logits_of_plus_minus_1000_matches_pytorch() -> None:
    logits = np.array([1000.0, -1000.0, 1000.0, -1000.0])
    target = np.array([0.0, 1.0, 1.0, 0.0])
    ours = chainrule.tensor(logits, requires_grad=True, dtype=chainrule.float64)
    theirs = torch.tensor(logits, requires_grad=True)
    F.binary_cross_entropy_with_logits(ours, chainrule.tensor(target)).backward()
    their_loss = torch.nn.functional.binary_cross_entropy_with_logits(theirs, torch.tensor(target))
    their_loss.backward()
    np.testing.assert_allclose(ours.grad.array, theirs.grad.numpy(), rtol=RTOL)


def test_log_softmax_and_logsumexp_of_large_logits_match_pytorch() -> None:
    logits = np.array([[1000.0, 999.0, -1000.0], [-5000.0, 0.0, 5000.0]])
    ours = chainrule.tensor(logits, requires_grad=True, dtype=chainrule.float64)
    theirs = torch.tensor(logits, requires_grad=True)
    weights = np.array([[0.5, -1.0, 2.0], [1.0, 3.0, -0.5]])
    (F.log_softmax(ours, dim=1) * chainrule.tensor(weights)).sum().backward()
    (torch.log_softmax(theirs, dim=1) * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(ours.grad.array, theirs.grad.numpy(), rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(chainrule.logsumexp(ours, dim=1).array,
                               torch.logsumexp(theirs, dim=1).detach().numpy(), rtol=RTOL)


# ------------------------------------------------------------- edge points, as PyTorch
# The op database keeps samples clear of kinks, ties, zeros and infinities (finite
# differences can't judge them); here PyTorch's conventions at those points are the oracle.
EDGE_CASES: dict[str, tuple[Any, list[Any]]] = {
    "pow_zero_base_tensor_exponent": (lambda lib, a, b: a**b, [[0.0, 2.0, 0.0, 3.0], [2.0, 3.0, 0.0, 0.0]]),
    "pow_zero_base_scalar_exponents": (lambda lib, a: a**2 + a**3 + a**0 + a**1.5, [[0.0, 1.5]]),
    "rpow_zero_base": (lambda lib, b: 0.0**b, [[2.0, 0.5, 0.0]]),
    "rpow_negative_base": (lambda lib, b: (-2.0) ** b, [[2.0, 3.0]]),
    "sqrt_at_zero": (lambda lib, a: lib.sqrt(a), [[0.0, 2.0]]),
    "abs_at_zero": (lambda lib, a: lib.abs(a), [[0.0, -1.0]]),
    "relu_at_zero": (lambda lib, a: lib.relu(a), [[0.0, -1.0, 1.0]]),
    "leaky_relu_at_zero": (lambda lib, a: lib.nn.functional.leaky_relu(a, 0.2), [[0.0, -1.0]]),
    "clamp_at_bounds": (lambda lib, a: lib.clamp(a, -1.0, 1.0), [[-1.0, 1.0, 0.0, 2.0]]),
    "maximum_ties": (lambda lib, a, b: lib.maximum(a, b), [[1.0, 2.0], [1.0, 3.0]]),
    "minimum_ties": (lambda lib, a, b: lib.minimum(a, b), [[1.0, 2.0], [1.0, 3.0]]),
    "amax_ties": (lambda lib, a: lib.amax(a, dim=1), [[[2.0, 2.0, 1.0], [0.0, 5.0, 5.0]]]),
    "max_all_ties": (lambda lib, a: lib.max(a), [[[2.0, 2.0], [1.0, 2.0]]]),
    "max_dim_ties": (lambda lib, a: lib.max(a, dim=1).values, [[[2.0, 2.0, 1.0], [0.0, 5.0, 5.0]]]),
    "norm_of_zeros": (lambda lib, a: a.norm(dim=1), [[[0.0, 0.0], [3.0, 4.0]]]),
    "prod_with_zeros": (lambda lib, a: lib.prod(a, dim=1), [[[0.0, 2.0, 3.0], [0.0, 0.0, 1.0]]]),
    "std_of_one_element": (lambda lib, a: a.std(), [[1.5]]),
    "logsumexp_of_minus_inf": (lambda lib, a: lib.logsumexp(a, dim=0), [[-np.inf, -np.inf]]),
    "logsumexp_with_inf": (lambda lib, a: lib.logsumexp(a, dim=0), [[np.inf, 1.0]]),
    "softplus_at_threshold": (lambda lib, a: lib.nn.functional.softplus(a), [[20.0, -30.0, 19.999]]),
    "sigmoid_extremes": (lambda lib, a: lib.sigmoid(a), [[-800.0, 800.0]]),
    "smooth_l1_at_beta": (lambda lib, a, t: lib.nn.functional.smooth_l1_loss(a, t),
                          [[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]]),
    "huber_at_delta": (lambda lib, a, t: lib.nn.functional.huber_loss(a, t),
                       [[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]]),
    "l1_at_zero_difference": (lambda lib, a, t: lib.nn.functional.l1_loss(a, t), [[1.0, 2.0], [1.0, 0.0]]),
    "where_hides_nan_branch": (lambda lib, a: lib.where(a > 0, a.sqrt(), a * 0), [[4.0, -1.0]]),
    "bce_at_zero_and_one": (lambda lib, p, t: lib.nn.functional.binary_cross_entropy(p, t),
                            [[0.0, 1.0, 0.5, 0.0, 1.0], [0.0, 1.0, 1.0, 1.0, 0.0]]),
}


@pytest.mark.parametrize("name", list(EDGE_CASES))
@pytest.mark.filterwarnings("ignore")
def test_edge_points_match_pytorch(name: str) -> None:
    function, values = EDGE_CASES[name]
    results = []
    for lib in (chainrule, torch):
        tensors = [lib.tensor(v, dtype=lib.float64, requires_grad=True) for v in values]
        with np.errstate(all="ignore"):
            out = function(lib, *tensors)
            out.sum().backward()
        results.append((_as_numpy(out), [_as_numpy(t.grad) for t in tensors]))
    (our_out, our_grads), (their_out, their_grads) = results
    np.testing.assert_allclose(our_out, their_out, rtol=RTOL, equal_nan=True, err_msg=f"{name} value")
    for k, (mine, other) in enumerate(zip(our_grads, their_grads)):
        np.testing.assert_allclose(mine, other, rtol=RTOL, atol=1e-12, equal_nan=True,
                                   err_msg=f"{name} gradient of input {k}")
