"""Gradient-based attributions.

Every method asks the engine for d output[target] / d input, for a batch of inputs at once.
``target`` picks the output column per sample: an int (the same class for all), a sequence or
int tensor (one per sample), or None when the model returns one value per sample.
Put the model in ``eval()`` mode first: dropout or batch statistics would change the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from chainrule.autograd import grad
from chainrule.grad_mode import no_grad
from chainrule.tensor import Tensor

Model = Callable[[Tensor], Tensor]


def _as_input(inputs: Any) -> Tensor:
    data = inputs.array if isinstance(inputs, Tensor) else np.asarray(inputs)
    if data.dtype.kind != "f":
        raise TypeError(f"attributions need floating inputs, got dtype {data.dtype}")
    return Tensor._wrap(np.array(data, copy=True))


def _selected_output(model: Model, x: Tensor, target: Any) -> Tensor:
    """The model's output for each sample's target, shape (N,)."""
    out = model(x)
    if out.ndim == 1:
        if target is not None:
            raise ValueError("the model returns one value per sample, so target must be None")
        return out
    if out.ndim == 2 and out.shape[1] == 1 and target is None:
        return out[:, 0]
    if target is None:
        raise ValueError(f"the model returns {tuple(out.shape)} outputs per batch; give target= "
                         "(a class index, or one index per sample)")
    indices = target.array if isinstance(target, Tensor) else np.asarray(target)
    if indices.ndim == 0:
        indices = np.full(out.shape[0], int(indices))
    if indices.shape != (out.shape[0],):
        raise ValueError(f"target has shape {indices.shape}; expected one index per sample "
                         f"({out.shape[0]},) or a single int")
    return out[np.arange(out.shape[0]), indices.astype(np.int64)]


def _gradient(model: Model, x: np.ndarray, target: Any) -> np.ndarray:
    inputs = Tensor(x, requires_grad=True)
    (gradient,) = grad(_selected_output(model, inputs, target).sum(), inputs)
    assert gradient is not None  # grad() raises for an input the output does not use
    return gradient.array


def saliency(model: Model, inputs: Any, target: Any = None, abs: bool = True) -> Tensor:  # noqa: A002
    """|d output[target] / d input| per input element. Shape: same as ``inputs``.

    Example::

        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        >>> images, labels = chainrule.randn(2, 1, 8, 8), chainrule.tensor([3, 7])
        >>> heat = saliency(model, images, target=labels)
        >>> heat.shape
        (2, 1, 8, 8)
    """
    gradient = _gradient(model, _as_input(inputs).array, target)
    return Tensor._wrap(np.abs(gradient) if abs else gradient)


def input_x_gradient(model: Model, inputs: Any, target: Any = None) -> Tensor:
    """input * d output[target] / d input. Shape: same as ``inputs``."""
    x = _as_input(inputs).array
    return Tensor._wrap(x * _gradient(model, x, target))


class IntegratedGradients(NamedTuple):
    """Attributions (shape of the inputs) and, per sample, the completeness gap
    |sum(attributions) - (f(x) - f(baseline))|, which shrinks as ``steps`` grows."""

    attributions: Tensor
    completeness_gap: Tensor


def integrated_gradients(model: Model, inputs: Any, target: Any = None, baseline: Any = None,
                         steps: int = 50, internal_batch_size: int | None = None) -> IntegratedGradients:
    """Integrated gradients (Sundararajan et al., 2017): (x - x') times the average gradient
    along the straight path from the baseline x' to x, integrated with Gauss-Legendre
    quadrature on ``steps`` points.

    For a linear model the attributions are exactly weight * (input - baseline). Shapes:
    inputs (N, *), baseline same or broadcastable (default zeros) → attributions (N, *),
    completeness_gap (N,).

    Example::

        >>> model, x = nn.Linear(4, 5), chainrule.randn(2, 4)
        >>> ig = integrated_gradients(model, x, target=3, steps=64)
        >>> ig.attributions.shape, float(ig.completeness_gap.max()) < 1e-5
        ((2, 4), True)
        >>> np.allclose(ig.attributions.numpy(), model.weight.numpy()[3] * x.numpy(), atol=1e-6)
        True
    """
    if steps < 1:
        raise ValueError(f"integrated_gradients: steps must be at least 1, got {steps}")
    x = _as_input(inputs).array
    base = np.zeros_like(x) if baseline is None else np.broadcast_to(
        np.asarray(baseline.array if isinstance(baseline, Tensor) else baseline, dtype=x.dtype),
        x.shape)
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas, weights = (nodes + 1) / 2, weights / 2  # from [-1, 1] to [0, 1]
    count = x.shape[0]
    targets = _per_sample(target, count)
    chunk = internal_batch_size or max(1, 4096 // max(count, 1)) * count
    total = np.zeros_like(x, dtype=np.float64)
    for start in range(0, steps, max(1, chunk // count)):
        block = slice(start, min(steps, start + max(1, chunk // count)))
        a = alphas[block].astype(x.dtype).reshape((-1,) + (1,) * x.ndim)
        path = (base + a * (x - base)).reshape((-1,) + x.shape[1:])
        block_targets = None if targets is None else np.tile(targets, len(alphas[block]))
        g = _gradient(model, path, block_targets).reshape((-1,) + x.shape)
        total += np.tensordot(weights[block], g, axes=1)
    attributions = (x - base) * total
    with no_grad():
        difference = (_selected_output(model, Tensor._wrap(x), targets).array
                      - _selected_output(model, Tensor._wrap(np.ascontiguousarray(base)), targets).array)
    summed = attributions.reshape(count, -1).sum(axis=1)
    gap = np.abs(summed - difference.astype(np.float64))
    return IntegratedGradients(Tensor._wrap(attributions.astype(x.dtype)), Tensor._wrap(gap))


def _per_sample(target: Any, count: int) -> np.ndarray | None:
    if target is None:
        return None
    indices = target.array if isinstance(target, Tensor) else np.asarray(target)
    return np.full(count, int(indices)) if indices.ndim == 0 else indices.astype(np.int64)


def smoothgrad(model: Model, inputs: Any, target: Any = None, samples: int = 25,
               stdev: float = 0.15, seed: int = 0, abs: bool = True) -> Tensor:  # noqa: A002
    """SmoothGrad (Smilkov et al., 2017): the saliency averaged over ``samples`` copies of the
    input with Gaussian noise of ``stdev`` times the input's value range added."""
    x = _as_input(inputs).array
    rng = np.random.default_rng(seed)
    sigma = stdev * float(x.max() - x.min() or 1.0)
    total = np.zeros_like(x)
    for _ in range(samples):
        noisy = x + rng.normal(0.0, sigma, x.shape).astype(x.dtype)
        g = _gradient(model, noisy, target)
        total += np.abs(g) if abs else g
    return Tensor._wrap(total / samples)


def rank_features(attributions: Any, feature_names: Sequence[str] | None = None,
                  top: int | None = None) -> list[tuple[str, float]]:
    """Tabular attributions (N, features) → features ranked by mean |attribution|, as
    ``[(name, score), ...]``, largest first."""
    values = np.asarray(attributions.array if isinstance(attributions, Tensor) else attributions)
    if values.ndim != 2:
        raise ValueError(f"rank_features expects (samples, features) attributions, got {values.shape}")
    scores = np.abs(values).mean(axis=0)
    names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(values.shape[1])]
    if len(names) != values.shape[1]:
        raise ValueError(f"{len(names)} feature names for {values.shape[1]} features")
    order = np.argsort(-scores, kind="stable")[: top or None]
    return [(names[i], float(scores[i])) for i in order]
