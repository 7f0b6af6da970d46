"""Run folders are self-contained: they carry the fitted preprocessing and the test split, so
`evaluate`, `predict` (on raw rows in the dataset's own form) and `audit` work from a copy of
the folder, in another working directory, after the training data is gone. Also the `.npy`
input reader on hostile files."""

from __future__ import annotations

import io
import shutil
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainrule import datasets
from chainrule.datasets.encoding import FeatureEncoder
from chainrule.datasets.npyfile import read_npy
from chainrule.train.run import ConfigError, LoadedRun, read_inputs
from tests.fuzzing import FUZZ, within_budget
from tests.test_cli import run_cli
from tests.test_csv_reader import rewriter

sklearn_datasets = pytest.importorskip("sklearn.datasets")

# sklearn's iris rows 0, 1 (setosa), 50, 51 (versicolor), 100, 101 (virginica)
IRIS_ROWS = [0, 1, 50, 51, 100, 101]
IRIS_TRUTH = ["setosa", "setosa", "versicolor", "versicolor", "virginica", "virginica"]


def one_line_error(result) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


# ------------------------------------------------------- what the loaders record
@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "diabetes", "digits"])
def test_the_recorded_preprocessing_turns_raw_rows_into_the_loaders_features(name):
    """scikit-learn's raw rows, encoded with the spec the loader recorded, are exactly the
    loader's test features; before, digits recorded nothing and the tables recorded arrays
    without column names."""
    splits = datasets.load(name)
    bunch = getattr(sklearn_datasets, f"load_{name}")()
    stratify = bunch.target if splits.task == "classification" else None
    _, test_idx = datasets.train_test_indices(len(bunch.target), 0.2, 0, stratify=stratify)
    encoder = FeatureEncoder.from_spec(splits.preprocessing)
    encoded = encoder.encode_array(bunch.data[test_idx], splits.x_test.shape[1:])
    np.testing.assert_array_equal(encoded, splits.x_test)
    # and both are what the documentation says, computed here with NumPy alone
    train_idx = np.setdiff1d(np.arange(len(bunch.target)), test_idx)
    if name == "digits":
        reference = bunch.data[test_idx] / 16.0
    else:
        train_rows = bunch.data[train_idx]
        std = train_rows.std(axis=0)
        reference = (bunch.data[test_idx] - train_rows.mean(axis=0)) / np.where(std == 0, 1.0, std)
    np.testing.assert_allclose(splits.x_test, reference, rtol=1e-5, atol=1e-6)
    if name != "digits":
        assert encoder.column_names == list(bunch.feature_names)


def test_image_scaling_is_bit_identical_for_bytes():
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 256)
    loader_way = pixels.astype(np.float32)
    loader_way /= np.float32(255.0)  # as datasets.mnist scales its bytes
    np.testing.assert_array_equal(FeatureEncoder.from_spec({"scale": 255.0}).encode_array(pixels), loader_way)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"scale": -1}, "scale must be a positive number"),
        ({"columns": []}, "'columns' must be a non-empty list"),
        ({"columns": [{"name": "a", "mean": 0.0, "std": 0.0}]}, "std > 0"),
        ({"columns": [{"name": "a", "mean": float("nan"), "std": 1.0}]}, "finite"),
        ({"columns": [{"name": "a", "categories": [1, 2]}]}, "list of strings"),
        ({"columns": [{"mean": 0.0, "std": 1.0}]}, "needs a name"),
        ({"columns": [{"name": "a", "mean": 0, "std": 1}] * 2}, "appears twice"),
        ({"columns": [{"name": "a", "mean": 0, "std": 1}], "fill_missing": "yes"}, "fill_missing"),
        ([1, 2], "expected a table"),
    ],
)
def test_a_tampered_preprocessing_spec_is_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        FeatureEncoder.from_spec(spec, "model.safetensors")


# ------------------------------------------------------------ built-in iris run
# The tests of each trained run below are one xdist_group, so a parallel run trains it once.
@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("iris_home")
    args = ["train", "--dataset", "iris", "--epochs", "100", "--lr", "0.01", "--name", "iris-100"]
    trained = run_cli([*args, "--verbose", "1"], home)
    assert trained.returncode == 0, trained.stderr
    elsewhere = tmp_path_factory.mktemp("another_machine")
    copy = elsewhere / "iris-100"
    shutil.copytree(home / "runs" / "iris-100", copy)
    shutil.rmtree(home)
    return trained, copy


@pytest.mark.xdist_group("test_portable_runs.iris_run")
def test_raw_iris_rows_predict_their_true_classes_from_a_copied_run_folder(iris_run, tmp_path):
    """Issue 11, case 1. Before: `versicolor versicolor virginica virginica virginica virginica`."""
    _, copy = iris_run
    bunch = sklearn_datasets.load_iris()
    raw = bunch.data[IRIS_ROWS]
    header = ",".join(bunch.feature_names)
    np.savetxt(tmp_path / "rows.csv", raw, delimiter=",", header=header, comments="", fmt="%.1f")
    np.savetxt(tmp_path / "bare.csv", raw, delimiter=",", fmt="%.1f")
    np.save(tmp_path / "rows.npy", raw)
    for name in ("rows.csv", "bare.csv", "rows.npy"):
        predicted = run_cli(["predict", copy, name], tmp_path)
        assert predicted.returncode == 0, predicted.stderr
        assert predicted.stdout.split() == IRIS_TRUTH, name


@pytest.mark.xdist_group("test_portable_runs.iris_run")
def test_evaluate_of_a_copied_builtin_run_needs_no_dataset(iris_run, tmp_path):
    trained, copy = iris_run
    evaluated = run_cli(["evaluate", copy], tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    trained_accuracy = float(trained.stdout.split("Test accuracy: ")[1].split("%")[0]) / 100
    evaluated_accuracy = float(evaluated.stdout.split("accuracy")[1].split()[0])
    assert evaluated_accuracy == pytest.approx(trained_accuracy, abs=1e-4)


@pytest.mark.xdist_group("test_portable_runs.iris_run")
def test_predict_names_missing_columns_and_shape_errors(iris_run, tmp_path):
    _, copy = iris_run
    (tmp_path / "partial.csv").write_text("sepal length (cm),petal width (cm)\n5.1,0.2\n")
    error = one_line_error(run_cli(["predict", copy, "partial.csv"], tmp_path))
    assert "'sepal width (cm)', 'petal length (cm)'" in error and "missing" in error
    np.save(tmp_path / "wide.npy", np.zeros((2, 5)))
    error = one_line_error(run_cli(["predict", copy, "wide.npy"], tmp_path))
    assert "rows of 4 raw values" in error and "sepal length (cm)" in error
    (tmp_path / "typo.csv").write_text("5.1,3.5,1.4,0.2\n5.1,3.5,1.4.1,0.2\n")
    error = one_line_error(run_cli(["predict", copy, "typo.csv"], tmp_path))
    assert "line 2, column 3: '1.4.1' is not a number" in error


# ----------------------------------------------------------------- a CSV run
def write_flowers(path, rows=None, drop=(), extra=False, garden_override=None):
    """sklearn's iris as a CSV with a text column (garden, unrelated to the species)."""
    bunch = sklearn_datasets.load_iris()
    rows = range(150) if rows is None else rows
    columns = ["sepal_length", "sepal_width", "petal_length", "petal_width", "garden", "species"]
    kept = [column for column in columns if column not in drop]
    lines = [",".join(([*kept, "note"] if extra else kept)[::-1])]  # reversed: order must not matter
    for row in rows:
        garden = garden_override or ["north", "south", "east"][row % 3]
        values = dict(
            zip(
                columns,
                [*(f"{v:.1f}" for v in bunch.data[row]), garden, bunch.target_names[bunch.target[row]]],
            )
        )
        cells = [values[column] for column in kept] + (["free text"] if extra else [])
        lines.append(",".join(cells[::-1]))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def flowers_run(tmp_path_factory):
    """Trained from its own folder with a relative --dataset path; then the CSV is deleted and
    the run folder copied elsewhere."""
    home = tmp_path_factory.mktemp("flowers_home")
    write_flowers(home / "flowers.csv")
    args = ["train", "--dataset", "flowers.csv", "--target", "species", "--epochs", "100", "--lr", "0.01"]
    trained = run_cli([*args, "--name", "rel", "--verbose", "1"], home)  # 1: it prints the test accuracy
    assert trained.returncode == 0, trained.stderr
    (home / "flowers.csv").unlink()
    copy = tmp_path_factory.mktemp("other_machine") / "rel"
    shutil.copytree(home / "runs" / "rel", copy)
    return trained, home / "runs" / "rel", copy


@pytest.mark.xdist_group("test_portable_runs.flowers_run")
def test_a_relative_csv_run_evaluates_from_another_folder_after_the_csv_is_gone(flowers_run, tmp_path):
    """Issue 11, case 3. Before: "dataset file 'people.csv' does not exist"."""
    trained, original, copy = flowers_run
    for run_dir in (original, copy):
        evaluated = run_cli(["evaluate", run_dir], tmp_path)
        assert evaluated.returncode == 0, evaluated.stderr
        trained_accuracy = float(trained.stdout.split("Test accuracy: ")[1].split("%")[0]) / 100
        assert float(evaluated.stdout.split("accuracy")[1].split()[0]) == pytest.approx(
            trained_accuracy, abs=1e-4
        )


@pytest.mark.xdist_group("test_portable_runs.flowers_run")
def test_a_csv_run_predicts_raw_rows_by_column_name(flowers_run, tmp_path):
    """Issue 11, case 1 for a CSV run. Before: "not a CSV of numbers"; the one-hot columns were
    the user's problem."""
    _, _, copy = flowers_run
    write_flowers(tmp_path / "new.csv", rows=IRIS_ROWS, drop=("species",), extra=True)
    predicted = run_cli(["predict", copy, "new.csv", "--output", "out.csv"], tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout.split() == IRIS_TRUTH
    assert (tmp_path / "out.csv").read_text().splitlines()[0].startswith("prediction,label,probability_")

    write_flowers(tmp_path / "gone.csv", rows=IRIS_ROWS, drop=("petal_width", "garden"))
    error = one_line_error(run_cli(["predict", copy, "gone.csv"], tmp_path))
    assert "missing: 'garden', 'petal_width'" in error  # in the training file's order

    write_flowers(tmp_path / "unseen.csv", rows=IRIS_ROWS, garden_override="west")
    error = one_line_error(run_cli(["predict", copy, "unseen.csv"], tmp_path))
    assert "column 'garden', line 2: 'west' was never seen in training" in error and "'east'" in error

    write_flowers(tmp_path / "empty_garden.csv", rows=IRIS_ROWS, garden_override=" ")
    predicted = run_cli(["predict", copy, "empty_garden.csv"], tmp_path)
    assert predicted.returncode == 0, predicted.stderr  # an empty category is "none of them"

    np.savetxt(tmp_path / "bare.csv", np.ones((2, 4)), delimiter=",")
    error = one_line_error(run_cli(["predict", copy, "bare.csv"], tmp_path))
    assert "text column(s) ['garden']" in error and "header row" in error


@pytest.mark.xdist_group("test_portable_runs.flowers_run")
def test_audit_works_from_anywhere_with_its_data(flowers_run, tmp_path):
    """Issue 11, case 3 for audit. Before: it reloaded the training CSV by its relative path."""
    _, _, copy = flowers_run
    write_flowers(tmp_path / "audit.csv")
    audited = run_cli(
        ["audit", copy, "--data", "audit.csv", "--sensitive", "garden", "--pos-label", "setosa"], tmp_path
    )
    assert audited.returncode == 0, audited.stderr
    assert "Fairness audit by garden" in audited.stdout and (copy / "audit.json").is_file()


# --------------------------------------------------------- strict typing on the CLI
def test_a_typo_cell_stops_training_with_one_sentence(tmp_path):
    """Issue 11, case 2. Before: exit 0, "no problems found", and the input width went 2 -> 145."""
    from tests.test_csv_reader import write_prices

    write_prices(tmp_path / "prices.csv", bad_cell="1.2.3", bad_row=5)
    result = run_cli(["train", "--dataset", "prices.csv", "--target", "label", "--epochs", "1"], tmp_path)
    error = one_line_error(result)
    assert "column 'price' holds numbers, but line 7: '1.2.3' is not" in error
    assert not (tmp_path / "runs").exists()


def test_an_identifier_column_is_refused_then_dropped(tmp_path):
    from tests.test_csv_reader import write_with_ids

    write_with_ids(tmp_path / "ids.csv")
    args = ["train", "--dataset", "ids.csv", "--target", "label", "--epochs", "1", "--verbose", "0"]
    error = one_line_error(run_cli(args, tmp_path))
    assert "text column 'id' has 240 distinct values" in error and "--drop-columns 'id'" in error
    trained = run_cli([*args, "--drop-columns", "id", "--name", "no-id"], tmp_path)
    assert trained.returncode == 0, trained.stderr
    from chainrule.train.config import read_toml

    assert read_toml(tmp_path / "runs" / "no-id" / "config.toml")["drop_columns"] == ["id"]


def test_csv_options_are_refused_for_builtin_datasets(tmp_path):
    error = one_line_error(run_cli(["train", "--dataset", "iris", "--drop-columns", "x"], tmp_path))
    assert "drop_columns is for a .csv dataset" in error


# ------------------------------------------------------------------- .npy bombs
def npy_header(shape, descr="<f4", version=(1, 0), total=384) -> bytes:
    """A hand-made .npy header (independent of NumPy's writer), padded to ``total`` bytes."""
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}".encode("latin1")
    prefix_size = 10 if version == (1, 0) else 12
    header += b" " * (total - prefix_size - len(header) - 1) + b"\n"
    size = len(header).to_bytes(2 if version == (1, 0) else 4, "little")
    return b"\x93NUMPY" + bytes(version) + size + header


def test_npy_bombs_are_one_sentence_with_bounded_memory(tmp_path):
    """Before: EOFError / AttributeError tracebacks, and a 23 TiB allocation for a 384-byte file."""
    cases = {
        "empty.npy": (b"", "is empty"),
        "huge.npy": (npy_header((10**11, 64)), "header says shape (100000000000, 64)"),
        "short.npy": (npy_header((10, 4)) + b"\0" * 12, "holds 12 bytes of data"),
        "objects.npy": (npy_header((2,), descr="|O"), "holds object data"),
        "garbage.npy": (b"\x93NUMPY\x01\x00\x20\x00garbage{(\x00" + b" " * 23, "damaged .npy header"),
        "long_header.npy": (b"\x93NUMPY\x01\x00\xff\xffgarbage", "header claims 65535 bytes"),
        "text.npy": (b"1,2,3\n", "not a .npy file"),
    }
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("x.npy", b"")
    cases["zip.npy"] = (archive.getvalue(), "is a zip archive")
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        error = within_budget(lambda path=path: read_npy(path), ValueError, memory_budget=2**20)
        assert error is not None and message in str(error), (name, error)
        assert "\n" not in str(error)
    # and on the command line: exit 2, one line
    np.savez(tmp_path / "arrays.npz", x=np.zeros(3))
    shutil.copy(tmp_path / "arrays.npz", tmp_path / "disguised.npy")
    run_dir = make_tiny_run(tmp_path)
    for name in ("empty.npy", "huge.npy", "disguised.npy"):
        one_line_error(run_cli(["predict", run_dir, name], tmp_path))


def make_tiny_run(tmp_path):
    result = run_cli(
        [
            "train",
            "--dataset",
            "iris",
            "--epochs",
            "1",
            "--name",
            "tiny",
            "--verbose",
            "0",
            "--val-split",
            "0",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    return tmp_path / "runs" / "tiny"


def test_npy_round_trip_and_orders(tmp_path):
    array = np.arange(12, dtype=">i2").reshape(3, 4)
    for order in ("C", "F"):
        np.save(tmp_path / f"{order}.npy", np.asarray(array, order=order))
        np.testing.assert_array_equal(read_npy(tmp_path / f"{order}.npy"), array)


# ------------------------------------------------------------------------- fuzz
def _valid_npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@st.composite
def npy_bytes(draw):
    """Real .npy files of small arrays, then damaged: truncated, bytes overwritten, bytes
    inserted; or a hand-made header with a drawn shape and dtype; or raw bytes."""
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.binary(max_size=300))
    if kind == 1:
        shape = draw(st.lists(st.integers(0, 2**40), max_size=4).map(tuple))
        descr = draw(st.sampled_from(["<f4", ">f8", "|u1", "|b1", "<i8", "|O", "<U3", "<c8", "V4", "zz"]))
        return npy_header(shape, descr=descr, total=draw(st.sampled_from([64, 128, 384]))) + draw(
            st.binary(max_size=64)
        )
    dtype = draw(st.sampled_from(["<f4", ">f8", "u1", "?", "<i2"]))
    shape = draw(st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple))
    content = bytearray(_valid_npy(np.zeros(shape, dtype=dtype)))
    for _ in range(draw(st.integers(0, 3))):
        position = draw(st.integers(0, max(len(content) - 1, 0)))
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip" and content:
            content[position] = draw(st.integers(0, 255))
        elif action == "cut":
            del content[position:]
        else:
            content[position:position] = draw(st.binary(min_size=1, max_size=8))
    return bytes(content)


def test_fuzz_npy_input_reader(tmp_path):
    """`predict`'s input reader on 2,000 damaged .npy files: a ConfigError or a valid array,
    within the memory and time budget."""
    path = tmp_path / "fuzz.npy"
    handle, rewrite = rewriter(path)
    encoder = FeatureEncoder.from_spec(
        {"columns": [{"name": f"c{i}", "mean": 0.0, "std": 1.0} for i in range(4)]}
    )
    tables = LoadedRun(config={}, model=None, description={"input_shape": [4]}, encoder=encoder)
    images = LoadedRun(
        config={}, model=None, description={"input_shape": [1, 2, 2]}, encoder=FeatureEncoder(scale=255.0)
    )

    @FUZZ
    @given(content=npy_bytes(), as_images=st.booleans())
    def check(content, as_images):
        rewrite(content)
        loaded = images if as_images else tables
        error = within_budget(lambda: read_inputs(path, loaded), ConfigError)
        if error is None:
            features = read_inputs(path, loaded)
            assert features.dtype == np.float32 and features.shape[1:] == tuple(
                loaded.description["input_shape"]
            )
            assert np.isfinite(features).all()
        else:
            assert "\n" not in str(error)

    with handle:
        check()


# ------------------------------------------------------------------ the stored test split
def test_image_test_splits_are_stored_as_bytes_and_evaluate_exactly(tmp_path):
    from safetensors.numpy import load_file, save_file

    from chainrule.train.run import evaluate_run, train_run

    config = {"dataset": "digits", "epochs": 1, "hidden": [8], "out": str(tmp_path), "name": "d"}
    result = train_run(config, verbose=0)
    stored = load_file(str(result.run_dir / "test.safetensors"))
    assert set(stored) == {"x_raw", "y"} and stored["x_raw"].dtype == np.uint8
    assert stored["x_raw"].max() == 16  # digits' raw pixel counts
    metrics, _, _ = evaluate_run(result.run_dir)
    assert metrics == result.test_metrics

    save_file(
        {"x": np.zeros((3, 5), np.float32), "y": stored["y"][:3]}, str(result.run_dir / "test.safetensors")
    )
    with pytest.raises(ConfigError, match=r"test.safetensors does not fit the model: x has shape \(3, 5\)"):
        evaluate_run(result.run_dir)
    save_file({"y": stored["y"]}, str(result.run_dir / "test.safetensors"))
    with pytest.raises(ConfigError, match="either 'x' or 'x_raw'"):
        evaluate_run(result.run_dir)


def test_a_header_of_numeric_looking_column_names_is_recognised(tmp_path):
    spec = {
        "columns": [{"name": "2019", "mean": 0.0, "std": 1.0}, {"name": "2020", "mean": 10.0, "std": 2.0}]
    }
    loaded = LoadedRun({}, None, {"input_shape": [2]}, FeatureEncoder.from_spec(spec))
    (tmp_path / "years.csv").write_text("2020,2019\n12,1\n")
    np.testing.assert_array_equal(read_inputs(tmp_path / "years.csv", loaded), [[1.0, 1.0]])
    (tmp_path / "bare.csv").write_text("1,12\n")
    np.testing.assert_array_equal(read_inputs(tmp_path / "bare.csv", loaded), [[1.0, 1.0]])


# ------------------------------------------- the dataset a run or config file names
def _two_class_csv(path, rows=24, label=lambda i: "yes" if i % 2 else "no"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("a,b,label\n" + "".join(f"{i},{i % 5},{label(i)}\n" for i in range(rows)))
    return path


def _train(capsys, cwd, monkeypatch, *args):
    """``chainrule train`` in this process from ``cwd``, without its HTML report: these tests are
    about which data file is read, and the report's plots would cost a second a run."""
    from chainrule.cli import main

    monkeypatch.setattr("chainrule.train.run.write_run_report", lambda *args, **kwargs: None)
    monkeypatch.chdir(cwd)
    capsys.readouterr()
    status = main(["train", *map(str, args), "--verbose", "0"])
    error = capsys.readouterr().err
    assert status == 0 or (status == 2 and len(error.strip().splitlines()) == 1), error
    return status, error


def test_a_moved_run_resumes_from_anywhere_on_the_dataset_it_recorded(tmp_path, monkeypatch, capsys):
    """A relative --dataset is recorded as an absolute path and the file's SHA-256: the run
    folder may move and be resumed from another folder (holding a decoy of the same name), and
    a changed file is refused rather than silently trained on."""
    import hashlib

    from chainrule.train.run import read_toml

    data = _two_class_csv(tmp_path / "home" / "data.csv")
    _train(capsys, data.parent, monkeypatch, "--dataset", "data.csv", "--target", "label", "--epochs", "1",
           "--name", "r")
    moved = tmp_path / "elsewhere" / "r"
    shutil.move(data.parent / "runs" / "r", moved)
    config = read_toml(moved / "config.toml")
    assert config["dataset"] == str(data)
    assert config["dataset_sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()

    _two_class_csv(tmp_path / "decoy" / "data.csv", rows=30)
    assert _train(capsys, tmp_path / "decoy", monkeypatch, "--resume", moved, "--epochs", "2")[0] == 0
    assert len((moved / "metrics.csv").read_text().splitlines()) == 3  # header, epochs 1 and 2

    with data.open("a") as file:
        file.write("99,1,yes\n")
    status, error = _train(capsys, tmp_path, monkeypatch, "--resume", moved, "--epochs", "3")
    assert status == 2 and f"{moved / 'config.toml'}: dataset file {str(data)!r} is not the file" in error
    assert "a run resumes only on the data it was trained on" in error
    status, error = _train(capsys, tmp_path, monkeypatch, "--config", moved / "config.toml")
    assert status == 2 and "or delete dataset_sha256 from" in error and not (tmp_path / "runs").exists()

    # Moved data: named in one sentence; once config.toml says where, the same content resumes.
    original = data.read_text().removesuffix("99,1,yes\n")
    data.unlink()
    status, error = _train(capsys, tmp_path, monkeypatch, "--resume", moved, "--epochs", "3")
    assert status == 2 and f"dataset file {str(data)!r} does not exist; put it back there or write" in error
    new_place = tmp_path / "archive" / "data.csv"
    new_place.parent.mkdir()
    new_place.write_text(original)
    text = (moved / "config.toml").read_text()
    (moved / "config.toml").write_text(text.replace(repr(str(data)).replace("'", '"'), f'"{new_place}"'))
    assert _train(capsys, tmp_path, monkeypatch, "--resume", moved, "--epochs", "3")[0] == 0
    assert len((moved / "metrics.csv").read_text().splitlines()) == 4


def test_a_config_files_relative_paths_are_relative_to_its_folder(tmp_path, monkeypatch, capsys):
    """As in most tools: the config and its data travel together; a flag speaks from the
    working directory."""
    from chainrule.train.run import read_toml

    project = tmp_path / "project"
    data = _two_class_csv(project / "data" / "people.csv")
    (project / "train.toml").write_text('dataset = "data/people.csv"\ntarget = "label"\nepochs = 1\n')
    # A single-class file of the same name where the command runs: training on it would fail.
    _two_class_csv(tmp_path / "data" / "people.csv", label=lambda i: "yes")
    assert _train(capsys, tmp_path, monkeypatch, "--config", project / "train.toml", "--name", "c")[0] == 0
    assert read_toml(tmp_path / "runs" / "c" / "config.toml")["dataset"] == str(data)

    # A run's own config trained again with --dataset: the flag's file, relative to the
    # working directory, and its own hash (the recorded one belongs to the config's file).
    other = _two_class_csv(tmp_path / "other.csv", rows=30)
    args = ("--config", tmp_path / "runs" / "c" / "config.toml", "--dataset", "other.csv", "--name", "d")
    assert _train(capsys, tmp_path, monkeypatch, *args)[0] == 0
    assert read_toml(tmp_path / "runs" / "d" / "config.toml")["dataset"] == str(other)


def test_a_config_files_model_file_is_relative_to_its_folder(tmp_path, monkeypatch, capsys):
    """``model = "net.py:Net"`` in a config is the config's neighbour, like its dataset: a file
    of the same name where the command runs is never imported, and the run records the
    absolute path of the file it ran."""
    from chainrule.train.run import read_toml

    project = tmp_path / "project"
    _two_class_csv(project / "people.csv")
    (project / "net.py").write_text(
        "from chainrule import nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, in_features, num_classes):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(in_features, num_classes)\n"
        "    def forward(self, x):\n"
        "        return self.fc(x)\n"
    )
    (project / "train.toml").write_text(
        'dataset = "people.csv"\ntarget = "label"\nepochs = 1\nmodel = "net.py:Net"\n'
    )
    (tmp_path / "net.py").write_text("raise SystemExit('the working directory net.py was imported')\n")
    args = ("--config", project / "train.toml", "--name", "m", "--trust-model-code")
    assert _train(capsys, tmp_path, monkeypatch, *args)[0] == 0
    assert read_toml(tmp_path / "runs" / "m" / "config.toml")["model"] == f"{project / 'net.py'}:Net"

    # A flag speaks from the working directory, and is recorded absolute too.
    (tmp_path / "net.py").write_text((project / "net.py").read_text())
    args = ("--dataset", project / "people.csv", "--target", "label", "--epochs", "1", "--name", "f")
    assert _train(capsys, tmp_path, monkeypatch, *args, "--model", "net.py:Net")[0] == 0
    assert read_toml(tmp_path / "runs" / "f" / "config.toml")["model"] == f"{tmp_path / 'net.py'}:Net"
