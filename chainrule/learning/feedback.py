"""Feedback alignment, direct feedback alignment and sign symmetry: backprop with the backward
weights replaced, put in through the engine's own mechanisms.

Each Linear/Conv layer keeps its forward. Two module hooks change what its backward sends to
the layer below:

* a forward pre-hook hands the layer a detached copy of its input, so the layer's own graph
  reaches only its weight and bias (whose gradients stay exact: ``grad_W = grad_y^T x``);
* a forward hook passes the output through :class:`_Feedback`, a user-level
  :class:`chainrule.autograd.Function` that is the identity forward and whose backward sends
  the rule's signal to the original input instead of ``grad_y W``.

The signals, per rule (``grad_y`` is the gradient at the layer's output, ``e`` the gradient at
the network's output, the error):

* ``"fa"`` (Lillicrap et al. 2016): ``grad_x = grad_y B`` with a fixed random ``B`` shaped
  like ``W``;
* ``"sign"`` (Liao, Leibo and Poggio 2016): ``grad_x = grad_y sign(W)``;
* ``"dfa"`` (Nøkland 2016): ``grad_x = e B_l`` with a fixed random ``B_l`` of shape
  ``(outputs, input features)``: every layer hears the output error directly, never the
  layer above.

Removing the handle removes the hooks; the model is then an ordinary model.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import nn
from chainrule.autograd.custom_function import Function
from chainrule.errors import CheckpointFileError, ConfigError, InputError
from chainrule.nn import functional as F
from chainrule.tensor import Tensor

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)


class _Feedback(Function):
    """Identity on the layer's output ``y``; backward: ``grad_y`` to ``y`` (so to W and b as
    usual) and ``rule.input_gradient(layer, grad_y, x)`` to the layer's input ``x``."""

    @staticmethod
    def forward(ctx: Any, output: Tensor, layer_input: Tensor, rule: Any, layer: Any) -> Tensor:
        ctx.rule, ctx.layer, ctx.input_shape = rule, layer, layer_input.shape
        return output.detach()

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Any, ...]:
        grad_input = None
        if ctx.needs_input_grad[1]:
            grad_input = ctx.rule.input_gradient(ctx.layer, grad_output, ctx.input_shape)
        return grad_output, grad_input, None, None


def _linear_layers(model: Any) -> list[tuple[str, Any]]:
    return [(name, module) for name, module in model.named_modules() if isinstance(module, _LAYERS)]


def _fan_in(layer: Any) -> int:
    return int(np.prod(layer.weight.shape[1:]))


class FeedbackRule:
    """A feedback rule attached to a model; made by :func:`chainrule.learning.apply_rule`.

    ``remove()`` takes the hooks off. ``enabled`` is False while :meth:`true_gradients`
    computes plain backprop for comparison. ``state_dict()`` holds the fixed random feedback
    matrices a resumed run must restore exactly.
    """

    name = "fa"
    trains_itself = False

    def __init__(self, model: Any, name: str, seed: int = 0) -> None:
        self.name, self.seed, self.model = name, seed, model
        self.layers = _linear_layers(model)
        if not self.layers:
            raise ConfigError(
                f"learning rule {name!r} replaces the backward of Linear and Conv layers, and "
                f"{type(model).__name__} has none; train it with 'bp'"
            )
        for layer_name, layer in self.layers:
            if isinstance(layer, nn.Conv1d | nn.Conv2d):
                _check_conv(name, layer_name, layer)
        self.layer_names = {id(layer): layer_name for layer_name, layer in self.layers}
        self.enabled = True
        self.feedback: dict[str, np.ndarray] = {}
        self._rng = np.random.default_rng(seed)
        self._detached: dict[int, Tensor] = {}  # detached input -> the input it stands for
        self._error: Tensor | None = None  # dfa: the output error of the batch in backward
        self._handles: list[Any] = []
        for _, layer in self.layers:
            self._handles.append(layer.register_forward_pre_hook(self._detach_input))
            self._handles.append(layer.register_forward_hook(self._route_feedback))
        if name == "fa":
            for layer_name, layer in self.layers:
                self.feedback[layer_name] = self._uniform(layer.weight.shape, _fan_in(layer), layer)

    # ------------------------------------------------------------------------- hooks
    def _active(self, x: Any) -> bool:
        from chainrule.grad_mode import is_grad_enabled

        return self.enabled and isinstance(x, Tensor) and x.requires_grad and is_grad_enabled()

    def _detach_input(self, layer: Any, args: tuple[Any, ...]) -> Any:
        if not args or not self._active(args[0]):
            return None
        detached = args[0].detach()
        self._detached[id(detached)] = args[0]
        return (detached, *args[1:])

    def _route_feedback(self, layer: Any, args: tuple[Any, ...], output: Any) -> Any:
        original = self._detached.pop(id(args[0]), None) if args else None
        if original is None:
            return None
        output = _Feedback.apply(output, original, self, layer)
        if self.name == "dfa" and layer is self.layers[-1][1]:
            # Outside _Feedback, so its backward runs first and the error is known below.
            output = _CaptureError.apply(output, self)
        return output

    # ------------------------------------------------------------------------- signals
    def input_gradient(self, layer: Any, grad_output: Tensor, input_shape: tuple[int, ...]) -> Tensor:
        """What this rule sends to ``layer``'s input in place of ``grad_output W``."""
        if self.name == "dfa":
            return self._direct_feedback(layer, input_shape)
        weight = layer.weight.detach()
        if self.name == "sign":
            matrix = Tensor(np.sign(weight.numpy()))
        else:
            matrix = Tensor(self.feedback[self.layer_names[id(layer)]])
        if isinstance(layer, nn.Linear):
            return grad_output.matmul(matrix)
        return _conv_input_gradient(layer, grad_output, matrix, input_shape)

    def _direct_feedback(self, layer: Any, input_shape: tuple[int, ...]) -> Tensor:
        error = self._error
        layer_name = self.layer_names[id(layer)]
        if error is None or error.shape[0] != input_shape[0]:
            raise RuntimeError(
                f"dfa: layer {layer_name!r} was reached in backward without the output error of "
                "this batch; direct feedback alignment needs the loss to depend on the model's final "
                "Linear layer"
            )
        features = math.prod(input_shape[1:])
        matrix = self.feedback.get(layer_name)
        if matrix is None:  # made at first use: a conv layer's input size is known only then
            outputs = error.reshape(error.shape[0], -1).shape[1]
            matrix = self.feedback[layer_name] = self._uniform((outputs, features), outputs, layer)
        elif matrix.shape[1] != features:
            raise InputError(
                f"dfa: layer {layer_name!r} got inputs of {features} features per sample, but its "
                f"feedback matrix was made for {matrix.shape[1]}; keep the input size fixed"
            )
        flat_error = error.reshape(error.shape[0], -1)
        return flat_error.matmul(Tensor(matrix)).reshape(input_shape)

    def _uniform(self, shape: tuple[int, ...], fan: int, layer: Any) -> np.ndarray:
        """U(-1/sqrt(fan), 1/sqrt(fan)): the scale of the layer's own default initialisation."""
        bound = 1.0 / math.sqrt(max(fan, 1))
        dtype = layer.weight.numpy().dtype
        return self._rng.uniform(-bound, bound, size=tuple(shape)).astype(dtype)

    # ------------------------------------------------------------------------- state
    def remove(self) -> None:
        """Take the rule's hooks off: the model trains with plain backprop again."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def state_dict(self) -> dict[str, Any]:
        return {
            "rule": self.name,
            "seed": self.seed,
            "feedback": {k: v.copy() for k, v in self.feedback.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("rule") != self.name:
            raise CheckpointFileError(
                f"the checkpoint was trained with learning rule {state.get('rule')!r}, not "
                f"{self.name!r}; resume it with --learning-rule {state.get('rule')}"
            )
        feedback = {key: np.asarray(value) for key, value in state.get("feedback", {}).items()}
        for key, value in feedback.items():
            if key not in {name for name, _ in self.layers}:
                raise CheckpointFileError(
                    f"the checkpoint holds a feedback matrix for {key!r}, a layer this model lacks"
                )
            known = self.feedback.get(key)
            if known is not None and known.shape != value.shape:
                raise CheckpointFileError(
                    f"the checkpoint's feedback matrix for {key!r} is {value.shape}, "
                    f"the model needs {known.shape}"
                )
        self.feedback = feedback
        self.seed = state.get("seed", self.seed)

    def __repr__(self) -> str:
        return f"FeedbackRule({self.name!r}, layers={len(self.layers)}, seed={self.seed})"


class _CaptureError(Function):
    """Identity on the network's output; its backward keeps the output error for DFA."""

    @staticmethod
    def forward(ctx: Any, output: Tensor, rule: Any) -> Tensor:
        ctx.rule = rule
        return output.detach()

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Any, ...]:
        ctx.rule._error = grad_output.detach()
        return grad_output, None


def _check_conv(rule: str, layer_name: str, layer: Any) -> None:
    if layer.padding == "same" and any(before != after for before, after in layer._same_padding()):
        raise ConfigError(
            f"learning rule {rule!r}: layer {layer_name!r} pads unevenly (padding='same' with an even "
            "kernel), which feedback rules do not support; give it a numeric padding"
        )


def _conv_input_gradient(
    layer: Any, grad_output: Tensor, matrix: Tensor, input_shape: tuple[int, ...]
) -> Tensor:
    """The gradient of a convolution with weight ``matrix`` with respect to its input: a
    transposed convolution, with the output padding that restores the input's size."""
    spatial = len(layer.kernel_size)
    batched = len(input_shape) == spatial + 2
    if layer.padding == "valid":
        padding = (0,) * spatial
    elif layer.padding == "same":
        padding = tuple(before for before, _ in layer._same_padding())
    else:
        padding = tuple(layer.padding)
    sizes = input_shape[-spatial:]
    out_sizes = grad_output.shape[-spatial:]
    output_padding = tuple(
        size - ((out - 1) * stride - 2 * pad + dilation * (kernel - 1) + 1)
        for size, out, stride, pad, dilation, kernel in zip(
            sizes, out_sizes, layer.stride, padding, layer.dilation, layer.kernel_size
        )
    )
    transpose = F.conv_transpose2d if spatial == 2 else F.conv_transpose1d
    grad = grad_output if batched else grad_output.unsqueeze(0)
    result = transpose(
        grad, matrix, None, layer.stride, padding, output_padding, layer.groups, layer.dilation
    )
    return result if batched else result.squeeze(0)


def check_dfa_model(model: Any) -> None:
    """DFA routes the output error to every layer, so the last layer with weights must be the
    Linear that makes the output."""
    last = None
    for name, module in model.named_modules():
        if module is not model and not list(module.children()) and list(module.parameters(recurse=False)):
            last = (name, module)
    if last is None or not isinstance(last[1], nn.Linear):
        what = "no layer with weights" if last is None else f"{type(last[1]).__name__} {last[0]!r}"
        raise ConfigError(
            f"learning rule 'dfa' sends the output error of the model's final Linear layer to every "
            f"other layer, but {type(model).__name__} ends in {what}; end the model with a Linear "
            "layer or choose 'fa'"
        )
