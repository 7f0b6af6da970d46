"""``chainrule.accelerator``: PyTorch's device-agnostic accelerator queries; there is none.

Example::

    >>> import chainrule as torch
    >>> torch.accelerator.is_available(), torch.accelerator.current_accelerator()
    (False, None)
"""

from __future__ import annotations

from typing import Any

from chainrule.devices import check_cpu


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def current_accelerator(check_available: bool = False) -> None:
    """None: no accelerator (PyTorch's answer on a CPU-only machine)."""
    return None


def _no_accelerator(*args: Any, **kwargs: Any) -> Any:
    check_cpu("cuda")


current_device_index = set_device_index = synchronize = _no_accelerator
