"""Normalisation layers: ``BatchNorm1d``, ``BatchNorm2d``, ``LayerNorm``, ``GroupNorm``, with
PyTorch's parameters and buffers (``weight``, ``bias``, ``running_mean``, ``running_var``,
``num_batches_tracked``), so state dicts interchange."""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import Any, cast

from chainrule.creation import empty, ones, tensor, zeros
from chainrule.dtypes import as_dtype, int64
from chainrule.grad_mode import no_grad
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.modules.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor


def _register_affine(module: Module, shape: tuple[int, ...], affine: bool, bias: bool, dtype: Any) -> None:
    """The learnable scale (``weight``) and shift (``bias``) of a normalisation layer, or
    ``None`` in their place, as PyTorch registers them (values are set by reset_parameters)."""
    module.register_parameter("weight", Parameter(empty(*shape, dtype=dtype)) if affine else None)
    module.register_parameter("bias", Parameter(empty(*shape, dtype=dtype)) if affine and bias else None)


class _BatchNorm(Module):
    """Normalise each channel over the batch (and spatial positions), then scale and shift.

    In training mode the batch's mean and biased variance are used, and the running estimates
    move toward the batch's mean and unbiased variance:
    running = (1 - momentum) running + momentum batch. With ``momentum=None`` they are the
    cumulative average over all batches seen. In eval mode the running estimates are used
    (unless ``track_running_stats=False``, which always uses batch statistics).
    """

    _expected: tuple[int, ...]
    _layout: str

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device: Any = None,
                 dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dtype = as_dtype(dtype)
        _register_affine(self, (num_features,), affine, bias, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1)
                self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def _check_input(self, input: Tensor) -> None:  # noqa: A002
        if input.ndim not in self._expected or input.shape[1] != self.num_features:
            raise ValueError(f"{self!r}: expected input of shape {self._layout.format(C=self.num_features)}, "
                             f"got shape {tuple(input.shape)}")

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        self._check_input(input)
        average_factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:
                average_factor = 1.0 / float(self.num_batches_tracked.item())
        use_batch_stats = self.training or self.running_mean is None
        keep_running = not self.training or self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean if keep_running else None,
            self.running_var if keep_running else None,
            self.weight, self.bias, use_batch_stats, average_factor, self.eps,
        )

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) input; statistics per channel C.

    Example::

        >>> nn.BatchNorm1d(16)(chainrule.randn(32, 16)).shape
        (32, 16)
    """

    _expected = (2, 3)
    _layout = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) input; statistics per channel C.

    Example::

        >>> nn.BatchNorm2d(8)(chainrule.randn(4, 8, 5, 5)).shape
        (4, 8, 5, 5)
    """

    _expected = (4,)
    _layout = "(N, {C}, H, W)"


class _InstanceNorm(_BatchNorm):
    """Normalise each channel of each sample over its spatial positions (``F.instance_norm``),
    then, with ``affine``, scale and shift per channel. With ``track_running_stats`` the
    running estimates follow the per-sample statistics in training and replace them in eval.
    Unbatched input (C, *) is taken as a batch of one."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device: Any = None,
                 dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        unbatched = input.ndim == self._expected[0] - 1
        x = input.unsqueeze(0) if unbatched else input
        self._check_input(x)
        # num_batches_tracked stays 0, as in PyTorch, whose instance norm never counts batches
        out = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                              self.training or not self.track_running_stats,
                              0.0 if self.momentum is None else self.momentum, self.eps)
        return out.squeeze(0) if unbatched else out


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation over (N, C, L) or (C, L) input.

    Example::

        >>> nn.InstanceNorm1d(4)(chainrule.randn(2, 4, 10)).shape
        (2, 4, 10)
    """

    _expected = (3,)
    _layout = "(N, {C}, L)"


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation over (N, C, H, W) or (C, H, W) input (style transfer's norm)."""

    _expected = (4,)
    _layout = "(N, {C}, H, W)"


class LayerNorm(Module):
    """Normalise over the last ``len(normalized_shape)`` dimensions of each sample (biased
    variance), then scale by ``weight`` and shift by ``bias`` (both of ``normalized_shape``).
    Shape: (*, *normalized_shape) → same.

    Example::

        >>> nn.LayerNorm(64)(chainrule.randn(2, 10, 64)).shape
        (2, 10, 64)
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(int(s) for s in cast(Iterable[int], normalized_shape))
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dtype = as_dtype(dtype)
        _register_affine(self, self.normalized_shape, elementwise_affine, bias, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        n = len(self.normalized_shape)
        if input.ndim < n or tuple(input.shape[input.ndim - n:]) != self.normalized_shape:
            trailing = ", ".join(map(str, self.normalized_shape))
            raise ValueError(f"{self!r}: expected input of shape (*, {trailing}) (ending in "
                             f"normalized_shape), got shape {tuple(input.shape)}")
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    """Split the C channels into ``num_groups`` groups and normalise each group of each
    sample over its channels and positions; then a per-channel scale and shift.
    Shape: (N, C, *) → same.

    Example::

        >>> nn.GroupNorm(4, 16)(chainrule.randn(2, 16, 8, 8)).shape
        (2, 16, 8, 8)
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device: Any = None, dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        dtype = as_dtype(dtype)
        _register_affine(self, (num_channels,), affine, bias, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise ValueError(f"{self!r}: expected input of shape (N, {self.num_channels}, *), "
                             f"got shape {tuple(input.shape)}")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")
