"""Sequences of different lengths in one batch: ``pad_sequence``, ``PackedSequence`` and
``pack_padded_sequence`` / ``pad_packed_sequence``, with PyTorch's names and layout, and the
recurrent layers accept a ``PackedSequence``.

A packed sequence holds the valid steps only, time-major, sequences sorted by decreasing
length: ``data`` (sum of lengths, *), ``batch_sizes[t]`` the number of sequences longer than t.
A recurrent layer given one runs each group of sequences of one length as an ordinary batch
(so every hidden state, the last one included, stops at its sequence's end) and returns a
packed output and ``h_n`` in the caller's batch order. Bucketing a dataset by length keeps the
groups few. Packing and unpacking are indexing, so gradients flow through them.

Example::

    >>> from chainrule.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    >>> padded = chainrule.randn(2, 4, 3)                  # batch of 2, padded to length 4
    >>> packed = pack_padded_sequence(padded, [4, 2], batch_first=True)
    >>> packed.batch_sizes
    tensor([2, 2, 1, 1])
    >>> output, (h_n, c_n) = nn.LSTM(3, 5, batch_first=True)(packed)
    >>> unpacked, lengths = pad_packed_sequence(output, batch_first=True)
    >>> unpacked.shape, lengths
    ((2, 4, 5), tensor([4, 2]))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from chainrule.creation import full
from chainrule.ops.movement import cat, stack
from chainrule.tensor import Tensor


class PackedSequence(NamedTuple):
    """The valid steps of a batch of sequences (see the module's text)."""

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None

    def lengths(self) -> np.ndarray:
        """Each sequence's length, in sorted order."""
        sizes = self.batch_sizes.array
        return (sizes[None, :] > np.arange(int(sizes[0]))[:, None]).sum(1)


def _positions(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(time, sorted batch index) of every valid step, time-major: the packed data's order."""
    steps = np.arange(int(lengths.max()))[:, None]
    time, batch = np.nonzero(steps < lengths[None, :])
    return time, batch


def pad_sequence(sequences: Sequence[Tensor], batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack sequences (L_i, *) padded to the longest: (L, N, *), or (N, L, *) with
    ``batch_first``; ``padding_side="left"`` pads before the sequences."""
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'right' or 'left', got {padding_side!r}")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        missing = longest - s.shape[0]
        if missing:
            fill = full((missing, *s.shape[1:]), padding_value, dtype=s.dtype)
            s = cat([s, fill] if padding_side == "right" else [fill, s], 0)
        padded.append(s)
    return stack(padded, 0 if batch_first else 1)


def pack_padded_sequence(input: Tensor, lengths: Any, batch_first: bool = False,  # noqa: A002
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch (L, N, *) (or (N, L, *) with ``batch_first``) whose sequences have
    ``lengths``; with ``enforce_sorted`` they must come in decreasing length, otherwise they
    are sorted here and the order kept to undo it."""
    lengths = np.asarray(lengths.array if isinstance(lengths, Tensor) else lengths, np.int64).reshape(-1)
    sequence = input.transpose(0, 1) if batch_first else input
    if lengths.size != sequence.shape[1]:
        raise ValueError(f"pack_padded_sequence: {lengths.size} lengths for a batch of {sequence.shape[1]}")
    if lengths.size and (lengths.min() < 1 or lengths.max() > sequence.shape[0]):
        raise RuntimeError(f"pack_padded_sequence: lengths must be between 1 and the padded length "
                           f"{sequence.shape[0]}, got {lengths.tolist()}")
    sorted_indices = unsorted_indices = None
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError(f"pack_padded_sequence: lengths {lengths.tolist()} must be sorted in "
                               "decreasing order when enforce_sorted=True; sort the batch, or pass "
                               "enforce_sorted=False")
    else:
        order = np.argsort(-lengths, kind="stable")
        sorted_indices, unsorted_indices = Tensor._wrap(order), Tensor._wrap(np.argsort(order))
        sequence, lengths = sequence[:, order], lengths[order]
    time, batch = _positions(lengths)
    batch_sizes = Tensor._wrap(np.bincount(time).astype(np.int64))
    return PackedSequence(sequence[time, batch], batch_sizes, sorted_indices, unsorted_indices)


def _padded_sorted(sequence: PackedSequence, padding_value: float, total_length: int | None) -> Tensor:
    """The packed steps laid out as (L, N, *) in sorted batch order, ``padding_value`` after
    each sequence's end."""
    lengths = sequence.lengths()
    length = int(lengths.max()) if total_length is None else total_length
    if length < lengths.max():
        raise ValueError(f"pad_packed_sequence: total_length {total_length} is shorter than the longest "
                         f"sequence ({int(lengths.max())})")
    data = sequence.data
    padded = full((length, lengths.size, *data.shape[1:]), padding_value, dtype=data.dtype)
    time, batch = _positions(lengths)
    padded[time, batch] = data  # recorded when data requires grad: the gradient flows back
    return padded


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Undo ``pack_padded_sequence``: (padded, lengths), in the batch order packed."""
    padded = _padded_sorted(sequence, padding_value, total_length)
    lengths = sequence.lengths()
    if sequence.unsorted_indices is not None:
        order = sequence.unsorted_indices.array
        padded, lengths = padded[:, order], lengths[order]
    return (padded.transpose(0, 1) if batch_first else padded), Tensor._wrap(lengths.astype(np.int64))


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences (L_i, *) directly."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Tensor, lengths: Any, batch_first: bool = False) -> list[Tensor]:
    """The sequences of a padded batch, each cut to its length."""
    batch = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    sizes = lengths.tolist() if isinstance(lengths, Tensor) else list(lengths)
    return [batch[i, : int(n)] for i, n in enumerate(sizes)]


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The sequences of a packed batch, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


def run_packed(layer: Any, packed: PackedSequence, h0: Tensor | None, c0: Tensor | None) -> tuple:
    """A recurrent layer over a packed batch: each group of equal-length sequences run as an
    ordinary batch, outputs packed again, final states in the caller's batch order."""
    padded = _padded_sorted(packed, 0.0, None)
    lengths = packed.lengths()
    if packed.sorted_indices is not None:  # the states come in the caller's order: sort them
        order = packed.sorted_indices.array
        h0 = h0[:, order] if h0 is not None else None
        c0 = c0[:, order] if c0 is not None else None
    out_size = (layer.proj_size or layer.hidden_size) * (2 if layer.bidirectional else 1)
    output = full((padded.shape[0], lengths.size, out_size), 0.0, dtype=padded.dtype)
    states: dict[str, Tensor] = {}
    for length in np.unique(lengths):
        members = np.flatnonzero(lengths == length)
        group_h = h0[:, members] if h0 is not None else None
        group_c = c0[:, members] if c0 is not None else None
        group_out, h_n, c_n = layer._run_time_major(padded[: int(length), members], group_h, group_c)
        output[: int(length), members] = group_out
        for name, state in (("h", h_n), ("c", c_n)):
            if state is None:
                continue
            if name not in states:
                states[name] = full((state.shape[0], lengths.size, state.shape[2]), 0.0, dtype=state.dtype)
            states[name][:, members] = state
    time, batch = _positions(lengths)
    result = PackedSequence(output[time, batch], packed.batch_sizes, packed.sorted_indices,
                            packed.unsorted_indices)
    if packed.unsorted_indices is not None:
        back = packed.unsorted_indices.array
        states = {name: state[:, back] for name, state in states.items()}
    return result, states["h"], states.get("c")


__all__ = ["PackedSequence", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence", "pad_sequence",
           "unpack_sequence", "unpad_sequence"]
