"""MNIST and Fashion-MNIST from their original IDX files, downloaded on request.

Downloads are checked against the MD5 checksums of the originally published ``.gz`` files and
written atomically, so a cache directory never holds a partial or tampered file. Files a user
places in the directory themselves are not checksummed: re-compressed copies are common and
their content is still validated by the IDX reader.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chainrule.datasets._base import DatasetSplits, check_names
from chainrule.datasets.idx import IMAGES_MAGIC, LABELS_MAGIC, IDXFormatError, read_idx
from chainrule.files import atomic_write_bytes

_DOWNLOAD_TIMEOUT_SECONDS = 60
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}


@dataclass(frozen=True)
class _Source:
    title: str
    folder: str
    mirrors: tuple[str, ...]
    md5: dict[str, str]  # file name (without .gz) -> MD5 of the original .gz
    classes: list


_MNIST = _Source(
    title="MNIST",
    folder="mnist",
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    md5={
        "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    classes=list(range(10)),
)

_FASHION_MNIST = _Source(
    title="Fashion-MNIST",
    folder="fashion_mnist",
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ),
    md5={
        "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    classes=[
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
)


def _file_names(split: str) -> tuple[str, str]:
    prefix = _SPLIT_PREFIX[split]
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _fetch(url: str) -> bytes:
    """Download ``url`` into memory (the largest file is under 30 MB). Tests replace this."""
    # Some mirrors refuse urllib's default User-Agent.
    request = urllib.request.Request(url, headers={"User-Agent": "chainrule-datasets"})
    with urllib.request.urlopen(request, timeout=_DOWNLOAD_TIMEOUT_SECONDS) as response:
        return response.read()


def _download(source: _Source, file_name: str, root: Path) -> tuple[Path | None, list[tuple[str, str]]]:
    """Try each mirror in turn; return the saved path (or None) and (url, why) of each failed attempt."""
    expected_md5 = source.md5[file_name]
    failures = []
    for mirror in source.mirrors:
        url = f"{mirror}{file_name}.gz"
        print(f"chainrule: downloading {url}", file=sys.stderr)
        try:
            payload = _fetch(url)
        except (OSError, http.client.HTTPException) as err:  # URLError and timeouts are OSErrors
            failures.append((url, str(err)))
            continue
        actual_md5 = hashlib.md5(payload, usedforsecurity=False).hexdigest()
        if actual_md5 != expected_md5:
            failures.append((url, "its MD5 checksum does not match the published one, so it was not saved"))
            continue
        target = root / f"{file_name}.gz"
        # Written beside the target and renamed: an interrupted download leaves no half file.
        atomic_write_bytes(target, payload)
        return target, failures
    return None, failures


def _find(root: Path, file_name: str) -> Path | None:
    # The uncompressed file is preferred: it reads faster and is what a user unpacked on purpose.
    for candidate in (root / file_name, root / f"{file_name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _missing_files_error(
    source: _Source,
    root: Path,
    missing: list[str],
    download: bool,
    failures: list[tuple[str, str]],
    available_splits: list[str],
    loader: str,
) -> FileNotFoundError:
    """One sentence: which files are missing where, why downloading did not help, what to do."""
    files = [f"{name}.gz" for name in missing]
    listed = files[0] if len(files) == 1 else f"{', '.join(files[:-1])} and {files[-1]}"
    it = "it" if len(files) == 1 else "them"
    sentence = (
        f"{source.title} file{'' if len(files) == 1 else 's'} {listed} (or unpacked, without .gz) "
        f"{'is' if len(files) == 1 else 'are'} missing from {root}"
    )
    if download:
        sentence += f" and downloading {it} failed ({_grouped(failures)}); check the network, or "
    else:
        sentence += f"; call {loader}(download=True) with network access, or "
    sentence += f"place {it} there or point root= (on the command line --data-dir) at the folder holding {it}"
    if available_splits:
        sentence += (
            f", or load the {' and '.join(available_splits)} split alone with "
            f"{loader}(root=..., splits={tuple(available_splits)!r})"
        )
    return FileNotFoundError(sentence)


def _grouped(failures: list[tuple[str, str]]) -> str:
    """Each distinct reason once, with the URL that gave it (or how many did): the same
    "no network" from every mirror of every file need not be read twelve times."""
    urls: dict[str, list[str]] = {}
    for url, reason in failures:
        urls.setdefault(reason, []).append(url)
    return "; ".join(
        f"{where[0]}: {reason}"
        if len(where) == 1
        else f"{reason} from all {len(where)} URLs tried, e.g. {where[0]}"
        for reason, where in urls.items()
    )


def _read_split(image_path: Path, label_path: Path, flatten: bool) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(image_path, expected_magic=IMAGES_MAGIC, expected_shape=(None, 28, 28))
    labels = read_idx(label_path, expected_magic=LABELS_MAGIC, expected_shape=(None,))
    if labels.shape != (len(images),):
        raise IDXFormatError(
            f"{label_path} holds {labels.shape} labels but {image_path} holds {len(images)} "
            f"images; the two files do not belong together"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise IDXFormatError(f"{label_path} has labels outside 0..9; the file is corrupt")
    x = images.astype(np.float32)
    x /= np.float32(255.0)
    x = x.reshape(len(x), 784) if flatten else x.reshape(len(x), 1, 28, 28)
    return x, labels.astype(np.int64)


def _load(
    source: _Source,
    loader: str,
    root: str | os.PathLike | None,
    download: bool,
    flatten: bool,
    splits: Sequence[str] | str,
) -> DatasetSplits:
    wanted = check_names(splits, ("train", "test"), "splits")
    root = Path.home() / ".cache" / "chainrule" / source.folder if root is None else Path(root)
    root = root.expanduser()

    all_names = [name for split in ("train", "test") for name in _file_names(split)]
    needed = [name for split in wanted for name in _file_names(split)]
    found = {name: _find(root, name) for name in all_names}
    missing = [name for name in needed if found[name] is None]

    failures: list[tuple[str, str]] = []
    if missing and download:
        root.mkdir(parents=True, exist_ok=True)
        for name in missing:
            found[name], attempt_failures = _download(source, name, root)
            failures.extend(attempt_failures)
        missing = [name for name in needed if found[name] is None]
    if missing:
        available = [
            split for split in ("train", "test")
            if all(found[name] is not None for name in _file_names(split))
        ]
        raise _missing_files_error(source, root, missing, download, failures, available, loader)

    arrays: dict[str, np.ndarray | None] = {
        "x_train": None, "y_train": None, "x_test": None, "y_test": None,
    }
    for split in wanted:
        image_name, label_name = _file_names(split)
        image_file, label_file = found[image_name], found[label_name]
        assert image_file is not None and label_file is not None  # a missing one was refused above
        x, y = _read_split(image_file, label_file, flatten)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
    # The preprocessing is recorded so raw 0-255 pixels can be fed to a trained model.
    return DatasetSplits(
        x_train=arrays["x_train"], y_train=arrays["y_train"],
        x_test=arrays["x_test"], y_test=arrays["y_test"],
        name=loader, num_classes=10, classes=list(source.classes),
        preprocessing={"scale": 255.0},
    )


def mnist(
    root: str | os.PathLike | None = None,
    download: bool = True,
    flatten: bool = False,
    splits: Sequence[str] | str = ("train", "test"),
) -> DatasetSplits:
    """MNIST handwritten digits, read from the original IDX files.

    Size: 60,000 training and 10,000 test images, 28x28 grey, 10 classes. Source: the MNIST
    database of Y. LeCun, C. Cortes and C. Burges, downloaded from public mirrors (PyTorch's
    S3 copy, Google's CVDF copy, the original site) and checked against the MD5 checksums of the
    original ``.gz`` files.

    Args:
        root: directory holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
            ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each raw or ``.gz``.
            Default ``~/.cache/chainrule/mnist``.
        download: fetch missing files into ``root``. Without a network (or with
            ``download=False``) missing files raise ``FileNotFoundError`` naming them.
        flatten: ``False`` gives images ``(N, 1, 28, 28)``; ``True`` gives ``(N, 784)``.
        splits: which splits to load, e.g. ``("test",)`` when only the ``t10k`` files exist;
            the splits not loaded are ``None``.

    Returns:
        DatasetSplits with x float32 in [0, 1] and y int64 in 0..9.

    Example:
        >>> data = mnist("/data/mnist", splits=("test",))  # downloads 11 MB  # doctest: +SKIP
        >>> data.x_test.shape, data.x_train  # doctest: +SKIP
        ((10000, 1, 28, 28), None)
    """
    return _load(_MNIST, "mnist", root, download, flatten, splits)


def fashion_mnist(
    root: str | os.PathLike | None = None,
    download: bool = True,
    flatten: bool = False,
    splits: Sequence[str] | str = ("train", "test"),
) -> DatasetSplits:
    """Fashion-MNIST: Zalando article photos in MNIST's format (a harder drop-in for MNIST).

    Size: 60,000 training and 10,000 test images, 28x28 grey, 10 classes (T-shirt/top, Trouser,
    Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot; stored in ``classes``).
    Source: Xiao, Rasul and Vollgraf (2017), github.com/zalandoresearch/fashion-mnist,
    downloaded from its S3 bucket or public mirrors and checked against the published MD5
    checksums. Arguments as in :func:`mnist`; the default ``root`` is
    ``~/.cache/chainrule/fashion_mnist``.

    Example:
        >>> data = fashion_mnist(flatten=True)  # downloads 30 MB  # doctest: +SKIP
        >>> data.x_train.shape, data.classes[9]  # doctest: +SKIP
        ((60000, 784), 'Ankle boot')
    """
    return _load(_FASHION_MNIST, "fashion_mnist", root, download, flatten, splits)
