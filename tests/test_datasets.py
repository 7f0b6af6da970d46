"""Dataset loaders: splits, IDX files, MNIST downloads (served locally), MNIST-1D and CSV."""

from __future__ import annotations

import gzip
import hashlib
import random
import struct
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from chainrule import datasets
from chainrule.datasets import DatasetSplits, IDXFormatError, read_idx, train_test_indices

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


# ----------------------------------------------------------------------------- helpers
def write_idx(path: Path, array: np.ndarray, type_code: int = 0x08, compress: bool = False) -> Path:
    """Write ``array`` as an IDX file by hand (independently of the reader under test)."""
    big_endian = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(big_endian[type_code]).tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


def tiny_mnist(root: Path, splits=("train", "test"), compress=True, seed=0) -> dict:
    """Write small MNIST-format files; return the arrays written, keyed by split."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, count in (("train", 5), ("test", 3)):
        if split not in splits:
            continue
        prefix = "train" if split == "train" else "t10k"
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255  # make sure both ends of the range occur
        labels = rng.integers(0, 10, size=count, dtype=np.uint8)
        suffix = ".gz" if compress else ""
        write_idx(root / f"{prefix}-images-idx3-ubyte{suffix}", images, compress=compress)
        write_idx(root / f"{prefix}-labels-idx1-ubyte{suffix}", labels, compress=compress)
        written[split] = (images, labels)
    return written


def sorted_rows(x: np.ndarray) -> np.ndarray:
    flat = x.reshape(len(x), -1)
    return flat[np.lexsort(flat.T[::-1])]


# ----------------------------------------------------------------------------- splitting
def test_split_is_a_deterministic_partition():
    train, test = train_test_indices(50, test_size=0.2, seed=3)
    assert len(test) == 10 and len(train) == 40
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(50))
    again_train, again_test = train_test_indices(50, test_size=0.2, seed=3)
    np.testing.assert_array_equal(train, again_train)
    np.testing.assert_array_equal(test, again_test)
    _, other_test = train_test_indices(50, test_size=0.2, seed=4)
    assert set(other_test.tolist()) != set(test.tolist())


def test_stratified_split_keeps_class_proportions():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    train, test = train_test_indices(100, test_size=0.2, seed=0, stratify=labels)
    # 20% of each class: 10, 6 and 4 test samples.
    assert np.bincount(labels[test]).tolist() == [10, 6, 4]
    assert np.bincount(labels[train]).tolist() == [40, 24, 16]
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(100))


def test_stratified_split_puts_every_class_in_both_splits():
    labels = np.array([0] * 20 + [1, 1])  # class 1 would get 0.4 test samples if rounded
    train, test = train_test_indices(22, test_size=0.2, seed=0, stratify=labels)
    assert 1 in labels[train] and 1 in labels[test]
    assert len(train) + len(test) == 22


def test_split_test_count_matches_scikit_learn():
    model_selection = pytest.importorskip("sklearn.model_selection")
    for n, size in ((1797, 0.2), (569, 0.25), (10, 0.33)):
        _, expected_test = model_selection.train_test_split(np.arange(n), test_size=size)
        assert len(train_test_indices(n, size)[1]) == len(expected_test)


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5, -0.1, 0, 10, "0.2", True])
def test_split_rejects_bad_test_size(bad):
    with pytest.raises((ValueError, TypeError), match="test_size"):
        train_test_indices(10, test_size=bad)


def test_stratified_split_rejects_singleton_class():
    with pytest.raises(ValueError, match=r"class\(es\) \[7\]"):
        train_test_indices(5, 0.4, stratify=np.array([0, 0, 1, 1, 7]))


# ----------------------------------------------------------------------------- DatasetSplits
def test_dataset_splits_checks_lengths_and_reports_task():
    with pytest.raises(ValueError, match="x_train has 3 samples but y_train has 2"):
        DatasetSplits(x_train=np.zeros((3, 2)), y_train=np.zeros(2), x_test=None, y_test=None,
                      name="bad", num_classes=2)
    with pytest.raises(ValueError, match="both be None"):
        DatasetSplits(x_train=np.zeros((3, 2)), y_train=np.zeros(3), x_test=np.zeros((1, 2)),
                      y_test=None, name="bad", num_classes=2)
    splits = DatasetSplits(x_train=np.zeros((3, 2)), y_train=np.zeros(3), x_test=None,
                           y_test=None, name="reg", num_classes=None)
    assert splits.task == "regression"
    assert "x_train=(3, 2)" in repr(splits) and "x_test=None" in repr(splits)


# ----------------------------------------------------------------------------- scikit-learn sets
# Sizes as documented by scikit-learn: (samples, features, classes or None for regression).
SKLEARN_SETS = {
    "digits": (1797, 64, 10),
    "breast_cancer": (569, 30, 2),
    "wine": (178, 13, 3),
    "iris": (150, 4, 3),
    "diabetes": (442, 10, None),
}


@pytest.mark.parametrize("name", list(SKLEARN_SETS))
def test_sklearn_loader_shapes_dtypes_and_split(name):
    pytest.importorskip("sklearn")
    num_samples, num_features, num_classes = SKLEARN_SETS[name]
    data = datasets.load(name, seed=1)
    assert data.name == name and data.num_classes == num_classes
    assert len(data.x_train) + len(data.x_test) == num_samples
    assert len(data.x_test) == int(np.ceil(0.2 * num_samples))
    assert data.x_train.shape[1:] == (num_features,) and data.x_train.dtype == np.float32
    assert len(data.feature_names) == num_features
    if num_classes is None:
        assert data.y_train.dtype == np.float32 and data.task == "regression"
    else:
        assert data.y_train.dtype == np.int64
        all_labels = np.concatenate([data.y_train, data.y_test])
        counts = np.bincount(all_labels, minlength=num_classes)
        # Stratified: each class's test share is within one sample of 20%.
        test_counts = np.bincount(data.y_test, minlength=num_classes)
        assert np.all(np.abs(test_counts - 0.2 * counts) <= 1)
        assert len(data.classes) == num_classes
    again = datasets.load(name, seed=1)
    np.testing.assert_array_equal(data.x_test, again.x_test)
    other = datasets.load(name, seed=2)
    assert not np.array_equal(data.y_train, other.y_train) or not np.array_equal(
        data.x_train, other.x_train)


def test_digits_pixels_are_the_original_data_scaled_to_unit_range():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    data = datasets.digits()
    original = sklearn_datasets.load_digits()
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    joined = np.concatenate([data.x_train, data.x_test])
    np.testing.assert_allclose(sorted_rows(joined), sorted_rows(original.data / 16.0), atol=1e-7)
    images = datasets.digits(flatten=False)
    assert images.x_train.shape == (len(data.x_train), 1, 8, 8)
    np.testing.assert_array_equal(images.x_train.reshape(-1, 64), data.x_train)


def test_standardisation_uses_training_statistics_only():
    pytest.importorskip("sklearn")
    raw = datasets.wine(seed=5, standardize=False)
    scaled = datasets.wine(seed=5)
    mean, std = raw.x_train.mean(axis=0), raw.x_train.std(axis=0)
    np.testing.assert_allclose(scaled.x_train, (raw.x_train - mean) / std, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(scaled.x_test, (raw.x_test - mean) / std, rtol=1e-4, atol=1e-4)
    stored_mean = [entry["mean"] for entry in scaled.preprocessing["columns"]]
    np.testing.assert_allclose(stored_mean, mean, rtol=1e-5)
    # Statistics of all rows differ from the training ones, so this would catch leakage.
    full_mean = np.concatenate([raw.x_train, raw.x_test]).mean(axis=0)
    assert not np.allclose(full_mean, mean, rtol=1e-5)


def test_missing_scikit_learn_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r'pip install "chainrule\[datasets\]"'):
        datasets.iris()


def test_load_rejects_unknown_name_listing_valid_ones():
    with pytest.raises(ValueError) as error:
        datasets.load("cifar10")
    for name in ("digits", "breast_cancer", "wine", "iris", "diabetes", "mnist",
                 "fashion_mnist", "mnist1d"):
        assert name in str(error.value)
    assert set(datasets.list_datasets()) == {
        "digits", "breast_cancer", "wine", "iris", "diabetes", "mnist", "fashion_mnist", "mnist1d"}


# ----------------------------------------------------------------------------- IDX reader
@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize(
    "type_code, values",
    [
        (0x08, np.array([[0, 7, 255], [1, 2, 3]], dtype=np.uint8)),
        (0x09, np.array([-128, 0, 127], dtype=np.int8)),
        (0x0B, np.array([[-30000, 2], [3, 30000]], dtype=np.int16)),
        (0x0C, np.array([[-(2**31)], [2**31 - 1]], dtype=np.int32)),
        (0x0D, np.array([1.5, -2.25, 1e30], dtype=np.float32)),
        (0x0E, np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 7),
    ],
)
def test_read_idx_round_trip(tmp_path, type_code, values, compress):
    path = write_idx(tmp_path / "data.idx", values, type_code, compress)
    result = read_idx(path)
    assert result.shape == values.shape and result.dtype == values.dtype
    assert result.dtype.isnative
    np.testing.assert_array_equal(result, values)
    result[...] = 0  # the array must be writable (not a view of the file's bytes)


def test_read_idx_rejects_bad_magic(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(struct.pack(">I", 0x12345678) + b"\0" * 16)
    with pytest.raises(IDXFormatError, match="magic number"):
        read_idx(path)
    unknown_type = tmp_path / "unknown_type"
    unknown_type.write_bytes(bytes([0, 0, 0x0A, 1]) + struct.pack(">I", 1) + b"\0")
    with pytest.raises(IDXFormatError, match="type code"):
        read_idx(unknown_type)


def test_read_idx_checks_expected_magic(tmp_path):
    labels = write_idx(tmp_path / "labels", np.array([1, 2, 3], dtype=np.uint8))
    assert read_idx(labels, expected_magic=2049).tolist() == [1, 2, 3]
    with pytest.raises(IDXFormatError, match="2051 was expected"):
        read_idx(labels, expected_magic=2051)


def test_read_idx_rejects_truncated_and_corrupt_files(tmp_path):
    path = write_idx(tmp_path / "images", np.zeros((2, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(IDXFormatError, match="truncated"):
        read_idx(path)
    noise = np.random.default_rng(0).integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    corrupt = write_idx(tmp_path / "corrupt.gz", noise, compress=True)
    corrupt.write_bytes(corrupt.read_bytes()[:1000])  # cut inside the compressed stream
    with pytest.raises(IDXFormatError, match="gzip"):
        read_idx(corrupt)
    with pytest.raises(IDXFormatError, match="too short"):
        (tmp_path / "empty").write_bytes(b"")
        read_idx(tmp_path / "empty")


# ----------------------------------------------------------------------------- MNIST files
@pytest.mark.parametrize("compress", [True, False])
def test_mnist_reads_local_files(tmp_path, compress):
    written = tiny_mnist(tmp_path, compress=compress)
    data = datasets.mnist(tmp_path, download=False)
    for split in ("train", "test"):
        images, labels = written[split]
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        assert x.shape == (len(images), 1, 28, 28) and x.dtype == np.float32
        assert y.dtype == np.int64 and y.tolist() == labels.tolist()
        np.testing.assert_allclose(x[:, 0], images / 255.0, rtol=1e-6)
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    assert data.num_classes == 10
    flat = datasets.mnist(tmp_path, download=False, flatten=True)
    assert flat.x_test.shape == (3, 784)
    np.testing.assert_array_equal(flat.x_test, data.x_test.reshape(3, 784))


def test_mnist_test_split_only(tmp_path):
    written = tiny_mnist(tmp_path, splits=("test",))
    data = datasets.mnist(tmp_path, download=False, splits=("test",))
    assert data.x_train is None and data.y_train is None
    assert data.y_test.tolist() == written["test"][1].tolist()
    with pytest.raises(ValueError, match="splits"):
        datasets.mnist(tmp_path, download=False, splits=("validation",))


def test_mnist_missing_files_error_names_files_and_directory(tmp_path):
    tiny_mnist(tmp_path, splits=("test",))
    with pytest.raises(FileNotFoundError) as error:
        datasets.mnist(tmp_path, download=False)
    message = str(error.value)
    assert message == (
        f"MNIST files train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz (or unpacked, without "
        f".gz) are missing from {tmp_path}; call mnist(download=True) with network access, or place them "
        f"there or point root= (on the command line --data-dir) at the folder holding them, or load "
        f"the test split alone with mnist(root=..., splits=('test',))"
    )


def test_fashion_mnist_default_root_in_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as error:
        datasets.fashion_mnist(download=False)
    assert str(tmp_path / ".cache" / "chainrule" / "fashion_mnist") in str(error.value)
    assert "Fashion-MNIST" in str(error.value)


def test_mnist_rejects_mismatched_files(tmp_path):
    tiny_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(7, dtype=np.uint8), compress=True)
    with pytest.raises(ValueError, match="do not belong together"):
        datasets.mnist(tmp_path, download=False)


# ----------------------------------------------------------------------------- downloads
class FakeServer:
    """Serves files from a local directory in place of the network, counting requests."""

    def __init__(self, directory: Path | None, fail_hosts: tuple[str, ...] = ()):
        self.directory = directory
        self.fail_hosts = fail_hosts
        self.requests: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.requests.append(url)
        if self.directory is None or any(host in url for host in self.fail_hosts):
            raise urllib.error.URLError("no network in tests")
        return (self.directory / url.rsplit("/", 1)[1]).read_bytes()


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_download_offline_raises_file_not_found(tmp_path, monkeypatch):
    from chainrule.datasets import _mnist

    server = FakeServer(None)
    monkeypatch.setattr(_mnist, "_fetch", server)
    root = tmp_path / "cache"
    with pytest.raises(FileNotFoundError) as error:
        datasets.mnist(root)
    message = str(error.value)
    assert "\n" not in message and "t10k-images-idx3-ubyte.gz and t10k-labels" in message
    assert "downloading them failed (<urlopen error no network in tests> from all 12 URLs tried" in message
    assert len(server.requests) == 4 * len(_mnist._MNIST.mirrors)  # every file, every mirror
    assert list(root.iterdir()) == []  # nothing half-written


def test_download_rejects_checksum_mismatch(tmp_path, monkeypatch):
    from chainrule.datasets import _mnist

    served = tmp_path / "served"
    tiny_mnist(served)  # valid IDX files, but not the published ones: their MD5s differ
    server = FakeServer(served)
    monkeypatch.setattr(_mnist, "_fetch", server)
    root = tmp_path / "cache"
    with pytest.raises(FileNotFoundError, match="MD5 checksum does not match the published one"):
        datasets.mnist(root, splits=("test",))
    assert list(root.iterdir()) == []
    assert len(server.requests) == 2 * len(_mnist._MNIST.mirrors)


def test_download_verifies_saves_and_reuses_files(tmp_path, monkeypatch):
    from chainrule.datasets import _mnist

    served = tmp_path / "served"
    written = tiny_mnist(served, seed=1)
    for name in _mnist._MNIST.md5:  # pretend our tiny files are the published ones
        monkeypatch.setitem(_mnist._MNIST.md5, name, md5_of(served / f"{name}.gz"))
    first_mirror = _mnist._MNIST.mirrors[0].split("/")[2]
    server = FakeServer(served, fail_hosts=(first_mirror,))  # the first mirror is down
    monkeypatch.setattr(_mnist, "_fetch", server)
    root = tmp_path / "cache"
    data = datasets.mnist(root)
    assert data.y_train.tolist() == written["train"][1].tolist()
    assert sorted(path.name for path in root.iterdir()) == sorted(
        f"{name}.gz" for name in _mnist._MNIST.md5)
    assert len(server.requests) == 8  # each file: first mirror fails, second serves it
    server.requests.clear()
    datasets.mnist(root)
    assert server.requests == []  # files on disk are not fetched again


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    from chainrule import files
    from chainrule.datasets import _mnist

    def broken_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    target = tmp_path / "t10k-labels-idx1-ubyte.gz"
    with pytest.raises(OSError, match="disk full"):
        _mnist.atomic_write_bytes(target, b"payload")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not MNIST_DIR.is_dir(), reason="the shared MNIST test files are absent")
def test_real_mnist_test_split():
    data = datasets.mnist(MNIST_DIR, download=False, splits=("test",))
    assert data.x_test.shape == (10000, 1, 28, 28)
    assert data.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    # Class counts as documented in the folder's README.
    assert np.bincount(data.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028,
                                                 974, 1009]
    assert data.x_test.min() == 0.0 and data.x_test.max() == 1.0


# ----------------------------------------------------------------------------- MNIST-1D
def test_mnist1d_matches_package_and_keeps_global_rng():
    mnist1d_data = pytest.importorskip("mnist1d.data")
    np.random.seed(123)
    random.seed(123)
    expected_numpy, expected_python = np.random.rand(), random.random()
    np.random.seed(123)
    random.seed(123)
    data = datasets.mnist1d(seed=7, num_samples=200)
    assert (np.random.rand(), random.random()) == (expected_numpy, expected_python)

    assert data.x_train.shape == (160, 40) and data.x_test.shape == (40, 40)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert set(np.concatenate([data.y_train, data.y_test]).tolist()) == set(range(10))
    args = mnist1d_data.get_dataset_args()
    args.seed, args.num_samples = 7, 200
    reference = mnist1d_data.make_dataset(args)
    np.testing.assert_allclose(data.x_train, reference["x"], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(data.y_test, reference["y_test"])
    other = datasets.mnist1d(seed=8, num_samples=200)
    assert not np.allclose(other.x_train, data.x_train)


def test_missing_mnist1d_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "mnist1d", None)
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(ImportError, match=r"chainrule\[datasets\]"):
        datasets.mnist1d()


# ----------------------------------------------------------------------------- CSV
def write_csv(path: Path, header: list[str], rows: list[list], delimiter=",") -> Path:
    lines = [delimiter.join(header)] + [delimiter.join(str(cell) for cell in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def make_table(num_rows=40, seed=0):
    """Rows (row_id, size, colour, label) where label is decided by size."""
    rng = np.random.default_rng(seed)
    rows = []
    for row_id in range(num_rows):
        size = float(np.round(rng.uniform(0, 10), 3))
        colour = ["red", "green", "blue"][row_id % 3]
        rows.append([row_id, size, colour, "big" if size > 5 else "small"])
    return rows


def column_stats(data: DatasetSplits, name: str) -> dict:
    """The fitted statistics of one raw column, from the preprocessing spec."""
    (entry,) = [entry for entry in data.preprocessing["columns"] if entry["name"] == name]
    return {key: value for key, value in entry.items() if key != "name"}


def recover_ids(data: DatasetSplits, x: np.ndarray) -> np.ndarray:
    stats = column_stats(data, "row_id")
    column = data.feature_names.index("row_id")
    return np.round(x[:, column] * stats["std"] + stats["mean"]).astype(int)


def test_csv_classification_standardised_with_training_statistics(tmp_path):
    rows = make_table()
    path = write_csv(tmp_path / "shapes.csv", ["row_id", "size", "colour", "label"], rows)
    data = datasets.csv(path, target="label", seed=1)
    assert data.name == "shapes" and data.num_classes == 2 and data.classes == ["big", "small"]
    assert data.feature_names == ["row_id", "size", "colour=blue", "colour=green", "colour=red"]
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    train_ids, test_ids = recover_ids(data, data.x_train), recover_ids(data, data.x_test)
    assert sorted([*train_ids, *test_ids]) == list(range(len(rows)))
    sizes = np.array([row[1] for row in rows])
    train_sizes = sizes[train_ids]
    mean, std = train_sizes.mean(), train_sizes.std()
    assert column_stats(data, "size")["mean"] == pytest.approx(mean)
    assert column_stats(data, "size")["std"] == pytest.approx(std)
    size_column = data.feature_names.index("size")
    np.testing.assert_allclose(data.x_test[:, size_column], (sizes[test_ids] - mean) / std,
                               rtol=1e-5, atol=1e-5)
    # Labels follow the rule that made them: class 0 ("big") iff size > 5.
    assert np.array_equal(data.y_train == 0, train_sizes > 5)
    assert np.array_equal(data.y_test == 0, sizes[test_ids] > 5)
    # One-hot colour of each row matches the file.
    colours = np.array([row[2] for row in rows])
    blue = data.feature_names.index("colour=blue")
    assert np.array_equal(data.x_train[:, blue] == 1, colours[train_ids] == "blue")


def test_csv_test_rows_do_not_influence_training_features(tmp_path):
    rows = make_table()
    header = ["row_id", "size", "colour", "label"]
    first = datasets.csv(write_csv(tmp_path / "a.csv", header, rows), target="label", seed=2)
    test_ids = recover_ids(first, first.x_test)
    changed = [list(row) for row in rows]
    for row_id in test_ids:  # wild values and an unseen category, only in test rows
        changed[row_id][1] = changed[row_id][1] * 1000 + (5 if changed[row_id][1] > 5 else 0)
        changed[row_id][2] = "purple"
    second = datasets.csv(write_csv(tmp_path / "b.csv", header, changed), target="label", seed=2)
    np.testing.assert_array_equal(second.x_train, first.x_train)
    assert second.preprocessing == first.preprocessing
    assert "colour=purple" not in second.feature_names
    colour_columns = [i for i, name in enumerate(second.feature_names) if name.startswith("colour")]
    assert np.all(second.x_test[:, colour_columns] == 0)  # unseen category: all zeros
    assert not np.allclose(second.x_test, first.x_test)


def test_csv_constant_column_keeps_unit_scale(tmp_path):
    rows = [[i, 4.0, i % 2] for i in range(20)]
    data = datasets.csv(write_csv(tmp_path / "c.csv", ["a", "flat", "y"], rows), target="y")
    assert column_stats(data, "flat") == {"mean": 4.0, "std": 1.0}
    column = data.feature_names.index("flat")
    assert np.all(data.x_train[:, column] == 0) and np.all(data.x_test[:, column] == 0)


def test_csv_missing_value_error_names_column_and_line(tmp_path):
    rows = [[i, i * 0.5, i % 2] for i in range(20)]
    rows[6][1] = ""  # data row 6 is on line 8 (line 1 is the header)
    path = write_csv(tmp_path / "m.csv", ["a", "b", "y"], rows)
    with pytest.raises(ValueError, match=r"column 'b' has missing values on line\(s\) 8") as error:
        datasets.csv(path, target="y")
    assert "na='mean'" in str(error.value)


def test_csv_mean_imputation_uses_training_mean(tmp_path):
    rows = [[i, float(i * i), i % 2] for i in range(30)]
    rows[4][1] = "NA"
    data = datasets.csv(write_csv(tmp_path / "m.csv", ["a", "b", "y"], rows), target="y", na="mean")
    a_stats = column_stats(data, "a")
    b_stats = column_stats(data, "b")
    ids = np.round(np.concatenate([data.x_train, data.x_test])[:, 0] * a_stats["std"]
                   + a_stats["mean"]).astype(int)
    all_b = np.concatenate([data.x_train, data.x_test])[:, 1]
    train_ids = ids[: len(data.x_train)]
    observed = [i * i for i in train_ids if i != 4]
    assert b_stats["mean"] == pytest.approx(np.mean(observed))
    assert all_b[list(ids).index(4)] == 0.0  # filled with the mean, i.e. 0 once standardised


def test_csv_missing_target_is_an_error(tmp_path):
    rows = [[i, "yes" if i % 2 else "no"] for i in range(10)]
    rows[3][1] = ""
    with pytest.raises(ValueError, match="target column 'y' has no value on line 5"):
        datasets.csv(write_csv(tmp_path / "t.csv", ["a", "y"], rows), target="y")


def test_csv_task_detection(tmp_path):
    few = [[i, i % 3] for i in range(30)]
    data = datasets.csv(write_csv(tmp_path / "few.csv", ["a", "y"], few), target="y")
    assert data.task == "classification" and data.classes == [0, 1, 2]
    assert np.array_equal(data.y_train, data.y_train.astype(np.int64))

    real = [[i, i * 0.37] for i in range(30)]
    data = datasets.csv(write_csv(tmp_path / "real.csv", ["a", "y"], real), target="y")
    assert data.task == "regression" and data.y_train.dtype == np.float32
    assert data.num_classes is None and data.classes is None

    many = [[i, i] for i in range(30)]  # 30 distinct whole numbers > max_classes=20
    data = datasets.csv(write_csv(tmp_path / "many.csv", ["a", "y"], many), target="y")
    assert data.task == "regression"
    forced = datasets.csv(tmp_path / "few.csv", target="y", task="regression")
    assert forced.task == "regression"
    with pytest.raises(ValueError, match="task='regression'"):
        datasets.csv(tmp_path / "many.csv", target="y", task="classification")

    text = [[i, "cat" if i % 2 else "dog"] for i in range(10)]
    with pytest.raises(ValueError, match="needs a numeric target"):
        datasets.csv(write_csv(tmp_path / "text.csv", ["a", "y"], text), target="y",
                     task="regression")


def test_csv_categorical_override_and_delimiter(tmp_path):
    rows = [[1000 + i % 2, i, i % 2] for i in range(20)]
    path = write_csv(tmp_path / "z.csv", ["zip", "a", "y"], rows, delimiter=";")
    data = datasets.csv(path, target="y", categorical=["zip"], delimiter=";")
    assert data.feature_names == ["zip=1000", "zip=1001", "a"]
    assert np.all(data.x_train[:, :2].sum(axis=1) == 1)


def test_csv_bad_input_errors(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["a", "y"], [[i, i % 2] for i in range(10)])
    with pytest.raises(ValueError, match=r"no column 'label'; its columns are \['a', 'y'\]"):
        datasets.csv(path, target="label")
    with pytest.raises(ValueError, match=r"categorical names \['b'\]"):
        datasets.csv(path, target="y", categorical=["b"])
    with pytest.raises(ValueError, match="na must be one of"):
        datasets.csv(path, target="y", na="median")
    with pytest.raises(ValueError, match="task must be one of"):
        datasets.csv(path, target="y", task="ranking")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,y\n1,0\n2,1,7\n")
    with pytest.raises(ValueError, match="line 3: 3 fields but the header has 2"):
        datasets.csv(ragged, target="y")
    infinite = write_csv(tmp_path / "inf.csv", ["a", "y"], [[1, 0], ["inf", 1], [2, 0], [3, 1]])
    with pytest.raises(ValueError, match="infinite"):
        datasets.csv(infinite, target="y")
    single = write_csv(tmp_path / "single.csv", ["a", "y"], [[i, 3] for i in range(10)])
    for task in ("auto", "classification"):
        with pytest.raises(ValueError, match=r"single.csv: target column 'y' holds a single class, 3, "):
            datasets.csv(single, target="y", task=task)
    assert datasets.csv(single, target="y", task="regression").task == "regression"
