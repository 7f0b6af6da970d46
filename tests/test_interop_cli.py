"""`chainrule export` of the CLI's MLP and CNN runs (checked in ONNX Runtime), `chainrule train
--tensorboard` (its event file read back), and PyTorch's SummaryWriter under chainrule's path."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from event_files import read_events

import chainrule
from chainrule import cli
from chainrule.utils.tensorboard import SummaryWriter

pytest.importorskip("sklearn", reason="the CLI's default dataset (digits) comes from scikit-learn")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A small MLP run logged to TensorBoard, and a small CNN run (digits, in-process). Without
    matplotlib, so the report draws no figures: they cost most of a run's time, and the
    gradient-flow image is tested on its own below."""
    from chainrule.train.run import train_run

    out = tmp_path_factory.mktemp("runs")
    settings = {"out": str(out), "epochs": 2, "seed": 0}
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in sys.modules if name.split(".")[0] == "matplotlib"] + ["matplotlib"]:
            patch.setitem(sys.modules, name, None)
        mlp = train_run(
            {**settings, "name": "mlp", "hidden": [16], "tensorboard": "{run}/tensorboard"}, verbose=0
        )
        cnn = train_run(
            {**settings, "name": "cnn", "model": "cnn", "channels": [4, 8], "epochs": 1}, verbose=0
        )
    return {"mlp": mlp.run_dir, "cnn": cnn.run_dir}


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_export_writes_an_onnx_file_that_onnx_runtime_runs_like_chainrule(runs, model, tmp_path, capsys):
    pytest.importorskip("onnxruntime", reason="the [onnx] extra")
    from chainrule.onnx import run
    from chainrule.train.run import load_run

    path = tmp_path / f"{model}.onnx"
    assert cli.main(["export", str(runs[model]), str(path)]) == 0
    assert "ONNX Runtime matches chainrule to" in capsys.readouterr().out
    loaded = load_run(runs[model])
    inputs = chainrule.randn(9, *loaded.description["input_shape"])  # any batch size
    with chainrule.no_grad():
        expected = loaded.model(inputs).array
    (got,) = run(path, inputs)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    assert (got.argmax(1) == expected.argmax(1)).all()


def test_export_errors_are_one_sentence(runs, tmp_path, capsys, monkeypatch):
    assert cli.main(["export", str(tmp_path / "nothing"), str(tmp_path / "m.onnx")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("chainrule export: error: ") and "no config.toml" in error
    assert error.count("\n") == 1
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert cli.main(["export", str(runs["mlp"]), str(tmp_path / "m.onnx")]) == 1
    assert "install it with: pip install 'chainrule[onnx]'" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_tensorboard_flag_takes_an_optional_folder():
    parser = cli.build_parser()
    assert parser.parse_args(["train", "--tensorboard"]).tensorboard == "{run}/tensorboard"
    assert parser.parse_args(["train", "--tensorboard", "logs"]).tensorboard == "logs"
    assert parser.parse_args(["train"]).tensorboard is None


def test_a_tensorboard_run_logs_scalars_and_histograms(runs):
    pytest.importorskip("tensorboardX")
    run_dir = runs["mlp"]
    (event_file,) = (run_dir / "tensorboard").glob("events.out.tfevents.*")
    events = read_events(event_file)
    kinds: dict[str, set[str]] = {}
    for tag, _, kind, _ in events:
        kinds.setdefault(kind, set()).add(tag)
    assert {
        "loss",
        "val_loss",
        "accuracy",
        "val_accuracy",
        "lr",
        "fc1.weight/grad_norm",
        "fc1.weight/update_ratio",
    } <= kinds["simple_value"]
    parameters = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    assert {f"weights/{name}" for name in parameters} | {f"gradients/{name}" for name in parameters} == kinds[
        "histo"
    ]
    assert "image" not in kinds  # no matplotlib in this run: no figure, and no error either
    # The scalars are the epoch's logged numbers, one per epoch.
    header, *rows = (run_dir / "metrics.csv").read_text().splitlines()
    column = header.split(",").index("val_loss")
    logged = [(step, value) for tag, step, kind, value in events if tag == "val_loss"]
    assert logged == [
        (epoch, pytest.approx(float(row.split(",")[column]), rel=1e-6)) for epoch, row in enumerate(rows, 1)
    ]
    # A histogram holds the parameter's values as they ended up.
    model = chainrule.train.run.load_run(run_dir).model
    final = [value for tag, step, kind, value in events if tag == "weights/fc1.weight" and step == len(rows)]
    assert final[0].num == model.fc1.weight.numel()
    assert final[0].sum == pytest.approx(float(model.fc1.weight.sum()), rel=1e-4, abs=1e-4)


def test_the_tensorboard_logger_adds_the_gradient_flow_plot(tmp_path):
    pytest.importorskip("tensorboardX")
    pytest.importorskip("matplotlib")
    from chainrule.train import TensorBoardLogger, Trainer
    from chainrule.utils.data import DataLoader, TensorDataset

    model = chainrule.nn.Sequential(chainrule.nn.Linear(2, 1))
    trainer = Trainer(model, chainrule.nn.MSELoss(), chainrule.optim.SGD(model.parameters(), lr=0.1))
    loader = DataLoader(TensorDataset(chainrule.randn(8, 2), chainrule.randn(8, 1)), batch_size=4)
    trainer.fit(loader, epochs=2, callbacks=[TensorBoardLogger(tmp_path, histograms=False)], verbose=0)
    (event_file,) = tmp_path.glob("events.out.tfevents.*")
    images = [(tag, step, value) for tag, step, kind, value in read_events(event_file) if kind == "image"]
    ((tag, step, image),) = images
    assert (tag, step) == ("gradient_flow", 2) and image.encoded_image_string.startswith(b"\x89PNG")
    assert image.width > 200 and image.height > 100
    assert not any(kind == "histo" for _, _, kind, _ in read_events(event_file))


# ------------------------------------------------------------------------------ SummaryWriter
def test_summary_writer_takes_pytorchs_calls_with_chainrule_tensors(tmp_path):
    pytest.importorskip("tensorboardX")
    matplotlib = pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    del matplotlib
    values = chainrule.randn(200)
    figure = Figure()
    figure.subplots().plot([1, 2, 3])
    with SummaryWriter(str(tmp_path)) as writer:
        writer.add_scalar("loss", chainrule.tensor(0.25), 1)
        writer.add_scalars("pair", {"a": 1.0, "b": chainrule.tensor(2.0)}, 1)
        writer.add_histogram("values", values, 3)
        writer.add_image("picture", chainrule.rand(3, 4, 5), 1)
        writer.add_text("note", "hello", 1)
        writer.add_figure("plot", figure, 2)
        writer.flush()
        assert writer.get_logdir() == str(tmp_path)
    events = [
        event for path in sorted(tmp_path.rglob("events.out.tfevents.*")) for event in read_events(path)
    ]
    by_tag = {tag: (step, kind, value) for tag, step, kind, value in events}
    assert by_tag["loss"] == (1, "simple_value", 0.25)
    assert by_tag["pair"][2] in (1.0, 2.0)  # add_scalars: one sub-folder per key
    step, kind, histogram = by_tag["values"]
    assert (step, kind, histogram.num) == (3, "histo", 200)
    assert histogram.min == pytest.approx(float(values.min())) and histogram.max == pytest.approx(
        float(values.max())
    )
    assert by_tag["picture"][2].height == 4 and by_tag["picture"][2].width == 5
    assert by_tag["plot"][1] == "image" and "note/text_summary" in by_tag


def test_summary_writer_has_no_graph_and_names_what_to_install_without_tensorboardx(tmp_path, monkeypatch):
    pytest.importorskip("tensorboardX")
    with (
        SummaryWriter(str(tmp_path)) as writer,
        pytest.raises(NotImplementedError, match="chainrule.onnx.export"),
    ):
        writer.add_graph(chainrule.nn.Linear(2, 2), chainrule.randn(1, 2))
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(
        ImportError,
        match=r'SummaryWriter needs the optional package tensorboardX; .* "chainrule\[tensorboard\]"',
    ):
        SummaryWriter(str(tmp_path / "other"))


def test_export_and_predict_never_replace_an_existing_file(runs, tmp_path, capsys):
    """Nothing the user made is overwritten: an existing output is refused, left as it was."""
    for command in (
        lambda out: ["export", str(runs["mlp"]), str(out)],
        lambda out: ["predict", str(runs["mlp"]), str(tmp_path / "x.npy"), "--output", str(out)],
    ):
        out = tmp_path / "mine.bin"
        out.write_bytes(b"the user's own bytes")
        assert cli.main(command(out)) == 2
        error = capsys.readouterr().err
        assert "already exists" in error and error.count("\n") == 1
        assert out.read_bytes() == b"the user's own bytes"
