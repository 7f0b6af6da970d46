"""Gradient checkpointing (chainrule.utils.checkpoint): gradients equal to the bit to those of
the plain run (dropout and second order included), activations not kept, PyTorch's errors."""

from __future__ import annotations

import gc
import tracemalloc
import warnings
import weakref

import numpy as np
import pytest

import chainrule
from chainrule import nn
from chainrule.autograd import gradcheck, gradgradcheck
from chainrule.utils.checkpoint import CheckpointError, checkpoint, checkpoint_sequential

VARIANTS = [False, True]  # use_reentrant


def _mlp(depth: int = 6, width: int = 8, p: float = 0.25) -> nn.Sequential:
    chainrule.manual_seed(3)
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.Tanh(), nn.Dropout(p)]
    return nn.Sequential(*layers)


def _gradients(
    model: nn.Sequential, x: chainrule.Tensor, segments: int | None, use_reentrant: bool = False
) -> list[np.ndarray]:
    """The input's and parameters' gradients of one training step, dropout seeded alike."""
    model.zero_grad()
    x = x.detach().requires_grad_(True)
    chainrule.manual_seed(7)
    if segments is None:
        out = model(x)
    else:
        out = checkpoint_sequential(model, segments, x, use_reentrant=use_reentrant)
    out.pow(2).sum().backward()
    return [x.grad.array.copy(), *[p.grad.array.copy() for p in model.parameters()]]


def _assert_bitwise_equal(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and np.array_equal(a, b)


@pytest.mark.parametrize("use_reentrant", VARIANTS)
@pytest.mark.parametrize("segments", [1, 3, 6])
def test_gradients_equal_plain_to_the_bit_with_dropout(segments: int, use_reentrant: bool) -> None:
    model = _mlp()
    x = chainrule.randn(5, 8)
    plain = _gradients(model, x, None)
    _assert_bitwise_equal(_gradients(model, x, segments, use_reentrant), plain)
    # The seed matters (dropout is on), so equality is not a coincidence of a dead mask.
    model.zero_grad()
    assert not np.array_equal(_gradients(model, x * 1.5, None)[0], plain[0])


@pytest.mark.parametrize("use_reentrant", VARIANTS)
def test_random_state_after_the_step_is_that_of_the_plain_step(use_reentrant: bool) -> None:
    model = _mlp()
    x = chainrule.randn(5, 8)
    _gradients(model, x, None)
    after_plain = chainrule.get_rng_state().array
    _gradients(model, x, 3, use_reentrant)
    assert np.array_equal(chainrule.get_rng_state().array, after_plain)


def test_without_preserve_rng_state_dropout_draws_new_masks() -> None:
    model = _mlp(p=0.5)
    x = chainrule.randn(5, 8)
    plain = _gradients(model, x, None)
    model.zero_grad()
    x = x.detach().requires_grad_(True)
    chainrule.manual_seed(7)
    out = checkpoint_sequential(model, 3, x, use_reentrant=False, preserve_rng_state=False)
    out.pow(2).sum().backward()
    assert not np.array_equal(x.grad.array, plain[0])


def test_second_order_equals_plain_to_the_bit() -> None:
    model = _mlp(depth=4)
    x = chainrule.randn(5, 8)

    def penalty(segments: int | None) -> list[np.ndarray]:
        model.zero_grad()
        chainrule.manual_seed(7)
        xx = x.detach().requires_grad_(True)
        out = (
            model(xx) if segments is None else checkpoint_sequential(model, segments, xx, use_reentrant=False)
        )
        params = [xx, *model.parameters()]
        grads = chainrule.autograd.grad(out.pow(2).sum(), params, create_graph=True)
        sum(g.pow(2).sum() for g in grads).backward()  # a gradient penalty
        return [p.grad.array.copy() for p in params]

    plain = penalty(None)
    assert any(np.abs(g).sum() > 0 for g in plain)
    _assert_bitwise_equal(penalty(2), plain)
    _assert_bitwise_equal(penalty(4), plain)


def test_autograd_grad_kwargs_non_tensor_arguments_and_several_outputs() -> None:
    w = chainrule.randn(3, 3, dtype=chainrule.float64, requires_grad=True)

    def segment(a, b, scale, *, power):
        hidden = (a @ w).tanh() * scale
        return hidden**power, "label", (hidden * b).sum(dim=1)

    a = chainrule.randn(4, 3, dtype=chainrule.float64, requires_grad=True)
    b = chainrule.randn(4, 3, dtype=chainrule.float64)  # needs no gradient

    def step(checkpointed: bool) -> tuple[np.ndarray, ...]:
        if checkpointed:
            first, label, second = checkpoint(segment, a, b, 0.5, use_reentrant=False, power=3)
        else:
            first, label, second = segment(a, b, 0.5, power=3)
        assert label == "label"
        loss = first.sum() + second.pow(2).sum()
        return tuple(g.array for g in chainrule.autograd.grad(loss, [a, w]))

    for got, want in zip(step(True), step(False)):
        assert np.array_equal(got, want)


def test_inputs_that_need_no_gradient_still_train_the_parameters() -> None:
    model = _mlp(depth=4)
    x = chainrule.randn(5, 8)  # a data batch: no requires_grad
    model.zero_grad()
    chainrule.manual_seed(7)
    model(x).sum().backward()
    plain = [p.grad.array.copy() for p in model.parameters()]
    model.zero_grad()
    chainrule.manual_seed(7)
    checkpoint_sequential(model, 2, x, use_reentrant=False).sum().backward()
    _assert_bitwise_equal([p.grad.array for p in model.parameters()], plain)


def _segment64(x, w):
    return (x @ w).sin() * x.exp()


def test_gradcheck_and_gradgradcheck_through_a_checkpoint() -> None:
    x = chainrule.randn(3, 3, dtype=chainrule.float64, requires_grad=True)
    w = chainrule.randn(3, 3, dtype=chainrule.float64, requires_grad=True)

    def checked(x, w):
        return checkpoint(_segment64, x, w, use_reentrant=False)

    assert gradcheck(checked, (x, w))
    assert gradgradcheck(checked, (x, w))


def test_the_segments_activations_are_not_kept() -> None:
    interior: list[weakref.ref] = []

    def segment(x):
        hidden = x.exp()
        interior.append(weakref.ref(hidden))
        return (hidden * x).sin()

    x = chainrule.randn(4, requires_grad=True)
    kept_plain = segment(x)
    gc.collect()
    assert interior[0]() is not None  # without checkpointing, backward keeps it
    out = checkpoint(segment, x, use_reentrant=False)
    gc.collect()
    assert interior[1]() is None
    out.sum().backward()
    expected = chainrule.autograd.grad(kept_plain.sum(), x)[0]
    assert np.array_equal(x.grad.array, expected.array)


def test_what_a_segment_keeps_is_its_output_not_its_activations_or_masks() -> None:
    x = chainrule.randn(50_000, requires_grad=True)

    def segment(t):  # saved: exp's output, relu's mask (on the node), dropout's mask, sin's input
        return nn.functional.dropout(t.exp().relu(), 0.5, training=True).sin()

    def kept_by(run) -> tuple[int, chainrule.Tensor]:
        run()  # once first, so that what the first call of anything allocates is not counted
        gc.collect()
        tracemalloc.start()
        try:
            out = run()
            return tracemalloc.get_traced_memory()[0], out
        finally:
            tracemalloc.stop()

    kept_plain, _ = kept_by(lambda: segment(x))
    kept, out = kept_by(lambda: checkpoint(segment, x, use_reentrant=False))
    assert kept_plain > 4 * out.array.nbytes
    assert kept < out.array.nbytes + 20_000  # relu's mask alone would be 50,000 bytes


@pytest.mark.parametrize("use_reentrant", VARIANTS)
def test_nested_checkpoints(use_reentrant: bool) -> None:
    model = _mlp(depth=4)
    x = chainrule.randn(5, 8)
    plain = _gradients(model, x, None)

    def outer(h):
        h = checkpoint(model[:6], h, use_reentrant=use_reentrant)
        return model[6:](h)

    model.zero_grad()
    xx = x.detach().requires_grad_(True)
    chainrule.manual_seed(7)
    checkpoint(outer, xx, use_reentrant=use_reentrant).pow(2).sum().backward()
    _assert_bitwise_equal([xx.grad.array, *[p.grad.array for p in model.parameters()]], plain)


def test_backward_twice_needs_retain_graph_as_without_checkpointing() -> None:
    x = chainrule.randn(4, requires_grad=True)
    loss = checkpoint(lambda t: t.exp().sin().sum(), x, use_reentrant=False)
    loss.backward(retain_graph=True)
    first = x.grad.array.copy()
    loss.backward()
    assert np.array_equal(x.grad.array, 2 * first)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


def test_an_input_changed_in_place_before_backward_is_an_error() -> None:
    x = chainrule.randn(4, requires_grad=True)
    h = x * 1.0
    out = checkpoint(lambda t: t.exp().sum(), h, use_reentrant=False)
    with chainrule.no_grad():
        h.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()


def test_a_segment_that_changes_between_forward_and_backward_is_a_checkpoint_error() -> None:
    calls = iter([True, False])
    x = chainrule.randn(4, requires_grad=True)
    out = checkpoint(lambda t: t.exp() if next(calls) else t.sin().cos(), x, use_reentrant=False)
    with pytest.raises(CheckpointError, match="made 1 ops in forward .* but 2 when recomputed"):
        out.sum().backward()


def test_under_no_grad_the_segment_just_runs() -> None:
    layer = nn.Linear(3, 2)
    x = chainrule.randn(4, 3)
    with chainrule.no_grad():
        for use_reentrant in VARIANTS:
            out = checkpoint(layer, x, use_reentrant=use_reentrant)
            assert not out.requires_grad
            assert np.array_equal(out.array, layer(x).array)


def test_use_reentrant_left_out_warns_and_is_reentrant() -> None:
    x = chainrule.randn(3, requires_grad=True)
    with pytest.warns(UserWarning, match="pass use_reentrant explicitly"):
        out = checkpoint(chainrule.sin, x)
    assert out.grad_fn.name() == "CheckpointFunctionBackward"
    with pytest.warns(UserWarning, match="pass use_reentrant explicitly"):
        checkpoint_sequential([chainrule.sin], 1, x)


def test_reentrant_refuses_autograd_grad_and_keyword_arguments() -> None:
    w = chainrule.randn(3, requires_grad=True)
    x = chainrule.randn(3, requires_grad=True)
    out = checkpoint(lambda t: (t * w).sin(), x, use_reentrant=True)
    with pytest.raises(RuntimeError, match=r"\.backward\(\) only, not with autograd.grad"):
        chainrule.autograd.grad(out.sum(), x)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: scale"):
        checkpoint(lambda t, scale=1: t * scale, x, use_reentrant=True, scale=2)


def test_reentrant_without_an_input_that_requires_grad_warns_as_pytorch() -> None:
    w = chainrule.randn(3, requires_grad=True)
    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"):
        out = checkpoint(lambda t: t * w, chainrule.randn(3), use_reentrant=True)
    assert not out.requires_grad
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert checkpoint(lambda t: t * w, chainrule.randn(3), use_reentrant=False).requires_grad


def test_reentrant_several_outputs_keep_their_places() -> None:
    x = chainrule.randn(3, requires_grad=True)
    first, label, second = checkpoint(lambda t: (t.sin(), 3, t.cos()), x, use_reentrant=True)
    assert label == 3
    (first.sum() + second.sum()).backward()
    assert np.allclose(x.grad.array, np.cos(x.array) - np.sin(x.array))


@pytest.mark.parametrize("segments", [0, 4, 1.5, True])
def test_checkpoint_sequential_refuses_a_bad_number_of_segments(segments) -> None:
    chain = [chainrule.sin, chainrule.cos, chainrule.exp]
    with pytest.raises(ValueError, match=r"segments is .*, but it must be a whole number from 1 to .* \(3\)"):
        checkpoint_sequential(chain, segments, chainrule.ones(2), use_reentrant=False)


def test_checkpoint_sequential_refuses_a_module_that_is_not_a_sequential() -> None:
    with pytest.raises(TypeError, match="must be an nn.Sequential or a list of callables, got a Linear"):
        checkpoint_sequential(nn.Linear(2, 2), 1, chainrule.ones(2), use_reentrant=False)


def test_checkpoint_sequential_leaves_the_last_segment_unchecked() -> None:
    seen: list[int] = []

    def probe(index):
        def run(value):
            seen.append(index)
            return value.sin()

        return run

    x = chainrule.randn(3, requires_grad=True)
    out = checkpoint_sequential([probe(i) for i in range(5)], 2, x, use_reentrant=False)
    assert seen == [0, 1, 2, 3, 4]
    out.sum().backward()
    assert seen[5:] == [0, 1]  # segment [0, 1] recomputed; [2, 3, 4] ran once, unchecked


def test_pytorch_gives_the_same_gradients() -> None:
    # PyTorch's plain run is the oracle: its checkpoint changes no gradient either (and running
    # it here would add names to the torch namespace that test_compat_doc.py lists).
    torch = pytest.importorskip("torch")

    model = _mlp(depth=4, p=0.0)
    x = chainrule.randn(5, 8)
    ours = _gradients(model, x, 2)
    layers = []
    for module in model:
        if isinstance(module, nn.Linear):
            linear = torch.nn.Linear(8, 8).double()
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(module.weight.array.astype(np.float64)))
                linear.bias.copy_(torch.from_numpy(module.bias.array.astype(np.float64)))
            layers.append(linear)
        elif isinstance(module, nn.Tanh):
            layers.append(torch.nn.Tanh())
    chain = torch.nn.Sequential(*layers)
    tx = torch.from_numpy(x.array.astype(np.float64)).requires_grad_(True)
    chain(tx).pow(2).sum().backward()
    theirs = [tx.grad.numpy(), *[p.grad.numpy() for p in chain.parameters()]]
    for a, b in zip(ours, theirs):
        assert np.allclose(a, b, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ Trainer and command line
def _fit(checkpoint_segments: int) -> tuple[nn.Sequential, int]:
    """A model trained 2 epochs of 3 batches, and how often its first layer ran forward."""
    from chainrule.train import Trainer
    from chainrule.utils.data import DataLoader, TensorDataset

    model = _mlp(depth=3, p=0.3)
    calls = []
    model[0].register_forward_hook(lambda module, inputs, output: calls.append(1))
    chainrule.manual_seed(11)
    data = TensorDataset(chainrule.randn(24, 8), chainrule.randint(0, 8, (24,)))
    trainer = Trainer(
        model,
        nn.CrossEntropyLoss(),
        chainrule.optim.SGD(model.parameters(), lr=0.1),
        track_grad_norms=False,
        checkpoint_segments=checkpoint_segments,
    )
    trainer.fit(DataLoader(data, batch_size=8, shuffle=True), epochs=2, verbose=0)
    return model, len(calls)


def test_trainer_with_checkpoint_segments_trains_the_same_weights_to_the_bit() -> None:
    plain, plain_calls = _fit(0)
    checkpointed, checkpointed_calls = _fit(3)
    assert (plain_calls, checkpointed_calls) == (6, 12)  # the first segment ran again in backward
    plain, checkpointed = plain.state_dict(), checkpointed.state_dict()
    assert all(np.array_equal(plain[name].array, checkpointed[name].array) for name in plain)
    assert not np.array_equal(plain["0.weight"].array, _mlp(depth=3).state_dict()["0.weight"].array)


class _NotSequential(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        return self.fc(x)


@pytest.mark.parametrize(
    ("model", "segments", "message"),
    [
        (
            _NotSequential,
            2,
            r"checkpoint_segments = 2 needs a model that is an nn.Sequential .* is a _NotSequential;",
        ),
        (
            lambda: nn.Sequential(nn.Linear(2, 2), nn.ReLU()),
            3,
            r"checkpoint_segments = 3 is more than the 2 layers",
        ),
        (lambda: nn.Sequential(nn.Linear(2, 2)), -1, r"checkpoint_segments must be a whole number >= 0"),
    ],
)
def test_trainer_refuses_checkpoint_segments_it_cannot_apply_in_one_sentence(
    model, segments, message
) -> None:
    from chainrule.errors import ConfigError
    from chainrule.train import Trainer

    module = model()
    with pytest.raises(ConfigError, match=message) as error:
        Trainer(
            module,
            nn.MSELoss(),
            chainrule.optim.SGD(module.parameters(), lr=0.1),
            checkpoint_segments=segments,
        )
    assert "\n" not in str(error.value)


def test_the_run_config_refuses_a_negative_checkpoint_segments() -> None:
    from chainrule.errors import ConfigError
    from chainrule.train.run import validate_config

    assert validate_config({"checkpoint_segments": 3})["checkpoint_segments"] == 3
    with pytest.raises(ConfigError, match=r"checkpoint_segments must be >= 0 \(0: off\), got -1"):
        validate_config({"checkpoint_segments": -1})
