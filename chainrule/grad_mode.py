"""Whether operations are recorded for backpropagation: ``no_grad``, ``enable_grad``,
``set_grad_enabled``.

The switch belongs to the thread, as PyTorch's does: recording is a property of the code being
run (a training step, an evaluation loop, an optimizer update), not of any tensor, and a
``no_grad`` block in one thread (say, an evaluation loop beside training) must not switch
recording off in another. Every thread starts with recording on.

The switch is a ``contextvars.ContextVar``: per thread (a new thread starts from the default)
and per asyncio task, and read on every op as fast as a plain attribute (a ``threading.local``
attribute costs twice as much).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Switch:
    """A boolean setting of the running thread, read and written as ``.enabled``; the hot
    paths call ``.get()`` and ``.set(value)`` (the ContextVar's own methods, no Python frame).
    ``set``, not a token's ``reset``, restores a previous value: a block may be left in another
    context than it was entered in (a generator resumed elsewhere), where ``reset`` raises."""

    __slots__ = ("_variable", "get", "set")

    def __init__(self, name: str, default: bool) -> None:
        self._variable: ContextVar[bool] = ContextVar(name, default=default)
        self.get = self._variable.get
        self.set = self._variable.set

    @property
    def enabled(self) -> bool:
        return self._variable.get()

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._variable.set(value)


# Whether ops record: the engine's hot paths read ``GRAD_MODE.get()`` and code that must run
# a block with recording switched (the autograd engine, custom Functions, compiled replays)
# sets it with ``GRAD_MODE.set(value)`` and restores the previous value; everyone else uses
# ``no_grad`` / ``enable_grad`` / ``set_grad_enabled``.
GRAD_MODE = Switch("chainrule.grad_enabled", True)


def is_grad_enabled() -> bool:
    """True when operations on tensors that require grad are recorded."""
    return GRAD_MODE.get()


class _GradModeContext:
    """Base of the context managers below; each one is also usable as a decorator."""

    _target: bool

    def __enter__(self) -> None:
        self._previous = GRAD_MODE.get()
        GRAD_MODE.set(self._target)

    def __exit__(self, *exc_info: object) -> None:
        GRAD_MODE.set(self._previous)

    def __call__(self, function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            previous = GRAD_MODE.get()
            GRAD_MODE.set(self._target)
            try:
                return function(*args, **kwargs)
            finally:
                GRAD_MODE.set(previous)

        return wrapper  # type: ignore[return-value]


class no_grad(_GradModeContext):  # noqa: N801 - PyTorch's name
    """Do not record operations: results have no ``grad_fn`` and backward cannot reach them.

    Example::

        >>> w = chainrule.ones(2, requires_grad=True)
        >>> (w * 3).sum().backward()
        >>> with chainrule.no_grad():
        ...     w -= 0.1 * w.grad
        >>> w
        tensor([0.7000, 0.7000], requires_grad=True)
    """

    _target = False


class enable_grad(_GradModeContext):  # noqa: N801 - PyTorch's name
    """Record operations again inside a ``no_grad`` block."""

    _target = True


class set_grad_enabled(_GradModeContext):  # noqa: N801 - PyTorch's name
    """Switch recording on or off; takes effect at once, and as a context manager restores
    the previous state on exit.

    Example::

        >>> _ = chainrule.set_grad_enabled(False)   # off from here on
        >>> with chainrule.set_grad_enabled(True):
        ...     chainrule.is_grad_enabled()       # on inside the block only
        True
        >>> chainrule.is_grad_enabled()
        False
        >>> _ = chainrule.set_grad_enabled(True)    # back to the default
    """

    def __init__(self, mode: bool) -> None:
        self._target = bool(mode)
        self._previous = GRAD_MODE.get()
        GRAD_MODE.set(self._target)

    def __enter__(self) -> None:
        # __init__ already switched; entering only remembers nothing new.
        pass

    def __call__(self, function: F) -> F:
        # Used as a decorator the constructor must not have switched the mode for good.
        GRAD_MODE.set(self._previous)
        return super().__call__(function)
