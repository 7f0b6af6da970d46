"""Untrusted files and faults (issue 12): no code runs from a run folder unless trusted, every
bad input is one sentence with exit status 2, fields read from files are checked, memory stays
bounded, and run folders are locked and never overwrite what chainrule did not write.

Most cases call ``chainrule.cli.main`` in-process (the one place errors become exit statuses);
the evil-model and locking cases run the installed console script in a subprocess.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from fuzzing import within_budget
from safetensors.numpy import load_file, save_file

import chainrule
from chainrule import nn
from chainrule.cli import main
from chainrule.datasets.idx import IDXFormatError, read_idx
from chainrule.errors import CheckpointFileError, InputError
from chainrule.train.checkpoint import load_model, save_state
from chainrule.train.run import dumps_toml, load_run

pytest.importorskip("sklearn", reason="the runs here train on scikit-learn's iris")

ENV = {**os.environ, "PYTHONHASHSEED": "0"}


def cli(capsys, *args):
    """``chainrule ARGS`` in-process: (exit status, stderr)."""
    capsys.readouterr()
    status = main([str(arg) for arg in args])
    return status, capsys.readouterr().err


def assert_one_sentence(status, stderr, *fragments):
    """Exit status 2 and one line on stderr, no traceback, naming what it should."""
    assert status == 2, stderr
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    for fragment in fragments:
        assert fragment in stderr, stderr


def console(args, cwd, timeout=600):
    return subprocess.run(
        [shutil.which("chainrule") or "chainrule", *map(str, args)],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 3-epoch iris run, trained once; tests work on copies of it."""
    out = tmp_path_factory.mktemp("trained")
    assert (
        main(
            [
                "train",
                "--dataset",
                "iris",
                "--epochs",
                "3",
                "--out",
                str(out),
                "--name",
                "iris",
                "--verbose",
                "0",
            ]
        )
        == 0
    )
    return out / "iris"


@pytest.fixture
def run_copy(trained, tmp_path):
    copy = tmp_path / "runs" / "iris"
    shutil.copytree(trained, copy)
    return copy


NET = """
from chainrule import nn
class Net(nn.Module):
    def __init__(self, in_features, num_classes, width=6):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(in_features, width), nn.ReLU(), nn.Linear(width, num_classes))
    def forward(self, x):
        return self.body(x)
"""


# ------------------------------------------------------------------ 1. code from a run folder
def evil_run_folder(tmp_path, run_copy):
    """A run folder whose config names a model file that, when imported, creates a marker."""
    marker = tmp_path / "MARKER"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('pwned')\n{NET}")
    config = tomllib_load(run_copy / "config.toml")
    config["model"] = f"{evil}:Net"
    (run_copy / "config.toml").write_text(dumps_toml(config))
    return marker


def tomllib_load(path):
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads(Path(path).read_text())


def test_a_model_file_named_by_a_run_folder_never_runs_without_the_trust_flag(tmp_path, run_copy):
    marker = evil_run_folder(tmp_path, run_copy)
    rows = tmp_path / "rows.npy"
    np.save(rows, np.zeros((2, 4), np.float32))
    audit_csv = tmp_path / "audit.csv"
    audit_csv.write_text("sepal length (cm),sepal width (cm),petal length (cm),petal width (cm),g,target\n")
    commands = [
        ["evaluate", run_copy],
        ["predict", run_copy, rows],
        ["audit", run_copy, "--data", audit_csv, "--sensitive", "g"],
        ["train", "--resume", run_copy, "--verbose", "0"],
        ["train", "--config", run_copy / "config.toml", "--verbose", "0", "--out", tmp_path / "o"],
    ]
    for command in commands:
        result = console(command, tmp_path)
        assert result.returncode == 2, (command, result.stderr)
        assert "--trust-model-code" in result.stderr and "Traceback" not in result.stderr
        assert not marker.exists(), f"{command[0]} ran the model file"
    # The flag is what decides: with it, the (old-style, uncopied) file is imported.
    result = console(["evaluate", run_copy, "--trust-model-code"], tmp_path)
    assert marker.exists(), result.stderr


def test_a_trained_model_file_is_copied_with_its_hash_and_checked_on_load(tmp_path, capsys):
    (tmp_path / "net.py").write_text(NET)
    out = tmp_path / "runs"
    status, err = cli(
        capsys,
        "train",
        "--dataset",
        "iris",
        "--epochs",
        "1",
        "--model",
        f"{tmp_path / 'net.py'}:Net",
        "--out",
        out,
        "--name",
        "own",
        "--verbose",
        "0",
    )
    assert status == 0, err
    run_dir = out / "own"
    copy = run_dir / "model_code" / "net.py"
    assert copy.read_text() == NET
    digest, name = (run_dir / "model_code" / "net.py.sha256").read_text().split()
    import hashlib

    assert name == "net.py" and digest == hashlib.sha256(NET.encode()).hexdigest()
    (tmp_path / "net.py").unlink()  # the run folder carries its own code
    assert cli(capsys, "evaluate", run_dir, "--trust-model-code")[0] == 0
    copy.write_text(NET + "\n# edited\n")
    assert_one_sentence(*cli(capsys, "evaluate", run_dir, "--trust-model-code"), "SHA-256")
    with pytest.raises(InputError, match="--trust-model-code"):
        load_run(run_dir)


# --------------------------------------------------------- 2. one error path: bad input files
def test_truncated_and_random_checkpoints_on_resume(run_copy, capsys):
    checkpoint = run_copy / "checkpoint.safetensors"
    data = checkpoint.read_bytes()
    for damaged in (data[: len(data) // 2], np.random.default_rng(0).bytes(4096), b""):
        checkpoint.write_bytes(damaged)
        assert_one_sentence(
            *cli(capsys, "train", "--resume", run_copy, "--epochs", "4", "--verbose", "0"),
            "checkpoint.safetensors",
        )


def test_truncated_weights_on_evaluate_and_predict(run_copy, tmp_path, capsys):
    weights = run_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-7])
    np.save(tmp_path / "rows.npy", np.zeros((1, 4), np.float32))
    assert_one_sentence(*cli(capsys, "evaluate", run_copy), "model.safetensors")
    assert_one_sentence(*cli(capsys, "predict", run_copy, tmp_path / "rows.npy"), "model.safetensors")


def rewrite_weights(run_dir, change):
    path = run_dir / "model.safetensors"
    from safetensors import safe_open

    with safe_open(str(path), "numpy") as file:
        metadata = file.metadata()
    tensors = load_file(str(path))
    change(tensors, metadata)
    save_file(tensors, str(path), metadata=metadata)


@pytest.mark.parametrize(
    "change, named",
    [
        (lambda t, m: t.update(extra=np.zeros(3, np.float32)), "unexpected extra"),
        (lambda t, m: t.pop("fc2.bias"), "missing fc2.bias"),
        (lambda t, m: t.update({"fc2.b": t.pop("fc2.bias")}), "missing fc2.bias; unexpected fc2.b"),
        (lambda t, m: t.update({"fc1.weight": t["fc1.weight"].astype(np.int64)}), "int64"),
        (lambda t, m: t.update({"fc1.weight": t["fc1.weight"] > 0}), "bool"),
        (lambda t, m: t["fc1.weight"].__setitem__((0, 0), np.nan), "NaN"),
        (lambda t, m: t.update({"fc1.weight": t["fc1.weight"][:, :3].copy()}), "shape"),
    ],
    ids=["extra", "missing", "renamed", "int", "bool", "nan", "shape"],
)
def test_weights_that_do_not_fit_are_refused(run_copy, capsys, change, named):
    rewrite_weights(run_copy, change)
    assert_one_sentence(*cli(capsys, "evaluate", run_copy), named)


@pytest.mark.parametrize(
    "field, value",
    [("input_shape", [10**11]), ("num_outputs", 10**11), ("input_shape", "x"), ("task", "magic")],
)
def test_model_descriptions_are_checked_against_the_weights_before_building(run_copy, capsys, field, value):
    def claim(tensors, metadata):
        description = json.loads(metadata["chainrule"])
        description[field] = value
        metadata["chainrule"] = json.dumps(description)

    rewrite_weights(run_copy, claim)
    read = lambda: cli(capsys, "evaluate", run_copy)  # noqa: E731
    status, err = read()
    assert_one_sentence(status, err, field)
    assert within_budget(lambda: load_run(run_copy), InputError) is not None


def test_corrupt_idx_files_through_the_mnist_loader(tmp_path, capsys):
    root = tmp_path / "data"
    root.mkdir()
    header = struct.pack(">HBB", 0, 8, 3) + struct.pack(">3I", 5, 28, 28)
    for prefix in ("train", "t10k"):
        (root / f"{prefix}-images-idx3-ubyte").write_bytes(header + bytes(100))  # truncated
        (root / f"{prefix}-labels-idx1-ubyte").write_bytes(
            struct.pack(">HBB", 0, 8, 1) + struct.pack(">I", 5) + bytes(5)
        )
    status, err = cli(
        capsys, "train", "--dataset", "mnist", "--data-dir", root, "--out", tmp_path / "r", "--verbose", "0"
    )
    assert_one_sentence(status, err, "images-idx3-ubyte")
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


@pytest.mark.parametrize(
    "text, named",
    [
        (b'dataset = "iris"\nname = "caf\xe9"\n', "UTF-8"),
        (b"model_args = { born = 1979-05-27T07:32:00Z }\n", "[model_args] born"),
        (b"[model_args]\ninner = { a = 1 }\n", "[model_args] inner"),
        (b'optimizer = "sgd"\nmomentum = nan\n', "momentum"),
        (b'optimizer = "sgd"\nmomentum = -50\n', "momentum"),
        (b"lr = inf\n", "lr"),
        (b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n", "c.toml"),
    ],
    ids=["not-utf8", "datetime", "nested-table", "momentum-nan", "momentum-negative", "lr-inf", "deep"],
)
def test_bad_config_files_are_one_sentence_and_leave_no_run_folder(tmp_path, capsys, text, named):
    config = tmp_path / "c.toml"
    config.write_bytes(b'dataset = "iris"\nepochs = 1\n' + text if b"dataset" not in text else text)
    status, err = cli(capsys, "train", "--config", config, "--out", tmp_path / "runs", "--verbose", "0")
    assert_one_sentence(status, err, named)
    assert not (tmp_path / "runs").exists()


def test_a_typo_in_model_args_of_a_file_model_names_the_argument(tmp_path, capsys):
    (tmp_path / "net.py").write_text(NET)
    (tmp_path / "c.toml").write_text('dataset = "iris"\nepochs = 1\n[model_args]\nwidht = 5\n')
    status, err = cli(
        capsys,
        "train",
        "--config",
        tmp_path / "c.toml",
        "--model",
        f"{tmp_path / 'net.py'}:Net",
        "--out",
        tmp_path / "runs",
        "--verbose",
        "0",
    )
    assert_one_sentence(status, err, "widht", "width")
    assert not (tmp_path / "runs").exists()


def iris_audit_csv(path, column):
    from sklearn.datasets import load_iris

    iris = load_iris()
    lines = [",".join([*iris.feature_names, column, "target"])]
    for index, (row, label) in enumerate(zip(iris.data, iris.target)):
        lines.append(",".join([*map(str, row), "fm"[index % 2], iris.target_names[label]]))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_audit_of_a_non_ascii_column_writes_json_and_report_together(run_copy, tmp_path, capsys):
    data = iris_audit_csv(tmp_path / "audit.csv", "género")
    status, err = cli(
        capsys, "audit", run_copy, "--data", data, "--sensitive", "género", "--pos-label", "versicolor"
    )
    assert status == 0, err
    assert "género" in json.loads((run_copy / "audit.json").read_text())
    assert "Fairness audit: género" in (run_copy / "report.html").read_text()


def test_an_audit_that_cannot_update_the_report_writes_nothing(run_copy, tmp_path, capsys):
    data = iris_audit_csv(tmp_path / "audit.csv", "sex")
    (run_copy / "report.html").write_text("not a chainrule report")
    status, err = cli(
        capsys, "audit", run_copy, "--data", data, "--sensitive", "sex", "--pos-label", "versicolor"
    )
    assert_one_sentence(status, err, "report.html", "nothing was saved")
    assert not (run_copy / "audit.json").exists()


def test_an_internal_bug_shows_its_traceback_and_asks_for_a_report(monkeypatch, capsys):
    import chainrule.cli as cli_module

    def broken(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setitem(cli_module._COMMANDS, "explain", broken)
    status = main(["explain"])
    err = capsys.readouterr().err
    assert status == 1 and "Traceback" in err and "ZeroDivisionError" in err and "please report" in err


# -------------------------------------------------- 2/3. tampered checkpoints: every field checked
def tampered(path, edit):
    """Rewrite a checkpoint's JSON skeleton with ``edit(skeleton_dict) -> skeleton_text``."""
    from safetensors import safe_open

    with safe_open(str(path), "numpy") as file:
        metadata = file.metadata()
    tensors = load_file(str(path))
    metadata["skeleton"] = edit(json.loads(metadata["skeleton"]))
    save_file(tensors, str(path), metadata=metadata)


def _set(key, value):
    def edit(skeleton):
        skeleton[key] = value
        return json.dumps(skeleton)

    return edit


TAMPERINGS = {
    "epoch-negative": _set("epoch", -5),
    "epoch-huge": _set("epoch", 10**18),
    "epoch-fraction": _set("epoch", 2.5),
    "epoch-text": _set("epoch", "3"),
    "recursion": lambda s: '{"a": ' * 100000 + "1" + "}" * 100000,
    "missing-tensor": lambda s: json.dumps({**s, "model": {"fc1.weight": {"__tensor__": "nowhere"}}}),
    "wrong-types": lambda s: json.dumps({**s, "rng": [1, 2], "optimizer": {"__items__": 7}}),
    "not-json": lambda s: "{not json",
    "no-model": lambda s: json.dumps({key: value for key, value in s.items() if key != "model"}),
    "history-rows": _set("history_rows", 10**12),
}


@pytest.mark.parametrize("name", list(TAMPERINGS))
def test_tampered_checkpoint_metadata_is_one_sentence(run_copy, capsys, name):
    tampered(run_copy / "checkpoint.safetensors", TAMPERINGS[name])
    assert_one_sentence(
        *cli(capsys, "train", "--resume", run_copy, "--epochs", "5", "--verbose", "0"), "checkpoint"
    )


def test_a_random_generator_name_from_a_file_is_never_looked_up(run_copy, monkeypatch):
    from chainrule.train.checkpoint import load_training_state

    path = run_copy / "checkpoint.safetensors"
    from safetensors import safe_open

    with safe_open(str(path), "numpy") as file:
        metadata = file.metadata()
    tensors = load_file(str(path))
    key = json.loads(metadata["skeleton"])["rng"]["chainrule"]["__tensor__"]
    called = []
    monkeypatch.setattr(np.random, "evil", lambda *a: called.append(a), raising=False)
    for name in ("evil", "__class__", "default_rng", "RandomState"):
        tensors[key] = np.frombuffer(json.dumps({"bit_generator": name}).encode(), np.uint8).copy()
        save_file(tensors, str(path), metadata=metadata)
        with pytest.raises(CheckpointFileError, match="random-number state"):
            load_training_state(path)
    assert called == []


def test_the_epoch_of_a_checkpoint_must_match_its_history(tmp_path):
    from chainrule.train.checkpoint import load_training_state

    model = nn.Linear(2, 1)
    for epoch in (-5, 10**18, 2.5, True):
        state = {"epoch": epoch, "model": model.state_dict(), "optimizer": {}, "rng": {}, "history": [{}]}
        save_state(tmp_path / "c.safetensors", state)
        with pytest.raises(CheckpointFileError, match="epoch"):
            load_training_state(tmp_path / "c.safetensors", model)


def test_load_model_refuses_integer_and_nan_weights(tmp_path):
    model = nn.Linear(2, 1)
    save_file(
        {"weight": np.ones((1, 2), np.int32), "bias": np.zeros(1, np.float32)},
        str(tmp_path / "i.safetensors"),
    )
    with pytest.raises(CheckpointFileError, match="int32"):
        load_model(tmp_path / "i.safetensors", model)
    save_file(
        {"weight": np.full((1, 2), np.nan, np.float32), "bias": np.zeros(1, np.float32)},
        str(tmp_path / "n.safetensors"),
    )
    with pytest.raises(CheckpointFileError, match="NaN"):
        load_model(tmp_path / "n.safetensors", model)


# ------------------------------------------------------------------------ 4. bounded resources
def gzip_bomb(path, declared_images, data_bytes):
    """An IDX image file whose header declares ``declared_images`` 28x28 images, followed by
    ``data_bytes`` zero bytes, gzip-compressed a megabyte at a time."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    header = struct.pack(">HBB", 0, 8, 3) + struct.pack(">3I", declared_images, 28, 28)
    parts = [compressor.compress(header)]
    chunk = bytes(2**20)
    for _ in range(data_bytes // len(chunk)):
        parts.append(compressor.compress(chunk))
    parts.append(compressor.flush())
    path.write_bytes(b"".join(parts))
    return path


def test_a_gzip_bomb_is_refused_from_its_header_without_decompressing_it(tmp_path):
    bomb = gzip_bomb(tmp_path / "bomb-idx3-ubyte.gz", 10, 300 * 2**20)  # 300 MiB in ~300 KB
    assert bomb.stat().st_size < 2**20
    error = within_budget(lambda: read_idx(bomb), IDXFormatError, memory_budget=16 * 2**20, time_budget=2.0)
    assert error is not None and "more than" in str(error)
    # A header declaring more than deflate could ever expand the file to is refused unread.
    liar = gzip_bomb(tmp_path / "liar-idx3-ubyte.gz", 60000 * 1000, 0)
    assert within_budget(lambda: read_idx(liar), IDXFormatError, memory_budget=2**20) is not None


def test_an_idx_shape_that_overflows_int64_is_refused(tmp_path):
    path = tmp_path / "huge-idx"
    path.write_bytes(struct.pack(">HBB", 0, 8, 4) + struct.pack(">4I", 65536, 65536, 65536, 65536))
    with pytest.raises(IDXFormatError, match="too large for any array"):
        read_idx(path)
    raw = tmp_path / "ok-idx"
    raw.write_bytes(struct.pack(">HBB", 0, 8, 2) + struct.pack(">2I", 2, 3) + bytes(range(6)))
    np.testing.assert_array_equal(read_idx(raw), np.arange(6).reshape(2, 3))
    with gzip.open(tmp_path / "ok-idx.gz", "wb") as file:
        file.write(raw.read_bytes())
    np.testing.assert_array_equal(read_idx(tmp_path / "ok-idx.gz"), np.arange(6).reshape(2, 3))


def test_per_epoch_saving_does_not_grow_with_the_epoch_number(tmp_path):
    """The checkpoint keeps the same size whatever the epoch (the history is in an append-only
    log), and metrics.csv is appended to, not rewritten (same file, earlier bytes kept)."""
    import chainrule.train.run as run
    from chainrule.train.callbacks import Callback

    sizes, inodes = [], []

    class Watch(Callback):
        order = 95  # after the checkpoint and the CSV are written

        def on_epoch_end(self, epoch, logs=None):
            sizes.append((tmp_path / "runs" / "m" / "checkpoint.safetensors").stat().st_size)
            inodes.append((tmp_path / "runs" / "m" / "metrics.csv").stat().st_ino)

    run.train_run(
        {"dataset": "iris", "epochs": 40, "out": str(tmp_path / "runs"), "name": "m"},
        verbose=0,
        callbacks=[Watch()],
    )
    # A few bytes may differ (numbers in the JSON header); 38 more history rows would be kilobytes.
    assert abs(sizes[-1] - sizes[1]) < 200, (sizes[1], sizes[-1])
    assert len(set(inodes[1:])) == 1
    from chainrule.train.checkpoint import history_log_path

    log = history_log_path(tmp_path / "runs" / "m" / "checkpoint.safetensors")
    assert len(log.read_text().splitlines()) == 40
    rows = (tmp_path / "runs" / "m" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 41 and rows[-1].startswith("40,")


# ------------------------------------------------------------------------ 5. run-folder integrity
def test_name_of_a_folder_that_is_not_a_run_or_is_a_symlink_is_refused(tmp_path, capsys):
    out = tmp_path / "runs"
    (out / "mine").mkdir(parents=True)
    (out / "mine" / "report.html").write_text("my own report")
    status, err = cli(
        capsys,
        "train",
        "--dataset",
        "iris",
        "--epochs",
        "1",
        "--out",
        out,
        "--name",
        "mine",
        "--verbose",
        "0",
    )
    assert_one_sentence(status, err, "not a chainrule run folder")
    assert (out / "mine" / "report.html").read_text() == "my own report"
    assert sorted(p.name for p in (out / "mine").iterdir()) == [".lock", "report.html"]
    target = tmp_path / "elsewhere"
    target.mkdir()
    (out / "link").symlink_to(target)
    status, err = cli(
        capsys,
        "train",
        "--dataset",
        "iris",
        "--epochs",
        "1",
        "--out",
        out,
        "--name",
        "link",
        "--verbose",
        "0",
    )
    assert_one_sentence(status, err, "symbolic link")
    assert list(target.iterdir()) == []


def test_a_second_writer_of_a_run_folder_is_refused(run_copy, capsys):
    """Another process holds the folder's lock (as a training process does for its whole run):
    a second ``train`` of the same name and a concurrent ``--resume`` are refused."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from chainrule.train.run import RunFolderLock; "
            "lock = RunFolderLock(Path(sys.argv[1])); print('locked', flush=True); time.sleep(60)",
            str(run_copy),
        ],
        env=ENV,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        args = ["--dataset", "iris", "--epochs", "1", "--out", run_copy.parent, "--name", "iris"]
        status, err = cli(capsys, "train", *args, "--verbose", "0")
        assert_one_sentence(status, err, "another chainrule process")
        status, err = cli(capsys, "train", "--resume", run_copy, "--epochs", "4", "--verbose", "0")
        assert_one_sentence(status, err, "another chainrule process")
    finally:
        holder.kill()
        holder.wait()
    # Once the other process is gone, the folder is a finished run: resumable, not re-trainable.
    assert_one_sentence(*cli(capsys, "train", *args, "--verbose", "0"), "already holds a run")
    assert cli(capsys, "train", "--resume", run_copy, "--epochs", "4", "--verbose", "0")[0] == 0


def test_stale_temporaries_are_removed_and_an_interrupted_first_write_is_reported(run_copy, tmp_path, capsys):
    stale = [
        run_copy / ".metrics.csv.abc123.tmp",
        run_copy / ".config.toml.x.tmp",
        run_copy / ".report.html.q.tmp",
    ]
    for path in stale:
        path.write_text("half")
    assert cli(capsys, "train", "--resume", run_copy, "--epochs", "4", "--verbose", "0")[0] == 0
    assert not any(path.exists() for path in stale)
    # A process killed while writing its first config.toml leaves only a temporary file.
    out = tmp_path / "fresh"
    (out / "new").mkdir(parents=True)
    (out / "new" / ".config.toml.zz.tmp").write_text("dataset = ")
    status, err = cli(capsys, "train", "--resume", out / "new", "--verbose", "0")
    assert_one_sentence(status, err, "before it wrote its config.toml", "same --name")
    status, err = cli(
        capsys, "train", "--dataset", "iris", "--epochs", "1", "--out", out, "--name", "new", "--verbose", "0"
    )
    assert status == 0, err
    assert not (out / "new" / ".config.toml.zz.tmp").exists()


@pytest.mark.parametrize(
    "edit, key",
    [
        ({"hidden": [7]}, "hidden"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"seed": 3}, "seed"),
        ({"val_split": 0.2}, "val_split"),
    ],
)
def test_resume_refuses_a_config_edited_in_ways_that_change_the_run(run_copy, capsys, edit, key):
    config = tomllib_load(run_copy / "config.toml")
    config.update(edit)
    (run_copy / "config.toml").write_text(dumps_toml(config))
    assert_one_sentence(*cli(capsys, "train", "--resume", run_copy, "--epochs", "4", "--verbose", "0"), key)


def test_resume_allows_more_epochs_in_the_config(run_copy, capsys):
    config = tomllib_load(run_copy / "config.toml")
    config["epochs"] = 4
    (run_copy / "config.toml").write_text(dumps_toml(config))
    status, err = cli(capsys, "train", "--resume", run_copy, "--verbose", "0")
    assert status == 0, err
    assert len((run_copy / "metrics.csv").read_text().splitlines()) == 5


def test_resume_takes_the_flags_that_leave_the_results_alone(run_copy, capsys):
    """A resumed run may start writing TensorBoard logs, or train longer; its numbers are the
    ones it would have had anyway."""
    pytest.importorskip("tensorboardX")
    args = ("train", "--resume", run_copy, "--epochs", "4", "--tensorboard", "--patience", "9")
    args += ("--verbose", "0")
    status, err = cli(capsys, *args)
    assert status == 0, err
    assert len((run_copy / "metrics.csv").read_text().splitlines()) == 5
    assert any((run_copy / "tensorboard").iterdir())
    status, err = cli(capsys, "train", "--resume", run_copy, "--name", "other", "--verbose", "0")
    assert_one_sentence(status, err, "not --name")


def test_config_of_a_saved_run_reruns_it_into_a_new_folder(run_copy, capsys, monkeypatch):
    """Issue 11, item 7: ``chainrule train --config runs/NAME/config.toml``."""
    monkeypatch.chdir(run_copy.parent.parent)
    config = tomllib_load(run_copy / "config.toml")
    config["out"] = "runs"
    (run_copy / "config.toml").write_text(dumps_toml(config))
    before = (run_copy / "model.safetensors").read_bytes()
    status, err = cli(capsys, "train", "--config", "runs/iris/config.toml", "--verbose", "0")
    assert status == 0, err
    rerun = run_copy.parent / "iris-2"
    assert (rerun / "model.safetensors").read_bytes() == before  # same config, same seed: same run
    assert tomllib_load(rerun / "config.toml")["name"] == "iris-2"
    assert cli(capsys, "train", "--config", "runs/iris/config.toml", "--verbose", "0")[0] == 0
    assert (run_copy.parent / "iris-3").is_dir()


# ---------------------------------------------------------------------------- 6. API errors
def test_linear_says_what_is_wrong():
    layer = nn.Linear(3, 2)
    with pytest.raises(TypeError, match="must be a chainrule Tensor, not list"):
        layer([[1.0, 2.0, 3.0]])
    for dtype in (np.int64, np.float64):
        expected = f"input dtype {np.dtype(dtype)} and weight dtype float32 differ"
        with pytest.raises(RuntimeError, match=expected):
            layer(chainrule.tensor(np.zeros((1, 3), dtype)))
    empty = nn.Linear(0, 3)  # as PyTorch: an empty layer, its output the bias
    expected = np.broadcast_to(empty.bias.array, (2, 3))
    np.testing.assert_array_equal(empty(chainrule.zeros(2, 0)).array, expected)
    with pytest.raises(ValueError, match="in_features must be >= 0"):
        nn.Linear(-1, 3)
    with pytest.raises(TypeError, match="out_features must be an int"):
        nn.Linear(3, 2.5)


def test_linear_dtype_errors_match_pytorch():
    """Both raise RuntimeError (chainrule's check above)."""
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="same dtype"):
        torch.nn.Linear(3, 2)(torch.zeros(1, 3, dtype=torch.float64))
    assert torch.nn.Linear(0, 3)(torch.zeros(2, 0)).shape == (2, 3)


def test_a_broadcast_mismatch_names_the_op_and_the_shapes():
    with pytest.raises(ValueError, match=r"Add: shapes \(2, 3\) and \(4, 3\) cannot be broadcast"):
        chainrule.ones(2, 3) + chainrule.ones(4, 3)
    with pytest.raises(ValueError, match=r"Mul: shapes"):
        chainrule.ones(2, 3) * chainrule.ones(4, 3)
