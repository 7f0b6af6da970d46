"""report.html: self-contained, overfitting named in words, sections pluggable, works without matplotlib."""

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
