"""chainrule.save / chainrule.load: round trips of what scripts save, through paths and file
objects, in a format that never pickles; files of other formats give one sentence."""

import io
import pickle

import numpy as np
import pytest

import chainrule
from chainrule.devices import DeviceUnavailableError
from chainrule.errors import CheckpointFileError
from chainrule.serialization import UnsupportedFileError


def _round_trip(obj, **load_kwargs):
    buffer = io.BytesIO()
    chainrule.save(obj, buffer)
    buffer.seek(0)
    return chainrule.load(buffer, **load_kwargs)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int64", "int32", "uint8", "bool"])
def test_tensor_round_trip_keeps_values_shape_and_dtype(dtype):
    array = (np.random.default_rng(0).normal(size=(3, 4)) * 10).astype(dtype)
    restored = _round_trip(chainrule.tensor(array))
    assert isinstance(restored, chainrule.Tensor)
    assert restored.dtype == array.dtype and restored.shape == (3, 4)
    np.testing.assert_array_equal(restored.numpy(), array)


def test_nested_containers_numbers_and_strings_round_trip_exactly():
    obj = {
        "epoch": 7,
        "loss": 0.25,
        "name": "run-1",
        "none": None,
        "flags": [True, False],
        "betas": (0.9, 0.999),
        "nested": {"list": [chainrule.ones(2), (chainrule.zeros(1, dtype=chainrule.int64), "x")]},
        3: "an int key",
        "scalar_tensor": chainrule.tensor(2.5),
    }
    restored = _round_trip(obj)
    assert restored["epoch"] == 7 and restored["loss"] == 0.25 and restored["name"] == "run-1"
    assert restored["none"] is None and restored["flags"] == [True, False]
    assert restored["betas"] == (0.9, 0.999) and isinstance(restored["betas"], tuple)
    assert restored[3] == "an int key"
    inner = restored["nested"]["list"]
    assert inner[0].tolist() == [1.0, 1.0] and isinstance(inner[1], tuple)
    assert inner[1][0].dtype == chainrule.int64 and inner[1][1] == "x"
    assert restored["scalar_tensor"].shape == () and restored["scalar_tensor"].item() == 2.5


def _trained_model_and_optimizer(seed):
    chainrule.manual_seed(seed)
    model = chainrule.nn.Sequential(chainrule.nn.Linear(4, 8), chainrule.nn.ReLU(), chainrule.nn.Linear(8, 2))
    optimizer = chainrule.optim.Adam(model.parameters(), lr=0.01)
    scheduler = chainrule.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    return model, optimizer, scheduler


def _train(model, optimizer, scheduler, steps, seed):
    generator = np.random.default_rng(seed)
    for _ in range(steps):
        x = chainrule.tensor(generator.normal(size=(5, 4)).astype(np.float32))
        optimizer.zero_grad()
        model(x).pow(2).mean().backward()
        optimizer.step()
        scheduler.step()


def test_resuming_from_saved_state_dicts_continues_exactly_as_uninterrupted(tmp_path):
    model, optimizer, scheduler = _trained_model_and_optimizer(0)
    _train(model, optimizer, scheduler, 3, seed=1)
    path = tmp_path / "checkpoint.pt"
    chainrule.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
        },
        path,
    )
    _train(model, optimizer, scheduler, 3, seed=2)  # the uninterrupted run

    resumed_model, resumed_optimizer, resumed_scheduler = _trained_model_and_optimizer(99)
    state = chainrule.load(path, weights_only=True, map_location="cpu")
    resumed_model.load_state_dict(state["model"])
    resumed_optimizer.load_state_dict(state["optimizer"])
    resumed_scheduler.load_state_dict(state["scheduler"])
    _train(resumed_model, resumed_optimizer, resumed_scheduler, 3, seed=2)
    for (name, expected), (_, got) in zip(model.state_dict().items(), resumed_model.state_dict().items()):
        np.testing.assert_array_equal(got.numpy(), expected.numpy(), err_msg=name)
    assert resumed_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]


def test_map_location_forms_pytorch_accepts(tmp_path):
    path = tmp_path / "t.pt"
    chainrule.save(chainrule.ones(2), str(path))
    for location in ("cpu", chainrule.device("cpu"), lambda storage, loc: storage, {"cuda:0": "cpu"}, None):
        assert chainrule.load(path, map_location=location).tolist() == [1.0, 1.0]
    with pytest.raises(DeviceUnavailableError):
        chainrule.load(path, map_location="cuda:0")


def test_saving_a_whole_module_or_optimizer_fails_with_one_sentence_and_writes_nothing(tmp_path):
    model = chainrule.nn.Linear(2, 2)
    path = tmp_path / "model.pt"
    path.write_bytes(b"keep me")
    with pytest.raises(TypeError, match=r"whole Linear object \(at the top level\).*save its state_dict\(\)"):
        chainrule.save(model, path)
    with pytest.raises(TypeError, match=r"whole Adam object \(at opt\)"):
        chainrule.save({"opt": chainrule.optim.Adam(model.parameters())}, path)
    with pytest.raises(TypeError, match="cannot store a set"):
        chainrule.save({"bad": {1, 2}}, path)
    assert path.read_bytes() == b"keep me"


def test_files_of_other_formats_are_refused_without_unpickling(tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pkl"
    # A pickle that would create `marker` when unpickled: load must refuse before that.
    evil.write_bytes(pickle.dumps(_CreateFile(str(marker))))
    with pytest.raises(UnsupportedFileError, match="is a pickle file"):
        chainrule.load(evil)
    assert not marker.exists()
    zipped = tmp_path / "torch.pt"
    zipped.write_bytes(b"PK\x03\x04" + b"\0" * 40)
    with pytest.raises(CheckpointFileError, match="starts like a zip archive .* truncated or damaged"):
        chainrule.load(zipped)
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(UnsupportedFileError, match="not a file written by chainrule.save"):
        chainrule.load(garbage)
    with pytest.raises(UnsupportedFileError, match="not a file written by chainrule.save"):
        chainrule.load(io.BytesIO(b"tiny"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        chainrule.load(tmp_path / "missing.pt")


class _CreateFile:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_plain_safetensors_file_loads_as_a_state_dict(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "weights.safetensors"
    save_file({"fc.weight": np.ones((2, 3), np.float32), "fc.bias": np.zeros(2, np.float32)}, str(path))
    state = chainrule.load(path)
    assert sorted(state) == ["fc.bias", "fc.weight"] and state["fc.weight"].shape == (2, 3)


def test_trainer_checkpoints_and_save_share_one_format(tmp_path):
    from chainrule.train.checkpoint import load_state, save_state

    path = tmp_path / "c.safetensors"
    save_state(path, {"w": chainrule.ones(2), "step": 3})
    assert chainrule.load(path)["step"] == 3
    chainrule.save({"w": chainrule.ones(2), "step": 4}, path)
    assert load_state(path)["step"] == 4


def test_safe_globals_api_exists_and_is_scoped():
    serialization = chainrule.serialization
    serialization.clear_safe_globals()
    serialization.add_safe_globals([int])
    with serialization.safe_globals([float]):
        assert serialization.get_safe_globals() == [int, float]
    assert serialization.get_safe_globals() == [int]
    serialization.clear_safe_globals()


def test_loaded_structure_matches_pytorch_for_the_same_object(tmp_path):
    torch = pytest.importorskip("torch")

    def build(lib):
        return {
            "w": lib.arange(6).reshape(2, 3),
            "meta": ("a", 1, [2.5, None]),
            "f": lib.ones(2, dtype=lib.float16),
        }

    torch.save(build(torch), tmp_path / "t.pt")
    expected = torch.load(tmp_path / "t.pt", weights_only=True)
    got = _round_trip(build(chainrule))
    assert got["meta"] == expected["meta"] and type(got["meta"]) is type(expected["meta"])
    for key in ("w", "f"):
        assert got[key].tolist() == expected[key].tolist()
        assert str(got[key].dtype) == str(expected[key].dtype).removeprefix("torch.")
