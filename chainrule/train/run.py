"""A training run from start to end: what ``chainrule train`` does, callable from Python.

A run is described by a flat configuration (:data:`SETTINGS`: dataset, model, epochs, ...),
given by defaults, a TOML file and command-line flags, in rising priority
(:mod:`chainrule.train.config`). Every run writes a folder ``<out>/<name>/``
(:mod:`chainrule.train.run_folder` lists its files).

The jobs are in their own modules, re-exported here where users import them:
:mod:`~chainrule.train.config` (settings, TOML), :mod:`~chainrule.train.run_folder` (naming,
locking, resuming), :mod:`~chainrule.train.data_prep` (datasets, splits, loaders),
:mod:`~chainrule.train.factories` (model, optimizer, loss), :mod:`~chainrule.train.evaluation`
(test metrics, attributions, report) and :mod:`~chainrule.train.saved` (loading a run folder
to evaluate or predict).

Before training, the data is checked (:func:`check_data`): NaN or infinite inputs stop the run
unless ``allow_nan`` is set. While training, the trainer watches the gradient flow and
overfitting and says what it finds.

Example::

    >>> from chainrule.train.run import train_run
    >>> result = train_run({"dataset": "iris", "epochs": 30, "lr": 0.01, "name": "iris-a"}, verbose=0)
    >>> result.test_metrics["accuracy"] > 0.8, result.run_dir
    (True, PosixPath('runs/iris-a'))
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from chainrule.errors import ConfigError, InputError
from chainrule.train.callbacks import Callback
from chainrule.train.config import (
    CONFIG_FILE,
    DEFAULT_LR,
    IMAGE_SHAPES,
    OPTIMIZERS,
    SCHEDULERS,
    SETTINGS,
    Setting,
    absolute_model_spec,
    default_config,
    dumps_toml,
    load_config,
    read_toml,
    resolve_config_paths,
    validate_config,
    write_config,
)
from chainrule.train.data_prep import (
    FlatImageShift,
    PreparedData,
    augment_shift,
    check_data,
    load_splits,
    make_loader,
    make_train_loader,
    pin_dataset,
    prepare_data,
)
from chainrule.train.evaluation import (
    ATTRIBUTION_IMAGES,
    ATTRIBUTION_ROWS,
    ATTRIBUTION_STEPS,
    TEST_METRICS,
    TRAIN_METRICS,
    attribution_summary,
    evaluate_arrays,
    evaluate_model,
    write_run_report,
)
from chainrule.train.factories import (
    build_model_for,
    build_optimizer,
    build_scheduler,
    loss_for,
    seed_everything,
)
from chainrule.train.run_folder import (
    CHECKPOINT_FILE,
    LOCK_FILE,
    METRICS_FILE,
    MODEL_FILE,
    REPORT_FILE,
    RESUME_MAY_CHANGE,
    TEST_FILE,
    RunFolderLock,
    check_resume_config,
    new_run_dir,
    open_run_to_resume,
    remove_stale_temporaries,
)
from chainrule.train.saved import (
    LoadedRun,
    check_data_fits,
    check_model_description,
    evaluate_run,
    load_run,
    load_test_split,
    predict_run,
    read_inputs,
    save_model_file,
    save_test_split,
)

# Names users import from here, wherever their job now lives.
__all__ = [
    "ATTRIBUTION_IMAGES",
    "ATTRIBUTION_ROWS",
    "ATTRIBUTION_STEPS",
    "CHECKPOINT_FILE",
    "CONFIG_FILE",
    "ConfigError",
    "DEFAULT_LR",
    "FlatImageShift",
    "IMAGE_SHAPES",
    "InputError",
    "LOCK_FILE",
    "LoadedRun",
    "METRICS_FILE",
    "MODEL_FILE",
    "OPTIMIZERS",
    "PreparedData",
    "REPORT_FILE",
    "RESUME_MAY_CHANGE",
    "RunFolderLock",
    "RunResult",
    "SCHEDULERS",
    "SETTINGS",
    "Setting",
    "TEST_FILE",
    "TEST_METRICS",
    "TRAIN_METRICS",
    "attribution_summary",
    "augment_shift",
    "build_model_for",
    "build_optimizer",
    "build_scheduler",
    "check_data",
    "check_data_fits",
    "check_model_description",
    "check_resume_config",
    "default_config",
    "dumps_toml",
    "evaluate_arrays",
    "evaluate_model",
    "evaluate_run",
    "load_config",
    "load_run",
    "load_splits",
    "load_test_split",
    "loss_for",
    "make_loader",
    "make_train_loader",
    "new_run_dir",
    "open_run_to_resume",
    "pin_dataset",
    "predict_run",
    "prepare_data",
    "read_inputs",
    "read_toml",
    "remove_stale_temporaries",
    "resolve_config_paths",
    "save_model_file",
    "save_test_split",
    "seed_everything",
    "train_run",
    "validate_config",
    "write_config",
    "write_run_report",
]


@dataclass
class RunResult:
    """What :func:`train_run` leaves: the folder, test metrics, history, the full config, the
    gradient-flow findings of the last epoch and the data check's report. After a divergence,
    ``divergence`` says where (a :class:`~chainrule.train.callbacks.Divergence`), ``kept_epoch``
    is the epoch whose weights were saved and scored (``None``: no model saved, no test metrics)."""

    run_dir: Path
    test_metrics: dict[str, float]
    history: Any
    config: dict[str, Any] = field(default_factory=dict)
    gradient_findings: list[Any] | None = None
    data_report: Any = None
    divergence: Any = None
    kept_epoch: int | None = None


def train_run(
    config: Mapping[str, Any],
    *,
    resume: str | Path | None = None,
    verbose: int = 1,
    callbacks: Sequence[Callback] = (),
    stream: TextIO | None = None,
    trust_model_code: bool = False,
) -> RunResult:
    """Train as ``chainrule train`` does and write the run folder.

    The folder is locked (:class:`RunFolderLock`) while this runs, so no other process writes
    it meanwhile.

    Args:
        config: settings (see :data:`SETTINGS`); missing ones take their defaults. Ignored
            with ``resume``, which reads the run folder's own config.toml.
        resume: a run folder to continue from its last checkpoint, bit for bit as if it had
            never stopped. Refused if config.toml was edited in a way that changes the model,
            optimizer or data split (see :func:`check_resume_config`).
        verbose: 0 silent, 1 progress bar, 2 a line per epoch.
        callbacks: more callbacks to run beside the workflow's own (checkpoint, CSV log, early
            stopping, ...), e.g. one that watches or slows each batch.
        stream: where to print the run's messages (default stdout).
        trust_model_code: let ``resume`` run the model file a run folder names (see
            :func:`chainrule.train.models.run_model_spec`).
    """
    from chainrule.train.distributed import let_process_zero_speak_first

    with contextlib.ExitStack() as held:
        try:
            return _train_run(config, resume, verbose, callbacks, stream, trust_model_code, held)
        except Exception:
            let_process_zero_speak_first()
            raise


def _train_run(
    config: Mapping[str, Any],
    resume: str | Path | None,
    verbose: int,
    extra_callbacks: Sequence[Callback],
    stream: TextIO | None,
    trust_model_code: bool,
    held: contextlib.ExitStack,
) -> RunResult:
    from chainrule.learning import apply_rule
    from chainrule.train.callbacks import CSVLogger, EarlyStopping, ModelCheckpoint, TerminateOnDivergence
    from chainrule.train.distributed import (
        DataParallel,
        DataParallelTrainer,
        check_resume_processes,
        launched_world_size,
    )
    from chainrule.train.models import is_model_file, run_model_spec, save_model_code
    from chainrule.train.trainer import Trainer

    out = stream if stream is not None else sys.stdout
    model_spec = None
    # Under `mpiexec -n N` (N > 1): data-parallel, and process 0 alone writes and prints.
    parallel = DataParallel() if launched_world_size() > 1 else None
    writes = parallel is None or parallel.writes
    verbose = verbose if writes else 0
    if resume is not None:
        run_dir = Path(resume)
        saved_config = None
        if writes:
            saved_config, lock = open_run_to_resume(run_dir)
            held.callback(lock.release)
        if parallel is not None:
            saved_config = parallel.share(saved_config)
        assert saved_config is not None  # read by process 0, shared with the others
        saved_config = resolve_config_paths(saved_config, run_dir)
        config = validate_config({**saved_config, **config}, source=str(run_dir / CONFIG_FILE))
        model_spec = run_model_spec(config["model"], run_dir, trust_model_code)
        if (run_dir / CHECKPOINT_FILE).is_file():
            check_resume_config(config, run_dir / CHECKPOINT_FILE)
            check_resume_processes(run_dir / CHECKPOINT_FILE, 1 if parallel is None else parallel.world_size)
        pin_dataset(config, str(run_dir / CONFIG_FILE), resuming=True)
    else:
        config = validate_config(config)
        config["model"] = absolute_model_spec(config["model"])  # a flag's path: the working directory's
        pin_dataset(config)
    data = prepare_data(config)
    data_report = check_data(data, allow_nan=config["allow_nan"])
    if verbose:
        print(data_report, file=out, flush=True)
    if config["learning_rule"] == "ff" and data.task != "classification":
        raise ConfigError(
            f"learning rule 'ff' classifies (it writes the label into the input), but {config['dataset']} "
            "is a regression task; choose bp, fa, dfa or sign"
        )
    seed_everything(config["seed"])
    model = build_model_for(
        config,
        data.input_shape,
        data.num_outputs,
        data.task,
        data.target_mean,
        data.target_variance,
        model_spec=model_spec,
    )
    optimizer = build_optimizer(config, model)
    if parallel is not None:
        parallel.check_batches(len(data.x_train), config["batch_size"])
    trainer = (Trainer if parallel is None else functools.partial(DataParallelTrainer, parallel))(
        model,
        loss_for(data.task, data.target_variance),
        optimizer,
        metrics=TRAIN_METRICS[data.task],
        scheduler=build_scheduler(config, optimizer),
        config=config,
        learning_rule=apply_rule(model, config["learning_rule"], seed=config["seed"]),
        checkpoint_segments=config["checkpoint_segments"],
    )
    if resume is None and writes:
        run_dir, lock = new_run_dir(config)
        held.callback(lock.release)
        if is_model_file(config["model"]):
            save_model_code(config["model"], run_dir)
    if resume is None and parallel is not None:
        run_dir = Path(parallel.share(str(run_dir) if writes else None))
    if writes:
        write_config(run_dir, config)

    callbacks: list[Any] = [TerminateOnDivergence(log=False)]  # the CLI names a divergence as its error
    if writes:
        callbacks += [CSVLogger(run_dir / METRICS_FILE), ModelCheckpoint(run_dir, CHECKPOINT_FILE)]
    if config["patience"]:
        callbacks.append(EarlyStopping("val_loss", patience=config["patience"], restore_best_weights=True))
    callbacks += extra_callbacks
    if config["tensorboard"] and writes:
        from chainrule.train.callbacks import TensorBoardLogger

        callbacks.append(TensorBoardLogger(config["tensorboard"].replace("{run}", str(run_dir))))
    checkpoint = run_dir / CHECKPOINT_FILE
    resume_from = checkpoint if resume is not None and checkpoint.is_file() else None
    if resume is not None and resume_from is None and verbose:
        print(f"{run_dir} has no checkpoint yet; training from the start", file=out)

    train_loader = make_train_loader(config, data)
    if isinstance(trainer, DataParallelTrainer):
        train_loader = trainer.shard(train_loader)  # the global batch, split across processes
    val_loader = None
    if data.x_val is not None and data.y_val is not None:
        val_loader = make_loader(data.x_val, data.y_val, 256)
    if verbose:
        print(
            f"Training {config['model']} on {config['dataset']}: {len(data.x_train)} training, "
            f"{0 if data.x_val is None else len(data.x_val)} validation, {len(data.x_test)} test samples "
            f"-> {run_dir}",
            file=out,
            flush=True,
        )
    # NumPy's overflow and invalid-value warnings would point into chainrule's ops; what they
    # lead to (a NaN or exploding loss) is named by TerminateOnDivergence instead.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        history = trainer.fit(
            train_loader,
            val_loader,
            epochs=config["epochs"],
            callbacks=callbacks,
            verbose=verbose,
            resume_from=resume_from,
        )
        kept_epoch = None if trainer.divergence is None else _restore_last_good_epoch(trainer, checkpoint)
        test_metrics: dict[str, float] = {}
        if trainer.divergence is None or kept_epoch is not None:
            if writes:
                save_model_file(run_dir, model, config, data)
            test_metrics = evaluate_model(trainer, data)
        note = _model_note(trainer, kept_epoch)
        if writes:
            write_run_report(run_dir, trainer, config, data, test_metrics, data_report, model_note=note)
    return RunResult(
        run_dir=run_dir,
        test_metrics=test_metrics,
        history=history,
        config=config,
        gradient_findings=_gradient_findings(trainer),
        data_report=data_report,
        divergence=trainer.divergence,
        kept_epoch=kept_epoch,
    )


def _restore_last_good_epoch(trainer: Any, checkpoint: Path) -> int | None:
    """After a divergence, load the model weights of ``checkpoint`` (``ModelCheckpoint`` keeps
    the last epoch before it) and return that epoch; ``None`` if it diverged before any."""
    from chainrule.train.checkpoint import load_state

    if not checkpoint.is_file():
        return None
    state = load_state(checkpoint)
    trainer.model.load_state_dict(state["model"])
    return int(state["epoch"])


def _model_note(trainer: Any, kept_epoch: int | None) -> str | None:
    """What model.safetensors holds when it is not simply the weights training ended with."""
    if trainer.divergence is None:
        return None
    if kept_epoch is None:
        return (
            f"No model was saved: training diverged in epoch {trainer.divergence.epoch}, before any "
            "epoch ended with weights worth keeping."
        )
    return (
        f"{MODEL_FILE} holds the weights after epoch {kept_epoch}, the last before training "
        "diverged; the test scores are theirs."
    )


def _gradient_findings(trainer: Any) -> list[Any] | None:
    from chainrule.train.callbacks import GradientFlowCallback

    for callback in trainer.callbacks:
        if isinstance(callback, GradientFlowCallback) and callback.diagnosed:
            return list(callback.findings)
    return None
