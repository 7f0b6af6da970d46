"""The chain rule, shown: one training step of a small network worked as a person would by hand.

``explain_step`` takes a ``Sequential`` of ``Linear`` layers and elementwise activations, a
batch and a loss (mean squared error or cross-entropy), and writes out the forward values
layer by layer, the loss, each local derivative, the chain-rule products flowing back, each
weight's gradient and its gradient-descent update. The gradients it works out by hand (NumPy,
no autograd) are then compared with the engine's, so the printout is also a test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.tensor import Tensor

# activation name → (function, derivative written in terms of its input z and output a, formula)
_ACTIVATIONS: dict[str, tuple[Any, Any, str]] = {
    "ReLU": (lambda z: np.maximum(z, 0), lambda z, a: (z > 0).astype(z.dtype),
             "relu'(z) = 1 if z > 0 else 0"),
    "Sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, a: a * (1 - a), "sigmoid'(z) = a (1 - a)"),
    "Tanh": (np.tanh, lambda z, a: 1 - a * a, "tanh'(z) = 1 - a^2"),
    "Identity": (lambda z: z, lambda z, a: np.ones_like(z), "identity'(z) = 1"),
}


@dataclass
class Explanation:
    """The worked step: ``text`` to print, the hand-computed and the engine's gradients by
    parameter name, and the largest disagreement between them."""

    text: str
    hand_gradients: dict[str, np.ndarray] = field(default_factory=dict)
    engine_gradients: dict[str, np.ndarray] = field(default_factory=dict)
    max_difference: float = 0.0

    def __str__(self) -> str:
        return self.text


def _fmt(array: np.ndarray, indent: int = 6) -> str:
    text = np.array2string(np.asarray(array, dtype=np.float64), precision=4, suppress_small=True,
                           max_line_width=96, threshold=60)
    return text.replace("\n", "\n" + " " * indent)


def _loss_kind(loss_fn: Any) -> str:
    name = getattr(loss_fn, "__name__", type(loss_fn).__name__).lower()
    if "mse" in name:
        return "mse"
    if "cross_entropy" in name or "crossentropy" in name:
        return "cross_entropy"
    raise ValueError(f"explain_step supports mean squared error and cross-entropy losses, got {name}")


def explain_step(model: Any, x: Any, y: Any, loss_fn: Any, lr: float = 0.1,
                 verbose: bool = True) -> Explanation:
    """Work one gradient-descent step of ``model`` on the batch ``(x, y)`` by hand.

    ``model``: a ``Sequential`` of ``Linear`` and ReLU/Sigmoid/Tanh/Identity layers. ``loss_fn``:
    ``nn.MSELoss()``, ``nn.CrossEntropyLoss()`` or the functional forms (mean reduction).
    Shapes: x (N, in); y (N, out) for MSE, (N,) class indices for cross-entropy. The model's
    parameters are not changed (the update is shown, not applied).

    Example::

        >>> net = nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 1))
        >>> explanation = explain_step(net, chainrule.randn(4, 2), chainrule.randn(4, 1), nn.MSELoss())
        One training step, batch of 4, worked by hand
        ...
        CHECK: the hand-worked gradients match the engine's (largest difference ...)
        >>> explanation.max_difference < 1e-6
        True
    """
    from chainrule.nn.functional import cross_entropy, mse_loss

    kind = _loss_kind(loss_fn)
    layers = list(model.named_children()) if hasattr(model, "named_children") else []
    if not layers:
        raise TypeError("explain_step needs a Sequential of Linear layers and activations")
    for name, layer in layers:
        if type(layer).__name__ not in ("Linear", *_ACTIVATIONS):
            raise TypeError(f"explain_step: layer {name} is {type(layer).__name__}; only Linear and "
                            f"{', '.join(_ACTIVATIONS)} layers can be worked by hand")
    x_data = np.asarray(x.array if isinstance(x, Tensor) else x, dtype=np.float64)
    y_data = np.asarray(y.array if isinstance(y, Tensor) else y)
    lines: list[str] = []
    say = lines.append
    say(f"One training step, batch of {x_data.shape[0]}, worked by hand")
    say("")
    say("FORWARD: each layer's output feeds the next")
    say(f"  x = {_fmt(x_data)}")
    values = [x_data]  # values[i] is the input of layer i
    for name, layer in layers:
        a_in = values[-1]
        if type(layer).__name__ == "Linear":
            w = layer.weight.array.astype(np.float64)
            b = layer.bias.array.astype(np.float64) if layer.bias is not None else np.zeros(w.shape[0])
            out = a_in @ w.T + b
            say(f"  [{name}] Linear {w.shape[1]} -> {w.shape[0]}:  z = a W^T + b")
            say(f"      W = {_fmt(w)}")
            say(f"      b = {_fmt(b)}")
            say(f"      z = {_fmt(out)}")
        else:
            function, _, _ = _ACTIVATIONS[type(layer).__name__]
            out = function(a_in)
            say(f"  [{name}] {type(layer).__name__}:  a = {type(layer).__name__.lower()}(z)")
            say(f"      a = {_fmt(out)}")
        values.append(out)

    prediction, count = values[-1], x_data.shape[0]
    say("")
    if kind == "mse":
        target = y_data.astype(np.float64).reshape(prediction.shape)
        loss = float(np.mean((prediction - target) ** 2))
        grad = 2 * (prediction - target) / prediction.size
        say(f"LOSS: mean squared error  L = mean((out - y)^2) = {loss:.6g}")
        say(f"  dL/d(out) = 2 (out - y) / {prediction.size} = {_fmt(grad)}")
    else:
        labels = y_data.astype(np.int64)
        shifted = prediction - prediction.max(axis=1, keepdims=True)
        probabilities = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        loss = float(-np.mean(np.log(probabilities[np.arange(count), labels])))
        one_hot = np.eye(prediction.shape[1])[labels]
        grad = (probabilities - one_hot) / count
        say(f"LOSS: cross-entropy  L = -mean(log softmax(out)[y]) = {loss:.6g}")
        say(f"  softmax(out) = {_fmt(probabilities)}")
        say(f"  dL/d(out) = (softmax(out) - onehot(y)) / {count} = {_fmt(grad)}")

    say("")
    say("BACKWARD: the chain rule, from the loss back to every weight")
    hand: dict[str, np.ndarray] = {}
    updates: list[str] = []
    for index in range(len(layers) - 1, -1, -1):
        name, layer = layers[index]
        a_in, out = values[index], values[index + 1]
        if type(layer).__name__ == "Linear":
            w = layer.weight.array.astype(np.float64)
            grad_w = grad.T @ a_in
            grad_b = grad.sum(axis=0)
            say(f"  [{name}] Linear: dL/dW = (dL/dz)^T a = {_fmt(grad_w)}")
            say(f"      dL/db = sum over the batch of dL/dz = {_fmt(grad_b)}")
            hand[f"{name}.weight"] = grad_w
            if layer.bias is not None:
                hand[f"{name}.bias"] = grad_b
            updates.append(f"  [{name}] W <- W - {lr} dL/dW = {_fmt(w - lr * grad_w)}")
            if layer.bias is not None:
                updates.append(f"      b <- b - {lr} dL/db = {_fmt(layer.bias.array - lr * grad_b)}")
            grad = grad @ w
            if index:
                say(f"      dL/da (passed back) = dL/dz W = {_fmt(grad)}")
        else:
            _, derivative, formula = _ACTIVATIONS[type(layer).__name__]
            local = derivative(a_in, out)
            say(f"  [{name}] {type(layer).__name__}: local derivative {formula} = {_fmt(local)}")
            grad = grad * local
            say(f"      dL/dz = dL/da * local derivative = {_fmt(grad)}")

    say("")
    say(f"UPDATE: gradient descent with learning rate {lr}")
    lines.extend(reversed_pairs(updates))

    engine = _engine_gradients(model, x, y, mse_loss if kind == "mse" else cross_entropy)
    difference = max(float(np.max(np.abs(hand[k] - engine[k]))) for k in hand)
    say("")
    verdict = "match" if difference < 1e-4 else "DISAGREE with"
    say(f"CHECK: the hand-worked gradients {verdict} the engine's (largest difference {difference:.2e})")
    explanation = Explanation("\n".join(_align(line) for line in lines), hand, engine, difference)
    if verbose:
        print(explanation.text)
    return explanation


def _align(entry: str) -> str:
    """Indent the continuation rows of a printed matrix under its opening bracket."""
    first, *rest = entry.split("\n")
    if not rest:
        return entry
    column = first.rfind("= [") + 3
    return "\n".join([first] + [" " * column + row.strip() for row in rest])


def reversed_pairs(updates: list[str]) -> list[str]:
    """Updates were collected last layer first; show them first layer first, keeping each
    weight line with its bias line."""
    groups: list[list[str]] = []
    for line in updates:
        if line.startswith("  ["):
            groups.append([line])
        else:
            groups[-1].append(line)
    return [line for group in reversed(groups) for line in group]


def _engine_gradients(model: Any, x: Any, y: Any, loss: Any) -> dict[str, np.ndarray]:
    """The same step through chainrule's engine, leaving the model's .grad as it was."""
    from chainrule.autograd import grad

    names, params = zip(*[(n, p) for n, p in model.named_parameters()])
    x_t = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    y_t = y if isinstance(y, Tensor) else Tensor(np.asarray(y))
    output = model(x_t)
    target = y_t.reshape(output.shape) if output.shape != y_t.shape and y_t.dtype.kind == "f" else y_t
    grads = grad(loss(output, target), list(params))
    # grad() raises for a parameter the loss does not use (allow_unused=False), so no g is None
    return {n: g.array.astype(np.float64) for n, g in zip(names, grads) if g is not None}
