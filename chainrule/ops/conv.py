"""Convolutions over NCHW and NCL tensors: ``conv1d``, ``conv2d``, ``conv_transpose1d``,
``conv_transpose2d``, with PyTorch's signatures and weight layouts.

Three ops, each the other two's backward, so gradients of any order flow (``gradgradcheck``
passes):

* ``Conv2d(x, w)``: ``y = x ⋆ w`` as an im2col (a strided window view of the padded input,
  copied once into the layout (groups, C/groups * kh * kw, N * OH * OW)) and one GEMM.
* ``ConvTranspose2d(y, w)``: the adjoint of ``Conv2d`` in ``x``, i.e.
  ``<ConvTranspose2d(y, w), x> = <y, Conv2d(x, w)>``: one GEMM, then a col2im that adds one
  strided slice per kernel position (kh * kw additions, no ``np.add.at``).
* ``Conv2dWeightGrad(x, g)``: the adjoint of ``Conv2d`` in ``w``,
  ``<Conv2dWeightGrad(x, g), w> = <g, Conv2d(x, w)>``: im2col and one GEMM.

With groups, "one GEMM" is one per group. Outputs are (N, C, H, W) views of channel-major
memory, the layout the GEMM writes (see ``_conv_forward``).

One-dimensional convolutions run as two-dimensional ones over a height of 1 (the reshapes are
views). Asymmetric padding (``padding='same'`` with an even kernel) is kept as (before, after)
pairs throughout.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from chainrule.autograd.function import Function
from chainrule.backends import numba as numba_backend
from chainrule.kernels import conv as conv_kernels
from chainrule.kernels import geometry
from chainrule.tensor import Tensor

Pair = tuple[int, int]


class Window(NamedTuple):
    """Where a sliding window goes over the last two dims: kernel size, stride, (before,
    after) padding per dim, dilation."""

    kernel: Pair
    stride: Pair
    padding: tuple[Pair, Pair]
    dilation: Pair


# ------------------------------------------------------------------- window arithmetic
def window_output_size(in_hw: Sequence[int], window: Window) -> Pair:
    """Output height and width of a window sliding over a (padded) input of ``in_hw``."""
    sizes = []
    for size, k, s, (before, after), d in zip(in_hw, window.kernel, window.stride,
                                              window.padding, window.dilation):
        sizes.append((size + before + after - d * (k - 1) - 1) // s + 1)
    return sizes[0], sizes[1]


def filled_like(like: np.ndarray, shape: Sequence[int], fill: float = 0.0,
                dtype: np.dtype | None = None) -> np.ndarray:
    """A new (N, C, H, W) array of ``shape`` and ``like``'s dtype (or ``dtype``), channel-major
    in memory when ``like`` is (as convolution outputs are), so that elementwise work mixing the
    two runs over matching strides."""
    n, c, h, w = shape
    dtype = like.dtype if dtype is None else dtype
    channel_major = like.ndim == 4 and like.strides[1] > like.strides[0]
    memory_shape = (c, n, h, w) if channel_major else (n, c, h, w)
    out = np.zeros(memory_shape, dtype) if fill == 0 else np.full(memory_shape, fill, dtype)
    return out.transpose(1, 0, 2, 3) if channel_major else out


def pad_spatial(x: np.ndarray, padding: tuple[Pair, Pair], fill: float = 0.0) -> np.ndarray:
    """``x`` (N, C, H, W) padded by (before, after) pairs with ``fill`` (a new array)."""
    (top, bottom), (left, right) = padding
    if top == bottom == left == right == 0:
        return x
    n, c, h, w = x.shape
    out = filled_like(x, (n, c, h + top + bottom, w + left + right), fill)
    out[:, :, top:top + h, left:left + w] = x
    return out


def kernel_positions(window: Window, out_hw: Pair) -> Iterator[tuple[int, int, tuple[slice, slice]]]:
    """For each kernel position (i, j): the strided slice of the padded input that it sees
    across all ``out_hw`` output positions. Looping over these (kh * kw of them, few) lets
    scatters and reductions work on whole arrays at a time."""
    (kh, kw), (sh, sw), (dh, dw) = window.kernel, window.stride, window.dilation
    out_h, out_w = out_hw
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + (out_h - 1) * sh + 1, sh)
            cols = slice(j * dw, j * dw + (out_w - 1) * sw + 1, sw)
            yield i, j, (rows, cols)


def _im2col(x: np.ndarray, window: Window, groups: int, out_hw: Pair) -> np.ndarray:
    """The columns of ``x`` (N, C, H, W): shape (groups, C/groups * kh * kw, N * OH * OW).

    The window view costs nothing; the reshape makes the one copy. With the batch folded into
    the columns, a whole layer is one GEMM (per group), which BLAS runs several times faster
    than one small GEMM per sample; spatial positions last make the copy run in long strides."""
    (kh, kw), (sh, sw), (dh, dw) = window.kernel, window.stride, window.dilation
    out_h, out_w = out_hw
    padded = pad_spatial(x, window.padding)
    if numba_backend.handles(x):
        n, c = x.shape[:2]
        columns = np.empty((c, kh, kw, n, out_h, out_w), x.dtype)
        conv_kernels.im2col_loop(geometry(window))(padded.transpose(1, 0, 2, 3), columns)
        return columns.reshape(groups, c // groups * kh * kw, n * out_h * out_w)
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    views = sliding_window_view(padded, span, axis=(2, 3))
    views = views[:, :, :(out_h - 1) * sh + 1:sh, :(out_w - 1) * sw + 1:sw, ::dh, ::dw]
    n, c = x.shape[:2]
    return views.transpose(1, 4, 5, 0, 2, 3).reshape(groups, c // groups * kh * kw, n * out_h * out_w)


def _channel_major(a: np.ndarray) -> np.ndarray:
    """``a`` (N, C, H, W) as a view of channel-major memory, copying only if it is not one."""
    if a.transpose(1, 0, 2, 3).flags.c_contiguous:
        return a
    return np.ascontiguousarray(a.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)


def _channels_first(a: np.ndarray, groups: int) -> np.ndarray:
    """(N, C, H, W) → (groups, C/groups, N * H * W); free when ``a`` came out of a conv here."""
    n, c, h, w = a.shape
    return a.transpose(1, 0, 2, 3).reshape(groups, c // groups, n * h * w)


# --------------------------------------------------------------------- the array kernels
# Results are (N, C, H, W) views of channel-major (C, N, H, W) memory, the layout the GEMMs
# produce; elementwise ops keep it, and the next convolution reads it without a copy.
def _conv_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, window: Window,
                  groups: int, columns: np.ndarray | None = None) -> np.ndarray:
    """``columns``, when given, are ``x``'s im2col (the caller keeps them for the weight
    gradient)."""
    n = x.shape[0]
    out_channels = weight.shape[0]
    out_hw = window_output_size(x.shape[2:], window)
    if columns is None:
        columns = _im2col(x, window, groups, out_hw)
    out = np.matmul(weight.reshape(groups, out_channels // groups, -1), columns)
    out = out.reshape(out_channels, n, *out_hw)
    if bias is not None:
        out += bias.reshape(-1, 1, 1, 1)
    return out.transpose(1, 0, 2, 3)


def _conv_transpose_forward(y: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                            window: Window, groups: int, out_hw: Pair) -> np.ndarray:
    """The adjoint of ``_conv_forward`` in x: y (N, O, OH, OW) → (N, C, *out_hw)."""
    n, out_channels, h, w = y.shape
    group_in, (kh, kw) = weight.shape[1], window.kernel
    group_out = out_channels // groups
    # Kernel position outermost in the columns, so every block added below is contiguous.
    per_position = weight.reshape(groups, group_out, group_in, kh, kw).transpose(0, 3, 4, 2, 1)
    per_position = per_position.reshape(groups, kh * kw * group_in, group_out)
    columns = np.matmul(per_position, _channels_first(y, groups))
    out = _col2im(columns.reshape(groups, kh, kw, group_in, n, h, w), window, out_hw)
    if bias is not None:
        out = out + bias.reshape(-1, 1, 1)
    return out


def _col2im(columns: np.ndarray, window: Window, out_hw: Pair) -> np.ndarray:
    """Sum ``columns`` (groups, kh, kw, C/groups, N, OH, OW) back onto the input grid each
    kernel position read: (N, C, *out_hw), channel-major in memory."""
    groups, _, _, group_in, n, h, w = columns.shape
    (top, bottom), (left, right) = window.padding
    height, width = out_hw
    padded = np.zeros((groups, group_in, n, height + top + bottom, width + left + right), columns.dtype)
    if numba_backend.handles(columns):
        conv_kernels.col2im_loop(geometry(window))(columns, padded)
    else:
        for i, j, (rows, cols) in kernel_positions(window, (h, w)):
            padded[..., rows, cols] += columns[:, i, j]
    out = padded.reshape(groups * group_in, *padded.shape[2:]).transpose(1, 0, 2, 3)
    # dense again (one copy, only when there was padding): the elementwise backward passes
    # that read it next run several times faster on one block than on a cropped view
    return _channel_major(out[:, :, top:top + height, left:left + width])


def _conv_weight_grad(x: np.ndarray, grad: np.ndarray, window: Window, groups: int,
                      columns: np.ndarray | None = None) -> np.ndarray:
    """The adjoint of ``_conv_forward`` in the weight: (O, C/groups, kh, kw). ``columns``,
    when given, are ``x``'s im2col, kept from the forward pass."""
    out_channels = grad.shape[1]
    if columns is None:
        columns = _im2col(x, window, groups, grad.shape[2:])
    # (columns @ grad^T)^T rather than grad @ columns^T: the same numbers, and OpenBLAS runs this
    # order faster here (1.81 ms against 1.96 ms for the second layer of the MNIST CNN at batch
    # 64); the small result is then copied back to row-major, the layout optimizers expect.
    grad_t = _channels_first(grad, groups).transpose(0, 2, 1)
    per_group = _long_product(columns, grad_t).transpose(0, 2, 1)
    return np.ascontiguousarray(per_group.reshape(out_channels, x.shape[1] // groups, *window.kernel))


def _long_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for a (G, K, M) and b (G, M, O) whose inner dimension M dwarfs K and O (a
    weight gradient sums over every output position of a batch).

    When K + O is small, OpenBLAS runs such a product far below its speed (the first layer of
    the MNIST CNN: (9, 43264) @ (43264, 32) in 0.9-1.9 ms); summed over slices of M that fit
    in L2 cache with their operands, the same product takes 0.33 ms."""
    slice_length = 65536 // (a.shape[1] + b.shape[2])  # both operands' slices: 256 KB together
    if slice_length < 1024 or a.shape[2] < 4 * slice_length:
        return np.matmul(a, b)
    total = np.matmul(a[:, :, :slice_length], b[:, :slice_length])
    for start in range(slice_length, a.shape[2], slice_length):
        total += np.matmul(a[:, :, start:start + slice_length], b[:, start:start + slice_length])
    return total


# ------------------------------------------------------------------------------------ ops
def _crop_to(tensor: Tensor, hw: Sequence[int]) -> Tensor:
    """Drop trailing rows/columns a convolution produced beyond ``hw``."""
    if tuple(tensor.shape[2:]) == tuple(hw):
        return tensor
    return tensor[:, :, :hw[0], :hw[1]]


class Conv2d(Function):
    """``x`` (N, C, H, W) ⋆ ``weight`` (O, C/groups, kh, kw) + ``bias`` (O,)."""

    @staticmethod
    def forward(ctx, x, weight, bias, window, groups):
        ctx.save_inputs(0, 1)
        ctx.window, ctx.groups = window, groups
        columns = _im2col(x, window, groups, window_output_size(x.shape[2:], window))
        if ctx.needs_input_grad[1]:
            # The weight gradient needs these same columns: keeping them (kh * kw times x's
            # memory, released as backward passes) saves a second im2col, the costliest copy
            # of a convolution's backward.
            ctx.columns = columns
        return _conv_forward(x, weight, bias, window, groups, columns)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_inputs
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        window, groups = ctx.window, ctx.groups
        grad_b = grad.sum((0, 2, 3)) if need_b else None
        # One channel-major copy of grad (when it is not already) serves every GEMM below,
        # and the weight gradient reuses the forward pass's columns.
        grad = ChannelMajor.apply(grad)
        grad_w = Conv2dWeightGrad.apply(x, grad, window, groups, ctx.columns) if need_w else None
        grad_x = ConvTranspose2d.apply(grad, weight, None, window, groups, x.shape[2:]) if need_x else None
        return grad_x, grad_w, grad_b, None, None


class ChannelMajor(Function):
    """The same values with the channels as the slowest axis in memory (copied only when they
    are not already), the layout the convolution kernels read without copying."""

    @staticmethod
    def forward(ctx, a):
        return _channel_major(a)

    @staticmethod
    def backward(ctx, grad):
        return grad


class ConvTranspose2d(Function):
    """The adjoint of ``Conv2d`` in x: ``y`` (N, O, OH, OW) with ``weight`` (O, C/groups, kh,
    kw) → (N, C, *out_hw), plus ``bias`` (C,)."""

    @staticmethod
    def forward(ctx, y, weight, bias, window, groups, out_hw):
        ctx.save_inputs(0, 1)
        ctx.window, ctx.groups = window, groups
        return _conv_transpose_forward(y, weight, bias, window, groups, out_hw)

    @staticmethod
    def backward(ctx, grad):
        y, weight = ctx.saved_inputs
        need_y, need_w, need_b = ctx.needs_input_grad[:3]
        window, groups = ctx.window, ctx.groups
        grad_y = _crop_to(Conv2d.apply(grad, weight, None, window, groups), y.shape[2:]) if need_y else None
        grad_w = Conv2dWeightGrad.apply(grad, y, window, groups, None) if need_w else None
        grad_b = grad.sum((0, 2, 3)) if need_b else None
        return grad_y, grad_w, grad_b, None, None, None


class Conv2dWeightGrad(Function):
    """The adjoint of ``Conv2d`` in the weight: d<grad, Conv2d(x, w)>/dw for ``grad``
    (N, O, OH, OW)."""

    @staticmethod
    def forward(ctx, x, grad, window, groups, columns=None):
        ctx.save_inputs(0, 1)
        ctx.window, ctx.groups = window, groups
        return _conv_weight_grad(x, grad, window, groups, columns)

    @staticmethod
    def backward(ctx, grad_weight):
        x, grad = ctx.saved_inputs
        need_x, need_grad = ctx.needs_input_grad[:2]
        window, groups = ctx.window, ctx.groups
        grad_x = grad_g = None
        if need_x:
            grad_x = ConvTranspose2d.apply(grad, grad_weight, None, window, groups, x.shape[2:])
        if need_grad:
            grad_g = _crop_to(Conv2d.apply(x, grad_weight, None, window, groups), grad.shape[2:])
        return grad_x, grad_g, None, None, None


# -------------------------------------------------------------------- argument checking
def expand_param(value: Any, count: int, name: str, op: str, minimum: int) -> tuple[int, ...]:
    """An int or a tuple of ``count`` ints, each at least ``minimum``, as a tuple."""
    values = (value,) * count if isinstance(value, int | np.integer) else tuple(value)
    if len(values) != count or not all(isinstance(v, int | np.integer) for v in values):
        raise ValueError(f"{op}: {name} must be an int or a tuple of {count} ints, got {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{op}: {name} must be at least {minimum}, got {value!r}")
    return tuple(int(v) for v in values)


def _conv_padding(padding: Any, kernel: tuple[int, ...], dilation: tuple[int, ...],
                  stride: tuple[int, ...], op: str) -> tuple[Pair, ...]:
    """(before, after) per spatial dim from an int, a tuple, 'valid' or 'same'."""
    if isinstance(padding, str):
        if padding == "valid":
            return tuple((0, 0) for _ in kernel)
        if padding != "same":
            raise ValueError(f"{op}: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                             f"(stride={stride}); give the padding as numbers")
        # The odd unit of padding goes after, as PyTorch does.
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((total // 2, total - total // 2) for total in totals)
    return tuple((p, p) for p in expand_param(padding, len(kernel), "padding", op, 0))


def _check_tensors(op: str, input: Tensor, weight: Tensor, bias: Tensor | None,  # noqa: A002
                   spatial: int) -> bool:
    """Check ranks and dtypes; returns whether the input has a batch dimension."""
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{op}: input and weight must be Tensors, got {type(input).__name__} and "
                        f"{type(weight).__name__}")
    if input.ndim not in (spatial + 1, spatial + 2):
        layout = "(N, C, L)" if spatial == 1 else "(N, C, H, W)"
        raise ValueError(f"{op}: expected a {spatial + 2}-D input {layout} (or {spatial + 1}-D "
                         f"without the batch), got shape {tuple(input.shape)}")
    if weight.ndim != spatial + 2:
        raise ValueError(f"{op}: expected a {spatial + 2}-D weight, got shape {tuple(weight.shape)}")
    for name, tensor in (("weight", weight), ("bias", bias)):
        if tensor is not None and tensor.dtype != input.dtype:
            raise TypeError(f"{op}: input dtype {input.dtype} and {name} dtype {tensor.dtype} "
                            f"differ; convert one, e.g. {name}.to(input.dtype)")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got {input.dtype}")
    return input.ndim == spatial + 2


def _check_fits(op: str, in_size: tuple[int, ...], window_span: tuple[int, ...],
                padding: tuple[Pair, ...]) -> None:
    padded = tuple(s + a + b for s, (a, b) in zip(in_size, padding))
    if any(p < k for p, k in zip(padded, window_span)):
        raise ValueError(f"{op}: the padded input size per channel {padded} is smaller than the "
                         f"(dilated) kernel size {window_span}; the kernel can't be larger than "
                         "the input")


def _as_2d(spatial: int, x: Tensor, weight: Tensor, stride: tuple[int, ...],
           padding: tuple[Pair, ...], dilation: tuple[int, ...]) -> tuple[Tensor, Tensor, Window]:
    """Lift a 1-D convolution to a 2-D one over a height of 1 (reshapes are views)."""
    if spatial == 1:
        x, weight = x.unsqueeze(2), weight.unsqueeze(2)
        stride, padding, dilation = (1, *stride), ((0, 0), *padding), (1, *dilation)
    return x, weight, Window(tuple(weight.shape[2:]), stride, padding, dilation)


def _convolution(op: str, spatial: int, input: Tensor, weight: Tensor, bias: Tensor | None,  # noqa: A002
                 stride: Any, padding: Any, dilation: Any, groups: int) -> Tensor:
    batched = _check_tensors(op, input, weight, bias, spatial)
    x = input if batched else input.unsqueeze(0)
    stride = expand_param(stride, spatial, "stride", op, 1)
    dilation = expand_param(dilation, spatial, "dilation", op, 1)
    kernel = tuple(weight.shape[2:])
    pads = _conv_padding(padding, kernel, dilation, stride, op)
    out_channels, group_in = weight.shape[:2]
    if not isinstance(groups, int | np.integer) or groups < 1 or out_channels % groups:
        raise ValueError(f"{op}: groups={groups} must be a positive int dividing the "
                         f"{out_channels} output channels of weight {tuple(weight.shape)}")
    if x.shape[1] != group_in * groups:
        raise ValueError(f"{op}: given groups={groups} and weight of shape {tuple(weight.shape)}, "
                         f"expected input {tuple(input.shape)} to have {group_in * groups} "
                         f"channels, but got {x.shape[1]} channels instead")
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"{op}: bias of shape {tuple(bias.shape)} does not fit weight of shape "
                         f"{tuple(weight.shape)}; expected ({out_channels},)")
    _check_fits(op, tuple(x.shape[2:]), tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation)), pads)
    x2, weight2, window = _as_2d(spatial, x, weight, stride, pads, dilation)
    out = Conv2d.apply(x2, weight2, bias, window, int(groups))
    if spatial == 1:
        out = out.squeeze(2)
    return out if batched else out.squeeze(0)


def _transposed(op: str, spatial: int, input: Tensor, weight: Tensor, bias: Tensor | None,  # noqa: A002
                stride: Any, padding: Any, output_padding: Any, groups: int, dilation: Any) -> Tensor:
    batched = _check_tensors(op, input, weight, bias, spatial)
    x = input if batched else input.unsqueeze(0)
    stride = expand_param(stride, spatial, "stride", op, 1)
    dilation = expand_param(dilation, spatial, "dilation", op, 1)
    pads = expand_param(padding, spatial, "padding", op, 0)
    extra = expand_param(output_padding, spatial, "output_padding", op, 0)
    if any(e >= s and e >= d for e, s, d in zip(extra, stride, dilation)):
        raise ValueError(f"{op}: output_padding {extra} must be smaller than either the stride "
                         f"{stride} or the dilation {dilation}")
    in_channels, group_out = weight.shape[:2]
    if not isinstance(groups, int | np.integer) or groups < 1 or in_channels % groups:
        raise ValueError(f"{op}: groups={groups} must be a positive int dividing the "
                         f"{in_channels} input channels of weight {tuple(weight.shape)}")
    if x.shape[1] != in_channels:
        raise ValueError(f"{op}: weight of shape {tuple(weight.shape)} expects input "
                         f"{tuple(input.shape)} to have {in_channels} channels, but got "
                         f"{x.shape[1]} channels instead")
    if bias is not None and tuple(bias.shape) != (group_out * groups,):
        raise ValueError(f"{op}: bias of shape {tuple(bias.shape)} does not fit weight of shape "
                         f"{tuple(weight.shape)} with groups={groups}; expected ({group_out * groups},)")
    kernel = tuple(weight.shape[2:])
    out_size = tuple((size - 1) * s - 2 * p + d * (k - 1) + e + 1 for size, s, p, d, k, e
                     in zip(x.shape[2:], stride, pads, dilation, kernel, extra))
    if any(size < 1 for size in out_size):
        raise ValueError(f"{op}: the output size {out_size} for input {tuple(input.shape)} is not "
                         "positive; reduce the padding")
    x2, weight2, window = _as_2d(spatial, x, weight, stride, tuple((p, p) for p in pads), dilation)
    out_hw = (1, *out_size) if spatial == 1 else out_size
    out = ConvTranspose2d.apply(x2, weight2, bias, window, int(groups), out_hw)
    if spatial == 1:
        out = out.squeeze(2)
    return out if batched else out.squeeze(0)


# ------------------------------------------------------------------- public functions
def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,  # noqa: A002
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as PyTorch) over NCHW input.

    Shapes: input (N, C, H, W) or (C, H, W), weight (O, C / groups, kh, kw), bias (O,) →
    (N, O, OH, OW) with OH = (H + 2 padding - dilation (kh - 1) - 1) // stride + 1.
    ``padding`` is an int, a pair, ``'valid'`` (none) or ``'same'`` (output as large as the
    input; stride 1 only).

    Example::

        >>> F.conv2d(chainrule.ones(1, 3, 8, 8), chainrule.ones(4, 3, 3, 3), padding=1).shape
        (1, 4, 8, 8)
    """
    return _convolution("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,  # noqa: A002
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """1-D convolution over NCL input.

    Shapes: input (N, C, L) or (C, L), weight (O, C / groups, k), bias (O,) → (N, O, OL).

    Example::

        >>> F.conv1d(chainrule.ones(2, 3, 10), chainrule.ones(5, 3, 3)).shape
        (2, 5, 8)
    """
    return _convolution("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,  # noqa: A002
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    """Transposed 2-D convolution (the gradient of ``conv2d`` with respect to its input).

    Shapes: input (N, C_in, H, W) or (C_in, H, W), weight (C_in, C_out / groups, kh, kw),
    bias (C_out,) → (N, C_out, OH, OW) with
    OH = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1.

    Example::

        >>> F.conv_transpose2d(chainrule.ones(1, 4, 5, 5), chainrule.ones(4, 2, 3, 3), stride=2).shape
        (1, 2, 11, 11)
    """
    return _transposed("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding,
                       groups, dilation)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,  # noqa: A002
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    """Transposed 1-D convolution. Shapes: input (N, C_in, L), weight (C_in, C_out / groups,
    k), bias (C_out,) → (N, C_out, (L - 1) stride - 2 padding + dilation (k - 1) +
    output_padding + 1).

    Example::

        >>> F.conv_transpose1d(chainrule.ones(1, 4, 5), chainrule.ones(4, 2, 3)).shape
        (1, 2, 7)
    """
    return _transposed("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding,
                       groups, dilation)
