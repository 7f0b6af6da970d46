"""Learning-rate schedules: 50-step lr (and momentum) sequences against PyTorch's,
ReduceLROnPlateau on metric sequences, state_dict round trips, epoch arguments, bad input."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import chainrule
from chainrule import optim
from chainrule.optim import lr_scheduler

STEPS = 50


def _optimizer(library, kind="SGD"):
    """An optimizer over two groups (lr 0.1 and 0.02) of one parameter each."""
    if library == "chainrule":
        make_param = lambda: chainrule.nn.Parameter(chainrule.ones(2))  # noqa: E731
        module = optim
    else:
        make_param = lambda: library.ones(2, requires_grad=True)  # noqa: E731
        module = library.optim
    groups = [{"params": [make_param()]}, {"params": [make_param()], "lr": 0.02}]
    if kind == "SGD":
        return module.SGD(groups, lr=0.1, momentum=0.9)
    if kind == "Adam":
        return module.Adam(groups, lr=0.1)
    return module.Adagrad(groups, lr=0.1)


def _schedule_cases(m):
    """name -> (optimizer kind, function(optimizer) -> scheduler) for scheduler module m."""
    return {
        "StepLR": ("SGD", lambda o: m.StepLR(o, step_size=7, gamma=0.5)),
        "MultiStepLR": ("SGD", lambda o: m.MultiStepLR(o, milestones=[5, 15, 15, 30], gamma=0.5)),
        "ExponentialLR": ("SGD", lambda o: m.ExponentialLR(o, gamma=0.95)),
        "CosineAnnealingLR": ("SGD", lambda o: m.CosineAnnealingLR(o, T_max=12, eta_min=0.001)),
        "LinearLR-warmup": ("SGD", lambda o: m.LinearLR(o, start_factor=0.1, total_iters=10)),
        "LinearLR-decay": ("SGD", lambda o: m.LinearLR(o, start_factor=1.0, end_factor=0.1,
                                                        total_iters=20)),
        "ConstantLR": ("SGD", lambda o: m.ConstantLR(o, factor=0.25, total_iters=8)),
        "LambdaLR": ("SGD", lambda o: m.LambdaLR(o, [lambda e: 0.9**e, lambda e: 1.0 / (e + 1)])),
        "MultiplicativeLR": ("SGD", lambda o: m.MultiplicativeLR(o, lambda e: 0.97)),
        "PolynomialLR": ("SGD", lambda o: m.PolynomialLR(o, total_iters=30, power=2.0)),
        "OneCycleLR-cos-momentum": ("SGD", lambda o: m.OneCycleLR(o, max_lr=[0.5, 0.1], total_steps=STEPS)),
        "OneCycleLR-linear-betas": ("Adam", lambda o: m.OneCycleLR(
            o, max_lr=0.3, epochs=5, steps_per_epoch=10, anneal_strategy="linear", pct_start=0.25)),
        "OneCycleLR-three-phase": ("SGD", lambda o: m.OneCycleLR(
            o, max_lr=0.4, total_steps=STEPS, three_phase=True, base_momentum=0.8, max_momentum=0.9,
            div_factor=10.0, final_div_factor=100.0)),
        "OneCycleLR-no-momentum": ("Adagrad", lambda o: m.OneCycleLR(
            o, max_lr=0.4, total_steps=STEPS, cycle_momentum=False)),
        "SequentialLR": ("SGD", lambda o: m.SequentialLR(
            o, [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=45)],
            milestones=[5])),
        "SequentialLR-three": ("SGD", lambda o: m.SequentialLR(
            o, [m.ConstantLR(o, factor=0.5, total_iters=4), m.ExponentialLR(o, gamma=0.9),
                m.StepLR(o, step_size=5, gamma=0.5)], milestones=[10, 25])),
        "ChainedScheduler": ("SGD", lambda o: m.ChainedScheduler(
            [m.ConstantLR(o, factor=0.1, total_iters=3), m.ExponentialLR(o, gamma=0.9)])),
        "CyclicLR-triangular": ("SGD", lambda o: m.CyclicLR(o, base_lr=0.01, max_lr=[0.1, 0.05],
                                                           step_size_up=4, step_size_down=6)),
        "CyclicLR-triangular2-betas": ("Adam", lambda o: m.CyclicLR(o, base_lr=0.01, max_lr=0.2,
                                                                   step_size_up=5, mode="triangular2")),
        "CyclicLR-exp_range": ("SGD", lambda o: m.CyclicLR(o, base_lr=0.02, max_lr=0.3, step_size_up=3,
                                                          mode="exp_range", gamma=0.97)),
        "CyclicLR-scale_fn": ("Adagrad", lambda o: m.CyclicLR(
            o, base_lr=0.02, max_lr=0.3, step_size_up=3, scale_fn=lambda x: 1.0 / (1.0 + 0.1 * x),
            scale_mode="iterations", cycle_momentum=False)),
        "CosineAnnealingWarmRestarts": ("SGD", lambda o: m.CosineAnnealingWarmRestarts(
            o, T_0=5, T_mult=2, eta_min=0.01)),
        "CosineAnnealingWarmRestarts-constant": ("SGD", lambda o: m.CosineAnnealingWarmRestarts(o, T_0=7)),
    }


def _run_schedule(library, name, steps=STEPS):
    module = lr_scheduler if library == "chainrule" else library.optim.lr_scheduler
    kind, make = _schedule_cases(module)[name]
    optimizer = _optimizer(library, kind)
    scheduler = make(optimizer)
    lrs, momenta, last_lrs = [], [], []

    def record():
        lrs.append([group["lr"] for group in optimizer.param_groups])
        last_lrs.append(list(scheduler.get_last_lr()))
        momenta.append([group.get("momentum", group.get("betas", (0.0,))[0])
                        for group in optimizer.param_groups])

    record()
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        record()
    return np.array(lrs), np.array(last_lrs), np.array(momenta), optimizer


@pytest.mark.parametrize("name", list(_schedule_cases(lr_scheduler)))
def test_lr_sequence_matches_pytorch(name):
    torch = pytest.importorskip("torch")
    ours, our_last, our_momenta, optimizer = _run_schedule("chainrule", name)
    theirs, their_last, their_momenta, _ = _run_schedule(torch, name)
    assert len(np.unique(ours[:, 0])) >= 2  # the schedule really changes the lr
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)
    np.testing.assert_allclose(our_last, their_last, rtol=1e-12, atol=0)
    np.testing.assert_allclose(our_momenta, their_momenta, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(our_last, ours)


def test_initial_lr_and_base_lrs():
    optimizer = _optimizer("chainrule")
    scheduler = lr_scheduler.ExponentialLR(optimizer, gamma=0.5)
    assert [group["initial_lr"] for group in optimizer.param_groups] == [0.1, 0.02]
    assert scheduler.base_lrs == [0.1, 0.02]
    assert scheduler.last_epoch == 0
    optimizer.step()
    scheduler.step()
    assert scheduler.get_last_lr() == [0.05, 0.01]
    assert scheduler.last_epoch == 1


def test_cosine_annealing_follows_the_closed_form_over_many_steps():
    optimizer = _optimizer("chainrule")
    scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=10, eta_min=0.01)
    for epoch in range(1, 200):
        optimizer.step()
        scheduler.step()
        expected = 0.01 + (0.1 - 0.01) * (1 + math.cos(math.pi * epoch / 10)) / 2
        assert scheduler.get_last_lr()[0] == pytest.approx(expected, rel=1e-10, abs=1e-14)


# --------------------------------------------------------------- ReduceLROnPlateau
METRICS = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85, 0.7, 0.7, 0.69999, 0.71,
           0.9, 0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.49, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]

PLATEAU_CASES = [
    dict(),
    dict(patience=2),
    dict(mode="min", threshold=0.1, threshold_mode="abs", cooldown=2, patience=1, factor=0.5),
    dict(mode="max", patience=1, factor=0.5, min_lr=0.03),
    dict(mode="max", threshold_mode="abs", threshold=0.0, patience=0, factor=0.7),
    dict(patience=0, factor=0.5, min_lr=[0.02, 0.015], eps=1e-3),
]


@pytest.mark.parametrize("kwargs", PLATEAU_CASES, ids=str)
def test_reduce_on_plateau_matches_pytorch(kwargs):
    torch = pytest.importorskip("torch")
    ours = lr_scheduler.ReduceLROnPlateau(_optimizer("chainrule"), **kwargs)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(_optimizer(torch), **kwargs)
    our_lrs, their_lrs = [], []
    for metric in METRICS * 2:
        ours.step(chainrule.tensor(metric, dtype=chainrule.float64))  # a loss tensor works too
        theirs.step(metric)
        our_lrs.append(ours.get_last_lr())
        their_lrs.append(theirs.get_last_lr())
        assert ours.num_bad_epochs == theirs.num_bad_epochs
        assert ours.cooldown_counter == theirs.cooldown_counter
        assert ours.best == theirs.best
    assert len({tuple(lrs) for lrs in our_lrs}) > 1 or kwargs.get("patience", 10) >= 10
    np.testing.assert_allclose(our_lrs, their_lrs, rtol=1e-12, atol=0)


def test_reduce_on_plateau_reduces_after_patience_runs_out():
    optimizer = _optimizer("chainrule")
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, patience=2, factor=0.5)
    for metric in [1.0, 1.0, 1.0]:
        scheduler.step(metric)
    assert scheduler.get_last_lr() == [0.1, 0.02]  # two bad epochs: still patient
    scheduler.step(1.0)
    assert scheduler.get_last_lr() == [0.05, 0.01]


# ---------------------------------------------------------------------- state_dict
@pytest.mark.parametrize("name", ["StepLR", "LambdaLR", "OneCycleLR-cos-momentum", "SequentialLR",
                                  "CyclicLR-triangular2-betas",
                                  "ChainedScheduler", "CosineAnnealingWarmRestarts", "CosineAnnealingLR",
                                  "OneCycleLR-linear-betas"])
def test_state_dict_round_trip_continues_the_schedule(name):
    straight, _, straight_momenta, _ = _run_schedule("chainrule", name)

    kind, make = _schedule_cases(lr_scheduler)[name]
    optimizer = _optimizer("chainrule", kind)
    scheduler = make(optimizer)
    for _ in range(20):
        optimizer.step()
        scheduler.step()
    saved_optimizer, saved_scheduler = optimizer.state_dict(), scheduler.state_dict()

    resumed_optimizer = _optimizer("chainrule", kind)
    resumed = make(resumed_optimizer)
    resumed.load_state_dict(saved_scheduler)
    resumed_optimizer.load_state_dict(saved_optimizer)
    lrs, momenta = [], []
    for _ in range(STEPS - 20):
        resumed_optimizer.step()
        resumed.step()
        lrs.append([group["lr"] for group in resumed_optimizer.param_groups])
        momenta.append([group.get("momentum", group.get("betas", (0.0,))[0])
                        for group in resumed_optimizer.param_groups])
    np.testing.assert_array_equal(lrs, straight[21:])
    np.testing.assert_array_equal(momenta, straight_momenta[21:])


def test_reduce_on_plateau_state_dict_round_trip():
    optimizer = _optimizer("chainrule")
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, patience=1, cooldown=1, mode="max")
    for metric in METRICS[:12]:
        scheduler.step(metric)
    resumed_optimizer = _optimizer("chainrule")
    resumed = lr_scheduler.ReduceLROnPlateau(resumed_optimizer)
    resumed.load_state_dict(scheduler.state_dict())
    resumed_optimizer.load_state_dict(optimizer.state_dict())
    for metric in METRICS[12:]:
        scheduler.step(metric)
        resumed.step(metric)
        assert resumed.get_last_lr() == scheduler.get_last_lr()
    assert resumed.mode == "max"


def test_lambda_state_dict_keeps_callable_objects_state():
    class Decay:
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, epoch):
            return self.rate**epoch

    optimizer = _optimizer("chainrule")
    scheduler = lr_scheduler.LambdaLR(optimizer, [Decay(0.5), lambda epoch: 1.0])
    state = scheduler.state_dict()
    assert state["lr_lambdas"] == [{"rate": 0.5}, None]
    other = lr_scheduler.LambdaLR(_optimizer("chainrule"), [Decay(0.9), lambda epoch: 1.0])
    other.load_state_dict(state)
    assert other.lr_lambdas[0].rate == 0.5


# --------------------------------------------------------------------- epoch argument
def test_step_with_epoch_uses_the_closed_form_as_pytorch():
    torch = pytest.importorskip("torch")
    results = []
    for library, module in (("chainrule", lr_scheduler), (torch, torch.optim.lr_scheduler)):
        optimizer = _optimizer(library)
        schedulers = [module.StepLR(optimizer, step_size=3, gamma=0.5)]
        lrs = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for epoch in [4, 9, 2, 7]:
                optimizer.step()
                schedulers[0].step(epoch)
                lrs.append(schedulers[0].get_last_lr())
        results.append(lrs)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)


def test_warm_restarts_with_fractional_epochs_match_pytorch():
    torch = pytest.importorskip("torch")
    epochs = [0.0, 0.5, 1.25, 3.0, 4.9, 5.0, 7.5, 14.9, 15.0, 16.3, 40.0]
    results = []
    for library, module in (("chainrule", lr_scheduler), (torch, torch.optim.lr_scheduler)):
        optimizer = _optimizer(library)
        scheduler = module.CosineAnnealingWarmRestarts(optimizer, T_0=5, T_mult=2, eta_min=0.001)
        lrs = []
        for epoch in epochs:
            optimizer.step()
            scheduler.step(epoch)
            lrs.append(scheduler.get_last_lr())
        results.append(lrs)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)


def test_step_with_epoch_is_deprecated():
    optimizer = _optimizer("chainrule")
    scheduler = lr_scheduler.ExponentialLR(optimizer, gamma=0.5)
    optimizer.step()
    with pytest.warns(UserWarning, match="deprecated"):
        scheduler.step(3)
    assert scheduler.get_last_lr() == [0.1 * 0.125, 0.02 * 0.125]


# -------------------------------------------------------------------------- bad input
def test_get_lr_outside_step_warns():
    scheduler = lr_scheduler.StepLR(_optimizer("chainrule"), step_size=2)
    with pytest.warns(UserWarning, match="get_last_lr"):
        scheduler.get_lr()


@pytest.mark.parametrize("make,error,message", [
    (lambda o: lr_scheduler.StepLR("not an optimizer", step_size=2), TypeError, "is not an Optimizer"),
    (lambda o: lr_scheduler.LinearLR(o, start_factor=0.0), ValueError, "greater than 0"),
    (lambda o: lr_scheduler.LinearLR(o, end_factor=1.5), ValueError, "between 0 and 1"),
    (lambda o: lr_scheduler.ConstantLR(o, factor=2.0), ValueError, "between 0 and 1"),
    (lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1.0]), ValueError, "Expected 2 lr_lambdas, but got 1"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1), ValueError, "total_steps OR"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=0), ValueError, "positive integer"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=[0.1], total_steps=5), ValueError, "same length"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=5, anneal_strategy="exp"),
     ValueError, "anneal_strategy"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), ValueError, "factor should be < 1.0"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="up"), ValueError, "mode 'up' is unknown"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "expected 2 min_lrs"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.ExponentialLR(o, 0.9)], milestones=[3]),
     ValueError, "one more than the number of milestone"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.ExponentialLR(_optimizer("chainrule"), 0.9),
                                             lr_scheduler.ExponentialLR(o, 0.9)], milestones=[3]),
     ValueError, "same optimizer"),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=0), ValueError, "positive integer T_0"),
    (lambda o: lr_scheduler.StepLR(o, step_size=2, last_epoch=5), KeyError, "initial_lr"),
])
def test_refuses_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make(_optimizer("chainrule"))


def test_one_cycle_refuses_an_optimizer_without_momentum_and_too_many_steps():
    with pytest.raises(ValueError, match="momentum or beta1"):
        lr_scheduler.OneCycleLR(_optimizer("chainrule", "Adagrad"), max_lr=0.1, total_steps=5)
    optimizer = _optimizer("chainrule")
    scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=3)
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    optimizer.step()
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        scheduler.step()


def test_custom_scheduler_subclass_as_in_pytorch_scripts():
    class HalveEveryEpoch(lr_scheduler._LRScheduler):
        def get_lr(self):
            return [base_lr * 0.5**self.last_epoch for base_lr in self.base_lrs]

    optimizer = _optimizer("chainrule")
    scheduler = HalveEveryEpoch(optimizer)
    assert isinstance(scheduler, lr_scheduler.LRScheduler)
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    assert scheduler.get_last_lr() == [0.1 / 8, 0.02 / 8]
    assert [group["lr"] for group in optimizer.param_groups] == [0.1 / 8, 0.02 / 8]
