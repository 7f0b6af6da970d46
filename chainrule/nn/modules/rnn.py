"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` and the one-step cells ``RNNCell``, ``LSTMCell``,
``GRUCell``, with PyTorch's constructor arguments, parameter names (``weight_ih_l0``,
``bias_hh_l1_reverse``, ...), gate order and initialisation, so state dicts interchange with PyTorch.

How a layer runs, per layer and direction:

1. the input's share of every gate for all time steps at once, with one matmul:
   ``gates_x = x @ W_ih^T + b_ih``, of shape (L, N, gates * H);
2. the recurrence, the only part that has to loop over time, as one fused op from
   ``chainrule.ops.recurrent`` (``RNNRecurrence``, ``LSTMRecurrence``, ``GRURecurrence``) whose
   forward and backward (backpropagation through time) are written on NumPy arrays: a whole
   sequence is one node of the graph instead of about fifteen per time step.

Gates, in PyTorch's order: LSTM (i, f, g, o); GRU (r, z, n) with
``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`` and ``h' = (1 - z) * n + z * h``.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

from chainrule.creation import empty, zeros
from chainrule.dtypes import as_dtype
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.modules.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.utils.rnn import PackedSequence, run_packed
from chainrule.ops.linalg import linear
from chainrule.ops.movement import cat, stack
from chainrule.ops.recurrent import (
    GRURecurrence,
    LSTMRecurrence,
    RNNRecurrence,
    gru_step,
    lstm_sequence_graph,
    lstm_step,
    rnn_step,
)
from chainrule.tensor import Tensor

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


# ------------------------------------------------------------------------------ layers
def _check_layer_args(owner: str, input_size: int, hidden_size: int, dropout: float = 0.0,
                      num_layers: int = 1) -> None:
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout <= 1:
        raise ValueError(f"{owner}: dropout should be a number in range [0, 1] representing the "
                         f"probability of an element being zeroed, got {dropout!r}")


def _check_dtype(layer: Module, tensor: Tensor, what: str) -> None:
    weight_dtype = layer.weight_ih_l0.dtype if hasattr(layer, "weight_ih_l0") else layer.weight_ih.dtype
    if tensor.dtype != weight_dtype:
        raise RuntimeError(
            f"{layer!r}: {what} has dtype {tensor.dtype} but the layer's parameters are {weight_dtype}; "
            f"convert one to the other, e.g. {what}.to({weight_dtype}) or layer.to({tensor.dtype})"
        )


class RNNBase(Module):
    """What ``RNN``, ``LSTM`` and ``GRU`` share: the parameters of every layer and direction
    (``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``, with a
    ``_reverse`` suffix for the backward direction, and ``weight_hr_l{k}`` for a projected LSTM),
    the checks of inputs and initial states, and the loop over layers and directions.

    Every parameter starts as U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch's.
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        owner = type(self).__name__
        if mode not in _GATES:
            raise ValueError(f"{owner}: unknown mode {mode!r}; use one of {sorted(_GATES)}")
        _check_layer_args(owner, input_size, hidden_size, dropout, num_layers)
        if proj_size < 0 or (proj_size and mode != "LSTM") or proj_size >= hidden_size:
            raise ValueError(f"{owner}: proj_size must be 0, or (for LSTM only) a positive integer "
                             f"smaller than hidden_size={hidden_size}; got {proj_size}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{owner}: dropout={dropout} acts between layers, so with num_layers=1 it "
                          "does nothing; add layers or apply nn.Dropout to the output", stacklevel=2)
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.dropout, self.proj_size = float(dropout), proj_size
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        gate_size = _GATES[mode] * hidden_size
        out_size = proj_size or hidden_size
        num_directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input_size = input_size if layer == 0 else out_size * num_directions
                shapes: dict[str, tuple[int, ...]] = {"weight_ih": (gate_size, layer_input_size),
                                                      "weight_hh": (gate_size, out_size)}
                if bias:
                    shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
                if proj_size:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                names = [kind + suffix for kind in shapes]
                for name, shape in zip(names, shapes.values()):
                    setattr(self, name, Parameter(empty(*shape, dtype=as_dtype(dtype))))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -bound, bound)

    def flatten_parameters(self) -> None:
        """Kept for PyTorch scripts (it packs cuDNN weights there); nothing to do here."""

    @property
    def _flat_weights(self) -> list[Parameter]:
        return [self._parameters[name] for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters, one list per layer and direction, in PyTorch's order."""
        return [[self._parameters[name] for name in names] for names in self._all_weights]

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            text += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        if self.batch_first is not False:
            text += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            text += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            text += f", bidirectional={self.bidirectional}"
        return text

    # ------------------------------------------------------------------------- checks
    def _check_input(self, input: Tensor) -> bool:  # noqa: A002
        """Whether ``input`` is batched; raises on a wrong rank, size or dtype."""
        if not isinstance(input, Tensor):
            raise TypeError(f"{self!r}: input must be a Tensor, got {type(input).__name__}")
        layout = "(N, L, H_in)" if self.batch_first else "(L, N, H_in)"
        if input.ndim not in (2, 3):
            raise ValueError(f"{self!r}: expected input to be 2-D (L, H_in) unbatched or 3-D {layout} "
                             f"batched, got {input.ndim}-D input of shape {tuple(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{self!r}: input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {input.shape[-1]} (input of shape "
                               f"{tuple(input.shape)}, expected layout {layout})")
        time_dim = 1 if self.batch_first and input.ndim == 3 else 0
        if input.shape[time_dim] == 0:
            raise RuntimeError(f"{self!r}: expected a sequence of length > 0, got input of shape "
                               f"{tuple(input.shape)}")
        _check_dtype(self, input, "input")
        return input.ndim == 3

    def _initial_state(self, state: Tensor | None, size: int, sequence: Tensor, batched: bool,
                       what: str) -> list[Tensor]:
        """One (N, size) tensor per layer and direction, zeros when ``state`` is None."""
        count = self.num_layers * (2 if self.bidirectional else 1)
        batch = sequence.shape[1]
        if state is None:
            zero = zeros(batch, size, dtype=sequence.dtype)
            return [zero] * count
        if not isinstance(state, Tensor):
            raise TypeError(f"{self!r}: {what} must be a Tensor, got {type(state).__name__}")
        expected = (count, batch, size) if batched else (count, size)
        if tuple(state.shape) != expected:
            kind = "3-D for batched" if batched else "2-D for unbatched"
            raise RuntimeError(f"{self!r}: expected {what} of shape {expected} ({kind} input: "
                               f"num_layers * num_directions, {'N, ' if batched else ''}"
                               f"hidden size), got {tuple(state.shape)}")
        _check_dtype(self, state, what)
        if not batched:
            state = state.unsqueeze(1)
        return [state[k] for k in range(count)]

    # ------------------------------------------------------------------------ forward
    def _run_direction(self, layer_input: Tensor, name: str, reverse: bool, h0: Tensor,
                       c0: Tensor | None) -> tuple[Tensor, Tensor, Tensor | None]:
        """One layer in one direction over (L, N, H_in): outputs (L, N, H_out), last h, last c."""
        params = self._parameters
        gates_x = linear(layer_input, params["weight_ih" + name], params.get("bias_ih" + name))
        weight_hh, bias_hh = params["weight_hh" + name], params.get("bias_hh" + name)
        last = 0 if reverse else gates_x.shape[0] - 1
        if self.mode == "GRU":
            outputs = GRURecurrence.apply(gates_x, h0, weight_hh, bias_hh, reverse)
            return outputs, outputs[last], None
        if self.mode != "LSTM":
            nonlinearity = "tanh" if self.mode == "RNN_TANH" else "relu"
            outputs = RNNRecurrence.apply(gates_x, h0, weight_hh, bias_hh, nonlinearity, reverse)
            return outputs, outputs[last], None
        assert c0 is not None  # _run makes the LSTM's initial cell state
        if self.proj_size:
            by_step, c_n, _ = lstm_sequence_graph(gates_x, h0, c0, weight_hh, bias_hh, reverse,
                                                   params["weight_hr" + name])
            return stack(by_step), by_step[last], c_n
        outputs, c_n = LSTMRecurrence.apply(gates_x, h0, c0, weight_hh, bias_hh, reverse)
        return outputs, outputs[last], c_n

    def _run(self, input: Tensor, h0: Tensor | None, c0: Tensor | None = None) -> tuple:  # noqa: A002
        if isinstance(input, PackedSequence):
            return run_packed(self, input, h0, c0)
        batched = self._check_input(input)
        sequence = input.transpose(0, 1) if batched and self.batch_first else input
        if not batched:
            sequence = sequence.unsqueeze(1)
        output, h_n, c_n = self._run_time_major(sequence, h0, c0, batched)
        if not batched:
            output, h_n = output.squeeze(1), h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, h_n, c_n

    def _run_time_major(self, sequence: Tensor, h0: Tensor | None, c0: Tensor | None,
                        batched: bool = True) -> tuple:
        """Every layer and direction over ``sequence`` (L, N, H_in): output (L, N, D * H_out),
        h_n and c_n (num_layers * D, N, H)."""
        out_size = self.proj_size or self.hidden_size
        h_initial = self._initial_state(h0, out_size, sequence, batched, "hx")
        c_initial = None
        if self.mode == "LSTM":
            c_initial = self._initial_state(c0, self.hidden_size, sequence, batched, "cx")
        num_directions = 2 if self.bidirectional else 1
        layer_input = sequence
        h_last: list[Tensor] = []
        c_last: list[Tensor] = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(num_directions):
                index = layer * num_directions + direction
                reverse = direction == 1
                name = f"_l{layer}" + ("_reverse" if reverse else "")
                cell = c_initial[index] if c_initial is not None else None
                output, h_n, c_n = self._run_direction(layer_input, name, reverse, h_initial[index], cell)
                outputs.append(output)
                h_last.append(h_n)
                if c_n is not None:
                    c_last.append(c_n)
            layer_input = outputs[0] if num_directions == 1 else cat(outputs, dim=-1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        c_n = stack(c_last) if self.mode == "LSTM" else None
        return layer_input, stack(h_last), c_n


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu,
    stacked ``num_layers`` deep, optionally bidirectional.

    Shapes: input (L, N, H_in), or (N, L, H_in) with ``batch_first``, or (L, H_in) unbatched;
    hx (num_layers * num_directions, N, H) or zeros. Returns (output, h_n): output
    (L, N, num_directions * H) (batch first if asked), h_n like hx.

    Example::

        >>> rnn = nn.RNN(10, 20, num_layers=2)
        >>> output, h_n = rnn(chainrule.randn(5, 3, 10))
        >>> output.shape, h_n.shape
        ((5, 3, 20), (2, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device: Any = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}; use 'tanh' or 'relu'")
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:  # noqa: A002
        output, h_n, _ = self._run(input, hx)
        return output, h_n


class GRU(RNNBase):
    """Gated recurrent unit, stacked ``num_layers`` deep, optionally bidirectional. Per step::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h

    Shapes: input (L, N, H_in), or (N, L, H_in) with ``batch_first``, or (L, H_in) unbatched;
    hx (num_layers * num_directions, N, H) or zeros. Returns (output, h_n): output
    (L, N, num_directions * H) (batch first if asked), h_n like hx.

    Example::

        >>> gru = nn.GRU(1, 64, batch_first=True, bidirectional=True)
        >>> output, h_n = gru(chainrule.randn(100, 40, 1))
        >>> output.shape, h_n.shape
        ((100, 40, 128), (2, 100, 64))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:  # noqa: A002
        output, h_n, _ = self._run(input, hx)
        return output, h_n


class LSTM(RNNBase):
    """Long short-term memory, stacked ``num_layers`` deep, optionally bidirectional. Per step::

        i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (W_i* x + b_i* + W_h* h + b_h*)
        c' = f * c + i * g
        h' = o * tanh(c')          (times W_hr^T when proj_size > 0)

    Shapes: input (L, N, H_in), or (N, L, H_in) with ``batch_first``, or (L, H_in) unbatched;
    hx = (h_0, c_0), each (num_layers * num_directions, N, H) (h_0's last size is proj_size if
    set), or zeros. Returns (output, (h_n, c_n)), output (L, N, num_directions * H_out).

    Example::

        >>> lstm = nn.LSTM(10, 20, batch_first=True)
        >>> output, (h_n, c_n) = lstm(chainrule.randn(3, 5, 10))
        >>> output.shape, c_n.shape
        ((3, 5, 20), (1, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device: Any = None, dtype: Any = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, proj_size, device=device, dtype=dtype)

    def forward(self, input: Tensor,  # noqa: A002
                hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if hx is not None and (not isinstance(hx, tuple | list) or len(hx) != 2):
            raise TypeError(f"{self!r}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
        h0, c0 = hx if hx is not None else (None, None)
        output, h_n, c_n = self._run(input, h0, c0)
        return output, (h_n, c_n)


# ------------------------------------------------------------------------------- cells
class RNNCellBase(Module):
    """What the cells share: ``weight_ih`` (gates * H, H_in), ``weight_hh`` (gates * H, H),
    ``bias_ih`` and ``bias_hh`` (gates * H,), all U(-1/sqrt(H), 1/sqrt(H)) at first."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        _check_layer_args(type(self).__name__, input_size, hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        dtype = as_dtype(dtype)
        self.weight_ih = Parameter(empty(num_chunks * hidden_size, input_size, dtype=dtype))
        self.weight_hh = Parameter(empty(num_chunks * hidden_size, hidden_size, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(empty(num_chunks * hidden_size, dtype=dtype))
            self.bias_hh = Parameter(empty(num_chunks * hidden_size, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -bound, bound)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            text += f", nonlinearity={self.nonlinearity}"
        return text

    def _check_input(self, input: Tensor) -> bool:  # noqa: A002
        """Whether ``input`` is batched; raises on a wrong rank, size or dtype."""
        if not isinstance(input, Tensor):
            raise TypeError(f"{self!r}: input must be a Tensor, got {type(input).__name__}")
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise RuntimeError(f"{self!r}: expected input of shape (N, {self.input_size}) or "
                               f"({self.input_size},) (last size = input_size), got "
                               f"{tuple(input.shape)}")
        _check_dtype(self, input, "input")
        return input.ndim == 2

    def _state(self, state: Tensor | None, input: Tensor, batched: bool, what: str) -> Tensor:  # noqa: A002
        """The (N, H) state for one step: ``state`` checked (and given a batch dim), or zeros."""
        if state is None:
            return zeros(input.shape[0], self.hidden_size, dtype=input.dtype)
        expected = (input.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        if not isinstance(state, Tensor) or tuple(state.shape) != expected:
            shape = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
            raise RuntimeError(f"{self!r}: expected {what} of shape {expected}, got {shape}")
        _check_dtype(self, state, what)
        return state if batched else state.unsqueeze(0)


class RNNCell(RNNCellBase):
    """One Elman step: h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act tanh or relu.

    Shapes: input (N, H_in) or (H_in,), hx (N, H) / (H,) or zeros → h' (N, H) / (H,).

    Example::

        >>> cell = nn.RNNCell(10, 20)
        >>> cell(chainrule.randn(3, 10)).shape
        (3, 20)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device: Any = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r}; use 'tanh' or 'relu'")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        batched = self._check_input(input)
        x = input if batched else input.unsqueeze(0)
        h = self._state(hx, x, batched, "hx")
        gates_x = linear(x, self.weight_ih, self.bias_ih)
        h = rnn_step(gates_x, h, self.weight_hh, self.bias_hh, self.nonlinearity)
        return h if batched else h.squeeze(0)


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n as in ``GRU``).

    Shapes: input (N, H_in) or (H_in,), hx (N, H) / (H,) or zeros → h' (N, H) / (H,).

    Example::

        >>> cell = nn.GRUCell(10, 20)
        >>> cell(chainrule.randn(3, 10)).shape
        (3, 20)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        batched = self._check_input(input)
        x = input if batched else input.unsqueeze(0)
        h = self._state(hx, x, batched, "hx")
        h, _ = gru_step(linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step (gates i, f, g, o as in ``LSTM``).

    Shapes: input (N, H_in) or (H_in,), hx = (h, c) each (N, H) / (H,), or zeros →
    (h', c').

    Example::

        >>> cell = nn.LSTMCell(10, 20)
        >>> h, c = cell(chainrule.randn(3, 10))
        >>> h.shape, c.shape
        ((3, 20), (3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor,  # noqa: A002
                hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        if hx is not None and (not isinstance(hx, tuple | list) or len(hx) != 2):
            raise TypeError(f"{self!r}: hx must be a tuple (h, c), got {type(hx).__name__}")
        batched = self._check_input(input)
        x = input if batched else input.unsqueeze(0)
        h0, c0 = hx if hx is not None else (None, None)
        h = self._state(h0, x, batched, "hx[0]")
        c = self._state(c0, x, batched, "hx[1]")
        h, c, _ = lstm_step(linear(x, self.weight_ih, self.bias_ih), h, c, self.weight_hh, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))
