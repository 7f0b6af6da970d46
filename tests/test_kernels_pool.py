"""The numba pooling loops (``chainrule/kernels/pool.py``) give exactly what the NumPy path of
``chainrule/ops/pool.py`` gives: values, ``return_indices``, first- and second-order gradients,
element for element, over window geometries, dtypes, memory layouts, ties, -inf and NaN
(several NaNs in a window, windows of -inf over padding) and infinite or NaN gradients.

Every comparison also checks that the kernels did run on the numba pass and did not run on the
NumPy pass, so that no test compares the NumPy path with itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import chainrule
import chainrule.nn.functional as F
from chainrule.backends import numba as numba_backend
from chainrule.kernels import pool as pool_kernels

pytest.importorskip("numba")

KERNEL_ENTRIES = ("max_over_windows", "route_to_winners", "pick_winners", "window_sum", "window_scatter")
MAX_KERNELS = {"max_over_windows", "route_to_winners", "pick_winners"}
AVG_KERNELS = {"window_sum", "window_scatter"}


@pytest.fixture
def on_both_paths(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., tuple[Any, Any]]]:
    """``run(compute, kernels)``: ``compute()`` with the backend off, then on; checks that
    exactly the ``kernels`` entries of ``chainrule.kernels.pool`` ran on the second pass and
    none on the first. Restores ``chainrule.backends.numba.enabled`` afterwards."""
    called: set[str] = set()
    for name in KERNEL_ENTRIES:
        monkeypatch.setattr(pool_kernels, name, _recorded(getattr(pool_kernels, name), name, called))
    saved = numba_backend.enabled

    def run(compute: Callable[[], Any], kernels: set[str]) -> tuple[Any, Any]:
        numba_backend.enabled = False
        reference = compute()
        assert called == set(), "the NumPy pass ran a kernel"
        numba_backend.enabled = True
        fast = compute()
        assert called == kernels, f"kernels run: {sorted(called)}, expected {sorted(kernels)}"
        called.clear()
        return reference, fast

    yield run
    numba_backend.enabled = saved


def _recorded(function: Callable[..., Any], name: str, called: set[str]) -> Callable[..., Any]:
    def record(*args: Any) -> Any:
        called.add(name)
        return function(*args)
    return record


def assert_same(reference: list[np.ndarray], fast: list[np.ndarray], names: list[str]) -> None:
    """Equal element for element (NaN where NaN), same dtype and same memory layout (so the
    ops after pooling read the kernels' results as fast as the NumPy path's)."""
    for expected, actual, name in zip(reference, fast, names, strict=True):
        assert actual.dtype == expected.dtype, name
        assert actual.shape == expected.shape, name
        np.testing.assert_array_equal(actual, expected, err_msg=name)
        assert actual.strides == expected.strides, name


# ------------------------------------------------------------------------------ inputs
def make_input(shape: tuple[int, ...], dtype: type, layout: str, values: str, seed: int) -> np.ndarray:
    """Test data of ``shape`` (N, C, *spatial):

    * normal: distinct values;
    * relu: half zeros, as after a ReLU, so whole windows tie and the first position must win;
    * ints: a few integers, ties everywhere, and elements that many windows choose;
    * -inf: a third -inf and the first spatial row all -inf (windows of -inf and padding);
    * all -inf: nothing else, so every window that overlaps padding must name an element inside;
    * nan: some NaN and some -inf;
    * many nan: a third NaN, so windows hold several (the last must win).

    ``layout``: contiguous, channel-major (an (N, C, ...) view of (C, N, ...) memory, as
    convolutions return) or strided (a view of every other column of a wider array).
    """
    rng = np.random.default_rng(seed)
    if layout == "strided":
        wide = rng.standard_normal((*shape[:-1], 2 * shape[-1]))
        x = wide[..., ::2]
    else:
        x = rng.standard_normal(shape)
    if values == "relu":
        x = np.maximum(x, 0)
    elif values == "ints":
        x = np.round(x)
    elif values == "-inf":
        x = np.where(rng.random(shape) < 0.35, -np.inf, x)
        x[..., 0, :] = -np.inf
    elif values == "all -inf":
        x = np.full_like(x, -np.inf)
    elif values == "nan":
        x = np.where(rng.random(shape) < 0.15, np.nan, np.where(rng.random(shape) < 0.15, -np.inf, x))
    elif values == "many nan":
        x = np.where(rng.random(shape) < 0.35, np.nan, x)
    if layout == "strided":
        return x.astype(dtype, copy=False)  # keeps the view when the dtype is float64
    return channel_major(x.astype(dtype)) if layout == "channel-major" else x.astype(dtype)


def channel_major(array: np.ndarray) -> np.ndarray:
    """The same values as an (N, C, ...) view of (C, N, ...) memory."""
    return np.ascontiguousarray(array.swapaxes(0, 1)).swapaxes(0, 1)


def like_layout(array: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``array`` in ``reference``'s memory order (channel-major or not), as a network's
    upstream gradient is after elementwise ops."""
    if reference.strides[1] > reference.strides[0]:
        return channel_major(array)
    return np.ascontiguousarray(array)


def gradients_both_orders(out: chainrule.Tensor, x: chainrule.Tensor, seed: int,
                          layout: Callable[[np.ndarray], np.ndarray],
                          non_finite: bool = False) -> list[np.ndarray]:
    """d<out, u>/dx, then d<that, v>/du (the second-order path: the pooling's backward is
    linear in u), for random u and v (with inf, -inf and NaN scattered in if ``non_finite``);
    ``layout`` puts u in the memory order wanted."""
    rng = np.random.default_rng(seed)

    def random(shape: tuple[int, ...]) -> np.ndarray:
        values = rng.standard_normal(shape)
        if non_finite:
            values = np.where(rng.random(shape) < 0.3, rng.choice([np.inf, -np.inf, np.nan], shape), values)
        return values.astype(x.dtype)

    upstream = chainrule.from_numpy(layout(random(out.shape)))
    upstream.requires_grad_(True)
    (grad_x,) = chainrule.autograd.grad(out, x, grad_outputs=upstream, create_graph=True)
    probe = chainrule.from_numpy(random(x.shape))
    (grad_upstream,) = chainrule.autograd.grad((grad_x * probe).sum(), upstream)
    return [grad_x.array, grad_upstream.array]


# ------------------------------------------------------------------------- max pooling
# (spatial dims, input shape, keyword arguments). Both windows that tile and windows that
# overlap (where an element can receive the gradients of several windows, summed in order).
MAX_POOL_CASES = [
    (2, (2, 3, 7, 8), dict(kernel_size=2)),
    (2, (2, 3, 7, 8), dict(kernel_size=2, stride=1)),
    (2, (2, 3, 7, 8), dict(kernel_size=3, stride=2, padding=1)),
    (2, (2, 3, 7, 8), dict(kernel_size=3, stride=1, padding=1)),
    (2, (2, 3, 7, 8), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2))),
    (2, (2, 3, 7, 8), dict(kernel_size=3, stride=2, ceil_mode=True)),
    (2, (2, 3, 7, 8), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    (2, (2, 3, 7, 8), dict(kernel_size=(2, 3), stride=1, dilation=2)),
    (2, (2, 3, 8, 6), dict(kernel_size=2)),  # windows that tile the whole input
    (2, (2, 3, 9, 8), dict(kernel_size=(3, 2))),
    (1, (2, 3, 11), dict(kernel_size=2)),
    (1, (2, 3, 11), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    (1, (2, 3, 11), dict(kernel_size=4, stride=1, padding=2, dilation=2)),
    (1, (2, 3, 12), dict(kernel_size=3)),
]
MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d}


def _case_id(case: tuple[int, tuple[int, ...], dict[str, Any]]) -> str:
    spatial, _, kwargs = case
    return f"{spatial}d-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("case", MAX_POOL_CASES, ids=_case_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["contiguous", "channel-major", "strided"])
@pytest.mark.parametrize("values", ["normal", "relu", "ints", "-inf", "all -inf", "nan", "many nan"])
def test_max_pool_matches_numpy_path(on_both_paths, case, dtype, layout, values):
    spatial, shape, kwargs = case
    data = make_input(shape, dtype, layout, values, seed=len(values))

    def compute() -> list[np.ndarray]:
        x = chainrule.from_numpy(data).requires_grad_(True)
        out, indices = MAX_POOL[spatial](x, return_indices=True, **kwargs)
        layout = lambda u: like_layout(u, out.array)  # noqa: E731
        return [out.array, indices.array, *gradients_both_orders(out, x, 7, layout)]

    reference, fast = on_both_paths(compute, MAX_KERNELS)
    assert_same(reference, fast, ["values", "indices", "gradient", "second-order gradient"])


@pytest.mark.parametrize("case", MAX_POOL_CASES, ids=_case_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["contiguous", "channel-major"])
def test_max_pool_non_finite_gradients_match_numpy_path(on_both_paths, case, dtype, layout):
    # inf * 0 would put NaN beside each winner; both paths must leave exact zeros there
    spatial, shape, kwargs = case
    data = make_input(shape, dtype, layout, "normal", seed=6)

    def compute() -> list[np.ndarray]:
        x = chainrule.from_numpy(data).requires_grad_(True)
        out = MAX_POOL[spatial](x, **kwargs)
        return gradients_both_orders(out, x, 12, lambda u: like_layout(u, out.array), non_finite=True)

    reference, fast = on_both_paths(compute, MAX_KERNELS)
    assert_same(reference, fast, ["gradient", "second-order gradient"])
    assert not np.isnan(reference[0]).all()  # the finite parts of the gradient got through


@pytest.mark.parametrize("case", MAX_POOL_CASES[:4] + MAX_POOL_CASES[10:12], ids=_case_id)
@pytest.mark.parametrize("layout", ["contiguous", "channel-major"])
def test_max_pool_gradient_in_another_layout_than_the_input(on_both_paths, case, layout):
    spatial, shape, kwargs = case
    data = make_input(shape, np.float32, layout, "ints", seed=3)

    def other_layout(upstream: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(upstream) if layout == "channel-major" else channel_major(upstream)

    def compute() -> list[np.ndarray]:
        x = chainrule.from_numpy(data).requires_grad_(True)
        out = MAX_POOL[spatial](x, **kwargs)
        return gradients_both_orders(out, x, 5, other_layout)

    assert_same(*on_both_paths(compute, MAX_KERNELS), ["gradient", "second-order gradient"])


def test_max_pool_of_a_large_channel_major_batch_matches_numpy_path(on_both_paths):
    # the shape of the first pool of the benchmark CNN, smaller batch
    data = make_input((4, 32, 26, 26), np.float32, "channel-major", "relu", seed=11)

    def compute() -> list[np.ndarray]:
        x = chainrule.from_numpy(data).requires_grad_(True)
        out, indices = F.max_pool2d(x, 2, return_indices=True)
        layout = lambda u: like_layout(u, out.array)  # noqa: E731
        return [out.array, indices.array, *gradients_both_orders(out, x, 2, layout)]

    reference, fast = on_both_paths(compute, MAX_KERNELS)
    assert_same(reference, fast, ["values", "indices", "gradient", "second-order gradient"])


def test_max_pool_ties_go_to_the_first_maximum():
    # a check of the kernel alone, not against the NumPy path: all-equal windows pick position 0
    numba_backend.enabled = True
    x = chainrule.zeros(1, 1, 4, 4, requires_grad=True)
    out, indices = F.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(indices.array, [[[[0, 2], [8, 10]]]])
    out.sum().backward()
    expected = [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
    np.testing.assert_array_equal(x.grad.array[0, 0], expected)


# ----------------------------------------------------------------------- average pooling
AVG_POOL_CASES = [
    (2, (2, 3, 7, 8), dict(kernel_size=2)),
    (2, (2, 3, 7, 8), dict(kernel_size=3, stride=1, padding=1)),
    (2, (2, 3, 7, 8), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    (1, (2, 3, 11), dict(kernel_size=3, stride=2, padding=1)),
]
AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d}


@pytest.mark.parametrize("case", AVG_POOL_CASES, ids=_case_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["contiguous", "channel-major", "strided"])
@pytest.mark.parametrize("values", ["normal", "nan"])
def test_avg_pool_matches_numpy_path(on_both_paths, case, dtype, layout, values):
    spatial, shape, kwargs = case
    data = make_input(shape, dtype, layout, values, seed=4)

    def compute() -> list[np.ndarray]:
        x = chainrule.from_numpy(data).requires_grad_(True)
        out = AVG_POOL[spatial](x, **kwargs)
        return [out.array, *gradients_both_orders(out, x, 8, lambda u: like_layout(u, out.array))]

    reference, fast = on_both_paths(compute, AVG_KERNELS)
    assert_same(reference, fast, ["values", "gradient", "second-order gradient"])


def test_adaptive_avg_pool_over_tiling_bins_matches_numpy_path(on_both_paths):
    data = make_input((2, 3, 8, 6), np.float32, "channel-major", "normal", seed=5)

    def compute() -> list[np.ndarray]:
        x = chainrule.from_numpy(data).requires_grad_(True)
        out = F.adaptive_avg_pool2d(x, (4, 3))
        return [out.array, *gradients_both_orders(out, x, 9, lambda u: like_layout(u, out.array))]

    assert_same(*on_both_paths(compute, AVG_KERNELS), ["values", "gradient", "second-order gradient"])


# ------------------------------------------------------------------- what stays on NumPy
@pytest.mark.parametrize("dtype", [np.int32, np.float16])
def test_integer_and_half_inputs_stay_on_the_numpy_path(on_both_paths, dtype):
    data = np.arange(32).astype(dtype).reshape(1, 2, 4, 4)
    reference, fast = on_both_paths(lambda: F.max_pool2d(chainrule.from_numpy(data), 2).array, set())
    np.testing.assert_array_equal(fast, reference)
    np.testing.assert_array_equal(fast[0, 0], [[5, 7], [13, 15]])
