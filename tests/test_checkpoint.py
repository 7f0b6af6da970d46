"""Checkpoints: exact round trips in safetensors, no pickle, atomic writes, random states."""

import json
import math
import os
import pickle
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import chainrule
from chainrule import nn, optim
from chainrule.train import checkpoint
from chainrule.train.checkpoint import (
    atomic_write_bytes,
    capture_rng_state,
    flatten_state,
    load_model,
    load_state,
    restore_rng_state,
    save_model,
    save_state,
    unflatten_state,
)


def _assert_same(restored, original):
    """Equal values, types and (for arrays) dtypes and shapes, recursively."""
    if isinstance(original, chainrule.Tensor):
        assert isinstance(restored, chainrule.Tensor)
        assert restored.dtype == original.dtype and restored.shape == original.shape
        np.testing.assert_array_equal(restored.array, original.array)
    elif isinstance(original, np.ndarray):
        assert type(restored) is np.ndarray and restored.dtype == original.dtype
        np.testing.assert_array_equal(restored, original)
    elif isinstance(original, np.generic):
        assert type(restored) is type(original) and restored == original
    elif isinstance(original, dict):
        assert isinstance(restored, dict) and list(restored) == list(original)
        for key in original:
            _assert_same(restored[key], original[key])
    elif isinstance(original, list | tuple):
        assert type(restored) is type(original) and len(restored) == len(original)
        for a, b in zip(restored, original):
            _assert_same(a, b)
    elif isinstance(original, float) and math.isnan(original):
        assert isinstance(restored, float) and math.isnan(restored)
    else:
        assert type(restored) is type(original) and restored == original


def test_nested_state_round_trips_exactly():
    state = {
        "epoch": 3,
        "weights": chainrule.tensor([[1.5, -2.0]], dtype=chainrule.float32),
        "buffer": np.arange(6, dtype=np.int64).reshape(2, 3),
        "flags": np.array([True, False]),
        "half": np.array([0.1], dtype=np.float16),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "scalar": np.float32(0.25),
        "zero_d": chainrule.tensor(7.0),
        "by_index": {0: {"step": 5, "exp_avg": np.ones(3, np.float32)}, 1: {}},
        "betas": (0.9, 0.999),
        "params": [0, 1, 2],
        "nothing": None,
        "name": 'quote " and \\ slash',
        "not_a_number": math.nan,
        "infinite": -math.inf,
        "pi": 3.141592653589793,
        "__tensor__": "a key that looks like a placeholder",
    }
    tensors, skeleton = flatten_state(state)
    assert "weights" in tensors and "by_index/0/exp_avg" in tensors
    assert isinstance(json.loads(skeleton), dict)  # the non-array part is plain JSON
    _assert_same(unflatten_state(tensors, skeleton), state)


def test_file_round_trip_and_metadata(tmp_path):
    path = tmp_path / "state.safetensors"
    state = {"model": {"fc.weight": chainrule.randn(3, 2)}, "note": "hi"}
    save_state(path, state, metadata={"epoch": "4"})
    _assert_same(load_state(path), state)
    _, metadata = checkpoint.read_safetensors(path)
    assert metadata["epoch"] == "4" and metadata["format"] == checkpoint.FORMAT_NAME


def test_unsupported_value_is_named_with_its_path():
    with pytest.raises(TypeError, match=r"optimizer/hook.*never pickled"):
        flatten_state({"optimizer": {"hook": object()}})


def test_loading_never_unpickles(tmp_path, monkeypatch):
    path = tmp_path / "state.safetensors"
    model = nn.Linear(3, 2)
    optimizer = optim.Adam(model.parameters(), lr=0.1)
    model(chainrule.randn(4, 3)).sum().backward()
    optimizer.step()
    save_state(path, {"model": model.state_dict(), "optimizer": optimizer.state_dict()})

    def refuse(*args, **kwargs):
        raise AssertionError("a checkpoint load called pickle")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    restored = load_state(path)
    np.testing.assert_array_equal(restored["model"]["weight"].array, model.weight.array)


def test_optimizer_state_restores_the_same_next_step(tmp_path):
    chainrule.manual_seed(0)
    model = nn.Linear(4, 3)
    optimizer = optim.Adam(model.parameters(), lr=0.05, betas=(0.8, 0.99))
    inputs = chainrule.randn(8, 4)

    def step(net, opt):
        opt.zero_grad()
        (net(inputs) ** 2).mean().backward()
        opt.step()

    for _ in range(3):
        step(model, optimizer)
    save_state(tmp_path / "c.safetensors", {"model": model.state_dict(), "optimizer": optimizer.state_dict()})
    step(model, optimizer)  # the original continues

    twin = nn.Linear(4, 3)  # different initial weights, replaced by the checkpoint
    twin_optimizer = optim.Adam(twin.parameters(), lr=1.0)
    state = load_state(tmp_path / "c.safetensors")
    twin.load_state_dict(state["model"])
    twin_optimizer.load_state_dict(state["optimizer"])
    step(twin, twin_optimizer)
    assert twin_optimizer.param_groups[0]["betas"] == (0.8, 0.99)
    np.testing.assert_array_equal(twin.weight.array, model.weight.array)
    np.testing.assert_array_equal(twin.bias.array, model.bias.array)


def test_save_model_uses_plain_parameter_names(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    save_model(tmp_path / "model.safetensors", model)
    from safetensors.numpy import load_file

    arrays = load_file(str(tmp_path / "model.safetensors"))
    assert sorted(arrays) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    twin = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    load_model(tmp_path / "model.safetensors", twin)
    np.testing.assert_array_equal(twin[2].weight.array, model[2].weight.array)


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load_state(tmp_path / "missing.safetensors")
    truncated = tmp_path / "truncated.safetensors"
    save_state(truncated, {"w": np.ones(1000, np.float32)})
    truncated.write_bytes(truncated.read_bytes()[:-100])
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_state(truncated)
    plain = tmp_path / "plain.safetensors"
    save_model(plain, nn.Linear(2, 2))
    with pytest.raises(ValueError, match="not a chainrule checkpoint"):
        load_state(plain)


def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.safetensors"
    good = {"w": np.arange(300_000, dtype=np.float32)}
    save_state(path, good)
    before = path.read_bytes()

    def write_half_then_die(file, data):
        file.write(data[: len(data) // 2])
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(checkpoint, "_write_all", write_half_then_die)
    with pytest.raises(OSError, match="simulated"):
        save_state(path, {"w": np.zeros(300_000, dtype=np.float32)})
    assert path.read_bytes() == before
    np.testing.assert_array_equal(load_state(path)["w"], good["w"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.safetensors"]  # no temp left behind


_WRITER_LOOP = """
import sys, numpy as np
from chainrule.train.checkpoint import save_state
path = sys.argv[1]
for i in range(1, 10**6):
    save_state(path, {"w": np.full(2_000_000, i, dtype=np.float32), "i": i})
    print(i, flush=True)
"""


def test_kill_during_writes_never_leaves_a_broken_file(tmp_path):
    path = tmp_path / "checkpoint.safetensors"
    process = subprocess.Popen(
        [sys.executable, "-c", _WRITER_LOOP, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline().strip() == "1"  # one complete checkpoint exists
        time.sleep(0.3)  # the loop now writes 8 MB files back to back; kill it at some point
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    state = load_state(path)
    assert state["i"] >= 1
    np.testing.assert_array_equal(state["w"], np.full(2_000_000, state["i"], dtype=np.float32))


def test_written_files_get_normal_permissions(tmp_path):
    path = tmp_path / "metrics.csv"
    atomic_write_bytes(path, b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
    os.chmod(path, 0o640)
    atomic_write_bytes(path, b"y")  # replacing keeps the file's own mode
    assert os.stat(path).st_mode & 0o777 == 0o640 and path.read_bytes() == b"y"


def test_random_states_restore_every_stream(tmp_path):
    chainrule.manual_seed(1)
    generator = chainrule.Generator().manual_seed(2)
    np.random.seed(3)
    random.seed(4)
    chainrule.randn(5)  # move the streams away from their seeds
    saved = capture_rng_state([generator])
    save_state(tmp_path / "rng.safetensors", {"rng": saved})

    def draw():
        return (
            chainrule.randn(3).array.copy(),
            chainrule.randperm(6, generator=generator).array.copy(),
            np.random.rand(2),
            random.random(),
        )

    expected = draw()
    draw()  # and further still
    restore_rng_state(load_state(tmp_path / "rng.safetensors")["rng"], [generator])
    for got, want in zip(draw(), expected):
        np.testing.assert_array_equal(got, want)


def test_restore_needs_the_same_generators():
    state = capture_rng_state([chainrule.Generator()])
    with pytest.raises(ValueError, match="1 generator state"):
        restore_rng_state(state, [])
