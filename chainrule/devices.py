"""``chainrule.device``: where a tensor lives, answered as PyTorch does on a machine without
accelerators.

chainrule computes on the CPU with NumPy. Scripts written for PyTorch still name devices
(``device = "cuda" if torch.cuda.is_available() else "cpu"``), so every device PyTorch knows
can be *named* here (``device("cuda:0")`` is a valid object), and ``device("cpu")`` works
everywhere a device is accepted. Putting a tensor or a module on any other device raises one
:class:`DeviceUnavailableError` saying so.

Example::

    >>> import chainrule as torch
    >>> dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    >>> torch.zeros(2, device=dev).device
    device(type='cpu')
"""

from __future__ import annotations

from typing import Any

# The device types PyTorch accepts by name (torch.device("foo") is an error there too).
DEVICE_TYPES = (
    "cpu",
    "cuda",
    "ipu",
    "xpu",
    "mkldnn",
    "opengl",
    "opencl",
    "ideep",
    "hip",
    "ve",
    "fpga",
    "maia",
    "xla",
    "lazy",
    "vulkan",
    "mps",
    "meta",
    "hpu",
    "mtia",
    "privateuseone",
)


class DeviceUnavailableError(RuntimeError):
    """A tensor or module was asked to live on a device other than the CPU."""


class device:  # noqa: N801 - PyTorch's name
    """A device name: ``device("cpu")``, ``device("cuda", 0)``, ``device("cuda:1")``.

    Equal devices compare and hash equal; ``str()`` gives ``"cuda:1"``, ``repr()``
    ``device(type='cuda', index=1)``. Only ``"cpu"`` can hold tensors. Used as a context
    manager (``with device("cpu"):``) it is accepted for the CPU, as PyTorch's.

    Example::

        >>> device("cuda:1").index
        1
        >>> device("cpu") == device("cpu")
        True
    """

    __slots__ = ("type", "index")
    type: str
    index: int | None

    def __init__(self, type: Any, index: int | None = None) -> None:  # noqa: A002
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        elif isinstance(type, int) and not isinstance(type, bool):
            raise DeviceUnavailableError(
                f"device({type}) names accelerator number {type}, but chainrule runs on the CPU "
                "only; use device('cpu')"
            )
        if not isinstance(type, str):
            raise TypeError(f"device() expects a string such as 'cpu' or 'cuda:0', got {type!r}")
        name, _, number = type.partition(":")
        if name not in DEVICE_TYPES:
            raise RuntimeError(
                f"unknown device type {name!r} in device({type!r}); expected one of {', '.join(DEVICE_TYPES)}"
            )
        if number:
            if index is not None or not number.isdigit():
                raise RuntimeError(f"invalid device string {type!r}; write e.g. 'cuda:0'")
            index = int(number)
        if index is not None and index < 0:
            raise RuntimeError(f"device index must not be negative, got {index}")
        object.__setattr__(self, "type", name)
        object.__setattr__(self, "index", index)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("a device is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type={self.type!r})"
        return f"device(type={self.type!r}, index={self.index})"

    def __reduce__(self) -> tuple[Any, ...]:
        return device, (self.type, self.index)

    def __enter__(self) -> device:
        check_cpu(self)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        return None


CPU = device("cpu")


def as_device(value: Any) -> device:
    """``value`` (a string, a device, or ``None`` for the default) as a :class:`device`."""
    if value is None:
        return CPU
    return value if isinstance(value, device) else device(value)


def check_cpu(value: Any) -> device:
    """``value`` as a device, raising :class:`DeviceUnavailableError` unless it is the CPU."""
    resolved = as_device(value)
    if resolved.type != "cpu":
        raise DeviceUnavailableError(
            f"device {str(resolved)!r} is not available: chainrule runs on the CPU only "
            f"(chainrule.cuda.is_available() is False); use device('cpu'), or pick the device "
            f"with `'cuda' if torch.cuda.is_available() else 'cpu'`"
        )
    return resolved


def is_device_like(value: Any) -> bool:
    """Whether a positional argument of ``.to(...)`` names a device rather than a dtype."""
    return isinstance(value, device | str) or isinstance(value, int) and not isinstance(value, bool)


def parse_to_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, bool]:
    """Read the arguments of ``Tensor.to`` / ``Module.to`` (``to(device)``, ``to(dtype)``,
    ``to(device, dtype)``, ``to(other_tensor)``, keywords ``device=``, ``dtype=``, ``copy=``,
    ``non_blocking=``): check the device is the CPU and return ``(dtype or None, copy)``."""
    from chainrule.tensor import Tensor

    dtype = kwargs.pop("dtype", None)
    check_cpu(kwargs.pop("device", None))
    copy = bool(kwargs.pop("copy", False))
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)  # NumPy arrays have one layout; the option changes nothing
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for arg in args:
        if isinstance(arg, Tensor):
            dtype = arg.dtype
        elif is_device_like(arg):
            check_cpu(arg)
        elif arg is not None:
            dtype = arg
    return dtype, copy


def set_default_device(value: Any) -> None:
    """Set the device new tensors are made on; only ``"cpu"`` (or ``None``) is possible here.

    Example::

        >>> set_default_device("cpu")
    """
    check_cpu(value)


def get_default_device() -> device:
    """The device new tensors are made on: always the CPU."""
    return CPU
