"""``report.html``: one self-contained page that shows how a training run went.

The page is a list of sections; each is a :class:`ReportSection` with a ``title`` and a
``render(run, figures)`` method returning an HTML fragment (or ``None`` to leave itself out).
The built-in ones show the run summary, the data checks, train-vs-validation curves (with
overfitting named in words), the learning rate, the confusion matrix, the gradient flow
(per-layer gradient norms and update ratios with the monitor's findings), attributions and
misclassified examples. To add a section, subclass ``ReportSection`` and pass it to
:func:`write_report` or return it from a callback's ``report_sections()``::

    >>> class LossSpread(ReportSection):
    ...     title = "Loss spread"
    ...
    ...     def render(self, run, figures):
    ...         gap = run.history.last("val_loss") - run.history.last("loss")
    ...         return f"<p>Validation minus training loss: {gap:.3f}</p>"
    >>> run = RunRecord(history=History([{"epoch": 1, "loss": 0.5, "val_loss": 0.75}]),
    ...                 extra_sections=[LossSpread()])
    >>> "Validation minus training loss: 0.250" in write_report("report.html", run, use_matplotlib=False)
    True

Plots are drawn by matplotlib (the ``viz`` extra) on its Agg backend and inlined as base64
PNG, so the file opens offline and can be mailed around. Without matplotlib every section
falls back to tables and the page says how to get the plots.

Each section sits between ``<!-- section:ANCHOR -->`` markers, so :func:`insert_section` can
add or replace one in a written report (``chainrule audit`` adds its fairness audit that way).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import html
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.train.history import History

VIZ_HINT = 'pip install "chainrule[viz]"'


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
        task: ``"classification"`` or ``"regression"``; ``None`` guesses from the record
            (a confusion matrix means classification). Regression reports make no claims
            about classes.
        predictions: a regression model's outputs on held-out data, ``{"actual": (N,) or
            (N, K), "predicted": same shape, "split": "test"}``, drawn as predicted against
            actual values and residuals.
        divergence: where training diverged (a
            :class:`~chainrule.train.callbacks.Divergence`), or ``None``. A history with a NaN
            or infinite loss is reported as diverged either way.
        model_note: what the saved model is when that is not obvious (after a divergence,
            the last good epoch's weights, or none).
        gradient_findings: the gradient-flow diagnosis of the last epoch (``Finding`` objects
            with ``kind``, ``layer``, ``message``, ``hint``); ``[]`` is healthy, ``None`` means
            the flow was not watched.
        data_report: the ``chainrule.data.check`` report of the training and test data.
        attributions: what :func:`chainrule.train.run.attribution_summary` returns: image
            examples with heat maps or a ranked feature table, and the integrated-gradients
            completeness gap.
        overfitting_rule: ``patience`` and ``min_delta`` for
            :func:`chainrule.diagnostics.detect_overfitting`, as the run's ``OverfittingMonitor``
            used them.
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
    task: str | None = None
    test_metrics: dict[str, float] = field(default_factory=dict)
    confusion_matrix: np.ndarray | None = None
    predictions: dict[str, Any] | None = None
    divergence: Any = None
    model_note: str | None = None
    class_names: list[str] | None = None
    examples: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    gradient_findings: list[Any] | None = None
    data_report: Any = None
    attributions: dict[str, Any] | None = None
    overfitting_rule: dict[str, Any] = field(default_factory=dict)
    extra_sections: list[ReportSection] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_trainer(cls, trainer: Any, **fields: Any) -> RunRecord:
        """A record of ``trainer``'s last fit: its history, model size, config, confusion
        matrix, gradient-flow findings, overfitting rule and the report sections its callbacks
        contribute; ``fields`` add or override.

        Example::

            >>> from chainrule.train import Trainer
            >>> from chainrule.utils.data import DataLoader, TensorDataset
            >>> x, y = chainrule.randn(96, 4), chainrule.randint(0, 3, (96,))    # random labels
            >>> train_loader = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=16)
            >>> val_loader = DataLoader(TensorDataset(x[64:], y[64:]), batch_size=32)
            >>> model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
            >>> trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
            ...                   metrics=["accuracy"])
            >>> history = trainer.fit(train_loader, val_loader, epochs=2, verbose=0)
            >>> scores = trainer.evaluate(val_loader)
            >>> run = RunRecord.from_trainer(trainer, dataset="random", test_metrics=scores)
            >>> html = write_report("report.html", run)
        """
        from chainrule.train.callbacks import GradientFlowCallback
        from chainrule.train.callbacks.overfitting import OverfittingMonitor

        model = trainer.model
        sections = [section for callback in trainer.callbacks for section in callback.report_sections()]
        flow = next((c for c in trainer.callbacks if isinstance(c, GradientFlowCallback)), None)
        watcher = next((c for c in trainer.callbacks if isinstance(c, OverfittingMonitor)), None)
        values: dict[str, Any] = {
            "history": trainer.history,
            "model_name": type(model).__name__,
            "model_summary": repr(model),
            "num_parameters": sum(int(np.prod(p.shape)) for p in model.parameters() if p.requires_grad),
            "epochs_planned": trainer.epochs or None,
            "confusion_matrix": trainer.confusion_matrix,
            "divergence": getattr(trainer, "divergence", None),
            "config": dict(trainer.config),
            "gradient_findings": list(flow.findings) if flow is not None and flow.diagnosed else None,
            "overfitting_rule": (
                {} if watcher is None else {"patience": watcher.patience, "min_delta": watcher.min_delta}
            ),
            "extra_sections": sections,
        }
        values.update(fields)
        return cls(**values)


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


def _without_usetex() -> Any:
    """Draw with matplotlib's own text engine even when the user's settings ask for LaTeX
    (``text.usetex``), which would run LaTeX on every label."""
    from matplotlib import rc_context

    return rc_context({"text.usetex": False})


def render_report(
    run: RunRecord, sections: Sequence[ReportSection] | None = None, use_matplotlib: bool = True
) -> str:
    """The report as an HTML string: ``sections`` (default: the built-in ones, then
    ``run.extra_sections``), each under its own heading."""
    if sections is None:
        from chainrule.train.report_sections import DEFAULT_SECTIONS

        sections = [cls() for cls in DEFAULT_SECTIONS] + list(run.extra_sections)
    figures = Figures(enabled=use_matplotlib)
    rendered = []
    with _without_usetex() if figures.available else contextlib.nullcontext():
        for section in sections:
            body = section.render(run, figures)
            if body:
                rendered.append((section, body))
    navigation = NAV_SEPARATOR.join(_nav_link(s.anchor, s.title) for s, _ in rendered)
    blocks = "\n".join(_section_block(s.anchor, s.title, body) for s, body in rendered)
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

        >>> from chainrule.train import Trainer
        >>> from chainrule.utils.data import DataLoader, TensorDataset
        >>> x, y = chainrule.randn(96, 4), chainrule.randint(0, 3, (96,))    # random labels
        >>> train_loader = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=16)
        >>> val_loader = DataLoader(TensorDataset(x[64:], y[64:]), batch_size=32)
        >>> model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
        >>> trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
        ...                   metrics=["accuracy"])
        >>> history = trainer.fit(train_loader, val_loader, epochs=2, verbose=0)
        >>> html = write_report("report.html", RunRecord.from_trainer(trainer, dataset="random"))
        >>> "Training and validation" in html
        True
    """
    from chainrule.files import atomic_write_bytes

    page = render_report(run, sections, use_matplotlib)
    atomic_write_bytes(path, page.encode("utf-8"))
    return page


NAV_SEPARATOR = " · "


_SECTIONS_END = "<!-- /sections -->"


def _nav_link(anchor: str, title: str) -> str:
    return f'<a href="#{_e(anchor)}">{_e(title)}</a>'


def _section_block(anchor: str, title: str, body: str) -> str:
    # The comment markers let insert_section find a section again, whatever HTML it holds.
    return (
        f'<!-- section:{anchor} --><section id="{_e(anchor)}"><h2>{_e(title)}</h2>\n{body}\n'
        f"</section><!-- /section:{anchor} -->"
    )


def insert_section(path: str | os.PathLike[str], title: str, body: str, anchor: str | None = None) -> str:
    """Add a section to a report written by :func:`write_report`, or replace the section with
    the same ``anchor`` (default: made from ``title``), and link it from the navigation. The
    file is rewritten atomically; returns the new page.

    Example::

        >>> from chainrule.fairness import audit
        >>> from chainrule.train import History
        >>> html = write_report("report.html", RunRecord(history=History([{"epoch": 1, "loss": 0.5}])))
        >>> result = audit([1, 0, 1, 0], [1, 0, 0, 0], sensitive_features=["f", "f", "m", "m"])
        >>> html = insert_section("report.html", "Fairness audit: sex", result.to_html(),
        ...                       anchor="fairness-audit-sex")
        >>> 'id="fairness-audit-sex"' in html
        True
    """
    from chainrule.files import atomic_write_bytes

    if anchor is None:
        anchor = "".join(ch if ch.isalnum() else "-" for ch in title.lower()).strip("-")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", anchor):
        raise ValueError(f"insert_section: anchor {anchor!r} may use only letters, digits, '-' and '_'")
    page = Path(path).read_text(encoding="utf-8")
    block = _section_block(anchor, title, body)
    existing = re.compile(
        rf"<!-- section:{re.escape(anchor)} -->.*?<!-- /section:{re.escape(anchor)} -->", re.DOTALL
    )
    if existing.search(page):
        page = existing.sub(lambda _: block, page, count=1)
    else:
        end = page.find(_SECTIONS_END)
        if end < 0:  # a report without markers: put it before the footer
            end = page.find("<footer>")
        if end < 0:
            raise ValueError(f"insert_section: {path} does not look like a chainrule report")
        page = page[:end] + block + "\n" + page[end:]
        nav_end = page.find("</nav>")
        if nav_end >= 0:
            separator = "" if page[:nav_end].endswith("<nav>") else NAV_SEPARATOR
            page = page[:nav_end] + separator + _nav_link(anchor, title) + page[nav_end:]
    atomic_write_bytes(path, page.encode("utf-8"))
    return page


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
td.text { text-align:left; } td.severity { font-weight:600; text-align:left; }
td.severity.error { color:#b91c1c; } td.severity.warning { color:#b45309; }
td.severity.info { color:var(--muted); }
.bar { display:inline-block; height:10px; background:var(--accent); border-radius:2px; }
li.concern { color:#b91c1c; }
table.matrix td.diag { background:#dbeafe; font-weight:600; }
.scroll { overflow-x:auto; }
.alert { border-left:4px solid #dc2626; background:#fef2f2; padding:10px 14px; border-radius:6px;
  margin:8px 0; }
.alert ul { margin:6px 0 0; padding-left:20px; }
.alert.diverged strong { color:#b91c1c; }
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
<!-- /sections -->
<footer>Written by chainrule on {created}. This page is self-contained: it needs no network.</footer>
</main>
</body>
</html>
"""


# The built-in sections live in report_sections.py, which builds on the classes above; they
# stay importable from here, loaded on first use.
_SECTION_NAMES = frozenset(
    {
        "DEFAULT_SECTIONS",
        "AttributionsSection",
        "ConfigSection",
        "ConfusionMatrixSection",
        "CurvesSection",
        "DataChecksSection",
        "EpochTableSection",
        "GradientFlowSection",
        "LearningRateSection",
        "MisclassifiedSection",
        "PredictionsSection",
        "SummarySection",
        "find_divergence",
        "find_overfitting",
        "gradient_flow_figure",
    }
)


def __getattr__(name: str) -> Any:
    if name in _SECTION_NAMES:
        from chainrule.train import report_sections

        return getattr(report_sections, name)
    raise AttributeError(f"module 'chainrule.train.report' has no attribute {name!r}")
