"""Anomaly detection: find the first op whose output or gradient holds NaN or Inf.

With ``detect_anomaly()`` on, every op checks its forward output and the engine checks every
gradient a backward rule returns. The error names the op, the shapes of its inputs and the
line of the user's code that called the op (recorded at forward time, so a NaN that appears
during backward still points at the forward call that made the node).

Example::

    >>> model, x = chainrule.nn.Linear(3, 1), chainrule.randn(8, 3)
    >>> with chainrule.autograd.detect_anomaly():
    ...     loss = model(x).log().sum()      # raises here if log() produced NaN or -inf
    ...     loss.backward()                  # or here, naming the op whose gradient went bad
    Traceback (most recent call last):
        ...
    chainrule.autograd.anomaly.AnomalyError: anomaly detected in forward: Log returned 4 NaN of 8 values ...

Cost: off, one flag test per op. On, a ``numpy.isfinite`` pass over every output and gradient
and a walk of the Python stack per op: measured with ``python -m benchmarks.anomaly_overhead``
on 2026-11-24, a training step of a 784-512-512-10 MLP (batch 128) took 1.05x as long and one
of a 784-128-10 MLP (batch 64) 1.11x, the small model paying more because per-op costs weigh
more there.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

import numpy as np

from chainrule.grad_mode import Switch

# Anomaly detection is switched per thread, as grad mode is (off in a new thread): a
# ``detect_anomaly`` block checks the ops its own thread runs and leaves the cost of the checks
# out of other threads. (PyTorch's switch is process-wide; one rule for both switches is
# easier to reason about.)
ANOMALY_MODE = Switch("chainrule.detect_anomaly", False)
# Ops run by a backward rule are checked as that rule's result, not as forward ops.
_InBackward = Switch("chainrule.anomaly_in_backward", False)


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class AnomalyError(RuntimeError):
    """An op produced NaN or Inf while anomaly detection was on."""


def is_anomaly_enabled() -> bool:
    return ANOMALY_MODE.get()


class detect_anomaly:  # noqa: N801 - PyTorch's name
    """Context manager (and decorator) that turns anomaly detection on."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan

    def __enter__(self) -> None:
        self._previous = ANOMALY_MODE.get()
        ANOMALY_MODE.set(self.check_nan)

    def __exit__(self, *exc_info: object) -> None:
        ANOMALY_MODE.set(self._previous)

    def __call__(self, function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return function(*args, **kwargs)

        return wrapper


class set_detect_anomaly(detect_anomaly):  # noqa: N801 - PyTorch's name
    """Turn anomaly detection on or off (at once, and as a context manager, restoring on exit)."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        super().__init__(check_nan=mode and check_nan)
        self._previous = ANOMALY_MODE.get()
        ANOMALY_MODE.set(self.check_nan)

    def __enter__(self) -> None:
        pass


def user_source_line() -> str:
    """``file:line in function`` of the innermost stack frame outside chainrule's package."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(_PACKAGE_DIR + os.sep):
            return f"{filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
    return "<unknown>"


def _describe(values: np.ndarray) -> str:
    nan = int(np.isnan(values).sum())
    inf = int(np.isinf(values).sum())
    parts = [f"{nan} NaN" if nan else "", f"{inf} Inf" if inf else ""]
    return " and ".join(p for p in parts if p) + f" of {values.size} values"


def check_forward(node: Any, inputs: Sequence[Any], output: np.ndarray) -> None:
    """Called by ``Function.apply`` for every op while anomaly detection is on."""
    if _InBackward.get():
        return
    location = user_source_line()
    node._anomaly_location = location
    if output.dtype.kind == "f" and not np.isfinite(output).all():
        shapes = ", ".join(str(tuple(np.shape(a))) for a in inputs if hasattr(a, "shape"))
        raise AnomalyError(
            f"anomaly detected in forward: {type(node).__name__} returned {_describe(output)} "
            f"(inputs of shapes {shapes or 'none'}), called at {location}"
        )


def check_backward(node: Any, input_index: int, grad: np.ndarray) -> None:
    """Called by the engine for every gradient a backward rule returns."""
    if grad.dtype.kind == "f" and not np.isfinite(grad).all():
        shapes = ", ".join(str(s) for s in node.input_shapes if s is not None)
        location = getattr(node, "_anomaly_location", "<recorded before detect_anomaly was on>")
        raise AnomalyError(
            f"anomaly detected in backward: {node.name()} returned {_describe(grad)} in the "
            f"gradient for its input {input_index} (inputs of shapes {shapes}); the forward op "
            f"was called at {location}"
        )
