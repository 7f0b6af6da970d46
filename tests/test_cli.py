"""The `chainrule` command, run for real in subprocesses: train, evaluate, predict, errors,
reproducibility and resuming a run killed with SIGKILL."""

import json
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule.train import load_state
from chainrule.train.run import dumps_toml

pytest.importorskip("sklearn", reason="the CLI's default dataset (digits) comes from scikit-learn")
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ENV = {**os.environ, "PYTHONHASHSEED": "0", "COLUMNS": "120"}


def console_script():
    path = shutil.which("chainrule")
    assert path is not None, "the `chainrule` console script is not installed (pip install -e .)"
    return [path]


def run_cli(args, cwd, module=False, timeout=600):
    command = [sys.executable, "-m", "chainrule"] if module else console_script()
    return subprocess.run(
        [*command, *map(str, args)], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout
    )


def digits_test_split():
    from chainrule import datasets

    return datasets.load("digits")


def raw_digits_test_rows():
    """The test split's rows as scikit-learn gives them (pixel counts 0-16), not preprocessed."""
    from sklearn.datasets import load_digits

    from chainrule.datasets import train_test_indices

    bunch = load_digits()
    _, test_idx = train_test_indices(len(bunch.target), 0.2, 0, stratify=bunch.target)
    return bunch.data[test_idx], bunch.target[test_idx]


# Its tests are one xdist_group: under `pytest -n auto --dist loadgroup` they share a worker,
# so the run is trained once rather than once per worker.
@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """`chainrule train` with no arguments at all, in an empty folder."""
    cwd = tmp_path_factory.mktemp("default")
    # The child's CPU time, not wall time: a loaded machine must not fail a quick run.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run_cli(["train"], cwd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert result.returncode == 0, result.stderr
    (run_dir,) = (cwd / "runs").iterdir()
    return result, run_dir, elapsed


@pytest.mark.xdist_group("test_cli.default_run")
def test_default_train_is_quick_accurate_and_writes_the_run_folder(default_run):
    result, run_dir, elapsed = default_run
    assert elapsed < 60
    accuracy = float(re.search(r"Test accuracy: ([\d.]+)%", result.stdout).group(1)) / 100
    assert accuracy > 0.9
    for name in ("config.toml", "metrics.csv", "model.safetensors", "checkpoint.safetensors", "report.html"):
        assert (run_dir / name).is_file(), name
    config = tomllib.loads((run_dir / "config.toml").read_text())
    assert config["dataset"] == "digits" and config["model"] == "mlp" and config["lr"] == 0.001
    assert len((run_dir / "metrics.csv").read_text().strip().splitlines()) == 1 + config["epochs"]
    # stdout is not a terminal here: one line per epoch instead of a bar
    assert len(re.findall(r"^Epoch \d+/\d+ ", result.stdout, flags=re.M)) == config["epochs"]
    assert load_state(run_dir / "checkpoint.safetensors")["epoch"] == config["epochs"]


@pytest.mark.xdist_group("test_cli.default_run")
def test_default_train_checks_the_data_and_reports_the_gradient_flow(default_run):
    result, run_dir, _ = default_run
    out = result.stdout
    # The data check comes before training, the gradient-flow verdict after it.
    assert re.search(r"^Data check \(1437 train, 360 test samples\)", out, flags=re.M)
    assert "[warning] constant_features" in out  # digits has pixels that are always blank
    flow = re.search(r"^Gradient flow: (.*)$", out, flags=re.M)
    assert flow and flow.group(1).startswith(("no problems found", "1 finding", "2 findings"))
    assert out.index("Data check") < out.index("Epoch 1/") < out.index("Gradient flow:")
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"fc1.weight/grad_norm", "fc1.weight/update_ratio", "relu1/dead_fraction"} <= set(header)
    page = (run_dir / "report.html").read_text()
    for section in ("data-checks", "gradient-flow", "attributions", "training-and-validation"):
        assert f'<section id="{section}">' in page, section
    assert 'alt="gradient norms and update ratios per parameter"' in page
    assert 'alt="integrated-gradients heat maps"' in page and "Completeness check" in page


@pytest.mark.xdist_group("test_cli.default_run")
def test_evaluate_reloads_the_model_and_agrees_with_train(default_run):
    result, run_dir, _ = default_run
    evaluated = run_cli(["evaluate", run_dir], run_dir.parent, module=True)
    assert evaluated.returncode == 0, evaluated.stderr
    trained_accuracy = float(re.search(r"Test accuracy: ([\d.]+)%", result.stdout).group(1)) / 100
    evaluated_accuracy = float(re.search(r"accuracy\s+([\d.]+)", evaluated.stdout).group(1))
    assert evaluated_accuracy == pytest.approx(trained_accuracy, abs=1e-4)
    assert "Confusion matrix" in evaluated.stdout


@pytest.mark.xdist_group("test_cli.default_run")
def test_predict_npy_and_csv(default_run, tmp_path):
    result, run_dir, _ = default_run
    data = digits_test_split()
    raw_x, raw_y = raw_digits_test_rows()
    np.testing.assert_array_equal(raw_y, data.y_test)
    np.save(tmp_path / "x.npy", raw_x)  # raw counts; predict applies training's scaling
    predicted = run_cli(["predict", run_dir, tmp_path / "x.npy", "--output", tmp_path / "p.npy"], tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    labels = np.array([int(line) for line in predicted.stdout.split()])
    assert len(labels) == len(data.y_test)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), labels)
    trained_accuracy = float(re.search(r"Test accuracy: ([\d.]+)%", result.stdout).group(1)) / 100
    assert np.mean(labels == data.y_test) == pytest.approx(trained_accuracy, abs=1e-4)

    header = ",".join(f"pixel{i}" for i in range(64))
    np.savetxt(tmp_path / "x.csv", raw_x[:4], delimiter=",", header=header, comments="")
    from_csv = run_cli(["predict", run_dir, tmp_path / "x.csv", "--output", tmp_path / "p.csv"], tmp_path)
    assert from_csv.returncode == 0, from_csv.stderr
    assert [int(line) for line in from_csv.stdout.split()] == labels[:4].tolist()
    rows = (tmp_path / "p.csv").read_text().strip().splitlines()
    assert rows[0].startswith("prediction,label,probability_0") and len(rows) == 5
    probabilities = np.array([float(v) for v in rows[1].split(",")[2:]])
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-4) and probabilities.argmax() == labels[0]


@pytest.mark.parametrize(
    ("args", "config", "message"),
    [
        (["--dataset", "nope"], None, r"unknown dataset 'nope'; valid names: digits, .*iris"),
        (["--epochs", "abc"], None, r"argument --epochs: invalid int value: 'abc'"),
        (["--optimizer", "sgdd"], None, r"optimizer = 'sgdd' is not one of sgd, adam, adamw, rmsprop"),
        (["--val-split", "1.5"], None, r"val_split must be in \[0, 1\), got 1.5"),
        (["--seed", "-1"], None, r"seed must be a non-negative integer, got -1"),
        (["--dataset", "iris", "--augment"], None, r"augment shifts images, so it needs an image dataset"),
        (
            [],
            "epochs = 3\nlearning_rat = 0.1\n",
            r"unknown key 'learning_rat'; did you mean 'lr'\? valid keys: dataset,",
        ),
        ([], "epochs = '3'\n", r"'epochs' must be an integer, got '3'"),
        ([], "epochs = \n", r"is not valid TOML"),
        (
            ["--resume", "somewhere", "--lr", "0.1"],
            None,
            r"only --allow-nan, --checkpoint-segments, --data-dir, --epochs, --patience, --tensorboard "
            r"and --verbose can be given with it, not --lr",
        ),
    ],
)
def test_bad_arguments_and_config_files_give_one_sentence_and_status_2(tmp_path, args, config, message):
    if config is not None:
        (tmp_path / "c.toml").write_text(config)
        args = [*args, "--config", tmp_path / "c.toml"]
    result = run_cli(["train", *args], tmp_path)
    assert result.returncode == 2
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and re.search(message, result.stderr), result.stderr
    if config is not None:
        assert str(tmp_path / "c.toml") in result.stderr  # the file is named
    assert not (tmp_path / "runs").exists()


def test_evaluate_and_predict_errors(tmp_path):
    result = run_cli(["evaluate", tmp_path / "missing"], tmp_path)
    assert (
        result.returncode == 2 and "has no config.toml" in result.stderr and "Traceback" not in result.stderr
    )
    result = run_cli([], tmp_path, module=True)
    assert result.returncode == 2 and "train" in result.stderr


SMALL_CONFIG = """
epochs = 4
hidden = [32]
batch_size = 32
seed = 3
dropout = 0.2
"""


def _weights(run_dir):
    from safetensors.numpy import load_file

    return load_file(str(run_dir / "model.safetensors"))


def _metrics_without_time(run_dir):
    lines = (run_dir / "metrics.csv").read_text().splitlines()
    time_column = lines[0].split(",").index("time")
    return [[cell for i, cell in enumerate(line.split(",")) if i != time_column] for line in lines]


# `chainrule` with a sleep after every batch (train_run's callbacks argument), so a test can
# kill a run in the middle of an epoch.
SLOW_BATCHES_CLI = """
import sys, time
import chainrule.train.run as run
from chainrule.cli import main
from chainrule.train.callbacks import Callback

class SlowBatches(Callback):
    def on_batch_end(self, batch, logs=None):
        time.sleep(0.02)

train_run = run.train_run
run.train_run = lambda config, **kwargs: train_run(config, callbacks=[SlowBatches()], **kwargs)
sys.exit(main(sys.argv[1:]))
"""


def test_a_killed_run_resumes_to_the_same_bits_as_an_uninterrupted_one(tmp_path):
    """Also shows that two processes with the same seed agree bit for bit: the killed run's
    first epoch and the uninterrupted run's come from separate processes. The killed run
    trains with gradient checkpointing, which changes no bit and is kept on resume."""
    config = tmp_path / "small.toml"
    config.write_text(SMALL_CONFIG)
    common = ["train", "--config", config, "--out", tmp_path / "runs", "--verbose", "0"]
    result = run_cli([*common, "--name", "first"], tmp_path)
    assert result.returncode == 0, result.stderr
    first = tmp_path / "runs" / "first"

    # The same run, slowed to ~0.8 s an epoch, killed with SIGKILL in the middle of epoch 2.
    checkpointing = ["--checkpoint-segments", "2"]
    killed = tmp_path / "runs" / "killed"
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_BATCHES_CLI, *map(str, common), "--name", "killed", *checkpointing],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not (killed / "checkpoint.safetensors").exists():
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "no checkpoint after 60 s"
            time.sleep(0.02)
        time.sleep(0.3)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert load_state(killed / "checkpoint.safetensors")["epoch"] == 1  # killed during epoch 2
    assert not (killed / "model.safetensors").exists()

    resumed = run_cli(["train", "--resume", killed, "--verbose", "2"], tmp_path, module=True)
    assert resumed.returncode == 0, resumed.stderr
    assert (
        "Resumed from" in resumed.stdout
        and "Epoch 1/4" not in resumed.stdout
        and "Epoch 2/4" in resumed.stdout
    )
    assert (killed / "model.safetensors").read_bytes() == (first / "model.safetensors").read_bytes()
    for name, array in _weights(first).items():
        np.testing.assert_array_equal(_weights(killed)[name], array)
    assert _metrics_without_time(killed) == _metrics_without_time(first)
    assert list(killed.glob(".*.tmp")) == []  # a temporary file the kill may have left is cleaned up
    assert tomllib.loads((killed / "config.toml").read_text())["checkpoint_segments"] == 2


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.one_of(
            st.text(max_size=12),
            st.integers(-(2**63), 2**63 - 1),
            st.booleans(),
            st.floats(allow_nan=False),
            st.lists(st.integers(-5, 5), max_size=3),
        ),
        max_size=5,
    )
)
def test_toml_writer_round_trips_through_tomllib(values):
    assert tomllib.loads(dumps_toml(values)) == values


def test_toml_writer_tables_and_special_floats():
    text = dumps_toml(
        {"lr": 1e-05, "name": 'a "quoted"\n\tname\x01', "model_args": {"depth": 3, "act": "relu"}}
    )
    assert tomllib.loads(text) == {
        "lr": 1e-05,
        "name": 'a "quoted"\n\tname\x01',
        "model_args": {"depth": 3, "act": "relu"},
    }
    assert math.isnan(tomllib.loads(dumps_toml({"x": math.nan}))["x"])
    assert tomllib.loads(dumps_toml({"x": -math.inf}))["x"] == -math.inf
    with pytest.raises(TypeError, match="nested table"):
        dumps_toml({"a": {"b": {"c": 1}}})
    with pytest.raises(TypeError, match="cannot write x = None"):
        dumps_toml({"x": None})


# config.toml as the hand-written writer before tomli-w wrote it: inline arrays, a comment header.
OLD_WRITER_CONFIG = """# chainrule run configuration, written by `chainrule train`.
# Train again with: chainrule train --config this-file
dataset = "iris"
hidden = [32, 16]
channels = [16, 32]
drop_columns = []
lr = 0.001
epochs = 3
target = "a \\"quoted\\" column"

[model_args]
depth = 2
"""


def test_config_written_by_the_old_writer_reads_and_rewrites_to_the_same_values(tmp_path):
    from chainrule.train.config import load_config, write_config

    old = tmp_path / "old" / "config.toml"
    old.parent.mkdir()
    old.write_text(OLD_WRITER_CONFIG)
    config = load_config(old)
    assert config["hidden"] == [32, 16] and config["target"] == 'a "quoted" column'
    assert config["model_args"] == {"depth": 2}
    write_config(tmp_path, config)  # rewritten by tomli-w
    assert load_config(tmp_path / "config.toml") == config
    assert (tmp_path / "config.toml").read_text().startswith("# chainrule run configuration")


def test_custom_model_class_from_a_file(tmp_path):
    (tmp_path / "net.py").write_text(
        "from chainrule import nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, in_features, num_classes, width=8):\n"
        "        super().__init__()\n"
        "        self.body = nn.Sequential(nn.Flatten(), nn.Linear(in_features, width), nn.ReLU(),\n"
        "                                  nn.Linear(width, num_classes))\n"
        "    def forward(self, x):\n"
        "        return self.body(x)\n"
    )
    (tmp_path / "c.toml").write_text('dataset = "iris"\nepochs = 2\n\n[model_args]\nwidth = 5\n')
    result = run_cli(
        ["train", "--config", "c.toml", "--model", "net.py:Net", "--name", "custom", "--verbose", "0"],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    weights = _weights(tmp_path / "runs" / "custom")
    assert weights["body.1.weight"].shape == (5, 4)  # width from [model_args], 4 iris features
    missing = run_cli(["train", "--model", "net.py:Nope", "--name", "x"], tmp_path)
    assert missing.returncode == 2 and "has no class 'Nope'" in missing.stderr


# ---------------------------------------------------------------- data checks and audit
def write_people_csv(path, missing_cell=False):
    """80 people: two numeric features, a sensitive column and a binary label that depends
    on the first feature and, a little, on the group."""
    rng = np.random.default_rng(0)
    lines = ["income,age,sex,approved"]
    for row in range(80):
        income, age, sex = rng.normal(), rng.normal(), "fm"[row % 2]
        approved = int(income + 0.5 * (sex == "m") > 0.2)
        income_text = "" if missing_cell and row == 3 else f"{income:.4f}"
        lines.append(f"{income_text},{age:.4f},{sex},{approved}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_missing_values_are_refused_without_allow_nan_then_the_run_is_audited(tmp_path):
    data = write_people_csv(tmp_path / "people.csv", missing_cell=True)
    common = ["train", "--dataset", data, "--target", "approved", "--epochs", "3", "--name", "p"]
    refused = run_cli(common, tmp_path)
    assert refused.returncode == 2 and refused.stdout == "" and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "'income' has missing values on line(s) 5" in refused.stderr and "--allow-nan" in refused.stderr
    assert not (tmp_path / "runs").exists()

    trained = run_cli([*common, "--allow-nan", "--verbose", "2"], tmp_path)
    assert trained.returncode == 0, trained.stderr
    run_dir = tmp_path / "runs" / "p"
    assert tomllib.loads((run_dir / "config.toml").read_text())["allow_nan"] is True
    assert "Data check (" in trained.stdout and "Gradient flow:" in trained.stdout

    clean = write_people_csv(tmp_path / "audit.csv")
    audited = run_cli(["audit", run_dir, "--data", clean, "--sensitive", "sex"], tmp_path)
    assert audited.returncode == 0, audited.stderr
    lines = audited.stdout.splitlines()
    assert lines[0] == "Fairness audit by sex (positive outcome: '1')"
    assert [line.split()[:2] for line in lines[3:6]] == [["f", "40"], ["m", "40"], ["overall", "80"]]
    assert "demographic parity ratio" in audited.stdout and "audit.json" in audited.stdout
    saved = json.loads((run_dir / "audit.json").read_text())
    assert [row["group"] for row in saved["sex"]["by_group"]] == ["f", "m"]
    ratio_line = next(line for line in lines if line.startswith("demographic parity ratio"))
    assert float(ratio_line.split()[3]) == pytest.approx(saved["sex"]["demographic_parity_ratio"], abs=5e-4)
    page = (run_dir / "report.html").read_text()
    assert page.count('<section id="fairness-audit-sex"><h2>Fairness audit: sex</h2>') == 1
    assert '<a href="#fairness-audit-sex">' in page and "Fairness audit by sex" in page

    again = run_cli(["audit", run_dir, "--data", clean, "--sensitive", "nope"], tmp_path)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert "has no column 'nope'" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    page_after = (run_dir / "report.html").read_text()
    assert page_after.count('id="fairness-audit-sex"') == 1  # a failed audit leaves the report as it was


def test_explain_works_a_step_by_hand_and_checks_it(tmp_path):
    result = run_cli(["explain"], tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("A 2-3-2 network (sigmoid hidden layer, seed 0) on the 4 XOR samples")
    parts = ("FORWARD", "LOSS: mean squared error", "BACKWARD", "sigmoid'(z) = a (1 - a)", "UPDATE")
    for part in parts:
        assert part in out, part
    check = r"CHECK: the hand-worked gradients match the engine's \(largest difference [\d.e-]+\)"
    assert re.search(check, out)
    relu = run_cli(["explain", "--activation", "relu", "--loss", "cross_entropy", "--seed", "3"], tmp_path)
    assert relu.returncode == 0 and "relu'(z)" in relu.stdout and "LOSS: cross-entropy" in relu.stdout
    assert "match" in relu.stdout and relu.stdout != out
    for args, message in ((["--activation", "softplus"], "softplus"), (["--seed", "-1"], "--seed must be")):
        bad = run_cli(["explain", *args], tmp_path)
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and message in bad.stderr


# ------------------------------------------------------------ divergence, output, reports
def report_sections(run_dir):
    page = (run_dir / "report.html").read_text()
    return dict(re.findall(r"<!-- section:([\w-]+) -->(.*?)<!-- /section:\1 -->", page, re.DOTALL))


def test_a_run_that_diverges_ends_with_one_sentence_status_1_and_a_report_that_says_so(tmp_path):
    args = ["--dataset", "iris", "--optimizer", "sgd", "--lr", "1e30", "--epochs", "3", "--name", "d"]
    result = run_cli(["train", *args], tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    sentence = result.stderr.strip()
    assert sentence.startswith("chainrule train: error: training diverged at step ")
    assert "of epoch 1 (the loss became nan, with learning rate 1e+30)" in sentence
    assert "no model was saved" in sentence and "--lr 0.05" in sentence  # the sgd default, not 1e+29
    run_dir = tmp_path / "runs" / "d"
    assert not (run_dir / "model.safetensors").exists()
    sections = report_sections(run_dir)
    curves = sections["training-and-validation"]
    assert "No sign of overfitting" not in curves
    assert '<div class="alert diverged"><strong>Training diverged at step' in curves
    assert "No model was saved" in sections["summary"]
    # Resuming repeats the run from its last good state (none), so it diverges the same way.
    resumed = run_cli(["train", "--resume", "runs/d", "--verbose", "0"], tmp_path)
    assert resumed.returncode == 1 and resumed.stderr == result.stderr and resumed.stdout == ""


def test_a_run_that_diverges_later_keeps_the_last_good_epoch(tmp_path):
    (tmp_path / "net.py").write_text(
        "from chainrule import nn\n"
        "class Net(nn.Module):\n"
        "    '''Fine for 5 training batches, then NaN (iris: 4 batches an epoch).'''\n"
        "    def __init__(self, in_features, num_classes):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(in_features, num_classes)\n"
        "        self.calls = 0\n"
        "    def forward(self, x):\n"
        "        self.calls += self.training\n"
        "        out = self.fc(x)\n"
        "        return out * float('nan') if self.training and self.calls > 5 else out\n"
    )
    args = ["--dataset", "iris", "--model", "net.py:Net", "--epochs", "4", "--name", "late", "--verbose", "0"]
    result = run_cli(["train", *args], tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "diverged at step 2 of epoch 2" in result.stderr
    assert "model.safetensors holds the weights of epoch 1, the last before it" in result.stderr
    run_dir = tmp_path / "runs" / "late"
    weights = _weights(run_dir)
    kept = load_state(run_dir / "checkpoint.safetensors")
    assert kept["epoch"] == 1
    for name, value in weights.items():
        assert np.isfinite(value).all()
        np.testing.assert_array_equal(value, kept["model"][name].array)
    summary = report_sections(run_dir)["summary"]
    assert "Training diverged at step 2 of epoch 2." in summary and "Test accuracy" in summary
    assert "holds the weights after epoch 1, the last before training diverged" in summary
    assert run_cli(["evaluate", run_dir, "--trust-model-code"], tmp_path).returncode == 0  # its own net.py


def test_verbose_0_prints_nothing(tmp_path):
    result = run_cli(["train", "--dataset", "iris", "--epochs", "1", "--verbose", "0"], tmp_path)
    assert result.returncode == 0 and (result.stdout, result.stderr) == ("", "")


def run_in_terminal(args, cwd, columns):
    """Run the console script with its stdout on a pseudo-terminal ``columns`` wide; returns
    the exit status and the screen's lines (each as left after carriage returns)."""
    import fcntl
    import pty
    import struct
    import termios
    import threading

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    chunks = []

    def drain():  # a pty's buffer is small: read while the program writes
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)  # never holds up the test run
    reader.start()
    env = {key: value for key, value in ENV.items() if key not in ("COLUMNS", "LINES")}
    try:
        process = subprocess.run(
            [*console_script(), *map(str, args)], cwd=cwd, env=env, stdout=slave, timeout=600
        )
    finally:
        os.close(slave)
        reader.join(timeout=10)
        os.close(master)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    return process.returncode, [line.split("\r")[-1] for line in text.split("\n")]


@pytest.mark.parametrize("columns", [80, 120])
def test_the_finished_epoch_line_keeps_every_metric_in_a_terminal(tmp_path, columns):
    status, screen = run_in_terminal(["train", "--dataset", "iris", "--epochs", "2"], tmp_path, columns)
    assert status == 0
    finished = [line for line in screen if line.startswith("Epoch 2/2")]
    assert finished, screen
    metrics = r"loss \d\.\d{4}  accuracy \d\.\d{4}  val_loss \d\.\d{4}  val_accuracy \d\.\d{4}  lr 0\.001"
    assert re.search(metrics, finished[-1]), finished[-1]


def write_csv(path, label_of, header="a,b,label"):
    rng = np.random.default_rng(0)
    rows = [header]
    for index in range(60):
        a, b = rng.normal(size=2)
        rows.append(f"{a:.4f},{b:.4f},{label_of(index, a, b)}")
    path.write_text("\n".join(rows) + "\n")


def test_a_classification_target_with_a_single_class_is_one_sentence_and_status_2(tmp_path):
    write_csv(tmp_path / "single.csv", lambda i, a, b: "yes")
    result = run_cli(["train", "--dataset", "single.csv", "--target", "label", "--verbose", "0"], tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "single.csv: target column 'label' holds a single class, 'yes', in all 60 rows" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_the_report_renders_for_one_epoch_regression_and_odd_label_runs(tmp_path):
    odd = ["$\\foo{$", "x_1^2", "$a$"]
    write_csv(tmp_path / "odd.csv", lambda i, a, b: odd[int(a > 0) + int(b > 0)])
    write_csv(tmp_path / "price.csv", lambda i, a, b: f"{3 * a - 2 * b:.4f}", header="a,b,price")
    runs = {
        "odd": ["--dataset", "odd.csv", "--target", "label", "--epochs", "3"],
        "regression": ["--dataset", "price.csv", "--target", "price", "--epochs", "3"],
        "one-epoch": ["--dataset", "iris", "--epochs", "1"],
    }
    drawn = ["training-and-validation", "gradient-flow"]
    expected_images = {
        "odd": [*drawn, "confusion-matrix"],
        "regression": [*drawn, "predicted-vs-actual"],
        "one-epoch": [*drawn, "confusion-matrix"],
    }
    for name, args in runs.items():
        result = run_cli(["train", *args, "--name", name, "--verbose", "0"], tmp_path)
        assert result.returncode == 0, f"{name}: {result.stderr}"
        sections = report_sections(tmp_path / "runs" / name)
        for anchor in expected_images[name]:
            assert anchor in sections, f"{name}: no {anchor} section"
            assert 'src="data:image/png;base64,' in sections[anchor], f"{name}: {anchor} has no image"
    page = (tmp_path / "runs" / "one-epoch" / "report.html").read_text()
    assert "1 epochs" not in page and "The one epoch" in page
    regression = (tmp_path / "runs" / "regression" / "report.html").read_text()
    assert "class imbalance" not in regression and "Mae" not in regression and "Test MAE" in regression
    assert "misclassified" not in regression.lower() and "confusion-matrix" not in regression


def test_a_bad_blas_choice_is_refused_before_the_run_folder_is_made(tmp_path):
    command = [sys.executable, "-m", "chainrule", "train", "--dataset", "iris", "--epochs", "1"]
    repository = str(Path(__file__).resolve().parents[1])
    environment = {**ENV, "CHAINRULE_BLAS": "openblas", "PYTHONPATH": repository}
    result = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "unknown BLAS 'openblas'" in result.stderr
    assert not (tmp_path / "runs").exists()
