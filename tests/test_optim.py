"""Optimizers: every update rule against PyTorch's (float64, with and without each schedule),
parameter groups, state_dict round trips, float32 staying float32, and refusals of bad input."""

from __future__ import annotations

import copy
import doctest
import pickle
import warnings

import numpy as np
import pytest

import chainrule
import chainrule.nn.functional as F
from chainrule import optim
from chainrule.optim import lr_scheduler

# ------------------------------------------------------------------------ a small problem
RNG = np.random.default_rng(1234)
X = RNG.standard_normal((8, 4))
Y = RNG.integers(0, 3, size=8)
INITIAL_WEIGHTS = [
    RNG.standard_normal((4, 5)) * 0.5,
    RNG.standard_normal(5) * 0.1,
    RNG.standard_normal((5, 3)) * 0.5,
    RNG.standard_normal(3) * 0.1,
]

OPTIMIZER_CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.5, dampening=0.3, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.8, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.02, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, betas=(0.5, 0.9), maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.9, centered=True, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.005, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, eps=1e-4, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.01, initial_accumulator_value=0.1)),
    ("Adagrad", dict(lr=0.1, eps=1e-6, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.01)),
    ("Adadelta", dict(lr=1.0, maximize=True)),
    ("Adamax", dict(lr=0.02, weight_decay=0.01)),
    ("NAdam", dict(lr=0.02, momentum_decay=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.02, betas=(0.5, 0.8), weight_decay=0.01)),
    ("ASGD", dict(lr=0.05, lambd=0.01, t0=2)),
    ("Rprop", dict(lr=0.02, maximize=True)),
]

# one configuration per optimizer that has momentum (or betas) for OneCycleLR to cycle
SCHEDULED_CONFIGS = [
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
    ("Adamax", dict(lr=0.02)),
    ("NAdam", dict(lr=0.02, weight_decay=0.01)),
    ("RAdam", dict(lr=0.02, betas=(0.5, 0.8), decoupled_weight_decay=True, weight_decay=0.01)),
    ("ASGD", dict(lr=0.05, t0=2)),
    ("Rprop", dict(lr=0.02)),
]


def _schedules(module):
    """name -> function(optimizer) -> scheduler, for chainrule's or torch's scheduler module."""
    return {
        "StepLR": lambda opt: module.StepLR(opt, step_size=3, gamma=0.5),
        "MultiStepLR": lambda opt: module.MultiStepLR(opt, milestones=[2, 5, 5], gamma=0.3),
        "ExponentialLR": lambda opt: module.ExponentialLR(opt, gamma=0.8),
        "CosineAnnealingLR": lambda opt: module.CosineAnnealingLR(opt, T_max=4, eta_min=1e-3),
        "LinearLR": lambda opt: module.LinearLR(opt, start_factor=0.2, total_iters=4),
        "ConstantLR": lambda opt: module.ConstantLR(opt, factor=0.5, total_iters=3),
        "LambdaLR": lambda opt: module.LambdaLR(opt, lambda epoch: 1.0 / (1.0 + epoch)),
        "OneCycleLR": lambda opt: module.OneCycleLR(
            opt, max_lr=0.05, total_steps=10, cycle_momentum="betas" in opt.defaults
            or "momentum" in opt.defaults),
        "SequentialLR": lambda opt: module.SequentialLR(
            opt, [module.LinearLR(opt, start_factor=0.5, total_iters=3),
                  module.ExponentialLR(opt, gamma=0.7)], milestones=[3]),
        "CosineAnnealingWarmRestarts": lambda opt: module.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2),
        "ReduceLROnPlateau": lambda opt: module.ReduceLROnPlateau(opt, factor=0.5, patience=0,
                                                                  threshold=0.05),
    }


def _chainrule_params():
    return [chainrule.nn.Parameter(chainrule.tensor(w)) for w in INITIAL_WEIGHTS]


def _chainrule_loss(params):
    w1, b1, w2, b2 = params
    hidden = chainrule.tanh(chainrule.tensor(X) @ w1 + b1)
    return F.cross_entropy(hidden @ w2 + b2, chainrule.tensor(Y))


def _torch_loss(torch, params):
    w1, b1, w2, b2 = params
    hidden = torch.tanh(torch.tensor(X) @ w1 + b1)
    return torch.nn.functional.cross_entropy(hidden @ w2 + b2, torch.tensor(Y))


def _groups(params, split_groups):
    if not split_groups:
        return params
    return [{"params": params[:2]}, {"params": params[2:], "lr": 0.003}]


def _train(library, name, kwargs, steps, schedule=None, split_groups=False):
    """Run ``steps`` optimizer steps; returns the final parameters and the lr history."""
    if library == "chainrule":
        params, loss_fn = _chainrule_params(), _chainrule_loss
        optimizer = getattr(optim, name)(_groups(params, split_groups), **kwargs)
        scheduler = _schedules(lr_scheduler)[schedule](optimizer) if schedule else None
    else:
        torch = library
        params = [torch.tensor(w, requires_grad=True) for w in INITIAL_WEIGHTS]
        optimizer = getattr(torch.optim, name)(_groups(params, split_groups), **kwargs)

        def loss_fn(p):
            return _torch_loss(torch, p)

        scheduler = _schedules(torch.optim.lr_scheduler)[schedule](optimizer) if schedule else None
    lrs = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(params)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            if schedule == "ReduceLROnPlateau":
                scheduler.step(float(loss.detach()))
            else:
                scheduler.step()
        lrs.append([group["lr"] for group in optimizer.param_groups])
    return [p.detach().numpy().copy() for p in params], lrs, optimizer


def _assert_same(ours, theirs):
    for mine, reference in zip(ours, theirs):
        np.testing.assert_allclose(mine, reference, rtol=1e-6, atol=1e-12)


# ------------------------------------------------------------------ against PyTorch
@pytest.mark.parametrize("name,kwargs", OPTIMIZER_CONFIGS, ids=lambda v: str(v))
def test_update_matches_pytorch(name, kwargs):
    torch = pytest.importorskip("torch")
    ours, _, _ = _train("chainrule", name, kwargs, steps=10)
    theirs, _, _ = _train(torch, name, kwargs, steps=10)
    moved = max(np.abs(a - b).max() for a, b in zip(ours, INITIAL_WEIGHTS))
    assert moved > 1e-3  # the comparison is not between two untouched models
    _assert_same(ours, theirs)


@pytest.mark.parametrize("schedule", list(_schedules(lr_scheduler)))
@pytest.mark.parametrize("name,kwargs", SCHEDULED_CONFIGS, ids=lambda v: str(v))
def test_update_with_schedule_matches_pytorch(name, kwargs, schedule):
    torch = pytest.importorskip("torch")
    ours, our_lrs, our_optimizer = _train("chainrule", name, kwargs, 10, schedule)
    theirs, their_lrs, their_optimizer = _train(torch, name, kwargs, 10, schedule)
    np.testing.assert_allclose(our_lrs, their_lrs, rtol=1e-12)
    _assert_same(ours, theirs)
    for ours_group, their_group in zip(our_optimizer.param_groups, their_optimizer.param_groups):
        for key in ("momentum", "betas"):
            if key in ours_group:
                np.testing.assert_allclose(ours_group[key], their_group[key], rtol=1e-12)


@pytest.mark.parametrize("name,kwargs", SCHEDULED_CONFIGS, ids=lambda v: str(v))
def test_param_groups_with_own_lr_match_pytorch(name, kwargs):
    torch = pytest.importorskip("torch")
    ours, our_lrs, optimizer = _train("chainrule", name, kwargs, 10, "CosineAnnealingLR", split_groups=True)
    theirs, their_lrs, _ = _train(torch, name, kwargs, 10, "CosineAnnealingLR", split_groups=True)
    assert optimizer.param_groups[1]["initial_lr"] == 0.003
    assert optimizer.param_groups[0]["initial_lr"] == kwargs["lr"]
    np.testing.assert_allclose(our_lrs, their_lrs, rtol=1e-12)
    _assert_same(ours, theirs)


@pytest.mark.parametrize("name,kwargs", OPTIMIZER_CONFIGS, ids=lambda v: str(v))
def test_state_matches_pytorch_state(name, kwargs):
    torch = pytest.importorskip("torch")
    _, _, ours = _train("chainrule", name, kwargs, steps=4)
    _, _, theirs = _train(torch, name, kwargs, steps=4)
    our_state, their_state = ours.state_dict()["state"], theirs.state_dict()["state"]
    assert sorted(our_state) == sorted(their_state)
    assert len(their_state) == (0 if name == "SGD" and "momentum" not in kwargs else 4)
    for index in their_state:
        assert list(our_state[index]) == list(their_state[index])
        for key, value in their_state[index].items():
            assert isinstance(our_state[index][key], chainrule.Tensor)
            np.testing.assert_allclose(our_state[index][key].numpy(), value.numpy(), rtol=1e-6,
                                       atol=1e-14)
    assert ours.state_dict()["param_groups"][0]["params"] == [0, 1, 2, 3]


@pytest.mark.parametrize("name,kwargs", SCHEDULED_CONFIGS, ids=lambda v: str(v))
def test_loading_pytorch_state_dict_continues_like_pytorch(name, kwargs):
    torch = pytest.importorskip("torch")
    _, _, their_optimizer = _train(torch, name, kwargs, steps=3)
    saved = their_optimizer.state_dict()
    converted = {
        "state": {index: {key: chainrule.tensor(value.numpy()) for key, value in entry.items()}
                  for index, entry in saved["state"].items()},
        "param_groups": saved["param_groups"],
    }
    their_params = their_optimizer.param_groups[0]["params"]
    params = [chainrule.nn.Parameter(chainrule.tensor(p.detach().numpy().copy())) for p in their_params]
    optimizer = getattr(optim, name)(params, lr=123.0)  # hyperparameters come from the saved groups
    optimizer.load_state_dict(converted)
    assert optimizer.param_groups[0]["lr"] == kwargs["lr"]
    for _ in range(3):
        optimizer.zero_grad()
        _chainrule_loss(params).backward()
        optimizer.step()
        their_optimizer.zero_grad()
        _torch_loss(torch, their_params).backward()
        their_optimizer.step()
    _assert_same([p.numpy() for p in params], [p.detach().numpy() for p in their_params])


# ----------------------------------------------------------------------- checkpoints
def _build(name, kwargs, params):
    optimizer = getattr(optim, name)(params, **kwargs)
    has_momentum = "momentum" in optimizer.defaults or "betas" in optimizer.defaults
    scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=0.05, total_steps=10, cycle_momentum=has_momentum)
    return optimizer, scheduler


def _run(optimizer, scheduler, params, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        _chainrule_loss(params).backward()
        optimizer.step()
        scheduler.step()


@pytest.mark.parametrize("name,kwargs", SCHEDULED_CONFIGS, ids=lambda v: str(v))
def test_state_dict_round_trip_resumes_exactly(name, kwargs):
    straight_params = _chainrule_params()
    straight_optimizer, straight_scheduler = _build(name, kwargs, straight_params)
    _run(straight_optimizer, straight_scheduler, straight_params, 10)

    params = _chainrule_params()
    optimizer, scheduler = _build(name, kwargs, params)
    _run(optimizer, scheduler, params, 5)
    checkpoint = pickle.dumps({
        "params": [p.numpy().copy() for p in params],
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
    })

    saved = pickle.loads(checkpoint)
    resumed_params = [chainrule.nn.Parameter(chainrule.tensor(w)) for w in saved["params"]]
    resumed_optimizer, resumed_scheduler = _build(name, kwargs, resumed_params)
    resumed_scheduler.load_state_dict(saved["scheduler"])
    resumed_optimizer.load_state_dict(saved["optimizer"])
    _run(resumed_optimizer, resumed_scheduler, resumed_params, 5)

    for resumed, straight in zip(resumed_params, straight_params):
        np.testing.assert_array_equal(resumed.numpy(), straight.numpy())
    assert resumed_scheduler.get_last_lr() == straight_scheduler.get_last_lr()


def test_load_state_dict_copies_state_and_casts_to_parameter_dtype():
    source = [chainrule.nn.Parameter(chainrule.tensor(w)) for w in INITIAL_WEIGHTS]
    optimizer = optim.Adam(source, lr=0.01)
    _chainrule_loss(source).backward()
    optimizer.step()
    saved = optimizer.state_dict()
    targets = [chainrule.nn.Parameter(chainrule.tensor(w.astype(np.float32))) for w in INITIAL_WEIGHTS]
    loaded = optim.Adam(targets, lr=0.01)
    loaded.load_state_dict(saved)
    state = loaded.state[targets[0]]
    assert state["exp_avg"].dtype == chainrule.float32
    assert state["step"].dtype == chainrule.float32 and float(state["step"]) == 1.0
    state["exp_avg"].numpy()[...] = 7.0
    assert not np.any(saved["state"][0]["exp_avg"].numpy() == 7.0)


def test_load_state_dict_refuses_a_different_layout():
    params = _chainrule_params()
    saved = optim.SGD(params, lr=0.1).state_dict()
    two_groups = optim.SGD([{"params": params[:2]}, {"params": params[2:]}], lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        two_groups.load_state_dict(saved)
    fewer = optim.SGD(params[:3], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size"):
        fewer.load_state_dict(saved)


# ---------------------------------------------------------------------------- behaviour
@pytest.mark.parametrize("name,kwargs", OPTIMIZER_CONFIGS, ids=lambda v: str(v))
def test_float32_parameters_and_state_stay_float32(name, kwargs):
    params = [chainrule.nn.Parameter(chainrule.tensor(w.astype(np.float32))) for w in INITIAL_WEIGHTS]
    # NumPy float64 hyperparameters must not promote the update to float64 either
    kwargs = {key: np.float64(value) if isinstance(value, float) else value for key, value in kwargs.items()}
    optimizer = getattr(optim, name)(params, **kwargs)
    for _ in range(3):
        optimizer.zero_grad()
        w1, b1, w2, b2 = params
        hidden = chainrule.tanh(chainrule.tensor(X.astype(np.float32)) @ w1 + b1)
        F.cross_entropy(hidden @ w2 + b2, chainrule.tensor(Y)).backward()
        optimizer.step()
    for param in params:
        assert param.dtype == chainrule.float32
        for key, value in optimizer.state[param].items():
            assert value.dtype == chainrule.float32, key


def test_parameters_without_grad_are_left_alone():
    used = chainrule.nn.Parameter(chainrule.ones(3))
    unused = chainrule.nn.Parameter(chainrule.ones(3))
    optimizer = optim.Adam([used, unused], lr=0.1, weight_decay=0.1)
    (used * 2.0).sum().backward()
    optimizer.step()
    np.testing.assert_array_equal(unused.numpy(), np.ones(3, np.float32))
    assert unused not in optimizer.state
    assert not np.allclose(used.numpy(), 1.0)


def test_zero_grad_to_none_or_to_zeros():
    param = chainrule.nn.Parameter(chainrule.ones(2))
    optimizer = optim.SGD([param], lr=0.1)
    (param * 3.0).sum().backward()
    optimizer.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(param.grad.numpy(), [0.0, 0.0])
    optimizer.zero_grad()
    assert param.grad is None


def test_step_evaluates_closure_with_grad_enabled_and_returns_its_loss():
    param = chainrule.nn.Parameter(chainrule.tensor([2.0]))
    optimizer = optim.SGD([param], lr=0.25)

    def closure():
        optimizer.zero_grad()
        loss = (param * param).sum()
        loss.backward()
        return loss

    with chainrule.no_grad():
        loss = optimizer.step(closure)
    assert float(loss) == 4.0
    np.testing.assert_allclose(param.numpy(), [1.0])  # 2 - 0.25 * (2 * 2)


def test_graph_saved_before_a_step_refuses_backward_after_it():
    param = chainrule.nn.Parameter(chainrule.tensor([2.0, 3.0]))
    optimizer = optim.SGD([param], lr=0.1)
    (param * param).sum().backward()
    stale = (param * param).sum()
    optimizer.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation|version"):
        stale.backward()


def test_named_parameters_are_accepted():
    weight = chainrule.nn.Parameter(chainrule.ones(2))
    optimizer = optim.SGD([("weight", weight)], lr=0.5)
    (weight * 2.0).sum().backward()
    optimizer.step()
    np.testing.assert_allclose(weight.numpy(), [0.0, 0.0])
    assert optimizer.param_groups[0]["param_names"] == ["weight"]


def test_add_param_group_fills_defaults_and_keeps_own_options():
    first, second = chainrule.nn.Parameter(chainrule.ones(2)), chainrule.nn.Parameter(chainrule.ones(2))
    optimizer = optim.SGD([first], lr=0.1, momentum=0.9)
    optimizer.add_param_group({"params": second, "lr": 0.01})
    assert optimizer.param_groups[1]["lr"] == 0.01
    assert optimizer.param_groups[1]["momentum"] == 0.9
    assert optimizer.param_groups[1]["params"] == [second]


def test_adagrad_creates_its_state_eagerly_as_pytorch():
    param = chainrule.nn.Parameter(chainrule.ones(3))
    optimizer = optim.Adagrad([param], initial_accumulator_value=0.5)
    state = optimizer.state_dict()["state"][0]
    assert float(state["step"]) == 0.0
    np.testing.assert_array_equal(state["sum"].numpy(), np.full(3, 0.5, np.float32))


def test_adamw_is_adam_with_decoupled_weight_decay():
    assert issubclass(optim.AdamW, optim.Adam)
    param = chainrule.nn.Parameter(chainrule.ones(2))
    assert optim.AdamW([param]).defaults["weight_decay"] == 1e-2


def test_repr_lists_group_options():
    text = repr(optim.SGD([chainrule.nn.Parameter(chainrule.ones(1))], lr=0.1, momentum=0.9))
    assert text.startswith("SGD (") and "Parameter Group 0" in text and "momentum: 0.9" in text


@pytest.mark.parametrize("function", [optim.sgd, optim.adam, optim.rmsprop, optim.adagrad, optim.adadelta],
                         ids=lambda f: f.__name__)
def test_update_function_docstring_examples(function):
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(function, globs={"np": np, function.__name__: function})
    assert tests and tests[0].examples
    for test in tests:
        runner.run(test)
    assert runner.failures == 0


# ---------------------------------------------------------------------- bad input
def test_refuses_empty_parameter_list():
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.SGD([], lr=0.1)


def test_refuses_non_leaf_tensor():
    leaf = chainrule.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.Adam([leaf * 2.0])


def test_refuses_a_single_tensor_and_sets_and_non_tensors():
    param = chainrule.nn.Parameter(chainrule.ones(2))
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        optim.SGD(param, lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {param}}], lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([np.ones(2)], lr=0.1)


def test_refuses_a_parameter_in_two_groups():
    param = chainrule.nn.Parameter(chainrule.ones(2))
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [param]}, {"params": [param], "lr": 0.5}], lr=0.1)
    optimizer = optim.SGD([param], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optimizer.add_param_group({"params": [param]})


def test_warns_about_a_duplicate_parameter_within_a_group():
    param = chainrule.nn.Parameter(chainrule.ones(2))
    with pytest.warns(UserWarning, match="duplicate parameters"):
        optim.SGD([param, param], lr=0.1)


@pytest.mark.parametrize("make,message", [
    (lambda p: optim.SGD(p, lr=-0.1), "Invalid learning rate: -0.1"),
    (lambda p: optim.SGD([{"params": p, "lr": -1.0}], lr=0.1), "Invalid learning rate: -1.0"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), "Invalid weight_decay value: -1"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "Nesterov momentum requires a momentum"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "zero dampening"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (lambda p: optim.AdamW(p, eps=-1e-8), "Invalid epsilon value"),
    (lambda p: optim.RMSprop(p, alpha=-0.9), "Invalid alpha value: -0.9"),
    (lambda p: optim.Adagrad(p, lr_decay=-1.0), "Invalid lr_decay value: -1.0"),
    (lambda p: optim.Adagrad(p, initial_accumulator_value=-1.0), "Invalid initial_accumulator_value"),
])
def test_refuses_invalid_hyperparameters_by_name(make, message):
    params = [chainrule.nn.Parameter(chainrule.ones(2))]
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        make(params)


def test_differentiable_updates_are_refused_clearly():
    with pytest.raises(NotImplementedError, match="differentiable"):
        optim.Adam([chainrule.nn.Parameter(chainrule.ones(2))], differentiable=True)


def test_scheduler_warns_when_stepped_before_the_optimizer():
    param = chainrule.nn.Parameter(chainrule.ones(2))
    optimizer = optim.SGD([param], lr=0.1)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        scheduler.step()
    optimizer = optim.SGD([param], lr=0.1)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=2)
    (param * 2.0).sum().backward()
    optimizer.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scheduler.step()


def test_state_dict_is_deep_copyable():
    params = _chainrule_params()
    optimizer = optim.SGD(params, lr=0.1, momentum=0.9)
    _chainrule_loss(params).backward()
    optimizer.step()
    frozen = copy.deepcopy(optimizer.state_dict())
    before = frozen["state"][0]["momentum_buffer"].numpy().copy()
    optimizer.step()
    np.testing.assert_array_equal(frozen["state"][0]["momentum_buffer"].numpy(), before)


def test_sgd_momentum_buffer_of_a_zero_gradient_reaches_zero_not_a_subnormal():
    """Decaying by 0.9 a step, a buffer would stick a few units above zero in the subnormal
    range (slow arithmetic on Intel CPUs); it is stored as +0.0 instead, and the parameter,
    whose update that tiny a value could not change, is what the plain update gives."""
    tiny = np.finfo(np.float32).tiny
    param = chainrule.nn.Parameter(chainrule.tensor(np.array([0.25, -3.0], np.float32)))
    optimizer = optim.SGD([param], lr=0.1, momentum=0.9)
    expected, buffer = param.detach().numpy().copy(), np.zeros(2, np.float32)
    for step in range(1000):
        grad = np.array([1e-3, -2e-3], np.float32) if step == 0 else np.zeros(2, np.float32)
        param.grad = chainrule.tensor(grad)
        optimizer.step()
        buffer = buffer * np.float32(0.9) + grad
        expected -= np.float32(0.1) * buffer
        stored = optimizer.state[param]["momentum_buffer"].numpy()
        assert not ((stored != 0) & (np.abs(stored) < tiny)).any()
    assert ((buffer != 0) & (np.abs(buffer) < tiny)).all()  # the plain update is stuck there
    np.testing.assert_array_equal(stored, [0.0, 0.0])
    np.testing.assert_array_equal(param.detach().numpy(), expected)
