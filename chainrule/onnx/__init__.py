"""``chainrule.onnx.export``: a model to an ONNX file, with PyTorch's signature.

The forward runs once on the example ``args`` while every op it applies is recorded
(``chainrule.onnx.trace``); each recorded op becomes ONNX nodes (``chainrule.onnx.ops``), and
parameters and buffers become initializers named as in ``state_dict()``. The forward runs a
second time on other values of the same shapes: an op whose constant arguments changed was fed
something computed from the input outside chainrule's ops (NumPy on ``.array``), which the
graph cannot reproduce, so export refuses instead of writing a wrong model. For the same
reason a forward whose ops depend on the input's values (Python ``if`` on a tensor) is refused
when the second run takes another path (a check that can miss a branch the second values
happen not to reach, as any tracer's).

Needs the ``[onnx]`` extra (``pip install 'chainrule[onnx]'``: onnx, onnxruntime).

Example::

    >>> import io
    >>> model = chainrule.nn.Sequential(chainrule.nn.Linear(4, 3), chainrule.nn.ReLU())
    >>> buffer = io.BytesIO()
    >>> _ = chainrule.onnx.export(model, (chainrule.randn(2, 4),), buffer, input_names=["x"],
    ...                           output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    >>> import onnx
    >>> [node.op_type for node in onnx.load_from_string(buffer.getvalue()).graph.node]
    ['MatMul', 'Add', 'Relu', 'Identity']
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from chainrule.errors import ConfigError
from chainrule.onnx.graph import Graph, UnsupportedOpError, array_of
from chainrule.onnx.trace import OpCall, trace
from chainrule.tensor import Tensor

ONNX_HINT = "pip install 'chainrule[onnx]'  (or: pip install onnx onnxruntime)"
DEFAULT_OPSET = 17
SUPPORTED_OPSETS = range(13, 22)


def export(
    model: Any,
    args: Any,
    f: str | os.PathLike[str] | IO[bytes],
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_axes: Mapping[str, Sequence[int] | Mapping[int, str]] | None = None,
    opset_version: int | None = None,
    *,
    do_constant_folding: bool = True,
    export_params: bool = True,
    verbose: bool = False,
) -> Any:
    """Write ``model`` (a Module or any function of tensors), as traced on ``args``, to ``f``
    (a path or a binary file object) as an ONNX model, and return the ``onnx.ModelProto``.

    ``args`` is a Tensor or a tuple of the forward's arguments (Tensors become graph inputs,
    other values are fixed at their traced value). ``input_names`` / ``output_names`` name the
    graph's inputs and outputs (default ``input_0``, ... / ``output_0``, ...); ``dynamic_axes``
    maps a name to the axes that may change size, as a list or as ``{axis: "name"}``. A Module
    is exported in eval mode (dropout off, batch norm on its running statistics) and put back
    in the mode it was in. ``opset_version`` is 13 to 21 (default 17). Constants are always
    folded and parameters always stored; those two arguments exist for PyTorch's signature.

    Shapes: any; the exported graph accepts the traced shapes, and other sizes along the
    ``dynamic_axes`` where the forward's ops do not fix them. A recurrent layer's default
    initial state (zeros made inside the forward) does not fix the batch size: the graph leaves
    it out, and ONNX starts from zeros of the input's batch.

    Example::

        >>> import io
        >>> conv = chainrule.nn.Conv1d(2, 3, 3)
        >>> proto = chainrule.onnx.export(conv, chainrule.randn(1, 2, 8), io.BytesIO())
        >>> proto.opset_import[0].version, [i.name for i in proto.graph.input]
        (17, ['input_0'])
    """
    try:
        import onnx
        from onnx import helper
    except ImportError:
        raise ImportError(
            f"chainrule.onnx.export needs the optional package onnx; install it with: {ONNX_HINT}"
        ) from None
    opset = DEFAULT_OPSET if opset_version is None else int(opset_version)
    if opset not in SUPPORTED_OPSETS:
        raise ConfigError(
            f"opset_version={opset_version} is outside the opsets chainrule exports "
            f"({SUPPORTED_OPSETS.start} to {SUPPORTED_OPSETS.stop - 1}); pick one in that range"
        )
    args = args if isinstance(args, tuple) else (args,)
    inputs = [arg for arg in args if isinstance(arg, Tensor)]
    input_names = list(input_names or [f"input_{i}" for i in range(len(inputs))])
    if len(input_names) != len(inputs):
        raise ConfigError(
            f"input_names has {len(input_names)} names for {len(inputs)} tensor inputs; "
            "give one name per tensor in args"
        )

    was_training = getattr(model, "training", None)
    if was_training is not None:
        model.eval()
    try:
        calls, outputs = trace(model, args)
        _check_same_ops(inputs, calls, trace(model, _other_values(args))[0])
    finally:
        if was_training:
            model.train()
    output_names = list(output_names or [f"output_{i}" for i in range(len(outputs))])
    if len(output_names) != len(outputs):
        raise ConfigError(
            f"output_names has {len(output_names)} names but the model returns "
            f"{len(outputs)} tensors; give one name per output"
        )

    graph = Graph(opset, _parameter_names(model))
    for name in input_names:
        graph.fresh(name)
    for tensor, name in zip(inputs, input_names):
        graph.bind(tensor, name)
    for call in calls:
        _export_call(graph, call)
    final = []
    for tensor, name in zip(outputs, output_names):
        graph.fresh(name)
        graph.nodes.append(helper.make_node("Identity", [graph.name(tensor)], [name]))
        final.append(name)
    graph.prune(final)

    axes = {name: _named_axes(name, spec) for name, spec in (dynamic_axes or {}).items()}
    unknown = set(axes) - set(input_names) - set(output_names)
    if unknown:
        raise ConfigError(
            f"dynamic_axes names {sorted(unknown)}, which are neither input nor output "
            f"names (inputs {input_names}, outputs {output_names})"
        )
    proto = helper.make_model(
        helper.make_graph(
            graph.nodes,
            type(model).__name__,
            [
                _value_info(name, tensor.array, axes.get(name, {}))
                for tensor, name in zip(inputs, input_names)
            ],
            [
                _value_info(name, tensor.array, axes.get(name, {}))
                for tensor, name in zip(outputs, output_names)
            ],
            graph.initializers,
        ),
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="chainrule",
    )
    onnx.checker.check_model(proto, full_check=True)
    data = proto.SerializeToString()
    if hasattr(f, "write"):
        f.write(data)
    else:
        from chainrule.files import atomic_write_bytes

        atomic_write_bytes(f, data)
    return proto


def _export_call(graph: Graph, call: OpCall) -> None:
    """Nodes for one traced op, or nothing when none of its inputs comes from the model's
    inputs (then its traced result is a constant of the graph)."""
    from chainrule.onnx.ops import EXPORTERS

    if not any(graph.is_dynamic(arg) for arg in (*call.args, *call.kwargs.values())):
        return
    if call.op not in EXPORTERS:
        what = call.op
        if call.op == "CustomFunctionNode":
            what = "a user-defined autograd.Function"
        raise UnsupportedOpError(
            f"ONNX export has no exporter for the op {what}, which the forward applies to the "
            "input; export a model built from chainrule's layers, or leave that part out"
        )
    EXPORTERS[call.op](graph, call)


def _parameter_names(model: Any) -> dict[int, str]:
    names: dict[int, str] = {}
    for method in ("named_parameters", "named_buffers"):
        for name, tensor in getattr(model, method, lambda: ())():
            names.setdefault(id(tensor.array), name)
    return names


def _other_values(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """``args`` with other values of the same shapes and dtypes: floats change sign and get
    noise on their own scale (so a branch on a sign or a size likely goes the other way);
    integers are permuted, so an index stays in range."""
    rng = np.random.default_rng(0)
    other = []
    for arg in args:
        if isinstance(arg, Tensor) and arg.array.dtype.kind in "fc" and arg.array.size:
            noise = rng.standard_normal(arg.shape).astype(arg.array.dtype)
            other.append(Tensor._wrap(noise * (1 + np.abs(arg.array)) - arg.array))
        elif isinstance(arg, Tensor) and arg.array.size:
            flat = arg.array.reshape(-1)
            other.append(Tensor._wrap(flat[rng.permutation(flat.size)].reshape(arg.shape)))
        else:
            other.append(arg)
    return tuple(other)


def _check_same_ops(inputs: list[Tensor], first: list[OpCall], second: list[OpCall]) -> None:
    """Refuse a forward whose ops or constants change with the input's values: such a model
    has no one graph (see the module docstring)."""
    if [call.op for call in first] != [call.op for call in second]:
        raise UnsupportedOpError(
            "the forward applies different ops for different input values (Python control flow "
            "on tensor values), which one ONNX graph cannot express; export a forward without it"
        )
    dynamic_first = {id(tensor.array) for tensor in inputs}
    for one, two in zip(first, second):
        for a, b in zip(one.args, two.args):
            array_a, array_b = array_of(a), array_of(b)
            if array_a is None or id(array_a) in dynamic_first:
                continue
            if (
                array_b is None
                or array_a.shape != array_b.shape
                or not np.array_equal(array_a, array_b, equal_nan=True)
            ):
                # Computed from the input outside the traced ops, unless it is a traced result.
                raise UnsupportedOpError(
                    f"the forward passes {one.op} a value computed from the input outside "
                    "chainrule's ops (NumPy on .array or .numpy()), which ONNX export cannot "
                    "follow; compute it with tensor operations"
                )
        dynamic_first.update(id(out.array) for out in one.outputs)


def _named_axes(name: str, spec: Sequence[int] | Mapping[int, str]) -> dict[int, str]:
    if isinstance(spec, Mapping):
        return {int(axis): str(label) for axis, label in spec.items()}
    return {int(axis): f"{name}_dim{axis}" for axis in spec}


def _value_info(name: str, array: np.ndarray, dynamic: Mapping[int, str]) -> Any:
    from onnx import helper

    shape = [dynamic.get(axis, size) for axis, size in enumerate(array.shape)]
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(array.dtype), shape)


def run(model_path: str | os.PathLike[str] | bytes, *inputs: Any) -> list[np.ndarray]:
    """Run an ONNX model in ONNX Runtime on NumPy arrays or Tensors (in the graph's input
    order) and return its outputs: the check that an export computes what the model does.

    Example::

        >>> import io
        >>> model, x = chainrule.nn.Linear(4, 2), chainrule.randn(3, 4)
        >>> buffer = io.BytesIO()
        >>> _ = chainrule.onnx.export(model, x, buffer)
        >>> (out,) = chainrule.onnx.run(buffer.getvalue(), x)
        >>> bool(np.allclose(out, model(x).detach().numpy(), atol=1e-6))
        True
    """
    try:
        import onnxruntime
    except ImportError:
        raise ImportError(
            f"chainrule.onnx.run needs the optional package onnxruntime; install it with: {ONNX_HINT}"
        ) from None
    source = model_path if isinstance(model_path, bytes) else str(Path(model_path))
    session = onnxruntime.InferenceSession(source, providers=["CPUExecutionProvider"])
    feed = {
        spec.name: value.array if isinstance(value, Tensor) else np.asarray(value)
        for spec, value in zip(session.get_inputs(), inputs)
    }
    return session.run(None, feed)


__all__ = ["export", "run", "UnsupportedOpError"]
