"""Attention: F.scaled_dot_product_attention, MultiheadAttention, the Transformer encoder and
decoder layers.

Checked against PyTorch twins sharing one state dict (float64, rtol 1e-6): outputs, attention
weights, input gradients and every parameter gradient, with bool and float masks, key padding,
causal masks, batch_first both ways and unbatched input. Without PyTorch: a NumPy reference for
the attention formula, gradcheck (first and second order) through tiny attention, initialisation,
deep-copied encoder layers, and clear errors for bad input.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import chainrule
import chainrule.nn.functional as F
from chainrule.autograd import gradcheck, gradgradcheck
from chainrule.nn.modules.transformer import (
    MultiheadAttention,
    Transformer,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

RNG = np.random.default_rng(7)
F64 = chainrule.float64


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _random(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def _assert_close(ours: Any, theirs: Any, what: str) -> None:
    theirs = theirs.detach().numpy()
    assert ours.shape == theirs.shape, what
    np.testing.assert_allclose(ours.array, theirs, rtol=1e-6, atol=1e-10, err_msg=what)


def _leaves(torch: Any, arrays: list[np.ndarray]) -> tuple[list[Any], list[Any]]:
    return ([chainrule.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


def _backward_both(torch: Any, ours: list[Any], theirs: list[Any]) -> None:
    """Backpropagate one random covector per result through both libraries."""
    ours_loss, theirs_loss = 0, 0
    for mine, reference in zip(ours, theirs):
        covector = _random(*mine.shape)
        ours_loss = ours_loss + (mine * chainrule.tensor(covector)).sum()
        theirs_loss = theirs_loss + (reference * torch.tensor(covector)).sum()
    ours_loss.backward()
    theirs_loss.backward()


def _compare_parameter_grads(ours: Any, theirs: Any) -> None:
    ours_params = dict(ours.named_parameters())
    assert sorted(ours_params) == sorted(name for name, _ in theirs.named_parameters())
    for name, reference in theirs.named_parameters():
        _assert_close(ours_params[name].grad, reference.grad, f"gradient of {name}")


def _mask(kind: str, shape: tuple[int, ...], torch: Any | None = None) -> Any:
    """A bool mask with a few True entries (never a whole row), or a float one; as both libraries'."""
    if kind == "bool":
        array = RNG.random(shape) < 0.3
        array[..., 0] = False
    else:
        array = _random(*shape)
    return chainrule.tensor(array), (torch.tensor(array) if torch is not None else None)


# ------------------------------------------------------------ scaled_dot_product_attention
def _reference_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, bias: np.ndarray) -> np.ndarray:
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1]) + bias
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    return weights / weights.sum(-1, keepdims=True) @ v


def test_sdpa_matches_numpy_reference_with_bool_and_causal_masks() -> None:
    q, k, v = _random(2, 3, 4, 5), _random(2, 3, 6, 5), _random(2, 3, 6, 7)
    keep = RNG.random((4, 6)) < 0.6
    keep[:, 0] = True
    inputs = [chainrule.tensor(a) for a in (q, k, v)]
    output = F.scaled_dot_product_attention(*inputs, attn_mask=chainrule.tensor(keep))
    expected = _reference_attention(q, k, v, np.where(keep, 0.0, -np.inf))
    np.testing.assert_allclose(output.array, expected, rtol=1e-12)
    causal = F.scaled_dot_product_attention(*inputs, is_causal=True)
    expected = _reference_attention(q, k, v, np.where(np.tri(4, 6, dtype=bool), 0.0, -np.inf))
    np.testing.assert_allclose(causal.array, expected, rtol=1e-12)


@pytest.mark.parametrize("mask_kind", [None, "bool", "float", "causal"])
@pytest.mark.parametrize("scale", [None, 0.3])
def test_sdpa_matches_pytorch(torch: Any, mask_kind: str | None, scale: float | None) -> None:
    arrays = [_random(2, 3, 4, 5), _random(2, 3, 6, 5), _random(2, 3, 6, 7)]
    kwargs: dict[str, Any] = {"scale": scale}
    ours_mask = theirs_mask = None
    if mask_kind == "causal":
        kwargs["is_causal"] = True
    elif mask_kind is not None:
        ours_mask, theirs_mask = _mask(mask_kind, (3, 4, 6), torch)  # broadcasts over the batch
    ours_in, theirs_in = _leaves(torch, arrays)
    if mask_kind == "float":  # a float mask is differentiable too
        ours_mask.requires_grad_()
        theirs_mask.requires_grad_()
    ours_out = F.scaled_dot_product_attention(*ours_in, attn_mask=ours_mask, **kwargs)
    theirs_out = torch.nn.functional.scaled_dot_product_attention(*theirs_in, attn_mask=theirs_mask, **kwargs)
    _assert_close(ours_out, theirs_out, "output")
    _backward_both(torch, [ours_out], [theirs_out])
    for name, mine, reference in zip("qkv", ours_in, theirs_in):
        _assert_close(mine.grad, reference.grad, f"gradient of {name}")
    if mask_kind == "float":
        _assert_close(ours_mask.grad, theirs_mask.grad, "gradient of the float mask")


def test_sdpa_grouped_query_attention_matches_pytorch(torch: Any) -> None:
    arrays = [_random(2, 4, 3, 5), _random(2, 2, 6, 5), _random(2, 2, 6, 5)]
    ours_in, theirs_in = _leaves(torch, arrays)
    ours_out = F.scaled_dot_product_attention(*ours_in, enable_gqa=True)
    theirs_out = torch.nn.functional.scaled_dot_product_attention(*theirs_in, enable_gqa=True)
    _assert_close(ours_out, theirs_out, "output")
    _backward_both(torch, [ours_out], [theirs_out])
    for mine, reference in zip(ours_in, theirs_in):
        _assert_close(mine.grad, reference.grad, "gradient")


def test_sdpa_fully_masked_row_gives_zeros_and_finite_gradients() -> None:
    q, k, v = (chainrule.tensor(_random(1, 3, 4), requires_grad=True) for _ in range(3))
    keep = np.ones((3, 3), dtype=bool)
    keep[1] = False
    output = F.scaled_dot_product_attention(q, k, v, attn_mask=chainrule.tensor(keep))
    np.testing.assert_array_equal(output.array[0, 1], 0.0)
    assert np.isfinite(output.array).all()
    output.sum().backward()
    for tensor in (q, k, v):
        assert np.isfinite(tensor.grad.array).all()
    np.testing.assert_array_equal(q.grad.array[0, 1], 0.0)


def test_sdpa_fully_masked_row_matches_pytorch(torch: Any) -> None:
    arrays = [_random(1, 3, 4) for _ in range(3)]
    keep = np.ones((3, 3), dtype=bool)
    keep[1] = False
    ours = F.scaled_dot_product_attention(*map(chainrule.tensor, arrays), attn_mask=chainrule.tensor(keep))
    theirs = torch.nn.functional.scaled_dot_product_attention(*map(torch.tensor, arrays),
                                                              attn_mask=torch.tensor(keep))
    _assert_close(ours, theirs, "output")


def test_sdpa_dropout() -> None:
    q, k, v = (chainrule.tensor(_random(2, 5, 4)) for _ in range(3))
    plain = F.scaled_dot_product_attention(q, k, v)
    chainrule.manual_seed(0)
    dropped = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    assert not np.allclose(dropped.array, plain.array)
    np.testing.assert_array_equal(F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).array, 0.0)


def test_sdpa_float32_stays_float32() -> None:
    q = chainrule.randn(2, 3, 4, requires_grad=True)
    mask = chainrule.tensor(_random(3, 3))  # float64 mask: cast, never promoting the float32 scores
    output = F.scaled_dot_product_attention(q, q, q, attn_mask=mask)
    assert output.dtype == np.float32
    output.sum().backward()
    assert q.grad.dtype == np.float32


def test_sdpa_errors() -> None:
    q = chainrule.randn(2, 3, 4)
    with pytest.raises(ValueError, match="either attn_mask or is_causal"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=chainrule.ones(3, 3, dtype=chainrule.bool),
                                       is_causal=True)
    with pytest.raises(ValueError, match=r"must agree on E and S.*query \(2, 3, 4\), key \(2, 3, 5\)"):
        F.scaled_dot_product_attention(q, chainrule.randn(2, 3, 5), q)
    with pytest.raises(TypeError, match="bool or floating point"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=chainrule.ones(3, 3, dtype=chainrule.int64))


def test_gradcheck_tiny_sdpa_first_and_second_order() -> None:
    q, k, v = (chainrule.tensor(_random(2, 3, 2), requires_grad=True) for _ in range(3))
    bias = chainrule.tensor(_random(3, 3), requires_grad=True)
    assert gradcheck(lambda q, k, v, b: F.scaled_dot_product_attention(q, k, v, attn_mask=b), (q, k, v, bias))
    assert gradgradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), (q, k, v))


# ---------------------------------------------------------------------- MultiheadAttention
def _mha_twins(torch: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    theirs = torch.nn.MultiheadAttention(*args, **kwargs).double()
    ours = MultiheadAttention(*args, **kwargs, dtype=F64)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


MHA_CASES = {
    "plain": {},
    "add_bias_kv": {"add_bias_kv": True},
    "add_zero_attn": {"add_zero_attn": True},
    "kdim_vdim": {"kdim": 3, "vdim": 5},
    "no_bias": {"bias": False},
}


@pytest.mark.parametrize("case", MHA_CASES)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("masks", ["none", "bool", "float", "bool-3d"])
@pytest.mark.parametrize("average", [True, False])
def test_multihead_attention_matches_pytorch(torch: Any, case: str, batch_first: bool, masks: str,
                                             average: bool) -> None:
    options = MHA_CASES[case]
    ours, theirs = _mha_twins(torch, 8, 2, batch_first=batch_first, **options)
    length, source, batch = 4, 6, 3

    def layout(size: int, features: int) -> tuple[int, ...]:
        return (batch, size, features) if batch_first else (size, batch, features)

    arrays = [_random(*layout(length, 8)), _random(*layout(source, options.get("kdim", 8))),
              _random(*layout(source, options.get("vdim", 8)))]
    ours_in, theirs_in = _leaves(torch, arrays)
    kwargs_ours: dict[str, Any] = {"average_attn_weights": average}
    kwargs_theirs = dict(kwargs_ours)
    if masks != "none":
        kind = masks.split("-")[0]
        attn_shape = (batch * 2, length, source) if masks.endswith("3d") else (length, source)
        kwargs_ours["attn_mask"], kwargs_theirs["attn_mask"] = _mask(kind, attn_shape, torch)
        padding = _mask(kind, (batch, source), torch)
        kwargs_ours["key_padding_mask"], kwargs_theirs["key_padding_mask"] = padding
    ours_out, ours_weights = ours(*ours_in, **kwargs_ours)
    theirs_out, theirs_weights = theirs(*theirs_in, **kwargs_theirs)
    _assert_close(ours_out, theirs_out, "output")
    _assert_close(ours_weights, theirs_weights, "attention weights")
    _backward_both(torch, [ours_out, ours_weights], [theirs_out, theirs_weights])
    for name, mine, reference in zip(("query", "key", "value"), ours_in, theirs_in):
        _assert_close(mine.grad, reference.grad, f"gradient of {name}")
    _compare_parameter_grads(ours, theirs)


@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_self_attention_unbatched_causal_matches_pytorch(torch: Any, need_weights: bool) -> None:
    ours, theirs = _mha_twins(torch, 8, 4)
    x = _random(5, 8)
    ours_x, theirs_x = chainrule.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    causal = np.triu(np.ones((5, 5), dtype=bool), 1)
    padding = np.array([False, False, False, False, True])
    ours_out, ours_weights = ours(ours_x, ours_x, ours_x, attn_mask=chainrule.tensor(causal), is_causal=True,
                                  key_padding_mask=chainrule.tensor(padding), need_weights=need_weights)
    theirs_out, theirs_weights = theirs(theirs_x, theirs_x, theirs_x, attn_mask=torch.tensor(causal),
                                        is_causal=True, key_padding_mask=torch.tensor(padding),
                                        need_weights=need_weights)
    _assert_close(ours_out, theirs_out, "output")
    if need_weights:
        _assert_close(ours_weights, theirs_weights, "attention weights")
    else:
        assert ours_weights is None and theirs_weights is None
    _backward_both(torch, [ours_out], [theirs_out])
    _assert_close(ours_x.grad, theirs_x.grad, "input gradient")
    _compare_parameter_grads(ours, theirs)


def test_multihead_attention_shared_key_value_matches_pytorch(torch: Any) -> None:
    """Cross-attention where key is value (the projection takes another path)."""
    ours, theirs = _mha_twins(torch, 6, 3, batch_first=True)
    q, memory = _random(2, 3, 6), _random(2, 4, 6)
    (ours_q, ours_m), (theirs_q, theirs_m) = _leaves(torch, [q, memory])
    ours_out, _ = ours(ours_q, ours_m, ours_m)
    theirs_out, _ = theirs(theirs_q, theirs_m, theirs_m)
    _assert_close(ours_out, theirs_out, "output")
    _backward_both(torch, [ours_out], [theirs_out])
    _assert_close(ours_m.grad, theirs_m.grad, "memory gradient")
    _compare_parameter_grads(ours, theirs)


def test_multihead_attention_dropout_only_in_training() -> None:
    chainrule.manual_seed(1)
    layer = MultiheadAttention(8, 2, dropout=0.5, dtype=F64)
    x = chainrule.tensor(_random(4, 2, 8))
    layer.eval()
    evaluated, weights = layer(x, x, x)
    np.testing.assert_allclose(weights.array.sum(-1), 1.0, rtol=1e-12)
    layer.train()
    trained, _ = layer(x, x, x)
    assert not np.allclose(trained.array, evaluated.array)


def test_multihead_attention_initialisation() -> None:
    layer = MultiheadAttention(16, 4, add_bias_kv=True)
    bound = math.sqrt(6.0 / (16 + 48))  # Xavier-uniform of the (3E, E) in_proj_weight
    assert np.abs(layer.in_proj_weight.array).max() <= bound
    assert layer.in_proj_weight.array.std() == pytest.approx(bound / math.sqrt(3), rel=0.1)
    np.testing.assert_array_equal(layer.in_proj_bias.array, 0.0)
    np.testing.assert_array_equal(layer.out_proj.bias.array, 0.0)
    assert layer.bias_k.shape == (1, 1, 16) and np.abs(layer.bias_k.array).max() > 0
    assert type(layer.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    separate = MultiheadAttention(16, 4, kdim=3, vdim=5)
    assert separate.in_proj_weight is None
    assert [name for name, _ in separate.named_parameters()] == [
        "q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]


def test_gradcheck_tiny_multihead_attention() -> None:
    chainrule.manual_seed(2)
    layer = MultiheadAttention(4, 2, dtype=F64)
    query = chainrule.tensor(_random(3, 1, 4), requires_grad=True)
    key = chainrule.tensor(_random(2, 1, 4), requires_grad=True)
    padding = chainrule.tensor(np.array([[False, True]]))

    def run(query: Any, key: Any, weight: Any, bias: Any) -> tuple[Any, Any]:
        return layer(query, key, key, key_padding_mask=padding, average_attn_weights=False)

    assert gradcheck(run, (query, key, layer.in_proj_weight, layer.out_proj.bias))


def test_multihead_attention_errors() -> None:
    with pytest.raises(ValueError, match=r"embed_dim \(10\) must be a positive multiple of num_heads \(3\)"):
        MultiheadAttention(10, 3)
    layer = MultiheadAttention(8, 2)
    x = chainrule.randn(4, 2, 8)
    with pytest.raises(RuntimeError, match=r"MultiheadAttention\(embed_dim=8, num_heads=2\): expected query "
                                           r"with last dimension 8, got shape \(4, 2, 6\)"):
        layer(chainrule.randn(4, 2, 6), x, x)
    with pytest.raises(RuntimeError, match=r"attn_mask must have shape \(4, 4\) or \(4, 4, 4\)"):
        layer(x, x, x, attn_mask=chainrule.zeros(3, 4))
    with pytest.raises(RuntimeError, match=r"key_padding_mask must have shape \(2, 4\)"):
        layer(x, x, x, key_padding_mask=chainrule.zeros(4, 2, dtype=chainrule.bool))
    with pytest.raises(RuntimeError, match="is_causal=True is only a hint and needs attn_mask"):
        layer(x, x, x, is_causal=True)
    with pytest.raises(ValueError, match="all be 3-D"):
        layer(x, chainrule.randn(4, 8), x)


# ------------------------------------------------------------- encoder and decoder layers
def _encoder_twins(torch: Any, dropout: float = 0.0, **kwargs: Any) -> tuple[Any, Any]:
    theirs = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=dropout, **kwargs).double()
    ours = TransformerEncoderLayer(8, 2, 16, dropout=dropout, **kwargs, dtype=F64)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def _compare_encoder(torch: Any, ours: Any, theirs: Any, x: np.ndarray, **masks: Any) -> None:
    ours_x, theirs_x = chainrule.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours_masks = {k: chainrule.tensor(v) for k, v in masks.items()}
    theirs_masks = {k: torch.tensor(v) for k, v in masks.items()}
    ours_out, theirs_out = ours(ours_x, **ours_masks), theirs(theirs_x, **theirs_masks)
    _assert_close(ours_out, theirs_out, "output")
    _backward_both(torch, [ours_out], [theirs_out])
    _assert_close(ours_x.grad, theirs_x.grad, "input gradient")
    _compare_parameter_grads(ours, theirs)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("mode", ["eval", "train-no-dropout"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_layer_matches_pytorch(torch: Any, norm_first: bool, mode: str, activation: str,
                                       batch_first: bool) -> None:
    dropout = 0.1 if mode == "eval" else 0.0
    ours, theirs = _encoder_twins(torch, dropout, norm_first=norm_first, activation=activation,
                                  batch_first=batch_first)
    ours.train(mode != "eval")
    theirs.train(mode != "eval")
    x = _random(3, 5, 8) if batch_first else _random(5, 3, 8)
    padding = RNG.random((3, 5)) < 0.3
    padding[:, 0] = False
    causal = np.triu(np.full((5, 5), -np.inf), 1)
    _compare_encoder(torch, ours, theirs, x, src_mask=causal, src_key_padding_mask=padding)


def test_encoder_layer_callable_activation_and_no_bias_match_pytorch(torch: Any) -> None:
    theirs = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=torch.tanh, bias=False)
    theirs = theirs.double()
    ours = TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=chainrule.tanh, bias=False, dtype=F64)
    ours.load_state_dict(theirs.state_dict())
    _compare_encoder(torch, ours, theirs, _random(4, 2, 8))


def test_encoder_matches_pytorch_and_copies_layers(torch: Any) -> None:
    theirs = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0),
                                         num_layers=2, norm=torch.nn.LayerNorm(8), enable_nested_tensor=False)
    theirs = theirs.double()
    layer = TransformerEncoderLayer(8, 2, 16, dropout=0.0, dtype=F64)
    ours = TransformerEncoder(layer, num_layers=2, norm=chainrule.nn.LayerNorm(8, dtype=F64))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    # Deep copies: equal to the given layer at first, but separate parameters.
    first, second = ours.layers
    assert first is not layer and first.linear1.weight is not second.linear1.weight
    np.testing.assert_array_equal(first.linear1.weight.array, layer.linear1.weight.array)
    with chainrule.no_grad():
        first.linear1.weight.add_(1.0)
    np.testing.assert_array_equal(second.linear1.weight.array, layer.linear1.weight.array)
    ours.load_state_dict(theirs.state_dict())
    unbatched = _random(5, 8)
    _compare_encoder(torch, ours, theirs, unbatched, mask=np.triu(np.ones((5, 5), dtype=bool), 1))


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_matches_pytorch(torch: Any, norm_first: bool) -> None:
    theirs = torch.nn.Transformer(8, 2, 1, 2, 16, dropout=0.0, norm_first=norm_first, batch_first=True)
    theirs = theirs.double()
    ours = Transformer(8, 2, 1, 2, 16, dropout=0.0, norm_first=norm_first, batch_first=True, dtype=F64)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    src, tgt = _random(2, 5, 8), _random(2, 4, 8)
    (ours_src, ours_tgt), (theirs_src, theirs_tgt) = _leaves(torch, [src, tgt])
    ours_mask = Transformer.generate_square_subsequent_mask(4, dtype=F64)
    theirs_mask = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    np.testing.assert_array_equal(ours_mask.array, theirs_mask.numpy())
    padding = np.array([[False] * 5, [False, False, False, True, True]])
    ours_out = ours(ours_src, ours_tgt, tgt_mask=ours_mask, tgt_is_causal=True,
                    memory_key_padding_mask=chainrule.tensor(padding))
    theirs_out = theirs(theirs_src, theirs_tgt, tgt_mask=theirs_mask, tgt_is_causal=True,
                        memory_key_padding_mask=torch.tensor(padding))
    _assert_close(ours_out, theirs_out, "output")
    _backward_both(torch, [ours_out], [theirs_out])
    _assert_close(ours_src.grad, theirs_src.grad, "src gradient")
    _assert_close(ours_tgt.grad, theirs_tgt.grad, "tgt gradient")
    _compare_parameter_grads(ours, theirs)


def test_encoder_layer_dropout_only_in_training() -> None:
    chainrule.manual_seed(4)
    layer = TransformerEncoderLayer(8, 2, 16, dropout=0.3, dtype=F64)
    x = chainrule.tensor(_random(4, 2, 8))
    layer.eval()
    np.testing.assert_array_equal(layer(x).array, layer(x).array)
    evaluated = layer(x)
    layer.train()
    assert not np.allclose(layer(x).array, evaluated.array)


def test_decoder_layer_shapes_and_float32() -> None:
    layer = TransformerDecoderLayer(8, 2, 16, batch_first=True)
    tgt, memory = chainrule.randn(2, 3, 8, requires_grad=True), chainrule.randn(2, 5, 8)
    output = layer(tgt, memory)
    assert output.shape == (2, 3, 8) and output.dtype == np.float32
    output.sum().backward()
    assert tgt.grad.dtype == np.float32


def test_encoder_layer_bad_activation() -> None:
    with pytest.raises(RuntimeError, match="activation should be relu/gelu"):
        TransformerEncoderLayer(8, 2, activation="swish")
