"""Augmentation transforms: flips mirror exactly, shifts move content and zero-fill, random
draws follow p and the seed, dtypes and shapes survive, and a DataLoader sees augmented data."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
from chainrule.tensor import Tensor
from chainrule.utils.data import DataLoader, TensorDataset
from chainrule.utils.data.transforms import (
    Compose,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    RandomShift,
    RandomVerticalFlip,
    ToTensor,
    TransformDataset,
    crop,
    hflip,
    pad,
    shift,
    vflip,
)


def distinct_image(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Distinct positive float32 values, so a zero marks a filled pixel and content is traceable."""
    values = np.random.default_rng(seed).permutation(np.prod(shape)) + 1
    return values.reshape(shape).astype(np.float32)


def shift_by_loops(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Reference shift written pixel by pixel: content moves (dy, dx), the rest is 0."""
    height, width = image.shape[-2:]
    result = np.zeros_like(image)
    for y in range(height):
        for x in range(width):
            if 0 <= y + dy < height and 0 <= x + dx < width:
                result[..., y + dy, x + dx] = image[..., y, x]
    return result


def matching_shifts(output: np.ndarray, image: np.ndarray, max_shift: int) -> list[tuple[int, int]]:
    return [
        (dy, dx)
        for dy in range(-max_shift, max_shift + 1)
        for dx in range(-max_shift, max_shift + 1)
        if np.array_equal(output, shift_by_loops(image, dy, dx))
    ]


# ----------------------------------------------------------------------------- flips
def test_hflip_and_vflip_by_hand():
    image = np.array([[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(hflip(image), [[3, 2, 1], [6, 5, 4]])
    np.testing.assert_array_equal(vflip(image), [[4, 5, 6], [1, 2, 3]])


@pytest.mark.parametrize("shape", [(5, 7), (3, 5, 7)])
def test_flips_move_each_pixel_to_its_mirror_position(shape):
    image = distinct_image(shape)
    height, width = shape[-2:]
    flipped_h, flipped_v = hflip(image), vflip(image)
    for y in range(height):
        for x in range(width):
            np.testing.assert_array_equal(flipped_h[..., y, width - 1 - x], image[..., y, x])
            np.testing.assert_array_equal(flipped_v[..., height - 1 - y, x], image[..., y, x])


def test_flips_match_torch():
    torch = pytest.importorskip("torch")
    image = distinct_image((2, 4, 6)).astype(np.float64)
    reference = torch.from_numpy(image)
    np.testing.assert_array_equal(hflip(image), torch.flip(reference, dims=[-1]).numpy())
    np.testing.assert_array_equal(vflip(image), torch.flip(reference, dims=[-2]).numpy())


@pytest.mark.parametrize("flip_class", [RandomHorizontalFlip, RandomVerticalFlip])
def test_random_flip_p_zero_never_and_p_one_always(flip_class):
    image = distinct_image((1, 4, 4))
    mirrored = image[..., ::-1] if flip_class is RandomHorizontalFlip else image[..., ::-1, :]
    never, always = flip_class(p=0.0), flip_class(p=1.0)
    for _ in range(50):
        np.testing.assert_array_equal(never(image), image)
        np.testing.assert_array_equal(always(image), mirrored)


def test_random_flip_half_the_time():
    flip = RandomHorizontalFlip(p=0.5, generator=chainrule.Generator().manual_seed(1))
    image = distinct_image((4, 4))
    flips = sum(not np.array_equal(flip(image), image) for _ in range(400))
    assert 160 < flips < 240  # binomial(400, 0.5) lies here with probability > 0.9999


def test_flip_rejects_bad_p_and_bad_inputs():
    with pytest.raises(ValueError, match="p must be a probability"):
        RandomHorizontalFlip(p=1.5)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        hflip(np.arange(4))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        RandomHorizontalFlip(p=0.0)(np.arange(4))
    with pytest.raises(TypeError, match=r"numpy\.ndarray or chainrule\.Tensor"):
        hflip([[1, 2], [3, 4]])


# ---------------------------------------------------------------------------- shifts
def test_shift_by_hand():
    image = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype=np.uint8)
    # One row down, one column left: row 0 empties, column 2 empties.
    expected = np.array([[0, 0, 0], [2, 3, 0], [5, 6, 0]], dtype=np.uint8)
    result = shift(image, 1, -1)
    np.testing.assert_array_equal(result, expected)
    assert result.dtype == np.uint8


@pytest.mark.parametrize("dy, dx", [(0, 0), (2, 1), (-1, 3), (-3, -2), (0, -4)])
def test_shift_moves_content_and_zero_fills(dy, dx):
    image = distinct_image((2, 5, 6))
    np.testing.assert_array_equal(shift(image, dy, dx), shift_by_loops(image, dy, dx))


def test_shift_past_the_frame_leaves_only_fill():
    image = distinct_image((3, 3))
    np.testing.assert_array_equal(shift(image, 3, 0), np.zeros((3, 3)))
    np.testing.assert_array_equal(shift(image, 0, -5, fill=7), np.full((3, 3), 7))


def test_random_shift_stays_within_max_shift_and_reaches_every_offset():
    image = distinct_image((1, 6, 6))
    transform = RandomShift(2, generator=chainrule.Generator().manual_seed(0))
    seen = set()
    for _ in range(300):
        matches = matching_shifts(transform(image), image, max_shift=2)
        assert len(matches) == 1, "the output must be the image moved by one offset within 2 pixels"
        seen.add(matches[0])
    assert seen == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}


def test_random_shift_zero_is_identity_and_pairs_limit_each_axis():
    image = distinct_image((4, 5))
    np.testing.assert_array_equal(RandomShift(0)(image), image)
    vertical_only = RandomShift((2, 0), generator=np.random.default_rng(0))
    for _ in range(30):
        (dy, dx), = matching_shifts(vertical_only(image), image, max_shift=2)
        assert dx == 0 and abs(dy) <= 2
    with pytest.raises(ValueError, match="must not be negative"):
        RandomShift(-1)


# ------------------------------------------------------------------------------ crops
def test_pad_and_crop_by_hand():
    image = np.array([[1, 2], [3, 4]], dtype=np.float32)
    np.testing.assert_array_equal(
        pad(image, (1, 0)), [[0, 1, 2, 0], [0, 3, 4, 0]]  # left/right 1, top/bottom 0
    )
    np.testing.assert_array_equal(pad(image, (0, 1, 0, 0), fill=9), [[9, 9], [1, 2], [3, 4]])
    np.testing.assert_array_equal(pad(image, 1, padding_mode="edge")[0], [1, 1, 2, 2])
    np.testing.assert_array_equal(crop(np.arange(12).reshape(3, 4), 1, 2, 2, 2), [[6, 7], [10, 11]])
    with pytest.raises(ValueError, match="does not fit"):
        crop(image, 1, 1, 2, 2)


def test_random_crop_with_padding_is_a_zero_filled_shift():
    image = distinct_image((2, 5, 5))
    transform = RandomCrop(5, padding=2, generator=chainrule.Generator().manual_seed(3))
    seen = set()
    for _ in range(200):
        matches = matching_shifts(transform(image), image, max_shift=2)
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) == 25


def test_random_crop_smaller_window_comes_from_the_image():
    image = distinct_image((6, 7))
    transform = RandomCrop((3, 4), generator=np.random.default_rng(0))
    for _ in range(20):
        window = transform(image)
        assert window.shape == (3, 4)
        corners = [
            (top, left)
            for top in range(6 - 3 + 1)
            for left in range(7 - 4 + 1)
            if np.array_equal(window, image[top : top + 3, left : left + 4])
        ]
        assert len(corners) == 1


def test_random_crop_too_large_raises_unless_padded_as_needed():
    image = distinct_image((1, 3, 3))
    with pytest.raises(ValueError, match="pad_if_needed"):
        RandomCrop(4)(image)
    assert RandomCrop(4, pad_if_needed=True)(image).shape == (1, 4, 4)
    with pytest.raises(ValueError, match="padding_mode"):
        RandomCrop(3, padding=1, padding_mode="wrap")


# --------------------------------------------------------------------- reproducibility
def draw_sequence(transform, image, count=20):
    return [np.array(transform(image)) for _ in range(count)]


def test_global_seed_makes_augmentation_reproducible():
    image = distinct_image((1, 6, 6))
    augment = Compose([RandomHorizontalFlip(), RandomVerticalFlip(), RandomShift(2), RandomCrop(4)])
    chainrule.manual_seed(123)
    first = draw_sequence(augment, image)
    chainrule.manual_seed(123)
    second = draw_sequence(augment, image)
    chainrule.manual_seed(124)
    other = draw_sequence(augment, image)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_explicit_generator_is_reproducible_and_independent_of_the_global_one():
    image = distinct_image((6, 6))

    def run(seed: int) -> list[np.ndarray]:
        chainrule.manual_seed(seed)  # must not matter: the transform has its own generator
        return draw_sequence(RandomShift(2, generator=chainrule.Generator().manual_seed(7)), image)

    assert all(np.array_equal(a, b) for a, b in zip(run(0), run(1)))


# ---------------------------------------------------------------- kinds, dtypes, shapes
@pytest.mark.parametrize("shape", [(5, 6), (3, 5, 6)])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_transforms_keep_kind_shape_and_dtype(shape, dtype):
    array = distinct_image(shape).astype(dtype)
    transforms = [RandomHorizontalFlip(p=1.0), RandomVerticalFlip(p=1.0), RandomShift(1),
                  RandomCrop(shape[-2:], padding=1)]
    for transform in transforms:
        from_numpy = transform(array)
        assert isinstance(from_numpy, np.ndarray)
        assert from_numpy.shape == shape and from_numpy.dtype == dtype
        from_tensor = transform(chainrule.from_numpy(array.copy()))
        assert isinstance(from_tensor, Tensor)
        assert tuple(from_tensor.shape) == shape and from_tensor.numpy().dtype == dtype


def test_transforms_do_not_modify_their_input():
    image = distinct_image((2, 4, 4))
    original = image.copy()
    tensor = chainrule.from_numpy(image)
    for transform in (RandomHorizontalFlip(p=1.0), RandomShift(2), RandomCrop(4, padding=1),
                      Normalize([1.0, 2.0], [3.0, 4.0])):
        transform(image)
        transform(tensor)
    np.testing.assert_array_equal(image, original)


# ------------------------------------------------------------------ normalize, to_tensor
def test_normalize_by_hand_per_channel():
    image = np.stack([np.full((2, 2), 3.0), np.full((2, 2), 10.0)]).astype(np.float32)
    result = Normalize(mean=[1.0, 4.0], std=[2.0, 3.0])(image)
    np.testing.assert_allclose(result[0], 1.0)  # (3 - 1) / 2
    np.testing.assert_allclose(result[1], 2.0)  # (10 - 4) / 3
    assert result.dtype == np.float32  # a float64 mean must not promote the image


def test_normalize_two_dimensional_image_and_inplace():
    image = np.full((2, 3), 5.0, dtype=np.float32)
    np.testing.assert_allclose(Normalize([1.0], [4.0])(image), 1.0)
    Normalize([1.0], [4.0], inplace=True)(image)
    np.testing.assert_allclose(image, 1.0)


def test_normalize_rejects_bad_arguments():
    with pytest.raises(TypeError, match="ToTensor"):
        Normalize([0.5], [0.5])(np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="3 channel"):
        Normalize([0.5, 0.5], [0.5, 0.5])(np.zeros((3, 2, 2), np.float32))
    with pytest.raises(ValueError, match="zero"):
        Normalize([0.5], [0.0])


def test_to_tensor_channels_last_uint8():
    image = np.zeros((2, 5, 3), dtype=np.uint8)  # H=2, W=5, C=3
    image[1, 4, 2] = 255
    image[0, 1, 0] = 51
    result = ToTensor()(image)
    assert isinstance(result, Tensor)
    assert tuple(result.shape) == (3, 2, 5)
    values = result.numpy()
    assert values.dtype == np.float32
    assert values[2, 1, 4] == 1.0
    assert values[0, 0, 1] == pytest.approx(0.2)
    assert values.sum() == pytest.approx(1.2)


def test_to_tensor_layouts():
    assert tuple(ToTensor()(np.zeros((4, 5), np.uint8)).shape) == (1, 4, 5)
    chw = np.full((1, 4, 5), 0.25)
    result = ToTensor()(chw)
    assert tuple(result.shape) == (1, 4, 5)
    assert result.numpy().dtype == np.float32
    np.testing.assert_allclose(result.numpy(), 0.25)  # floats are not rescaled
    with pytest.raises(ValueError, match="layout='HWC'"):
        ToTensor()(np.zeros((4, 4, 3), np.uint8))
    assert tuple(ToTensor(layout="HWC")(np.zeros((4, 4, 3), np.uint8)).shape) == (3, 4, 4)


# ---------------------------------------------------------------------------- compose
def test_compose_applies_in_order():
    image = np.full((1, 2, 2), 5.0, dtype=np.float32)
    subtract_then_halve = Compose([Normalize([1.0], [1.0]), Normalize([0.0], [2.0])])
    halve_then_subtract = Compose([Normalize([0.0], [2.0]), Normalize([1.0], [1.0])])
    np.testing.assert_allclose(subtract_then_halve(image), 2.0)  # (5 - 1) / 2
    np.testing.assert_allclose(halve_then_subtract(image), 1.5)  # 5 / 2 - 1

    calls = []
    Compose([lambda x: calls.append("a") or x, lambda x: calls.append("b") or x])(image)
    assert calls == ["a", "b"]
    with pytest.raises(TypeError, match=r"transforms\[1\]"):
        Compose([hflip, 3])


# --------------------------------------------------------------------------- datasets
def test_transform_dataset_feeds_a_dataloader():
    images = distinct_image((10, 1, 3, 4))
    labels = np.arange(10)
    dataset = TransformDataset(
        TensorDataset(images, labels), RandomHorizontalFlip(p=1.0), target_transform=lambda y: y + 100
    )
    assert len(dataset) == 10
    batches = list(DataLoader(dataset, batch_size=4))
    inputs = np.concatenate([x.numpy() for x, _ in batches])
    targets = np.concatenate([y.numpy() for _, y in batches])
    np.testing.assert_array_equal(inputs, images[..., ::-1])
    np.testing.assert_array_equal(targets, labels + 100)
    np.testing.assert_array_equal(images, distinct_image((10, 1, 3, 4)))  # the source is untouched


def test_transform_dataset_draws_fresh_augmentations_each_epoch():
    images = distinct_image((16, 4, 4))
    dataset = TransformDataset(TensorDataset(images, np.zeros(16)), RandomShift(1))
    chainrule.manual_seed(0)
    loader = DataLoader(dataset, batch_size=16)
    first, second = (next(iter(loader))[0].numpy() for _ in range(2))
    assert not np.array_equal(first, second)


def test_transform_dataset_plain_samples_and_errors():
    class Plain:
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return np.full((2, 2), float(index), dtype=np.float32)

    doubled = TransformDataset(Plain(), lambda x: x * 2)
    np.testing.assert_array_equal(doubled[1], np.full((2, 2), 2.0))
    with pytest.raises(ValueError, match="target_transform"):
        TransformDataset(Plain(), None, target_transform=lambda y: y)[0]
    with pytest.raises(TypeError, match="callable"):
        TransformDataset(Plain(), "flip")
