"""Devices: every device PyTorch names can be named; only the CPU can hold tensors, and asking
for any other gives one DeviceUnavailableError. PyTorch (when installed) is the oracle for
how device names parse and print."""

import pytest

import chainrule
import chainrule as torch_like
from chainrule.devices import DeviceUnavailableError

DEVICE_STRINGS = ["cpu", "cuda", "cuda:0", "cuda:3", "mps", "meta", "xpu:1", "cpu:0"]


@pytest.mark.parametrize("name", DEVICE_STRINGS)
def test_device_names_parse_and_print_as_pytorch(name):
    dev = chainrule.device(name)
    expected_type, _, index = name.partition(":")
    assert dev.type == expected_type
    assert dev.index == (int(index) if index else None)
    assert str(dev) == name
    assert chainrule.device(dev) == dev and hash(chainrule.device(name)) == hash(dev)
    torch = pytest.importorskip("torch")
    assert repr(dev) == repr(torch.device(name))


def test_device_with_index_argument_and_bad_names():
    assert chainrule.device("cuda", 2) == chainrule.device("cuda:2")
    assert chainrule.device("cuda", 2) != chainrule.device("cuda:1")
    with pytest.raises(RuntimeError, match="unknown device type 'gpu'"):
        chainrule.device("gpu")
    with pytest.raises(RuntimeError, match="invalid device string"):
        chainrule.device("cuda:x")
    with pytest.raises(DeviceUnavailableError, match="accelerator number 0"):
        chainrule.device(0)


def test_cpu_device_works_everywhere_a_device_is_accepted():
    cpu = chainrule.device("cpu")
    x = chainrule.zeros(2, 3, device=cpu)
    assert x.device == cpu and x.device.type == "cpu" and not x.is_cuda and x.get_device() == -1
    for make in (
        lambda: chainrule.ones(2, device="cpu"),
        lambda: chainrule.tensor([1.0], device="cpu"),
        lambda: chainrule.arange(3, device=cpu),
        lambda: chainrule.randn(2, device=cpu),
        lambda: chainrule.randint(0, 3, (2,), device="cpu"),
        lambda: chainrule.zeros_like(x, device="cpu"),
        lambda: chainrule.full((2,), 1.0, device="cpu"),
    ):
        assert make().device == cpu
    assert x.to(cpu) is x and x.to("cpu") is x and x.cpu() is x
    assert x.to("cpu", chainrule.float64).dtype == chainrule.float64
    assert x.to(device="cpu", dtype=chainrule.float16).dtype == chainrule.float16
    assert x.to(chainrule.zeros(1, dtype=chainrule.int64)).dtype == chainrule.int64
    copied = x.to("cpu", copy=True)
    assert copied is not x and copied.shape == x.shape
    model = chainrule.nn.Linear(2, 2)
    assert model.to(cpu) is model and model.to("cpu:0") is model and model.cpu() is model
    with cpu:
        assert chainrule.zeros(1).device == cpu


@pytest.mark.parametrize(
    "use",
    [
        lambda: chainrule.zeros(2, device="cuda"),
        lambda: chainrule.tensor([1.0], device=chainrule.device("cuda:0")),
        lambda: chainrule.randn(2, device="mps"),
        lambda: chainrule.zeros_like(chainrule.zeros(1), device="cuda"),
        lambda: chainrule.zeros(2).to("cuda"),
        lambda: chainrule.zeros(2).to(device="cuda:1"),
        lambda: chainrule.zeros(2).to(0),
        lambda: chainrule.zeros(2).cuda(),
        lambda: chainrule.nn.Linear(2, 2).to("cuda"),
        lambda: chainrule.nn.Linear(2, 2).cuda(),
        lambda: chainrule.set_default_device("cuda"),
        lambda: chainrule.cuda.synchronize(),
        lambda: chainrule.cuda.current_device(),
        lambda: chainrule.accelerator.current_device_index(),
    ],
)
def test_using_a_device_other_than_the_cpu_gives_one_clear_error(use):
    with pytest.raises(DeviceUnavailableError, match="chainrule runs on the CPU only") as raised:
        use()
    assert isinstance(raised.value, RuntimeError)


def test_availability_answers_match_a_machine_without_accelerators():
    answers = {
        "cuda.is_available": torch_like.cuda.is_available(),
        "cuda.device_count": torch_like.cuda.device_count(),
        "accelerator.is_available": torch_like.accelerator.is_available(),
        "accelerator.current_accelerator": torch_like.accelerator.current_accelerator(),
        "backends.mps.is_available": torch_like.backends.mps.is_available(),
        "backends.cudnn.is_available": torch_like.backends.cudnn.is_available(),
    }
    assert answers == {
        "cuda.is_available": False,
        "cuda.device_count": 0,
        "accelerator.is_available": False,
        "accelerator.current_accelerator": None,
        "backends.mps.is_available": False,
        "backends.cudnn.is_available": False,
    }
    # Seeding the (absent) GPU is allowed and leaves the CPU generator alone, as in PyTorch.
    chainrule.manual_seed(5)
    torch_like.cuda.manual_seed(1)
    torch_like.cuda.manual_seed_all(1)
    first = chainrule.rand(3)
    chainrule.manual_seed(5)
    assert first.tolist() == chainrule.rand(3).tolist()
    torch_like.backends.cudnn.benchmark = True
    torch_like.backends.cudnn.deterministic = True
    torch_like.backends.cuda.matmul.allow_tf32 = True
    chainrule.set_default_device("cpu")
    chainrule.set_default_device(None)
    assert chainrule.get_default_device() == chainrule.device("cpu")


@pytest.mark.parametrize("make", [
    lambda device: chainrule.nn.Linear(2, 3, device=device),
    lambda device: chainrule.nn.Conv2d(1, 2, 3, device=device),
    lambda device: chainrule.nn.LSTM(2, 3, device=device),
    lambda device: chainrule.nn.GRUCell(2, 3, True, device),  # positional, as PyTorch allows
    lambda device: chainrule.nn.Embedding(4, 2, device=device),
    lambda device: chainrule.nn.LayerNorm(3, device=device),
    lambda device: chainrule.nn.BatchNorm1d(3, device=device),
])
def test_layers_refuse_an_accelerator_device_as_tensor_creation_does(make):
    with pytest.raises(DeviceUnavailableError) as from_tensor:
        chainrule.zeros(2, device="cuda")
    with pytest.raises(DeviceUnavailableError) as from_layer:
        make("cuda")
    assert str(from_layer.value) == str(from_tensor.value)
    with pytest.raises(DeviceUnavailableError, match="'mps' is not available"):
        make(chainrule.device("mps"))
    assert make("cpu") is not None and make(chainrule.device("cpu")) is not None and make(None) is not None
