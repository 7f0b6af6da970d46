"""``report.html``: one self-contained page that shows how a training run went.

The page is a list of sections; each is a :class:`ReportSection` with a ``title`` and a
``render(run, figures)`` method returning an HTML fragment (or ``None`` to leave itself out).
The built-in ones show the run summary, train-vs-validation curves (with overfitting named in
words), the learning rate, the confusion matrix, per-layer gradient norms and misclassified
examples. To add a section, subclass ``ReportSection`` and pass it to :func:`write_report` or
return it from a callback's ``report_sections()``::

    class LossSpread(ReportSection):
        title = "Loss spread"

        def render(self, run, figures):
            gap = run.history.last("val_loss") - run.history.last("loss")
            return f"<p>Validation minus training loss: {gap:.3f}</p>"

Plots are drawn by matplotlib (the ``viz`` extra) on its Agg backend and inlined as base64
PNG, so the file opens offline and can be mailed around. Without matplotlib every section
falls back to tables and the page says how to get the plots.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.train.history import History

VIZ_HINT = 'pip install "chainrule[viz]"'
TRAIN_COLOR = "#2563eb"
VAL_COLOR = "#ea580c"
HIGHER_IS_BETTER = ("accuracy", "f1", "precision", "recall", "r2")


# --------------------------------------------------------------------------- run record
@dataclass
class RunRecord:
    """Everything a report shows about one training run. Only ``history`` is required.

    Attributes:
        history: the per-epoch history (``loss``, ``val_loss``, metrics, ``lr``, grad norms).
        title: the page heading.
        dataset, model_name: short names shown in the summary.
        model_summary: the model's ``repr``, shown folded.
        num_parameters: number of trainable scalars.
        epochs_planned: epochs asked for (the history may be shorter after early stopping).
        test_metrics: metrics on held-out test data, e.g. ``{"accuracy": 0.97}``.
        confusion_matrix: ``(C, C)`` counts, rows are true classes.
        class_names: a label per class, for the confusion matrix axes.
        examples: misclassified samples, each ``{"input": array, "true": label,
            "predicted": label}``; images are ``(H, W)`` or ``(C, H, W)`` arrays.
        config: the run's settings.
        extra_sections: sections added by callbacks or the caller, drawn after the built-ins.
        data: free room for plug-in sections' own data.
    """

    history: History
    title: str = "Training run"
    dataset: str | None = None
    model_name: str | None = None
    model_summary: str | None = None
    num_parameters: int | None = None
    epochs_planned: int | None = None
    test_metrics: dict[str, float] = field(default_factory=dict)
    confusion_matrix: np.ndarray | None = None
    class_names: list[str] | None = None
    examples: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    extra_sections: list[ReportSection] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_trainer(cls, trainer: Any, **fields: Any) -> RunRecord:
        """A record of ``trainer``'s last fit: its history, model size, config, confusion
        matrix and the report sections its callbacks contribute; ``fields`` add or override.

        Example::

            >>> run = RunRecord.from_trainer(trainer, dataset="digits", test_metrics=scores)
            >>> write_report("report.html", run)
        """
        model = trainer.model
        sections = [section for callback in trainer.callbacks for section in callback.report_sections()]
        values: dict[str, Any] = {
            "history": trainer.history,
            "model_name": type(model).__name__,
            "model_summary": repr(model),
            "num_parameters": sum(int(np.prod(p.shape)) for p in model.parameters() if p.requires_grad),
            "epochs_planned": trainer.epochs or None,
            "confusion_matrix": trainer.confusion_matrix,
            "config": dict(trainer.config),
            "extra_sections": sections,
        }
        values.update(fields)
        return cls(**values)


# ----------------------------------------------------------------------------- sections
class ReportSection:
    """One part of the report. Subclasses set ``title`` and implement ``render``."""

    title: str = "Section"

    @property
    def anchor(self) -> str:
        return "".join(ch if ch.isalnum() else "-" for ch in self.title.lower()).strip("-")

    def render(self, run: RunRecord, figures: Figures) -> str | None:
        """The section's HTML body (without its heading), or ``None`` if it has nothing to show."""
        raise NotImplementedError


class Figures:
    """Turns matplotlib figures into inline ``<img>`` tags; ``available`` is False without
    matplotlib, and sections then show tables instead."""

    def __init__(self, enabled: bool = True) -> None:
        self.available = False
        if not enabled:
            return
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError:
            return
        self._figure_class, self._canvas_class = Figure, FigureCanvasAgg
        self.available = True

    def new(self, width: float = 6.4, height: float = 3.6, ncols: int = 1) -> tuple[Any, Any]:
        """A fresh figure and its axes, styled like the page (no pyplot, no global state)."""
        figure = self._figure_class(figsize=(width, height), dpi=110, layout="constrained")
        self._canvas_class(figure)
        axes = figure.subplots(1, ncols, squeeze=False)[0]
        for ax in axes:
            _style_axes(ax)
        return figure, (axes if ncols > 1 else axes[0])

    def grid(self, rows: int, columns: int, cell_width: float, cell_height: float) -> tuple[Any, list[Any]]:
        """A figure with a ``rows x columns`` grid of bare axes (for images), flattened."""
        figure = self._figure_class(
            figsize=(cell_width * columns, cell_height * rows), dpi=110, layout="constrained"
        )
        self._canvas_class(figure)
        return figure, list(figure.subplots(rows, columns, squeeze=False).ravel())

    def image(self, figure: Any, alt: str) -> str:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", facecolor="white")
        encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
        return f'<img class="plot" alt="{_e(alt)}" src="data:image/png;base64,{encoded}">'


def _style_axes(ax: Any) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#9ca3af")
    ax.tick_params(which="both", colors="#4b5563", labelsize=8)
    ax.grid(True, color="#e5e7eb", linewidth=0.8)
    ax.set_axisbelow(True)


class SummarySection(ReportSection):
    title = "Summary"

    def render(self, run: RunRecord, figures: Figures) -> str | None:
        history = run.history
        epochs_done = len(history)
        planned = run.epochs_planned
        epochs_text = (
            f"{epochs_done}" if not planned or planned == epochs_done else f"{epochs_done} of {planned}"
        )
        total_time = (
            sum(value for value in history["time"] if math.isfinite(value)) if "time" in history else None
        )
        cards = [
            ("Dataset", run.dataset or "—"),
            ("Model", run.model_name or "—"),
            ("Parameters", f"{run.num_parameters:,}" if run.num_parameters is not None else "—"),
            ("Epochs", epochs_text),
            ("Training time", _duration(total_time) if total_time is not None else "—"),
        ]
        if "val_loss" in history:
            best_epoch, best_value = history.best("val_loss")
            cards.append(("Best val loss", f"{best_value:.4f} (epoch {best_epoch})"))
        parts = ['<div class="cards">']
        parts += [
            f'<div class="card"><div class="label">{_e(k)}</div><div class="value">{_e(v)}</div></div>'
            for k, v in cards
        ]
        parts.append("</div>")
        headline = _headline_metrics(run)
        if headline:
            parts.append('<div class="cards metrics">')
            for label, value in headline:
                parts.append(
                    f'<div class="card big"><div class="label">{_e(label)}</div>'
                    f'<div class="value">{_e(value)}</div></div>'
                )
            parts.append("</div>")
        if planned and epochs_done < planned:
            parts.append(
                f'<p class="note">Training stopped after epoch {epochs_done} of {planned} '
                "(a callback such as EarlyStopping or TerminateOnNaN ended it).</p>"
            )
        if run.model_summary:
            parts.append(
                f"<details><summary>Model structure</summary><pre>{_e(run.model_summary)}</pre></details>"
            )
        return "\n".join(parts)


def _headline_metrics(run: RunRecord) -> list[tuple[str, str]]:
    """Test metrics if there are any, else the last epoch's validation (or training) metrics."""
    if run.test_metrics:
        return [(f"Test {name}", _metric_text(name, value)) for name, value in run.test_metrics.items()]
    if not len(run.history):
        return []
    last = run.history.rows[-1]
    prefix = "val_" if any(key.startswith("val_") for key in last) else ""
    label = "Validation" if prefix else "Final training"
    return [
        (f"{label} {key.removeprefix(prefix)}", _metric_text(key, value))
        for key, value in last.items()
        if key.startswith(prefix)
        and "/" not in key
        and key not in ("epoch", "lr", "time")
        and (prefix or not key.startswith("val_"))
    ]


def _metric_text(name: str, value: float) -> str:
    if any(word in name for word in ("accuracy", "precision", "recall", "f1")):
        return f"{value:.2%}"
    return f"{value:.4g}"


@dataclass
class OverfittingFinding:
    """Validation loss bottomed out at ``best_epoch`` and rose from ``began_epoch`` on while
    training loss kept falling."""

    best_epoch: int
    began_epoch: int
    last_epoch: int
    best_val_loss: float
    final_val_loss: float
    train_loss_at_best: float
    final_train_loss: float


def detect_overfitting(
    history: History, min_rise: float = 0.02, min_epochs_after: int = 2
) -> OverfittingFinding | None:
    """Find where validation loss started rising while training loss fell.

    Flags it when the last validation loss is more than ``min_rise`` (relative) above its
    minimum, at least ``min_epochs_after`` epochs after that minimum, and training loss at the
    end is below its value at the minimum. Returns ``None`` otherwise (or without ``val_loss``).

    Example::

        >>> finding = detect_overfitting(history)
        >>> finding.began_epoch if finding else "no overfitting"
    """
    if "val_loss" not in history or "loss" not in history:
        return None
    val, train, epochs = np.array(history["val_loss"]), np.array(history["loss"]), history.epochs
    finite = np.isfinite(val)
    if not finite.any():
        return None
    best = int(np.nanargmin(np.where(finite, val, np.nan)))
    last = len(val) - 1
    rise = val[last] - val[best]
    if (
        last - best < min_epochs_after
        or not rise > min_rise * abs(val[best])
        or not train[last] < train[best]
    ):
        return None
    return OverfittingFinding(
        best_epoch=epochs[best],
        began_epoch=epochs[best + 1],
        last_epoch=epochs[last],
        best_val_loss=float(val[best]),
        final_val_loss=float(val[last]),
        train_loss_at_best=float(train[best]),
        final_train_loss=float(train[last]),
    )


class CurvesSection(ReportSection):
    title = "Training and validation"

    def render(self, run: RunRecord, figures: Figures) -> str | None:
        history = run.history
        if "loss" not in history:
            return None
        finding = detect_overfitting(history)
        parts = [_overfitting_text(history, finding)]
        pairs = [("loss", "Loss")] + [
            (name, name.replace("_", " ").capitalize()) for name in _metric_names(history)[:1]
        ]
        if figures.available:
            figure, axes = figures.new(width=5.2 * len(pairs), height=3.4, ncols=len(pairs))
            for ax, (key, label) in zip(np.atleast_1d(axes), pairs):
                _plot_pair(ax, history, key, label, finding)
            parts.append(figures.image(figure, "training and validation curves"))
        else:
            columns = ["epoch"] + [k for key, _ in pairs for k in (key, f"val_{key}") if k in history]
            parts.append(_history_table(history, columns))
        return "\n".join(parts)


def _metric_names(history: History) -> list[str]:
    """Training metrics besides the loss, accuracy-like ones first."""
    names = [
        key
        for key in history.keys()
        if key not in ("epoch", "loss", "lr", "time") and not key.startswith("val_") and "/" not in key
    ]
    return sorted(names, key=lambda name: "accuracy" not in name)


def _plot_pair(ax: Any, history: History, key: str, label: str, finding: OverfittingFinding | None) -> None:
    epochs = history.epochs
    ax.plot(
        epochs, history[key], color=TRAIN_COLOR, marker="o", markersize=3, linewidth=1.8, label="training"
    )
    if f"val_{key}" in history:
        ax.plot(
            epochs,
            history[f"val_{key}"],
            color=VAL_COLOR,
            marker="o",
            markersize=3,
            linewidth=1.8,
            label="validation",
        )
        mode = "max" if any(word in key for word in HIGHER_IS_BETTER) else "min"
        best_epoch, best_value = history.best(f"val_{key}", mode)
        ax.scatter(
            [best_epoch],
            [best_value],
            s=70,
            facecolors="none",
            edgecolors=VAL_COLOR,
            linewidths=1.5,
            zorder=5,
            label=f"best (epoch {best_epoch})",
        )
    if finding is not None:
        ax.axvspan(
            finding.began_epoch - 0.5,
            finding.last_epoch + 0.5,
            color="#fee2e2",
            alpha=0.7,
            lw=0,
            label="overfitting",
        )
    ax.set_title(label, fontsize=10, loc="left", color="#111827")
    ax.set_xlabel("epoch", fontsize=8, color="#4b5563")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(frameon=False, fontsize=8)


def _overfitting_text(history: History, finding: OverfittingFinding | None) -> str:
    if "val_loss" not in history:
        return (
            '<p class="note">No validation data was given, so overfitting cannot be judged: pass a '
            "<code>val_loader</code> to <code>fit</code> (the CLI holds out <code>--val-split</code>).</p>"
        )
    if finding is None:
        best_epoch, best_value = history.best("val_loss")
        return (
            f'<p class="ok"><strong>No sign of overfitting.</strong> Validation loss was lowest at '
            f"epoch {best_epoch} ({best_value:.4f}) and has not risen clearly since.</p>"
        )
    return (
        '<div class="alert"><strong>Overfitting from epoch '
        f"{finding.began_epoch}.</strong> Validation loss was lowest at epoch {finding.best_epoch} "
        f"({finding.best_val_loss:.4f}) and rose to {finding.final_val_loss:.4f} by epoch "
        f"{finding.last_epoch}, while training loss kept falling ({finding.train_loss_at_best:.4f} → "
        f"{finding.final_train_loss:.4f}): the model is fitting the training examples themselves "
        "rather than what carries over to unseen data. Remedies:"
        "<ul><li><strong>Weight decay</strong>: penalise large weights (<code>AdamW</code>, or "
        "<code>weight_decay=1e-4</code>; <code>--weight-decay</code> in the CLI).</li>"
        "<li><strong>Dropout</strong> between layers (<code>nn.Dropout(0.2)</code>; "
        "<code>dropout</code> in the CLI config).</li>"
        "<li><strong>Early stopping</strong>: <code>EarlyStopping(monitor='val_loss', "
        "restore_best_weights=True)</code> keeps the weights of epoch "
        f"{finding.best_epoch} (<code>--patience</code> in the CLI).</li>"
        "<li><strong>More data or data augmentation</strong>, or a smaller model.</li></ul></div>"
    )


class LearningRateSection(ReportSection):
    title = "Learning rate"

    def render(self, run: RunRecord, figures: Figures) -> str | None:
        history = run.history
        if "lr" not in history:
            return None
        rates = [value for value in history["lr"] if math.isfinite(value)]
        if rates and min(rates) == max(rates):
            return f"<p>Constant at {rates[0]:.4g} for all {len(rates)} epochs.</p>"
        if not figures.available:
            return _history_table(history, ["epoch", "lr"])
        figure, ax = figures.new(width=6.4, height=2.6)
        ax.plot(
            history.epochs,
            history["lr"],
            drawstyle="steps-mid",
            color="#7c3aed",
            linewidth=1.8,
            marker="o",
            markersize=3,
        )
        if rates and min(rates) > 0 and max(rates) / min(rates) > 20:
            ax.set_yscale("log")
        ax.set_xlabel("epoch", fontsize=8, color="#4b5563")
        ax.set_ylabel("learning rate", fontsize=8, color="#4b5563")
        ax.xaxis.get_major_locator().set_params(integer=True)
        return figures.image(figure, "learning rate per epoch")


class ConfusionMatrixSection(ReportSection):
    title = "Confusion matrix"

    def render(self, run: RunRecord, figures: Figures) -> str | None:
        matrix = run.confusion_matrix
        if matrix is None:
            return None
        matrix = np.asarray(matrix)
        names = run.class_names or [str(i) for i in range(len(matrix))]
        where = "test" if run.test_metrics else "validation"
        intro = (
            f"<p>Rows are true classes, columns predicted ones, on the {where} data; the diagonal "
            f"counts correct predictions. {_most_confused(matrix, names)}</p>"
        )
        if not figures.available or len(matrix) > 30:
            return intro + _matrix_table(matrix, names)
        size = min(1.8 + 0.38 * len(matrix), 8.0)
        figure, ax = figures.new(width=size + 1.0, height=size)
        ax.grid(False)
        row_totals = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        fractions = matrix / row_totals
        image = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
        colorbar = figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        colorbar.set_label("fraction of the true class", fontsize=8, color="#4b5563")
        colorbar.ax.tick_params(labelsize=7, colors="#4b5563")
        colorbar.outline.set_visible(False)
        if len(matrix) <= 20:
            for (row, column), count in np.ndenumerate(matrix):
                color = "white" if fractions[row, column] > 0.6 else "#111827"
                ax.text(column, row, str(count), ha="center", va="center", fontsize=7, color=color)
        ax.set_xticks(range(len(names)), names, fontsize=7, rotation=45 if max(map(len, names)) > 3 else 0)
        ax.set_yticks(range(len(names)), names, fontsize=7)
        ax.set_xlabel("predicted", fontsize=8, color="#4b5563")
        ax.set_ylabel("true", fontsize=8, color="#4b5563")
        return intro + figures.image(figure, "confusion matrix")


def _most_confused(matrix: np.ndarray, names: list[str]) -> str:
    off_diagonal = matrix.copy()
    np.fill_diagonal(off_diagonal, 0)
    if off_diagonal.max() == 0:
        return "Every sample was classified correctly."
    row, column = np.unravel_index(int(off_diagonal.argmax()), off_diagonal.shape)
    return (
        f"The most common mistake: true <strong>{_e(names[row])}</strong> predicted as "
        f"<strong>{_e(names[column])}</strong> ({int(off_diagonal[row, column])} times)."
    )


def _matrix_table(matrix: np.ndarray, names: list[str]) -> str:
    header = "".join(f"<th>{_e(name)}</th>" for name in names)
    rows = []
    for row, name in enumerate(names):
        cells = "".join(
            f'<td class="{"diag" if row == column else ""}">{int(matrix[row, column])}</td>'
            for column in range(len(names))
        )
        rows.append(f"<tr><th>{_e(name)}</th>{cells}</tr>")
    return (
        f'<div class="scroll"><table class="matrix"><tr><th>true \\ predicted</th>{header}</tr>'
        f"{''.join(rows)}</table></div>"
    )


class GradientNormsSection(ReportSection):
    title = "Gradient norms"

    def render(self, run: RunRecord, figures: Figures) -> str | None:
        history = run.history
        keys = [key for key in history.keys() if key.endswith("/grad_norm")]
        if not keys:
            return None
        intro = (
            "<p>Mean L2 norm of each parameter's gradient per epoch, on a log scale. Norms that "
            "shrink by orders of magnitude towards the first layers mean <em>vanishing</em> "
            "gradients (those layers barely learn); norms that grow without bound mean "
            "<em>exploding</em> ones (lower the learning rate or clip gradients).</p>"
        )
        verdict = _gradient_verdict(history, keys)
        if not figures.available:
            return intro + verdict + _gradient_table(history, keys)
        figure, ax = figures.new(width=7.6, height=3.8)
        colors = _colormap_colors(len(keys))
        for key, color in zip(keys, colors):
            values = np.array(history[key], dtype=float)
            values[values <= 0] = np.nan  # log scale: a zero gradient has no point
            ax.plot(
                history.epochs,
                values,
                color=color,
                linewidth=1.5,
                linestyle="-" if key.removesuffix("/grad_norm").endswith("weight") else "--",
                label=key.removesuffix("/grad_norm"),
            )
        ax.set_yscale("log")
        ax.set_xlabel("epoch", fontsize=8, color="#4b5563")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(
            frameon=False,
            fontsize=7,
            loc="center left",
            bbox_to_anchor=(1.01, 0.5),
            ncols=1 if len(keys) <= 14 else 2,
        )
        return intro + verdict + figures.image(figure, "gradient norms per parameter")


def _colormap_colors(count: int) -> list[Any]:
    from matplotlib import colormaps

    palette = colormaps["viridis"]
    return [palette(0.05 + 0.85 * i / max(count - 1, 1)) for i in range(count)]


def _gradient_verdict(history: History, keys: list[str]) -> str:
    last = {key.removesuffix("/grad_norm"): history.last(key) for key in keys}
    finite = {name: value for name, value in last.items() if math.isfinite(value)}
    if len(finite) < len(last):
        bad = [name for name in last if name not in finite]
        return (
            f'<div class="alert"><strong>Non-finite gradients</strong> in {_e(", ".join(bad))}: training '
            "diverged. Lower the learning rate or clip gradients.</div>"
        )
    positive = {name: value for name, value in finite.items() if value > 0}
    weights = {name: value for name, value in positive.items() if name.endswith("weight")}
    if len(weights) >= 2:
        positive = weights  # biases' gradients are naturally smaller; compare like with like
    if len(positive) >= 2:
        smallest = min(positive, key=positive.get)
        largest = max(positive, key=positive.get)
        ratio = positive[largest] / positive[smallest]
        if ratio > 1e3:
            return (
                f'<div class="alert"><strong>Gradient norms span {ratio:.0e}×</strong> in the last epoch '
                f"(smallest: {_e(smallest)}, largest: {_e(largest)}): a sign of vanishing or exploding "
                "gradients. Try ReLU-family activations, normalisation layers, better initialisation "
                "or gradient clipping.</div>"
            )
    return ""


def _gradient_table(history: History, keys: list[str]) -> str:
    rows = []
    for key in keys:
        values = history[key]
        rows.append(
            f"<tr><td><code>{_e(key.removesuffix('/grad_norm'))}</code></td>"
            f"<td>{values[0]:.3e}</td><td>{values[-1]:.3e}</td></tr>"
        )
    return (
        '<div class="scroll"><table><tr><th>parameter</th><th>first epoch</th><th>last epoch</th></tr>'
        f"{''.join(rows)}</table></div>"
    )


class MisclassifiedSection(ReportSection):
    title = "Misclassified examples"

    def render(self, run: RunRecord, figures: Figures) -> str | None:
        examples = run.examples
        if not examples:
            return None
        names = run.class_names

        def label(index: Any) -> str:
            known = names is not None and 0 <= int(index) < len(names)
            return str(names[int(index)]) if known else str(index)

        images = [_as_image(example["input"]) for example in examples]
        if not figures.available or any(image is None for image in images):
            rows = "".join(
                f"<tr><td>{example.get('index', i)}</td><td>{_e(label(example['true']))}</td>"
                f"<td>{_e(label(example['predicted']))}</td></tr>"
                for i, example in enumerate(examples)
            )
            return f"<table><tr><th>sample</th><th>true</th><th>predicted</th></tr>{rows}</table>"
        columns = min(len(images), 8)
        rows_count = math.ceil(len(images) / columns)
        figure, axes = figures.grid(rows_count, columns, cell_width=1.25, cell_height=1.45)
        for ax in axes[len(images) :]:
            ax.set_visible(False)
        for ax, image, example in zip(axes, images, examples):
            ax.imshow(image, cmap="gray_r" if image.ndim == 2 else None, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_color("#ef4444")
            ax.set_title(
                f"true {label(example['true'])}\npredicted {label(example['predicted'])}",
                fontsize=7,
                color="#111827",
            )
        intro = f"<p>The first {len(examples)} test samples the model got wrong.</p>"
        return intro + figures.image(figure, "misclassified examples")


def _as_image(array: Any) -> np.ndarray | None:
    """An (H, W) or (H, W, 3) array for imshow, or None if the input is not an image."""
    image = np.asarray(array, dtype=np.float64)
    if image.ndim == 3 and image.shape[0] in (1, 3):
        image = image[0] if image.shape[0] == 1 else np.moveaxis(image, 0, -1)
    if image.ndim == 1:
        side = math.isqrt(image.size)
        if side * side != image.size or side < 4:
            return None
        image = image.reshape(side, side)
    if image.ndim == 3:
        low, high = image.min(), image.max()
        image = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return image if image.ndim in (2, 3) else None


class EpochTableSection(ReportSection):
    title = "Epoch by epoch"

    def render(self, run: RunRecord, figures: Figures) -> str | None:
        history = run.history
        if not len(history):
            return None
        columns = [key for key in history.keys() if "/" not in key]
        table = _history_table(history, columns)
        return f"<details><summary>All {len(history)} epochs</summary>{table}</details>"


class ConfigSection(ReportSection):
    title = "Configuration"

    def render(self, run: RunRecord, figures: Figures) -> str | None:
        if not run.config:
            return None
        rows = "".join(
            f"<tr><th>{_e(str(key))}</th><td><code>{_e(_config_value(value))}</code></td></tr>"
            for key, value in run.config.items()
        )
        return f'<table class="config">{rows}</table>'


def _config_value(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} = {_config_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_config_value(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) else str(value)


DEFAULT_SECTIONS: tuple[type[ReportSection], ...] = (
    SummarySection,
    CurvesSection,
    LearningRateSection,
    ConfusionMatrixSection,
    GradientNormsSection,
    MisclassifiedSection,
    EpochTableSection,
    ConfigSection,
)


# ------------------------------------------------------------------------------- writing
def render_report(
    run: RunRecord, sections: Sequence[ReportSection] | None = None, use_matplotlib: bool = True
) -> str:
    """The report as an HTML string: ``sections`` (default: the built-in ones, then
    ``run.extra_sections``), each under its own heading."""
    if sections is None:
        sections = [cls() for cls in DEFAULT_SECTIONS] + list(run.extra_sections)
    figures = Figures(enabled=use_matplotlib)
    rendered = []
    for section in sections:
        body = section.render(run, figures)
        if body:
            rendered.append((section, body))
    navigation = " · ".join(f'<a href="#{s.anchor}">{_e(s.title)}</a>' for s, _ in rendered)
    blocks = "\n".join(
        f'<section id="{s.anchor}"><h2>{_e(s.title)}</h2>\n{body}\n</section>' for s, body in rendered
    )
    banner = "" if figures.available else f'<div class="banner">{_viz_missing_note()}</div>'
    subtitle = " · ".join(part for part in (run.dataset, run.model_name) if part)
    created = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    return _PAGE.format(
        title=_e(run.title),
        subtitle=_e(subtitle),
        created=created,
        navigation=navigation,
        banner=banner,
        blocks=blocks,
        css=_CSS,
    )


def write_report(
    path: str | os.PathLike[str],
    run: RunRecord,
    sections: Sequence[ReportSection] | None = None,
    use_matplotlib: bool = True,
) -> str:
    """Write the report to ``path`` (atomically) and return its HTML.

    Example::

        >>> write_report("runs/a/report.html", RunRecord.from_trainer(trainer, dataset="digits"))
    """
    from chainrule.train.checkpoint import atomic_write_bytes

    page = render_report(run, sections, use_matplotlib)
    atomic_write_bytes(path, page.encode("utf-8"))
    return page


# ------------------------------------------------------------------------------ helpers
def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)} min {seconds:.0f} s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)} h {int(minutes)} min"


def _viz_missing_note() -> str:
    return (
        f"Plots need matplotlib, which is not installed: <code>{_e(VIZ_HINT)}</code>. "
        "Tables are shown instead."
    )


def _history_table(history: History, columns: list[str]) -> str:
    header = "".join(f"<th>{_e(column)}</th>" for column in columns)
    rows = []
    for row in history.rows:
        cells = "".join(f"<td>{_cell(column, row.get(column))}</td>" for column in columns)
        rows.append(f"<tr>{cells}</tr>")
    return f'<div class="scroll"><table><tr>{header}</tr>{"".join(rows)}</table></div>'


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column == "epoch":
        return str(int(value))
    if column == "lr":
        return f"{value:.3g}"
    if column == "time":
        return f"{value:.2f} s"
    return f"{value:.4f}"


_CSS = """
:root { --ink:#111827; --muted:#6b7280; --line:#e5e7eb; --bg:#f6f7f9; --card:#fff; --accent:#2563eb; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { background:#111827; color:#f9fafb; padding:28px 0 18px; }
header .wrap, main { max-width: 1120px; margin: 0 auto; padding: 0 24px; }
header h1 { margin:0; font-size:26px; font-weight:650; letter-spacing:-0.01em; }
header .sub { color:#9ca3af; margin-top:4px; }
nav { margin-top:14px; font-size:13px; }
nav a { color:#c7d2fe; text-decoration:none; } nav a:hover { text-decoration:underline; }
main { padding-top: 8px; padding-bottom: 48px; }
section { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:18px 22px;
  margin:18px 0; box-shadow: 0 1px 2px rgba(0,0,0,.04); }
h2 { font-size:17px; margin:0 0 12px; font-weight:650; }
.cards { display:grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap:10px;
  margin-bottom:10px; }
.card { border:1px solid var(--line); border-radius:8px; padding:10px 12px; background:#fbfbfc; }
.card .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.card .value { font-size:16px; font-weight:600; font-variant-numeric: tabular-nums; overflow-wrap:anywhere; }
.card.big .value { font-size:24px; color:var(--accent); }
img.plot { max-width:100%; height:auto; display:block; margin:8px 0; }
table { border-collapse:collapse; font-size:13px; font-variant-numeric: tabular-nums; }
th, td { border-bottom:1px solid var(--line); padding:4px 10px; text-align:right; }
th { color:var(--muted); font-weight:600; } tr:nth-child(even) td { background:#fafafa; }
table.config th, table.config td { text-align:left; }
table.matrix td.diag { background:#dbeafe; font-weight:600; }
.scroll { overflow-x:auto; }
.alert { border-left:4px solid #dc2626; background:#fef2f2; padding:10px 14px; border-radius:6px;
  margin:8px 0; }
.alert ul { margin:6px 0 0; padding-left:20px; }
.ok { border-left:4px solid #16a34a; background:#f0fdf4; padding:10px 14px; border-radius:6px; }
.note { color:var(--muted); font-size:13px; }
.banner { background:#fffbeb; border:1px solid #fde68a; border-radius:8px; padding:10px 14px;
  margin-top:18px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:12.5px;
  background:#f3f4f6; padding:1px 4px; border-radius:4px; }
pre { background:#f3f4f6; padding:10px; border-radius:6px; overflow-x:auto; font-size:12px; }
details summary { cursor:pointer; color:var(--accent); margin:6px 0; }
footer { color:var(--muted); font-size:12px; text-align:center; margin-top:24px; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header><div class="wrap">
<h1>{title}</h1>
<div class="sub">{subtitle}</div>
<nav>{navigation}</nav>
</div></header>
<main>
{banner}
{blocks}
<footer>Written by chainrule on {created}. This page is self-contained: it needs no network.</footer>
</main>
</body>
</html>
"""
