"""Padded and packed sequences (chainrule.nn.utils.rnn) and recurrent layers over them.

Without PyTorch: the packed layout is checked against its definition, and a layer over a
packed batch must give each sequence exactly what the layer gives it alone (outputs, last
states, gradients). With PyTorch: values and gradients equal PyTorch's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule import nn
from chainrule.nn.utils import rnn

RNG = np.random.default_rng(12)


def test_packing_lays_out_valid_steps_time_major_and_unpacks_back() -> None:
    padded = chainrule.tensor(RNG.standard_normal((3, 4, 2)), requires_grad=True)  # batch first
    packed = rnn.pack_padded_sequence(padded, [2, 4, 1], batch_first=True, enforce_sorted=False)
    np.testing.assert_array_equal(packed.batch_sizes.array, [3, 2, 1, 1])
    np.testing.assert_array_equal(packed.sorted_indices.array, [1, 0, 2])
    x = padded.array
    expected = [x[1, 0], x[0, 0], x[2, 0], x[1, 1], x[0, 1], x[1, 2], x[1, 3]]
    np.testing.assert_array_equal(packed.data.array, np.stack(expected))
    unpacked, lengths = rnn.pad_packed_sequence(packed, batch_first=True, padding_value=-1.0)
    np.testing.assert_array_equal(lengths.array, [2, 4, 1])
    mask = np.arange(4)[None, :] < np.array([2, 4, 1])[:, None]
    np.testing.assert_array_equal(unpacked.array, np.where(mask[..., None], x, -1.0))
    unpacked.sum().backward()  # the gradient reaches the valid steps only
    np.testing.assert_array_equal(padded.grad.array, np.broadcast_to(mask[..., None], x.shape).astype(float))


def test_pad_sequence_and_its_inverses() -> None:
    sequences = [chainrule.randn(n, 2) for n in (3, 1, 2)]
    padded = rnn.pad_sequence(sequences, batch_first=True, padding_value=9.0)
    assert padded.shape == (3, 3, 2) and float(padded[1, 2, 0]) == 9.0
    left = rnn.pad_sequence(sequences, padding_side="left")
    np.testing.assert_array_equal(left[:, 1].array, np.concatenate([np.zeros((2, 2)), sequences[1].array]))
    unpadded = rnn.unpad_sequence(padded, [3, 1, 2], batch_first=True)
    unpacked = rnn.unpack_sequence(rnn.pack_sequence(sequences, False))
    for original, back, again in zip(sequences, unpadded, unpacked, strict=True):
        np.testing.assert_array_equal(original.array, back.array)
        np.testing.assert_array_equal(original.array, again.array)


def test_bad_lengths_say_what_is_wrong() -> None:
    padded = chainrule.randn(4, 2, 3)
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        rnn.pack_padded_sequence(padded, [2, 4])
    with pytest.raises(RuntimeError, match="between 1 and the padded length 4"):
        rnn.pack_padded_sequence(padded, [5, 1])
    with pytest.raises(ValueError, match="3 lengths for a batch of 2"):
        rnn.pack_padded_sequence(padded, [3, 2, 1])


@pytest.mark.parametrize("mode", ["RNN", "GRU", "LSTM"])
def test_a_packed_batch_gives_each_sequence_what_it_gets_alone(mode: str) -> None:
    layer = getattr(nn, mode)(3, 4, num_layers=2, bidirectional=True, batch_first=True).double()
    lengths = [3, 5, 1]
    x = RNG.standard_normal((3, 5, 3))
    inputs = chainrule.tensor(x, requires_grad=True)
    output, state = layer(rnn.pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False))
    h_n = state[0] if mode == "LSTM" else state
    unpacked, _ = rnn.pad_packed_sequence(output, batch_first=True)
    (unpacked.sum() + h_n.sum()).backward()
    for i, n in enumerate(lengths):
        alone = chainrule.tensor(x[i : i + 1, :n], requires_grad=True)
        alone_output, alone_state = layer(alone)
        alone_h = alone_state[0] if mode == "LSTM" else alone_state
        np.testing.assert_allclose(unpacked.array[i, :n], alone_output.array[0], rtol=1e-12, atol=1e-12)
        assert not unpacked.array[i, n:].any()
        np.testing.assert_allclose(h_n.array[:, i], alone_h.array[:, 0], rtol=1e-12, atol=1e-12)
        (alone_output.sum() + alone_h.sum()).backward()
        np.testing.assert_allclose(inputs.grad.array[i, :n], alone.grad.array[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize(("bidirectional", "layers", "enforce_sorted", "batch_first", "with_state"),
                         [(False, 1, True, False, False), (True, 2, False, True, True)])
def test_packed_layers_match_pytorch(mode: str, bidirectional: bool, layers: int, enforce_sorted: bool,
                                     batch_first: bool, with_state: bool, torch: Any) -> None:
    packing = torch.nn.utils.rnn
    x = RNG.standard_normal((4, 6, 3) if batch_first else (6, 4, 3))
    lengths = [6, 4, 4, 1] if enforce_sorted else [4, 6, 1, 4]
    theirs = getattr(torch.nn, mode)(3, 5, num_layers=layers, bidirectional=bidirectional,
                                     batch_first=batch_first).double()
    ours = getattr(nn, mode)(3, 5, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    ours.double().load_state_dict({k: chainrule.tensor(v.detach().numpy())
                                   for k, v in theirs.state_dict().items()})
    h = RNG.standard_normal((layers * (2 if bidirectional else 1), 4, 5)) if with_state else None

    def state(lib: Any) -> Any:
        if h is None:
            return None
        return (lib.tensor(h), lib.tensor(h * 0.5)) if mode == "LSTM" else lib.tensor(h)

    results = []
    for lib, layer, pack in ((chainrule, ours, rnn), (torch, theirs, packing)):
        inputs = lib.tensor(x, requires_grad=True)
        output, final = layer(pack.pack_padded_sequence(inputs, lengths, batch_first=batch_first,
                                                        enforce_sorted=enforce_sorted), state(lib))
        final = final[0] + 2 * final[1] if mode == "LSTM" else final
        unpacked, _ = pack.pad_packed_sequence(output, batch_first=batch_first)
        weights = np.random.default_rng(3).standard_normal(tuple(unpacked.shape))
        ((unpacked * lib.tensor(weights)).sum() + (final * 1.5).sum()).backward()
        results.append([np.asarray(t.detach().numpy() if lib is torch else t.array) for t in
                        (unpacked, final, inputs.grad, *[p.grad for p in layer.parameters()])])
    for mine, reference in zip(*results, strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-9, atol=1e-11)


@pytest.fixture
def torch() -> Any:
    return pytest.importorskip("torch")
