"""The array functions without gradients (counting, bucketing, grids, index helpers) and the
namespace of chainrule.array_functions. The differentiable ones are in the op database.

Each is checked against NumPy's own function (so a wrong result fails with PyTorch absent) and,
when PyTorch is installed, against PyTorch's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule

RNG = np.random.default_rng(8)
VALUES = RNG.standard_normal((3, 4))
COUNTS = np.array([0, 3, 1, 3, 5])
SORTED = np.array([-1.0, 0.0, 0.5, 2.0])

CASES: list[tuple[str, Callable[[Any], Any], Callable[[], np.ndarray]]] = [
    ("bincount", lambda lib: lib.bincount(lib.tensor(COUNTS)), lambda: np.bincount(COUNTS)),
    ("bincount_weights", lambda lib: lib.bincount(lib.tensor(COUNTS), lib.tensor(VALUES[0, :1].repeat(5)), 7),
     lambda: np.bincount(COUNTS, VALUES[0, :1].repeat(5), 7)),
    ("histc", lambda lib: lib.histc(lib.tensor(VALUES), 4, -1, 1),
     lambda: np.histogram(VALUES, 4, (-1, 1))[0].astype(np.float64)),
    ("searchsorted", lambda lib: lib.searchsorted(lib.tensor(SORTED), lib.tensor(VALUES)),
     lambda: np.searchsorted(SORTED, VALUES)),
    ("searchsorted_right",
     lambda lib: lib.searchsorted(lib.tensor(SORTED), lib.tensor([0.0, 0.5]), right=True),
     lambda: np.searchsorted(SORTED, [0.0, 0.5], side="right")),
    ("bucketize", lambda lib: lib.bucketize(lib.tensor(VALUES), lib.tensor(SORTED)),
     lambda: np.searchsorted(SORTED, VALUES)),
    ("meshgrid_ij", lambda lib: lib.meshgrid(lib.tensor([1, 2, 3]), lib.tensor([4, 5]), indexing="ij")[0],
     lambda: np.meshgrid([1, 2, 3], [4, 5], indexing="ij")[0]),
    ("meshgrid_xy", lambda lib: lib.meshgrid(lib.tensor([1, 2, 3]), lib.tensor([4, 5]), indexing="xy")[1],
     lambda: np.meshgrid([1, 2, 3], [4, 5], indexing="xy")[1]),
    ("cartesian_prod", lambda lib: lib.cartesian_prod(lib.tensor([1, 2]), lib.tensor([3, 4, 5])),
     lambda: np.array([[a, b] for a in (1, 2) for b in (3, 4, 5)])),
    ("tril_indices", lambda lib: lib.tril_indices(3, 4, 1), lambda: np.stack(np.tril_indices(3, 1, 4))),
    ("triu_indices", lambda lib: lib.triu_indices(4, 3, -1), lambda: np.stack(np.triu_indices(4, -1, 3))),
    ("logspace", lambda lib: lib.logspace(0, 2, 5, base=2.0, dtype=lib.float64),
     lambda: np.logspace(0, 2, 5, base=2.0)),
    ("signbit", lambda lib: lib.signbit(lib.tensor([-0.0, 0.0, -2.0])),
     lambda: np.array([True, False, True])),
    ("heaviside", lambda lib: lib.heaviside(lib.tensor([-1.0, 0.0, 2.0]), lib.tensor([0.5])),
     lambda: np.heaviside([-1.0, 0.0, 2.0], 0.5)),
    ("aminmax", lambda lib: lib.stack(list(lib.aminmax(lib.tensor(VALUES), dim=1))),
     lambda: np.stack([VALUES.min(1), VALUES.max(1)])),
    ("broadcast_shapes", lambda lib: lib.tensor(list(lib.broadcast_shapes((2, 1), (3,)))),
     lambda: np.array([2, 3])),
    ("atleast_3d", lambda lib: lib.tensor(list(lib.atleast_3d(lib.tensor([1.0, 2.0])).shape)),
     lambda: np.array(np.atleast_3d([1.0, 2.0]).shape)),
    ("repeat_interleave_counts", lambda lib: lib.repeat_interleave(lib.tensor([2, 0, 1])),
     lambda: np.array([0, 0, 2])),
]


def _numpy(value: Any) -> np.ndarray:
    return np.asarray(value.array if isinstance(value, chainrule.Tensor) else value.numpy())


@pytest.mark.parametrize(("name", "call", "reference"), CASES, ids=[case[0] for case in CASES])
def test_matches_numpy(name: str, call: Callable[[Any], Any], reference: Callable[[], np.ndarray]) -> None:
    got = _numpy(call(chainrule))
    np.testing.assert_allclose(got.astype(np.float64), np.asarray(reference(), np.float64), rtol=1e-12)


@pytest.mark.parametrize(("name", "call", "reference"), CASES, ids=[case[0] for case in CASES])
def test_matches_pytorch(name: str, call: Callable[[Any], Any], reference: Any, torch: Any) -> None:
    ours, theirs = _numpy(call(chainrule)), _numpy(call(torch))
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours.astype(np.float64), theirs.astype(np.float64), rtol=1e-6)
    if name not in ("broadcast_shapes", "atleast_3d"):
        assert ours.dtype == theirs.dtype, f"{name}: dtype {ours.dtype}, PyTorch {theirs.dtype}"


def test_numpy_names_are_aliases_and_existing_names_are_kept() -> None:
    assert chainrule.moveaxis is chainrule.movedim and chainrule.swapaxes is not None
    assert chainrule.row_stack is chainrule.vstack
    x = chainrule.randn(2, 3, 4)
    assert x.moveaxis(0, -1).shape == x.movedim(0, -1).shape == (3, 4, 2)
    # a name chainrule already had keeps its own function (flip is the op, not a composition)
    assert chainrule.flip is chainrule.ops.movement.flip


@pytest.fixture
def torch() -> Any:
    return pytest.importorskip("torch")
