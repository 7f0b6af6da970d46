"""Learning rules against backprop: the same model, data, seeds and epochs for each rule.

- MNIST (the 10,000-image test split in ../shared/data/mnist: first 8,000 to train, last 2,000
  held out, standardised): the MLP 784-512-512-10 with every rule (bp, fa, dfa, sign, ff) and
  a small CNN (two 3x3 convolutions with 8 and 16 channels, 2x max-pooling, a Linear head) with
  bp, fa, dfa and sign.
- MNIST-1D (the ``mnist1d`` package's default 4,000/1,000 split): the MLP 40-100-100-10 with
  every rule.

Every model uses tanh. Everything is trained by ``chainrule.train.Trainer(learning_rule=...)``,
float32, Adam, batch 64, seeds 0-3 (initial weights, batch order and the rules' random feedback
matrices), the learning rate decaying to 0 along a cosine, batch by batch. The learning rate may
differ per rule (``LEARNING_RATES``, chosen on a validation slice of the training images; stated
in the table). Each epoch's
held-out accuracy is kept, so the table gives the last epoch's accuracy (mean ± std over
seeds), the plateau (best mean over epochs) and the first epoch whose mean accuracy is within
1 point of that plateau. For fa, dfa and sign the per-layer alignment angle to the true
gradient is recorded and plotted (``benchmarks/learning_rules_alignment.png``).

Run: ``python -m benchmarks.learning_rules`` (``--quick`` for one seed and 2 epochs;
``--only mlp|cnn|mnist1d``; ``--epochs N``). Writes its table into BENCHMARKS.md between the
learning-rules markers, and its raw per-epoch figures to ``benchmarks/learning_rules.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.accuracy import mnist1d_split

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- learning-rules:begin -->", "<!-- learning-rules:end -->"
RESULTS = ROOT / "benchmarks" / "learning_rules.json"
PLOT = ROOT / "benchmarks" / "learning_rules_alignment.png"

# Adam learning rates per task and rule, chosen on a validation slice (``--validate``: train on the
# first 13/16 of the training set (MNIST: 6,500 of 8,000 images), seed 0, the task's epochs, batch
# and schedule; the best last-epoch accuracy on the rest), never on the held-out images. The MLP's
# from 1e-3 and 3e-3 for bp, fa, dfa and sign (3e-4 was 2 points worse for bp and dfa at batch
# 128), from 3e-4, 1e-3 and 3e-3 for ff; the CNN's from 1e-3, 3e-3, 1e-2 and 3e-2; MNIST-1D's
# from 1e-3, 3e-3, 1e-2 and 3e-2.
LEARNING_RATES = {
    "mlp": {"bp": 1e-3, "fa": 3e-3, "dfa": 3e-3, "sign": 3e-3, "ff": 1e-3},
    "cnn": {"bp": 1e-2, "fa": 1e-2, "dfa": 1e-2, "sign": 1e-2},
    "mnist1d": {"bp": 1e-2, "fa": 1e-2, "dfa": 1e-2, "sign": 1e-2, "ff": 1e-2},
}
# One protocol for every task: batches of 64 (twice the steps of 128: FA and DFA needed them on
# the MLP), and the learning rate following a cosine from its value to 0 over the run, batch by batch.
BATCH_SIZE = 64
RULES = {
    "mlp": ("bp", "fa", "dfa", "sign", "ff"),
    "cnn": ("bp", "fa", "dfa", "sign"),
    "mnist1d": ("bp", "fa", "dfa", "sign", "ff"),
}
EPOCHS = {"mlp": 15, "cnn": 10, "mnist1d": 15}


def mnist_dir() -> Path:
    """The folder with the IDX test split: $CHAINRULE_MNIST_DIR, else ../shared/data/mnist
    beside the repository (or beside the folder of worktrees that holds it)."""
    if os.environ.get("CHAINRULE_MNIST_DIR"):
        return Path(os.environ["CHAINRULE_MNIST_DIR"])
    candidates = [ROOT.parent / "shared" / "data" / "mnist", ROOT.parents[1] / "shared" / "data" / "mnist"]
    return next((path for path in candidates if path.is_dir()), candidates[0])


def mnist_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The first 8,000 test-split images to train on, the last 2,000 held out, standardised
    with the training part's mean and standard deviation; images (N, 1, 28, 28)."""
    from chainrule.datasets import mnist

    data = mnist(mnist_dir(), download=False, splits=("test",))
    images, labels = data.x_test, data.y_test
    assert images is not None and labels is not None  # the test split was asked for
    train, test = images[:8000], images[8000:]
    mean, std = train.mean(), train.std()
    return (train - mean) / std, labels[:8000], (test - mean) / std, labels[8000:]


def mnist_tanh_mlp(lib: Any) -> Any:
    """784-512-512-10 with tanh, the activation of Nøkland's DFA networks: with ReLU, feedback
    alignment's hidden activities grow without bound (the mean second-layer activity went from
    0.9 under backprop to 12.8 under FA in 3 epochs), and FA lagged backprop by 4-5 points."""
    nn = lib.nn
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 512), nn.Tanh(), nn.Linear(512, 512), nn.Tanh(), nn.Linear(512, 10)
    )


def mnist_small_cnn(lib: Any) -> Any:
    """Two 3x3 convolutions (8 and 16 channels), each with tanh and 2x max-pooling, a Linear head."""
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(1, 8, 3),
        nn.Tanh(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3),
        nn.Tanh(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 10),
    )


def mnist1d_tanh_mlp(lib: Any) -> Any:
    """40-100-100-10 with tanh: MNIST-1D's MLP with the shared activation."""
    nn = lib.nn
    return nn.Sequential(nn.Linear(40, 100), nn.Tanh(), nn.Linear(100, 100), nn.Tanh(), nn.Linear(100, 10))


class Batches:
    """Shuffled (inputs, targets) batches, a new order each epoch from its own generator."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int | None) -> None:
        self.x, self.y, self.batch_size = x, y, batch_size
        self.rng = None if seed is None else np.random.default_rng(seed)

    def __iter__(self) -> Any:
        import chainrule

        order = np.arange(len(self.x)) if self.rng is None else self.rng.permutation(len(self.x))
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            yield chainrule.tensor(self.x[index]), chainrule.tensor(self.y[index])


def train_one(
    task: str, rule: str, seed: int, epochs: int, data: tuple, lr: float | None = None
) -> dict[str, Any]:
    import chainrule
    from chainrule import nn, optim
    from chainrule.train import Trainer
    from chainrule.train.callbacks import LRSchedulerCallback

    build = {"mlp": mnist_tanh_mlp, "cnn": mnist_small_cnn, "mnist1d": mnist1d_tanh_mlp}[task]
    chainrule.manual_seed(seed)
    model = build(chainrule)
    x_train, y_train, x_test, y_test = data
    optimizer = optim.Adam(model.parameters(), lr=LEARNING_RATES[task][rule] if lr is None else lr)
    steps = epochs * -(-len(x_train) // BATCH_SIZE)
    schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    trainer = Trainer(
        model,
        nn.CrossEntropyLoss(),
        optimizer,
        metrics=["accuracy"],
        track_grad_norms=False,
        watch_overfitting=False,
        learning_rule=chainrule.learning.apply_rule(model, rule, seed=seed),
    )
    started = time.process_time()
    history = trainer.fit(
        Batches(x_train, y_train, BATCH_SIZE, seed),
        Batches(x_test, y_test, 500, None),
        epochs=epochs,
        callbacks=[LRSchedulerCallback(schedule, interval="batch")],
        verbose=0,
    )
    result = {
        "accuracy": [100 * a for a in history["val_accuracy"]],
        "cpu_seconds_per_epoch": (time.process_time() - started) / epochs,
        "alignment": {key: history[key] for key in history.keys() if key.endswith("/alignment_deg")},
    }
    if rule == "ff":
        predicted = trainer.learning_rule.predict_by_goodness(chainrule.tensor(x_test))
        result["goodness_accuracy"] = 100 * float((predicted == y_test).mean())
    return result


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    curves = np.array([run["accuracy"] for run in runs])
    mean_curve = curves.mean(axis=0)
    plateau = float(mean_curve.max())
    within = int(np.argmax(mean_curve >= plateau - 1.0)) + 1
    final = curves[:, -1]
    summary = {
        "final_mean": float(final.mean()),
        "final_std": float(final.std(ddof=1)) if len(final) > 1 else 0.0,
        "plateau": plateau,
        "epochs_to_plateau": within,
        "cpu_seconds_per_epoch": statistics.median(run["cpu_seconds_per_epoch"] for run in runs),
    }
    if "goodness_accuracy" in runs[0]:
        summary["goodness_accuracy"] = float(np.mean([run["goodness_accuracy"] for run in runs]))
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one seed, 2 epochs, nothing written")
    parser.add_argument("--only", choices=tuple(RULES), nargs="+", default=list(RULES))
    parser.add_argument("--rules", nargs="+", help="only these rules")
    parser.add_argument("--epochs", type=int, help="override every task's epoch budget")
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0, 1, 2, 3],
        help="seeds to run (runs of other seeds already in the results are kept)",
    )
    parser.add_argument(
        "--validate",
        action="store_true",
        help="choose learning rates: train on the first 6,500 training images, print the accuracy on "
        "the next 1,500 (MNIST-1D: 3,250 / 750) for each of VALIDATION_RATES (seed 0); writes nothing",
    )
    parser.add_argument(
        "--table-only", action="store_true", help="rewrite the table and plot from the results"
    )
    args = parser.parse_args(argv)
    if args.validate:
        validate(args.only, args.rules, args.epochs)
        return
    if args.table_only:
        args.only = []
    seeds = [0] if args.quick else args.seeds
    results: dict[str, Any] = {}
    for task in args.only:
        data = mnist1d_split() if task == "mnist1d" else mnist_split()
        if task == "mlp":
            data = (data[0].reshape(len(data[0]), -1), data[1], data[2].reshape(len(data[2]), -1), data[3])
        epochs = 2 if args.quick else args.epochs or EPOCHS[task]
        # Seeds outermost, each run saved as it ends: an interrupted benchmark keeps whole seeds.
        for seed in seeds:
            for rule in [rule for rule in args.rules or RULES[task] if rule in RULES[task]]:
                run = train_one(task, rule, seed, epochs, data)
                print(
                    f"{task} {rule} seed {seed}: {run['accuracy'][-1]:.2f}% "
                    f"({run['cpu_seconds_per_epoch']:.1f} CPU s/epoch)",
                    flush=True,
                )
                if not args.quick:  # re-read first: other tasks, rules or seeds may run beside
                    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
                record(results, task, rule, epochs, seed, run)
                if not args.quick:
                    RESULTS.write_text(json.dumps(results, indent=1))
    if args.quick:
        print(table(results))
        return
    results = json.loads(RESULTS.read_text())
    plot_alignment(results)
    write_section(table(results))


# The learning rates --validate tries, per task.
VALIDATION_RATES = {
    "mlp": (3e-4, 1e-3, 3e-3),
    "cnn": (1e-3, 3e-3, 1e-2, 3e-2),
    "mnist1d": (1e-3, 3e-3, 1e-2, 3e-2),
}


def validate(tasks: list[str], rules: list[str] | None, epochs: int | None) -> None:
    """Each rule's last-epoch accuracy on a validation slice of the training images, per
    learning rate of VALIDATION_RATES (seed 0): how LEARNING_RATES is chosen, never looking at
    the held-out images."""
    for task in tasks:
        x_train, y_train, _, _ = mnist1d_split() if task == "mnist1d" else mnist_split()
        if task == "mlp":
            x_train = x_train.reshape(len(x_train), -1)
        cut = len(x_train) * 13 // 16  # MNIST: 6,500 of 8,000
        data = (x_train[:cut], y_train[:cut], x_train[cut:], y_train[cut:])
        for rule in [rule for rule in rules or RULES[task] if rule in RULES[task]]:
            for lr in VALIDATION_RATES[task]:
                run = train_one(task, rule, 0, epochs or EPOCHS[task], data, lr=lr)
                print(f"{task} {rule} lr {lr:g}: validation accuracy {run['accuracy'][-1]:.2f}%", flush=True)


def record(
    results: dict[str, Any], task: str, rule: str, epochs: int, seed: int, run: dict[str, Any]
) -> None:
    """Add one seed's run to ``results`` (replacing a run of the same seed and setup)."""
    earlier = results.get(task, {}).get(rule, {})
    by_seed = {}
    lr = LEARNING_RATES[task][rule]
    if (earlier.get("epochs"), earlier.get("lr"), earlier.get("cosine", False)) == (epochs, lr, True):
        by_seed = dict(zip(earlier["seeds"], earlier["runs"]))
    by_seed[seed] = run
    runs = [by_seed[key] for key in sorted(by_seed)]
    results.setdefault(task, {})[rule] = {
        "epochs": epochs,
        "lr": lr,
        "cosine": True,
        "seeds": sorted(by_seed),
        "runs": runs,
        **summarise(runs),
    }


TASK_NAMES = {
    "mlp": "MNIST 8k/2k, MLP 784-512-512-10 (tanh), Adam with a cosine learning-rate decay",
    "cnn": "MNIST 8k/2k, small CNN (tanh), Adam with a cosine learning-rate decay",
    "mnist1d": "MNIST-1D, MLP 40-100-100-10 (tanh), Adam with a cosine learning-rate decay",
}


def table(results: dict[str, Any]) -> str:
    lines = []
    for task in [task for task in RULES if task in results]:
        by_rule = {rule: results[task][rule] for rule in RULES[task] if rule in results[task]}
        bp = by_rule.get("bp", {}).get("final_mean")
        lines += [
            f"**{TASK_NAMES[task]}**",
            "",
            "| rule | Adam lr | epochs | seeds | held-out accuracy (mean ± std, %) | vs bp (points) "
            "| plateau (%) | epochs to within 1 point | CPU s/epoch |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for rule, s in by_rule.items():
            gap = "" if bp is None or rule == "bp" else f"{s['final_mean'] - bp:+.2f}"
            lines.append(
                f"| {rule} | {s['lr']:g} | {s['epochs']} | {', '.join(map(str, s['seeds']))} "
                f"| {s['final_mean']:.2f} ± {s['final_std']:.2f} | {gap} "
                f"| {s['plateau']:.2f} | {s['epochs_to_plateau']} | {s['cpu_seconds_per_epoch']:.1f} |"
            )
        if "ff" in by_rule and "goodness_accuracy" in by_rule["ff"]:
            lines += [
                "",
                f"ff above classifies with its linear head; classifying by goodness (one pass per "
                f"label) instead gives {by_rule['ff']['goodness_accuracy']:.2f}%.",
            ]
        lines.append("")
        angles = []
        for rule, s in by_rule.items():
            for key in s["runs"][0]["alignment"]:
                last = [run["alignment"][key][-1] for run in s["runs"]]
                first = [run["alignment"][key][0] for run in s["runs"]]
                angles.append(
                    f"| {rule} | {key.removesuffix('/alignment_deg')} | {np.mean(first):.1f} "
                    f"| {np.mean(last):.1f} |"
                )
        if angles:
            lines += [
                "| rule | layer | alignment angle, epoch 1 (deg) | last epoch (deg) |",
                "| --- | --- | --- | --- |",
                *angles,
                "",
            ]
    return "\n".join(lines)


def plot_alignment(results: dict[str, Any]) -> None:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return
    tasks = [task for task in results if any(s["runs"][0]["alignment"] for s in results[task].values())]
    if not tasks:
        return
    figure = Figure(figsize=(4.2 * len(tasks), 3.4), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(tasks), squeeze=False)[0]
    for ax, task in zip(axes, tasks):
        for rule, s in results[task].items():
            for key in s["runs"][0]["alignment"]:
                curve = np.mean([run["alignment"][key] for run in s["runs"]], axis=0)
                if np.nanmax(curve) < 1e-3:
                    continue  # the output layer: exactly the true gradient
                ax.plot(
                    np.arange(1, len(curve) + 1), curve, label=f"{rule} {key.removesuffix('/alignment_deg')}"
                )
        ax.axhline(90, color="#9ca3af", linewidth=1, linestyle=":")
        ax.set_title(", ".join(TASK_NAMES[task].split(", ")[:2]), fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel("angle to backprop gradient (deg)", fontsize=8)
        ax.legend(frameon=False, fontsize=6)
    figure.savefig(PLOT)


def write_section(body: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text()
    stamp = (
        f"Measured {time.strftime('%Y-%m-%d')} on a shared 2-core machine "
        f"({os.cpu_count()} CPUs visible; CPU times are noisy), Python {sys.version.split()[0]}."
    )
    section = f"{BEGIN}\n{stamp}\n\n{body}\n![alignment angles](benchmarks/{PLOT.name})\n{END}"
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()
