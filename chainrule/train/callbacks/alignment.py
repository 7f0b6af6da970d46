"""Recording how a learning rule's updates align with backprop's while training
(:class:`AlignmentCallback`) and drawing it in the report (:class:`AlignmentSection`); the
maths is :mod:`chainrule.learning.alignment`'s."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.learning.alignment import SUFFIX, angle_degrees, true_gradients
from chainrule.train.callbacks.base import Callback
from chainrule.train.report import Figures, ReportSection, RunRecord


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
