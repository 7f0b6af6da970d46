"""The threaded kernels (``chainrule.backends.numba.threaded_kernel``) give the serial ones' bits,
and the thread count comes from ``CHAINRULE_KERNEL_THREADS`` or ``set_num_threads``.

Each comparison runs an op on one thread, then with the threaded builds forced on small inputs
(the size threshold set to 0, two threads), checks that the threaded builds did run, and
compares the results element for element.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule
import chainrule.nn.functional as F
from chainrule.backends import blas
from chainrule.backends import numba as numba_backend
from chainrule.errors import ConfigError

pytest.importorskip("numba")


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[], Any]], tuple[Any, Any]]]:
    """``run(compute)``: ``compute()`` on one thread, then on two with every threaded kernel
    taking its threaded build; checks that some call did."""
    monkeypatch.setattr(numba_backend, "_threads_asked", None)
    monkeypatch.setattr(numba_backend, "enabled", True)

    def run(compute: Callable[[], Any]) -> tuple[Any, Any]:
        numba_backend.set_num_threads(1)
        monkeypatch.setattr(numba_backend, "PARALLEL_THRESHOLD", 0)
        monkeypatch.setattr(numba_backend, "ELEMENTWISE_THRESHOLD", 0)
        before = numba_backend.threaded_calls
        serial = compute()
        assert numba_backend.threaded_calls == before, "a kernel ran threaded on one thread"
        numba_backend.set_num_threads(2)
        threaded = compute()
        assert numba_backend.threaded_calls > before, "no kernel ran its threaded build"
        return serial, threaded

    yield run


def assert_same(serial: list[np.ndarray], threaded: list[np.ndarray]) -> None:
    for expected, actual in zip(serial, threaded, strict=True):
        np.testing.assert_array_equal(actual, expected, strict=True)


def channel_major(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array.swapaxes(0, 1)).swapaxes(0, 1)


def gradient_like(out: chainrule.Tensor) -> chainrule.Tensor:
    values = np.cos(np.arange(out.numel()) * 0.7).reshape(out.shape)
    return chainrule.tensor(values.astype(out.detach().numpy().dtype))


# ------------------------------------------------------------- im2col and col2im (conv2d)
@pytest.mark.parametrize("kwargs", [dict(padding=1), dict(stride=2, dilation=2, padding=2),
                                    dict(groups=2, padding=1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_threaded_kernels_give_the_serial_bits(threads, kwargs, dtype):
    rng = np.random.default_rng(0)
    x = channel_major(rng.standard_normal((5, 4, 11, 9)).astype(dtype))
    weight = rng.standard_normal((6, 4 // kwargs.get("groups", 1), 3, 3)).astype(dtype)

    def compute() -> list[np.ndarray]:
        inputs = [chainrule.tensor(a, requires_grad=True) for a in (x, weight)]
        out = F.conv2d(*inputs, **kwargs)
        out.backward(gradient_like(out))
        return [out.detach().numpy()] + [t.grad.numpy() for t in inputs]

    assert_same(*threads(compute))


@pytest.mark.parametrize("kwargs", [dict(padding=1), dict(padding=2, stride=2, dilation=2, groups=2)])
def test_conv1d_threaded_im2col_gives_the_serial_bits(threads, kwargs):
    """The 1-D im2col, threaded over channels: forward, and the input gradient (a flipped
    convolution, another im2col)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 4, 23)).astype(np.float32)
    weight = rng.standard_normal((8, 4 // kwargs.get("groups", 1), 3)).astype(np.float32)

    def compute() -> list[np.ndarray]:
        inputs = [chainrule.tensor(a, requires_grad=True) for a in (x, weight)]
        out = F.conv1d(*inputs, **kwargs)
        out.backward(gradient_like(out))
        return [out.detach().numpy()] + [t.grad.numpy() for t in inputs]

    assert_same(*threads(compute))


# ------------------------------------------------------------------------------- pooling
@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1),
                                    dict(kernel_size=3, stride=2, dilation=2)])
@pytest.mark.parametrize("layout", ["contiguous", "channel-major"])
def test_max_pool_threaded_kernels_give_the_serial_bits(threads, kwargs, layout):
    """The maximum and winners, the gradient's scatter (tiling and overlapping windows) and
    its adjoint, the gather of the second derivative."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5, 10, 12)).astype(np.float32)
    x = channel_major(x) if layout == "channel-major" else x

    def compute() -> list[np.ndarray]:
        source = chainrule.tensor(x, requires_grad=True)
        out = F.max_pool2d(source, **kwargs)
        upstream = gradient_like(out).requires_grad_()
        (grad,) = chainrule.autograd.grad(out, source, upstream, create_graph=True)
        (grad * grad).sum().backward()  # the gather, into upstream's gradient
        return [out.detach().numpy(), grad.detach().numpy(), upstream.grad.numpy()]

    assert_same(*threads(compute))


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1)])
def test_avg_pool_threaded_kernels_give_the_serial_bits(threads, kwargs):
    rng = np.random.default_rng(2)
    x = channel_major(rng.standard_normal((3, 5, 10, 12)))

    def compute() -> list[np.ndarray]:
        source = chainrule.tensor(x, requires_grad=True)
        out = F.avg_pool2d(source, **kwargs)
        out.backward(gradient_like(out))
        return [out.detach().numpy(), source.grad.numpy()]

    assert_same(*threads(compute))


# --------------------------------------------------------------- ReLU and the SGD step
# more than two chunks, the last one partial
SIZES = [numba_backend.CHUNK * 3 + 5, 7]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_threaded_kernels_give_the_serial_bits(threads, size, dtype):
    values = np.random.default_rng(3).standard_normal(size).astype(dtype)
    values[::11] = np.nan

    def compute() -> list[np.ndarray]:
        source = chainrule.tensor(values, requires_grad=True)
        out = F.relu(source)
        out.backward(gradient_like(out))
        return [out.detach().numpy(), source.grad.numpy()]

    assert_same(*threads(compute))


@pytest.mark.parametrize("options", [dict(momentum=0.9),
                                     dict(momentum=0.9, nesterov=True, weight_decay=0.01)])
@pytest.mark.parametrize("size", SIZES)
def test_sgd_threaded_kernel_gives_the_serial_bits(threads, options, size):
    rng = np.random.default_rng(4)
    start = rng.standard_normal(size).astype(np.float32)
    gradients = [rng.standard_normal(size).astype(np.float32) for _ in range(3)]

    def compute() -> list[np.ndarray]:
        param = chainrule.nn.Parameter(chainrule.tensor(start.copy()))
        optimizer = chainrule.optim.SGD([param], lr=0.1, **options)
        for gradient in gradients:  # the first step, then the loop for PyTorch's defaults
            param.grad = chainrule.tensor(gradient)
            optimizer.step()
        return [param.detach().numpy()]

    assert_same(*threads(compute))


def test_small_work_stays_serial_and_large_work_is_threaded(monkeypatch):
    monkeypatch.setattr(numba_backend, "_threads_asked", 2)
    assert numba_backend._kernel_threads(numba_backend.PARALLEL_THRESHOLD - 1, None) == 1
    assert numba_backend._kernel_threads(numba_backend.PARALLEL_THRESHOLD, None) == 2
    assert numba_backend._kernel_threads(1000, 500) == 2  # a kernel's own threshold
    monkeypatch.setattr(numba_backend, "_threads_asked", 1)
    assert numba_backend._kernel_threads(10**9, None) == 1


def test_a_forked_child_runs_the_kernels_serial(monkeypatch):
    """GNU OpenMP's threads do not survive fork(): in another process than the one that started
    them, every kernel takes its serial build."""
    monkeypatch.setattr(numba_backend, "_threads_asked", 2)
    numba_backend._kernel_threads(10**9, None)  # threads started in this process
    monkeypatch.setattr(numba_backend, "_threads_process", numba_backend._threads_process + 1)
    assert numba_backend._kernel_threads(10**9, None) == 1


def test_on_the_workqueue_layer_only_the_main_thread_runs_threaded(monkeypatch):
    """numba's workqueue layer aborts the process when two threads launch at once."""
    import threading

    monkeypatch.setattr(numba_backend, "_threads_asked", 2)
    numba_backend._kernel_threads(10**9, None)  # threads started
    monkeypatch.setattr(numba_backend, "_layer_threadsafe", False)
    found: list[int] = []
    worker = threading.Thread(target=lambda: found.append(numba_backend._kernel_threads(10**9, None)))
    worker.start()
    worker.join()
    assert found == [1]
    assert numba_backend._kernel_threads(10**9, None) == 2


def test_the_threading_layer_is_omp_or_what_numba_threading_layer_says(monkeypatch):
    monkeypatch.delenv("NUMBA_THREADING_LAYER", raising=False)
    assert numba_backend.threading_layer() in ("omp", "workqueue")
    monkeypatch.setenv("NUMBA_THREADING_LAYER", "tbb")
    assert numba_backend.threading_layer() == "tbb"


def test_a_serial_kernel_compiled_first_does_not_fix_another_threading_layer():
    """In a fresh process: a serial kernel compiles and runs first (numba then reloads its
    config from the environment), then a threaded one starts the threads on omp."""
    script = (
        "import numpy as np, numba\n"
        "from chainrule.backends import numba as backend\n"
        "from chainrule.kernels import activation\n"
        "backend.set_num_threads(2)\n"
        "x = np.ones(10); out = np.empty(10); mask = np.empty(10, bool)\n"
        "activation.relu_forward(x, out, mask)\n"
        "backend.PARALLEL_THRESHOLD = backend.ELEMENTWISE_THRESHOLD = 0\n"
        "activation.relu_forward(x, out, mask)\n"
        "assert backend.threaded_calls == 1\n"
        "print(numba.threading_layer(), backend.threading_layer())\n"
    )
    environment = {key: value for key, value in __import__("os").environ.items()
                   if key not in ("NUMBA_THREADING_LAYER", "CHAINRULE_KERNEL_THREADS")}
    environment["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    # numba's own choice would be workqueue here: only chainrule's setting makes it omp
    environment["NUMBA_THREADING_LAYER_PRIORITY"] = "workqueue omp tbb"
    result = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    started, asked = result.stdout.split()
    assert started == asked


# ------------------------------------------------------------------------- the thread count
@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("3", 3), (" 2 ", 2), ("AUTO", None),
                                                  ("", None)])
def test_the_environment_variable_sets_the_count(monkeypatch, value, expected):
    monkeypatch.setattr(numba_backend, "_threads_asked", None)
    monkeypatch.setenv("CHAINRULE_KERNEL_THREADS", value)
    automatic = numba_backend.get_num_threads() if expected is None else None
    assert numba_backend.get_num_threads() == (expected or automatic)
    assert numba_backend._threads_asked == (expected or "auto")


def test_auto_is_one_thread_under_numpys_blas_and_mkls_count_under_mkl(monkeypatch):
    monkeypatch.setattr(numba_backend, "_threads_asked", "auto")
    saved = blas.current()
    try:
        blas.use("numpy")
        assert numba_backend.get_num_threads() == 1
        if blas.is_available():
            blas.use("mkl")
            assert numba_backend.get_num_threads() == blas.load_mkl().threads()
    finally:
        blas.use(saved)


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "2x", True, 0])
def test_a_bad_count_is_refused_in_one_sentence(monkeypatch, value):
    monkeypatch.setattr(numba_backend, "_threads_asked", None)
    with pytest.raises(ConfigError, match="neither 'auto' nor a positive whole number") as raised:
        numba_backend.set_num_threads(value)
    assert isinstance(raised.value, ValueError)
    monkeypatch.setenv("CHAINRULE_KERNEL_THREADS", str(value))
    with pytest.raises(ConfigError, match="CHAINRULE_KERNEL_THREADS"):
        numba_backend.get_num_threads()


def test_set_and_get(monkeypatch):
    monkeypatch.setattr(numba_backend, "_threads_asked", None)
    numba_backend.set_num_threads(3)
    assert numba_backend.get_num_threads() == 3
    numba_backend.set_num_threads("auto")
    assert numba_backend._threads_asked == "auto"


def test_the_command_line_refuses_a_bad_count_before_the_run_folder_is_made(tmp_path):
    import os

    command = [sys.executable, "-m", "chainrule", "train", "--dataset", "iris", "--epochs", "1"]
    environment = {**os.environ, "CHAINRULE_KERNEL_THREADS": "zero",
                   "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "kernel threads 'zero' (from CHAINRULE_KERNEL_THREADS)" in lines[0]
    assert not (tmp_path / "runs").exists()


def test_the_benchmarks_machine_line_names_the_kernel_threads_and_layer(monkeypatch):
    from benchmarks.harness import describe_kernel_threads

    monkeypatch.setattr(numba_backend, "_threads_asked", 3)
    line = describe_kernel_threads(numba_backend)
    assert line.startswith("3 kernel threads (CHAINRULE_KERNEL_THREADS=")
    assert line.split("numba layer ")[1].split(",")[0] in ("omp", "workqueue", "tbb")
