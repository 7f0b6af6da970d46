"""``chainrule.distributions``, the part of ``torch.distributions`` that training scripts use:
``Normal``, ``Uniform``, ``Bernoulli``, ``Categorical`` and ``OneHotCategorical``, with
``sample``, reparameterised ``rsample``, ``log_prob``, ``entropy``, moments, and
``kl_divergence`` between two of a kind.

Densities, entropies and divergences are written with chainrule's ops, so they differentiate
with respect to the parameters (a policy gradient's ``log_prob``, a VAE's KL term); ``rsample``
moves the noise outside the parameters (loc + scale * eps), so its samples do too. Samples
come from chainrule's seeded generator (``chainrule.manual_seed``). Parameters are checked as
PyTorch checks them (``validate_args``): a scale of 0 or a probability of 1.5 is one sentence.

Example::

    >>> import chainrule as torch
    >>> from chainrule.distributions import Categorical
    >>> policy = Categorical(logits=torch.tensor([0.0, 1.0, 2.0]))
    >>> policy.log_prob(torch.tensor(2))
    tensor(-0.4076)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.creation import tensor
from chainrule.dtypes import get_default_dtype
from chainrule.ops.activation import Softplus
from chainrule.ops.elementwise import erf, exp, log, where
from chainrule.random import numpy_generator
from chainrule.tensor import Size, Tensor


def _as_tensor(value: Any, like: Tensor | None = None) -> Tensor:
    """``value`` as a floating tensor (of ``like``'s dtype when that is floating)."""
    if isinstance(value, Tensor):
        return value
    made = tensor(value, dtype=like.dtype) if like is not None and like.dtype.kind == "f" else tensor(value)
    return made if made.dtype.kind == "f" else made.type(get_default_dtype())


def _shape(sample_shape: Sequence[int] | int) -> tuple[int, ...]:
    return (sample_shape,) if isinstance(sample_shape, int) else tuple(sample_shape)


class Distribution:
    """What every distribution has: ``batch_shape`` (independent distributions side by side),
    ``event_shape`` (the shape of one draw), ``sample``/``rsample``/``log_prob``/``entropy``."""

    has_rsample = False
    _validate_default = True

    def __init__(self, batch_shape: tuple[int, ...] = (), event_shape: tuple[int, ...] = (),
                 validate_args: bool | None = None) -> None:
        self._batch_shape, self._event_shape = Size(batch_shape), Size(event_shape)
        self._validate = self._validate_default if validate_args is None else validate_args

    @property
    def batch_shape(self) -> Size:
        return self._batch_shape

    @property
    def event_shape(self) -> Size:
        return self._event_shape

    def _extended_shape(self, sample_shape: Sequence[int] | int = ()) -> tuple[int, ...]:
        return _shape(sample_shape) + tuple(self._batch_shape) + tuple(self._event_shape)

    def sample(self, sample_shape: Sequence[int] | int = ()) -> Tensor:
        """Draws without a gradient (``rsample`` keeps one where the distribution allows)."""
        return self.rsample(sample_shape).detach()

    def rsample(self, sample_shape: Sequence[int] | int = ()) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no reparameterised sample; use sample()")

    @property
    def variance(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no variance")

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    def __repr__(self) -> str:
        shown = []
        for name in self._parameter_names:
            value = getattr(self, name)
            shown.append(f"{name}: {value.item() if value.ndim == 0 else value.shape}")
        return f"{type(self).__name__}({', '.join(shown)})"

    _parameter_names: tuple[str, ...] = ()

    def _check_sample(self, valid: bool, value: Any, support: str) -> None:
        if self._validate and not valid:
            raise ValueError(f"{type(self).__name__}.log_prob: the value {value} is outside the support "
                             f"({support}); pass validate_args=False to get -inf (or nan) instead")


def _check(valid: bool, message: str) -> None:
    if not valid:
        raise ValueError(message)


class Normal(Distribution):
    """The normal distribution N(loc, scale²), elementwise over broadcast ``loc`` and ``scale``."""

    has_rsample = True
    _parameter_names = ("loc", "scale")

    def __init__(self, loc: Any, scale: Any, validate_args: bool | None = None) -> None:
        self.loc = _as_tensor(loc, scale if isinstance(scale, Tensor) else None)
        self.scale = _as_tensor(scale, self.loc)
        super().__init__(np.broadcast_shapes(self.loc.shape, self.scale.shape), (), validate_args)
        if self._validate:
            _check(bool((self.scale.array > 0).all()), f"Normal: scale must be positive, got {self.scale}")

    @property
    def mean(self) -> Tensor:
        return self.loc.expand(self.batch_shape)

    @property
    def mode(self) -> Tensor:
        return self.mean

    @property
    def variance(self) -> Tensor:
        return (self.scale * self.scale).expand(self.batch_shape)

    @property
    def stddev(self) -> Tensor:
        return self.scale.expand(self.batch_shape)

    def rsample(self, sample_shape: Sequence[int] | int = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        noise = Tensor._wrap(numpy_generator().standard_normal(shape).astype(self.loc.dtype))
        return self.loc + self.scale * noise

    def log_prob(self, value: Any) -> Tensor:
        value = _as_tensor(value, self.loc)
        variance = self.scale * self.scale
        return -((value - self.loc) ** 2) / (2 * variance) - log(self.scale) - 0.5 * math.log(2 * math.pi)

    def cdf(self, value: Any) -> Tensor:
        return 0.5 * (1 + erf((_as_tensor(value, self.loc) - self.loc) / (self.scale * math.sqrt(2))))

    def entropy(self) -> Tensor:
        return (0.5 + 0.5 * math.log(2 * math.pi) + log(self.scale)).expand(self.batch_shape)


class Uniform(Distribution):
    """The uniform distribution on [low, high), elementwise."""

    has_rsample = True
    _parameter_names = ("low", "high")

    def __init__(self, low: Any, high: Any, validate_args: bool | None = None) -> None:
        self.low = _as_tensor(low, high if isinstance(high, Tensor) else None)
        self.high = _as_tensor(high, self.low)
        super().__init__(np.broadcast_shapes(self.low.shape, self.high.shape), (), validate_args)
        if self._validate:
            _check(bool((self.low.array < self.high.array).all()), "Uniform: low must be below high")

    @property
    def mean(self) -> Tensor:
        return ((self.low + self.high) / 2).expand(self.batch_shape)

    @property
    def variance(self) -> Tensor:
        return ((self.high - self.low) ** 2 / 12).expand(self.batch_shape)

    def rsample(self, sample_shape: Sequence[int] | int = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        fraction = Tensor._wrap(numpy_generator().random(shape).astype(self.low.dtype))
        return self.low + (self.high - self.low) * fraction

    def log_prob(self, value: Any) -> Tensor:
        value = _as_tensor(value, self.low)
        inside = (value.array >= self.low.array) & (value.array < self.high.array)
        self._check_sample(bool(inside.all()), value, "[low, high)")
        return where(Tensor._wrap(inside), -log(self.high - self.low), -math.inf)

    def cdf(self, value: Any) -> Tensor:
        return ((_as_tensor(value, self.low) - self.low) / (self.high - self.low)).clamp(0.0, 1.0)

    def entropy(self) -> Tensor:
        return log(self.high - self.low).expand(self.batch_shape)


def _logits_and_probs(name: str, probs: Any, logits: Any, binary: bool) -> tuple[Tensor, Tensor]:
    if (probs is None) == (logits is None):
        raise ValueError(f"{name}: give exactly one of probs and logits")
    if probs is not None:
        probs = _as_tensor(probs)
        inside = (probs.array >= 0) & (probs.array <= 1) if binary else probs.array >= 0
        _check(bool(inside.all()), f"{name}: probs must be in [0, 1]" if binary else
               f"{name}: probs must be non-negative")
        tiny, eps = np.finfo(probs.dtype).tiny, np.finfo(probs.dtype).eps
        if binary:
            clipped = probs.clamp(tiny, 1 - eps)
            return probs, log(clipped) - log(1 - clipped)
        probs = probs / probs.sum(-1, keepdim=True)
        return probs, log(probs.clamp(min=tiny))
    logits = _as_tensor(logits)
    if binary:
        return logits.sigmoid(), logits
    logits = logits - logits.logsumexp(-1, keepdim=True)
    return exp(logits), logits


class Bernoulli(Distribution):
    """1 with probability ``probs`` (or sigmoid(``logits``)), else 0, elementwise."""

    _parameter_names = ("probs",)

    def __init__(self, probs: Any = None, logits: Any = None, validate_args: bool | None = None) -> None:
        self.probs, self.logits = _logits_and_probs("Bernoulli", probs, logits, binary=True)
        super().__init__(tuple(self.probs.shape), (), validate_args)

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape: Sequence[int] | int = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        draws = numpy_generator().random(shape) < np.broadcast_to(self.probs.array, shape)
        return Tensor._wrap(draws.astype(self.probs.dtype))

    def log_prob(self, value: Any) -> Tensor:
        value = _as_tensor(value, self.logits)
        self._check_sample(bool(np.isin(value.array, (0, 1)).all()), value, "{0, 1}")
        # -BCE with logits: value * logits - softplus(logits), stable for large |logits|
        return value * self.logits - Softplus.apply(self.logits, 1.0, 20.0)

    def entropy(self) -> Tensor:
        return Softplus.apply(self.logits, 1.0, 20.0) - self.probs * self.logits


class Categorical(Distribution):
    """One of K classes, with probabilities ``probs`` (normalised along the last dimension) or
    ``softmax(logits)``; the last dimension indexes the classes, the others are the batch."""

    _parameter_names = ("probs",)

    def __init__(self, probs: Any = None, logits: Any = None, validate_args: bool | None = None) -> None:
        self.probs, self.logits = _logits_and_probs(type(self).__name__, probs, logits, binary=False)
        if self.probs.ndim < 1:
            raise ValueError(f"{type(self).__name__}: probs or logits need at least one dimension "
                             "(the classes)")
        super().__init__(tuple(self.probs.shape[:-1]), (), validate_args)

    @property
    def param_shape(self) -> Size:
        return self.probs.shape

    @property
    def mean(self) -> Tensor:
        return Tensor._wrap(np.full(self.batch_shape, np.nan, self.probs.dtype))

    @property
    def mode(self) -> Tensor:
        return self.probs.argmax(-1)

    def sample(self, sample_shape: Sequence[int] | int = ()) -> Tensor:
        shape = _shape(sample_shape) + tuple(self.batch_shape)
        cumulative = np.cumsum(self.probs.array.astype(np.float64), -1)
        cumulative /= cumulative[..., -1:]
        uniform = numpy_generator().random(shape)[..., None]
        chosen = (np.broadcast_to(cumulative, shape + cumulative.shape[-1:]) <= uniform).sum(-1)
        return Tensor._wrap(np.minimum(chosen, cumulative.shape[-1] - 1).astype(np.int64))

    def log_prob(self, value: Any) -> Tensor:
        index = value.array if isinstance(value, Tensor) else np.asarray(value)
        classes = self.logits.shape[-1]
        self._check_sample(bool(((index >= 0) & (index < classes) & (index == np.round(index))).all()),
                           value, f"the class indices 0 to {classes - 1}")
        shape = np.broadcast_shapes(index.shape, tuple(self.batch_shape))
        picked = Tensor._wrap(np.broadcast_to(index.astype(np.int64), shape)[..., None])
        return self.logits.expand(*shape, classes).gather(-1, picked).squeeze(-1)

    def entropy(self) -> Tensor:
        return -(self.probs * self.logits).sum(-1)


class OneHotCategorical(Categorical):
    """``Categorical`` with draws as one-hot vectors: event shape (K,)."""

    def __init__(self, probs: Any = None, logits: Any = None, validate_args: bool | None = None) -> None:
        super().__init__(probs, logits, validate_args)
        self._event_shape = Size(self.probs.shape[-1:])

    def sample(self, sample_shape: Sequence[int] | int = ()) -> Tensor:
        index = super().sample(sample_shape).array
        return Tensor._wrap(np.eye(self.probs.shape[-1], dtype=self.probs.dtype)[index])

    def log_prob(self, value: Any) -> Tensor:
        return (value * self.logits).sum(-1)


def kl_divergence(p: Distribution, q: Distribution) -> Tensor:
    """KL(p || q) for two distributions of one kind (Normal, Uniform, Bernoulli, Categorical)."""
    if type(p) is not type(q):
        raise NotImplementedError(f"kl_divergence: {type(p).__name__} against {type(q).__name__} is not "
                                  "implemented; give two distributions of one kind")
    if isinstance(p, Normal) and isinstance(q, Normal):
        ratio = (p.scale / q.scale) ** 2
        return 0.5 * (ratio + ((p.loc - q.loc) / q.scale) ** 2 - 1 - log(ratio))
    if isinstance(p, Uniform) and isinstance(q, Uniform):
        inside = Tensor._wrap((q.low.array <= p.low.array) & (p.high.array <= q.high.array))
        return where(inside, log((q.high - q.low) / (p.high - p.low)), math.inf)
    if isinstance(p, Bernoulli) and isinstance(q, Bernoulli):
        return (p.probs * (Softplus.apply(-q.logits, 1.0, 20.0) - Softplus.apply(-p.logits, 1.0, 20.0))
                + (1 - p.probs) * (Softplus.apply(q.logits, 1.0, 20.0) - Softplus.apply(p.logits, 1.0, 20.0)))
    if isinstance(p, Categorical) and isinstance(q, Categorical):
        return (p.probs * (p.logits - q.logits)).sum(-1)
    raise NotImplementedError(f"kl_divergence: not implemented for {type(p).__name__}")


__all__ = ["Bernoulli", "Categorical", "Distribution", "Normal", "OneHotCategorical", "Uniform",
           "kl_divergence"]
