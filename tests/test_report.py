"""report.html: self-contained, overfitting named in words, sections pluggable, works without matplotlib."""

import importlib.util
import re
import sys

import numpy as np
import pytest

from chainrule.data import check
from chainrule.diagnostics import Finding
from chainrule.train import Callback, History, ReportSection, RunRecord, write_report
from chainrule.train.report import insert_section


def overfitting_history(epochs=12, best=5):
    """Training loss falls throughout; validation loss falls until ``best`` and rises after."""
    rows = []
    for epoch in range(1, epochs + 1):
        val = 1.0 / epoch if epoch <= best else 1.0 / best + 0.05 * (epoch - best)
        rows.append(
            {
                "epoch": epoch,
                "loss": 1.0 / (epoch + 1),
                "accuracy": 1 - 0.5 / epoch,
                "val_loss": val,
                "val_accuracy": 0.7,
                "lr": 0.01 * 0.5 ** (epoch // 4),
                "time": 0.5,
                "fc1.weight/grad_norm": 0.3 / epoch,
                "fc2.weight/grad_norm": 0.6 / epoch,
            }
        )
    return History(rows)


def test_overfitting_verdict_follows_the_diagnostics_rule_and_its_patience():
    flagged = write_report_text(RunRecord(history=overfitting_history(best=5)))
    assert "Overfitting from epoch 6" in flagged  # validation loss lowest at 5, rising after
    # Validation loss above its best for only the last 2 epochs: not yet, with patience 3 ...
    two_rising = RunRecord(history=overfitting_history(epochs=7, best=5))
    assert "No sign of overfitting" in write_report_text(two_rising)
    # ... but flagged when the run's monitor used patience 2.
    two_rising.overfitting_rule = {"patience": 2}
    assert "Overfitting from epoch 6" in write_report_text(two_rising)
    both_rise = History([{"epoch": e, "loss": e, "val_loss": 10 - abs(e - 3)} for e in range(1, 10)])
    assert "No sign of overfitting" in write_report_text(RunRecord(history=both_rise))
    no_validation = History([{"epoch": 1, "loss": 1.0}])
    assert "overfitting cannot be judged" in write_report_text(RunRecord(history=no_validation))


def _without_images(page):
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)


def test_report_is_self_contained_and_flags_overfitting(tmp_path):
    run = RunRecord(
        history=overfitting_history(),
        dataset="toy",
        model_name="mlp",
        num_parameters=1234,
        epochs_planned=20,
        confusion_matrix=np.array([[5, 1], [3, 7]]),
        class_names=["cat", "dog"],
        test_metrics={"accuracy": 0.8},
        config={"lr": 0.01, "hidden": [8]},
    )
    page = write_report(tmp_path / "report.html", run)
    assert (tmp_path / "report.html").read_text() == page
    text = _without_images(page)
    assert "http://" not in text and "https://" not in text and "<script" not in text and "<link" not in text
    assert re.findall(r'src="([^"]*)"', text) == [""] * page.count("<img")  # every image is inline data
    assert page.count("data:image/png;base64,") >= 4  # curves, learning rate, confusion matrix, gradients
    assert "Overfitting from epoch 6" in text
    for remedy in ("Weight decay", "Dropout", "Early stopping", "augmentation"):
        assert remedy in text
    assert "1,234" in text and "80.00%" in text and "12 of 20" in text
    assert "true <strong>dog</strong> predicted as <strong>cat</strong> (3 times)" in text


def test_report_without_matplotlib_still_writes_tables(tmp_path, monkeypatch):
    for name in [name for name in sys.modules if name == "matplotlib" or name.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib...` fail
    run = RunRecord(
        history=overfitting_history(),
        confusion_matrix=np.array([[5, 1], [3, 7]]),
        examples=[{"input": np.zeros((8, 8)), "true": 1, "predicted": 2}],
    )
    page = write_report(tmp_path / "report.html", run)
    assert "<img" not in page
    assert "pip install &quot;chainrule[viz]&quot;" in page
    assert "Overfitting from epoch 6" in page
    assert '<td class="diag">7</td>' in page  # confusion matrix as a table
    assert "<th>lr</th>" in page and "fc2.weight" in page  # learning rate and gradient tables


def test_gradient_flow_section_shows_the_findings_with_the_plot():
    finding = Finding(
        "vanishing", "fc1", "gradient norm in fc1 is 1e-07, 10^7 times smaller than in fc2", "try ReLU/GELU"
    )
    history = History(
        [
            {"epoch": e, "loss": 1.0, "fc1.weight/grad_norm": 1e-7, "fc2.weight/grad_norm": 1.0,
             "fc1.weight/update_ratio": 1e-9, "sig1/saturated_fraction": 0.75}
            for e in (1, 2)
        ]
    )
    page = write_report_text(RunRecord(history=history, gradient_findings=[finding]))
    section = page[page.index('<section id="gradient-flow">') :]
    section = section[: section.index("</section>")]
    assert "<strong>vanishing</strong> in <code>fc1</code>" in section
    assert "10^7 times smaller than in fc2." in section and "Hint:</em> Try ReLU/GELU." in section
    assert "fc1.weight/update_ratio" in section  # the table that stands in for the plot
    assert "<code>sig1</code></td><td>saturated units</td><td>75.0%" in section
    healthy = write_report_text(RunRecord(history=history, gradient_findings=[]))
    assert "No gradient-flow problems" in healthy and "10^7 times smaller" not in healthy
    unwatched = write_report_text(RunRecord(history=history))  # norms from elsewhere: plot only
    assert "No gradient-flow problems" not in unwatched and "fc1.weight" in unwatched
    no_norms = RunRecord(history=History([{"epoch": 1, "loss": 1.0}]))
    assert 'id="gradient-flow"' not in write_report_text(no_norms)


def test_data_checks_section_lists_each_finding():
    x = np.array([[0.0, 1.0], [np.nan, 1.0], [2.0, 1.0], [3.0, 1.0]], dtype=np.float32)
    report = check((x, np.array([0, 1, 0, 1])), (x[:1], np.array([0])))
    page = write_report_text(RunRecord(history=overfitting_history(), data_report=report))
    section = page[page.index('<section id="data-checks">') :]
    section = section[: section.index("</section>")]
    for finding in report.findings:
        assert f'<td class="severity {finding.severity}">' in section
        assert f"<code>{finding.kind}</code>" in section
    assert "nan_inf" in section and "constant_features" in section
    clean = check((np.eye(4, dtype=np.float32), np.array([0, 1, 0, 1])))
    assert "No problems found</strong> in 4 training samples" in write_report_text(
        RunRecord(history=overfitting_history(), data_report=clean)
    )


def attribution_record(**summary):
    values = {"method": "integrated gradients", "steps": 32, "target": "predicted class's score",
              "samples": 2, "images": [], "ranking": [], "gap_mean": 1.5e-4, "gap_max": 3.0e-4,
              "difference_mean": 2.5}
    values.update(summary)
    return RunRecord(history=overfitting_history(), attributions=values, class_names=["zero", "one"])


def test_attributions_section_ranks_features_and_states_the_completeness_gap():
    page = write_report_text(attribution_record(ranking=[("petal length", 0.8), ("sepal width", 0.2)]))
    section = page[page.index('<section id="attributions">') :]
    section = section[: section.index("</section>")]
    assert section.index("petal length") < section.index("sepal width")
    assert 'style="width:120px"' in section and 'style="width:30px"' in section  # bars to scale
    assert "1.50e-04 on average (at most 3.00e-04)" in section and "32 steps" in section


def test_attribution_heat_maps_are_drawn(tmp_path):
    pytest.importorskip("matplotlib")
    images = [{"input": np.eye(8), "heat": np.eye(8), "true": 1, "predicted": 0}] * 2
    page = write_report(tmp_path / "r.html", attribution_record(images=images))
    assert 'alt="integrated-gradients heat maps"' in page


def test_insert_section_adds_then_replaces_and_links_it(tmp_path):
    path = tmp_path / "report.html"
    write_report(path, RunRecord(history=overfitting_history()), use_matplotlib=False)
    old_body = "<p>body-one <section>nested</section></p>"  # a fragment with its own section
    insert_section(path, "Fairness audit: sex", old_body, anchor="audit-sex")
    page = insert_section(path, "Fairness audit: sex", "<p>body-two</p>", anchor="audit-sex")
    assert path.read_text() == page
    assert page.count('<section id="audit-sex">') == 1 and "body-two" in page and "body-one" not in page
    assert page.count('<a href="#audit-sex">Fairness audit: sex</a>') == 1
    assert page.index('id="audit-sex"') < page.index("<footer>")
    insert_section(path, "Other", "<p>other</p>")
    assert 'href="#other"' in path.read_text() and "body-two" in path.read_text()
    with pytest.raises(ValueError, match="anchor"):
        insert_section(path, "Bad", "<p></p>", anchor="has space")


def write_report_text(run):
    from chainrule.train.report import render_report

    return render_report(run, use_matplotlib=False)


def test_misclassified_images_are_drawn(tmp_path):
    pytest.importorskip("matplotlib")
    examples = [
        {"input": np.random.default_rng(i).random(64), "true": i, "predicted": i + 1} for i in range(3)
    ]
    run = RunRecord(history=overfitting_history(), examples=examples)
    page = write_report(tmp_path / "r.html", run)
    assert "Misclassified examples" in page and "The first 3 test samples" in page


def test_new_sections_plug_in_from_the_caller_and_from_callbacks(tmp_path):
    class LossGap(ReportSection):
        title = "Loss gap"

        def render(self, run, figures):
            gap = run.history.last("val_loss") - run.history.last("loss")
            return f"<p>gap {gap:.3f}</p>"

    class Skipped(ReportSection):
        title = "Nothing here"

        def render(self, run, figures):
            return None

    class WithSection(Callback):
        def report_sections(self):
            return [LossGap()]

    class FakeTrainer:
        model = __import__("chainrule").nn.Linear(3, 2)
        history = overfitting_history()
        callbacks = [WithSection()]
        epochs = 12
        confusion_matrix = None
        config = {}

    run = RunRecord.from_trainer(FakeTrainer(), dataset="toy")
    run.extra_sections.append(Skipped())
    page = _without_images(write_report(tmp_path / "r.html", run))
    assert '<section id="loss-gap"><h2>Loss gap</h2>' in page and "gap 0.473" in page
    assert "Nothing here" not in page
    assert run.num_parameters == 8 and run.model_name == "Linear"


# ----------------------------------------------------- runs that diverged or are unusual
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def sections_of(page):
    """``{anchor: html}`` of each section of a written report."""
    return dict(re.findall(r"<!-- section:([\w-]+) -->(.*?)<!-- /section:\1 -->", page, re.DOTALL))


def assert_images(page, anchors):
    """Each named section is there and holds an inline PNG."""
    sections = sections_of(page)
    for anchor in anchors:
        assert anchor in sections, f"no {anchor} section; sections: {sorted(sections)}"
        assert 'src="data:image/png;base64,' in sections[anchor], f"the {anchor} section has no image"


def flow_row(epoch, **values):
    return {
        "epoch": epoch,
        "lr": 0.01,
        "time": 0.1,
        "fc1.weight/grad_norm": 0.2,
        "fc1.weight/update_ratio": 1e-3,
        "relu1/dead_fraction": 0.1,
        **values,
    }


def test_a_nan_history_is_reported_as_diverged_not_as_fine():
    from chainrule.train.callbacks import Divergence

    nan = float("nan")
    history = History(
        [
            flow_row(1, loss=2.3, accuracy=0.1, val_loss=nan, val_accuracy=0.1),
            flow_row(2, loss=nan, accuracy=0.1, val_loss=nan, val_accuracy=0.1)
            | {"fc1.weight/grad_norm": nan, "fc1.weight/update_ratio": float("inf")},
        ]
    )
    divergence = Divergence(epoch=2, step=3, loss=nan, lr=1e30, reason="the loss became nan")
    for run in (
        RunRecord(history=history, test_metrics={"accuracy": nan}),  # found in the history alone
        RunRecord(history=history, divergence=divergence, model_note="No model was saved."),
    ):
        page = write_report_text(run)
        assert "No sign of overfitting" not in page
        alerts = re.findall(r'<div class="alert diverged"><strong>(.*?)</strong>(.*?)</div>', page)
        assert len(alerts) == 2  # in the summary and where the overfitting verdict would be
        assert all("Training diverged" in headline for headline, _ in alerts)
        assert "nan%" not in page  # a NaN score is not dressed up as a percentage
    assert "Training diverged at step 3 of epoch 2." in page and "learning rate 1e+30" in page
    assert "No model was saved." in page
    if HAS_MATPLOTLIB:
        drawn = render_with_plots(RunRecord(history=history, divergence=divergence))
        assert_images(drawn, ["training-and-validation", "gradient-flow"])


def render_with_plots(run):
    from chainrule.train.report import render_report

    return render_report(run, use_matplotlib=True)


def test_a_loss_that_exploded_is_drawn_on_a_log_scale():
    pytest.importorskip("matplotlib")
    from chainrule.train.report import CurvesSection

    first = {"epoch": 1, "loss": 2.3, "val_loss": 2.2}
    exploded = History([first, {"epoch": 2, "loss": 6.7e13, "val_loss": 8e5}])
    (figure,) = capture_figures(CurvesSection(), RunRecord(history=exploded))
    assert figure.axes[0].get_yscale() == "log"
    calm = History([first, {"epoch": 2, "loss": 1.1, "val_loss": 1.3}])
    (figure,) = capture_figures(CurvesSection(), RunRecord(history=calm))
    assert figure.axes[0].get_yscale() == "linear"


def capture_figures(section, run):
    """The matplotlib figures ``section`` draws for ``run``."""
    from unittest import mock

    from matplotlib.text import Text

    from chainrule.train import report
    from chainrule.train.report import Figures

    drawn = []

    class Recording(Figures):
        def image(self, figure, alt):
            drawn.append(figure)
            page = super().image(figure, alt)  # draws the figure: labels that fail to parse raise here
            for text in figure.findobj(Text):
                if "mathdefault" in text.get_text():  # log-axis ticks are mathtext: 10^-3 as "10⁻³"
                    assert text.get_parse_math(), f"tick label {text.get_text()!r} would print raw"
            return page

    with mock.patch.object(report, "Figures", Recording):  # drawn as render_report draws them
        assert f'id="{section.anchor}"' in report.render_report(run, sections=[section])
    return drawn


def test_one_epoch_is_drawn_as_points_on_a_sensible_axis():
    pytest.importorskip("matplotlib")
    from chainrule.train.report import CurvesSection, GradientFlowSection

    history = History([flow_row(1, loss=0.9, accuracy=0.6, val_loss=1.0, val_accuracy=0.55)])
    run = RunRecord(history=history, gradient_findings=[])
    for section in (CurvesSection(), GradientFlowSection()):
        (figure,) = capture_figures(section, run)
        for ax in figure.axes:
            if not ax.get_lines():
                continue  # the legend's own axes
            assert ax.get_xlim() == (0.0, 2.0) and list(ax.get_xticks()) == [1.0]
            for line in ax.get_lines():
                if len(line.get_xdata()) == 1:  # a data line, not a reference line
                    assert line.get_marker() not in (None, "None", ""), f"{ax.get_title()}: no marker"
    page = write_report_text(run)
    assert "1 epochs" not in page and "The one epoch" in page and "for its one epoch" in page
    assert "Too few epochs to judge overfitting" in page and "this run has 1 epoch." in page


def test_class_labels_are_drawn_as_written_and_a_class_beyond_the_names_does_not_crash(tmp_path):
    pytest.importorskip("matplotlib")
    odd = ["$\\foo{$", "x_1^2", "$a$"]
    run = RunRecord(
        history=History([flow_row(e, loss=1.0 / e, val_loss=1.0 / e) for e in (1, 2)]),
        confusion_matrix=np.array([[3, 1, 0], [0, 4, 2], [1, 0, 5]]),
        class_names=odd,
        examples=[{"input": np.zeros((8, 8)), "true": 0, "predicted": 1}],
        test_metrics={"accuracy": 0.7},
    )
    page = write_report(tmp_path / "report.html", run)
    assert_images(page, ["confusion-matrix", "misclassified-examples", "training-and-validation"])
    from chainrule.train.report import ConfusionMatrixSection, MisclassifiedSection

    (matrix,) = capture_figures(ConfusionMatrixSection(), run)
    ticks = [tick.get_text() for tick in matrix.axes[0].get_yticklabels()]
    assert ticks == ["\\$\\foo{\\$", "x_1^2", "\\$a\\$"]  # each $ escaped: printed as written
    (examples,) = capture_figures(MisclassifiedSection(), run)
    assert examples.axes[0].get_title() == "true \\$\\foo{\\$\npredicted x_1^2"
    assert "true <strong>x_1^2</strong> predicted as <strong>$a$</strong>" in page
    # One class named, two scored (a single-class CSV seen by a binary-looking model).
    single = RunRecord(history=run.history, confusion_matrix=np.array([[5, 3], [0, 0]]), class_names=["yes"])
    text = write_report_text(single)
    assert "true <strong>yes</strong> predicted as <strong>1</strong> (3 times)" in text
    assert_images(render_with_plots(single), ["confusion-matrix"])


def test_a_regression_report_plots_predictions_and_makes_no_class_claims():
    pytest.importorskip("matplotlib")
    from chainrule.train.report import CurvesSection

    rng = np.random.default_rng(0)
    actual = rng.normal(size=40)
    history = History(
        [flow_row(e, loss=1.0 / e, mae=0.5 / e, val_loss=1.1 / e, val_mae=0.6 / e) for e in (1, 2, 3)]
    )
    report = check((rng.normal(size=(40, 2)), actual), task="regression")
    run = RunRecord(
        history=history,
        task="regression",
        test_metrics={"loss": 0.3, "mse": 0.3, "mae": 0.4, "r2": 0.7},
        predictions={"actual": actual, "predicted": actual + 0.1, "split": "test"},
        data_report=report,
    )
    page = render_with_plots(run)
    assert_images(page, ["training-and-validation", "predicted-vs-actual", "gradient-flow"])
    text = _without_images(page)
    assert "class imbalance" not in text and "labels out of range" not in text and "classif" not in text
    assert "Test MAE" in text and "Test R²" in text and "Mae" not in text
    assert "Mean residual -0.1" in text
    (curves,) = capture_figures(CurvesSection(), run)
    assert [ax.get_title(loc="left") for ax in curves.axes[:2]] == ["Loss", "MAE"]
