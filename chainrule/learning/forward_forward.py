"""Forward-forward (Hinton 2022): every hidden layer learns on its own, from two forward passes.

The model is an ordinary ``nn.Sequential`` MLP: optional shape layers (``Flatten``), then
blocks that each start with a ``Linear`` (``Linear -> ReLU or Tanh (-> LayerNorm) (-> Dropout)``),
the last ``Linear`` being the classifier head. One training step:

* **positive data** is the input with its true label written over its first ``C`` features
  (a one-hot times the batch's largest input value; ``C`` = number of classes; on MNIST these are
  border pixels that are always 0), **negative data** the same input with a wrong label. By
  default the wrong label is a hard negative, as in Hinton's supervised MNIST experiment: drawn
  in proportion to the probability the model (here its head) gives it, so the labels it
  confuses are trained most; ``negatives="random"`` draws it uniformly;
* each hidden block sees the previous block's output for both, detached, and minimises a loss
  of its goodness ``G``, the mean of its squared activities: no gradient crosses from one layer
  to another. The default objective, ``"symmetric"``, compares each positive with its own
  negative (the same image with the wrong label): ``softplus(s * (G(neg) - G(pos)))``, ``s``
  the sharpness (160, chosen on a validation slice for tanh layers; the balanced loss of Lee and
  Song 2023, "SymBa"). Hinton's own, ``"threshold"``,
  pushes each goodness across a fixed threshold ``θ``: ``softplus(θ - G(pos)) + softplus(G(neg) - θ)``,
  ``θ`` being 2 for ReLU layers and 0.25 for Tanh layers, whose goodness is below 1. On the
  MNIST benchmark the symmetric objective gives the better network (BENCHMARKS.md). Hinton also
  normalises each layer's activity vector before the next layer reads it, so that a layer
  cannot read the previous layer's goodness: put a ``LayerNorm`` (``elementwise_affine=False``)
  after the activation and the goodness is read before it, so the trained network's own forward
  stays the one its layers learned with;
* the head is a linear softmax classifier on the last hidden activities of the unlabelled
  input (Hinton's "neutral label" readout, with the label features left as they are), trained
  with the Trainer's loss on detached inputs.

So a trained network classifies with its own ``forward``: ``model(x)`` gives the head's logits,
and it is saved, loaded, evaluated and used for prediction as any model.
:meth:`ForwardForward.predict_by_goodness` gives Hinton's other classifier (run the network
once per label and pick the label with the most goodness) for comparison.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import nn
from chainrule.errors import CheckpointFileError, ConfigError
from chainrule.nn import functional as F
from chainrule.tensor import Tensor

OBJECTIVES = ("symmetric", "threshold")
SHARPNESS = 160.0  # the symmetric objective's scale of G(neg) - G(pos) (chosen on a validation slice)
THRESHOLD = 2.0  # ReLU layers: Hinton's threshold for the mean squared activity
TANH_THRESHOLD = 0.25  # Tanh layers, whose goodness is below 1 (chosen on a validation slice)


class ForwardForward:
    """Forward-forward training for an MLP; made by :func:`chainrule.learning.apply_rule`
    with the defaults, or directly for other settings.

    The Trainer calls :meth:`training_step` in place of its forward/backward; the optimizer
    then steps all parameters as usual.

    Args:
        objective: ``"symmetric"`` (default), ``softplus(sharpness * (G(neg) - G(pos)))`` per
            layer, or ``"threshold"``, Hinton's ``softplus(θ - G(pos)) + softplus(G(neg) - θ)``.
        sharpness: the symmetric objective's scale of the goodness difference (default 160).
        threshold: the threshold objective's ``θ`` (default 2 for ReLU layers, 0.25 for Tanh).
        negatives: ``"hard"`` (default: wrong labels drawn as the head confuses them) or ``"random"``.

    Example::

        >>> model = nn.Sequential(nn.Linear(20, 16), nn.Tanh(), nn.Linear(16, 3))
        >>> rule = chainrule.learning.ForwardForward(model, objective="threshold")
        >>> rule
        ForwardForward(hidden_layers=1, objective='threshold', threshold=0.25)
        >>> x, y = chainrule.randn(8, 20), chainrule.tensor([0, 1, 2, 0, 1, 2, 0, 1])
        >>> outputs, loss = rule.training_step(x, y, nn.functional.cross_entropy)
        >>> outputs.shape   # (N, classes): the head's logits, as model(x) gives them
        (8, 3)
    """

    name = "ff"
    trains_itself = True

    def __init__(
        self,
        model: Any,
        seed: int = 0,
        objective: str = "symmetric",
        sharpness: float | None = None,
        threshold: float | None = None,
        negatives: str = "hard",
    ) -> None:
        if negatives not in ("hard", "random"):
            raise ConfigError(f"learning rule 'ff': negatives must be 'hard' or 'random', not {negatives!r}")
        if objective not in OBJECTIVES:
            raise ConfigError(
                f"learning rule 'ff': objective must be 'symmetric' or 'threshold', not {objective!r}"
            )
        if objective == "symmetric" and threshold is not None:
            raise ConfigError(
                "learning rule 'ff': a threshold applies to objective='threshold' only; "
                "leave it out, or pass objective='threshold'"
            )
        if objective == "threshold" and sharpness is not None:
            raise ConfigError(
                "learning rule 'ff': a sharpness applies to objective='symmetric' only; "
                "leave it out, or pass objective='symmetric'"
            )
        if sharpness is not None and not sharpness > 0:
            raise ConfigError(f"learning rule 'ff': sharpness must be above 0, not {sharpness!r}")
        self.model, self.seed, self.negatives, self.objective = model, seed, negatives, objective
        self.prefix, self.blocks, self.head = _split_mlp(model)
        bounded = any(isinstance(module, nn.Tanh) for block in self.blocks for module in block)
        if threshold is None:
            threshold = TANH_THRESHOLD if bounded else THRESHOLD
        elif bounded and threshold >= 1.0:
            raise ConfigError(
                f"learning rule 'ff': a Tanh layer's goodness (mean squared activity) is below 1, so "
                f"threshold {threshold:g} can never be reached; give a threshold below 1"
            )
        self.threshold = float(threshold)
        self.sharpness = SHARPNESS if sharpness is None else float(sharpness)
        self.num_classes = self.head[0].out_features
        features = self.blocks[0][0].in_features
        if features < self.num_classes:
            raise ConfigError(
                f"learning rule 'ff' writes the label over the first {self.num_classes} input features, "
                f"but the model takes only {features}; use 'bp' for such narrow inputs"
            )
        self._rng = np.random.default_rng(seed)
        self.last_goodness_loss = float("nan")

    # --------------------------------------------------------------------------- training
    def training_step(self, inputs: Any, targets: Any, loss_fn: Any) -> tuple[Tensor, Tensor]:
        """Accumulate every layer's local gradient; returns the head's ``(outputs, loss)``."""
        labels = (targets.numpy() if isinstance(targets, Tensor) else np.asarray(targets)).astype(np.int64)
        if labels.ndim != 1:
            raise ConfigError("learning rule 'ff' needs class-index targets (one integer per sample)")
        flat = _run(self.prefix, _as_tensor(inputs)).detach()
        hidden = flat
        for block in self.blocks:
            hidden = _run(block, hidden).detach()
        outputs = _run(self.head, hidden)
        loss = loss_fn(outputs, targets)
        wrong = self._negative_labels(labels, outputs.detach().numpy())
        positive, negative = self.embed(flat, labels), self.embed(flat, wrong)
        goodness_loss: Any = None
        for block in self.blocks:
            positive_activity, positive = _run_block(block, positive)
            negative_activity, negative = _run_block(block, negative)
            layer_loss = self.layer_loss(_goodness(positive_activity), _goodness(negative_activity))
            goodness_loss = layer_loss if goodness_loss is None else goodness_loss + layer_loss
            positive, negative = positive.detach(), negative.detach()  # the next layer learns alone
        (goodness_loss + loss).backward()
        self.last_goodness_loss = float(goodness_loss.item())
        return outputs, loss

    def layer_loss(self, positive: Tensor, negative: Tensor) -> Tensor:
        """One layer's loss from the goodness (N,) of the positive and of the negative data."""
        if self.objective == "symmetric":  # each sample against its own negative
            return F.softplus(self.sharpness * (negative - positive)).mean()
        return F.softplus(self.threshold - positive).mean() + F.softplus(negative - self.threshold).mean()

    def _negative_labels(self, labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """A wrong label per sample: uniformly at random, or (``negatives="hard"``) in proportion
        to the probability the head gives it, so the labels the model confuses are trained most."""
        if self.negatives == "random":
            shift = self._rng.integers(1, self.num_classes, size=labels.shape)
            return (labels + shift) % self.num_classes
        logits = logits.astype(np.float64)
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        weights += 1e-6  # every wrong label keeps a chance, even when the head is sure
        weights[np.arange(len(labels)), labels] = 0.0
        cumulative = np.cumsum(weights, axis=1)
        draws = self._rng.random(len(labels)) * cumulative[:, -1]
        return (cumulative < draws[:, None]).sum(axis=1)

    def embed(self, flat: Tensor, labels: np.ndarray) -> Tensor:
        """``flat`` (N, D) with its first C features replaced by one-hot ``labels`` (N,)."""
        data = np.array(flat.detach().numpy(), copy=True)
        scale = max(float(np.abs(data).max()), 1e-6)
        data[:, : self.num_classes] = 0
        data[np.arange(len(labels)), labels] = scale
        return Tensor(data)

    # --------------------------------------------------------------------------- inference
    def predict_by_goodness(self, inputs: Any) -> np.ndarray:
        """Class indices (N,) by Hinton's goodness rule: the label whose embedding makes the
        hidden layers' summed goodness largest."""
        from chainrule.grad_mode import no_grad

        with no_grad():
            flat = _run(self.prefix, _as_tensor(inputs))
            scores = np.zeros((flat.shape[0], self.num_classes))
            for label in range(self.num_classes):
                hidden = self.embed(flat, np.full(flat.shape[0], label))
                for block in self.blocks:
                    activity, hidden = _run_block(block, hidden)
                    scores[:, label] += _goodness(activity).numpy()
        return scores.argmax(axis=1)

    def remove(self) -> None:
        """Nothing to take off: forward-forward adds no hooks, only its training step."""

    def state_dict(self) -> dict[str, Any]:
        return {"rule": self.name, "seed": self.seed, "objective": self._objective_setting()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("rule") != self.name:
            raise CheckpointFileError(
                f"the checkpoint was trained with learning rule {state.get('rule')!r}, not 'ff'; "
                f"resume it with --learning-rule {state.get('rule')}"
            )
        # Checkpoints from before the symmetric objective record none: they trained on the
        # threshold objective, with its threshold unrecorded.
        saved = state.get("objective", "objective 'threshold'")
        now = self._objective_setting()
        if saved != now and not (saved == "objective 'threshold'" and self.objective == "threshold"):
            raise CheckpointFileError(
                f"the checkpoint was trained with forward-forward's {saved}, not {now}; resume it "
                "with the settings it was trained with"
            )

    def _objective_setting(self) -> str:
        """The objective and its one setting, as written in the checkpoint."""
        if self.objective == "symmetric":
            return f"objective 'symmetric' (sharpness {self.sharpness:g})"
        return f"objective 'threshold' (threshold {self.threshold:g})"

    def __repr__(self) -> str:
        if self.objective == "symmetric":
            setting = f"sharpness={self.sharpness:g}"
        else:
            setting = f"threshold={self.threshold:g}"
        return f"ForwardForward(hidden_layers={len(self.blocks)}, objective={self.objective!r}, {setting})"


def _as_tensor(value: Any) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor(np.asarray(value))


def _run(modules: list[Any], x: Tensor) -> Tensor:
    for module in modules:
        x = module(x)
    return x


def _run_block(block: list[Any], x: Tensor) -> tuple[Tensor, Tensor]:
    """(the block's activity before any normalisation layer, the block's output)."""
    for index, module in enumerate(block):
        if isinstance(module, _NORM_LAYERS):
            return x, _run(block[index:], x)
        x = module(x)
    return x, x


def _goodness(activity: Tensor) -> Tensor:
    return (activity * activity).mean(dim=1)


_SHAPE_LAYERS = (nn.Flatten,)
_NORM_LAYERS = (nn.LayerNorm,)
_BLOCK_LAYERS = (nn.Linear, nn.ReLU, nn.Tanh, nn.Dropout, nn.Identity, *_NORM_LAYERS)


def _split_mlp(model: Any) -> tuple[list[Any], list[list[Any]], list[Any]]:
    """(layers before the first Linear, hidden blocks each starting with a Linear, head)."""
    modules = list(model.children()) if isinstance(model, nn.Sequential) else []
    unsupported = [m for m in modules if not isinstance(m, _SHAPE_LAYERS + _BLOCK_LAYERS)]
    starts = [i for i, module in enumerate(modules) if isinstance(module, nn.Linear)]
    if unsupported or len(starts) < 2:
        found = type(unsupported[0]).__name__ if unsupported else f"{len(starts)} Linear layers"
        raise ConfigError(
            "learning rule 'ff' trains an MLP layer by layer: an nn.Sequential of Flatten, Linear, ReLU "
            f"and Dropout with at least two Linear layers, but {type(model).__name__} has {found}; "
            "use --model mlp (or 'fa', 'dfa', 'sign' for other models)"
        )
    prefix = modules[: starts[0]]
    if any(not isinstance(m, _SHAPE_LAYERS) for m in prefix):
        raise ConfigError("learning rule 'ff': only Flatten may come before the first Linear layer")
    blocks = [modules[start:end] for start, end in zip(starts[:-1], starts[1:])]
    return prefix, blocks, modules[starts[-1] :]
