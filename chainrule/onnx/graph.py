"""Building an ONNX graph from a trace: which traced values are graph values, which are constants.

A value that depends on the model's inputs is *dynamic*: it gets a name in the graph and the op
that made it becomes ONNX nodes. Everything else (parameters, buffers, tensors the forward
made from nothing, and whatever is computed from those alone, such as batch norm's folded
scale) is a constant: it goes into the graph as an initializer with its traced value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.errors import InputError
from chainrule.tensor import Tensor


class UnsupportedOpError(InputError):
    """The forward ran an op (or a use of one) that has no ONNX exporter."""


def array_of(value: Any) -> np.ndarray | None:
    """The array behind a traced argument, or None when it is not array data."""
    if isinstance(value, Tensor):
        return value.array
    if isinstance(value, np.ndarray):
        return value
    return None


def known_array(value: Any) -> np.ndarray:
    """The array behind a traced argument that must be a tensor or an array."""
    array = array_of(value)
    if array is None:
        raise TypeError(f"expected a tensor or an array, got {type(value).__name__}")
    return array


class Graph:
    """The nodes and initializers of the graph under construction, and the names of values."""

    def __init__(self, opset: int, constant_names: dict[int, str]) -> None:
        from onnx import helper

        self.helper = helper
        self.opset = opset
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.dynamic: dict[int, str] = {}  # id(array) -> graph name, for values from the inputs
        self.values: dict[str, np.ndarray] = {}  # graph name -> traced value (for shapes/dtypes)
        self._constants: dict[int, str] = {}  # id(array) -> initializer name, made once
        self._constant_names = constant_names  # id(array) -> parameter name, for readable names
        self._used: set[str] = set()

    # ------------------------------------------------------------------------------ names
    def fresh(self, hint: str) -> str:
        hint = hint or "value"
        name, count = hint, 0
        while name in self._used:
            count += 1
            name = f"{hint}_{count}"
        self._used.add(name)
        return name

    def is_dynamic(self, value: Any) -> bool:
        array = array_of(value)
        return array is not None and id(array) in self.dynamic

    def bind(self, value: Any, name: str) -> None:
        """Record that the traced ``value`` is the graph value ``name``."""
        array = known_array(value)
        self.dynamic[id(array)] = name
        self.values[name] = array

    def name(self, value: Any, dtype: Any = None) -> str:
        """The graph name of a traced argument: its node output, or a new initializer holding
        it (numbers become 0-d constants of ``dtype``)."""
        array = array_of(value)
        if array is not None and id(array) in self.dynamic:
            return self.dynamic[id(array)]
        if array is None:
            return self.constant(np.asarray(value, dtype=dtype), "const")
        if id(array) not in self._constants:
            self._constants[id(array)] = self.constant(array, self._constant_names.get(id(array), "const"))
        return self._constants[id(array)]

    def constant(self, array: np.ndarray, hint: str = "const") -> str:
        from onnx import numpy_helper

        name = self.fresh(hint)
        array = np.ascontiguousarray(array)
        self.initializers.append(numpy_helper.from_array(array, name))
        self.values[name] = array
        return name

    def ints(self, values: Sequence[int], hint: str = "shape") -> str:
        return self.constant(np.asarray(list(values), dtype=np.int64), hint)

    # ------------------------------------------------------------------------------ nodes
    def node(
        self, op_type: str, inputs: Sequence[str], outputs: int | Sequence[Any] = 1, **attributes: Any
    ) -> list[str]:
        """Add one node; ``outputs`` is a count (fresh names) or the traced values it computes
        (which are then bound to its outputs). Returns the output names."""
        traced: list[Any] | None = None
        if isinstance(outputs, int):
            count = outputs
        else:
            traced = list(outputs)
            count = len(traced)
        names = [self.fresh(op_type.lower()) for _ in range(count)]
        attributes = {key: value for key, value in attributes.items() if value is not None}
        self.nodes.append(self.helper.make_node(op_type, list(inputs), names, **attributes))
        for name, value in zip(names, traced or ()):
            if value is not None:
                self.bind(value, name)
        return names

    def one(self, op_type: str, inputs: Sequence[str], output: Any = None, **attributes: Any) -> str:
        return self.node(op_type, inputs, 1 if output is None else [output], **attributes)[0]

    def reduce(
        self, op_type: str, x: str, axes: Sequence[int] | None, keepdims: bool, output: Any = None
    ) -> str:
        """A Reduce* node: ``axes`` is an attribute before opset 18 (13 for ReduceSum), an
        input from then on."""
        axes_as_input = self.opset >= (13 if op_type == "ReduceSum" else 18)
        inputs = [x]
        attributes: dict[str, Any] = {"keepdims": int(keepdims)}
        if axes is not None and axes_as_input:
            inputs.append(self.ints(axes, "axes"))
        elif axes is not None:
            attributes["axes"] = list(axes)
        return self.one(op_type, inputs, output, **attributes)

    def unsqueeze(self, x: str, axes: Sequence[int]) -> str:
        return self.one("Unsqueeze", [x, self.ints(axes, "axes")])

    def squeeze(self, x: str, axes: Sequence[int], output: Any = None) -> str:
        return self.one("Squeeze", [x, self.ints(axes, "axes")], output)

    def cast_to(self, name: str, dtype: np.dtype) -> str:
        """``name`` as ``dtype`` (a Cast node only when its traced dtype differs)."""
        from onnx import helper

        if self.values[name].dtype == dtype:
            return name
        return self.one("Cast", [name], to=helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))

    def prune(self, outputs: Sequence[str]) -> None:
        """Drop nodes and initializers nothing in ``outputs`` depends on (a comparison whose
        result went unused, a folded constant's inputs)."""
        needed = set(outputs)
        kept = []
        for node in reversed(self.nodes):
            if needed.intersection(node.output):
                kept.append(node)
                needed.update(name for name in node.input if name)
        self.nodes = kept[::-1]
        self.initializers = [tensor for tensor in self.initializers if tensor.name in needed]
