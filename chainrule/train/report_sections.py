"""The report's built-in sections (summary, data checks, curves, learning rate, confusion
matrix, predictions, gradient flow, misclassified examples, attributions, epochs, config) and
the plotting helpers they share; the page around them is :mod:`chainrule.train.report`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from chainrule.train.history import History
from chainrule.train.report import (
    Figures,
    ReportSection,
    RunRecord,
    _duration,
    _e,
    _history_table,
)

TRAIN_COLOR = "#2563eb"


VAL_COLOR = "#ea580c"


HIGHER_IS_BETTER = ("accuracy", "f1", "precision", "recall", "r2")


def _literal(text: Any) -> str:
    """``text`` as matplotlib should print it: it reads what lies between two ``$`` as
    mathtext (a class named ``$\\foo{$`` fails to parse); ``\\$`` is a literal dollar. The
    log axes' own tick labels need mathtext, so it is not turned off for the figure."""
    return str(text).replace("$", "\\$")


def _class_label(names: Sequence[str] | None, index: Any) -> str:
    """The name of class ``index``, or the index itself when no name is known for it."""
    if names is not None and 0 <= int(index) < len(names):
        return str(names[int(index)])
    return str(index)


def _finite(values: Sequence[float]) -> np.ndarray:
    """``values`` as floats with NaN for infinities, which matplotlib cannot place."""
    array = np.array(values, dtype=np.float64)
    array[~np.isfinite(array)] = np.nan
    return array


def _epoch_axis(ax: Any, epochs: Sequence[int]) -> None:
    """Whole-number epoch ticks; a single epoch gets one tick in a window around it, not
    matplotlib's 0.96-1.04 range."""
    ax.set_xlabel("epoch", fontsize=8, color="#4b5563")
    ax.xaxis.get_major_locator().set_params(integer=True)
    if len(set(epochs)) == 1:
        ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
        ax.set_xticks([epochs[0]])


def _say_nothing_to_draw(ax: Any, epochs: Sequence[int], why: str) -> None:
    """An empty panel that says why it is empty, over the run's epochs."""
    ax.text(0.5, 0.5, why, transform=ax.transAxes, ha="center", fontsize=9)
    ax.set_yticks([])
    if len(set(epochs)) > 1:  # _epoch_axis handles one epoch; with no data, limits are not known
        ax.set_xlim(min(epochs), max(epochs))


def _log_scale_if_wide(ax: Any, *columns: np.ndarray) -> None:
    """A log y axis when positive values span more than three orders of magnitude (a loss
    that exploded would otherwise flatten every other point onto the axis)."""
    values = np.concatenate([column[np.isfinite(column)] for column in columns])
    if values.size and values.min() > 0 and values.max() / values.min() > 1e3:
        ax.set_yscale("log")


def _task(run: RunRecord) -> str | None:
    """``"classification"``, ``"regression"`` or ``None`` (unknown) for a record."""
    if run.task is not None:
        return run.task
    if run.confusion_matrix is not None:
        return "classification"
    return "regression" if run.predictions is not None else None


_METRIC_LABELS = {"mse": "MSE", "mae": "MAE", "rmse": "RMSE", "r2": "R²", "f1": "F1"}


def _metric_label(key: str) -> str:
    """``"mae"`` -> ``"MAE"``, ``"val_top5_accuracy"`` -> ``"top5 accuracy"``."""
    name = key.removeprefix("val_")
    return _METRIC_LABELS.get(name, name.replace("_", " "))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def find_divergence(run: RunRecord) -> tuple[str, str] | None:
    """``(headline, details)`` when the run diverged, else ``None``: from ``run.divergence``,
    or from the first NaN or infinite loss in the history when nothing recorded it.

    Example::

        >>> from chainrule.train import History, RunRecord
        >>> history = History([{"epoch": 1, "loss": 2.3}, {"epoch": 2, "loss": float("nan")}])
        >>> find_divergence(RunRecord(history))[0]
        'Training diverged in epoch 2.'
    """
    found = run.divergence
    if found is not None:
        return (
            f"Training diverged {found.where}.",
            f"{found.reason[:1].upper()}{found.reason[1:]}, with learning rate {found.lr:.3g}. Try a "
            "learning rate at least 10 times lower, or gradient clipping (nn.utils.clip_grad_norm_).",
        )
    for row in run.history.rows:
        for key, name in (("loss", "training loss"), ("val_loss", "validation loss")):
            value = row.get(key)
            if value is not None and not math.isfinite(value):
                return (
                    f"Training diverged in epoch {int(row['epoch'])}.",
                    f"The {name} became {value}. Try a lower learning rate or gradient clipping "
                    "(nn.utils.clip_grad_norm_).",
                )
    return None


def _divergence_alert(run: RunRecord, after: str = "") -> str:
    """The red box that names a divergence ("" when the run did not diverge)."""
    found = find_divergence(run)
    if found is None:
        return ""
    headline, details = found
    return f'<div class="alert diverged"><strong>{_e(headline)}</strong> {_e(details)}{after}</div>'


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
        if _has_number(history, "val_loss"):
            best_epoch, best_value = history.best("val_loss")
            cards.append(("Best val loss", f"{best_value:.4f} (epoch {best_epoch})"))
        note = f" {_e(run.model_note)}" if run.model_note else ""
        diverged = _divergence_alert(run, after=note)
        parts = [diverged] if diverged else []
        if run.model_note and not diverged:
            parts.append(f'<p class="note">{_e(run.model_note)}</p>')
        parts.append('<div class="cards">')
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
        if planned and epochs_done < planned and not diverged:
            parts.append(
                f'<p class="note">Training stopped after epoch {epochs_done} of {planned} '
                "(a callback such as EarlyStopping ended it).</p>"
            )
        if run.model_summary:
            parts.append(
                f"<details><summary>Model structure</summary><pre>{_e(run.model_summary)}</pre></details>"
            )
        return "\n".join(parts)


def _has_number(history: History, key: str) -> bool:
    return key in history and any(math.isfinite(value) for value in history[key])


def _headline_metrics(run: RunRecord) -> list[tuple[str, str]]:
    """Test metrics if there are any, else the last epoch's validation (or training) metrics."""
    if run.test_metrics:
        scores = run.test_metrics.items()
        return [(f"Test {_metric_label(name)}", _metric_text(name, value)) for name, value in scores]
    if not len(run.history):
        return []
    last = run.history.rows[-1]
    prefix = "val_" if any(key.startswith("val_") for key in last) else ""
    label = "Validation" if prefix else "Final training"
    return [
        (f"{label} {_metric_label(key)}", _metric_text(key, value))
        for key, value in last.items()
        if key.startswith(prefix)
        and "/" not in key
        and key not in ("epoch", "lr", "time")
        and (prefix or not key.startswith("val_"))
    ]


def _metric_text(name: str, value: float) -> str:
    if not math.isfinite(value):
        return str(value)  # "nan", "inf": a percentage sign would dress them up as scores
    if any(word in name for word in ("accuracy", "precision", "recall", "f1")):
        return f"{value:.2%}"
    return f"{value:.4g}"


def find_overfitting(run: RunRecord) -> Any:
    """The run's overfitting finding, by the one rule of
    :func:`chainrule.diagnostics.detect_overfitting` (with the run's ``overfitting_rule``), or
    ``None`` (also when there is no validation loss)."""
    from chainrule.diagnostics.overfitting import detect_overfitting

    history = run.history
    if "val_loss" not in history or "loss" not in history:
        return None
    return detect_overfitting(history["loss"], history["val_loss"], **run.overfitting_rule)


class CurvesSection(ReportSection):
    title = "Training and validation"

    def render(self, run: RunRecord, figures: Figures) -> str | None:
        history = run.history
        if "loss" not in history:
            return None
        finding = None if find_divergence(run) else find_overfitting(run)
        parts = [_overfitting_text(run, finding)]
        first_metric = [(name, _capitalised(_metric_label(name))) for name in _metric_names(history)[:1]]
        pairs = [("loss", "Loss"), *first_metric]
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


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _plot_pair(ax: Any, history: History, key: str, label: str, finding: Any) -> None:
    epochs = history.epochs
    columns = [_finite(history[key])]
    ax.plot(epochs, columns[0], color=TRAIN_COLOR, marker="o", markersize=3, linewidth=1.8, label="training")
    if f"val_{key}" in history:
        columns.append(_finite(history[f"val_{key}"]))
        ax.plot(
            epochs,
            columns[1],
            color=VAL_COLOR,
            marker="o",
            markersize=3,
            linewidth=1.8,
            label="validation",
        )
    if len(columns) == 2 and np.isfinite(columns[1]).any():
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
        began = epochs[int(finding.figures["began_epoch"]) - 1]  # figures count list positions
        ax.axvspan(
            began - 0.5,
            epochs[-1] + 0.5,
            color="#fee2e2",
            alpha=0.7,
            lw=0,
            label="overfitting",
        )
    _log_scale_if_wide(ax, *columns)
    if not any(np.isfinite(column).any() for column in columns):
        _say_nothing_to_draw(ax, epochs, "every value is NaN or infinite")
    ax.set_title(label, fontsize=10, loc="left", color="#111827")
    _epoch_axis(ax, epochs)
    ax.legend(frameon=False, fontsize=8)


def _overfitting_text(run: RunRecord, finding: Any) -> str:
    history = run.history
    diverged = _divergence_alert(run, after=" Overfitting cannot be judged on a run that diverged.")
    if diverged:
        return diverged
    if "val_loss" not in history:
        return (
            '<p class="note">No validation data was given, so overfitting cannot be judged: pass a '
            "<code>val_loader</code> to <code>fit</code> (the CLI holds out <code>--val-split</code>).</p>"
        )
    patience = _overfitting_patience(run)
    if finding is None and len(history) <= patience:
        return (
            f'<p class="note">Too few epochs to judge overfitting: it shows as validation loss staying '
            f"above its best for {patience} epochs in a row while training loss falls, and this run "
            f"has {_plural(len(history), 'epoch')}.</p>"
        )
    if finding is None:
        best_epoch, best_value = history.best("val_loss")
        return (
            f'<p class="ok"><strong>No sign of overfitting.</strong> Validation loss was lowest at '
            f"epoch {best_epoch} ({best_value:.4f}) and has not stayed above that for "
            f"{patience} epochs in a row while training loss fell.</p>"
        )
    best_epoch = int(finding.figures["best_epoch"])
    return (
        f'<div class="alert"><strong>Overfitting from epoch {int(finding.figures["began_epoch"])}.</strong> '
        f"{_e(_sentence(finding.message))} Remedies:"
        "<ul><li><strong>Weight decay</strong>: penalise large weights (<code>AdamW</code>, or "
        "<code>weight_decay=1e-4</code>; <code>--weight-decay</code> in the CLI).</li>"
        "<li><strong>Dropout</strong> between layers (<code>nn.Dropout(0.2)</code>; "
        "<code>--dropout</code> in the CLI).</li>"
        "<li><strong>Early stopping</strong>: <code>EarlyStopping(monitor='val_loss', "
        "restore_best_weights=True)</code> keeps the weights of epoch "
        f"{best_epoch} (<code>--patience</code> in the CLI).</li>"
        "<li><strong>More data or data augmentation</strong> (for images, <code>--augment</code> in "
        "the CLI shifts them by a pixel or two), or a smaller model.</li>"
        "</ul></div>"
    )


def _overfitting_patience(run: RunRecord) -> int:
    import inspect

    from chainrule.diagnostics.overfitting import detect_overfitting

    default = inspect.signature(detect_overfitting).parameters["patience"].default
    return int(run.overfitting_rule.get("patience", default))


def _sentence(text: str) -> str:
    """``text`` with a capital first letter and a full stop."""
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "." if text else ""


class LearningRateSection(ReportSection):
    title = "Learning rate"

    def render(self, run: RunRecord, figures: Figures) -> str | None:
        history = run.history
        if "lr" not in history:
            return None
        rates = [value for value in history["lr"] if math.isfinite(value)]
        if rates and min(rates) == max(rates):
            span = "its one epoch" if len(rates) == 1 else f"all {len(rates)} epochs"
            return f"<p>Constant at {rates[0]:.4g} for {span}.</p>"
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
        _epoch_axis(ax, history.epochs)
        ax.set_ylabel("learning rate", fontsize=8, color="#4b5563")
        return figures.image(figure, "learning rate per epoch")


class ConfusionMatrixSection(ReportSection):
    title = "Confusion matrix"

    def render(self, run: RunRecord, figures: Figures) -> str | None:
        matrix = run.confusion_matrix
        if matrix is None:
            return None
        matrix = np.asarray(matrix)
        # A model can predict a class the labels never name (one output scored as two classes).
        given = list(run.class_names or [])
        names = [str(given[i]) if i < len(given) else str(i) for i in range(len(matrix))]
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
        ticks = [_literal(name) for name in names]
        ax.set_xticks(range(len(names)), ticks, fontsize=7, rotation=45 if max(map(len, names)) > 3 else 0)
        ax.set_yticks(range(len(names)), ticks, fontsize=7)
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


class PredictionsSection(ReportSection):
    """A regression model's predictions against the actual values, and its residuals."""

    title = "Predicted vs actual"

    def render(self, run: RunRecord, figures: Figures) -> str | None:
        if not run.predictions or _task(run) == "classification":
            return None
        actual = np.asarray(run.predictions["actual"], dtype=np.float64).reshape(-1)
        predicted = np.asarray(run.predictions["predicted"], dtype=np.float64).reshape(-1)
        if actual.size != predicted.size or not actual.size:
            return None
        residuals = actual - predicted
        finite = np.isfinite(residuals)
        split = run.predictions.get("split", "held-out")
        parts = [
            f"<p>Each point is one {_e(split)} sample. Left: its actual value against the model's "
            "prediction; on the dashed diagonal the prediction is exact. Right: the residual, actual "
            "minus predicted, against the prediction; a trend or a funnel shape there is something "
            "the model misses.</p>"
        ]
        if not finite.any():
            parts.append('<p class="note">No prediction is a finite number.</p>')
            return "\n".join(parts)
        shown = residuals[finite]
        left_out = int((~finite).sum())
        parts.append(
            f"<p>Mean residual {shown.mean():.4g} (the bias), standard deviation {shown.std():.4g}, "
            f"largest in size {np.abs(shown).max():.4g}"
            + (f"; {_plural(left_out, 'prediction')} not finite, left out" if left_out else "")
            + ".</p>"
        )
        if figures.available:
            parts.append(_predictions_plot(actual[finite], predicted[finite], figures))
        return "\n".join(parts)


def _predictions_plot(actual: np.ndarray, predicted: np.ndarray, figures: Figures) -> str:
    figure, (left, right) = figures.new(width=10.4, height=3.8, ncols=2)
    style = {"s": 12, "color": TRAIN_COLOR, "alpha": 0.6, "linewidths": 0}
    left.scatter(predicted, actual, **style)
    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    left.plot([low, high], [low, high], color="#9ca3af", linestyle="--", linewidth=1)
    left.set_xlabel("predicted", fontsize=8, color="#4b5563")
    left.set_ylabel("actual", fontsize=8, color="#4b5563")
    left.set_title("predicted vs actual", fontsize=10, loc="left", color="#111827")
    right.scatter(predicted, actual - predicted, **style)
    right.axhline(0.0, color="#9ca3af", linestyle="--", linewidth=1)
    right.set_xlabel("predicted", fontsize=8, color="#4b5563")
    right.set_ylabel("actual − predicted", fontsize=8, color="#4b5563")
    right.set_title("residuals", fontsize=10, loc="left", color="#111827")
    return figures.image(figure, "predicted against actual values, and residuals")


class GradientFlowSection(ReportSection):
    """The gradient-flow monitor's diagnosis next to the per-parameter gradient norms and
    update ratios it recorded (``name/grad_norm``, ``name/update_ratio``) and the dead or
    saturated fractions of the activation layers."""

    title = "Gradient flow"

    def render(self, run: RunRecord, figures: Figures) -> str | None:
        history = run.history
        norms = [key for key in history.keys() if key.endswith("/grad_norm")]
        ratios = [key for key in history.keys() if key.endswith("/update_ratio")]
        if not norms and run.gradient_findings is None:
            return None
        parts = [
            "<p>Mean L2 norm of each parameter's gradient per epoch, and the size of each "
            "optimizer step relative to the weights (<em>update ratio</em>), on log scales. "
            "Gradient norms that shrink by orders of magnitude towards the first layers mean "
            "<em>vanishing</em> gradients (those layers barely learn); norms that grow without "
            "bound mean <em>exploding</em> ones. Update ratios around 10<sup>-3</sup> are the "
            "usual healthy range: far below, the layer hardly moves; far above, the learning rate "
            "is likely too high.</p>",
            _findings_html(run.gradient_findings),
        ]
        if norms and figures.available:
            parts.append(_flow_plot(history, norms, ratios, figures))
        elif norms:
            parts.append(_first_last_table(history, norms + ratios))
        parts.append(_activation_table(history))
        return "\n".join(part for part in parts if part)


def _findings_html(findings: list[Any] | None) -> str:
    if findings is None:
        return ""
    if not findings:
        return (
            '<p class="ok"><strong>No gradient-flow problems</strong> in the last epoch: no '
            "vanishing, exploding or NaN gradients, no dead ReLUs, no saturated units.</p>"
        )
    items = "".join(
        f"<li><strong>{_e(finding.kind.replace('_', ' '))}</strong>"
        f"{f' in <code>{_e(finding.layer)}</code>' if finding.layer else ''}: "
        f"{_e(_sentence(finding.message))} <em>Hint:</em> {_e(_sentence(finding.hint))}</li>"
        for finding in findings
    )
    count = len(findings)
    return (
        f'<div class="alert"><strong>{count} gradient-flow finding{"s" if count > 1 else ""}</strong> '
        f"in the last epoch:<ul>{items}</ul></div>"
    )


def _flow_plot(history: History, norms: list[str], ratios: list[str], figures: Figures) -> str:
    panels = [(norms, "gradient norm", "/grad_norm")]
    if ratios:
        panels.append((ratios, "update ratio", "/update_ratio"))
    figure, axes = figures.new(width=4.6 * len(panels) + 1.8, height=3.6, ncols=len(panels))
    names = list(dict.fromkeys(key.rsplit("/", 1)[0] for key in norms + ratios))
    colors = dict(zip(names, _colormap_colors(len(names))))
    few_epochs = len(history) < 3  # a line needs two points: mark each one too
    for ax, (keys, label, suffix) in zip(np.atleast_1d(axes), panels):
        drawn = zeros = 0
        for key in keys:
            name = key.removesuffix(suffix)
            values = _finite(history[key])
            zeros += int((values == 0).sum())
            values[values <= 0] = np.nan  # log scale: a zero has no point
            drawn += int(np.isfinite(values).sum())
            ax.plot(
                history.epochs,
                values,
                color=colors[name],
                linewidth=1.5,
                linestyle="-" if name.endswith("weight") else "--",
                marker="o" if few_epochs else None,
                markersize=4,
                label=_literal(name),
            )
        if drawn and suffix == "/update_ratio":
            ax.axhline(1e-3, color="#9ca3af", linewidth=1, linestyle=":")
        if drawn:
            ax.set_yscale("log")
        else:
            why = "every value is 0: no gradient reached the weights" if zeros else ""
            _say_nothing_to_draw(ax, history.epochs, why or "every value is NaN or infinite")
        ax.set_title(label, fontsize=10, loc="left", color="#111827")
        _epoch_axis(ax, history.epochs)
    np.atleast_1d(axes)[-1].legend(
        frameon=False,
        fontsize=7,
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        ncols=1 if len(names) <= 14 else 2,
    )
    return figures.image(figure, "gradient norms and update ratios per parameter")


class _KeptFigures(Figures):
    """Figures that keep the last figure drawn instead of turning it into an <img> tag."""

    def image(self, figure: Any, alt: str) -> str:
        self.figure = figure
        return ""


def gradient_flow_figure(history: History) -> Any:
    """The report's plot of per-parameter gradient norms and update ratios by epoch, as a
    matplotlib figure (for TensorBoard); None without matplotlib or recorded norms."""
    norms = [key for key in history.keys() if key.endswith("/grad_norm")]
    ratios = [key for key in history.keys() if key.endswith("/update_ratio")]
    figures = _KeptFigures()
    if not norms or not figures.available:
        return None
    _flow_plot(history, norms, ratios, figures)
    return figures.figure


def _colormap_colors(count: int) -> list[Any]:
    from matplotlib import colormaps

    palette = colormaps["viridis"]
    return [palette(0.05 + 0.85 * i / max(count - 1, 1)) for i in range(count)]


def _first_last_table(history: History, keys: list[str]) -> str:
    rows = []
    for key in keys:
        values = history[key]
        rows.append(f"<tr><td><code>{_e(key)}</code></td><td>{values[0]:.3e}</td><td>{values[-1]:.3e}</td></tr>")
    return (
        '<div class="scroll"><table><tr><th>statistic</th><th>first epoch</th><th>last epoch</th></tr>'
        f"{''.join(rows)}</table></div>"
    )


def _activation_table(history: History) -> str:
    """Last epoch's dead-ReLU and saturated fractions per activation layer."""
    labels = {"dead_fraction": "dead ReLU units", "saturated_fraction": "saturated units"}
    rows = []
    for key in history.keys():
        layer, _, statistic = key.rpartition("/")
        if statistic in labels:
            value = history.last(key)
            rows.append(f"<tr><td><code>{_e(layer)}</code></td><td>{_e(labels[statistic])}</td><td>{value:.1%}</td></tr>")
    if not rows:
        return ""
    return (
        "<p>Activation layers in the last epoch (mean over its batches; a unit is dead when it "
        "outputs zero for a whole batch, saturated within 1% of its bounds):</p>"
        '<div class="scroll"><table><tr><th>layer</th><th>measure</th><th>fraction</th></tr>'
        f"{''.join(rows)}</table></div>"
    )


class MisclassifiedSection(ReportSection):
    title = "Misclassified examples"

    def render(self, run: RunRecord, figures: Figures) -> str | None:
        examples = run.examples
        if not examples:
            return None
        names = run.class_names
        maybe_images = [_as_image(example["input"]) for example in examples]
        images = [image for image in maybe_images if image is not None]
        if not figures.available or len(images) < len(maybe_images):
            rows = "".join(
                f"<tr><td>{example.get('index', i)}</td><td>{_e(_class_label(names, example['true']))}</td>"
                f"<td>{_e(_class_label(names, example['predicted']))}</td></tr>"
                for i, example in enumerate(examples)
            )
            return f"<table><tr><th>sample</th><th>true</th><th>predicted</th></tr>{rows}</table>"
        columns = min(len(images), 8)
        rows_count = math.ceil(len(images) / columns)
        figure, axes = figures.grid(rows_count, columns, cell_width=1.25, cell_height=1.45)
        for ax in axes[len(images) :]:
            ax.set_visible(False)
        for ax, image, example in zip(axes, images, examples):
            true, predicted = _class_label(names, example["true"]), _class_label(names, example["predicted"])
            ax.imshow(image, cmap="gray_r" if image.ndim == 2 else None, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_color("#ef4444")
            ax.set_title(
                _literal(f"true {true}\npredicted {predicted}"),
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


class DataChecksSection(ReportSection):
    """The findings of ``chainrule.data.check`` on the training and test data."""

    title = "Data checks"

    def render(self, run: RunRecord, figures: Figures) -> str | None:
        report = run.data_report
        if report is None:
            return None
        sizes = f"{report.num_train:,} training" + (
            f" and {report.num_test:,} test" if report.num_test is not None else ""
        )
        checked = "NaN or infinite values, constant features, test samples copied from training, " + (
            "class imbalance, labels out of range, duplicated samples"
            if _task(run) != "regression"
            else "duplicated samples"
        )
        if not report.findings:
            return (
                f'<p class="ok"><strong>No problems found</strong> in {sizes} samples '
                f"(checked: {checked}).</p>"
            )
        rows = "".join(
            f'<tr><td class="severity {_e(finding.severity)}">{_e(finding.severity)}</td>'
            f"<td><code>{_e(finding.kind)}</code></td>"
            f'<td class="text">{_e(_sentence(finding.message))}</td></tr>'
            for finding in report.findings
        )
        return (
            f"<p>Checked {sizes} samples before training ({checked}). Errors would make training "
            "or its scores wrong; warnings are likely to hurt; info is worth knowing.</p>"
            f'<div class="scroll"><table class="findings"><tr><th>severity</th><th>check</th>'
            f"<th>finding</th></tr>{rows}</table></div>"
        )


class AttributionsSection(ReportSection):
    """Integrated-gradients attributions: heat maps over a few images, or a ranked feature
    table for tabular data, with the completeness gap that says how exact they are."""

    title = "Attributions"

    def render(self, run: RunRecord, figures: Figures) -> str | None:
        summary = run.attributions
        if not summary:
            return None
        parts = [
            f"<p>Which inputs the model's output depends on: integrated gradients "
            f"({summary['steps']} steps from an all-zero baseline) of the {_e(summary['target'])} "
            f"for {summary['samples']} test samples. Each attribution is how much that input moved "
            "the output away from its value at the baseline.</p>"
        ]
        if summary.get("images"):
            parts.append(_attribution_images(summary["images"], run.class_names, figures))
        if summary.get("ranking"):
            parts.append(_ranking_table(summary["ranking"]))
        parts.append(_completeness_text(summary))
        return "\n".join(parts)


def _attribution_images(examples: list[dict[str, Any]], names: list[str] | None, figures: Figures) -> str:
    if not figures.available:
        return '<p class="note">The heat maps need matplotlib.</p>'

    figure, axes = figures.grid(2, len(examples), cell_width=1.6, cell_height=1.7)
    for column, example in enumerate(examples):
        image = _as_image(example["input"])
        assert image is not None  # attribution_summary keeps image datasets' examples only
        heat = np.asarray(example["heat"], dtype=np.float64)
        top, bottom = axes[column], axes[len(examples) + column]
        top.imshow(image, cmap="gray_r" if image.ndim == 2 else None, interpolation="nearest")
        true, predicted = _class_label(names, example["true"]), _class_label(names, example["predicted"])
        top.set_title(_literal(f"true {true}\npredicted {predicted}"), fontsize=7)
        bottom.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest", alpha=0.5)
        bottom.imshow(heat, cmap="inferno", interpolation="nearest", alpha=0.65)
        bottom.set_title("|attribution|", fontsize=7)
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
    intro = (
        "<p>Top: the input. Bottom: the size of each pixel's attribution (bright: the pixel "
        "mattered most for the prediction).</p>"
    )
    return intro + figures.image(figure, "integrated-gradients heat maps")


def _ranking_table(ranking: Sequence[tuple[str, float]]) -> str:
    largest = max((score for _, score in ranking), default=0.0) or 1.0
    rows = "".join(
        f"<tr><td>{rank}</td><td class=\"text\"><code>{_e(name)}</code></td><td>{score:.4g}</td>"
        f'<td class="text"><span class="bar" style="width:{120 * score / largest:.0f}px"></span></td></tr>'
        for rank, (name, score) in enumerate(ranking, start=1)
    )
    return (
        "<p>Features ranked by their mean absolute attribution:</p>"
        '<div class="scroll"><table><tr><th>rank</th><th>feature</th><th>mean |attribution|</th>'
        f"<th></th></tr>{rows}</table></div>"
    )


def _completeness_text(summary: dict[str, Any]) -> str:
    return (
        "<p><strong>Completeness check.</strong> A sample's attributions should add up to the "
        "change of the output from the baseline to the sample, f(x) − f(baseline). Here they miss "
        f"it by {summary['gap_mean']:.2e} on average (at most {summary['gap_max']:.2e}), against "
        f"an average |f(x) − f(baseline)| of {summary['difference_mean']:.3g}: the smaller the "
        "gap, the more exactly the path integral was computed (more steps shrink it).</p>"
    )


class EpochTableSection(ReportSection):
    title = "Epoch by epoch"

    def render(self, run: RunRecord, figures: Figures) -> str | None:
        history = run.history
        if not len(history):
            return None
        columns = [key for key in history.keys() if "/" not in key]
        table = _history_table(history, columns)
        summary = "The one epoch" if len(history) == 1 else f"All {len(history)} epochs"
        return f"<details><summary>{summary}</summary>{table}</details>"


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
    DataChecksSection,
    CurvesSection,
    LearningRateSection,
    ConfusionMatrixSection,
    PredictionsSection,
    GradientFlowSection,
    AttributionsSection,
    MisclassifiedSection,
    EpochTableSection,
    ConfigSection,
)
