"""PyTorch checkpoints load through chainrule.load without running code from them.

Checked-in fixtures (written by tests/fixtures/make_pytorch_checkpoints.py) test both of
PyTorch's layouts on a machine without PyTorch; with PyTorch installed, checkpoints are also
written in the test. The expected contents are rebuilt with NumPy from the fixture script's
formulas, so the reader is judged by values, not by another reader."""

from __future__ import annotations

import collections
import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule.errors import CheckpointFileError, UntrustedCodeError

FIXTURES = Path(__file__).parent / "fixtures" / "pytorch"


def expected_tensors() -> dict[str, np.ndarray]:
    """tensor_contents() of the fixture script, in NumPy."""
    base = np.arange(24, dtype=np.float32).reshape(4, 6) / 8
    return {
        "base": base,
        "slice": base[1:, 2:5],
        "transposed": base.T,
        "every_other": base[:, ::2],
        "half": (np.arange(6, dtype=np.float32) / 4).astype(np.float16),
        "bfloat16": np.arange(6, dtype=np.float32) / 4 - 1,  # exact in bfloat16, widened back
        "float64": np.linspace(-1, 1, 5),
        "int64": np.arange(-3, 3, dtype=np.int64),
        "int8": np.arange(-3, 3, dtype=np.int8),
        "uint8": np.arange(250, 256, dtype=np.uint8),
        "bool": np.array([True, False, True]),
        "parameter": np.ones((2, 2), dtype=np.float32),
        "scalar": np.array(2.5, dtype=np.float32),
    }


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_fixture_tensors_keep_values_dtypes_views_and_shared_memory(layout):
    loaded = chainrule.load(FIXTURES / f"tensors_{layout}.pt")
    for name, expected in expected_tensors().items():
        got = loaded[name]
        assert isinstance(got, chainrule.Tensor), name
        assert got.array.dtype == expected.dtype and got.shape == expected.shape, name
        np.testing.assert_array_equal(got.array, expected, err_msg=name)
    assert isinstance(loaded["parameter"], chainrule.nn.Parameter) and loaded["parameter"].requires_grad
    assert loaded["meta"] == {"epoch": 3, "name": "fixture", "shape": (2, 3), "ratio": 0.5}
    # The views share the base's memory, as they did in PyTorch.
    loaded["base"].array[1, 3] = -7.0
    assert loaded["slice"].array[0, 1] == -7.0 and loaded["transposed"].array[3, 1] == -7.0


def mnist_model():
    nn = chainrule.nn
    return nn.Sequential(nn.Flatten(), nn.Linear(196, 16), nn.ReLU(), nn.Linear(16, 10))


def test_a_pytorch_trained_mnist_mlp_gives_pytorch_predictions_in_chainrule():
    checkpoint = chainrule.load(FIXTURES / "mnist_mlp.pt")
    model = mnist_model()
    model.load_state_dict(checkpoint["model"])
    model.eval()
    with chainrule.no_grad():
        logits = model(checkpoint["inputs"])
    np.testing.assert_allclose(logits.array, checkpoint["logits"].array, rtol=1e-5, atol=1e-5)
    assert (logits.argmax(1).array == checkpoint["logits"].array.argmax(1)).all()
    # A trained model, not a constant one: it gets most of these held-out digits right.
    assert (logits.argmax(1).array == checkpoint["labels"].array).mean() >= 0.75


def test_checkpoints_written_by_pytorch_load_with_the_same_values(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 3)
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(32, 5), torch.randint(0, 3, (32,))
    for _ in range(20):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    model.eval()
    big = torch.randn(3, 4, 5)
    extra = {
        "permuted": big.permute(2, 0, 1),
        "narrow": big[1, :, 2:],
        "bf16": torch.randn(7).bfloat16(),
        "half": torch.randn(3).half(),
        "grad": torch.randn(2, requires_grad=True),
    }
    for legacy in (False, True):
        path = tmp_path / f"model_{legacy}.pt"
        torch.save({"model": model.state_dict(), **extra}, path, _use_new_zipfile_serialization=not legacy)
        loaded = chainrule.load(path)
        nn = chainrule.nn
        ours = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.BatchNorm1d(8), nn.Linear(8, 3))
        ours.load_state_dict(loaded["model"])
        ours.eval()
        with torch.no_grad():
            expected = model(x).numpy()
        with chainrule.no_grad():
            got = ours(chainrule.tensor(x.numpy())).array
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        for name, tensor in extra.items():
            reference = tensor.detach().float() if tensor.dtype == torch.bfloat16 else tensor.detach()
            np.testing.assert_array_equal(loaded[name].array, reference.numpy(), err_msg=name)
            assert loaded[name].array.dtype == reference.numpy().dtype, name
        assert loaded["grad"].requires_grad
        assert loaded["model"]["2.num_batches_tracked"].array.dtype == np.int64


# ---------------------------------------------------------------------- files that must not run
class _RunsCode:
    """Unpickling this calls ``func(argument)``: what a malicious checkpoint does."""

    def __init__(self, func, argument):
        self.func, self.argument = func, argument

    def __reduce__(self):
        return self.func, (self.argument,)


def as_checkpoint(obj) -> bytes:
    """``obj`` pickled into PyTorch's zip layout (what torch.save of it would write)."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps(obj, protocol=2))
        zf.writestr("archive/version", "3\n")
    return archive.getvalue()


def as_legacy_checkpoint(obj) -> bytes:
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    header = magic + pickle.dumps(1001, protocol=2) + pickle.dumps({"little_endian": True}, protocol=2)
    return header + pickle.dumps(obj, protocol=2) + pickle.dumps([], protocol=2)


@pytest.mark.parametrize("layout", [as_checkpoint, as_legacy_checkpoint])
def test_a_malicious_checkpoint_is_refused_before_any_of_it_runs(tmp_path, layout):
    marker = tmp_path / "ran"
    attacks = {
        "os.system": (os.system, f"touch {marker}"),
        "builtins.exec": (exec, f"open({str(marker)!r}, 'w').close()"),
    }
    for qualname, (func, argument) in attacks.items():
        module, name = func.__module__, func.__name__
        payloads = [
            _RunsCode(func, argument),
            # Nested inside containers a weights file may hold: still refused.
            collections.OrderedDict(weight=[1.0, {"deep": _RunsCode(func, argument)}]),
        ]
        for payload in payloads:
            path = tmp_path / "evil.pt"
            path.write_bytes(layout(payload))
            with pytest.raises(
                UntrustedCodeError, match=rf"refers to {module}\.{name}, which a weights-only load refuses"
            ):
                chainrule.load(path, weights_only=False)
            assert not marker.exists(), qualname


def test_a_reduce_nested_in_an_allowed_call_is_refused():
    # An allowed rebuild function whose argument is itself a call of os.system.
    stream = (
        b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(cos\nsystem\nX\x04\x00\x00\x00trueq"
        b"\x00\x85RK\x00)K\x00\x85t R."
    )
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as zf:
        zf.writestr("archive/data.pkl", stream)
    with pytest.raises(UntrustedCodeError, match=r"refers to os\.system"):
        chainrule.load(io.BytesIO(data.getvalue()))


def test_names_the_user_allows_are_called_as_in_pytorch(tmp_path):
    path = tmp_path / "point.pt"
    path.write_bytes(as_checkpoint({"origin": _RunsCode(complex, "1+2j")}))
    assert chainrule.load(path)["origin"] == 1 + 2j  # builtins.complex is on PyTorch's list
    path.write_bytes(as_checkpoint({"when": _RunsCode(chainrule.serialization.Path, "a")}))
    with pytest.raises(UntrustedCodeError, match=r"pathlib\.Path"):
        chainrule.load(path)
    with chainrule.serialization.safe_globals([chainrule.serialization.Path]):
        assert chainrule.load(path)["when"] == Path("a")


def _rebuild_call(
    numel: int, size: tuple[int, ...], stride: tuple[int, ...], offset: int = 0, legacy: bool = False
) -> bytes:
    """Pickle opcodes for _rebuild_tensor_v2 of a float storage of ``numel`` elements: a crafted
    layout that pickle.dumps cannot produce without PyTorch."""

    def ints(values):
        return b"(" + b"".join(b"J" + v.to_bytes(4, "little", signed=True) for v in values) + b"t"

    pid = (
        b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu"
        + b"J"
        + numel.to_bytes(4, "little")
        + (b"N" if legacy else b"")  # the legacy format's view metadata
        + b"tQ"
    )
    return (
        b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n("
        + pid
        + b"J"
        + offset.to_bytes(4, "little")
        + ints(size)
        + ints(stride)
        + b"\x89ccollections\nOrderedDict\n)RtR."
    )


def crafted(numel: int, size, stride, offset: int = 0, stored: int | None = None) -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as zf:
        zf.writestr("archive/data.pkl", _rebuild_call(numel, size, stride, offset))
        zf.writestr("archive/data/0", np.arange(numel if stored is None else stored, dtype="<f4").tobytes())
    return data.getvalue()


def test_a_crafted_tensor_layout_is_read_or_refused_never_read_outside_its_storage():
    good = chainrule.load(io.BytesIO(crafted(6, (2, 2), (3, 1), offset=1)))
    np.testing.assert_array_equal(good.array, [[1, 2], [4, 5]])
    for size, stride, offset in [((100,), (1,), 0), ((2, 2), (3, 1), 3), ((2,), (-1,), 1)]:
        with pytest.raises(CheckpointFileError, match="file is (truncated or damaged|damaged)"):
            chainrule.load(io.BytesIO(crafted(6, size, stride, offset)))
    with pytest.raises(CheckpointFileError, match="holds 8 bytes for storage 0 where 24 are needed"):
        chainrule.load(io.BytesIO(crafted(6, (6,), (1,), stored=2)))


@pytest.mark.parametrize("fixture", ["tensors_zip.pt", "tensors_legacy.pt", "mnist_mlp.pt"])
def test_truncated_or_corrupted_checkpoints_give_one_sentence(tmp_path, fixture):
    data = (FIXTURES / fixture).read_bytes()
    path = tmp_path / "broken.pt"
    for cut in (len(data) // 3, len(data) - 30):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointFileError) as caught:
            chainrule.load(path)
        message = str(caught.value)
        assert message.count(". ") == 0 and "\n" not in message and str(path) in message
        assert "truncated" in message or "damaged" in message
    if fixture.endswith("zip.pt") or fixture.startswith("mnist"):
        corrupted = bytearray(data)
        record = zipfile.ZipFile(io.BytesIO(data)).getinfo(
            [n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if n.endswith("/data/0")][0]
        )
        corrupted[record.header_offset + 200] ^= 0xFF  # inside the first storage's bytes
        path.write_bytes(bytes(corrupted))
        with pytest.raises(CheckpointFileError, match="damaged record .*data/0 .*Bad CRC-32"):
            chainrule.load(path)


@pytest.mark.parametrize(
    "build",
    [
        lambda nn: nn.Conv2d(3, 4, 3, stride=2, padding=1),
        lambda nn: nn.ConvTranspose2d(3, 2, 3, stride=2),
        lambda nn: nn.LSTM(5, 4, num_layers=2, batch_first=True),
        lambda nn: nn.GRU(5, 4, bidirectional=True),
        lambda nn: nn.MultiheadAttention(6, 2),
        lambda nn: nn.TransformerEncoderLayer(6, 2, 12, dropout=0.0),
        lambda nn: nn.GroupNorm(2, 4),
    ],
    ids=[
        "Conv2d",
        "ConvTranspose2d",
        "LSTM",
        "GRU",
        "MultiheadAttention",
        "TransformerEncoderLayer",
        "GroupNorm",
    ],
)
def test_state_dicts_of_pytorch_layers_load_into_chainrule_layers_of_the_same_names(build):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs, ours = build(torch.nn).eval(), build(chainrule.nn).eval()
    buffer = io.BytesIO()
    torch.save(theirs.state_dict(), buffer)
    ours.load_state_dict(chainrule.load(io.BytesIO(buffer.getvalue())))
    shapes = {
        "Conv2d": (2, 3, 6, 6),
        "ConvTranspose2d": (2, 3, 4, 4),
        "LSTM": (2, 3, 5),
        "GRU": (3, 2, 5),
        "MultiheadAttention": (4, 2, 6),
        "TransformerEncoderLayer": (4, 2, 6),
        "GroupNorm": (2, 4, 3),
    }
    x = np.random.default_rng(0).standard_normal(shapes[type(ours).__name__]).astype(np.float32)
    args = (x, x, x) if type(ours).__name__ == "MultiheadAttention" else (x,)
    with torch.no_grad():
        expected = theirs(*map(torch.from_numpy, args))
    with chainrule.no_grad():
        got = ours(*map(chainrule.tensor, args))
    expected = expected[0] if isinstance(expected, tuple) else expected
    got = got[0] if isinstance(got, tuple) else got
    np.testing.assert_allclose(got.array, expected.numpy(), rtol=1e-4, atol=1e-5)


def test_a_legacy_checkpoint_declaring_more_bytes_than_it_holds_is_refused_before_allocating():
    header = b"".join(pickle.dumps(value, protocol=2) for value in (0x1950A86A20F9469CFC6C, 1001, {}))
    stream = header + _rebuild_call(2**31 - 1, (4,), (1,), legacy=True) + pickle.dumps(["0"], protocol=2)
    with pytest.raises(
        CheckpointFileError, match="declares a storage of 2147483647 elements, more than the file holds"
    ):
        chainrule.load(io.BytesIO(stream))
