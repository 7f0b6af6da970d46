"""Every op in ``op_db.OP_DB``, on every sample: forward against its NumPy reference, gradients
against finite differences (first order, and second order on the small samples), float32 in
gives float32 out. A coverage test makes sure no registered op escapes these checks.

Dedicated tests at the end pin the rules at the points the samples avoid on purpose (ties of
max/min, the kinks of abs/relu/clamp) and the random op, dropout.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from op_db import (
    CORE_MODULES,
    GRADGRAD_MAX_ELEMENTS,
    OP_DB,
    TESTED_ELSEWHERE,
    OpInfo,
    SampleInput,
    to_library,
    to_numpy,
)

import chainrule
import chainrule.nn.functional as F
from chainrule.autograd import gradcheck, gradgradcheck
from chainrule.autograd.function import OP_REGISTRY, Function

ROOT = Path(__file__).resolve().parents[1]


def _eligible_for_gradgrad(op: OpInfo, sample: SampleInput) -> bool:
    return (op.supports_grad and op.supports_gradgrad and sample.gradgrad
            and 0 < sample.differentiable_size() <= GRADGRAD_MAX_ELEMENTS)


def _cases(keep: Any = lambda op, sample: True) -> list[Any]:
    cases = []
    for op in OP_DB:
        for index, sample in enumerate(op.sample_inputs()):
            if keep(op, sample):
                cases.append(pytest.param(op, index, id=f"{op.name}-{sample.desc or index}"))
    return cases


def call(op: OpInfo, sample: SampleInput, dtype: Any = None) -> tuple[list[Any], list[chainrule.Tensor]]:
    """Run ``op`` on chainrule; returns the tensor arguments and the outputs as a list."""
    args = [to_library(a, chainrule, dtype) for a in sample.args]
    kwargs = {k: to_library(v, chainrule, dtype, requires_grad=False) for k, v in sample.kwargs.items()}
    out = op.op(chainrule, *args, **kwargs)
    return args, list(out) if isinstance(out, tuple | list) else [out]


def reference(op: OpInfo, sample: SampleInput) -> list[np.ndarray]:
    args = [to_numpy(a) for a in sample.args]
    kwargs = {k: to_numpy(v) for k, v in sample.kwargs.items()}
    expected = op.ref(*args, **kwargs)
    return [np.asarray(e) for e in (expected if isinstance(expected, tuple | list) else [expected])]


def _function_of_tensors(op: OpInfo, sample: SampleInput) -> Any:
    kwargs = {k: to_library(v, chainrule, requires_grad=False) for k, v in sample.kwargs.items()}
    return lambda *tensors: op.op(chainrule, *tensors, **kwargs)


def _grad_inputs(args: list[Any]) -> list[chainrule.Tensor]:
    return [a for a in args if isinstance(a, chainrule.Tensor) and a.requires_grad]


# ------------------------------------------------------------------- the op database tests
@pytest.mark.parametrize("op, index", _cases())
def test_forward_matches_numpy(op: OpInfo, index: int) -> None:
    sample = op.sample_inputs()[index]
    args, outputs = call(op, sample)
    expected = reference(op, sample)
    assert len(outputs) == len(expected), f"{op.name}: {len(outputs)} outputs, expected {len(expected)}"
    differentiable = op.supports_grad and bool(_grad_inputs(args))
    for got, want in zip(outputs, expected):
        assert isinstance(got, chainrule.Tensor)
        assert got.shape == want.shape, f"{op.name}: shape {got.shape}, expected {want.shape}"
        if want.dtype.kind == "f":
            assert got.dtype == np.float64, f"{op.name}: float64 inputs gave {got.dtype}"
            np.testing.assert_allclose(got.array, want, rtol=1e-7, atol=1e-12)
            assert got.requires_grad == differentiable
        else:
            assert got.dtype == (np.bool_ if want.dtype == np.bool_ else np.int64)
            np.testing.assert_array_equal(got.array, want)
            assert not got.requires_grad


@pytest.mark.parametrize("op, index", _cases(lambda op, sample: op.supports_grad))
def test_gradcheck(op: OpInfo, index: int) -> None:
    sample = op.sample_inputs()[index]
    args = [to_library(a, chainrule) for a in sample.args]
    assert gradcheck(_function_of_tensors(op, sample), args, eps=op.gradcheck_eps,
                     atol=op.gradcheck_atol, rtol=op.gradcheck_rtol)


@pytest.mark.parametrize("op, index", _cases(_eligible_for_gradgrad))
def test_gradgradcheck(op: OpInfo, index: int) -> None:
    sample = op.sample_inputs()[index]
    args = [to_library(a, chainrule) for a in sample.args]
    assert gradgradcheck(_function_of_tensors(op, sample), args, eps=op.gradcheck_eps,
                         atol=op.gradcheck_atol, rtol=op.gradcheck_rtol)


@pytest.mark.parametrize("op, index", _cases())
def test_float32_stays_float32(op: OpInfo, index: int) -> None:
    """No silent float64 promotion: float32 inputs give float32 outputs and gradients."""
    sample = op.sample_inputs()[index]
    args, outputs = call(op, sample, dtype=np.float32)
    expected = reference(op, sample)
    for got, want in zip(outputs, expected):
        if want.dtype.kind == "f" and op.preserves_dtype:
            assert got.dtype == np.float32, f"{op.name}: float32 inputs gave a {got.dtype} output"
            scale = float(np.abs(want).max()) if want.size else 1.0
            np.testing.assert_allclose(got.array, want, rtol=1e-4, atol=1e-5 * max(scale, 1.0))
    differentiable = [o for o in outputs if o.requires_grad]
    if not differentiable:
        return
    chainrule.autograd.backward(differentiable, [chainrule.ones_like(o) for o in differentiable])
    for a in _grad_inputs(args):
        assert a.grad is not None and a.grad.dtype == np.float32, f"{op.name}: gradient dtype"
        assert a.grad.shape == a.shape


def test_every_op_has_a_sample_small_enough_for_gradgradcheck() -> None:
    missing = [op.name for op in OP_DB if op.supports_grad and op.supports_gradgrad
               and not any(_eligible_for_gradgrad(op, s) for s in op.sample_inputs())]
    assert not missing, f"OpInfos with no sample of <= {GRADGRAD_MAX_ELEMENTS} elements: {missing}"


# ------------------------------------------------------------------------------ coverage
@pytest.fixture
def applied_ops(monkeypatch: pytest.MonkeyPatch) -> set[type]:
    """Record every Function subclass whose ``apply`` runs (forward or inside a backward)."""
    applied: set[type] = set()
    original_apply = Function.apply.__func__

    def recording_apply(cls: type, *args: Any, **kwargs: Any) -> Any:
        applied.add(cls)
        return original_apply(cls, *args, **kwargs)

    monkeypatch.setattr(Function, "apply", classmethod(recording_apply))
    return applied


def _import_all_of_chainrule() -> None:
    """Import every chainrule module, so that every op there is in OP_REGISTRY."""
    for module in pkgutil.walk_packages(chainrule.__path__, "chainrule."):
        if not module.name.endswith("__main__"):  # runs the command line when imported
            importlib.import_module(module.name)


def _run_first_and_second_order(op: OpInfo, sample: SampleInput) -> None:
    args, outputs = call(op, sample)
    inputs = _grad_inputs(args)
    differentiable = [o for o in outputs if o.requires_grad]
    if not op.supports_grad or not inputs or not differentiable:
        return
    grads = chainrule.autograd.grad(differentiable, inputs, [chainrule.ones_like(o) for o in differentiable],
                                    create_graph=True, allow_unused=True)
    second = [g.sum() for g in grads if g is not None and g.requires_grad]
    if second and op.supports_gradgrad:
        chainrule.autograd.backward(second)


def _runs_gradcheck(test_file: Path) -> bool:
    return test_file.exists() and "gradcheck(" in test_file.read_text()


def coverage_problems(applied_ops: set[type]) -> list[str]:
    """What keeps OP_REGISTRY from being fully checked, one message per kind of gap."""
    unchecked, unlisted, missing_files = [], [], []
    for name, cls in sorted(OP_REGISTRY.items()):
        if cls.__module__.startswith(("tests.", "test_")):
            continue  # a deliberately wrong op defined by a test (e.g. test_gradcheck.py)
        if cls.__module__ in CORE_MODULES:
            if cls not in applied_ops:
                unchecked.append(f"{cls.__module__}.{name}")
        elif name not in TESTED_ELSEWHERE:
            unlisted.append(f"{cls.__module__}.{name}")
        elif not _runs_gradcheck(ROOT / TESTED_ELSEWHERE[name]):
            missing_files.append(f"{name} -> {TESTED_ELSEWHERE[name]}")
    problems = []
    if unchecked:
        problems.append(f"core ops that no OpInfo sample in tests/op_db.py exercises: {unchecked}. "
                        "Add an OpInfo (NumPy reference and samples) so they are gradient-checked.")
    if unlisted:
        problems.append(f"ops outside the core modules that no test is known to check: {unlisted}. "
                        "Add an OpInfo in tests/op_db.py, or list each in op_db.TESTED_ELSEWHERE "
                        "with the test file that gradient-checks it.")
    if missing_files:
        problems.append(f"op_db.TESTED_ELSEWHERE names test files that don't exist or never call "
                        f"gradcheck: {missing_files}")
    return problems


def test_every_registered_op_is_checked(applied_ops: set[type]) -> None:
    _import_all_of_chainrule()
    for op in OP_DB:
        for sample in op.sample_inputs():
            _run_first_and_second_order(op, sample)
    problems = coverage_problems(applied_ops)
    assert not problems, "\n".join(problems)


def test_a_new_op_nobody_checks_fails_the_coverage_check() -> None:
    core_classes = {cls for cls in OP_REGISTRY.values() if cls.__module__ in CORE_MODULES}
    new_ops = {
        "CoverageProbeCoreOp": "chainrule.ops.elementwise",
        "CoverageProbeLayerOp": "chainrule.ops.some_new_layer",
    }
    try:
        for name, module in new_ops.items():
            type(name, (Function,), {"__module__": module})  # registers itself
        problems = "\n".join(coverage_problems(core_classes))
    finally:
        for name in new_ops:
            OP_REGISTRY.pop(name, None)
    assert "no OpInfo sample in tests/op_db.py exercises: ['chainrule.ops.elementwise.CoverageProbeCoreOp']" \
        in problems
    assert "no test is known to check: ['chainrule.ops.some_new_layer.CoverageProbeLayerOp']" in problems
    assert "TESTED_ELSEWHERE" in problems


def test_tested_elsewhere_lists_only_existing_non_core_ops() -> None:
    _import_all_of_chainrule()
    stale = [name for name in TESTED_ELSEWHERE
             if name not in OP_REGISTRY or OP_REGISTRY[name].__module__ in CORE_MODULES]
    assert not stale, f"op_db.TESTED_ELSEWHERE lists ops that are gone or in the core: {stale}"


# --------------------------------------------------------- rules at ties and kinks (as PyTorch)
def _grad_of(function: Any, *values: Any) -> list[np.ndarray]:
    tensors = [chainrule.tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for v in values]
    function(*tensors).sum().backward()
    return [t.grad.array for t in tensors]


def test_abs_has_zero_gradient_at_zero() -> None:
    (grad,) = _grad_of(chainrule.abs, [-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(grad, [-1.0, 0.0, 1.0])


def test_relu_has_zero_gradient_at_zero() -> None:
    (grad,) = _grad_of(chainrule.relu, [-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(grad, [0.0, 0.0, 1.0])
    (grad,) = _grad_of(F.leaky_relu, [-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(grad, [0.01, 0.01, 1.0])


def test_clamp_passes_the_gradient_at_its_bounds() -> None:
    (grad,) = _grad_of(lambda x: x.clamp(-1.0, 1.0), [-2.0, -1.0, 0.0, 1.0, 2.0])
    np.testing.assert_array_equal(grad, [0.0, 1.0, 1.0, 1.0, 0.0])


def test_maximum_and_minimum_split_the_gradient_at_ties() -> None:
    grad_a, grad_b = _grad_of(chainrule.maximum, [1.0, 2.0, 3.0], [1.0, 5.0, 0.0])
    np.testing.assert_array_equal(grad_a, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(grad_b, [0.5, 1.0, 0.0])
    grad_a, grad_b = _grad_of(chainrule.minimum, [1.0, 2.0, 3.0], [1.0, 5.0, 0.0])
    np.testing.assert_array_equal(grad_a, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(grad_b, [0.5, 0.0, 1.0])


def test_full_max_and_amax_split_the_gradient_evenly_among_ties() -> None:
    (grad,) = _grad_of(lambda x: x.max(), [[3.0, 1.0], [3.0, 3.0]])
    np.testing.assert_allclose(grad, [[1 / 3, 0.0], [1 / 3, 1 / 3]])
    (grad,) = _grad_of(lambda x: x.amax(dim=1), [[3.0, 3.0, 1.0], [0.0, 2.0, 1.0]])
    np.testing.assert_allclose(grad, [[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]])
    (grad,) = _grad_of(lambda x: x.amin(dim=0), [[1.0, 2.0], [1.0, 0.0]])
    np.testing.assert_allclose(grad, [[0.5, 0.0], [0.5, 1.0]])


def test_max_with_dim_sends_the_gradient_to_the_returned_index() -> None:
    x = chainrule.tensor([[2.0, 5.0, 5.0], [1.0, 1.0, 0.0]], dtype=chainrule.float64, requires_grad=True)
    values, indices = x.max(dim=1)
    values.sum().backward()
    expected = np.zeros((2, 3))
    expected[np.arange(2), indices.array] = 1.0
    np.testing.assert_array_equal(x.grad.array, expected)
    assert indices.tolist() == [1, 0]  # the first of the tied maxima, as PyTorch


def test_norm_has_zero_gradient_at_the_zero_vector() -> None:
    (grad,) = _grad_of(lambda x: x.norm(dim=1), [[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(grad, [[0.0, 0.0], [0.6, 0.8]])


def test_sigmoid_and_softmax_of_extreme_inputs_do_not_overflow() -> None:
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        x = chainrule.tensor([-1000.0, 0.0, 1000.0], requires_grad=True)
        out = chainrule.sigmoid(x)
        out.sum().backward()
        np.testing.assert_allclose(out.array, [0.0, 0.5, 1.0])
        np.testing.assert_allclose(x.grad.array, [0.0, 0.25, 0.0])
        logits = chainrule.tensor([[1000.0, -1000.0, 0.0]], requires_grad=True)
        F.log_softmax(logits, dim=1).sum().backward()
        assert np.isfinite(logits.grad.array).all()


def test_binary_cross_entropy_of_a_saturated_sigmoid_has_finite_gradients() -> None:
    logits = chainrule.tensor([20.0, -120.0, 0.0], requires_grad=True)
    probabilities = chainrule.sigmoid(logits)
    assert probabilities.array[0] == 1.0 and probabilities.array[1] == 0.0  # float32 saturates
    F.binary_cross_entropy(probabilities, chainrule.tensor([1.0, 0.0, 1.0])).backward()
    # d/dp = (p - y) / max(p (1 - p), 1e-12): 0 at the saturated points; -2 at p = 0.5, times
    # sigmoid'(0) = 1/4 and the mean's 1/3.
    np.testing.assert_allclose(logits.grad.array, [0.0, 0.0, -1 / 6], rtol=1e-6)


def test_pow_at_a_zero_base_has_pytorchs_gradients() -> None:
    base_grad, exponent_grad = _grad_of(lambda a, b: a**b, [0.0, 0.0, 2.0], [0.0, 2.0, 3.0])
    # d/da b a^(b-1): 0 where b == 0 (not 0 * inf); d/db a^b log a: 0 where a == 0.
    np.testing.assert_allclose(base_grad, [0.0, 0.0, 12.0])
    np.testing.assert_allclose(exponent_grad, [0.0, 0.0, 8 * np.log(2.0)])
    (grad,) = _grad_of(lambda b: 0.0**b, [2.0, 0.5])
    np.testing.assert_array_equal(grad, [0.0, 0.0])
    (grad,) = _grad_of(lambda b: (-2.0) ** b, [2.0])
    assert np.isnan(grad).all()  # log of a negative base, as PyTorch


# -------------------------------------------------------------------------------- indexing
def test_repeated_indices_accumulate_their_gradients() -> None:
    (grad,) = _grad_of(lambda x: x[[0, 2, 0, 0]] * chainrule.tensor([1.0, 2.0, 3.0, 4.0]).double(),
                       [10.0, 20.0, 30.0])
    np.testing.assert_array_equal(grad, [8.0, 0.0, 2.0])
    (grad,) = _grad_of(lambda x: chainrule.index_select(x, 1, chainrule.tensor([1, 1, 0])),
                       [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(grad, [[1.0, 2.0], [1.0, 2.0]])
    (grad,) = _grad_of(lambda x: x.gather(1, chainrule.tensor([[0, 0, 0], [1, 0, 1]])),
                       [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(grad, [[3.0, 0.0], [1.0, 2.0]])


def test_boolean_mask_gradient_is_the_mask() -> None:
    mask = chainrule.tensor([[True, False], [False, True]])
    (grad,) = _grad_of(lambda x: x[mask] * 5, [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(grad, [[5.0, 0.0], [0.0, 5.0]])


# --------------------------------------------------------------------------------- dropout
def test_dropout_mask_statistics_and_scale() -> None:
    chainrule.manual_seed(0)
    p = 0.3
    x = chainrule.ones(200, 500)
    out = F.dropout(x, p=p)
    kept = out.array != 0
    # 100,000 Bernoulli(0.7) draws: the kept fraction is within 5 standard deviations of 0.7.
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / kept.size)
    np.testing.assert_allclose(out.array[kept], 1 / (1 - p), rtol=1e-6)
    assert out.dtype == np.float32


def test_dropout_gradient_is_the_mask_times_the_scale() -> None:
    chainrule.manual_seed(1)
    x = chainrule.randn(30, 40, dtype=chainrule.float64, requires_grad=True)
    out = F.dropout(x, p=0.5)
    mask = out.array != 0
    weights = chainrule.randn(30, 40, dtype=chainrule.float64)
    (out * weights).sum().backward()
    np.testing.assert_allclose(x.grad.array, mask * 2.0 * weights.array)
    np.testing.assert_allclose(out.array, mask * 2.0 * x.array)


def test_dropout_is_the_identity_in_eval_and_for_p0_and_zero_for_p1() -> None:
    x = chainrule.randn(4, 5)
    np.testing.assert_array_equal(F.dropout(x, p=0.5, training=False).array, x.array)
    np.testing.assert_array_equal(F.dropout(x, p=0.0).array, x.array)
    np.testing.assert_array_equal(F.dropout(x, p=1.0).array, np.zeros((4, 5)))
    with pytest.raises(ValueError, match="dropout"):
        F.dropout(x, p=1.5)


def test_dropout_is_reproducible_under_manual_seed() -> None:
    chainrule.manual_seed(7)
    first = F.dropout(chainrule.ones(50)).array
    chainrule.manual_seed(7)
    np.testing.assert_array_equal(F.dropout(chainrule.ones(50)).array, first)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_fused_cross_entropy_equals_log_softmax_then_nll(reduction: str) -> None:
    """The one-node cross-entropy for class indices gives the numbers of the clear path."""
    from chainrule.nn import functional as F
    from chainrule.ops.loss import CrossEntropyIndices

    rng = np.random.default_rng(0)
    logits = rng.standard_normal((7, 5)) * 3
    target = np.array([0, 4, 2, -100, 1, 1, 3])  # one ignored row
    fused_x = chainrule.tensor(logits, requires_grad=True)
    clear_x = chainrule.tensor(logits, requires_grad=True)
    fused = F.cross_entropy(fused_x, chainrule.tensor(target), reduction=reduction)
    assert isinstance(fused.grad_fn, CrossEntropyIndices)
    clear = F.nll_loss(F.log_softmax(clear_x, dim=1), chainrule.tensor(target), reduction=reduction)
    np.testing.assert_allclose(fused.detach().numpy(), clear.detach().numpy(), rtol=1e-12)
    seed = np.arange(1.0, 8.0) if reduction == "none" else np.array(1.0)
    fused.backward(chainrule.tensor(seed))
    clear.backward(chainrule.tensor(seed))
    np.testing.assert_allclose(fused_x.grad.numpy(), clear_x.grad.numpy(), rtol=1e-12, atol=1e-15)
