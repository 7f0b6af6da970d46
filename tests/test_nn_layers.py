"""Layers, losses and init: each layer against its PyTorch twin (weights exchanged through
state_dict, float64: outputs, input gradients and parameter gradients, train and eval), init
statistics, finite-difference checks through small whole models, and bad-input errors."""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest

import chainrule
from chainrule import nn
from chainrule.autograd import gradcheck

RTOL, ATOL = 1e-6, 1e-10


def _torch():
    return pytest.importorskip("torch")


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _close(ours, theirs, what: str) -> None:
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    np.testing.assert_allclose(np.asarray(ours.array), theirs, rtol=RTOL, atol=ATOL, err_msg=what)


def _copy_to_torch(ours, theirs) -> None:
    """torch twin ← chainrule through state_dict (as NumPy arrays), then back (torch tensors
    read by chainrule's load_state_dict), so both key sets must match exactly."""
    torch = _torch()
    state = {key: torch.from_numpy(value.numpy().copy()) for key, value in ours.state_dict().items()}
    theirs.load_state_dict(state)
    ours.load_state_dict(theirs.state_dict())


def _compare(ours, theirs, *inputs, grad_inputs=True, modes=("train", "eval"), extra_args=()):
    """Same outputs, input gradients and parameter gradients as the torch twin, in each mode.
    ``inputs`` are NumPy arrays; floating ones get requires_grad if ``grad_inputs`` is True or
    lists their positions."""
    torch = _torch()
    ours.double()
    theirs.double()
    _copy_to_torch(ours, theirs)
    for mode in modes:
        ours.train(mode == "train")
        theirs.train(mode == "train")
        ours.zero_grad()
        theirs.zero_grad()
        wanted = range(len(inputs)) if grad_inputs is True else grad_inputs or ()
        needs = [i in wanted and a.dtype.kind == "f" for i, a in enumerate(inputs)]
        ours_in = [chainrule.tensor(a, requires_grad=n) for a, n in zip(inputs, needs)]
        theirs_in = [torch.tensor(a, requires_grad=n) for a, n in zip(inputs, needs)]
        out = ours(*ours_in, *extra_args)
        expected = theirs(*theirs_in, *extra_args)
        _close(out, expected, f"{mode}: output")
        assert out.dtype == np.float64
        upstream = _rng(1).standard_normal(expected.shape)
        out.backward(chainrule.tensor(upstream))
        expected.backward(torch.tensor(upstream))
        for i, (a, b, n) in enumerate(zip(ours_in, theirs_in, needs)):
            if n:
                _close(a.grad, b.grad, f"{mode}: grad of input {i}")
        theirs_params = dict(theirs.named_parameters())
        for name, param in ours.named_parameters():
            if theirs_params[name].grad is None:
                assert param.grad is None or not param.grad.array.any(), name
            else:
                _close(param.grad, theirs_params[name].grad, f"{mode}: grad of {name}")
    return ours, theirs


def _x(*shape, seed=0):
    return _rng(seed).standard_normal(shape)


# ------------------------------------------------------------------------------ dense
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,)])
def test_linear_matches_torch(bias, shape):
    torch = _torch()
    _compare(nn.Linear(4, 3, bias=bias), torch.nn.Linear(4, 3, bias=bias), _x(*shape))


def test_linear_loaded_from_torch_initialisation():
    torch = _torch()
    torch.manual_seed(0)
    theirs = torch.nn.Linear(6, 2).double()
    ours = nn.Linear(6, 2).double()
    ours.load_state_dict(theirs.state_dict())  # torch tensors, read without importing torch
    x = _x(3, 6)
    _close(ours(chainrule.tensor(x)), theirs(torch.tensor(x)), "output")


def test_bilinear_matches_torch():
    torch = _torch()
    _compare(nn.Bilinear(3, 4, 2), torch.nn.Bilinear(3, 4, 2), _x(5, 3), _x(5, 4, seed=1))
    _compare(nn.Bilinear(3, 2, 2, bias=False), torch.nn.Bilinear(3, 2, 2, bias=False),
             _x(2, 5, 3), _x(2, 5, 2, seed=1))


def test_identity_flatten_unflatten_match_torch():
    torch = _torch()
    _compare(nn.Identity(3, key=1), torch.nn.Identity(3, key=1), _x(2, 3))
    _compare(nn.Flatten(), torch.nn.Flatten(), _x(2, 3, 4, 5))
    _compare(nn.Flatten(0, 2), torch.nn.Flatten(0, 2), _x(2, 3, 4, 5))
    _compare(nn.Unflatten(1, (3, 4)), torch.nn.Unflatten(1, (3, 4)), _x(2, 12))
    _compare(nn.Unflatten(-1, (2, -1)), torch.nn.Unflatten(-1, (2, -1)), _x(2, 12))


# ------------------------------------------------------------------------------ activations
ACTIVATIONS = [
    ("ReLU", {}), ("ReLU6", {}), ("LeakyReLU", {"negative_slope": 0.2}), ("ELU", {"alpha": 0.7}),
    ("GELU", {}), ("GELU", {"approximate": "tanh"}), ("SiLU", {}), ("Sigmoid", {}), ("Tanh", {}),
    ("Hardtanh", {"min_val": -0.5, "max_val": 2.0}), ("Softplus", {"beta": 2.0, "threshold": 3.0}),
    ("Softmax", {"dim": 1}), ("LogSoftmax", {"dim": -1}), ("Softmax", {"dim": 0}),
]


@pytest.mark.parametrize("name, kwargs", ACTIVATIONS)
def test_activation_matches_torch(name, kwargs):
    torch = _torch()
    x = _x(3, 5) * 3
    x[np.abs(x) < 1e-3] = 0.5  # keep off the kinks, where one-sided derivatives differ
    _compare(getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs), x)


@pytest.mark.parametrize("name, kwargs", ACTIVATIONS)
def test_activation_repr_matches_torch(name, kwargs):
    torch = _torch()
    assert repr(getattr(nn, name)(**kwargs)) == repr(getattr(torch.nn, name)(**kwargs))


def test_dropout_statistics_train_and_eval():
    chainrule.manual_seed(0)
    layer = nn.Dropout(p=0.3)
    x = chainrule.ones(200_000, requires_grad=True)
    out = layer(x)
    kept = out.array != 0
    assert abs(1 - kept.mean() - 0.3) < 0.005
    np.testing.assert_allclose(out.array[kept], 1 / 0.7, rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.array, out.array, rtol=1e-6)  # grad = mask / (1 - p)
    layer.eval()
    assert layer(x) is x or np.array_equal(layer(x).array, x.array)
    assert not nn.Dropout(0.0)(x).array.__eq__(0).any()
    assert not nn.Dropout(1.0)(x).array.any()
    with pytest.raises(ValueError, match="probability"):
        nn.Dropout(1.5)


@pytest.mark.parametrize("layer, shape", [(nn.Dropout2d, (40, 50, 3, 3)), (nn.Dropout1d, (40, 50, 4)),
                                          (nn.Dropout3d, (40, 50, 2, 2, 2))])
def test_channel_dropout_zeros_whole_channels(layer, shape):
    chainrule.manual_seed(0)
    dropout = layer(p=0.4)
    x = chainrule.ones(*shape, requires_grad=True)
    out = dropout(x)
    per_channel = out.array.reshape(shape[0], shape[1], -1)
    assert np.all(per_channel.min(-1) == per_channel.max(-1))  # each channel all kept or all zero
    dropped = per_channel[..., 0] == 0
    assert abs(dropped.mean() - 0.4) < 0.05  # 2000 channel draws
    np.testing.assert_allclose(per_channel[~dropped], 1 / 0.6, rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.array, out.array, rtol=1e-6)
    assert dropout.eval()(x) is x


def test_channel_dropout_on_other_ranks_as_pytorch_2_13():
    """Dropout1d refuses other ranks; Dropout2d warns and drops along the first two dims as
    (N, C) (so a 2-D input element by element, a 3-D one per (N, C) row); Dropout3d warns and
    reads other ranks as unbatched (the first dim is the channel)."""
    chainrule.manual_seed(0)
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input, but received a 4D input"):
        nn.Dropout1d(0.5)(chainrule.ones(2, 2, 2, 2))
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        nn.Dropout2d(0.5)(chainrule.ones(5))
    with pytest.warns(UserWarning, match="Received a 2-D input to dropout2d"):
        elementwise = nn.Dropout2d(0.5)(chainrule.ones(200, 50)).array
    assert not np.all(elementwise.min(1) == elementwise.max(1))  # rows are not dropped whole
    assert abs((elementwise == 0).mean() - 0.5) < 0.02
    with pytest.warns(UserWarning, match=r"interpreted as shape \(N, C, L\)"):
        rows = nn.Dropout2d(0.5)(chainrule.ones(30, 40, 6)).array
    assert np.all(rows.min(-1) == rows.max(-1)) and 0.4 < (rows == 0).mean() < 0.6
    with pytest.warns(UserWarning, match="Received a 3-D input to dropout3d"):
        slices = nn.Dropout3d(0.5)(chainrule.ones(400, 2, 3)).array
    per_slice = slices.reshape(400, -1)
    assert np.all(per_slice.min(1) == per_slice.max(1)) and 0.4 < (per_slice[:, 0] == 0).mean() < 0.6


def test_dropout_is_reproducible_with_manual_seed():
    x = chainrule.ones(100)
    chainrule.manual_seed(3)
    first = nn.Dropout()(x).array.copy()
    chainrule.manual_seed(3)
    np.testing.assert_array_equal(nn.Dropout()(x).array, first)


# ------------------------------------------------------------------------------ conv
CONV1D_CASES = [
    dict(in_channels=2, out_channels=3, kernel_size=3),
    dict(in_channels=4, out_channels=6, kernel_size=2, stride=2, padding=1, dilation=2, groups=2),
    dict(in_channels=2, out_channels=2, kernel_size=4, padding="same", bias=False),
    dict(in_channels=2, out_channels=2, kernel_size=3, padding="valid"),
]


@pytest.mark.parametrize("kwargs", CONV1D_CASES)
def test_conv1d_matches_torch(kwargs):
    torch = _torch()
    _compare(nn.Conv1d(**kwargs), torch.nn.Conv1d(**kwargs), _x(2, kwargs["in_channels"], 9))


CONV2D_CASES = [
    dict(in_channels=2, out_channels=3, kernel_size=3),
    dict(in_channels=2, out_channels=4, kernel_size=(2, 3), stride=(2, 1), padding=(1, 2)),
    dict(in_channels=4, out_channels=2, kernel_size=3, dilation=2, groups=2, bias=False),
    dict(in_channels=2, out_channels=3, kernel_size=(2, 3), padding="same", dilation=(1, 2)),
]


@pytest.mark.parametrize("kwargs", CONV2D_CASES)
def test_conv2d_matches_torch(kwargs):
    torch = _torch()
    _compare(nn.Conv2d(**kwargs), torch.nn.Conv2d(**kwargs), _x(2, kwargs["in_channels"], 7, 6))


def test_conv2d_unbatched_input_and_repr():
    torch = _torch()
    _compare(nn.Conv2d(2, 3, 3, padding=1), torch.nn.Conv2d(2, 3, 3, padding=1), _x(2, 5, 5))
    for kwargs in CONV2D_CASES:
        assert repr(nn.Conv2d(**kwargs)) == repr(torch.nn.Conv2d(**kwargs))


CONV_TRANSPOSE_CASES = [
    dict(in_channels=2, out_channels=3, kernel_size=3),
    dict(in_channels=2, out_channels=2, kernel_size=2, stride=2),
    dict(in_channels=4, out_channels=2, kernel_size=3, stride=2, padding=1, output_padding=1, groups=2),
    dict(in_channels=2, out_channels=3, kernel_size=(2, 3), stride=(1, 2), dilation=2, bias=False),
]


@pytest.mark.parametrize("kwargs", CONV_TRANSPOSE_CASES)
def test_conv_transpose2d_matches_torch(kwargs):
    torch = _torch()
    x = _x(2, kwargs["in_channels"], 4, 5)
    _compare(nn.ConvTranspose2d(**kwargs), torch.nn.ConvTranspose2d(**kwargs), x)
    assert repr(nn.ConvTranspose2d(**kwargs)) == repr(torch.nn.ConvTranspose2d(**kwargs))


@pytest.mark.parametrize("kwargs, output_length", [
    (dict(in_channels=2, out_channels=3, kernel_size=3, stride=2, padding=1, output_padding=1), 10),
    (dict(in_channels=4, out_channels=2, kernel_size=2, groups=2, dilation=2, bias=False), 7),
])
def test_conv_transpose1d_matches_torch(kwargs, output_length):
    torch = _torch()
    x = _x(2, kwargs["in_channels"], 5)
    _compare(nn.ConvTranspose1d(**kwargs), torch.nn.ConvTranspose1d(**kwargs), x)
    ours = nn.ConvTranspose1d(**kwargs).double()
    theirs = torch.nn.ConvTranspose1d(**kwargs).double()
    _compare(ours, theirs, x, extra_args=([output_length],), modes=("eval",))
    assert repr(ours) == repr(theirs)


def test_conv_transpose2d_output_size():
    torch = _torch()
    ours = nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1)
    theirs = torch.nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1)
    _compare(ours, theirs, _x(1, 2, 4, 4), extra_args=([1, 2, 8, 8],))
    x = chainrule.randn(1, 2, 4, 4, dtype=chainrule.float64)
    assert ours(x, output_size=(7, 7)).shape == (1, 2, 7, 7)
    with pytest.raises(ValueError, match="output_size"):
        ours(x, output_size=(9, 9))


# ------------------------------------------------------------------------------ pooling
POOL_CASES = [
    ("MaxPool1d", dict(kernel_size=2), (2, 3, 9)),
    ("MaxPool1d", dict(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=True), (2, 3, 8)),
    ("MaxPool2d", dict(kernel_size=2), (2, 3, 6, 6)),
    ("MaxPool2d", dict(kernel_size=(3, 2), stride=(2, 1), padding=1, dilation=(1, 2)), (2, 2, 7, 6)),
    ("MaxPool2d", dict(kernel_size=3, stride=2, ceil_mode=True), (1, 2, 8, 8)),
    ("AvgPool1d", dict(kernel_size=3, stride=2, padding=1), (2, 3, 8)),
    ("AvgPool1d", dict(kernel_size=3, padding=1, count_include_pad=False), (2, 3, 8)),
    ("AvgPool2d", dict(kernel_size=2), (2, 3, 6, 6)),
    ("AvgPool2d", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False), (2, 2, 7, 6)),
    ("AvgPool2d", dict(kernel_size=2, divisor_override=3), (1, 2, 4, 4)),
    ("AdaptiveAvgPool1d", dict(output_size=3), (2, 2, 7)),
    ("AdaptiveAvgPool2d", dict(output_size=(3, 2)), (2, 2, 7, 5)),
    ("AdaptiveAvgPool2d", dict(output_size=1), (2, 3, 4, 4)),
    ("AdaptiveAvgPool2d", dict(output_size=(None, 2)), (2, 3, 4, 5)),
]


@pytest.mark.parametrize("name, kwargs, shape", POOL_CASES)
def test_pooling_matches_torch(name, kwargs, shape):
    torch = _torch()
    x = _x(*shape)
    _compare(getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs), x)
    _compare(getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs), x[0], modes=("eval",))
    assert repr(getattr(nn, name)(**kwargs)) == repr(getattr(torch.nn, name)(**kwargs))


# ------------------------------------------------------------------------------ normalisation
BATCHNORM_CASES = [
    ("BatchNorm1d", dict(num_features=3), (6, 3)),
    ("BatchNorm1d", dict(num_features=3, bias=False), (5, 3)),
    ("BatchNorm1d", dict(num_features=3, momentum=None), (4, 3, 5)),
    ("BatchNorm2d", dict(num_features=2, momentum=0.3, eps=1e-3), (3, 2, 4, 4)),
    ("BatchNorm2d", dict(num_features=2, affine=False), (3, 2, 3, 3)),
    ("BatchNorm2d", dict(num_features=2, track_running_stats=False), (3, 2, 3, 3)),
]


@pytest.mark.parametrize("name, kwargs, shape", BATCHNORM_CASES)
def test_batchnorm_matches_torch_through_training_steps(name, kwargs, shape):
    torch = _torch()
    ours, theirs = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    with torch.no_grad():  # non-trivial affine parameters
        for param in theirs.parameters():
            param.uniform_(0.5, 1.5)
    ours.double().load_state_dict(theirs.double().state_dict())
    for step in range(3):
        x = _x(*shape, seed=step) * (step + 1) + step
        _compare(ours, theirs, x, modes=("train",))
        for key, value in theirs.state_dict().items():
            _close(ours.state_dict()[key], value, f"step {step}: {key}")
    _compare(ours, theirs, _x(*shape, seed=9), modes=("eval",))
    assert repr(ours) == repr(theirs)


def test_batchnorm_cumulative_average_with_momentum_none():
    layer = nn.BatchNorm1d(1, momentum=None).double()
    batches = [np.array([[1.0], [3.0]]), np.array([[5.0], [9.0]])]
    for batch in batches:
        layer(chainrule.tensor(batch))
    np.testing.assert_allclose(layer.running_mean.array, [(2.0 + 7.0) / 2])  # equal-weight average
    np.testing.assert_allclose(layer.running_var.array, [(2.0 + 8.0) / 2])  # unbiased batch variances
    assert layer.num_batches_tracked.item() == 2


@pytest.mark.parametrize("kwargs, shape", [
    (dict(normalized_shape=4), (3, 4)),
    (dict(normalized_shape=(3, 4), eps=1e-3), (2, 3, 4)),
    (dict(normalized_shape=4, bias=False), (2, 5, 4)),
    (dict(normalized_shape=4, elementwise_affine=False), (3, 4)),
])
def test_layernorm_matches_torch(kwargs, shape):
    torch = _torch()
    theirs = torch.nn.LayerNorm(**kwargs)
    if theirs.weight is not None:
        with torch.no_grad():
            theirs.weight.uniform_(0.5, 1.5)
    _compare(nn.LayerNorm(**kwargs), theirs, _x(*shape) * 2 + 1)
    assert repr(nn.LayerNorm(**kwargs)) == repr(torch.nn.LayerNorm(**kwargs))


@pytest.mark.parametrize("kwargs, shape", [
    (dict(num_groups=2, num_channels=4), (3, 4, 5)),
    (dict(num_groups=1, num_channels=3, eps=1e-3), (2, 3, 2, 2)),
    (dict(num_groups=3, num_channels=3, affine=False), (2, 3, 4)),
    (dict(num_groups=2, num_channels=4, bias=False), (2, 4, 3)),
])
def test_groupnorm_matches_torch(kwargs, shape):
    torch = _torch()
    theirs = torch.nn.GroupNorm(**kwargs)
    with torch.no_grad():
        for param in theirs.parameters():
            param.uniform_(0.5, 1.5)
    _compare(nn.GroupNorm(**kwargs), theirs, _x(*shape) * 2 + 1)
    assert repr(nn.GroupNorm(**kwargs)) == repr(torch.nn.GroupNorm(**kwargs))


# ------------------------------------------------------------------------------ embedding
@pytest.mark.parametrize("padding_idx", [None, 0, -1])
def test_embedding_matches_torch(padding_idx):
    torch = _torch()
    indices = np.array([[1, 2, 0], [4, 4, 9]])
    ours = nn.Embedding(10, 3, padding_idx=padding_idx)
    theirs = torch.nn.Embedding(10, 3, padding_idx=padding_idx)
    _compare(ours, theirs, indices)
    if padding_idx is not None:
        assert not ours.weight.array[padding_idx].any()
        assert not ours.weight.grad.array[padding_idx].any()
    assert repr(ours) == repr(theirs)


def test_embedding_max_norm_matches_torch():
    torch = _torch()
    indices = np.array([[1, 2, 1], [4, 0, 3]])
    ours = nn.Embedding(6, 3, max_norm=0.8, norm_type=1.0)
    theirs = torch.nn.Embedding(6, 3, max_norm=0.8, norm_type=1.0)
    with chainrule.no_grad():
        ours.weight[5] = 1.0
    _compare(ours, theirs, indices, modes=("train",))
    _close(ours.weight, theirs.weight, "renormalised table")
    np.testing.assert_array_equal(ours.weight.array[5], [1, 1, 1])  # rows not looked up are kept


def test_embedding_from_pretrained():
    vectors = chainrule.tensor([[1.0, 2.0], [3.0, 4.0]])
    table = nn.Embedding.from_pretrained(vectors)
    assert not table.weight.requires_grad
    np.testing.assert_array_equal(table(chainrule.tensor([1, 0, 1])).array, [[3, 4], [1, 2], [3, 4]])
    assert nn.Embedding.from_pretrained(vectors, freeze=False).weight.requires_grad
    with pytest.raises(ValueError, match="2-D"):
        nn.Embedding.from_pretrained(chainrule.ones(3))


# ------------------------------------------------------------------------------ losses
def _targets():
    rng = _rng(5)
    return {
        "real": rng.standard_normal((4, 3)) * 2,
        "classes": np.array([0, 2, 1, 2]),
        "classes_ignored": np.array([0, -100, 1, 2]),
        "classes_2d": rng.integers(0, 3, (4, 5)),
        "probs": rng.dirichlet(np.ones(3), size=4),
        "binary": rng.integers(0, 2, (4, 3)).astype(np.float64),
    }


LOSS_CASES = [
    ("MSELoss", {}, "real", (4, 3)),
    ("MSELoss", {"reduction": "sum"}, "real", (4, 3)),
    ("L1Loss", {"reduction": "none"}, "real", (4, 3)),
    ("SmoothL1Loss", {"beta": 0.5}, "real", (4, 3)),
    ("HuberLoss", {"delta": 0.7, "reduction": "sum"}, "real", (4, 3)),
    ("CrossEntropyLoss", {}, "classes", (4, 3)),
    ("CrossEntropyLoss", {"weight": [0.2, 1.0, 3.0]}, "classes", (4, 3)),
    ("CrossEntropyLoss", {"ignore_index": -100, "label_smoothing": 0.1}, "classes_ignored", (4, 3)),
    ("CrossEntropyLoss", {"weight": [0.2, 1.0, 3.0], "label_smoothing": 0.2}, "classes", (4, 3)),
    ("CrossEntropyLoss", {"reduction": "none"}, "classes_2d", (4, 3, 5)),
    ("CrossEntropyLoss", {"label_smoothing": 0.1}, "probs", (4, 3)),
    ("NLLLoss", {"weight": [1.0, 2.0, 0.5]}, "classes", (4, 3)),
    ("NLLLoss", {"ignore_index": 1, "reduction": "sum"}, "classes", (4, 3)),
    ("BCELoss", {"weight": [[1.0, 2.0, 0.5]]}, "binary", (4, 3)),
    ("BCEWithLogitsLoss", {}, "binary", (4, 3)),
    ("BCEWithLogitsLoss", {"pos_weight": [1.0, 3.0, 0.5], "reduction": "none"}, "binary", (4, 3)),
]


@pytest.mark.parametrize("name, kwargs, target_kind, input_shape", LOSS_CASES)
def test_loss_module_matches_torch(name, kwargs, target_kind, input_shape):
    torch = _torch()
    tensors = {"weight", "pos_weight"}
    ours_kwargs = {k: chainrule.tensor(np.array(v)) if k in tensors else v for k, v in kwargs.items()}
    theirs_kwargs = {k: torch.tensor(np.array(v)) if k in tensors else v for k, v in kwargs.items()}
    x = _x(*input_shape)
    if name == "BCELoss":
        x = 1 / (1 + np.exp(-x))
    if name == "NLLLoss":
        x = x - np.log(np.exp(x).sum(1, keepdims=True))
    ours, theirs = getattr(nn, name)(**ours_kwargs), getattr(torch.nn, name)(**theirs_kwargs)
    assert list(ours.state_dict()) == list(theirs.state_dict())  # weights are buffers in both
    _compare(ours, theirs, x, _targets()[target_kind], modes=("train",), grad_inputs=(0,))


def test_loss_legacy_reduction_flags():
    assert nn.MSELoss(size_average=False).reduction == "sum"
    assert nn.MSELoss(reduce=False).reduction == "none"
    assert nn.CrossEntropyLoss(size_average=True, reduce=True).reduction == "mean"
    with pytest.raises(ValueError, match="reduction"):
        nn.L1Loss(reduction="avg")


def test_loss_weight_moves_with_dtype():
    loss = nn.CrossEntropyLoss(weight=chainrule.tensor([1.0, 2.0]))
    loss.double()
    assert loss.weight.dtype == np.float64


# ------------------------------------------------------------------------------ init
def _stats(tensor):
    data = tensor.array.astype(np.float64)
    return data.mean(), data.std(), np.abs(data).max()


@pytest.mark.parametrize("make, fan_in", [
    (lambda: nn.Linear(400, 300), 400),
    (lambda: nn.Conv2d(16, 64, 5), 16 * 25),
    (lambda: nn.Conv1d(8, 512, 7, groups=2), 4 * 7),
    (lambda: nn.ConvTranspose2d(32, 16, 4), 16 * 16),  # weight (in, out, k, k): fan_in = out * k * k
])
def test_default_init_is_pytorchs_uniform(make, fan_in):
    chainrule.manual_seed(0)
    layer = make()
    bound = 1 / math.sqrt(fan_in)
    for tensor in (layer.weight, layer.bias):
        mean, std, largest = _stats(tensor)
        assert largest <= bound * (1 + 1e-6)
        tolerance = 5 / math.sqrt(tensor.numel())  # a few standard errors
        assert abs(mean) < bound * tolerance
        assert abs(std - bound / math.sqrt(3)) < bound * tolerance
    assert layer.weight.dtype == np.float32


def test_default_init_statistics_match_torch():
    torch = _torch()
    torch.manual_seed(0)
    chainrule.manual_seed(0)
    pairs = [
        (nn.Linear(300, 200), torch.nn.Linear(300, 200)),
        (nn.Conv2d(8, 32, 3), torch.nn.Conv2d(8, 32, 3)),
        (nn.Bilinear(20, 30, 40), torch.nn.Bilinear(20, 30, 40)),
        (nn.Embedding(500, 64), torch.nn.Embedding(500, 64)),
        (nn.BatchNorm2d(5), torch.nn.BatchNorm2d(5)),
        (nn.LayerNorm(6), torch.nn.LayerNorm(6)),
        (nn.GroupNorm(2, 6), torch.nn.GroupNorm(2, 6)),
    ]
    for ours, theirs in pairs:
        theirs_params = dict(theirs.named_parameters())
        assert list(ours.state_dict()) == list(theirs.state_dict())
        for name, param in ours.named_parameters():
            reference = theirs_params[name].detach().numpy()
            assert param.shape == reference.shape, name
            tolerance = 6 * reference.std() / math.sqrt(reference.size) + 1e-12
            assert abs(param.array.std() - reference.std()) < tolerance * 2, (ours, name)
            assert abs(param.array.mean() - reference.mean()) < tolerance, (ours, name)


def test_init_is_seeded():
    chainrule.manual_seed(7)
    first = nn.Linear(5, 5).weight.array.copy()
    chainrule.manual_seed(7)
    np.testing.assert_array_equal(nn.Linear(5, 5).weight.array, first)
    assert not np.array_equal(nn.Linear(5, 5).weight.array, first)


def test_embedding_and_norm_init():
    chainrule.manual_seed(0)
    mean, std, _ = _stats(nn.Embedding(1000, 100).weight)
    assert abs(mean) < 0.02 and abs(std - 1) < 0.02
    bn = nn.BatchNorm1d(4)
    assert bn.weight.array.tolist() == [1] * 4 and bn.bias.array.tolist() == [0] * 4
    assert bn.running_var.array.tolist() == [1] * 4 and bn.num_batches_tracked.item() == 0


def test_calculate_gain_formulas():
    assert nn.init.calculate_gain("linear") == 1 and nn.init.calculate_gain("conv2d") == 1
    assert nn.init.calculate_gain("sigmoid") == 1
    assert nn.init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert nn.init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert nn.init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert nn.init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert nn.init.calculate_gain("selu") == pytest.approx(0.75)
    with pytest.raises(ValueError, match="unsupported"):
        nn.init.calculate_gain("swishy")


def test_fan_in_and_fan_out():
    assert nn.init._calculate_fan_in_and_fan_out(chainrule.empty(3, 4)) == (4, 3)
    assert nn.init._calculate_fan_in_and_fan_out(chainrule.empty(8, 2, 3, 5)) == (30, 120)
    with pytest.raises(ValueError, match="fewer than 2"):
        nn.init._calculate_fan_in_and_fan_out(chainrule.empty(3))


@pytest.mark.parametrize("fill, expected_std, bound", [
    (lambda t: nn.init.xavier_uniform_(t, gain=2.0), 2 * math.sqrt(2 / 900), 2 * math.sqrt(6 / 900)),
    (lambda t: nn.init.xavier_normal_(t), math.sqrt(2 / 900), None),
    (lambda t: nn.init.kaiming_uniform_(t, nonlinearity="relu"), math.sqrt(2 / 400), math.sqrt(6 / 400)),
    (lambda t: nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"), math.sqrt(2 / 500), None),
    (lambda t: nn.init.kaiming_normal_(t, a=0.2), math.sqrt(2 / (1.04 * 400)), None),
    (lambda t: nn.init.normal_(t, 1.0, 0.5), 0.5, None),
    (lambda t: nn.init.uniform_(t, -3.0, 3.0), math.sqrt(3), 3.0),
])
def test_init_distributions(fill, expected_std, bound):
    chainrule.manual_seed(1)
    weight = nn.Parameter(chainrule.empty(500, 400))  # fan_in 400, fan_out 500
    assert fill(weight) is weight
    _, std, largest = _stats(weight)
    assert abs(std - expected_std) < 0.01 * expected_std
    if bound is not None:
        assert largest <= bound * (1 + 1e-6) and largest > 0.99 * bound
    assert weight.requires_grad and weight.grad_fn is None and weight.dtype == np.float32


def test_trunc_normal_constant_eye_orthogonal():
    chainrule.manual_seed(2)
    t = nn.init.trunc_normal_(chainrule.empty(100_000), mean=0.5, std=1.0, a=-1.0, b=2.0)
    assert t.array.min() >= -1.0 and t.array.max() <= 2.0
    # Truncated normal mean: mu + sigma (phi(alpha) - phi(beta)) / (Phi(beta) - Phi(alpha)).
    alpha, beta = -1.5, 1.5
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    assert abs(t.array.mean() - 0.5 - (phi(alpha) - phi(beta)) / (math.erf(beta / math.sqrt(2)))) < 0.01
    assert nn.init.constant_(chainrule.empty(2, 2), 0.3).array.tolist() == [[pytest.approx(0.3)] * 2] * 2
    np.testing.assert_array_equal(nn.init.eye_(chainrule.empty(2, 3)).array, np.eye(2, 3))
    for shape in [(6, 4), (4, 6), (3, 2, 2)]:
        q = nn.init.orthogonal_(chainrule.empty(*shape), gain=2.0).array.reshape(shape[0], -1)
        q = q.astype(np.float64)
        small = min(q.shape)
        gram = q.T @ q if q.shape[0] >= q.shape[1] else q @ q.T
        np.testing.assert_allclose(gram, 4 * np.eye(small), atol=1e-5)
    with pytest.raises(ValueError, match="2-D"):
        nn.init.eye_(chainrule.empty(3))


def test_init_inside_grad_mode_on_parameters_works():
    layer = nn.Linear(3, 3)
    nn.init.xavier_uniform_(layer.weight)  # a leaf requiring grad, changed without recording
    assert layer.weight.grad_fn is None


# ------------------------------------------------------------------------------ whole models
def _check_model(model, x):
    params = list(model.parameters())
    assert gradcheck(lambda inp, *ps: model(inp), (x, *params))


def test_gradcheck_through_linear_tanh_linear():
    chainrule.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    _check_model(model, chainrule.randn(5, 3, dtype=chainrule.float64, requires_grad=True))


def test_gradcheck_through_small_convnet_train_and_eval():
    chainrule.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * 2 * 2, 3),
    ).double()
    x = chainrule.randn(3, 1, 4, 4, dtype=chainrule.float64, requires_grad=True)
    _check_model(model, x)
    model.eval()
    _check_model(model, x)


def test_state_dict_interchange_of_a_whole_model_with_torch():
    torch = _torch()

    def build(lib):
        return lib.nn.Sequential(OrderedDict(
            conv=lib.nn.Conv2d(1, 4, 3, padding=1), bn=lib.nn.BatchNorm2d(4), act=lib.nn.ReLU(),
            pool=lib.nn.MaxPool2d(2), flat=lib.nn.Flatten(), drop=lib.nn.Dropout(0.5),
            fc=lib.nn.Linear(4 * 3 * 3, 5), ln=lib.nn.LayerNorm(5),
        ))

    ours, theirs = build(chainrule), build(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = _x(2, 1, 6, 6)
    _compare(ours, theirs, x, modes=("eval",))


@pytest.mark.parametrize("layer, shape", [
    (lambda: nn.Linear(3, 2), (4, 3)),
    (lambda: nn.Bilinear(3, 3, 2), (4, 3)),
    (lambda: nn.Conv1d(2, 3, 3, padding="same"), (2, 2, 6)),
    (lambda: nn.Conv2d(2, 3, 2, padding="same"), (2, 2, 5, 5)),
    (lambda: nn.ConvTranspose2d(2, 3, 3, stride=2), (2, 2, 3, 3)),
    (lambda: nn.MaxPool2d(2), (2, 2, 4, 4)),
    (lambda: nn.AvgPool1d(2), (2, 2, 4)),
    (lambda: nn.AdaptiveAvgPool2d(2), (2, 2, 5, 5)),
    (lambda: nn.BatchNorm1d(3, momentum=None), (4, 3)),
    (lambda: nn.BatchNorm2d(2), (2, 2, 3, 3)),
    (lambda: nn.LayerNorm(3), (4, 3)),
    (lambda: nn.GroupNorm(1, 2), (2, 2, 3)),
    (lambda: nn.Dropout(0.3), (4, 3)),
    (lambda: nn.Dropout2d(0.3), (2, 2, 3, 3)),
    (lambda: nn.GELU(), (4, 3)),
    (lambda: nn.Softplus(), (4, 3)),
])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_float32_stays_float32(layer, shape, mode):
    module = layer().train(mode == "train")
    x = chainrule.randn(*shape, requires_grad=True)
    out = module(x, x) if isinstance(module, nn.Bilinear) else module(x)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in module.parameters())
    assert all(b.dtype in (np.float32, np.int64) for b in module.buffers())


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("layer, shape, pattern", [
    (lambda: nn.Linear(784, 10), (32, 100), r"Linear\(in_features=784.*\(\*, 784\).*\(32, 100\)"),
    (lambda: nn.Conv2d(3, 8, 3), (4, 1, 8, 8), r"Conv2d\(3, 8.*\(N, 3, H, W\).*\(4, 1, 8, 8\)"),
    (lambda: nn.Conv2d(3, 8, 3), (4, 8, 8), r"Conv2d.*got shape \(4, 8, 8\)"),
    (lambda: nn.Conv2d(1, 1, 5), (1, 1, 3, 3), r"Conv2d.*smaller than the \(dilated\) kernel"),
    (lambda: nn.Conv1d(2, 4, 3), (4, 3, 10), r"Conv1d.*\(N, 2, L\)"),
    (lambda: nn.ConvTranspose2d(2, 4, 3), (1, 3, 4, 4), r"ConvTranspose2d.*\(N, 2, H, W\)"),
    (lambda: nn.BatchNorm1d(4), (8, 5), r"BatchNorm1d\(4.*\(N, 4\) or \(N, 4, L\).*\(8, 5\)"),
    (lambda: nn.BatchNorm2d(4), (8, 4, 3), r"BatchNorm2d.*\(N, 4, H, W\)"),
    (lambda: nn.LayerNorm(6), (2, 5), r"LayerNorm.*\(\*, 6\).*\(2, 5\)"),
    (lambda: nn.GroupNorm(2, 4), (2, 6, 3), r"GroupNorm.*\(N, 4, \*\)"),
    (lambda: nn.MaxPool2d(2), (4, 4), r"MaxPool2d.*\(N, C, H, W\)"),
    (lambda: nn.Unflatten(1, (3, 4)), (2, 10), r"Unflatten.*can't be split"),
    (lambda: nn.Bilinear(2, 3, 1), (4, 3), r"Bilinear.*input1"),
])
def test_wrong_input_shape_names_the_layer_and_the_expected_shape(layer, shape, pattern):
    module = layer()
    inputs = [chainrule.zeros(*shape)]
    if isinstance(module, nn.Bilinear):
        inputs.append(chainrule.zeros(4, 3))
    with pytest.raises(ValueError, match=pattern):
        module(*inputs)


def test_embedding_bad_indices():
    table = nn.Embedding(5, 2)
    with pytest.raises(IndexError, match=r"Embedding\(5, 2\).*index 7.*0 to 4"):
        table(chainrule.tensor([1, 7]))
    with pytest.raises(TypeError, match="integer indices"):
        table(chainrule.tensor([1.0]))


@pytest.mark.parametrize("make, pattern", [
    (lambda: nn.Conv2d(3, 4, 3, groups=2), "divisible by groups"),
    (lambda: nn.Conv2d(2, 4, 3, padding_mode="reflect"), "padding_mode"),
    (lambda: nn.Conv2d(2, 4, 3, stride=2, padding="same"), "strided"),
    (lambda: nn.Conv2d(2, 4, 3, padding="full"), "padding"),
    (lambda: nn.ConvTranspose2d(2, 4, 3, stride=2, output_padding=2), "output_padding"),
    (lambda: nn.GroupNorm(3, 4), "divisible"),
    (lambda: nn.Embedding(4, 2, padding_idx=4), "padding_idx"),
    (lambda: nn.GELU(approximate="fast"), "approximate"),
    (lambda: nn.Embedding(4, 2, sparse=True), "sparse"),
])
def test_bad_constructor_arguments(make, pattern):
    with pytest.raises((ValueError, NotImplementedError), match=pattern):
        make()


# ------------------------------------------------------------------ instance normalisation
def test_instance_norm_running_statistics_follow_the_per_sample_statistics() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 6)).astype(np.float32) * 2 + 1
    layer = nn.InstanceNorm1d(3, momentum=0.5, affine=True, track_running_stats=True)
    out = layer(chainrule.tensor(x))
    centered = x - x.mean(-1, keepdims=True)
    np.testing.assert_allclose(out.array, centered / np.sqrt((centered**2).mean(-1, keepdims=True) + 1e-5),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.running_mean.array, 0.5 * x.mean(-1).mean(0), rtol=1e-5)
    np.testing.assert_allclose(layer.running_var.array, 0.5 + 0.5 * x.var(-1, ddof=1).mean(0), rtol=1e-5)
    layer.eval()  # the running estimates replace the sample's own statistics
    expected = (x - layer.running_mean.array[:, None]) / np.sqrt(layer.running_var.array[:, None] + 1e-5)
    np.testing.assert_allclose(layer(chainrule.tensor(x)).array, expected, rtol=1e-5, atol=1e-5)


def test_instance_norm_takes_unbatched_input_and_refuses_wrong_channels() -> None:
    layer = nn.InstanceNorm2d(2)
    assert layer(chainrule.randn(2, 3, 3)).shape == (2, 3, 3)
    assert [name for name, _ in layer.named_parameters()] == []  # affine=False by default
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 2, H, W\)"):
        layer(chainrule.randn(1, 3, 4, 4))


@pytest.mark.parametrize("layer", ["InstanceNorm1d", "InstanceNorm2d"])
@pytest.mark.parametrize("kwargs", [{}, {"affine": True, "track_running_stats": True}])
def test_instance_norm_matches_pytorch(layer: str, kwargs: dict, torch) -> None:
    shape = (3, 2, 5) if layer == "InstanceNorm1d" else (3, 2, 4, 3)
    x = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    ours, theirs = getattr(nn, layer)(2, **kwargs), getattr(torch.nn, layer)(2, **kwargs)
    assert repr(ours) == repr(theirs)
    for _ in range(2):
        np.testing.assert_allclose(ours(chainrule.tensor(x)).array, theirs(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-5, atol=1e-5)
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    for name, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name].array, value.numpy(), rtol=1e-5)


@pytest.mark.parametrize(("layer", "shape", "size"), [("AdaptiveMaxPool2d", (2, 3, 7, 5), (3, 2)),
                                                       ("AdaptiveMaxPool1d", (2, 3, 10), 4)])
def test_adaptive_max_pool_layers_match_pytorch(layer: str, shape: tuple, size, torch) -> None:
    x = np.random.default_rng(5).standard_normal(shape)
    ours, theirs = getattr(nn, layer)(size), getattr(torch.nn, layer)(size)
    assert repr(ours) == repr(theirs)
    mine, reference = chainrule.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours(mine).sum().backward()
    theirs(reference).sum().backward()
    np.testing.assert_array_equal(mine.grad.array, reference.grad.numpy())


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


# ------------------------------------------------------------------------- embedding bags
def test_embedding_bag_layer_sums_each_bag_and_learns_its_rows() -> None:
    weight = chainrule.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    bag = nn.EmbeddingBag.from_pretrained(weight, freeze=False, mode="mean")
    out = bag(chainrule.tensor([0, 2, 1, 1, 1]), chainrule.tensor([0, 2]))
    np.testing.assert_allclose(out.array, [[1.5, 1.0], [0.0, 1.0]])
    out.sum().backward()
    np.testing.assert_allclose(bag.weight.grad.array, [[0.5, 0.5], [1.0, 1.0], [0.5, 0.5]])
    with pytest.raises(ValueError, match="offsets .* must start at 0"):
        bag(chainrule.tensor([0, 1]), chainrule.tensor([1]))
    with pytest.raises(ValueError, match="offsets must be None for 2-D input"):
        bag(chainrule.tensor([[0, 1]]), chainrule.tensor([0]))


@pytest.mark.parametrize("kwargs", [{}, {"mode": "sum", "padding_idx": 0}, {"mode": "max", "max_norm": 1.0}])
def test_embedding_bag_repr_matches_pytorch(kwargs: dict, torch) -> None:
    assert repr(nn.EmbeddingBag(10, 3, **kwargs)) == repr(torch.nn.EmbeddingBag(10, 3, **kwargs))
