"""Fuzzing the readers of files a user may have been handed: IDX, safetensors checkpoints and
weights, config.toml, and whole run folders through ``chainrule evaluate``/``predict``.

Each reader gets 2,000 seeded cases (tests/fuzzing.py: ``FUZZ``), built by mutating a valid file
(flipped, deleted, inserted and duplicated bytes, truncation) or from scratch, and must either
succeed or raise its documented error type, within the memory and time budget of
``within_budget``. The crafted files of issue 12 are kept as regression cases in
tests/test_untrusted_files.py.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from fuzzing import FUZZ, within_budget
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule import nn
from chainrule.datasets.idx import IDXFormatError, read_idx
from chainrule.errors import CheckpointFileError, ConfigError, InputError
from chainrule.train.checkpoint import load_model, save_model
from chainrule.train.run import read_toml, validate_config


@st.composite
def mutated(draw, original: bytes) -> bytes:
    """``original`` with a few random edits, or cut short."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "delete", "insert", "truncate", "repeat"]))
        if not data:
            break
        where = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[where] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[where] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, ord("["), ord("{"), ord('"')]))
        elif kind == "delete":
            del data[where : where + draw(st.integers(1, 16))]
        elif kind == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "truncate":
            del data[where:]
        else:
            data[where:where] = data[where : where + draw(st.integers(1, 64))] * draw(st.integers(1, 8))
    return bytes(data)


# Memory-backed where the system has it: thousands of small files are written, and on a busy
# disk each write can cost milliseconds.
SCRATCH_ROOT = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory(dir=SCRATCH_ROOT) as folder:
        yield Path(folder)


# ----------------------------------------------------------------------------------------- IDX
def _idx(shape: tuple[int, ...], type_code: int = 0x08, itemsize: int = 1) -> bytes:
    header = struct.pack(">HBB", 0, type_code, len(shape)) + struct.pack(f">{len(shape)}I", *shape)
    return header + bytes(range(256)) * (int(np.prod(shape)) * itemsize // 256 + 1)


VALID_IDX = _idx((3, 4, 5))[: 16 + 60]


@st.composite
def idx_files(draw) -> bytes:
    base = draw(
        st.sampled_from(
            [VALID_IDX, _idx((7,))[: 8 + 7], _idx((2, 3), 0x0D, 4)[: 12 + 24], b"", b"\x00\x00\x08\x03"]
        )
    )
    if draw(st.booleans()):
        # A header with any declared shape: sizes near the uint32 limit must not overflow.
        ndim = draw(st.integers(1, 5))
        sizes = draw(
            st.lists(st.sampled_from([0, 1, 2, 28, 65536, 2**31, 2**32 - 1]), min_size=ndim, max_size=ndim)
        )
        base = (
            struct.pack(">HBB", 0, 0x08, ndim)
            + struct.pack(f">{ndim}I", *sizes)
            + bytes(draw(st.integers(0, 64)))
        )
    data = draw(mutated(base)) if draw(st.booleans()) else base
    if draw(st.booleans()):
        data = gzip.compress(data, compresslevel=1)
        if draw(st.booleans()):
            data = draw(mutated(data))
    return data


@FUZZ
@given(data=idx_files())
def test_fuzz_idx_reader(scratch, data):
    path = scratch / "fuzz-idx"
    path.write_bytes(data)
    within_budget(lambda: read_idx(path), IDXFormatError)


# --------------------------------------------------------------------- safetensors checkpoints
def _trained_state() -> tuple[bytes, bytes, nn.Module]:
    """The bytes of a real training checkpoint and its history log, and the model."""
    import chainrule
    from chainrule import optim
    from chainrule.train.callbacks import ModelCheckpoint
    from chainrule.train.trainer import Trainer
    from chainrule.utils.data import DataLoader, TensorDataset

    chainrule.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = chainrule.randn(16, 3)
    y = chainrule.from_numpy(np.arange(16) % 2)
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, generator=chainrule.Generator())
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()), metrics=["accuracy"])
        trainer.fit(loader, loader, epochs=2, callbacks=[ModelCheckpoint(folder)], verbose=0)
        path = Path(folder) / "checkpoint.safetensors"
        return path.read_bytes(), Path(str(path) + ".history.jsonl").read_bytes(), model


CHECKPOINT, HISTORY_LOG, MODEL = _trained_state()


@st.composite
def checkpoint_files(draw) -> tuple[bytes, bytes]:
    checkpoint, log = CHECKPOINT, HISTORY_LOG
    target = draw(st.sampled_from(["checkpoint", "header", "log", "random"]))
    if target == "checkpoint":
        checkpoint = draw(mutated(checkpoint))
    elif target == "header":
        # Keep the header length right and edit the JSON inside it: the paths a reader's
        # checks must cover (wrong types, missing keys, placeholders naming no tensor...).
        (length,) = struct.unpack("<Q", checkpoint[:8])
        header = draw(mutated(checkpoint[8 : 8 + length]))
        checkpoint = struct.pack("<Q", len(header)) + header + checkpoint[8 + length :]
    elif target == "log":
        log = draw(mutated(log))
    else:
        checkpoint = draw(st.binary(max_size=256))
    return checkpoint, log


@FUZZ
@given(files=checkpoint_files())
def test_fuzz_checkpoint_loading(scratch, files):
    from chainrule.train.checkpoint import load_training_state

    path = scratch / "checkpoint.safetensors"
    path.write_bytes(files[0])
    Path(str(path) + ".history.jsonl").write_bytes(files[1])
    within_budget(lambda: load_training_state(path, MODEL), CheckpointFileError)


def _weights() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        save_model(Path(folder) / "w.safetensors", MODEL, metadata={"note": "fuzz"})
        return (Path(folder) / "w.safetensors").read_bytes()


WEIGHTS = _weights()


@FUZZ
@given(data=mutated(WEIGHTS))
def test_fuzz_weights_loading(scratch, data):
    path = scratch / "model.safetensors"
    path.write_bytes(data)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    if within_budget(lambda: load_model(path, model), CheckpointFileError) is None:
        assert all(np.isfinite(p.array).all() and p.dtype == np.float32 for p in model.parameters())


# ---------------------------------------------------------------------------------- config.toml
VALID_CONFIG = (
    b'dataset = "iris"\nmodel = "mlp"\nhidden = [16, 8]\nepochs = 3\nlr = 0.01\noptimizer = "sgd"\n'
    b'momentum = 0.5\nval_split = 0.2\nname = "a"\n\n[model_args]\nwidth = 3\n'
)
TOML_PIECES = [
    b"=",
    b"[",
    b"]",
    b"{",
    b"}",
    b'"',
    b"'",
    b",",
    b".",
    b"\n",
    b"#",
    b"nan",
    b"inf",
    b"-",
    b"1e999",
    b"1979-05-27",
    b"07:32:00",
    b"true",
    b"epochs",
    b"lr",
    b"model_args",
    b"[[x]]",
    b"\xff",
    b"\xc3\xa9",
]


@st.composite
def config_files(draw) -> bytes:
    if draw(st.booleans()):
        return draw(mutated(VALID_CONFIG))
    return b"".join(draw(st.lists(st.sampled_from(TOML_PIECES), max_size=40)))


@FUZZ
@given(data=config_files())
def test_fuzz_config_reading(scratch, data):
    path = scratch / "config.toml"
    path.write_bytes(data)
    within_budget(lambda: validate_config(read_toml(path), source=str(path)), ConfigError)


# ------------------------------------------------------------------- run folders on the CLI
@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    pytest.importorskip("sklearn", reason="the run trains on scikit-learn's iris")
    from chainrule.cli import main

    out = tmp_path_factory.mktemp("fuzzrun")
    assert (
        main(
            [
                "train",
                "--dataset",
                "iris",
                "--epochs",
                "1",
                "--out",
                str(out),
                "--name",
                "r",
                "--verbose",
                "0",
            ]
        )
        == 0
    )
    rows = out / "rows.npy"
    np.save(rows, np.zeros((3, 4), np.float32))
    return out / "r", rows


@pytest.fixture(scope="module")
def run_folder(iris_run, scratch):
    run_dir, rows = iris_run
    folder = scratch / "run"
    shutil.copytree(run_dir, folder)
    originals = {name: (run_dir / name).read_bytes() for name in ("model.safetensors", "config.toml")}
    return folder, rows, originals


# Each case builds the command line's parser and a model (tens of milliseconds), so the entry
# points get fewer cases than the readers beneath them, which have 2,000 each above.
@settings(FUZZ, max_examples=400)
@given(which=st.sampled_from(["model.safetensors", "config.toml"]), data=st.data())
def test_fuzz_predict_and_evaluate_on_damaged_run_folders(run_folder, which, data):
    """``chainrule predict`` (and, for one case in 50, ``evaluate``, which reloads the dataset)
    on a run folder with one damaged file: exit status 0 or 2, never a traceback."""
    from chainrule.cli import main

    folder, rows, originals = run_folder
    original = originals[which]
    (folder / which).write_bytes(data.draw(mutated(original)))
    command = ["predict", str(folder), str(rows)]
    if data.draw(st.integers(0, 49)) == 0:
        command = ["evaluate", str(folder)]
    statuses: list[int] = []
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            within_budget(lambda: statuses.append(main(command)), ())
    finally:
        (folder / which).write_bytes(original)
    err = stderr.getvalue()
    assert statuses[0] in (0, 2) and "Traceback" not in err, err
    if statuses[0] == 2:
        assert err.startswith(f"chainrule {command[0]}: error:") and len(err.strip().splitlines()) == 1, err


def test_the_fuzz_strategies_reach_the_readers_error_paths():
    """A fuzz run that only ever fed valid (or only hopeless) files would prove nothing: the
    mutations must produce both readable files and each reader's documented error."""
    from hypothesis import find

    def raises(read, allowed):
        try:
            read()
        except allowed:
            return True
        return False

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.toml"

        def config_fails(data):
            path.write_bytes(data)
            return raises(lambda: validate_config(read_toml(path)), ConfigError)

        find(config_files(), config_fails, settings=FUZZ)
        find(config_files(), lambda data: not config_fails(data), settings=FUZZ)
        idx = Path(folder) / "i"

        def idx_fails(data):
            idx.write_bytes(data)
            return raises(lambda: read_idx(idx), IDXFormatError)

        find(idx_files(), idx_fails, settings=FUZZ)
        find(idx_files(), lambda data: not idx_fails(data), settings=FUZZ)
    assert issubclass(CheckpointFileError, InputError) and issubclass(IDXFormatError, InputError)
