"""Data augmentation: random flips, crops and shifts, normalisation and ``ToTensor``, with
torchvision's names, plus ``TransformDataset`` to apply them as a DataLoader draws samples.

Every transform takes one sample, an image ``(C, H, W)`` or ``(H, W)``, as a NumPy array or a
chainrule ``Tensor``, and returns the same kind (``ToTensor`` always returns a Tensor). Leading
dimensions beyond the channel are accepted too, ``(..., H, W)``; a random transform then makes
one draw for the whole array, as torchvision does. Transforms never write into their input
(except ``Normalize(inplace=True)``), so a dataset's own arrays stay untouched; they work on
data, outside autograd, and return tensors that do not require gradients.

Random transforms draw from ``generator`` (a ``chainrule.Generator`` or a
``numpy.random.Generator``) or, by default, from chainrule's global generator, so
``chainrule.manual_seed(0)`` makes a run's augmentation reproducible.

Example::

    >>> from chainrule.utils.data import DataLoader, TensorDataset
    >>> from chainrule.utils.data.transforms import (Compose, Normalize, RandomCrop,
    ...                                              RandomHorizontalFlip, TransformDataset)
    >>> augment = Compose([RandomCrop(28, padding=2), RandomHorizontalFlip(),
    ...                    Normalize([0.1307], [0.3081])])
    >>> images = np.zeros((100, 1, 28, 28), np.float32)
    >>> train = TransformDataset(TensorDataset(images, np.zeros(100, np.int64)), augment)
    >>> loader = DataLoader(train, batch_size=64, shuffle=True)
    >>> tuple(next(iter(loader))[0].shape)
    (64, 1, 28, 28)
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.random import Generator, numpy_generator
from chainrule.tensor import Tensor
from chainrule.utils.data.dataset import Dataset

__all__ = [
    "Compose",
    "Normalize",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomShift",
    "RandomVerticalFlip",
    "ToTensor",
    "TransformDataset",
    "crop",
    "hflip",
    "normalize",
    "pad",
    "shift",
    "to_tensor",
    "vflip",
]

_PADDING_MODES = ("constant", "edge", "reflect", "symmetric")


# --------------------------------------------------------------------------- helpers
def _as_array(image: Any, where: str) -> tuple[np.ndarray, bool]:
    """The image's NumPy array, and whether it came as a Tensor (to hand back the same kind)."""
    if isinstance(image, Tensor):
        return image.array, True
    if isinstance(image, np.ndarray):
        return image, False
    raise TypeError(
        f"{where}: expected an image as a numpy.ndarray or chainrule.Tensor, got "
        f"{type(image).__name__}; convert it first, e.g. with ToTensor()"
    )


def _like_input(array: np.ndarray, was_tensor: bool) -> np.ndarray | Tensor:
    return Tensor._wrap(np.ascontiguousarray(array)) if was_tensor else array


def _check_image(array: np.ndarray, where: str) -> None:
    if array.ndim < 2:
        raise ValueError(
            f"{where}: an image needs at least 2 dimensions (H, W) or (C, H, W), got shape "
            f"{array.shape}"
        )


def _rng(generator: Generator | np.random.Generator | None) -> np.random.Generator:
    # Looked up at every draw, not once: chainrule.manual_seed replaces the global generator.
    if isinstance(generator, np.random.Generator):
        return generator
    return numpy_generator(generator)


def _pair(value: int | Sequence[int], name: str, where: str) -> tuple[int, int]:
    """``n`` or ``(a, b)`` as a pair of non-negative ints."""
    if isinstance(value, numbers.Integral):
        pair = (int(value), int(value))
    elif isinstance(value, Sequence) and len(value) == 2 and all(
        isinstance(item, numbers.Integral) for item in value
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{where}: {name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < 0:
        raise ValueError(f"{where}: {name} must not be negative, got {value!r}")
    return pair


def _fill_value(fill: float, dtype: np.dtype, where: str) -> Any:
    """``fill`` in the image's dtype, refusing values the dtype would silently change."""
    cast = np.asarray(fill).astype(dtype)
    if cast != fill:
        raise ValueError(f"{where}: fill={fill!r} cannot be stored in an image of dtype {dtype}")
    return cast


# ------------------------------------------------------------------------ functional
def hflip(image: Any) -> Any:
    """Mirror left-right (reverse the last axis, W). Shape ``(..., H, W)`` is kept.

    Example:
        >>> hflip(np.array([[1, 2, 3]]))
        array([[3, 2, 1]])
    """
    array, was_tensor = _as_array(image, "hflip")
    _check_image(array, "hflip")
    return _like_input(array[..., ::-1].copy(), was_tensor)


def vflip(image: Any) -> Any:
    """Mirror top-bottom (reverse the second-to-last axis, H). Shape ``(..., H, W)`` is kept.

    Example:
        >>> vflip(np.array([[1], [2]]))
        array([[2],
               [1]])
    """
    array, was_tensor = _as_array(image, "vflip")
    _check_image(array, "vflip")
    return _like_input(array[..., ::-1, :].copy(), was_tensor)


def _padding_widths(padding: int | Sequence[int], where: str) -> tuple[int, int, int, int]:
    """torchvision's padding forms as ``(left, top, right, bottom)``."""
    if isinstance(padding, numbers.Integral):
        widths = (int(padding),) * 4
    elif isinstance(padding, Sequence) and len(padding) == 2:
        horizontal, vertical = padding
        widths = (horizontal, vertical, horizontal, vertical)
    elif isinstance(padding, Sequence) and len(padding) == 4:
        widths = (padding[0], padding[1], padding[2], padding[3])
    else:
        raise TypeError(
            f"{where}: padding must be an int, (left/right, top/bottom) or (left, top, right, "
            f"bottom), got {padding!r}"
        )
    if not all(isinstance(width, numbers.Integral) and width >= 0 for width in widths):
        raise ValueError(f"{where}: padding must hold non-negative ints, got {padding!r}")
    return tuple(int(width) for width in widths)  # type: ignore[return-value]


def pad(
    image: Any, padding: int | Sequence[int], fill: float = 0, padding_mode: str = "constant"
) -> Any:
    """Pad the two last axes. ``padding``: ``n`` on every side, ``(left/right, top/bottom)``
    or ``(left, top, right, bottom)``, as torchvision. ``padding_mode``: ``"constant"`` (with
    ``fill``), ``"edge"``, ``"reflect"`` (mirror without repeating the edge) or
    ``"symmetric"`` (mirror repeating it). Shape ``(..., H, W) -> (..., H + top + bottom,
    W + left + right)``.

    Example:
        >>> pad(np.ones((1, 1)), (1, 0))
        array([[0., 1., 0.]])
    """
    array, was_tensor = _as_array(image, "pad")
    _check_image(array, "pad")
    if padding_mode not in _PADDING_MODES:
        raise ValueError(f"pad: padding_mode must be one of {list(_PADDING_MODES)}, got {padding_mode!r}")
    left, top, right, bottom = _padding_widths(padding, "pad")
    widths = [(0, 0)] * (array.ndim - 2) + [(top, bottom), (left, right)]
    if padding_mode == "constant":
        padded = np.pad(array, widths, mode="constant", constant_values=_fill_value(fill, array.dtype, "pad"))
    else:
        padded = np.pad(array, widths, mode=padding_mode)  # type: ignore[call-overload]  # checked above
    return _like_input(padded, was_tensor)


def crop(image: Any, top: int, left: int, height: int, width: int) -> Any:
    """The window of ``height x width`` pixels whose top-left corner is at ``(top, left)``.
    Shape ``(..., H, W) -> (..., height, width)``; the window must lie inside the image.

    Example:
        >>> crop(np.arange(9).reshape(3, 3), 1, 1, 2, 2)
        array([[4, 5],
               [7, 8]])
    """
    array, was_tensor = _as_array(image, "crop")
    _check_image(array, "crop")
    image_height, image_width = array.shape[-2:]
    if top < 0 or left < 0 or top + height > image_height or left + width > image_width:
        raise ValueError(
            f"crop: the {height}x{width} window at (top={top}, left={left}) does not fit in an "
            f"image of size {image_height}x{image_width}"
        )
    return _like_input(array[..., top : top + height, left : left + width].copy(), was_tensor)


def shift(image: Any, dy: int, dx: int, fill: float = 0) -> Any:
    """Move the content ``dy`` pixels down and ``dx`` pixels right (negative: up, left);
    pixels moved out of the frame are lost and the uncovered ones are ``fill``. Shape kept.

    ``result[..., y + dy, x + dx] == image[..., y, x]`` wherever both lie inside the frame.

    Example:
        >>> shift(np.array([[1, 2, 3]]), 0, 1)
        array([[0, 1, 2]])
    """
    array, was_tensor = _as_array(image, "shift")
    _check_image(array, "shift")
    height, width = array.shape[-2:]
    shifted = np.full_like(array, _fill_value(fill, array.dtype, "shift"))
    # A shift as large as the frame leaves nothing to copy.
    if abs(dy) < height and abs(dx) < width:
        source_rows = slice(max(0, -dy), height - max(0, dy))
        target_rows = slice(max(0, dy), height - max(0, -dy))
        source_cols = slice(max(0, -dx), width - max(0, dx))
        target_cols = slice(max(0, dx), width - max(0, -dx))
        shifted[..., target_rows, target_cols] = array[..., source_rows, source_cols]
    return _like_input(shifted, was_tensor)


def normalize(image: Any, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> Any:
    """``(image[c] - mean[c]) / std[c]`` for each channel ``c`` of a float image ``(C, H, W)``;
    an ``(H, W)`` image takes a single mean and std. The result keeps the image's dtype.

    Example:
        >>> normalize(np.ones((2, 1, 1), np.float32), [0.5, 1.0], [0.5, 1.0]).ravel()
        array([1., 0.], dtype=float32)
    """
    array, was_tensor = _as_array(image, "normalize")
    _check_image(array, "normalize")
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(
            f"normalize: the image must hold floats, got {array.dtype}; convert it first with "
            f"ToTensor() (which also scales uint8 to [0, 1])"
        )
    # In the image's own dtype: a float64 mean must not promote a float32 image.
    mean_array: np.ndarray = np.asarray(mean, dtype=array.dtype).reshape(-1)
    std_array: np.ndarray = np.asarray(std, dtype=array.dtype).reshape(-1)
    channels = array.shape[-3] if array.ndim >= 3 else 1
    for name, values in (("mean", mean_array), ("std", std_array)):
        if len(values) not in (1, channels):
            raise ValueError(
                f"normalize: {name} has {len(values)} values but the image of shape {array.shape} "
                f"has {channels} channel(s); give one value per channel"
            )
    if np.any(std_array == 0):
        raise ValueError(f"normalize: std {std_array.tolist()} contains a zero, which would divide by zero")
    per_channel = (-1, 1, 1) if array.ndim >= 3 else (1, 1)
    mean_array, std_array = mean_array.reshape(per_channel), std_array.reshape(per_channel)
    if inplace:
        array -= mean_array
        array /= std_array
        return image
    return _like_input((array - mean_array) / std_array, was_tensor)


def _channels_first(array: np.ndarray, layout: str) -> np.ndarray:
    if array.ndim == 2:
        return array[None]
    if array.ndim != 3:
        raise ValueError(
            f"ToTensor: expected an image (H, W), (H, W, C) or (C, H, W), got shape {array.shape}"
        )
    if layout == "auto":
        channel_counts = (1, 3, 4)  # grey, RGB, RGBA
        last_is_channels = array.shape[2] in channel_counts
        first_is_channels = array.shape[0] in channel_counts
        if last_is_channels == first_is_channels:
            raise ValueError(
                f"ToTensor: cannot tell whether an image of shape {array.shape} is channels-last "
                f"(H, W, C) or channels-first (C, H, W); pass ToTensor(layout='HWC') or "
                f"ToTensor(layout='CHW')"
            )
        layout = "HWC" if last_is_channels else "CHW"
    return array.transpose(2, 0, 1) if layout == "HWC" else array


def to_tensor(image: Any, layout: str = "auto") -> Tensor:
    """An image as a float32 Tensor ``(C, H, W)``: uint8 values are divided by 255 (into
    [0, 1]), other types are converted without scaling, as torchvision's ``to_tensor``.

    ``layout`` says how a 3-D array is laid out: ``"HWC"`` (channels last, the NumPy/PIL
    habit, transposed to ``(C, H, W)``), ``"CHW"``, or ``"auto"``: channels last if only the
    last axis has 1, 3 or 4 entries, channels first if only the first has (otherwise an error
    asks you to choose). ``(H, W)`` becomes ``(1, H, W)``.

    Example:
        >>> to_tensor(np.full((2, 2, 3), 255, np.uint8)).shape
        (3, 2, 2)
    """
    if layout not in ("auto", "HWC", "CHW"):
        raise ValueError(f"to_tensor: layout must be 'auto', 'HWC' or 'CHW', got {layout!r}")
    array, _ = _as_array(image, "to_tensor")
    chw = _channels_first(array, layout)
    if chw.dtype == np.uint8:
        converted = chw.astype(np.float32) / np.float32(255)
    else:
        converted = chw.astype(np.float32)
    return Tensor._wrap(np.ascontiguousarray(converted))


# ------------------------------------------------------------------------ transforms
class Compose:
    """Apply ``transforms`` one after another, in the order given.

    Example:
        >>> augment = Compose([RandomHorizontalFlip(), Normalize([0.5], [0.5])])
        >>> augment(np.zeros((1, 4, 4), np.float32)).shape
        (1, 4, 4)
    """

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        for position, transform in enumerate(transforms):
            if not callable(transform):
                raise TypeError(
                    f"Compose: transforms[{position}] is a {type(transform).__name__}, which "
                    f"cannot be called on a sample"
                )
        self.transforms = list(transforms)

    def __call__(self, image: Any) -> Any:
        for transform in self.transforms:
            image = transform(image)
        return image

    def __repr__(self) -> str:
        inner = "".join(f"\n    {transform!r}" for transform in self.transforms)
        return f"{type(self).__name__}({inner}\n)"


class _RandomFlip:
    flip: Callable[[Any], Any]

    def __init__(self, p: float = 0.5, generator: Generator | np.random.Generator | None = None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be a probability in [0, 1], got {p}")
        self.p = p
        self.generator = generator

    def __call__(self, image: Any) -> Any:
        # A draw in [0, 1) against p: p=0 never flips, p=1 always does.
        if _rng(self.generator).random() < self.p:
            return type(self).flip(image)
        _check_image(_as_array(image, type(self).__name__)[0], type(self).__name__)
        return image

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"


class RandomHorizontalFlip(_RandomFlip):
    """Mirror the image left-right with probability ``p`` (else return it unchanged).

    Example:
        >>> RandomHorizontalFlip(p=1.0)(np.array([[1, 2]]))
        array([[2, 1]])
    """

    flip = staticmethod(hflip)


class RandomVerticalFlip(_RandomFlip):
    """Mirror the image top-bottom with probability ``p`` (else return it unchanged).

    Example:
        >>> RandomVerticalFlip(p=1.0)(np.array([[1], [2]])).ravel()
        array([2, 1])
    """

    flip = staticmethod(vflip)


class RandomCrop:
    """Pad by ``padding`` (optional), then cut out a ``size`` window at a random place.

    With ``padding=p`` and ``size`` equal to the image size this is a random shift of up to
    ``p`` pixels in each direction, the classic CIFAR augmentation. Arguments as torchvision:
    ``size`` an int (square) or ``(height, width)``; ``padding`` as in :func:`pad`;
    ``pad_if_needed`` pads an image smaller than ``size`` up to it; ``fill`` and
    ``padding_mode`` as in :func:`pad`. Shape ``(..., H, W) -> (..., height, width)``.

    Example:
        >>> RandomCrop(28, padding=4)(np.zeros((1, 28, 28), np.float32)).shape
        (1, 28, 28)
    """

    def __init__(
        self,
        size: int | Sequence[int],
        padding: int | Sequence[int] | None = None,
        pad_if_needed: bool = False,
        fill: float = 0,
        padding_mode: str = "constant",
        generator: Generator | np.random.Generator | None = None,
    ) -> None:
        self.size = _pair(size, "size", "RandomCrop")
        if min(self.size) == 0:
            raise ValueError(f"RandomCrop: size must be positive, got {size!r}")
        if padding is not None:
            _padding_widths(padding, "RandomCrop")  # reject a bad padding now, not at the first sample
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"RandomCrop: padding_mode must be one of {list(_PADDING_MODES)}, got {padding_mode!r}"
            )
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode
        self.generator = generator

    def __call__(self, image: Any) -> Any:
        if self.padding is not None:
            image = pad(image, self.padding, self.fill, self.padding_mode)
        array, _ = _as_array(image, "RandomCrop")
        _check_image(array, "RandomCrop")
        crop_height, crop_width = self.size
        height, width = array.shape[-2:]
        if self.pad_if_needed and (height < crop_height or width < crop_width):
            extra_rows, extra_cols = max(0, crop_height - height), max(0, crop_width - width)
            image = pad(image, (extra_cols, extra_rows), self.fill, self.padding_mode)
            height, width = height + 2 * extra_rows, width + 2 * extra_cols
        if height < crop_height or width < crop_width:
            raise ValueError(
                f"RandomCrop: the image is {height}x{width} (after padding) but the crop is "
                f"{crop_height}x{crop_width}; pass a smaller size, padding=, or pad_if_needed=True"
            )
        rng = _rng(self.generator)
        top = int(rng.integers(0, height - crop_height + 1))
        left = int(rng.integers(0, width - crop_width + 1))
        return crop(image, top, left, crop_height, crop_width)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomShift:
    """Move the image content by a random whole number of pixels, up to ``max_shift`` in each
    direction (``-max_shift..max_shift`` rows and columns, every offset equally likely),
    filling the uncovered border with ``fill`` (zero). Not a torchvision class; the same
    effect as ``RandomCrop(size, padding=max_shift)`` but without choosing a size.

    ``max_shift``: an int, or ``(max_rows, max_cols)``. Shape kept.

    Example:
        >>> RandomShift(2)(np.ones((1, 8, 8), np.float32)).shape
        (1, 8, 8)
    """

    def __init__(
        self,
        max_shift: int | Sequence[int],
        fill: float = 0,
        generator: Generator | np.random.Generator | None = None,
    ) -> None:
        self.max_shift = _pair(max_shift, "max_shift", "RandomShift")
        self.fill = fill
        self.generator = generator

    def __call__(self, image: Any) -> Any:
        max_rows, max_cols = self.max_shift
        rng = _rng(self.generator)
        dy = int(rng.integers(-max_rows, max_rows + 1))
        dx = int(rng.integers(-max_cols, max_cols + 1))
        return shift(image, dy, dx, self.fill)

    def __repr__(self) -> str:
        return f"RandomShift(max_shift={self.max_shift})"


class Normalize:
    """Standardise each channel: ``(image[c] - mean[c]) / std[c]`` (see :func:`normalize`).

    Example:
        >>> Normalize([0.5], [0.25])(np.ones((1, 2, 2), np.float32))[0, 0, 0]
        np.float32(2.0)
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> None:
        self.mean = np.asarray(mean, dtype=np.float64).reshape(-1).tolist()
        self.std = np.asarray(std, dtype=np.float64).reshape(-1).tolist()
        if any(value == 0 for value in self.std):
            raise ValueError(f"Normalize: std {self.std} contains a zero, which would divide by zero")
        self.inplace = inplace

    def __call__(self, image: Any) -> Any:
        return normalize(image, self.mean, self.std, self.inplace)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class ToTensor:
    """Convert an image to a float32 Tensor ``(C, H, W)``, uint8 scaled to [0, 1] (see
    :func:`to_tensor`, which also explains ``layout``).

    Example:
        >>> ToTensor()(np.zeros((28, 28), np.uint8)).shape
        (1, 28, 28)
    """

    def __init__(self, layout: str = "auto") -> None:
        if layout not in ("auto", "HWC", "CHW"):
            raise ValueError(f"ToTensor: layout must be 'auto', 'HWC' or 'CHW', got {layout!r}")
        self.layout = layout

    def __call__(self, image: Any) -> Tensor:
        return to_tensor(image, self.layout)

    def __repr__(self) -> str:
        return f"ToTensor(layout={self.layout!r})"


# --------------------------------------------------------------------------- dataset
class TransformDataset(Dataset):
    """``dataset`` with ``transform`` applied to each sample's input (and ``target_transform``
    to its target) every time it is read, so each epoch sees fresh random augmentations.

    A sample ``(input, target, *rest)`` becomes ``(transform(input), target_transform(target),
    *rest)``; a sample that is not a tuple or list is passed to ``transform`` whole. Wrap only
    the training split: evaluation should see the data as it is.

    Example::

        >>> from chainrule.utils.data import DataLoader, TensorDataset
        >>> images, labels = chainrule.randn(64, 1, 8, 8), chainrule.randint(0, 10, (64,))
        >>> train = TransformDataset(TensorDataset(images, labels), RandomHorizontalFlip())
        >>> loader = DataLoader(train, batch_size=32, shuffle=True)
        >>> [x.shape for x, y in loader]
        [(32, 1, 8, 8), (32, 1, 8, 8)]
    """

    def __init__(
        self,
        dataset: Any,
        transform: Callable[[Any], Any] | None,
        target_transform: Callable[[Any], Any] | None = None,
    ) -> None:
        for name, function in (("transform", transform), ("target_transform", target_transform)):
            if function is not None and not callable(function):
                raise TypeError(
                    f"TransformDataset: {name} must be callable or None, got {type(function).__name__}"
                )
        if not hasattr(dataset, "__getitem__"):
            raise TypeError(
                f"TransformDataset: the dataset ({type(dataset).__name__}) cannot be indexed; "
                f"it needs __getitem__ (a map-style Dataset)"
            )
        self.dataset = dataset
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: Any) -> Any:
        sample = self.dataset[index]
        if not isinstance(sample, (tuple, list)):
            if self.target_transform is not None:
                raise ValueError(
                    f"TransformDataset: target_transform was given but the samples are single "
                    f"{type(sample).__name__} objects, not (input, target) pairs"
                )
            return sample if self.transform is None else self.transform(sample)
        if len(sample) == 0:
            raise ValueError(f"TransformDataset: sample {index} is empty")
        inputs, *rest = sample
        if self.transform is not None:
            inputs = self.transform(inputs)
        if rest and self.target_transform is not None:
            rest[0] = self.target_transform(rest[0])
        elif self.target_transform is not None:
            raise ValueError(
                f"TransformDataset: target_transform was given but sample {index} has no target"
            )
        return [inputs, *rest] if isinstance(sample, list) else (inputs, *rest)

    def __repr__(self) -> str:
        return f"TransformDataset({self.dataset!r}, transform={self.transform!r})"
