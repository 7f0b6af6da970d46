"""L-BFGS (``step(closure)``), against a NumPy reference written from Nocedal & Wright, against
the strong Wolfe conditions it promises, and against PyTorch when installed; plus the clear
errors for what chainrule does not do (other line searches, SparseAdam)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from optim_reference import reference_lbfgs

import chainrule
from chainrule import optim
from chainrule.errors import InputError
from chainrule.optim.lbfgs import cubic_minimizer, strong_wolfe

START = np.array([-1.2, 1.0, 0.5, -0.3])


def _rosenbrock(x: np.ndarray) -> tuple[float, np.ndarray]:
    """The n-dimensional Rosenbrock function and its gradient, in NumPy."""
    value = np.sum((1 - x[:-1]) ** 2) + 100 * np.sum((x[1:] - x[:-1] ** 2) ** 2)
    grad = np.zeros_like(x)
    grad[:-1] += -2 * (1 - x[:-1]) - 400 * x[:-1] * (x[1:] - x[:-1] ** 2)
    grad[1:] += 200 * (x[1:] - x[:-1] ** 2)
    return float(value), grad


def _tensor_rosenbrock(x):
    return ((1 - x[:-1]) ** 2).sum() + 100 * ((x[1:] - x[:-1] ** 2) ** 2).sum()


def _optimize(library, calls: int, start: np.ndarray = START, **options):
    """``calls`` LBFGS steps on Rosenbrock in ``library``; the parameter, the losses returned
    and the optimizer."""
    x = library.nn.Parameter(library.tensor(start.copy()))
    optimizer = library.optim.LBFGS([x], **options)

    def closure():
        optimizer.zero_grad()
        loss = _tensor_rosenbrock(x)
        loss.backward()
        return loss

    losses = [float(optimizer.step(closure).detach()) for _ in range(calls)]
    return x, losses, optimizer


@pytest.mark.parametrize("options", [dict(), dict(lr=0.5, max_iter=7, history_size=3)])
def test_fixed_step_follows_the_numpy_reference(options):
    x, losses, _ = _optimize(chainrule, 4, **options)
    expected_x, expected_losses = reference_lbfgs(_rosenbrock, START.copy(), calls=4, **options)
    np.testing.assert_allclose(x.detach().numpy(), expected_x, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-10)
    assert losses[-1] < losses[0] / 10  # and the steps are real progress


def test_strong_wolfe_reaches_the_rosenbrock_minimum():
    x, losses, optimizer = _optimize(chainrule, 3, start=np.array([-1.5, 2.0]), line_search_fn="strong_wolfe")
    np.testing.assert_allclose(x.detach().numpy(), [1.0, 1.0], atol=1e-5)
    assert losses[0] > 1 and optimizer.state[x]["func_evals"] > optimizer.state[x]["n_iter"]


def test_strong_wolfe_returns_a_step_that_meets_both_conditions():
    x0 = START.copy()
    loss, grad = _rosenbrock(x0)
    direction = -grad
    gtd = float(grad @ direction)

    def objective(t):
        return _rosenbrock(x0 + t * direction)

    # start from a step far too long, so the search must bracket and zoom
    new_loss, new_grad, t, evaluations = strong_wolfe(objective, 1.0, direction, loss, grad, gtd)
    assert evaluations > 1
    assert new_loss <= loss + 1e-4 * t * gtd  # sufficient decrease
    assert abs(float(new_grad @ direction)) <= 0.9 * abs(gtd)  # curvature
    np.testing.assert_allclose(new_loss, objective(t)[0])


def test_cubic_minimizer_finds_a_cubics_minimum():
    # f(x) = x³ − 3x has its local minimum at 1; sampled at 0 and 2 with slopes −3 and 9
    assert cubic_minimizer(0.0, 0.0, -3.0, 2.0, 2.0, 9.0) == pytest.approx(1.0)
    # rising at both ends with no turning point (x³-like, d1 = 0): the midpoint of the bounds
    assert cubic_minimizer(0.0, 0.0, 2.0, 1.0, 4 / 3, 2.0, bounds=(2.0, 4.0)) == 3.0


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
@pytest.mark.parametrize("options", [dict(), dict(lr=0.5, max_iter=7, history_size=3)])
def test_matches_pytorch(line_search_fn, options):
    torch = pytest.importorskip("torch")
    ours, our_losses, our_optimizer = _optimize(chainrule, 5, line_search_fn=line_search_fn, **options)
    theirs, their_losses, their_optimizer = _optimize(torch, 5, line_search_fn=line_search_fn, **options)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(our_losses, their_losses, rtol=1e-9)
    for key in ("func_evals", "n_iter"):
        assert our_optimizer.state[ours][key] == their_optimizer.state[theirs][key]


def test_state_dict_round_trip_resumes_exactly():
    straight, straight_losses, _ = _optimize(chainrule, 4, max_iter=3)
    x, _, optimizer = _optimize(chainrule, 2, max_iter=3)
    saved = copy.deepcopy({"x": x.detach().numpy(), "optimizer": optimizer.state_dict()})
    assert {
        "d",
        "t",
        "old_dirs",
        "old_stps",
        "ro",
        "H_diag",
        "prev_flat_grad",
        "prev_loss",
        "n_iter",
        "func_evals",
    } <= set(saved["optimizer"]["state"][0])

    resumed = chainrule.nn.Parameter(chainrule.tensor(saved["x"]))
    resumed_optimizer = optim.LBFGS([resumed], max_iter=3)
    resumed_optimizer.load_state_dict(saved["optimizer"])

    def closure():
        resumed_optimizer.zero_grad()
        loss = _tensor_rosenbrock(resumed)
        loss.backward()
        return loss

    losses = [float(resumed_optimizer.step(closure)) for _ in range(2)]
    np.testing.assert_array_equal(resumed.detach().numpy(), straight.detach().numpy())
    assert losses == straight_losses[2:]


def test_lr_scheduler_drives_its_step_length():
    x, _, optimizer = _optimize(chainrule, 0, max_iter=1)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    before = x.detach().numpy().copy()

    def closure():
        optimizer.zero_grad()
        loss = _tensor_rosenbrock(x)
        loss.backward()
        return loss

    optimizer.step(closure)
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == 0.5
    moved = x.detach().numpy() - before
    # the first step is −min(1, 1/‖g‖₁) · lr · g
    grad = _rosenbrock(before)[1]
    np.testing.assert_allclose(moved, -min(1.0, 1.0 / np.abs(grad).sum()) * grad)


def test_refuses_what_it_does_not_do_in_one_sentence():
    x = chainrule.nn.Parameter(chainrule.ones(2))
    with pytest.raises(InputError, match="line_search_fn='backtracking' is not supported; use None"):
        optim.LBFGS([x], line_search_fn="backtracking")
    with pytest.raises(InputError, match="needs a closure"):
        optim.LBFGS([x]).step()
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [x]}, {"params": [chainrule.nn.Parameter(chainrule.ones(2))], "lr": 0.1}])


def test_sparse_adam_says_there_are_no_sparse_tensors():
    with pytest.raises(InputError, match="SparseAdam needs sparse gradients.*use chainrule.optim.Adam"):
        optim.SparseAdam([chainrule.nn.Parameter(chainrule.ones(2))])


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: optim.Adamax(p, betas=(0.9, 1.0)), "Invalid beta parameter at index 1"),
        (lambda p: optim.NAdam(p, momentum_decay=-1), "Invalid momentum_decay value: -1"),
        (lambda p: optim.RAdam(p, eps=-1), "Invalid epsilon value"),
        (lambda p: optim.ASGD(p, weight_decay=-1), "Invalid weight_decay value"),
        (lambda p: optim.Rprop(p, etas=(1.5, 1.2)), "Invalid eta values"),
    ],
)
def test_new_optimizers_refuse_invalid_hyperparameters(make, message):
    with pytest.raises(ValueError, match=message):
        make([chainrule.nn.Parameter(chainrule.ones(2))])
