"""One ONNX exporter per chainrule op: the nodes that compute the op's traced call.

An exporter gets the graph and the call (arguments as traced) and adds nodes whose outputs are
bound to the call's outputs. Each is registered under the op's class name in ``EXPORTERS``; an
op missing here is refused by name when a traced forward uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.onnx.graph import Graph, UnsupportedOpError, array_of, known_array
from chainrule.onnx.trace import OpCall

Exporter = Callable[[Graph, OpCall], None]
EXPORTERS: dict[str, Exporter] = {}


def exporter(*names: str) -> Callable[[Exporter], Exporter]:
    def register(function: Exporter) -> Exporter:
        for name in names:
            EXPORTERS[name] = function
        return function

    return register


def _unsupported(call: OpCall, what: str) -> UnsupportedOpError:
    return UnsupportedOpError(
        f"ONNX export does not support {call.op} {what}; rewrite that part "
        "of the forward with supported ops or leave it out of the exported model"
    )


# ---------------------------------------------------------------------------------- elementwise
_BINARY = {
    "Add": "Add",
    "Sub": "Sub",
    "Mul": "Mul",
    "Div": "Div",
    "Pow": "Pow",
    "Maximum": "Max",
    "Minimum": "Min",
}
_UNARY = {
    "Neg": "Neg",
    "Exp": "Exp",
    "Log": "Log",
    "Sqrt": "Sqrt",
    "Abs": "Abs",
    "Sin": "Sin",
    "Cos": "Cos",
    "Tanh": "Tanh",
    "Sigmoid": "Sigmoid",
    "Relu": "Relu",
    "Erf": "Erf",
    "Clone": "Identity",
}


@exporter(*_BINARY)
def _binary(g: Graph, call: OpCall) -> None:
    # Operands are brought to the result's dtype first (a Python number, an int tensor in a
    # float op): ONNX's arithmetic does not promote.
    out = call.outputs[0]
    dtype = out.array.dtype
    a, b = (g.cast_to(g.name(arg, dtype), dtype) for arg in call.args[:2])
    g.one(_BINARY[call.op], [a, b], out)


@exporter("RPow")
def _rpow(g: Graph, call: OpCall) -> None:
    exponent, base = call.args
    dtype = call.outputs[0].array.dtype
    g.one("Pow", [g.name(base, dtype), g.cast_to(g.name(exponent, dtype), dtype)], call.outputs[0])


@exporter(*_UNARY)
def _unary(g: Graph, call: OpCall) -> None:
    g.one(_UNARY[call.op], [g.name(call.args[0])], call.outputs[0])


@exporter("Log1p")
def _log1p(g: Graph, call: OpCall) -> None:
    x = g.name(call.args[0])
    g.one("Log", [g.one("Add", [x, g.name(1, g.values[x].dtype)])], call.outputs[0])


@exporter("Cast")
def _cast(g: Graph, call: OpCall) -> None:
    from onnx import helper

    to = helper.np_dtype_to_tensor_dtype(call.outputs[0].array.dtype)
    g.one("Cast", [g.name(call.args[0])], call.outputs[0], to=to)


@exporter("LeakyRelu")
def _leaky_relu(g: Graph, call: OpCall) -> None:
    g.one("LeakyRelu", [g.name(call.args[0])], call.outputs[0], alpha=float(call.args[1]))


@exporter("Softplus")
def _softplus(g: Graph, call: OpCall) -> None:
    # PyTorch's softplus: log(1 + exp(beta x)) / beta, and x itself where beta x > threshold.
    x_value, beta, threshold = call.args
    x = g.name(x_value)
    dtype = g.values[x].dtype
    scaled = g.one("Mul", [x, g.name(beta, dtype)])
    smooth = g.one("Div", [g.one("Softplus", [scaled]), g.name(beta, dtype)])
    linear = g.one("Greater", [scaled, g.name(threshold, dtype)])
    g.one("Where", [linear, x, smooth], call.outputs[0])


@exporter("Clamp")
def _clamp(g: Graph, call: OpCall) -> None:
    x_value, low, high = call.args
    x = g.name(x_value)
    dtype = g.values[x].dtype
    bounds = ["" if bound is None else g.cast_to(g.name(bound, dtype), dtype) for bound in (low, high)]
    if any(np.ndim(array) > 0 for array in map(array_of, (low, high)) if array is not None):
        raise _unsupported(call, "with tensor bounds")
    g.one("Clip", [x, *bounds], call.outputs[0])


@exporter("Where")
def _where(g: Graph, call: OpCall) -> None:
    condition, a, b = call.args
    dtype = call.outputs[0].array.dtype
    branches = [g.cast_to(g.name(arg, dtype), dtype) for arg in (a, b)]
    g.one("Where", [g.name(condition), *branches], call.outputs[0])


@exporter("Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Equal", "NotEqual", "And", "Or", "Xor")
def _comparison(g: Graph, call: OpCall) -> None:
    a, b = call.args
    left = g.name(a)
    right = g.cast_to(g.name(b, g.values[left].dtype), g.values[left].dtype)
    if call.op == "NotEqual":
        g.one("Not", [g.one("Equal", [left, right])], call.outputs[0])
    else:
        g.one(call.op, [left, right], call.outputs[0])


# ------------------------------------------------------------------------------ softmax, norms
@exporter("Softmax", "LogSoftmax")
def _softmax(g: Graph, call: OpCall) -> None:
    x, dim = call.args
    g.one(call.op, [g.name(x)], call.outputs[0], axis=int(dim))


@exporter("Normalize")
def _normalize(g: Graph, call: OpCall) -> None:
    # (x - mean) / sqrt(var + eps) over ``dims``, then weight and bias: layer and group norm.
    x_value, weight, bias, dims, eps = call.args
    out, mean_out, var_out = call.outputs
    x = g.name(x_value)
    dtype = g.values[x].dtype
    mean = g.reduce("ReduceMean", x, list(dims), True, mean_out)
    centred = g.one("Sub", [x, mean])
    var = g.reduce("ReduceMean", g.one("Mul", [centred, centred]), list(dims), True, var_out)
    std = g.one("Sqrt", [g.one("Add", [var, g.name(eps, dtype)])])
    result = g.one("Div", [centred, std])
    if weight is not None:
        result = g.one("Mul", [result, g.name(weight)])
    if bias is not None:
        result = g.one("Add", [result, g.name(bias)])
    g.one("Identity", [result], out)


# ----------------------------------------------------------------------------------- reductions
@exporter("Sum", "Mean", "LogSumExp")
def _reduction(g: Graph, call: OpCall) -> None:
    x, dims, keepdim = call.args[:3]
    op = {"Sum": "ReduceSum", "Mean": "ReduceMean", "LogSumExp": "ReduceLogSumExp"}[call.op]
    axes = None if dims is None else [int(d) for d in np.atleast_1d(dims)]
    g.reduce(op, g.name(x), axes, bool(keepdim), call.outputs[0])


@exporter("Extremum")
def _extremum(g: Graph, call: OpCall) -> None:
    # max(dim)'s indices are computed beside the op, not by it: only the values are exported.
    x, dims, keepdim, largest = call.args[:4]
    axes = None if dims is None else [int(d) for d in np.atleast_1d(dims)]
    g.reduce("ReduceMax" if largest else "ReduceMin", g.name(x), axes, bool(keepdim), call.outputs[0])


@exporter("Norm2")
def _norm2(g: Graph, call: OpCall) -> None:
    x, dims, keepdim = call.args
    axes = None if dims is None else [int(d) for d in np.atleast_1d(dims)]
    g.reduce("ReduceL2", g.name(x), axes, bool(keepdim), call.outputs[0])


@exporter("Prod")
def _prod(g: Graph, call: OpCall) -> None:
    x, dim, keepdim = call.args
    g.reduce("ReduceProd", g.name(x), None if dim is None else [int(dim)], bool(keepdim), call.outputs[0])


@exporter("Cumsum")
def _cumsum(g: Graph, call: OpCall) -> None:
    x, dim = call.args
    if known_array(x).ndim == 0:
        g.one("Identity", [g.name(x)], call.outputs[0])
    else:
        g.one("CumSum", [g.name(x), g.constant(np.array(int(dim), np.int64), "axis")], call.outputs[0])


# ---------------------------------------------------------------------------- shape and layout
def _reshape_target(in_shape: Sequence[int], shape: Sequence[int]) -> list[int]:
    """The traced target with dims copied from the input written as 0 and one unknown as -1,
    so the graph still works when a dynamic axis (the batch) has another size."""
    target = [int(n) for n in shape]
    copied = 0
    while copied < min(len(in_shape), len(target)) and target[copied] == in_shape[copied]:
        target[copied] = 0
        copied += 1
    if -1 not in target and copied < len(target):
        target[copied] = -1
    return target


def _unit_axes_inserted(shape: Sequence[int], longer: Sequence[int]) -> list[int] | None:
    """The positions in ``longer`` of the size-1 axes whose removal leaves ``shape``, or None
    when ``longer`` is not ``shape`` with size-1 axes inserted."""
    axes, matched = [], 0
    for position, size in enumerate(longer):
        if matched < len(shape) and size == shape[matched]:
            matched += 1
        elif size == 1:
            axes.append(position)
        else:
            return None
    return axes if matched == len(shape) and axes else None


@exporter("Reshape")
def _reshape(g: Graph, call: OpCall) -> None:
    x, shape = call.args
    in_shape = known_array(x).shape
    out_shape = call.outputs[0].array.shape
    # A reshape that only adds or drops size-1 axes (stack's unsqueeze, say) names no other
    # size, so a dynamic axis anywhere in the shape keeps working.
    inserted, dropped = _unit_axes_inserted(in_shape, out_shape), _unit_axes_inserted(out_shape, in_shape)
    if inserted is not None:
        g.one("Unsqueeze", [g.name(x), g.ints(inserted, "axes")], call.outputs[0])
    elif dropped is not None:
        g.squeeze(g.name(x), dropped, call.outputs[0])
    else:
        g.one("Reshape", [g.name(x), g.ints(_reshape_target(in_shape, shape))], call.outputs[0])


@exporter("Expand")
def _expand(g: Graph, call: OpCall) -> None:
    x, shape = call.args
    in_shape = (1,) * (len(shape) - known_array(x).ndim) + known_array(x).shape
    # A 1 keeps the input's own size (ONNX broadcasts both ways), so dynamic axes survive.
    target = [1 if n in (m, -1) else int(n) for n, m in zip(shape, in_shape)]
    g.one("Expand", [g.name(x), g.ints(target)], call.outputs[0])


@exporter("Permute")
def _permute(g: Graph, call: OpCall) -> None:
    x, dims = call.args
    g.one("Transpose", [g.name(x)], call.outputs[0], perm=[int(d) for d in dims])


@exporter("Flip")
def _flip(g: Graph, call: OpCall) -> None:
    x, dims = call.args
    axes = [int(d) for d in np.atleast_1d(dims)]
    # Each axis read from its last element to the front: a negative step with ends beyond it.
    starts, ends, steps = [-1] * len(axes), [-(2**62)] * len(axes), [-1] * len(axes)
    g.one("Slice", [g.name(x), g.ints(starts), g.ints(ends), g.ints(axes), g.ints(steps)], call.outputs[0])


@exporter("Cat")
def _cat(g: Graph, call: OpCall) -> None:
    dim, *parts = call.args
    dtype = call.outputs[0].array.dtype
    g.one("Concat", [g.cast_to(g.name(p, dtype), dtype) for p in parts], call.outputs[0], axis=int(dim))


@exporter("Pad")
def _pad(g: Graph, call: OpCall) -> None:
    x, widths, value = call.args
    pads = [int(before) for before, _ in widths] + [int(after) for _, after in widths]
    x_name = g.name(x)
    fill = g.name(value, g.values[x_name].dtype)
    g.one("Pad", [x_name, g.ints(pads, "pads"), fill], call.outputs[0], mode="constant")


@exporter("GetItem")
def _getitem(g: Graph, call: OpCall) -> None:
    # Basic indexing only (ints, slices, None, ...): Slice, then Squeeze/Unsqueeze.
    x_value, index, index_tensors = call.args
    if index_tensors or not _is_basic(index):
        raise _unsupported(call, "with tensor or list indices (advanced indexing)")
    index = index if isinstance(index, tuple) else (index,)
    shape = known_array(x_value).shape
    explicit = sum(1 for item in index if item is not None and item is not Ellipsis)
    expanded: list[Any] = []
    for item in index:
        expanded.extend([slice(None)] * (len(shape) - explicit) if item is Ellipsis else [item])
    expanded += [slice(None)] * (len(shape) - sum(1 for i in expanded if i is not None))
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    axis = 0
    kept = 0  # dims of the result so far: where a None inserts its new dim
    for item in expanded:
        if item is None:
            unsqueeze.append(kept)
            kept += 1
            continue
        if isinstance(item, slice):
            kept += 1
            start, stop, step = item.indices(shape[axis])
            if (start, stop, step) != (0, shape[axis], 1):
                stop = stop if stop >= 0 else -(2**62)  # a negative step running to the front
                starts.append(start)
                ends.append(stop)
                axes.append(axis)
                steps.append(step)
        else:
            item = int(item) % shape[axis]
            starts.append(item)
            ends.append(item + 1)
            axes.append(axis)
            steps.append(1)
            squeeze.append(axis)
        axis += 1
    result = g.name(x_value)
    if axes:
        result = g.one("Slice", [result, g.ints(starts), g.ints(ends), g.ints(axes), g.ints(steps)])
    if squeeze:
        result = g.squeeze(result, squeeze)
    if unsqueeze:
        result = g.unsqueeze(result, unsqueeze)
    g.one("Identity", [result], call.outputs[0])


def _is_basic(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(
        item is None or item is Ellipsis or isinstance(item, slice | int | np.integer) for item in items
    )


# ------------------------------------------------------------------------- linear, conv, pool
@exporter("MatMul")
def _matmul(g: Graph, call: OpCall) -> None:
    g.one("MatMul", [g.name(a) for a in call.args], call.outputs[0])


@exporter("Einsum")
def _einsum(g: Graph, call: OpCall) -> None:
    equation, *operands = call.args
    dtype = call.outputs[0].array.dtype
    names = [g.cast_to(g.name(operand, dtype), dtype) for operand in operands]
    g.one("Einsum", names, call.outputs[0], equation=equation)


@exporter("Linear")
def _linear(g: Graph, call: OpCall) -> None:
    x, weight, bias = call.args
    if g.is_dynamic(weight):
        weight_t = g.one("Transpose", [g.name(weight)], perm=[1, 0])
    else:
        weight_t = g.constant(known_array(weight).T, g._constant_names.get(id(known_array(weight)), "weight"))
    product = g.one("MatMul", [g.name(x), weight_t], None if bias is not None else call.outputs[0])
    if bias is not None:
        g.one("Add", [product, g.name(bias)], call.outputs[0])


def _window_attributes(window: Any) -> dict[str, Any]:
    """ONNX's attributes of a 1-D or 2-D window: pads are all the starts, then all the ends."""
    return {
        "kernel_shape": list(window.kernel),
        "strides": list(window.stride),
        "pads": [before for before, _ in window.padding] + [after for _, after in window.padding],
        "dilations": list(window.dilation),
    }


@exporter("Conv")
def _conv(g: Graph, call: OpCall) -> None:
    x, weight, bias, window, groups = call.args
    inputs = [g.name(x), g.name(weight)] + ([g.name(bias)] if bias is not None else [])
    g.one("Conv", inputs, call.outputs[0], group=int(groups), **_window_attributes(window))


@exporter("ConvTranspose")
def _conv_transpose(g: Graph, call: OpCall) -> None:
    y, weight, bias, window, groups, out_size = call.args
    attributes = _window_attributes(window)
    in_size = known_array(y).shape[2:]
    pads, dims = attributes["pads"], len(in_size)
    output_padding = [
        int(out_size[i])
        - (
            (in_size[i] - 1) * window.stride[i]
            - pads[i]
            - pads[i + dims]
            + window.dilation[i] * (window.kernel[i] - 1)
            + 1
        )
        for i in range(dims)
    ]
    inputs = [g.name(y), g.name(weight)] + ([g.name(bias)] if bias is not None else [])
    g.one(
        "ConvTranspose",
        inputs,
        call.outputs[0],
        group=int(groups),
        output_padding=output_padding,
        **attributes,
    )


def _ceil_mode(in_hw: Sequence[int], window: Any, out_hw: Sequence[int]) -> int:
    """1 when the traced output is one larger than floor division gives (PyTorch's ceil_mode)."""
    (top, bottom), (left, right) = window.padding
    padded = (in_hw[0] + top + bottom, in_hw[1] + left + right)
    floor = [
        (padded[i] - window.dilation[i] * (window.kernel[i] - 1) - 1) // window.stride[i] + 1
        for i in range(2)
    ]
    return int(tuple(floor) != tuple(out_hw))


@exporter("MaxPool2d")
def _max_pool2d(g: Graph, call: OpCall) -> None:
    x, window, out_hw, return_indices = call.args
    if return_indices:
        raise _unsupported(call, "with return_indices=True (ONNX's indices count differently)")
    g.one(
        "MaxPool",
        [g.name(x)],
        call.outputs[0],
        ceil_mode=_ceil_mode(known_array(x).shape[2:], window, out_hw),
        **_window_attributes(window),
    )


@exporter("WindowSum")
def _window_sum(g: Graph, call: OpCall) -> None:
    # The sum over each window (average pooling's numerator): AveragePool counting padding,
    # times the window's size.
    x, window, out_hw = call.args
    attributes = _window_attributes(window)
    if window.dilation != (1, 1) and g.opset < 19:
        raise _unsupported(call, "with dilation below opset 19")
    if g.opset < 19:
        del attributes["dilations"]
    x_name = g.name(x)
    mean = g.one(
        "AveragePool",
        [x_name],
        count_include_pad=1,
        ceil_mode=_ceil_mode(known_array(x).shape[2:], window, out_hw),
        **attributes,
    )
    size = g.name(window.kernel[0] * window.kernel[1], g.values[x_name].dtype)
    g.one("Mul", [mean, size], call.outputs[0])


@exporter("Embedding")
def _embedding(g: Graph, call: OpCall) -> None:
    weight, indices, _padding_idx = call.args
    g.one("Gather", [g.name(weight), g.cast_to(g.name(indices), np.dtype(np.int64))], call.outputs[0], axis=0)


# ------------------------------------------------------------------------------- recurrences
def _gate_blocks(array: np.ndarray, order: Sequence[int], gates: int) -> np.ndarray:
    """``array``'s gate blocks (along dim 0) in another order."""
    return np.concatenate([np.split(array, gates)[i] for i in order])


def _recurrence(
    g: Graph,
    call: OpCall,
    onnx_op: str,
    order: Sequence[int],
    h0: Any,
    c0: Any,
    weight_hh: Any,
    bias_hh: Any,
    reverse: bool,
    **attributes: Any,
) -> None:
    """One direction of an RNN/GRU/LSTM over the precomputed input gates: ONNX's op with an
    input weight that only reorders the gates (so it adds nothing), and the recurrent weight
    reordered from PyTorch's gate order to ONNX's."""
    gates_x = g.name(call.args[0])
    if g.is_dynamic(weight_hh) or g.is_dynamic(bias_hh):
        raise _unsupported(call, "with recurrent weights computed from the inputs")
    weight = known_array(weight_hh)
    gates, hidden = len(order), weight.shape[1]
    dtype = weight.dtype
    selector = _gate_blocks(np.eye(gates * hidden, dtype=dtype), order, gates)
    recurrent = _gate_blocks(weight, order, gates)
    bias = (
        np.zeros(gates * hidden, dtype)
        if bias_hh is None
        else _gate_blocks(known_array(bias_hh), order, gates)
    )
    biases = np.concatenate([np.zeros(gates * hidden, dtype), bias])[None]
    inputs = [
        gates_x,
        g.constant(selector[None], "gate_order"),
        g.constant(recurrent[None], "weight_hh"),
        g.constant(biases, "bias_hh"),
        "",
        _initial_state(g, h0),
    ]
    if c0 is not None:
        inputs.append(_initial_state(g, c0))
    outputs = g.node(
        onnx_op,
        inputs,
        3 if c0 is not None else 1,
        hidden_size=hidden,
        direction="reverse" if reverse else "forward",
        **attributes,
    )
    g.squeeze(outputs[0], [1], call.outputs[0])
    if c0 is not None:
        g.squeeze(outputs[2], [0], call.outputs[1])


def _initial_state(g: Graph, state: Any) -> str:
    """The graph input for a recurrence's initial state. A state of zeros made inside the
    forward (the layers' default) is left out: ONNX then starts from zeros of the input's own
    batch size, where a constant would fix the batch size the model was traced with."""
    if not g.is_dynamic(state) and not np.any(known_array(state)):
        return ""
    return g.unsqueeze(g.name(state), [0])


@exporter("RNNRecurrence")
def _rnn(g: Graph, call: OpCall) -> None:
    _, h0, weight_hh, bias_hh, nonlinearity, reverse = call.args
    _recurrence(
        g, call, "RNN", [0], h0, None, weight_hh, bias_hh, reverse, activations=[nonlinearity.capitalize()]
    )


@exporter("GRURecurrence")
def _gru(g: Graph, call: OpCall) -> None:
    _, h0, weight_hh, bias_hh, reverse = call.args
    # chainrule (PyTorch) orders the gates r, z, n; ONNX z, r, h. PyTorch applies the reset
    # gate after the recurrent product: ONNX's linear_before_reset=1.
    _recurrence(g, call, "GRU", [1, 0, 2], h0, None, weight_hh, bias_hh, reverse, linear_before_reset=1)


@exporter("LSTMRecurrence")
def _lstm(g: Graph, call: OpCall) -> None:
    _, h0, c0, weight_hh, bias_hh, reverse = call.args
    # chainrule (PyTorch) orders the gates i, f, g, o; ONNX i, o, f, c.
    _recurrence(g, call, "LSTM", [0, 3, 1, 2], h0, c0, weight_hh, bias_hh, reverse)
