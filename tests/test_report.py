"""report.html: self-contained, overfitting named in words, sections pluggable, works without matplotlib."""

import re
import sys

import numpy as np
import pytest

from chainrule.train import Callback, History, ReportSection, RunRecord, detect_overfitting, write_report


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


def test_detect_overfitting_names_the_epoch_it_began():
    finding = detect_overfitting(overfitting_history(best=5))
    assert finding.best_epoch == 5 and finding.began_epoch == 6 and finding.last_epoch == 12


def test_no_overfitting_when_validation_keeps_improving_or_training_loss_rises():
    improving = History([{"epoch": e, "loss": 1 / e, "val_loss": 1.2 / e} for e in range(1, 10)])
    assert detect_overfitting(improving) is None
    both_rise = History([{"epoch": e, "loss": e, "val_loss": 10 - abs(e - 3)} for e in range(1, 10)])
    diverging = History([{"epoch": e, "loss": 1 + e, "val_loss": 1 + e} for e in range(1, 10)])
    assert detect_overfitting(diverging) is None
    assert detect_overfitting(both_rise) is None
    noise = History(
        [{"epoch": e, "loss": 1 / e, "val_loss": v} for e, v in enumerate([1, 0.5, 0.4, 0.401, 0.402], 1)]
    )
    assert detect_overfitting(noise) is None  # a rise of 0.5% is noise, not overfitting
    assert detect_overfitting(History([{"epoch": 1, "loss": 1.0}])) is None


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


def test_gradient_section_warns_when_norms_span_many_orders():
    history = History(
        [{"epoch": e, "loss": 1.0, "fc1.weight/grad_norm": 1e-7, "fc2.weight/grad_norm": 1.0} for e in (1, 2)]
    )
    page = write_report_text(RunRecord(history=history))
    assert "Gradient norms span 1e+07" in page and "smallest: fc1.weight" in page
    healthy = History([{"epoch": 1, "loss": 1.0, "fc1.weight/grad_norm": 0.1, "fc2.weight/grad_norm": 0.3}])
    assert "Gradient norms span" not in write_report_text(RunRecord(history=healthy))


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
