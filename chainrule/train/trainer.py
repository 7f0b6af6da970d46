"""``Trainer``: the epoch loop, written once, with metrics, callbacks, checkpoints and resume.

Training repeats one cycle over epochs: for every batch, forward, loss, backward, optimizer
step; then measure the loss and metrics on data the model did not train on (the validation
set), because what matters is how well it predicts unseen data. When validation loss rises
while training loss keeps falling the model is overfitting: the trainer says so in words
(``OverfittingMonitor``), and ``EarlyStopping`` and the HTML report watch for it too. While it
trains it also watches the gradients (``GradientFlowCallback``) and names vanishing or
exploding gradients, dead ReLUs and saturated units.

Why a class and not only a function: the model, loss, optimizer and metrics belong together
for ``fit``, ``evaluate`` and ``predict`` alike, callbacks need one object to reach them
through (``self.trainer.model``, ``self.trainer.stop_training``), and a checkpoint is the
trainer's state. :func:`fit` is a one-call shortcut for scripts that only fit.

Example::

    >>> from chainrule.train import EarlyStopping, Trainer
    >>> from chainrule.utils.data import DataLoader, TensorDataset
    >>> x = chainrule.randn(96, 4)
    >>> y = (x[:, 0] > 0).long()          # two classes, told apart by the first feature
    >>> train_loader = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=16, shuffle=True)
    >>> val_loader = test_loader = DataLoader(TensorDataset(x[64:], y[64:]), batch_size=32)
    >>> model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    >>> trainer = Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), 1e-2),
    ...                   metrics=["accuracy", "f1"])
    >>> history = trainer.fit(train_loader, val_loader, epochs=10,
    ...                       callbacks=[EarlyStopping(patience=3)], verbose=0)
    >>> trainer.evaluate(test_loader)
    {'loss': ..., 'accuracy': ..., 'f1': ...}
    >>> trainer.confusion_matrix          # (C, C), rows are true classes
    array([[17,  0],
           [ 1, 14]])
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from chainrule.backends import tune_allocator
from chainrule.errors import ConfigError
from chainrule.train.callbacks import (
    Callback,
    Divergence,
    GradientFlowCallback,
    LRSchedulerCallback,
    ProgressLogger,
)
from chainrule.train.history import History

MetricFunction = Callable[[np.ndarray, np.ndarray], float]

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1")
REGRESSION_METRICS = ("mse", "mae", "r2")
_TOP_K = re.compile(r"^top(\d+)_accuracy$")


class Trainer:
    """Fits ``model`` with ``loss_fn`` and ``optimizer``; evaluates and predicts with it.

    Args:
        model: a ``chainrule.nn.Module`` (anything with ``model(x)``, ``train()``, ``eval()``,
            ``named_parameters()``, ``state_dict()``/``load_state_dict()``).
        loss_fn: ``loss_fn(outputs, targets)`` returning a scalar tensor with mean reduction.
        optimizer: with ``zero_grad()``, ``step()``, ``param_groups``, ``state_dict()``.
        metrics: names computed on each epoch's outputs (besides ``loss``):
            ``"accuracy"``, ``"top5_accuracy"`` (any ``topK_accuracy``), ``"precision"``,
            ``"recall"``, ``"f1"`` (macro averages), ``"mse"``, ``"mae"``, ``"r2"``, or functions
            ``f(y_true, outputs) -> float`` on NumPy arrays (named by ``__name__``).
        scheduler: a learning-rate scheduler stepped after each epoch (``ReduceLROnPlateau``
            gets ``val_loss``); for other choices pass an ``LRSchedulerCallback`` to ``fit``.
        track_grad_norms: watch the gradient flow with a
            :class:`~chainrule.train.callbacks.GradientFlowCallback` (unless ``fit`` is given
            one): each parameter's mean gradient norm and update ratio per epoch
            (``fc1.weight/grad_norm``, ``fc1.weight/update_ratio``), dead and saturated
            units, and a diagnosis printed at the end of training.
        watch_overfitting: when ``fit`` has validation data, add an
            :class:`~chainrule.train.OverfittingMonitor` (unless given one), which says
            in words when validation loss has risen for 3 epochs while training loss fell.
        config: settings of the run (plain values), saved with checkpoints and shown in reports.
        learning_rule: ``"bp"`` (default), ``"fa"``, ``"dfa"``, ``"sign"`` or ``"ff"``, or a
            rule from :func:`chainrule.learning.apply_rule` (a name is applied with seed 0).
            Its random feedback matrices are saved with checkpoints; for fa, dfa and sign an
            :class:`~chainrule.learning.AlignmentCallback` records each layer's angle to the
            true gradient; ff replaces the forward/backward of each step with its own.
        checkpoint_segments: train an ``nn.Sequential`` model with gradient checkpointing in
            this many segments (:func:`~chainrule.utils.checkpoint.checkpoint_sequential`):
            activations are recomputed in backward instead of kept, for the same gradients
            with less memory and about one more forward pass of time. 0 (default): off.

    After ``fit``, ``divergence`` is ``None``, or the :class:`~chainrule.train.callbacks.Divergence`
    a :class:`~chainrule.train.callbacks.TerminateOnDivergence` callback stopped the run at.

    Batches are ``(inputs, targets)`` pairs of tensors (or NumPy arrays), as
    ``chainrule.utils.data.DataLoader`` yields them.
    """

    def __init__(
        self,
        model: Any,
        loss_fn: Callable[[Any, Any], Any],
        optimizer: Any,
        *,
        metrics: Sequence[str | MetricFunction] = (),
        scheduler: Any = None,
        track_grad_norms: bool = True,
        watch_overfitting: bool = True,
        config: Mapping[str, Any] | None = None,
        learning_rule: Any = None,
        checkpoint_segments: int = 0,
    ) -> None:
        _check_checkpoint_segments(model, checkpoint_segments)
        tune_allocator()  # reuse freed large arrays across steps (chainrule.backends.allocator)
        self.checkpoint_segments = checkpoint_segments
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.metrics = resolve_metrics(metrics, loss_fn)
        self.track_grad_norms = track_grad_norms
        self.watch_overfitting = watch_overfitting
        self.config = dict(config or {})
        self.history = History()
        self.callbacks: list[Callback] = []
        self.stop_training = False
        self.divergence: Divergence | None = None
        self.epoch = 0
        self.epochs = 0
        self.train_loader: Any = None
        self.val_loader: Any = None
        self.confusion_matrix: np.ndarray | None = None
        self.last_outputs: np.ndarray | None = None
        self.last_targets: np.ndarray | None = None
        self.verbose = 1
        self._progress: ProgressLogger | None = None
        self.batch: tuple[Any, Any] | None = None  # the batch being trained on, for observers
        if isinstance(learning_rule, str):
            from chainrule.learning import apply_rule

            learning_rule = apply_rule(model, learning_rule)
        if checkpoint_segments and getattr(learning_rule, "trains_itself", False):
            raise ConfigError(
                f"checkpoint_segments={checkpoint_segments} would do nothing with learning rule "
                f"{learning_rule.name!r}, which runs its own layer-local training step; leave it at 0"
            )
        self.learning_rule = learning_rule

    # ------------------------------------------------------------------------------- fit
    def fit(
        self,
        train_loader: Iterable[Any],
        val_loader: Iterable[Any] | None = None,
        epochs: int = 1,
        callbacks: Sequence[Callback] = (),
        verbose: int = 1,
        resume_from: Any = None,
    ) -> History:
        """Train for ``epochs`` epochs (fewer if a callback stops it) and return the history.

        Args:
            train_loader: iterable of ``(inputs, targets)`` batches, re-iterated every epoch.
            val_loader: batches to compute ``val_loss`` and ``val_<metric>`` on after each epoch.
            epochs: total number of epochs, counting those done before a resume.
            callbacks: :class:`~chainrule.train.callbacks.Callback` objects.
            verbose: 0 silent, 1 a progress bar per epoch (one line per epoch when the output
                is not a terminal), 2 one line per epoch.
            resume_from: a checkpoint written by ``ModelCheckpoint``: restores the model,
                optimizer, schedule, callbacks, history and random states, then continues
                with the next epoch, exactly as if never interrupted.
        """
        if verbose not in (0, 1, 2):
            raise ValueError(
                f"fit: verbose must be 0 (silent), 1 (progress bar) or 2 (a line per epoch), got {verbose!r}"
            )
        if not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"fit: epochs must be a non-negative int, got {epochs!r}")
        self.train_loader, self.val_loader = train_loader, val_loader
        self.epochs = epochs
        self.verbose = verbose
        self.stop_training = False
        self.divergence = None
        self.history = History()
        self.callbacks = self._assemble_callbacks(callbacks, verbose)
        for callback in self.callbacks:
            callback.set_trainer(self)
        start_epoch = 0
        self._call("on_train_begin", {})
        if resume_from is not None:
            start_epoch = self._resume(resume_from)
            self.log(f"Resumed from {resume_from} after epoch {start_epoch}")
        try:
            for epoch in range(start_epoch, epochs):
                if self.stop_training:  # e.g. a resumed run that EarlyStopping had already ended
                    break
                self.epoch = epoch
                logs = self._run_epoch(epoch)
                self.history.append(logs)
                self._call("on_epoch_end", epoch, logs)
                if self.stop_training:
                    break
        except BaseException:
            if self._progress is not None:
                self._progress.on_train_end()  # leave the terminal clean for the traceback
            raise
        self._call("on_train_end", dict(self.history.rows[-1]) if len(self.history) else {})
        return self.history

    def _assemble_callbacks(self, callbacks: Sequence[Callback], verbose: int) -> list[Callback]:
        for callback in callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(
                    f"fit: callbacks must be chainrule.train.Callback objects, got "
                    f"{type(callback).__name__}; subclass Callback and override its on_* methods"
                )
        assembled = list(callbacks)
        if self.scheduler is not None and not any(
            isinstance(c, LRSchedulerCallback) and c.scheduler is self.scheduler for c in assembled
        ):
            assembled.append(LRSchedulerCallback(self.scheduler))
        if self.track_grad_norms and not any(isinstance(c, GradientFlowCallback) for c in assembled):
            assembled.append(GradientFlowCallback())
        if self.watch_overfitting and self.val_loader is not None:
            from chainrule.train.callbacks.overfitting import OverfittingMonitor

            if not any(isinstance(c, OverfittingMonitor) for c in assembled):
                assembled.append(OverfittingMonitor())
        if getattr(self.learning_rule, "layers", None) is not None:
            from chainrule.train.callbacks.alignment import AlignmentCallback

            if not any(isinstance(c, AlignmentCallback) for c in assembled):
                assembled.append(AlignmentCallback(self.learning_rule))
        self._progress = ProgressLogger(verbose) if verbose else None
        if self._progress is not None:
            assembled.append(self._progress)
        return sorted(assembled, key=lambda callback: callback.order)  # stable: ties keep order

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def _run_epoch(self, epoch: int) -> dict[str, Any]:
        """One pass over the training data, then validation; returns the epoch's row."""
        started = time.perf_counter()
        logs: dict[str, Any] = {"epoch": epoch + 1}
        self._call("on_epoch_begin", epoch, logs)
        learning_rate = self.optimizer.param_groups[0]["lr"]
        self.model.train()
        collector = _OutputCollector(keep_outputs=bool(self.metrics))
        for batch_index, batch in enumerate(self.train_loader):
            inputs, targets = _split_batch(batch)
            size = _batch_size(inputs)
            self.batch = (inputs, targets)
            self._call("on_batch_begin", batch_index, {"batch": batch_index, "size": size})
            self.optimizer.zero_grad()
            if getattr(self.learning_rule, "trains_itself", False):
                outputs, loss = self.learning_rule.training_step(inputs, targets, self.loss_fn)
            else:
                outputs = self._forward_to_train(inputs)
                loss = self.loss_fn(outputs, targets)
                loss.backward()
            loss_value = float(loss.item())
            batch_logs = {"batch": batch_index, "size": size, "loss": loss_value}
            self._call("on_after_backward", batch_index, dict(batch_logs))
            self.optimizer.step()
            collector.add(loss_value, size, outputs, targets)
            self._call("on_batch_end", batch_index, batch_logs)
            if self.stop_training:
                break
        logs.update(self._summarise(self._combined(collector), prefix=""))
        if self.val_loader is not None:
            logs.update(self.evaluate(self.val_loader, prefix="val_"))
        logs["lr"] = learning_rate
        logs["time"] = time.perf_counter() - started
        return logs

    def _forward_to_train(self, inputs: Any) -> Any:
        if not self.checkpoint_segments:
            return self.model(inputs)
        from chainrule.utils.checkpoint import checkpoint_sequential

        return checkpoint_sequential(self.model, self.checkpoint_segments, inputs, use_reentrant=False)

    # -------------------------------------------------------------------- evaluate/predict
    def evaluate(self, loader: Iterable[Any], prefix: str = "") -> dict[str, float]:
        """Loss and metrics over ``loader`` in evaluation mode, without recording gradients.

        Keys are ``prefix + name`` (``fit`` uses ``"val_"``). For classifiers the confusion
        matrix (rows true classes, columns predictions) is left in ``self.confusion_matrix``,
        and the outputs and targets in ``self.last_outputs`` / ``self.last_targets``.

        Example::

            >>> from chainrule.train import Trainer
            >>> from chainrule.utils.data import DataLoader, TensorDataset
            >>> x, y = chainrule.randn(96, 4), chainrule.randint(0, 3, (96,))    # random labels
            >>> train_loader = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=16)
            >>> val_loader = DataLoader(TensorDataset(x[64:], y[64:]), batch_size=32)
            >>> model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
            >>> trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
            ...                   metrics=["accuracy"])
            >>> {name: round(value, 2) for name, value in trainer.evaluate(val_loader).items()}
            {'loss': 1.09, 'accuracy': 0.38}
        """
        from chainrule.grad_mode import no_grad

        was_training = getattr(self.model, "training", True)
        self.model.eval()
        collector = _OutputCollector(keep_outputs=True)
        try:
            with no_grad():
                for batch in loader:
                    inputs, targets = _split_batch(batch)
                    outputs = self.model(inputs)
                    loss = self.loss_fn(outputs, targets)
                    collector.add(float(loss.item()), _batch_size(inputs), outputs, targets)
        finally:
            self.model.train(was_training)
        collector = self._combined(collector)
        if collector.samples == 0:
            raise ValueError("evaluate: the loader gave no batches; is the dataset empty?")
        self.last_outputs, self.last_targets = collector.outputs(), collector.targets()
        self.confusion_matrix = self._confusion_matrix(self.last_outputs, self.last_targets)
        return self._summarise(collector, prefix)

    def predict(self, data: Any, batch_size: int = 256) -> np.ndarray:
        """The model's outputs, shape ``(N, ...)``, for a loader (its batches' inputs) or for
        an array/tensor of inputs ``(N, ...)`` taken ``batch_size`` rows at a time.

        Example::

            >>> from chainrule.train import Trainer
            >>> from chainrule.utils.data import DataLoader, TensorDataset
            >>> x, y = chainrule.randn(96, 4), chainrule.randint(0, 3, (96,))    # random labels
            >>> train_loader = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=16)
            >>> val_loader = DataLoader(TensorDataset(x[64:], y[64:]), batch_size=32)
            >>> model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
            >>> trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
            ...                   metrics=["accuracy"])
            >>> x_test = np.zeros((5, 4), dtype=np.float32)
            >>> logits = trainer.predict(x_test)      # (N, C)
            >>> logits.shape
            (5, 3)
            >>> labels = logits.argmax(axis=1)
        """
        from chainrule.grad_mode import no_grad

        was_training = getattr(self.model, "training", True)
        self.model.eval()
        outputs = []
        try:
            with no_grad():
                for inputs in self._prediction_batches(data, batch_size):
                    outputs.append(np.array(_as_numpy(self.model(inputs))))
        finally:
            self.model.train(was_training)
        if not outputs:
            raise ValueError("predict: no inputs were given")
        return np.concatenate(outputs)

    def _prediction_batches(self, data: Any, batch_size: int) -> Iterable[Any]:
        from chainrule.tensor import Tensor

        if isinstance(data, np.ndarray | Tensor):
            array = _as_numpy(data)
            dtype = self._parameter_dtype()
            if array.dtype.kind == "f" and dtype is not None and array.dtype != dtype:
                array = array.astype(dtype)  # float64 inputs would silently promote the model
            for start in range(0, len(array), batch_size):
                yield _to_tensor(array[start : start + batch_size])
            return
        for batch in data:
            yield _to_tensor(batch[0] if isinstance(batch, tuple | list) else batch)

    def _parameter_dtype(self) -> np.dtype | None:
        for param in self.model.parameters():
            return param.dtype
        return None

    # ------------------------------------------------------------------------- metrics
    def _combined(self, collector: _OutputCollector) -> _OutputCollector:
        """The collector metrics are computed from: this one; a data-parallel trainer merges
        every process's (chainrule.train.distributed)."""
        return collector

    def _summarise(self, collector: _OutputCollector, prefix: str) -> dict[str, float]:
        results = {prefix + "loss": collector.mean_loss()}
        if self.metrics and collector.samples:
            outputs, targets = collector.outputs(), collector.targets()
            for name, function in self.metrics.items():
                results[prefix + name] = float(function(targets, outputs))
        return results

    def _confusion_matrix(self, outputs: np.ndarray, targets: np.ndarray) -> np.ndarray | None:
        from chainrule.train import metrics

        if targets.dtype.kind not in "iu" or targets.ndim != 1:
            return None  # regression, or targets that are not class indices
        predicted = class_predictions(outputs, self.loss_fn)
        scored = outputs.ndim == 2 and (outputs.shape[1] > 1 or _scores_each_class(self.loss_fn))
        classes = outputs.shape[1] if scored else 2
        classes = max(classes, int(targets.max()) + 1, int(predicted.max()) + 1)
        return metrics.confusion_matrix(targets, predicted, num_classes=classes)

    # ----------------------------------------------------------------- state and logging
    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs: model, optimizer, callbacks (including the
        learning-rate schedule), history, random states, config and the epochs completed."""
        from chainrule.train.checkpoint import capture_rng_state

        return {
            "epoch": len(self.history),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "callbacks": {key: callback.state_dict() for key, callback in self._keyed_callbacks()},
            "history": self.history.rows,
            "rng": capture_rng_state(self._generators()),
            "config": self.config,
            **({} if self.learning_rule is None else {"learning_rule": self.learning_rule.state_dict()}),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> int:
        """Restore :meth:`state_dict`; returns the number of epochs already completed."""
        from chainrule.train.checkpoint import restore_rng_state

        self.model.load_state_dict(state["model"])
        if "learning_rule" in state:
            if self.learning_rule is None:
                from chainrule.errors import CheckpointFileError

                rule = state["learning_rule"].get("rule")
                raise CheckpointFileError(
                    f"the checkpoint was trained with learning rule {rule!r}; give the Trainer "
                    f"learning_rule={rule!r} to continue it"
                )
            self.learning_rule.load_state_dict(state["learning_rule"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.history = History(state["history"])  # first: callbacks may rebuild from it
        saved_callbacks = state.get("callbacks", {})
        for key, callback in self._keyed_callbacks():
            if key in saved_callbacks:
                callback.load_state_dict(saved_callbacks[key])
        restore_rng_state(state["rng"], self._generators())
        return int(state["epoch"])

    def _resume(self, path: Any) -> int:
        """Load a checkpoint (checked first: see ``load_training_state``); a state that still
        does not fit the optimizer or callbacks is the file's fault, said as a CheckpointFileError."""
        from chainrule.errors import CheckpointFileError, InputError
        from chainrule.train.checkpoint import load_training_state

        state = load_training_state(path, self.model)
        try:
            return self.load_state_dict(state)
        except InputError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError, AttributeError) as error:
            raise CheckpointFileError(
                f"{path} does not fit this run's optimizer or callbacks ({type(error).__name__}: "
                f"{error}); it was saved by a different setup, or edited"
            ) from None

    def _keyed_callbacks(self) -> list[tuple[str, Callback]]:
        """Stable names for callbacks' saved states: class name, numbered when repeated."""
        seen: dict[str, int] = {}
        keyed = []
        for callback in self.callbacks:
            name = type(callback).__name__
            seen[name] = seen.get(name, 0) + 1
            keyed.append((name if seen[name] == 1 else f"{name}#{seen[name]}", callback))
        return keyed

    def _generators(self) -> list[Any]:
        """The training loader's own random generators (its shuffling order)."""
        found: list[Any] = []
        for owner in (
            self.train_loader,
            getattr(self.train_loader, "sampler", None),
            getattr(self.train_loader, "batch_sampler", None),
        ):
            generator = getattr(owner, "generator", None)
            # Only chainrule Generators can be saved; a NumPy one would need its own format.
            if hasattr(generator, "get_state") and all(generator is not seen for seen in found):
                found.append(generator)
        return found

    def log(self, message: str) -> None:
        """Print a message (unless ``verbose=0``) without breaking the progress bar."""
        if self._progress is not None:
            self._progress.write(message)


def fit(
    model: Any,
    loss_fn: Callable[[Any, Any], Any],
    optimizer: Any,
    train_loader: Iterable[Any],
    val_loader: Iterable[Any] | None = None,
    epochs: int = 1,
    callbacks: Sequence[Callback] = (),
    metrics: Sequence[str | MetricFunction] = (),
    scheduler: Any = None,
    verbose: int = 1,
) -> History:
    """Train in one call: ``Trainer(model, loss_fn, optimizer, metrics=..., scheduler=...)
    .fit(train_loader, val_loader, epochs, callbacks, verbose)``.

    Example::

        >>> from chainrule.utils.data import DataLoader, TensorDataset
        >>> x, y = chainrule.randn(96, 4), chainrule.randint(0, 3, (96,))    # random labels
        >>> train_loader = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=16)
        >>> val_loader = DataLoader(TensorDataset(x[64:], y[64:]), batch_size=32)
        >>> model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
        >>> optimizer = optim.SGD(model.parameters(), lr=0.1)
        >>> history = fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, val_loader,
        ...               epochs=10, metrics=["accuracy"], verbose=0)
        >>> len(history["val_accuracy"])
        10
    """
    trainer = Trainer(model, loss_fn, optimizer, metrics=metrics, scheduler=scheduler)
    return trainer.fit(train_loader, val_loader, epochs=epochs, callbacks=callbacks, verbose=verbose)


# ------------------------------------------------------------------------------ helpers
class _OutputCollector:
    """Sums an epoch's sample-weighted losses and keeps its outputs and targets for metrics."""

    def __init__(self, keep_outputs: bool) -> None:
        self.keep_outputs = keep_outputs
        self.loss_sum = 0.0
        self.samples = 0
        self._outputs: list[np.ndarray] = []
        self._targets: list[np.ndarray] = []

    def add(self, loss: float, size: int, outputs: Any, targets: Any) -> None:
        self.loss_sum += loss * size
        self.samples += size
        if self.keep_outputs:
            self._outputs.append(np.array(_as_numpy(outputs)))
            self._targets.append(np.array(_as_numpy(targets)))

    def mean_loss(self) -> float:
        return self.loss_sum / self.samples if self.samples else math.nan

    def outputs(self) -> np.ndarray:
        return np.concatenate(self._outputs)

    def targets(self) -> np.ndarray:
        return np.concatenate(self._targets)


def _split_batch(batch: Any) -> tuple[Any, Any]:
    if not isinstance(batch, tuple | list) or len(batch) != 2:
        kind = f"a {type(batch).__name__}" + (
            f" of length {len(batch)}" if isinstance(batch, tuple | list) else ""
        )
        raise ValueError(
            f"Trainer: each batch must be an (inputs, targets) pair, got {kind}; wrap your data "
            "in chainrule.utils.data.TensorDataset(x, y) and a DataLoader"
        )
    return _to_tensor(batch[0]), _to_tensor(batch[1])


def _to_tensor(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        from chainrule.creation import from_numpy

        return from_numpy(value)
    return value


def _as_numpy(value: Any) -> np.ndarray:
    data = getattr(value, "array", value)
    return data if isinstance(data, np.ndarray) else np.asarray(value)


def _batch_size(inputs: Any) -> int:
    shape = getattr(inputs, "shape", None)
    return int(shape[0]) if shape else 1


def class_predictions(outputs: np.ndarray, loss_fn: Any = None) -> np.ndarray:
    """Predicted class indices from a classifier's outputs.

    ``(N, C)`` scores give their argmax, also when ``C`` is 1 under a loss that scores each
    class (cross-entropy, NLL: one class, always predicted). Otherwise one score per sample
    (``(N,)`` or ``(N, 1)``) is a binary classifier: class 1 when the score passes 0 for
    logits (a ``...WithLogits`` loss) or 0.5 for probabilities.
    """
    if outputs.ndim == 2 and (outputs.shape[1] > 1 or _scores_each_class(loss_fn)):
        return outputs.argmax(axis=1)
    loss_name = getattr(loss_fn, "__name__", type(loss_fn).__name__).lower()
    threshold = 0.0 if "logits" in loss_name else 0.5
    return (outputs.reshape(len(outputs)) > threshold).astype(np.int64)


def _scores_each_class(loss_fn: Any) -> bool:
    """True for losses that take a score per class (cross-entropy, NLL), even a single one."""
    loss_name = getattr(loss_fn, "__name__", type(loss_fn).__name__).lower()
    return loss_name in ("crossentropyloss", "cross_entropy", "nllloss", "nll_loss")


def _check_checkpoint_segments(model: Any, segments: Any) -> None:
    """Refuse a checkpointing setting that cannot apply to ``model``, in one sentence."""
    from chainrule.nn import Sequential

    if isinstance(segments, bool) or not isinstance(segments, int) or segments < 0:
        raise ConfigError(f"checkpoint_segments must be a whole number >= 0 (0: off), got {segments!r}")
    if not segments:
        return
    if not isinstance(model, Sequential):
        raise ConfigError(
            f"checkpoint_segments = {segments} needs a model that is an nn.Sequential (to split "
            f"into segments), but the model is a {type(model).__name__}; set checkpoint_segments "
            "to 0, or build the model as an nn.Sequential of its layers"
        )
    if segments > len(model):
        raise ConfigError(
            f"checkpoint_segments = {segments} is more than the {len(model)} layers of the "
            f"nn.Sequential model; use 1 to {len(model)} (about the square root of the number of "
            "layers saves the most memory), or 0 for off"
        )


def resolve_metrics(metrics: Sequence[str | MetricFunction], loss_fn: Any) -> dict[str, MetricFunction]:
    """Metric functions ``metric(targets, outputs) -> float`` by name: a name (``"accuracy"``,
    ``"f1"``, ``"top5_accuracy"``, ``"mae"``, ...) becomes its function (class predictions read
    from the outputs as ``loss_fn`` implies), a callable keeps its ``__name__``.

    Example::

        >>> metrics = resolve_metrics(["accuracy"], nn.CrossEntropyLoss())
        >>> metrics["accuracy"](np.array([0, 1]), np.array([[2.0, 0.0], [0.0, 1.0]]))
        1.0
    """
    if isinstance(metrics, str):
        metrics = [metrics]
    resolved: dict[str, MetricFunction] = {}
    for metric in metrics:
        if callable(metric):
            resolved[getattr(metric, "__name__", type(metric).__name__)] = metric
        else:
            resolved[metric] = _named_metric(metric, loss_fn)
    return resolved


def _named_metric(name: str, loss_fn: Any) -> MetricFunction:
    from chainrule.train import metrics

    def labels(outputs: np.ndarray) -> np.ndarray:
        return class_predictions(outputs, loss_fn)

    if name == "accuracy":
        return lambda y, out: metrics.accuracy(y, labels(out))
    if name in ("precision", "recall", "f1"):
        return lambda y, out: metrics.precision_recall_f1(y, labels(out), average="macro")[name]
    top_k = _TOP_K.match(name)
    if top_k:
        k = int(top_k.group(1))
        return lambda y, out: metrics.top_k_accuracy(y, out, k=k)
    regression = {"mse": metrics.mse, "mae": metrics.mae, "r2": metrics.r2_score}
    if name in regression:
        return regression[name]
    valid = [*CLASSIFICATION_METRICS, "top5_accuracy (any topK_accuracy)", *REGRESSION_METRICS]
    raise ValueError(
        f"unknown metric {name!r}; valid names: {', '.join(valid)}, or a function f(y_true, outputs)"
    )
