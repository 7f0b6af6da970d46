"""Learning quality: the same recipes trained with chainrule and with PyTorch, side by side.

Each model is written once as a function of the library module (``lib`` is ``chainrule`` or
``torch``), so both libraries run the very same code: same architecture, same optimizer
settings, same batch order (drawn from NumPy with the seed), each library's own default
initialisation seeded with the same number.

- Real MNIST (the 10,000-image test split in ../shared/data/mnist: first 8,000 to train,
  last 2,000 held out), inputs standardised: an MLP 784-512-512-10 (SGD momentum 0.9,
  lr 0.05, batch 128, 5 epochs) and a CNN (batch 64, 3 epochs), seeds 0-3.
- MNIST-1D (generated offline by the ``mnist1d`` package): linear, MLP, a 3-layer Conv1d CNN
  and a small bidirectional GRU, Adam lr 1e-2, batch 100.

Run: ``python -m benchmarks.accuracy`` (``--quick`` for one seed and fewer steps,
``--only mnist|mnist1d``). Writes the table into BENCHMARKS.md between the accuracy markers.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist"
BEGIN, END = "<!-- accuracy:begin -->", "<!-- accuracy:end -->"


# ------------------------------------------------------------------------------ data
def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def mnist_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    images = _read_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    labels = _read_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    train, test = images[:8000], images[8000:]
    mean, std = train.mean(), train.std()  # standardised with the training split's statistics
    train, test = (train - mean) / std, (test - mean) / std
    return train[:, None], labels[:8000], test[:, None], labels[8000:]


def mnist1d_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    data = make_dataset(get_dataset_args())
    return (data["x"].astype(np.float32), data["y"].astype(np.int64),
            data["x_test"].astype(np.float32), data["y_test"].astype(np.int64))


# ---------------------------------------------------------------------------- models
def mnist_mlp(lib: Any) -> Any:
    nn = lib.nn
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512),
                         nn.ReLU(), nn.Linear(512, 10))


def mnist_cnn(lib: Any) -> Any:
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def m1d_linear(lib: Any) -> Any:
    return lib.nn.Linear(40, 10)


def m1d_mlp(lib: Any) -> Any:
    nn = lib.nn
    return nn.Sequential(nn.Linear(40, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(),
                         nn.Linear(100, 10))


def m1d_cnn(lib: Any) -> Any:
    nn = lib.nn
    return nn.Sequential(nn.Unflatten(1, (1, 40)), nn.Conv1d(1, 25, 5, stride=2, padding=1),
                         nn.ReLU(),
                         nn.Conv1d(25, 25, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv1d(25, 25, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(125, 10))


def m1d_gru(lib: Any) -> Any:
    nn = lib.nn

    class GRUClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(1, 32, batch_first=True, bidirectional=True)
            self.head = nn.Linear(64, 10)

        def forward(self, x: Any) -> Any:
            output, _ = self.gru(x.unsqueeze(-1))
            return self.head(output[:, -1])

    return GRUClassifier()


# -------------------------------------------------------------------------- training
def train_and_score(lib: Any, build: Any, data: tuple, *, seed: int, optimizer: str, lr: float,
                    batch: int, epochs: int | None = None, steps: int | None = None) -> float:
    """Train, then return held-out accuracy in percent."""
    x_train, y_train, x_test, y_test = data
    lib.manual_seed(seed)
    model = build(lib)
    if optimizer == "sgd":
        opt = lib.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    else:
        opt = lib.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    loss_fn = lib.nn.functional.cross_entropy
    model.train()
    done, epoch = 0, 0
    total = steps if steps is not None else epochs * (len(x_train) // batch)
    while done < total:
        order = rng.permutation(len(x_train))
        for start in range(0, len(order) - batch + 1, batch):
            index = order[start:start + batch]
            x, y = lib.from_numpy(x_train[index]), lib.from_numpy(y_train[index])
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
            done += 1
            if done >= total:
                break
        epoch += 1
    model.eval()
    correct = 0
    with lib.no_grad():
        for start in range(0, len(x_test), 500):
            logits = model(lib.from_numpy(x_test[start:start + 500]))
            correct += int((logits.argmax(1).numpy() == y_test[start:start + 500]).sum())
    return 100.0 * correct / len(x_test)


SGD_MLP = dict(optimizer="sgd", lr=0.05, batch=128, epochs=5)
SGD_CNN = dict(optimizer="sgd", lr=0.05, batch=64, epochs=3)
ADAM_1D = dict(optimizer="adam", lr=1e-2, batch=100, steps=3000)
# (title, model, recipe, reference figures: PyTorch seeds 0-3 from the issue, or the MNIST-1D paper)
CASES = {
    "mnist": [
        ("MNIST MLP 784-512-512-10, SGD, 5 epochs", mnist_mlp, SGD_MLP, "95.9-96.7% (mean 96.1%)"),
        ("MNIST CNN, SGD, 3 epochs", mnist_cnn, SGD_CNN, "97.2-98.4% (mean 97.9%)"),
    ],
    "mnist1d": [
        ("MNIST-1D linear, Adam", m1d_linear, ADAM_1D, "32% (paper); goal >= 29%"),
        ("MNIST-1D MLP, Adam", m1d_mlp, ADAM_1D, "68% (paper); goal >= 62%"),
        ("MNIST-1D CNN, Adam", m1d_cnn, ADAM_1D, "94% (paper); goal >= 89%"),
        ("MNIST-1D bidirectional GRU, Adam", m1d_gru, ADAM_1D, "91% (paper); goal >= 85%"),
    ],
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4, help="seeds for real MNIST (0..N-1)")
    parser.add_argument("--seeds-1d", type=int, default=2,
                        help="seeds for MNIST-1D (fewer: its GRU takes a minute per seed)")
    parser.add_argument("--quick", action="store_true", help="one seed, a fifth of the steps")
    parser.add_argument("--only", choices=sorted(CASES), default=None)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    import chainrule

    libraries = {"chainrule": chainrule}
    try:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        libraries["pytorch"] = torch
    except ImportError:
        print("PyTorch is not installed: chainrule's figures only", file=sys.stderr)
    rows = []
    for group, cases in CASES.items():
        if args.only and group != args.only:
            continue
        seeds = range(1 if args.quick else args.seeds if group == "mnist" else args.seeds_1d)
        data = mnist_split() if group == "mnist" else mnist1d_split()
        for title, build, recipe, reference in cases:
            recipe = dict(recipe)
            if args.quick:
                for key in ("epochs", "steps"):
                    if key in recipe:
                        recipe[key] = max(1, recipe[key] // 5)
            result = {}
            for name, lib in libraries.items():
                start = time.perf_counter()
                try:
                    scores = [train_and_score(lib, build, data, seed=s, **recipe) for s in seeds]
                except (AttributeError, NotImplementedError, TypeError) as error:
                    result[name] = f"n/a ({type(error).__name__}: {error})"
                    continue
                seconds = time.perf_counter() - start
                result[name] = (f"{statistics.mean(scores):.1f}% (seeds: "
                                f"{', '.join(f'{s:.1f}' for s in scores)}; {seconds:.0f} s)")
            rows.append((title, result.get("chainrule", ""), result.get("pytorch", "not installed"),
                         reference))
            print(f"{title}: chainrule {rows[-1][1]} | pytorch {rows[-1][2]}", flush=True)
    table = ["| case | chainrule, held-out accuracy | PyTorch, same script | reference |",
             "| --- | --- | --- | --- |"]
    table += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    last_seed = 0 if args.quick else args.seeds - 1
    last_seed_1d = 0 if args.quick else args.seeds_1d - 1
    note = (f"Measured {time.strftime('%Y-%m-%d')} with `python -m benchmarks.accuracy"
            f"{' --quick' if args.quick else ''}`: mean held-out accuracy over seeds 0-{last_seed} on "
            f"MNIST and 0-{last_seed_1d} on MNIST-1D, the seed fixing both the initialisation and "
            "the batch order. The seconds are wall time on a shared machine while other jobs ran, "
            "not a speed comparison (the speed section above is).")
    if not args.no_write:
        write_section("\n".join([note, "", *table]))


def write_section(body: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# chainrule benchmarks\n"
    block = f"{BEGIN}\n## Learning quality\n\n{body}\n{END}"
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    temporary = path.with_suffix(".md.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


if __name__ == "__main__":
    main()
