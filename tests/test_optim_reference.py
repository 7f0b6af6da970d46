"""Optimizers and learning-rate schedules against NumPy references and golden values, without
PyTorch: every update rule over several steps and option combinations (float64 and float32,
with the numba kernels on and off), every scheduler's lr (and momentum) sequence, and a few
steps pinned as literals.

The references (``optim_reference.py``) are written from the published update rules, not from
chainrule's code. The golden literals were computed once by those references and agree with
PyTorch 2.13's ``torch.optim`` to 1e-14 (relative); the PyTorch tests at the end re-check both
when PyTorch is installed, so a reference that is wrong in the same way as chainrule still
fails here.
"""

from __future__ import annotations

import numpy as np
import pytest
from optim_reference import (
    constant_lr,
    cosine_annealing,
    cyclic_lr,
    cyclic_momentum,
    exponential_lr,
    linear_lr,
    multi_step_lr,
    one_cycle,
    polynomial_lr,
    reduce_on_plateau,
    reference_optimizer,
    sequence,
    step_lr,
    warm_restarts_lr,
)

import chainrule
from chainrule import optim
from chainrule.optim import lr_scheduler

# ------------------------------------------------------------------------ the optimizers
RNG = np.random.default_rng(0)
INITIAL = [RNG.standard_normal((2, 3)), RNG.standard_normal(3)]
CURVATURE = [RNG.uniform(0.5, 1.5, (2, 3)), RNG.uniform(0.5, 1.5, 3)]
STEPS = 8

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.5, dampening=0.3, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.8, weight_decay=0.1, maximize=True)),
    ("SGD", dict(lr=0.05, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.02, betas=(0.7, 0.9), weight_decay=0.05, decoupled_weight_decay=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.02, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, betas=(0.5, 0.9), maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.9, centered=True, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.005, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, eps=1e-4, weight_decay=0.1, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.01, initial_accumulator_value=0.1)),
    ("Adagrad", dict(lr=0.1, eps=1e-6, weight_decay=0.1, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1, maximize=True)),
    ("Adamax", dict(lr=0.05)),
    ("Adamax", dict(lr=0.05, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.1, maximize=True)),
    ("NAdam", dict(lr=0.05)),
    ("NAdam", dict(lr=0.05, betas=(0.8, 0.9), weight_decay=0.1, momentum_decay=0.01)),
    ("NAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict(lr=0.05)),
    ("RAdam", dict(lr=0.05, betas=(0.5, 0.8), weight_decay=0.1)),
    ("RAdam", dict(lr=0.05, betas=(0.5, 0.8), weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("ASGD", dict(lr=0.05)),
    ("ASGD", dict(lr=0.05, lambd=0.1, alpha=0.5, t0=3, weight_decay=0.1)),
    ("ASGD", dict(lr=0.01, maximize=True)),
    ("Rprop", dict(lr=0.05)),
    ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(0.01, 0.2), maximize=True)),
]
CASE_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in options.items())}" for name, options in CASES]


def _gradient(index: int, theta: np.ndarray) -> np.ndarray:
    """The gradient of Σ c θ⁴/4 − 0.15 θ² + 0.1 θ: nonlinear, so each step's gradient depends
    on the previous steps' updates, and an update bug cannot hide in a constant gradient."""
    return CURVATURE[index] * theta**3 - 0.3 * theta + 0.1


def _reference_run(name: str, options: dict, steps: int = STEPS) -> list[list[np.ndarray]]:
    reference = reference_optimizer(name, options)
    params, history = [p.copy() for p in INITIAL], []
    for _ in range(steps):
        params = reference.step(params, [_gradient(i, p) for i, p in enumerate(params)])
        history.append(params)
    return history


def _chainrule_run(
    name: str, options: dict, dtype: type, steps: int = STEPS, initial: list[np.ndarray] = INITIAL
) -> list[list[np.ndarray]]:
    """Run chainrule's optimizer with the gradients set directly (no autograd in the way)."""
    params = [chainrule.nn.Parameter(chainrule.tensor(p.astype(dtype))) for p in initial]
    optimizer = getattr(optim, name)(params, **options)
    history = []
    for _ in range(steps):
        for index, param in enumerate(params):
            param.grad = chainrule.tensor(_gradient(index, param.array.astype(np.float64)).astype(dtype))
        optimizer.step()
        history.append([param.array.copy() for param in params])
        assert all(param.array.dtype == dtype for param in params)
    return history


def _set_numba(use_numba: bool) -> None:
    if use_numba:
        pytest.importorskip("numba")
    chainrule.backends.numba.enabled = use_numba  # conftest restores it after the test
    assert chainrule.backends.numba.active() == use_numba


@pytest.mark.parametrize("use_numba", [False, True], ids=["numpy", "numba"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("name", "options"), CASES, ids=CASE_IDS)
def test_optimizer_follows_the_reference_over_several_steps(name, options, dtype, use_numba):
    _set_numba(use_numba)
    ours = _chainrule_run(name, options, dtype)
    reference = _reference_run(name, options)
    tolerance = dict(rtol=1e-12, atol=1e-14) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-5)
    for step, (mine, expected) in enumerate(zip(ours, reference), start=1):
        for index, (param, reference_param) in enumerate(zip(mine, expected)):
            np.testing.assert_allclose(
                param,
                reference_param,
                **tolerance,
                err_msg=f"{name} {options}: parameter {index} after step {step}",
            )


@pytest.mark.parametrize(("name", "options"), CASES, ids=CASE_IDS)
def test_every_case_moves_the_parameters_by_more_than_the_float32_tolerance(name, options):
    """The float32 comparison above is only a check if the steps are far larger than its
    tolerance."""
    history = _reference_run(name, options)
    for first, last in zip(INITIAL, history[-1]):
        assert np.max(np.abs(last - first)) > 100 * 2e-5


# Golden values: three steps from θ = [1, −2, 0.5] with the gradient θ³ − 0.3 θ + 0.1, the
# parameters after each step. Computed by optim_reference.py and equal to PyTorch 2.13's
# torch.optim results to 1e-14 relative (test_golden_values_match_pytorch re-checks them).
# The first SGD step by hand: g = 0.8 + 0.01·1 = 0.81, θ = 1 − 0.1·0.81 = 0.919. Rprop by hand:
# each weight moves by its step size against its gradient's sign, 0.1 then 0.15 then 0.225.
# RAdam runs seven steps: its rectified branch starts at step 6 (ρ_t > 5 with β2 = 0.9).
GOLDEN_THETA = np.array([1.0, -2.0, 0.5])
GOLDEN = [
    (
        "SGD",
        dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
        [
            [0.919, -1.268, 0.492],
            [0.79123225969, -0.4678099251199999, 0.47792260608],
            [0.6433109769485642, 0.2403653583116028, 0.45890212360123633],
        ],
    ),
    (
        "SGD",
        dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True),
        [
            [1.076, -2.6935000000000002, 0.507125],
            [1.2055818627200001, -4.759298010285625, 0.517599362213545],
            [1.4177744109021762, -15.876119412354685, 0.5314255921972868],
        ],
    ),
    (
        "Adam",
        dict(lr=0.1, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True),
        [
            [0.9000000011111111, -1.9000000001333333, 0.40000000799999935],
            [0.8029878096329539, -1.8011792673899512, 0.30391805387619253],
            [0.710971534523821, -1.7043735059534093, 0.21142453461485272],
        ],
    ),
    (
        "AdamW",
        dict(lr=0.1, betas=(0.8, 0.99), weight_decay=0.1),
        [
            [0.89000000125, -1.8800000001369863, 0.39500001333333157],
            [0.7850085984057227, -1.7627395282607046, 0.29727758862188375],
            [0.6875574080630226, -1.6492752066391625, 0.20390100773796957],
        ],
    ),
    (
        "RMSprop",
        dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.1),
        [
            [0.9666666679012346, -1.9666666668148147, 0.4666666755555532],
            [0.9258259022015115, -1.925160032130203, 0.4263201318786027],
            [0.8855976025127038, -1.8832436563448895, 0.38702213205021646],
        ],
    ),
    (
        "Adagrad",
        dict(lr=0.1, lr_decay=0.5, weight_decay=0.1, initial_accumulator_value=0.2),
        [
            [0.9104466528900119, -1.90017730510534, 0.47308090490288884],
            [0.8733674623206913, -1.8570221006233851, 0.4575468814944411],
            [0.8513980319005459, -1.8312390669294067, 0.4468791220835462],
        ],
    ),
    (
        "Adamax",
        dict(lr=0.1, betas=(0.8, 0.99), weight_decay=0.1),
        [
            [0.9000000011111111, -1.9000000001333333, 0.40000000799999935],
            [0.8146402313601031, -1.8073774787348147, 0.3173961976655433],
            [0.7415603159209457, -1.7218184168647859, 0.2452405133616575],
        ],
    ),
    (
        "NAdam",
        dict(lr=0.1, betas=(0.8, 0.99), weight_decay=0.1, momentum_decay=0.01),
        [
            [0.890466194019619, -1.8904661929486217, 0.39046620156528056],
            [0.8177497017106206, -1.8104164010154375, 0.32054973597549785],
            [0.7543508271989843, -1.736726808090128, 0.25538407976639815],
        ],
    ),
    (
        "RAdam",
        dict(lr=0.1, betas=(0.5, 0.9), weight_decay=0.1, decoupled_weight_decay=True),
        [
            [0.91, -1.25, 0.4875],
            [0.8355286000000001, -0.8956249999999999, 0.4754845052083333],
            [0.7744352480288749, -0.7201661588030133, 0.46396345910118286],
            [0.7243658285220677, -0.6321989348073747, 0.45292974632179617],
            [0.683080015648978, -0.5887057512306144, 0.4423626685868141],
            [0.6604576802388255, -0.5814144514119922, 0.4146880693192855],
            [0.6351025683853485, -0.5751410526889098, 0.38193080849520383],
        ],
    ),
    (
        "ASGD",
        dict(lr=0.05, lambd=0.1, alpha=0.5, t0=1, weight_decay=0.1),
        [
            [0.9499999992549419, -1.6149999942630529, 0.4912499998696148],
            [0.9069886426218229, -1.4179528266166805, 0.48279976522215645],
            [0.8694053046377292, -1.288143917495064, 0.4746275979296299],
        ],
    ),
    (
        "Rprop",
        dict(lr=0.1, etas=(0.5, 1.5)),
        [
            [0.9, -1.9, 0.4],
            [0.75, -1.75, 0.25],
            [0.5249999999999999, -1.525, 0.024999999999999967],
        ],
    ),
]
GOLDEN_IDS = [name + ("-nesterov" if options.get("nesterov") else "") for name, options, _ in GOLDEN]


def _golden_gradient(theta: np.ndarray) -> np.ndarray:
    return theta**3 - 0.3 * theta + 0.1


@pytest.mark.parametrize("use_numba", [False, True], ids=["numpy", "numba"])
@pytest.mark.parametrize(("name", "options", "expected"), GOLDEN, ids=GOLDEN_IDS)
def test_golden_values(name, options, expected, use_numba):
    _set_numba(use_numba)
    param = chainrule.nn.Parameter(chainrule.tensor(GOLDEN_THETA.copy()))
    optimizer = getattr(optim, name)([param], **options)
    reference, theta = reference_optimizer(name, options), [GOLDEN_THETA.copy()]
    for step, expected_theta in enumerate(expected, start=1):
        param.grad = chainrule.tensor(_golden_gradient(param.array))
        optimizer.step()
        theta = reference.step(theta, [_golden_gradient(theta[0])])
        np.testing.assert_allclose(param.array, expected_theta, rtol=1e-13, err_msg=f"step {step}")
        np.testing.assert_allclose(
            theta[0], expected_theta, rtol=1e-13, err_msg=f"the reference, step {step}"
        )


@pytest.mark.parametrize(("name", "options", "expected"), GOLDEN, ids=GOLDEN_IDS)
def test_golden_values_match_pytorch(name, options, expected):
    torch = pytest.importorskip("torch")
    param = torch.tensor(GOLDEN_THETA.copy(), requires_grad=True)
    optimizer = getattr(torch.optim, name)([param], **options)
    for expected_theta in expected:
        param.grad = torch.tensor(_golden_gradient(param.detach().numpy()))
        optimizer.step()
        np.testing.assert_allclose(param.detach().numpy(), expected_theta, rtol=1e-13)


@pytest.mark.parametrize(("name", "options"), CASES, ids=CASE_IDS)
def test_reference_matches_pytorch(name, options):
    """The references themselves against PyTorch, so they are not only chainrule's mirror."""
    torch = pytest.importorskip("torch")
    params = [torch.tensor(p.copy(), requires_grad=True) for p in INITIAL]
    optimizer = getattr(torch.optim, name)(params, **options)
    for expected in _reference_run(name, options):
        for index, param in enumerate(params):
            param.grad = torch.tensor(_gradient(index, param.detach().numpy()))
        optimizer.step()
        for param, reference_param in zip(params, expected):
            np.testing.assert_allclose(param.detach().numpy(), reference_param, rtol=1e-10, atol=1e-14)


def test_sgd_momentum_state_is_the_reference_buffer():
    """The momentum buffer chainrule keeps (and saves in state_dict) is the reference's b."""
    options = dict(lr=0.05, momentum=0.5, dampening=0.3, weight_decay=0.1)
    params = [chainrule.nn.Parameter(chainrule.tensor(p.copy())) for p in INITIAL]
    optimizer = optim.SGD(params, **options)
    reference, theta = reference_optimizer("SGD", options), [p.copy() for p in INITIAL]
    for _ in range(3):
        for index, param in enumerate(params):
            param.grad = chainrule.tensor(_gradient(index, param.array))
        optimizer.step()
        theta = reference.step(theta, [_gradient(i, p) for i, p in enumerate(theta)])
    for index, param in enumerate(params):
        np.testing.assert_allclose(
            optimizer.state[param]["momentum_buffer"].array, reference.buffers[index], rtol=1e-12
        )


# ------------------------------------------------------------------- learning-rate schedules
EPOCHS = 40
BASES = (0.1, 0.02)  # two parameter groups


def _optimizer(kind: str) -> optim.Optimizer:
    groups = [
        {"params": [chainrule.nn.Parameter(chainrule.ones(2))]},
        {"params": [chainrule.nn.Parameter(chainrule.ones(2))], "lr": BASES[1]},
    ]
    if kind == "SGD":
        return optim.SGD(groups, lr=BASES[0], momentum=0.9)
    if kind == "Adam":
        return optim.Adam(groups, lr=BASES[0])
    return optim.Adagrad(groups, lr=BASES[0])


def _per_group(rate):
    """A closed form rate(base, epoch) as a function of epoch giving both groups' rates."""
    return lambda epoch: [rate(base, epoch) for base in BASES]


# name -> (optimizer kind, scheduler factory(module, optimizer) for chainrule's or torch's
# scheduler module, expected [lr per group] at epoch, expected momentum (beta1 for Adam) per
# group at epoch or None when the schedule leaves momentum alone)
SCHEDULES = {
    "StepLR": (
        "SGD",
        lambda m, o: m.StepLR(o, step_size=7, gamma=0.5),
        _per_group(lambda b, e: step_lr(b, e, 7, 0.5)),
        None,
    ),
    "MultiStepLR": (
        "SGD",
        lambda m, o: m.MultiStepLR(o, milestones=[5, 15, 15, 30], gamma=0.5),
        _per_group(lambda b, e: multi_step_lr(b, e, [5, 15, 15, 30], 0.5)),
        None,
    ),
    "ExponentialLR": (
        "SGD",
        lambda m, o: m.ExponentialLR(o, gamma=0.95),
        _per_group(lambda b, e: exponential_lr(b, e, 0.95)),
        None,
    ),
    "CosineAnnealingLR": (
        "SGD",
        lambda m, o: m.CosineAnnealingLR(o, T_max=12, eta_min=0.001),
        _per_group(lambda b, e: cosine_annealing(b, 0.001, e, 12)),
        None,
    ),
    "LinearLR-warmup": (
        "SGD",
        lambda m, o: m.LinearLR(o, start_factor=0.1, total_iters=10),
        _per_group(lambda b, e: linear_lr(b, e, 0.1, 1.0, 10)),
        None,
    ),
    "LinearLR-decay": (
        "SGD",
        lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=20),
        _per_group(lambda b, e: linear_lr(b, e, 1.0, 0.1, 20)),
        None,
    ),
    "ConstantLR": (
        "SGD",
        lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=8),
        _per_group(lambda b, e: constant_lr(b, e, 0.25, 8)),
        None,
    ),
    "LambdaLR": (
        "SGD",
        lambda m, o: m.LambdaLR(o, [lambda e: 0.9**e, lambda e: 1.0 / (e + 1)]),
        lambda e: [BASES[0] * 0.9**e, BASES[1] / (e + 1)],
        None,
    ),
    "MultiplicativeLR": (
        "SGD",
        lambda m, o: m.MultiplicativeLR(o, lambda e: 0.97),
        _per_group(lambda b, e: b * 0.97**e),
        None,
    ),
    "PolynomialLR": (
        "SGD",
        lambda m, o: m.PolynomialLR(o, total_iters=30, power=2.0),
        _per_group(lambda b, e: polynomial_lr(b, e, 30, 2.0)),
        None,
    ),
    "CosineAnnealingWarmRestarts": (
        "SGD",
        lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=0.01),
        _per_group(lambda b, e: warm_restarts_lr(b, e, 5, 2, 0.01)),
        None,
    ),
    "CosineAnnealingWarmRestarts-constant": (
        "SGD",
        lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=7),
        _per_group(lambda b, e: warm_restarts_lr(b, e, 7, 1, 0.0)),
        None,
    ),
    "CyclicLR-triangular": (
        "SGD",
        lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=[0.1, 0.05], step_size_up=4, step_size_down=6),
        lambda e: [cyclic_lr(e, 0.01, top, 4, 6) for top in (0.1, 0.05)],
        lambda e: [cyclic_momentum(e, 0.8, 0.9, 4, 6)] * 2,
    ),
    "CyclicLR-triangular2-betas": (
        "Adam",
        lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.2, step_size_up=5, mode="triangular2"),
        lambda e: [cyclic_lr(e, 0.01, 0.2, 5, 5, "triangular2")] * 2,
        lambda e: [cyclic_momentum(e, 0.8, 0.9, 5, 5, "triangular2")] * 2,
    ),
    "CyclicLR-exp_range": (
        "SGD",
        lambda m, o: m.CyclicLR(o, base_lr=0.02, max_lr=0.3, step_size_up=3, mode="exp_range", gamma=0.97),
        lambda e: [cyclic_lr(e, 0.02, 0.3, 3, 3, "exp_range", 0.97)] * 2,
        lambda e: [cyclic_momentum(e, 0.8, 0.9, 3, 3, "exp_range", 0.97)] * 2,
    ),
    "OneCycleLR-cos-momentum": (
        "SGD",
        lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 0.1], total_steps=EPOCHS + 1),
        lambda e: [one_cycle(e, EPOCHS + 1, top)[0] for top in (0.5, 0.1)],
        lambda e: [one_cycle(e, EPOCHS + 1, 0.5)[1]] * 2,
    ),
    "OneCycleLR-linear-betas": (
        "Adam",
        lambda m, o: m.OneCycleLR(
            o, max_lr=0.3, total_steps=EPOCHS + 1, anneal_strategy="linear", pct_start=0.25
        ),
        lambda e: [one_cycle(e, EPOCHS + 1, 0.3, 0.25, "linear")[0]] * 2,
        lambda e: [one_cycle(e, EPOCHS + 1, 0.3, 0.25, "linear")[1]] * 2,
    ),
    "OneCycleLR-three-phase": (
        "SGD",
        lambda m, o: m.OneCycleLR(
            o,
            max_lr=0.4,
            total_steps=EPOCHS + 1,
            three_phase=True,
            base_momentum=0.8,
            max_momentum=0.9,
            div_factor=10.0,
            final_div_factor=100.0,
        ),
        lambda e: (
            [one_cycle(e, EPOCHS + 1, 0.4, div_factor=10.0, final_div_factor=100.0, three_phase=True)[0]] * 2
        ),
        lambda e: (
            [one_cycle(e, EPOCHS + 1, 0.4, three_phase=True, base_momentum=0.8, max_momentum=0.9)[1]] * 2
        ),
    ),
    "SequentialLR": (
        "SGD",
        lambda m, o: m.SequentialLR(
            o,
            [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=35)],
            milestones=[5],
        ),
        _per_group(
            lambda b, e: linear_lr(b, e, 0.1, 1.0, 5) if e < 5 else cosine_annealing(b, 0.0, e - 5, 35)
        ),
        None,
    ),
    "ChainedScheduler": (
        "SGD",
        lambda m, o: m.ChainedScheduler(
            [m.ConstantLR(o, factor=0.1, total_iters=3), m.ExponentialLR(o, gamma=0.9)]
        ),
        _per_group(lambda b, e: constant_lr(b, e, 0.1, 3) * 0.9**e),
        None,
    ),
}


def _scheduled_sequences(name: str) -> tuple[np.ndarray, np.ndarray]:
    kind, make, _, _ = SCHEDULES[name]
    optimizer = _optimizer(kind)
    scheduler = make(lr_scheduler, optimizer)

    def momenta() -> list[float]:
        return [
            group["momentum"] if "momentum" in group else group["betas"][0]
            for group in optimizer.param_groups
        ]

    lrs, moms = [[g["lr"] for g in optimizer.param_groups]], [momenta()]
    for _ in range(EPOCHS):
        optimizer.step()
        scheduler.step()
        lrs.append([g["lr"] for g in optimizer.param_groups])
        moms.append(momenta())
    return np.array(lrs), np.array(moms)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_follows_its_closed_form(name):
    _, _, expected_lr, expected_momentum = SCHEDULES[name]
    lrs, momenta = _scheduled_sequences(name)
    expected = np.array(sequence(expected_lr, EPOCHS))
    assert len(np.unique(expected[:, 0])) >= 2  # the schedule really moves the rate
    np.testing.assert_allclose(lrs, expected, rtol=1e-10, atol=1e-15)
    if expected_momentum is not None:
        np.testing.assert_allclose(momenta, np.array(sequence(expected_momentum, EPOCHS)), rtol=1e-10)
    else:  # the schedule leaves momentum alone
        np.testing.assert_array_equal(momenta, momenta[:1].repeat(len(momenta), axis=0))


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_closed_forms_match_pytorch(name):
    """The closed forms themselves against PyTorch, over the same steps."""
    torch = pytest.importorskip("torch")
    kind, make, expected_lr, _ = SCHEDULES[name]
    groups = [
        {"params": [torch.ones(2, requires_grad=True)]},
        {"params": [torch.ones(2, requires_grad=True)], "lr": BASES[1]},
    ]
    optimizer = {
        "SGD": lambda: torch.optim.SGD(groups, lr=BASES[0], momentum=0.9),
        "Adam": lambda: torch.optim.Adam(groups, lr=BASES[0]),
    }[kind]()
    scheduler = make(torch.optim.lr_scheduler, optimizer)
    lrs = [[g["lr"] for g in optimizer.param_groups]]
    for _ in range(EPOCHS):
        optimizer.step()
        scheduler.step()
        lrs.append([g["lr"] for g in optimizer.param_groups])
    np.testing.assert_allclose(lrs, sequence(expected_lr, EPOCHS), rtol=1e-10, atol=1e-15)


# Golden rates: the first few rates of three schedules, worked by hand from the closed forms.
def test_schedule_golden_values():
    cases = {
        # 0.1 · 0.5^⌊e/2⌋
        "step": (lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.5), [0.1, 0.1, 0.05, 0.05, 0.025]),
        # 0.001 + 0.099 (1 + cos(π e / 4)) / 2 = 0.1, 0.001 + 0.0495 (1 + √½), 0.0505, ...
        "cosine": (
            lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=4, eta_min=0.001),
            [0.1, 0.0855017856687341, 0.0505, 0.0154982143312659, 0.001],
        ),
        # base 0.01, max 0.1, up 2 steps: 0.01, 0.055, 0.1, 0.055, 0.01
        "cyclic": (
            lambda o: lr_scheduler.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=2),
            [0.01, 0.055, 0.1, 0.055, 0.01],
        ),
    }
    for name, (make, expected) in cases.items():
        optimizer = optim.SGD([chainrule.nn.Parameter(chainrule.ones(1))], lr=0.1, momentum=0.9)
        scheduler = make(optimizer)
        rates = [optimizer.param_groups[0]["lr"]]
        for _ in range(len(expected) - 1):
            optimizer.step()
            scheduler.step()
            rates.append(optimizer.param_groups[0]["lr"])
        np.testing.assert_allclose(rates, expected, rtol=1e-12, err_msg=name)


@pytest.mark.parametrize(
    "options",
    [
        dict(factor=0.5, patience=2),
        dict(factor=0.2, patience=0, cooldown=2, threshold=0.05),
        dict(factor=0.5, patience=1, min_lr=0.02, eps=1e-3),
    ],
)
def test_reduce_on_plateau_follows_the_reference(options):
    metrics = [1.0, 0.9, 0.9, 0.95, 0.89, 0.95, 0.9, 0.91, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0]
    optimizer = optim.SGD([chainrule.nn.Parameter(chainrule.ones(1))], lr=0.1)
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, **options)
    rates = []
    for value in metrics:
        optimizer.step()
        scheduler.step(value)
        rates.append(optimizer.param_groups[0]["lr"])
    expected = reduce_on_plateau(0.1, metrics, **options)
    assert len(set(expected)) >= 2
    np.testing.assert_allclose(rates, expected, rtol=1e-12)
