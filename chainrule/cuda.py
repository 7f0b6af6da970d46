"""``chainrule.cuda``: PyTorch's CUDA namespace as it answers on a machine without a GPU.

Scripts probe it to choose a device (``"cuda" if torch.cuda.is_available() else "cpu"``) and
seed it unconditionally (``torch.cuda.manual_seed_all(0)``); those calls work. Calls that need a
GPU (``current_device``, ``synchronize``, ``get_device_name``...) raise
``DeviceUnavailableError``, as PyTorch's CPU build raises.

Example::

    >>> import chainrule as torch
    >>> torch.cuda.is_available(), torch.cuda.device_count()
    (False, 0)
"""

from __future__ import annotations

from typing import Any

from chainrule.devices import check_cpu


def is_available() -> bool:
    """False: chainrule computes on the CPU only."""
    return False


def device_count() -> int:
    return 0


def is_initialized() -> bool:
    return False


def is_bf16_supported(including_emulation: bool = True) -> bool:
    return False


def manual_seed(seed: int) -> None:
    """Does nothing, as PyTorch when no GPU is present (seed the CPU with ``chainrule.manual_seed``)."""


def manual_seed_all(seed: int) -> None:
    """Does nothing, as PyTorch when no GPU is present."""


def seed() -> None:
    """Does nothing, as PyTorch when no GPU is present."""


def seed_all() -> None:
    """Does nothing, as PyTorch when no GPU is present."""


def empty_cache() -> None:
    """Does nothing: there is no GPU memory to release."""


def memory_allocated(device: Any = None) -> int:
    return 0


def max_memory_allocated(device: Any = None) -> int:
    return 0


def memory_reserved(device: Any = None) -> int:
    return 0


def max_memory_reserved(device: Any = None) -> int:
    return 0


def _no_gpu(*args: Any, **kwargs: Any) -> Any:
    check_cpu("cuda")


# Calls that need a GPU raise, as on PyTorch's CPU build.
current_device = synchronize = get_device_name = get_device_properties = set_device = _no_gpu
get_device_capability = get_rng_state = set_rng_state = get_rng_state_all = _no_gpu
set_rng_state_all = reset_peak_memory_stats = _no_gpu
