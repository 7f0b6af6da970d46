"""Max pooling against PyTorch where the first-maximum rule is not the whole story, on the
NumPy path and on the numba path:

* an infinite or NaN upstream gradient reaches the winner only; the other elements of the
  window get exactly 0 (not inf * 0 = NaN);
* a NaN in a window is its maximum and its winner (with several, PyTorch names the last);
* padding never wins: a window whose elements are all -inf (or all the integer minimum) names
  its first element inside the input.

Values, ``return_indices`` and gradients (first and second order) are compared with PyTorch's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import chainrule
import chainrule.nn.functional as F
from chainrule.backends import numba as numba_backend

torch = pytest.importorskip("torch")

NAN, INF = float("nan"), float("inf")


@pytest.fixture(params=["numpy", "numba"])
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test with the numba backend off, then on (restored afterwards)."""
    if request.param == "numba":
        pytest.importorskip("numba")
    saved = numba_backend.enabled
    numba_backend.enabled = request.param == "numba"
    yield request.param
    numba_backend.enabled = saved


def max_pool(spatial: int, x: Any, **kwargs: Any) -> Any:
    """chainrule's or PyTorch's max_pool1d/2d, after the module ``x`` comes from."""
    functional = torch.nn.functional if isinstance(x, torch.Tensor) else F
    pool = functional.max_pool1d if spatial == 1 else functional.max_pool2d
    return pool(x, return_indices=True, **kwargs)


def pool_both(spatial: int, data: np.ndarray, upstream: np.ndarray, probe: np.ndarray,
              **kwargs: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """(chainrule, torch) pairs of: values, indices, d<out, upstream>/dx, and the second-order
    d<that, probe>/d upstream."""
    x = chainrule.from_numpy(data).requires_grad_(True)
    u = chainrule.from_numpy(upstream).requires_grad_(True)
    out, indices = max_pool(spatial, x, **kwargs)
    (grad_x,) = chainrule.autograd.grad(out, x, grad_outputs=u, create_graph=True)
    (grad_u,) = chainrule.autograd.grad((grad_x * chainrule.from_numpy(probe)).sum(), u)

    tx = torch.from_numpy(data.copy()).requires_grad_(True)
    tu = torch.from_numpy(upstream.copy()).requires_grad_(True)
    t_out, t_indices = max_pool(spatial, tx, **kwargs)
    (t_grad_x,) = torch.autograd.grad(t_out, tx, grad_outputs=tu, create_graph=True)
    (t_grad_u,) = torch.autograd.grad((t_grad_x * torch.from_numpy(probe)).sum(), tu)
    ours = [out.array, indices.array, grad_x.array, grad_u.array]
    theirs = [t.detach().numpy() for t in (t_out, t_indices, t_grad_x, t_grad_u)]
    return list(zip(ours, theirs, strict=True))


def assert_matches_torch(pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
    for (ours, theirs), name in zip(pairs, ["values", "indices", "gradient", "second-order gradient"],
                                    strict=True):
        assert ours.shape == theirs.shape, name
        if name == "indices":
            np.testing.assert_array_equal(ours, theirs, err_msg=name)
        else:  # NaN where NaN, inf where inf; gradients summed from overlapping windows round
            # differently from PyTorch's (another order), which float32 shows after cancellation
            rtol, atol = (1e-6, 1e-12) if ours.dtype == np.float64 else (1e-5, 1e-6)
            np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, equal_nan=True, err_msg=name)


def random_normal(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


# (spatial dims, input shape, keyword arguments): windows that tile, overlap, pad, dilate and
# hang over the end (ceil_mode)
CASES = [
    (2, (2, 3, 6, 7), dict(kernel_size=2)),
    (2, (2, 3, 6, 7), dict(kernel_size=2, stride=1)),
    (2, (2, 3, 6, 7), dict(kernel_size=3, stride=2, padding=1)),
    (2, (2, 3, 6, 7), dict(kernel_size=3, stride=1, padding=1)),
    (2, (2, 3, 6, 7), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2))),
    (2, (2, 3, 7, 7), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    (2, (2, 3, 7, 7), dict(kernel_size=3, stride=2, padding=1, dilation=2)),
    (1, (2, 3, 9), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    (1, (2, 3, 9), dict(kernel_size=4, stride=1, padding=2, dilation=2)),
]


def case_id(case: tuple[int, tuple[int, ...], dict[str, Any]]) -> str:
    spatial, _, kwargs = case
    return f"{spatial}d-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


def output_shape(spatial: int, data: np.ndarray, kwargs: dict[str, Any]) -> tuple[int, ...]:
    return tuple(max_pool(spatial, torch.from_numpy(data), **kwargs)[0].shape)


# ------------------------------------------------------------- 1. non-finite gradients
def test_an_infinite_upstream_gradient_reaches_the_winner_only(path):
    # the colleague's repro: 1, 2, 3 must get 0, not inf * 0 = NaN
    x = chainrule.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], requires_grad=True)
    F.max_pool2d(x, 2).backward(chainrule.full((1, 1, 1, 1), INF))
    np.testing.assert_array_equal(x.grad.array.ravel(), [0, 0, 0, INF])


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_gradients_match_torch(path, case, dtype):
    spatial, shape, kwargs = case
    data = random_normal(shape, seed=1).astype(dtype)
    out_shape = output_shape(spatial, data, kwargs)
    rng = np.random.default_rng(2)
    # upstream gradient and second-order probe each with inf, -inf and NaN scattered in
    upstream = rng.choice([INF, -INF, NAN, 1.5, -0.5, 2.0], size=out_shape).astype(dtype)
    probe = rng.choice([INF, -INF, NAN, 1.5, -0.5, 2.0], size=shape).astype(dtype)
    assert_matches_torch(pool_both(spatial, data, upstream, probe, **kwargs))


# ---------------------------------------------------------------------- 2. NaN input
@pytest.mark.parametrize(("window", "expected_index"), [
    ([[1.0, NAN], [3.0, 0.0]], 1),  # the colleague's repro
    ([[NAN, 5.0], [3.0, 7.0]], 0),  # NaN first, larger numbers after it
    ([[1.0, NAN], [NAN, 0.0]], 2),  # two NaNs: PyTorch names the last
    ([[NAN, NAN], [NAN, NAN]], 3),
])
def test_a_nan_in_the_window_wins(path, window, expected_index):
    x = chainrule.tensor([[window]], requires_grad=True)
    out, indices = F.max_pool2d(x, 2, return_indices=True)
    t_out, t_indices = torch.nn.functional.max_pool2d(torch.tensor([[window]]), 2, return_indices=True)
    assert np.isnan(out.array.item()) and torch.isnan(t_out).item()
    assert indices.array.item() == t_indices.item() == expected_index
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.array.ravel(), np.eye(4)[expected_index])


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["contiguous", "channel-major"])
def test_nan_and_inf_inputs_match_torch(path, case, dtype, layout):
    spatial, shape, kwargs = case
    rng = np.random.default_rng(3)
    # NaNs (often two in a window), -inf, +inf and ties
    data = rng.choice([NAN, -INF, INF, 0.0, 1.0, -1.0, 2.0], size=shape,
                      p=[0.2, 0.2, 0.05, 0.15, 0.15, 0.15, 0.1])
    data = data.astype(dtype)
    if layout == "channel-major":  # as convolutions leave their outputs
        data = np.ascontiguousarray(data.swapaxes(0, 1)).swapaxes(0, 1)
    out_shape = output_shape(spatial, data, kwargs)
    upstream = rng.standard_normal(out_shape).astype(dtype)
    probe = rng.standard_normal(shape).astype(dtype)
    assert_matches_torch(pool_both(spatial, data, upstream, probe, **kwargs))


# ------------------------------------------------------------- 3. padding never wins
def test_a_window_of_minus_inf_names_an_element_inside_not_padding(path):
    # the colleague's repro
    x = chainrule.full((1, 1, 2, 2), -INF, requires_grad=True)
    out, indices = F.max_pool2d(x, 2, stride=1, padding=1, return_indices=True)
    np.testing.assert_array_equal(indices.array.ravel(), [0, 0, 1, 0, 0, 1, 2, 2, 3])
    out.backward(chainrule.arange(9.0).reshape(1, 1, 3, 3))
    # each element receives the gradients of the windows that named it
    np.testing.assert_array_equal(x.grad.array[0, 0], [[0 + 1 + 3 + 4, 2 + 5], [6 + 7, 8]])


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("fill", ["all -inf", "-inf rows"])
def test_windows_of_minus_inf_over_padding_match_torch(path, case, fill):
    spatial, shape, kwargs = case
    data = np.full(shape, -INF)
    if fill == "-inf rows":  # real numbers in the middle, -inf along the padded edges
        data[..., 2:-2] = random_normal(data[..., 2:-2].shape, seed=4)
    out_shape = output_shape(spatial, data, kwargs)
    upstream = random_normal(out_shape, seed=5)
    probe = random_normal(shape, seed=6)
    assert_matches_torch(pool_both(spatial, data, upstream, probe, **kwargs))


def test_integer_windows_of_the_lowest_value_name_an_element_inside(path):
    # integers stay on the NumPy path; their padding is the dtype's minimum, which must not win
    lowest = np.iinfo(np.int32).min
    data = np.full((1, 1, 3, 3), lowest, dtype=np.int32)
    data[0, 0, 1, 1] = 5
    _, indices = F.max_pool2d(chainrule.from_numpy(data), 2, stride=1, padding=1, return_indices=True)
    _, t_indices = torch.nn.functional.max_pool2d(torch.from_numpy(data), 2, stride=1, padding=1,
                                                  return_indices=True)
    np.testing.assert_array_equal(indices.array, t_indices.numpy())
