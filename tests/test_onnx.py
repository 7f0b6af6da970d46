"""ONNX export: every supported layer, checked by onnx.checker (inside export) and run in ONNX
Runtime on random inputs, equal to chainrule's outputs within 1e-5; unsupported forwards are
refused with one sentence naming what is missing."""

from __future__ import annotations

import io

import numpy as np
import pytest

import chainrule
from chainrule.onnx import UnsupportedOpError
from chainrule.onnx.trace import trace

onnx = pytest.importorskip("onnx", reason="ONNX export needs the [onnx] extra")
pytest.importorskip("onnxruntime", reason="the round trip runs in ONNX Runtime ([onnx] extra)")

nn = chainrule.nn


def round_trip(model, *args, opset=None, **options):
    """Export, run in ONNX Runtime on the traced inputs, and return the largest difference
    from chainrule's own outputs (over every output), with the exported model."""
    buffer = io.BytesIO()
    proto = chainrule.onnx.export(model, args, buffer, opset_version=opset, **options)
    tensors = [arg for arg in args if isinstance(arg, chainrule.Tensor)]
    got = chainrule.onnx.run(buffer.getvalue(), *tensors)
    with chainrule.no_grad():
        _, expected = trace(model, args)
    assert len(got) == len(expected)
    difference = 0.0
    for ours, theirs in zip(expected, got):
        assert ours.shape == theirs.shape and ours.array.dtype == theirs.dtype
        difference = max(difference, float(np.max(np.abs(ours.array - theirs), initial=0.0)))
    return difference, proto


class Shapes(nn.Module):
    """Reshape, permute, concatenation and basic indexing, as model code writes them."""

    def forward(self, x):
        y = x.permute(0, 2, 1).reshape(x.shape[0], -1)
        both = chainrule.cat([y, y * 2], dim=1)
        return both[:, 1:7:2], x[..., -1], x[0, None], x.flatten(1).unsqueeze(1).expand(2, 3, 30)


class Reductions(nn.Module):
    """max/min (with and without a dim), amax, norm, einsum, prod, cumsum and flip, as model code
    writes them."""

    def forward(self, x):
        values, _ = x.max(dim=1)
        return (
            values,
            x.norm(dim=2),
            chainrule.einsum("bij,bkj->bik", x, x),
            x.min(),
            chainrule.amax(x, dim=(1, 2), keepdim=True),
            x.prod(dim=2),
            x.cumsum(dim=2),
            x.flip(1, 2),
        )


def batch_norm_with_statistics(layer):
    layer.running_mean.array[:] = np.linspace(-0.5, 0.5, layer.num_features)
    layer.running_var.array[:] = np.linspace(0.5, 2.0, layer.num_features)
    return layer


def layer_cases():
    x4 = chainrule.randn(2, 3, 9, 9)
    x3 = chainrule.randn(2, 3, 10)
    seq = chainrule.randn(5, 2, 8)
    return {
        "Linear": (nn.Linear(10, 4), x3),
        "Conv1d": (nn.Conv1d(3, 4, 3, padding=1, stride=2), x3),
        "Conv2d": (nn.Conv2d(3, 4, 3, stride=2, padding=1), x4),
        "Conv2d groups dilation": (nn.Conv2d(3, 6, 3, groups=3, dilation=2), x4),
        "ConvTranspose2d": (nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), x4),
        "MaxPool2d ceil": (nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), x4),
        "AvgPool2d": (nn.AvgPool2d(3, stride=2, padding=1), x4),
        "AdaptiveAvgPool2d": (nn.AdaptiveAvgPool2d(1), x4),
        "BatchNorm2d": (batch_norm_with_statistics(nn.BatchNorm2d(3)), x4),
        "BatchNorm1d": (batch_norm_with_statistics(nn.BatchNorm1d(3)), x3),
        "LayerNorm": (nn.LayerNorm(10), x3),
        "GroupNorm": (nn.GroupNorm(3, 3), x4),
        "Dropout": (nn.Sequential(nn.Dropout(0.5), nn.Linear(10, 2)), x3),
        **{
            name: (getattr(nn, name)(), x3)
            for name in [
                "ReLU",
                "Sigmoid",
                "Tanh",
                "GELU",
                "ELU",
                "LeakyReLU",
                "Softplus",
                "SiLU",
                "Hardtanh",
                "ReLU6",
            ]
        },
        "Softmax": (nn.Softmax(dim=1), x3),
        "LogSoftmax": (nn.LogSoftmax(dim=-1), x3),
        "Flatten": (nn.Flatten(), x4),
        "Shapes": (Shapes(), x3),
        "Reductions": (Reductions(), x3),
        "Embedding": (nn.Embedding(10, 4), chainrule.tensor([[1, 2, 9], [3, 4, 0]])),
        "MultiheadAttention": (
            nn.MultiheadAttention(8, 2),
            seq,
            chainrule.randn(7, 2, 8),
            chainrule.randn(7, 2, 8),
        ),
        "TransformerEncoder": (nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2), seq),
        "GRU": (nn.GRU(4, 6, batch_first=True), chainrule.randn(2, 5, 4)),
        "LSTM two layers": (nn.LSTM(4, 6, num_layers=2), chainrule.randn(5, 2, 4)),
        "LSTM bidirectional": (
            nn.LSTM(4, 6, bidirectional=True),
            chainrule.randn(5, 2, 4),
            (chainrule.randn(2, 2, 6), chainrule.randn(2, 2, 6)),
        ),
        "RNN relu": (nn.RNN(4, 6, nonlinearity="relu"), chainrule.randn(5, 2, 4)),
    }


CASES = layer_cases()


@pytest.mark.parametrize("name", list(CASES))
def test_each_layer_round_trips_through_onnx_runtime(name):
    model, *args = CASES[name]
    model.eval()
    difference, _ = round_trip(model, *args)
    assert difference <= 1e-5, f"{name}: ONNX Runtime differs by {difference:.2e}"


def test_a_cnn_exports_with_a_dynamic_batch_at_every_supported_opset_bound():
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        batch_norm_with_statistics(nn.BatchNorm2d(4)),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64, 10),
        nn.LogSoftmax(dim=1),
    )
    model.train()  # export switches to eval and back
    for opset in (13, 18, 21):
        buffer = io.BytesIO()
        chainrule.onnx.export(
            model,
            (chainrule.randn(2, 1, 8, 8),),
            buffer,
            input_names=["image"],
            output_names=["log_probs"],
            opset_version=opset,
            dynamic_axes={"image": {0: "batch"}, "log_probs": [0]},
        )
        assert model.training
        other = chainrule.randn(7, 1, 8, 8)  # another batch size than traced
        model.eval()
        with chainrule.no_grad():
            expected = model(other).array
        model.train()
        (got,) = chainrule.onnx.run(buffer.getvalue(), other)
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
        graph = onnx.load_from_string(buffer.getvalue()).graph
        assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
        assert graph.output[0].type.tensor_type.shape.dim[0].dim_param == "log_probs_dim0"
        # Parameters keep their state_dict names; batch norm's statistics are folded away.
        assert {"0.weight", "0.bias", "5.bias"} <= {tensor.name for tensor in graph.initializer}


@pytest.mark.parametrize("layer", ["GRU", "LSTM", "RNN"])
def test_a_recurrent_model_exports_with_a_dynamic_batch(layer):
    """The default zero initial state is made inside the forward at the traced batch size; the
    graph must not keep it as a constant, or another batch size would fail to run."""
    model = getattr(nn, layer)(4, 6, num_layers=2, bidirectional=True, batch_first=True)
    buffer = io.BytesIO()
    chainrule.onnx.export(
        model,
        (chainrule.randn(2, 5, 4),),
        buffer,
        input_names=["x"],
        output_names=["y", "h", "c"] if layer == "LSTM" else ["y", "h"],
        dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}, "h": {1: "batch"}},
    )
    other = chainrule.randn(7, 5, 4)
    with chainrule.no_grad():
        output, state = model(other)
    expected = [output, *(state if layer == "LSTM" else [state])]
    got = chainrule.onnx.run(buffer.getvalue(), other)
    assert [array.shape for array in got] == [tensor.shape for tensor in expected]
    for array, tensor in zip(got, expected):
        np.testing.assert_allclose(array, tensor.array, atol=1e-5, rtol=0)


@pytest.mark.parametrize("opset", [13, 18])
def test_reductions_export_at_opsets_with_axes_as_attribute_and_as_input(opset):
    difference, proto = round_trip(Reductions(), chainrule.randn(2, 3, 10), opset=opset)
    assert difference <= 1e-5
    ops = {node.op_type for node in proto.graph.node}
    assert {"ReduceMax", "ReduceMin", "ReduceL2", "Einsum", "ReduceProd", "CumSum", "Slice"} <= ops


def test_export_writes_a_path_atomically_and_returns_the_model(tmp_path):
    path = tmp_path / "model.onnx"
    proto = chainrule.onnx.export(nn.Linear(3, 2), chainrule.randn(1, 3), path)
    assert onnx.load(str(path)) == proto
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


class NumpyInside(nn.Module):
    def forward(self, x):
        scale = chainrule.tensor(np.abs(x.array).max())  # computed outside the traced ops
        return x * scale


class Branches(nn.Module):
    def forward(self, x):
        return x.exp() if float(x.sum()) > 0 else x.tanh()


class Doubler(chainrule.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return grad * 2


class Overwrite(nn.Module):
    def forward(self, x):
        out = x * 1.0
        out[:, 0] = x[:, 1]
        return out


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (Overwrite(), "changes the result of Mul in place"),
        (lambda x: x.mul_(2.0) + 1.0, "changes its input in place"),
        (lambda x: x.scatter(1, chainrule.tensor([[0], [1]]), 1.0), "no exporter for the op Scatter"),
        (lambda x: Doubler.apply(x), "no exporter for the op a user-defined autograd.Function"),
        (NumpyInside(), "passes Mul a value computed from the input outside chainrule's ops"),
        (Branches(), "applies different ops for different input values"),
        (lambda x: x[chainrule.tensor([0, 1])], "GetItem with tensor or list indices"),
    ],
)
def test_what_cannot_be_exported_is_refused_with_one_sentence(model, message):
    x = chainrule.randn(2, 3) + 5.0  # positive, so Branches takes one path, then the other
    with pytest.raises(UnsupportedOpError, match=message) as caught:
        chainrule.onnx.export(model, (x,), io.BytesIO())
    assert "\n" not in str(caught.value) and str(caught.value).count(". ") == 0


def test_bad_export_arguments_are_config_errors():
    from chainrule.errors import ConfigError

    model, x = nn.Linear(3, 2), chainrule.randn(1, 3)
    with pytest.raises(ConfigError, match="opset_version=9 is outside"):
        chainrule.onnx.export(model, x, io.BytesIO(), opset_version=9)
    with pytest.raises(ConfigError, match="input_names has 2 names for 1 tensor inputs"):
        chainrule.onnx.export(model, x, io.BytesIO(), input_names=["a", "b"])
    with pytest.raises(ConfigError, match=r"dynamic_axes names \['y'\]"):
        chainrule.onnx.export(model, x, io.BytesIO(), dynamic_axes={"y": [0]})


def test_tracing_leaves_the_engine_as_it_was():
    from chainrule.autograd.function import Function

    apply, greater = Function.__dict__["apply"], chainrule.Tensor.__gt__
    with pytest.raises(ZeroDivisionError):
        trace(lambda x: 1 / 0, (chainrule.ones(1),))
    assert Function.__dict__["apply"] is apply and chainrule.Tensor.__gt__ is greater
