"""How well a learning rule's updates align with backprop's: the angle per layer, recorded
while training and drawn in the report.

The angle between two gradients ``a`` and ``b`` is ``arccos(a·b / (|a| |b|))`` in degrees:
0 the same direction, 90 unrelated, above 90 opposed. A rule learns as long as its update
stays within 90 degrees of the true gradient (it then still descends the loss).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.train.callbacks import Callback
from chainrule.train.report import Figures, ReportSection, RunRecord

SUFFIX = "/alignment_deg"


def angle_degrees(update: np.ndarray, gradient: np.ndarray) -> float:
    """The angle between two arrays seen as vectors, in degrees (NaN if either is zero).

    Example::

        >>> angle_degrees(np.array([1.0, 0.0]), np.array([1.0, 1.0]))
        45.0
    """
    a = np.asarray(update, dtype=np.float64).ravel()
    b = np.asarray(gradient, dtype=np.float64).ravel()
    norm_a, norm_b = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if norm_a == 0.0 or norm_b == 0.0:
        return float("nan")
    a, b = a / norm_a, b / norm_b
    # Half-angle form: accurate near 0 and 180 degrees, where acos of the cosine is not.
    angle = 2 * math.atan2(float(np.linalg.norm(a - b)), float(np.linalg.norm(a + b)))
    return round(math.degrees(angle), 10)


def true_gradients(rule: Any, loss_fn: Any, inputs: Any, targets: Any) -> dict[str, np.ndarray]:
    """Plain backprop's gradient of each rule layer's weight on one batch, ``{layer: array}``,
    computed with the rule switched off and without touching ``.grad``."""
    from chainrule.autograd import grad
    from chainrule.grad_mode import enable_grad

    weights = [layer.weight for _, layer in rule.layers]
    rule.enabled = False
    try:
        with enable_grad():
            loss = loss_fn(rule.model(inputs), targets)
            grads = grad(loss, weights, allow_unused=True)
    finally:
        rule.enabled = True
    return {
        name: (np.zeros(w.shape) if g is None else g.numpy())
        for (name, _), w, g in zip(rule.layers, weights, grads)
    }


class AlignmentCallback(Callback):
    """Each epoch's angle between a rule's weight update and backprop's gradient, per layer.

    Every ``every``-th batch (and always the first of an epoch), after the rule's backward,
    the true gradient of the same batch is computed with the rule switched off; the epoch's
    row gets the mean angle per layer as ``<layer>/alignment_deg`` (e.g.
    ``fc1/alignment_deg``), so it lands in ``metrics.csv`` and the report. Costs one extra
    forward and backward per sampled batch. The Trainer adds it for FA, DFA and sign symmetry.
    """

    order = -50  # an observer: adds to the logs before writers run

    def __init__(self, rule: Any, every: int = 20) -> None:
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"AlignmentCallback: every must be a positive int, got {every!r}")
        self.rule, self.every = rule, every
        self._angles: dict[str, list[float]] = {}

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._angles = {name: [] for name, _ in self.rule.layers}

    def on_after_backward(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        current = getattr(self.trainer, "batch", None)
        if batch % self.every or current is None:
            return
        inputs, targets = current
        true = true_gradients(self.rule, self.trainer.loss_fn, inputs, targets)
        for name, layer in self.rule.layers:
            if layer.weight.grad is not None:
                self._angles[name].append(angle_degrees(layer.weight.grad.numpy(), true[name]))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        for name, angles in self._angles.items():
            finite = [a for a in angles if math.isfinite(a)]
            logs[name + SUFFIX] = float(np.mean(finite)) if finite else float("nan")

    def report_sections(self) -> list[Any]:
        return [AlignmentSection(self.rule.name)]


_RULE_NAMES = {"fa": "feedback alignment", "dfa": "direct feedback alignment", "sign": "sign symmetry"}


class AlignmentSection(ReportSection):
    """The report's plot of ``*/alignment_deg`` columns per epoch (a table without matplotlib)."""

    title = "Alignment with backprop"

    def __init__(self, rule_name: str = "") -> None:
        self.rule_name = rule_name

    def render(self, run: RunRecord, figures: Figures) -> str | None:
        history = run.history
        keys = [key for key in history.keys() if key.endswith(SUFFIX)]
        if not keys or not len(history):
            return None
        rule = _RULE_NAMES.get(self.rule_name, self.rule_name)
        intro = (
            f"<p>The angle between each layer's weight update under {rule} and the true backprop "
            "gradient of the same batch, averaged over the batches sampled each epoch. "
            "Below 90 degrees the update still descends the loss; the last layer, which hears the "
            "error directly, is at 0.</p>"
        )
        if not figures.available:
            header = "".join(f"<th>{key.removesuffix(SUFFIX)}</th>" for key in keys)
            rows = "".join(
                f"<tr><td>{epoch}</td>" + "".join(f"<td>{history[key][i]:.1f}</td>" for key in keys) + "</tr>"
                for i, epoch in enumerate(history.epochs)
            )
            return intro + f"<table><tr><th>epoch</th>{header}</tr>{rows}</table>"
        figure, ax = figures.new(width=6.4, height=3.4)
        for key in keys:
            ax.plot(history.epochs, history[key], marker="o", markersize=3, label=key.removesuffix(SUFFIX))
        ax.axhline(90, color="#9ca3af", linewidth=1, linestyle=":")
        ax.set_ylim(0, max(95.0, float(np.nanmax(np.asarray([history[k] for k in keys], dtype=float))) + 5))
        ax.set_ylabel("degrees", fontsize=8)
        ax.set_xlabel("epoch", fontsize=8)
        ax.legend(frameon=False, fontsize=7)
        return intro + figures.image(figure, "alignment angle per layer and epoch")
