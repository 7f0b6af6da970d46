"""The ``chainrule`` command: train, evaluate and predict without writing a script.

::

    chainrule train                                  # a small MLP on scikit-learn's digits
    chainrule train --dataset iris --epochs 50 --lr 0.01 --name iris-a
    chainrule train --config my.toml                 # settings from a TOML file
    chainrule train --resume runs/iris-a             # continue an interrupted run exactly
    chainrule evaluate runs/iris-a                   # test metrics of the saved model
    chainrule predict runs/iris-a samples.csv        # one prediction per input row
    chainrule explain --activation relu              # one training step worked by hand
    chainrule audit runs/adult --data test.csv --sensitive sex   # fairness across groups

``train`` checks the data first (NaN or infinite inputs stop it unless ``--allow-nan``) and
says, after training, what the gradient-flow monitor found; overfitting is named as it
happens. Also ``python -m chainrule ...``. Bad arguments or config files print one sentence to
stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

# Flags of `chainrule train` that set a config key: flag dest -> config key.
_TRAIN_FLAGS = {
    "dataset": "dataset",
    "target": "target",
    "drop_columns": "drop_columns",
    "categorical": "categorical",
    "max_categories": "max_categories",
    "data_dir": "data_dir",
    "model": "model",
    "hidden": "hidden",
    "dropout": "dropout",
    "checkpoint_segments": "checkpoint_segments",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "optimizer": "optimizer",
    "weight_decay": "weight_decay",
    "learning_rule": "learning_rule",
    "scheduler": "scheduler",
    "patience": "patience",
    "seed": "seed",
    "val_split": "val_split",
    "augment": "augment",
    "allow_nan": "allow_nan",
    "tensorboard": "tensorboard",
    "out": "out",
    "name": "name",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line on stderr (exit 2) instead of usage plus message."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from chainrule.train.run import SETTINGS

    parser = _Parser(
        prog="chainrule", description="Train, evaluate and use neural networks built on chainrule."
    )
    commands = parser.add_subparsers(
        dest="command", metavar="{train,evaluate,predict,explain,audit,run,export}", parser_class=_Parser
    )

    train = commands.add_parser(
        "train",
        help="train a model and write a run folder",
        description="Train a model and write runs/<name>/ (config.toml, metrics.csv, "
        "checkpoint.safetensors, model.safetensors, report.html). "
        "Settings: defaults < --config file < flags.",
    )
    flag_help = {
        key: setting.help
        + (f" (default: {setting.default})" if setting.default not in (None, "", {}, []) else "")
        for key, setting in SETTINGS.items()
    }
    train.add_argument("--dataset", help=flag_help["dataset"])
    train.add_argument("--target", help=flag_help["target"])
    train.add_argument("--drop-columns", nargs="+", metavar="COLUMN", help=flag_help["drop_columns"])
    train.add_argument("--categorical", nargs="+", metavar="COLUMN", help=flag_help["categorical"])
    train.add_argument("--max-categories", type=int, help=flag_help["max_categories"])
    train.add_argument("--data-dir", help=flag_help["data_dir"])
    train.add_argument("--model", help=flag_help["model"])
    train.add_argument("--hidden", type=int, nargs="+", metavar="WIDTH", help=flag_help["hidden"])
    train.add_argument("--dropout", type=float, help=flag_help["dropout"])
    train.add_argument("--checkpoint-segments", type=int, metavar="N", help=flag_help["checkpoint_segments"])
    train.add_argument("--epochs", type=int, help=flag_help["epochs"])
    train.add_argument("--batch-size", type=int, help=flag_help["batch_size"])
    train.add_argument("--lr", type=float, help=flag_help["lr"])
    train.add_argument(
        "--optimizer", help=flag_help["optimizer"] + ": " + ", ".join(SETTINGS["optimizer"].choices)
    )
    train.add_argument("--weight-decay", type=float, help=flag_help["weight_decay"])
    train.add_argument("--learning-rule", help=flag_help["learning_rule"])
    train.add_argument(
        "--scheduler", help=flag_help["scheduler"] + ": " + ", ".join(SETTINGS["scheduler"].choices)
    )
    train.add_argument("--patience", type=int, help=flag_help["patience"])
    train.add_argument("--seed", type=int, help=flag_help["seed"])
    train.add_argument("--val-split", type=float, help=flag_help["val_split"])
    train.add_argument("--augment", action=argparse.BooleanOptionalAction, help=flag_help["augment"])
    train.add_argument("--allow-nan", action=argparse.BooleanOptionalAction, help=flag_help["allow_nan"])
    train.add_argument(
        "--tensorboard",
        nargs="?",
        const="{run}/tensorboard",
        metavar="DIR",
        help="write TensorBoard logs (scalars, weight and gradient histograms, the gradient-flow "
        "plot) to DIR, default RUN_DIR/tensorboard; view them with: tensorboard --logdir DIR",
    )
    train.add_argument("--out", help=flag_help["out"])
    train.add_argument("--name", help=flag_help["name"])
    train.add_argument(
        "--config", metavar="FILE.toml", help="read settings from a TOML file (flags override it)"
    )
    train.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue an interrupted run from its last checkpoint (only settings that leave the "
        "run's results alone may be given with it: --epochs, --patience, --tensorboard, "
        "--checkpoint-segments, --data-dir, --allow-nan, --verbose)",
    )
    train.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="0 silent, 1 progress bar, 2 one line per epoch (default: 1)",
    )
    _add_trust_flag(train)

    evaluate = commands.add_parser(
        "evaluate",
        help="test metrics of a finished run's model",
        description="Reload the model of RUN_DIR and print its metrics on the test split.",
    )
    evaluate.add_argument("run_dir", metavar="RUN_DIR")
    _add_trust_flag(evaluate)

    predict = commands.add_parser(
        "predict",
        help="predictions of a finished run's model",
        description="Predict with the model of RUN_DIR for raw rows of the dataset, preprocessed "
        "as in training (scaling, categories, column order are stored in the run folder). INPUT is "
        "a .csv with a header row naming the training columns (others are ignored), or raw "
        "numbers, one sample per row: a .npy file or a .csv without header (a table's columns in "
        "training order, an image's pixels). Prints one prediction per line.",
    )
    predict.add_argument("run_dir", metavar="RUN_DIR")
    predict.add_argument("input", metavar="INPUT")
    _add_trust_flag(predict)
    predict.add_argument(
        "--output",
        metavar="FILE",
        help="also write predictions to a .csv (with class probabilities) or .npy file",
    )

    explain = commands.add_parser(
        "explain",
        help="one training step of a tiny network, worked by hand",
        description="Work one gradient-descent step of a 2-3-2 network on the four XOR samples "
        "by hand: the forward values, the loss, every chain-rule product of the backward pass, "
        "the weight updates, and a check against the engine's own gradients.",
    )
    explain.add_argument("--seed", type=int, default=0, help="seeds the initial weights (default: 0)")
    explain.add_argument(
        "--activation",
        choices=tuple(_ACTIVATIONS),
        default="sigmoid",
        help="hidden activation (default: sigmoid)",
    )
    explain.add_argument(
        "--loss", choices=("mse", "cross_entropy"), default="mse", help="the loss (default: mse)"
    )
    explain.add_argument("--lr", type=float, default=0.5, help="learning rate of the step (default: 0.5)")

    audit = commands.add_parser(
        "audit",
        help="fairness audit of a finished run's classifier",
        description="Audit the classifier of RUN_DIR on the rows of a CSV file: per group of the "
        "SENSITIVE column, its accuracy, selection rate and error rates, and four summary "
        "figures with their readings. Prints the table, saves RUN_DIR/audit.json and adds a "
        "'Fairness audit' section to RUN_DIR/report.html.",
    )
    audit.add_argument("run_dir", metavar="RUN_DIR")
    audit.add_argument(
        "--data", required=True, metavar="FILE.csv", help="rows to audit on, with a header row"
    )
    audit.add_argument(
        "--sensitive", required=True, metavar="COLUMN", help="the column holding each row's group"
    )
    audit.add_argument(
        "--target", metavar="COLUMN", help="the column of true labels (default: the run's target)"
    )
    audit.add_argument(
        "--pos-label",
        metavar="LABEL",
        help="the class that counts as the positive outcome (default: the second of two classes)",
    )
    _add_trust_flag(audit)
    run = commands.add_parser(
        "run",
        help="run an unmodified PyTorch script on chainrule",
        description="Run script.py with `import torch` answered by chainrule (this process only); "
        "a name chainrule lacks fails naming it. The script's own arguments follow it.",
    )
    run.add_argument("script", help="the PyTorch script (.py)")
    run.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")
    export = commands.add_parser(
        "export",
        help="write a finished run's model as an ONNX file",
        description="Write the model of RUN_DIR to OUTPUT as ONNX (input 'input', output 'output', "
        "any batch size), then check it in ONNX Runtime against chainrule on random inputs. "
        "Needs the [onnx] extra.",
    )
    export.add_argument("run_dir", metavar="RUN_DIR")
    export.add_argument("output", metavar="OUTPUT.onnx")
    export.add_argument("--opset", type=int, default=None, help="ONNX opset, 13 to 21 (default: 17)")
    _add_trust_flag(export)
    return parser


def _add_trust_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--trust-model-code",
        action="store_true",
        help="allow running the Python file a run folder or config file names as its model "
        "(model = 'file.py:Class'); only for files from someone you trust (see SECURITY.md)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``chainrule`` console script; returns the exit status.

    Under ``mpiexec``, a process that fails ends the whole job with its status, so the
    others do not wait for it forever (see :func:`chainrule.train.distributed.end_failed_job`).
    """
    status = _main(argv)
    if status != 0 and "chainrule.distributed" in sys.modules:
        from chainrule.train.distributed import end_failed_job

        end_failed_job(status)
    return status


def _main(argv: Sequence[str] | None = None) -> int:
    """The command's exit status.

    The one place errors become exit statuses (as argparse's ``parser.error`` does for flags):
    bad input of any kind (:class:`chainrule.errors.InputError`, or the operating system
    refusing a file) is one sentence on stderr and status 2; a missing optional package is
    status 1; anything else is a bug in chainrule, shown with its traceback and status 1.
    """
    from chainrule.backends.allocator import tune_for_training
    from chainrule.errors import InputError

    try:  # the command trains and predicts: reuse freed large arrays across steps
        tune_for_training()
    except InputError as error:  # a bad CHAINRULE_TUNE_ALLOCATOR, before anything runs
        print(f"chainrule: error: {error}", file=sys.stderr)
        return 2
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["run"] and len(arguments) > 1 and arguments[1] not in ("-h", "--help"):
        # The script's own flags must reach it untouched, not be parsed here.
        from chainrule.run import main as run_main

        return run_main(arguments[1:])
    parser = build_parser()
    args = parser.parse_args(arguments)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    prefix = f"chainrule {args.command}: error:"
    try:
        from chainrule.backends import blas
        from chainrule.backends import numba as numba_backend

        # a bad CHAINRULE_BLAS or CHAINRULE_KERNEL_THREADS is refused before a command makes
        # anything
        blas.current()
        numba_backend.get_num_threads()
        return _COMMANDS[args.command](args)
    except InputError as error:
        print(f"{prefix} {error}", file=sys.stderr)
        return 2
    except OSError as error:
        # A file that cannot be read or written (missing, a folder, no permission, disk full):
        # the operating system's message names the file.
        print(f"{prefix} {_os_error_sentence(error)}", file=sys.stderr)
        return 2
    except ImportError as error:
        # A missing optional package: the message says what to install.
        print(f"{prefix} {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception:
        import traceback

        traceback.print_exc()
        print(
            f"{prefix} this is a bug in chainrule, not a problem with your input; please report it "
            "with the command you ran and the traceback above",
            file=sys.stderr,
        )
        return 1


def _os_error_sentence(error: OSError) -> str:
    if error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror.lower()}"
    return str(error)


def _train(args: argparse.Namespace) -> int:
    from chainrule.train.distributed import process_zero
    from chainrule.train.run import (
        RESUME_MAY_CHANGE,
        ConfigError,
        read_toml,
        resolve_config_paths,
        train_run,
        validate_config,
    )

    # What a resume may change without changing the run's results; name and out say where the
    # run is, which --resume already does.
    resume_flags = RESUME_MAY_CHANGE - {"name", "out"}

    given = {
        key: getattr(args, flag) for flag, key in _TRAIN_FLAGS.items() if getattr(args, flag) is not None
    }
    if args.resume is not None:
        extra = sorted(_flag(key) for key in given if key not in resume_flags)
        if extra or args.config:
            extra += ["--config"] if args.config else []
            allowed = ", ".join(sorted(_flag(key) for key in resume_flags))
            raise ConfigError(
                f"--resume takes its settings from {Path(args.resume) / 'config.toml'}; only {allowed} "
                f"and --verbose can be given with it, not {', '.join(extra)}"
            )
        config: dict[str, Any] = given
    else:
        config = {}
        if args.config:
            config = read_toml(args.config)
            validate_config(config, source=args.config)  # so a mistake in the file names the file
            config = resolve_config_paths(config, Path(args.config).parent)  # the file's paths: its folder's
            if "dataset" in given:
                config.pop("dataset_sha256", None)  # the recorded hash is of the file's dataset
            _check_config_model_trusted(args, config, given)
            if "name" not in given:
                config.update(_rerun_name(Path(args.config), config))
        config.update(given)
    try:
        result = train_run(
            config,
            resume=args.resume,
            verbose=args.verbose,
            trust_model_code=args.trust_model_code,
        )
    except KeyboardInterrupt:
        print("\ninterrupted; continue with: chainrule train --resume <run folder>", file=sys.stderr)
        return 130
    speaks = process_zero()  # under mpiexec, process 0 alone prints the outcome
    if result.divergence is not None:
        # Exit status 1, not 2: the settings were valid, the run itself failed (2 is for bad input).
        if speaks:
            print(f"chainrule train: error: {_divergence_sentence(result)}", file=sys.stderr)
        return 1
    if args.verbose and speaks:
        print(_summary_line(result.test_metrics))
        saved = "report.html, metrics.csv, model.safetensors, test.safetensors, checkpoint.safetensors"
        print(f"Run saved in {result.run_dir}: {saved}")
    return 0


def _divergence_sentence(result: Any) -> str:
    """Where the run diverged, what was kept and what to try, as one sentence."""
    from chainrule.train.run import DEFAULT_LR

    found = result.divergence
    if result.kept_epoch is None:
        kept = "no model was saved"
    else:
        kept = f"model.safetensors holds the weights of epoch {result.kept_epoch}, the last before it"
    # Ten times lower, but no higher than the optimizer's default: from --lr 1e30, try 0.05, not 1e29.
    suggested = min(found.lr / 10, DEFAULT_LR[result.config["optimizer"]])
    return (
        f"training diverged {found.where} ({found.reason}, with learning rate {found.lr:.3g}); {kept}, "
        f"{result.run_dir / 'report.html'} shows the run, and a lower learning rate such as "
        f"--lr {suggested:.3g} may train"
    )


def _flag(key: str) -> str:
    return f"--{key.replace('_', '-')}"


def _check_config_model_trusted(
    args: argparse.Namespace, config: dict[str, Any], given: dict[str, Any]
) -> None:
    """A model named by a config file is code from a file: it runs only with the trust flag
    (a model given with --model is the user's own say on the command line)."""
    from chainrule.errors import UntrustedCodeError
    from chainrule.train.models import TRUST_FLAG, is_model_file

    model = config.get("model", "mlp")
    if "model" not in given and is_model_file(model) and not args.trust_model_code:
        raise UntrustedCodeError(
            f"{args.config} names the model {model!r}, which is Python code that training would "
            f"run; if you trust that file, pass {TRUST_FLAG} (or give it with --model)"
        )


def _rerun_name(config_path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """A saved run's config.toml names its own folder; training it again goes to a new one,
    ``<name>-2`` (or the next free number), so the saved run is never touched."""
    from chainrule.train.run import CONFIG_FILE

    name = config.get("name", "")
    out = Path(config.get("out", "runs"))
    saved = out / name / CONFIG_FILE
    if not name or not saved.is_file() or not saved.samefile(config_path):
        return {}  # not a run folder's own config: an existing name is refused as usual
    number = 2
    while (out / f"{name}-{number}").exists():
        number += 1
    return {"name": f"{name}-{number}"}


def _summary_line(metrics: dict[str, float]) -> str:
    if "accuracy" in metrics:
        rest = ", ".join(f"{key} {value:.4f}" for key, value in metrics.items() if key != "accuracy")
        return f"Test accuracy: {metrics['accuracy']:.2%} ({rest})"
    return "Test " + ", ".join(f"{key} {value:.4g}" for key, value in metrics.items())


def _evaluate(args: argparse.Namespace) -> int:
    from chainrule.train.run import evaluate_run

    metrics, matrix, loaded = evaluate_run(args.run_dir, trust_model_code=args.trust_model_code)
    print(f"{args.run_dir}: {loaded.config['model']} on {loaded.config['dataset']} (test split)")
    for key, value in metrics.items():
        print(f"  {key:<10} {value:.4f}")
    if matrix is not None and len(matrix) <= 20:
        print("Confusion matrix (rows: true class, columns: predicted):")
        width = max(len(str(int(matrix.max()))), 2)
        for row in matrix:
            print("  " + " ".join(f"{int(count):>{width}}" for count in row))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from chainrule.train.run import ConfigError, load_run, predict_run, read_inputs

    if args.output:
        _refuse_existing(args.output, "--output")
    loaded = load_run(args.run_dir, trust_model_code=args.trust_model_code)
    description = loaded.description
    inputs = read_inputs(args.input, loaded)
    predictions, outputs = predict_run(loaded, inputs)
    names = description.get("class_names")
    classification = description["task"] == "classification"
    for prediction in predictions:
        if classification:
            print(names[int(prediction)] if names else int(prediction))
        else:
            print(" ".join(f"{value:.6g}" for value in np.atleast_1d(prediction)))
    if args.output:
        output = Path(args.output)
        if output.suffix == ".npy":
            np.save(output, predictions)
        elif output.suffix == ".csv":
            _write_predictions_csv(
                output, predictions, outputs, names if classification else None, classification
            )
        else:
            raise ConfigError(f"--output {args.output!r} must end in .csv or .npy")
    return 0


# ----------------------------------------------------------------------------- explain
# The four XOR samples: the smallest problem a network needs a hidden layer for.
_XOR_INPUTS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=np.float32)
_XOR_LABELS = np.array([0, 1, 1, 0], dtype=np.int64)
_ACTIVATIONS = {"sigmoid": "Sigmoid", "relu": "ReLU", "tanh": "Tanh"}


def _explain(args: argparse.Namespace) -> int:
    import chainrule
    from chainrule import nn
    from chainrule.diagnostics import explain_step
    from chainrule.train.run import ConfigError

    if not (np.isfinite(args.lr) and args.lr > 0):
        raise ConfigError(f"--lr must be a positive number, got {args.lr}")
    if args.seed < 0:
        raise ConfigError(f"--seed must be a non-negative integer, got {args.seed}")
    chainrule.manual_seed(args.seed)
    activation = getattr(nn, _ACTIVATIONS[args.activation])
    network = nn.Sequential(nn.Linear(2, 3), activation(), nn.Linear(3, 2))
    if args.loss == "mse":
        targets = chainrule.from_numpy(np.eye(2, dtype=np.float32)[_XOR_LABELS])  # one-hot
        loss_fn: Any = nn.MSELoss()
        target_text = " (as one-hot targets)"
    else:
        targets = chainrule.from_numpy(_XOR_LABELS)
        loss_fn = nn.CrossEntropyLoss()
        target_text = ""
    print(
        f"A 2-3-2 network ({args.activation} hidden layer, seed {args.seed}) on the 4 XOR samples "
        f"{_XOR_INPUTS.astype(int).tolist()} with labels {_XOR_LABELS.tolist()}{target_text}, "
        f"loss {args.loss}, learning rate {args.lr}"
    )
    print()
    explanation = explain_step(
        network, chainrule.from_numpy(_XOR_INPUTS), targets, loss_fn, lr=args.lr, verbose=False
    )
    print(explanation.text)
    return 0 if explanation.max_difference < 1e-4 else 1


# ------------------------------------------------------------------------------- audit
AUDIT_FILE = "audit.json"


def _audit(args: argparse.Namespace) -> int:
    import json

    from chainrule.files import atomic_write_bytes
    from chainrule.train.audit import run_audit
    from chainrule.train.report import insert_section
    from chainrule.train.run import REPORT_FILE, ConfigError

    run_dir = Path(args.run_dir)
    try:
        result = run_audit(
            run_dir,
            Path(args.data),
            args.sensitive,
            args.target,
            pos_label=args.pos_label,
            trust_model_code=args.trust_model_code,
        )
    except ValueError as error:  # e.g. a sensitive column with a single group
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(str(error)) from None
    print(result.to_text())
    # Everything is prepared and checked before the first write, so a failure leaves the run
    # folder as it was (never an audit.json that the report does not show).
    audits: dict[str, Any] = {}
    if (run_dir / AUDIT_FILE).is_file():
        try:
            audits = json.loads((run_dir / AUDIT_FILE).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            audits = {}
        if not isinstance(audits, dict):
            audits = {}
    audits[args.sensitive] = {"data": str(args.data), **_plain_json(result.to_dict())}
    audit_bytes = json.dumps(audits, indent=2).encode()
    saved = [AUDIT_FILE]
    if (run_dir / REPORT_FILE).is_file():
        try:
            insert_section(
                run_dir / REPORT_FILE,
                f"Fairness audit: {args.sensitive}",
                result.to_html(),
                anchor=_audit_anchor(args.sensitive),
            )
        except ValueError as error:
            raise ConfigError(f"{run_dir / REPORT_FILE}: {error}; nothing was saved") from None
        saved.append(f"{REPORT_FILE} (section 'Fairness audit: {args.sensitive}')")
    atomic_write_bytes(run_dir / AUDIT_FILE, audit_bytes)
    print(f"\nAudit saved in {run_dir}: {', '.join(sorted(saved))}")
    return 0


def _audit_anchor(column: str) -> str:
    """An HTML anchor for a column's audit section: ASCII letters and digits, with a short hash
    when the name has other characters (so 'género' and 'g-nero' keep separate sections)."""
    import hashlib

    slug = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in column.lower())
    if slug != column.lower():
        slug += "-" + hashlib.sha256(column.encode()).hexdigest()[:8]
    return "fairness-audit-" + slug


def _plain_json(value: Any) -> Any:
    """Plain JSON values: NaN and infinities (an undefined ratio) become null, NumPy scalars
    Python ones, and keys strings."""
    if isinstance(value, dict):
        return {str(key): _plain_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_json(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _write_predictions_csv(
    path: Path, predictions: np.ndarray, outputs: np.ndarray, names: list[str] | None, classification: bool
) -> None:
    import csv

    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        if not classification:
            values = predictions.reshape(len(predictions), -1)
            writer.writerow(
                ["prediction"]
                if values.shape[1] == 1
                else [f"prediction_{i}" for i in range(values.shape[1])]
            )
            writer.writerows([[repr(float(v)) for v in row] for row in values])
            return
        shifted = outputs - outputs.max(axis=1, keepdims=True)
        probabilities = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        labels = names or [str(k) for k in range(outputs.shape[1])]
        writer.writerow(["prediction", "label", *[f"probability_{label}" for label in labels]])
        for index, row in zip(predictions, probabilities):
            writer.writerow([int(index), labels[int(index)], *[f"{p:.6f}" for p in row]])


def _refuse_existing(path: str | Path, what: str) -> None:
    """Files the commands write never replace one that exists: it may be the user's."""
    from chainrule.errors import ConfigError

    if Path(path).exists():
        raise ConfigError(f"{what} {str(path)!r} already exists; choose a new name or remove it first")


def _export(args: argparse.Namespace) -> int:
    import chainrule
    from chainrule.onnx import export, run
    from chainrule.train.run import load_run

    _refuse_existing(args.output, "OUTPUT")
    loaded = load_run(args.run_dir, trust_model_code=args.trust_model_code)
    shape = tuple(loaded.description["input_shape"])
    example = chainrule.randn(2, *shape)
    batch = {0: "batch"}
    export(loaded.model, (example,), args.output, input_names=["input"], output_names=["output"],
           dynamic_axes={"input": batch, "output": batch}, opset_version=args.opset)
    checked = chainrule.randn(5, *shape)  # another batch size than traced: the axis is dynamic
    with chainrule.no_grad():
        expected = loaded.model(checked).numpy()
    difference = float(np.max(np.abs(run(args.output, checked)[0] - expected)))
    print(f"Wrote {args.output}: input 'input' (batch, {', '.join(map(str, shape))}), output 'output'; "
          f"ONNX Runtime matches chainrule to {difference:.1e} on 5 random inputs")
    if difference > 1e-4:
        print(f"chainrule export: warning: outputs differ by {difference:.1e}", file=sys.stderr)
        return 1
    return 0


_COMMANDS = {
    "train": _train,
    "evaluate": _evaluate,
    "predict": _predict,
    "explain": _explain,
    "audit": _audit,
    "export": _export,
}

if __name__ == "__main__":
    sys.exit(main())
