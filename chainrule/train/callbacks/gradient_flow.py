"""The trainer's gradient-flow watcher (:class:`GradientFlowCallback`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.train.callbacks.base import Callback

if TYPE_CHECKING:
    pass


# Per-batch statistics kept as per-epoch means in the history (the monitor's weight norms are
# left out: they are only the denominator of the update ratio).
_FLOW_SUFFIXES = ("/grad_norm", "/dead_fraction", "/saturated_fraction")


class GradientFlowCallback(Callback):
    """Watch how gradients flow through the network while it trains, with a
    :class:`~chainrule.diagnostics.GradientFlowMonitor`, and say what is wrong in words.

    After the backward pass of every ``every``-th batch it records, per parameter, the
    gradient's L2 norm and the relative size of the optimizer's update
    (``|W_after - W_before| / |W_before|``, of that one step), and per activation layer the
    fraction of dead ReLU units and of saturated sigmoid/tanh units. Each epoch's means go
    into the history under flat names::

        fc1.weight/grad_norm      fc1.weight/update_ratio
        relu1/dead_fraction       sig1/saturated_fraction

    At the end of every epoch the monitor diagnoses the last recorded batch; ``findings`` holds
    the latest diagnosis (a list of :class:`~chainrule.diagnostics.Finding`, empty when the flow
    is healthy: no vanishing, exploding or NaN gradients, dead ReLUs or saturated units). It is
    printed at the end of training (``verbose >= 1``) and, with ``verbose=2``, whenever it
    changes between epochs; the HTML report shows it next to the gradient-norm plot.

    ``every=None`` (the default) records every k-th batch with k = batches per epoch //
    ``RECORDS_PER_EPOCH`` (at least 1): all batches of short epochs, 50 to 100 of long ones,
    so the cost stays small on large datasets; give ``every=1`` to record each batch. The
    trainer adds this callback unless ``track_grad_norms=False`` or you pass your own.

    Example::

        >>> from chainrule.train import Trainer
        >>> from chainrule.utils.data import DataLoader, TensorDataset
        >>> x, y = chainrule.randn(96, 4), chainrule.randint(0, 3, (96,))    # random labels
        >>> train_loader = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=16)
        >>> val_loader = DataLoader(TensorDataset(x[64:], y[64:]), batch_size=32)
        >>> model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
        >>> trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
        ...                   metrics=["accuracy"])
        >>> with chainrule.no_grad():
        ...     _ = model[0].bias.fill_(-10.0)      # every hidden ReLU unit starts dead
        >>> flow = GradientFlowCallback()
        >>> history = trainer.fit(train_loader, val_loader, epochs=2, callbacks=[flow], verbose=0)
        >>> [str(finding) for finding in flow.findings]
        ['[dead_units] 100% of the ReLU units after 1 output zero for the whole batch; ...']
    """

    order = -100
    RECORDS_PER_EPOCH = 50

    def __init__(self, every: int | None = None, watch_activations: bool = True) -> None:
        if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
            raise ValueError(f"GradientFlowCallback: every must be a positive integer or None, got {every!r}")
        self.every = every
        self._stride = every or 1
        self.watch_activations = watch_activations
        self.monitor: Any = None
        self.findings: list[Any] = []
        self._diagnosed = False  # whether findings hold a diagnosis (not just nothing yet)
        self._announced: list[tuple[str, str]] = []
        self._reset_epoch()

    def _reset_epoch(self) -> None:
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}
        self._weights_before: dict[str, np.ndarray] | None = None

    def _add(self, key: str, value: float) -> None:
        self._sums[key] = self._sums.get(key, 0.0) + value
        self._counts[key] = self._counts.get(key, 0) + 1

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        from chainrule.diagnostics.gradient_flow import GradientFlowMonitor

        self._detach()  # a previous fit that raised may have left its hooks on the model
        self.monitor = GradientFlowMonitor(
            self.trainer.model, watch_activations=self.watch_activations, track_update_ratio=False
        )  # measured per step below
        self._stride = self.every or self._automatic_stride()
        self.findings = []
        self._diagnosed = False
        self._announced = []

    def _automatic_stride(self) -> int:
        try:
            batches = len(self.trainer.train_loader)
        except TypeError:  # an iterable without a length: record every batch
            return 1
        return max(1, batches // self.RECORDS_PER_EPOCH)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._reset_epoch()

    def on_after_backward(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if batch % self._stride:
            return
        for key, value in self.monitor.record().items():
            if key.endswith(_FLOW_SUFFIXES):
                self._add(key, value)
        # The update ratio is measured on this step alone (weights before and after it), so
        # it needs no state across batches and a resumed run records the same numbers.
        self._weights_before = {
            name: np.array(param.array, copy=True)
            for name, param in self.trainer.model.named_parameters()
            if param.grad is not None
        }

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._weights_before is None:
            return
        for name, param in self.trainer.model.named_parameters():
            before = self._weights_before.get(name)
            if before is None:
                continue
            before_norm = _l2_norm(before)
            self._add(f"{name}/update_ratio", _l2_norm(param.array - before) / (before_norm or 1.0))
        self._weights_before = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not self._counts:
            return
        if logs is not None:
            for key, total in self._sums.items():
                logs[key] = total / self._counts[key]
        self.findings = self.monitor.diagnose()
        self._diagnosed = True
        self.monitor.history.clear()  # diagnose() needs only the last record; keep memory flat
        if self.trainer.verbose == 2:
            self._announce_changes(epoch)

    def _announce_changes(self, epoch: int) -> None:
        current = [(finding.kind, finding.layer) for finding in self.findings]
        if current == self._announced:
            return
        if not self.findings:
            self.trainer.log(f"Gradient flow after epoch {epoch + 1}: no problems any more")
        for finding in self.findings:
            self.trainer.log(f"Gradient flow after epoch {epoch + 1}: {finding}")
        self._announced = current

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._detach()
        for line in self.summary_lines():
            self.trainer.log(line)

    def summary_lines(self) -> list[str]:
        """The diagnosis as printed at the end of training: a headline, then one line per
        finding (``[kind] message; hint``)."""
        if not self._diagnosed:
            return []  # no batch was recorded: nothing to say either way
        if not self.findings:
            return [
                "Gradient flow: no problems found (checked for vanishing, exploding and NaN "
                "gradients, dead ReLUs and saturated units)"
            ]
        count = len(self.findings)
        headline = f"Gradient flow: {count} finding{'s' if count > 1 else ''} in the last epoch"
        return [headline] + [f"  {finding}" for finding in self.findings]

    @property
    def diagnosed(self) -> bool:
        """True once ``findings`` holds a diagnosis (at least one batch recorded, or restored
        from a checkpoint); an empty ``findings`` then means healthy flow."""
        return self._diagnosed

    def _detach(self) -> None:
        if self.monitor is not None:
            self.monitor.remove()

    def state_dict(self) -> dict[str, Any]:
        return {
            "diagnosed": self._diagnosed,
            "findings": [
                {
                    "kind": f.kind,
                    "layer": f.layer,
                    "message": f.message,
                    "hint": f.hint,
                    "figures": {key: float(value) for key, value in f.figures.items()},
                }
                for f in self.findings
            ],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from chainrule.diagnostics.gradient_flow import Finding

        self.findings = [Finding(**saved) for saved in state.get("findings", [])]
        self._diagnosed = bool(state.get("diagnosed", True))
        self._announced = [(finding.kind, finding.layer) for finding in self.findings]


def _l2_norm(array: np.ndarray) -> float:
    flat = np.asarray(array).ravel()
    # vdot of a float32 array with itself stays float32 and makes no temporary.
    return math.sqrt(float(np.vdot(flat, flat)))
