"""Gradient-flow monitor: per-layer gradient and weight statistics recorded after each backward,
and a diagnosis of vanishing or exploding gradients, dead ReLUs and saturated units.

Usage::

    monitor = GradientFlowMonitor(model)        # hooks the activation layers
    for x, y in loader:
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        monitor.record()                        # after backward, before the update is fine
        optimizer.step()
    for finding in monitor.diagnose():
        print(finding)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.tensor import Tensor

# Activation layers whose outputs are watched, by class name (so user subclasses of these
# PyTorch-named layers are recognised too), and what "bad" means for each.
_DEAD_WATCH = {"ReLU", "ReLU6", "LeakyReLU"}
_SATURATION_WATCH = {"Sigmoid": (0.0, 1.0), "Tanh": (-1.0, 1.0), "Hardtanh": (-1.0, 1.0)}

#: A gradient-norm ratio between the strongest and weakest layer above this is vanishing or
#: exploding flow; healthy deep networks stay within one or two orders of magnitude.
SPREAD_LIMIT = 1e3
#: Gradient norms above this (per parameter tensor) are exploding whatever the spread.
EXPLODING_NORM = 1e3
DEAD_FRACTION = 0.5
SATURATED_FRACTION = 0.5


@dataclass
class Finding:
    """One diagnosis: ``kind`` is vanishing, exploding, dead_units, saturated or nan."""

    kind: str
    layer: str
    message: str
    hint: str
    figures: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"[{self.kind}] {self.message}; {self.hint}"


def _layer(parameter_name: str) -> str:
    """``layers.0.weight`` → ``layers.0``."""
    return parameter_name.rsplit(".", 1)[0] if "." in parameter_name else parameter_name


def _norm(array: np.ndarray) -> float:
    return float(np.sqrt(np.sum(np.square(array, dtype=np.float64))))


class GradientFlowMonitor:
    """Records, after each backward, per parameter the gradient norm, the weight norm and the
    update-to-weight ratio of the last step, and per activation layer the fraction of dead
    ReLUs and of saturated sigmoid/tanh units.

    ``history`` maps flat metric names (``layers.0.weight/grad_norm``,
    ``layers.0.weight/update_ratio``, ``layers.1/dead_fraction``) to lists, one value per
    ``record()``.
    """

    def __init__(self, model: Any, watch_activations: bool = True,
                 track_update_ratio: bool = True) -> None:
        self.model = model
        # The update ratio needs a copy of every weight per record; a caller that measures
        # updates itself (the Trainer's callback, per step) turns it off.
        self.track_update_ratio = track_update_ratio
        self.history: dict[str, list[float]] = {}
        self._previous_weights: dict[str, np.ndarray] = {}
        self._activation_stats: dict[str, dict[str, float]] = {}
        self._handles = []
        if watch_activations:
            for name, module in model.named_modules():
                kind = type(module).__name__
                if kind in _DEAD_WATCH or kind in _SATURATION_WATCH:
                    self._handles.append(module.register_forward_hook(self._activation_hook(name, kind)))

    def _activation_hook(self, name: str, kind: str) -> Any:
        def hook(module: Any, inputs: Any, output: Tensor) -> None:
            data = output.array
            if data.ndim == 0 or data.size == 0:
                return
            units = data.reshape(data.shape[0], -1) if data.ndim > 1 else data.reshape(1, -1)
            if kind in _DEAD_WATCH:
                # A unit is dead for this batch when it outputs zero (or less) for every sample.
                self._activation_stats[name] = {"dead_fraction": float(np.mean(np.all(units <= 0, axis=0)))}
            else:
                low, high = _SATURATION_WATCH[kind]
                margin = 0.01 * (high - low)
                saturated = (units < low + margin) | (units > high - margin)
                self._activation_stats[name] = {"saturated_fraction": float(np.mean(saturated))}

        return hook

    def remove(self) -> None:
        """Detach the activation hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _append(self, key: str, value: float) -> None:
        self.history.setdefault(key, []).append(value)

    def record(self) -> dict[str, float]:
        """Take the statistics of the gradients now in ``.grad`` (call after backward)."""
        snapshot: dict[str, float] = {}
        for name, param in self.model.named_parameters():
            weight = param.array
            if param.grad is not None:
                snapshot[f"{name}/grad_norm"] = _norm(param.grad.array)
            snapshot[f"{name}/weight_norm"] = _norm(weight)
            if not self.track_update_ratio:
                continue
            previous = self._previous_weights.get(name)
            if previous is not None and previous.shape == weight.shape:
                snapshot[f"{name}/update_ratio"] = _norm(weight - previous) / (_norm(previous) or 1.0)
            self._previous_weights[name] = weight.copy()
        for layer, stats in self._activation_stats.items():
            for key, value in stats.items():
                snapshot[f"{layer}/{key}"] = value
        for key, value in snapshot.items():
            self._append(key, value)
        return snapshot

    def latest(self, suffix: str) -> dict[str, float]:
        """The last recorded value of every metric ending in ``/suffix``, keyed by layer."""
        tail = "/" + suffix
        return {k[: -len(tail)]: v[-1] for k, v in self.history.items() if k.endswith(tail) and v}

    def diagnose(self) -> list[Finding]:
        """Findings from the most recent ``record()``; an empty list means healthy flow."""
        findings: list[Finding] = []
        # Judge flow on the weights (biases follow them), named by their layer.
        grad_norms = {_layer(k): v for k, v in self.latest("grad_norm").items() if k.endswith("weight")}
        grad_norms = grad_norms or self.latest("grad_norm")
        nan_layers = [k for k, v in self.latest("grad_norm").items() if not np.isfinite(v)]
        for layer in nan_layers:
            findings.append(Finding(
                "nan", layer, f"gradient of {layer} is NaN or Inf",
                "run the step under chainrule.autograd.detect_anomaly() to find the op that made "
                "it; lower the learning rate or clip gradients (nn.utils.clip_grad_norm_)",
                {"grad_norm": self.latest("grad_norm")[layer]}))
        finite = {k: v for k, v in grad_norms.items() if np.isfinite(v)}
        if len(finite) >= 2:
            findings += self._spread_findings(finite)
        for layer, value in finite.items():
            if value > EXPLODING_NORM and not any(f.kind == "exploding" for f in findings):
                findings.append(Finding(
                    "exploding", layer, f"gradient norm in {layer} is {value:.3g}",
                    "clip gradients (nn.utils.clip_grad_norm_), lower the learning rate, or add "
                    "normalisation layers", {"grad_norm": value}))
        for layer, value in self.latest("dead_fraction").items():
            if value >= DEAD_FRACTION:
                findings.append(Finding(
                    "dead_units", layer, f"{value:.0%} of the ReLU units after {layer} output zero "
                    "for the whole batch", "lower the learning rate, use LeakyReLU/GELU, or He "
                    "initialisation (nn.init.kaiming_normal_)", {"dead_fraction": value}))
        for layer, value in self.latest("saturated_fraction").items():
            if value >= SATURATED_FRACTION:
                findings.append(Finding(
                    "saturated", layer, f"{value:.0%} of the units after {layer} are saturated "
                    "(within 1% of their bounds), where their derivative is nearly zero",
                    "try ReLU/GELU, normalise the inputs, or use normalisation layers",
                    {"saturated_fraction": value}))
        return findings

    def _spread_findings(self, norms: dict[str, float]) -> list[Finding]:
        """Vanishing: the early layers' gradients are orders of magnitude below the strongest
        layer's. Exploding: the early layers' are orders of magnitude above the last's."""
        names = list(norms)
        values = np.array([max(norms[n], 1e-45) for n in names])
        strongest = int(np.argmax(values))
        peak = values[strongest]
        weak = [n for n, v in zip(names[:strongest], values[:strongest]) if peak / v > SPREAD_LIMIT]
        if weak:
            weakest = names[int(np.argmin(values))]
            listed = ", ".join(weak[:4]) + (f" and {len(weak) - 4} more" if len(weak) > 4 else "")
            ratio = values[strongest] / norms[weakest] if norms[weakest] > 0 else float("inf")
            saturating = [layer for layer, v in self.latest("saturated_fraction").items() if v > 0.1]
            cause = "sigmoid/tanh saturation" if saturating or self._has_squashing() else "depth"
            return [Finding(
                "vanishing", weakest,
                f"gradient norm in {weakest} is {norms[weakest]:.2g}, 10^{np.log10(ratio):.0f} times "
                f"smaller than in {names[strongest]} ({values[strongest]:.2g}); layers with vanishing "
                f"gradients: {listed}",
                f"likely cause: {cause}; try ReLU/GELU, He initialisation "
                "(nn.init.kaiming_normal_), normalisation layers (LayerNorm/BatchNorm) or residual "
                "connections",
                {"grad_norm": norms[weakest], "max_grad_norm": float(peak), "ratio": float(ratio)})]
        last = values[-1]
        big = [n for n, v in zip(names[:-1], values[:-1]) if v / last > SPREAD_LIMIT]
        if big:
            return [Finding(
                "exploding", big[0],
                f"gradient norm in {big[0]} is {norms[big[0]]:.2g}, 10^{np.log10(norms[big[0]] / last):.0f} "
                f"times larger than in {names[-1]}",
                "clip gradients (nn.utils.clip_grad_norm_), lower the learning rate, use smaller "
                "initial weights or normalisation layers",
                {"grad_norm": norms[big[0]], "last_grad_norm": float(last)})]
        return []

    def _has_squashing(self) -> bool:
        return any(type(m).__name__ in _SATURATION_WATCH for m in self.model.modules())
