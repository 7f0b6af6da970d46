"""Run folders: their names, the files they hold, and the lock that keeps one writer.

Every run writes a folder ``<out>/<name>/``::

    config.toml              the complete configuration (edit it and pass it back with --config)
    metrics.csv              one row per epoch (appended each epoch)
    checkpoint.safetensors   the whole training state after the last finished epoch (resumable)
    model.safetensors        the final weights, plus what is needed to rebuild the model and
                             the fitted preprocessing (scaling, categories, column order, classes)
    test.safetensors         the test split as the model sees it (evaluate needs no dataset)
    report.html              the self-contained report (data checks, curves, gradient flow,
                             attributions, ...)
    audit.json               fairness audits, once ``chainrule audit`` has run on the folder
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chainrule.errors import ConfigError
from chainrule.train.config import CONFIG_FILE, SETTINGS, read_toml, resolve_config_paths

CHECKPOINT_FILE = "checkpoint.safetensors"


MODEL_FILE = "model.safetensors"


METRICS_FILE = "metrics.csv"


REPORT_FILE = "report.html"


TEST_FILE = "test.safetensors"


LOCK_FILE = ".lock"


# What a run folder holds before its config.toml exists when a first write was interrupted:
# such a folder is an abandoned start, not someone else's files, so a new run may take it.
_LEFTOVERS = re.compile(r"\.lock|\..+\.tmp|model_code")


# Settings a resume may change: they do not change the model, the optimizer or the data split.
RESUME_MAY_CHANGE = frozenset(
    {"epochs", "name", "out", "data_dir", "allow_nan", "patience", "tensorboard", "checkpoint_segments"}
)


class RunFolderLock:
    """An exclusive ``fcntl`` lock on ``<run_dir>/.lock``, held while a process writes the run
    folder, so two processes never write one run (a second ``train --name`` or a concurrent
    ``--resume`` is refused). Released by :meth:`release` or when the process ends, however it
    ends. On systems without ``fcntl`` (Windows) it does nothing.

    Example::

        >>> Path("runs/iris-a").mkdir(parents=True)
        >>> lock = RunFolderLock(Path("runs/iris-a"))
        >>> lock.release()
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._file: Any = None
        try:
            import fcntl
        except ImportError:
            return
        self._file = open(run_dir / LOCK_FILE, "a+b")  # noqa: SIM115 (held open while locked)
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._file.close()
            self._file = None
            from chainrule.errors import RunFolderError

            raise RunFolderError(
                f"run folder {run_dir} is being written by another chainrule process; wait for it "
                "to finish (then --resume it), or choose another --name"
            ) from None

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor drops the lock
            self._file = None


def new_run_dir(config: Mapping[str, Any]) -> tuple[Path, RunFolderLock]:
    """``<out>/<name>``, made now and locked; a default name is ``<dataset>-<model>-<time>``,
    numbered if taken. A given name that already holds a run is an error (resume it instead),
    as is one that is a symbolic link or a folder of other files (they would be overwritten)."""
    from chainrule.errors import RunFolderError

    out = Path(config["out"])
    if config["name"]:
        run_dir = out / config["name"]
        if run_dir.is_symlink():
            raise RunFolderError(
                f"run folder {run_dir} is a symbolic link; chainrule writes only to real folders, "
                "so choose another --name"
            )
        run_dir.mkdir(parents=True, exist_ok=True)
        lock = RunFolderLock(run_dir)
        try:
            if (run_dir / CONFIG_FILE).exists():
                raise RunFolderError(
                    f"run folder {run_dir} already holds a run; continue it with --resume {run_dir} "
                    "or choose another --name"
                )
            others = sorted(entry.name for entry in run_dir.iterdir() if not _LEFTOVERS.fullmatch(entry.name))
            if others:
                raise RunFolderError(
                    f"{run_dir} exists and is not a chainrule run folder (it holds {', '.join(others[:3])}"
                    f"{', ...' if len(others) > 3 else ''}); choose another --name or --out"
                )
        except BaseException:
            lock.release()
            raise
    else:
        stem = (
            f"{Path(config['dataset']).stem}-{Path(config['model'].split(':')[-1]).stem}-"
            f"{datetime.datetime.now():%Y%m%d-%H%M%S}"
        )
        out.mkdir(parents=True, exist_ok=True)
        run_dir, number = out / stem, 1
        while True:
            try:
                run_dir.mkdir()  # not exist_ok: two processes starting together get two folders
                break
            except FileExistsError:
                number += 1
                run_dir = out / f"{stem}-{number}"
        lock = RunFolderLock(run_dir)
    remove_stale_temporaries(run_dir)
    return run_dir, lock


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete the temporary files a process killed mid-write left (``.<file>.<random>.tmp``
    beside ``<file>``, from :func:`~chainrule.train.checkpoint.atomic_write_bytes`); the file
    they were to replace is intact. Call only while holding the folder's lock. Returns them."""
    stale = [*run_dir.glob(".*.tmp"), *run_dir.glob("model_code/.*.tmp")]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def open_run_to_resume(run_dir: Path) -> tuple[dict[str, Any], RunFolderLock]:
    """Lock a run folder for ``--resume`` and read its config.toml (unvalidated)."""
    from chainrule.errors import RunFolderError

    if not run_dir.is_dir():
        raise RunFolderError(f"cannot resume {run_dir}: no such folder")
    lock = RunFolderLock(run_dir)
    try:
        if not (run_dir / CONFIG_FILE).is_file():
            interrupted = all(_LEFTOVERS.fullmatch(entry.name) for entry in run_dir.iterdir())
            raise RunFolderError(
                f"cannot resume {run_dir}: the run was stopped before it wrote its {CONFIG_FILE}, "
                "so nothing was trained; start it again with the same --name"
                if interrupted
                else f"cannot resume {run_dir}: it has no {CONFIG_FILE} (is it a run folder?)"
            )
        remove_stale_temporaries(run_dir)
        return read_toml(run_dir / CONFIG_FILE), lock
    except BaseException:
        lock.release()
        raise


def check_resume_config(config: Mapping[str, Any], checkpoint: Path) -> None:
    """Refuse to resume when config.toml now differs from the config the checkpoint was
    trained with in a setting that changes the model, the optimizer or the data split."""
    from chainrule.train.checkpoint import read_checkpoint_config

    saved = read_checkpoint_config(checkpoint)
    if saved is None:
        return
    saved = resolve_config_paths(saved, checkpoint.parent)
    # A .csv dataset whose SHA-256 was recorded may move: its content is what must not change.
    may_change = RESUME_MAY_CHANGE | ({"dataset"} if saved.get("dataset_sha256") else set())
    differing = sorted(
        key
        for key in SETTINGS
        if key not in may_change and key in saved and _normalised(saved[key]) != _normalised(config[key])
    )
    if differing:
        changes = "; ".join(f"{key} {saved[key]!r} -> {config[key]!r}" for key in differing)
        raise ConfigError(
            f"{checkpoint.parent / CONFIG_FILE} differs from the config {checkpoint} was trained with "
            f"({changes}); resuming would not continue the same run: undo the change, or train a "
            "new run with chainrule train --config"
        )


def _normalised(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
