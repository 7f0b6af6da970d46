"""Overfitting detection from loss curves: validation loss rising while training loss falls.

The rule, which both :func:`detect_overfitting` and :class:`OverfittingMonitor` apply: the
best epoch is the last one at which validation loss improved on every earlier epoch by more
than ``min_delta`` (the way ``EarlyStopping`` counts improvements). The run is overfitting when
each of the last ``patience`` epochs has a validation loss more than ``min_delta`` above that
best, and training loss has kept falling: it is lower at the last epoch than at the best one.
Wiggles within ``min_delta`` of the best are noise, not a rise; validation and training loss
rising together is instability or a too-large learning rate, not overfitting, and is not flagged.

Example::

    >>> finding = detect_overfitting(train_loss=[1.0, 0.7, 0.5, 0.4, 0.3, 0.2],
    ...                              val_loss=[1.1, 0.8, 0.6, 0.65, 0.7, 0.8])
    >>> finding.figures["began_epoch"], finding.figures["best_val_loss"]
    (4, 0.6)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from chainrule.diagnostics.gradient_flow import Finding

REMEDIES = (
    "weight decay (optim.AdamW, or weight_decay= on any optimizer), "
    "dropout (nn.Dropout between layers), "
    "early stopping (train.EarlyStopping(restore_best_weights=True)), "
    "more data or augmentation (chainrule.utils.data.transforms)"
)


def _as_floats(values: Sequence[float], name: str) -> list[float]:
    try:
        return [float(value) for value in values]
    except (TypeError, ValueError) as error:
        raise TypeError(f"detect_overfitting: {name} must be a sequence of numbers ({error})") from None


def _best_epoch(val_loss: list[float], min_delta: float) -> int | None:
    """0-based index of the last improvement by more than ``min_delta``; None if all are NaN."""
    best_index, best_value = None, math.inf
    for index, value in enumerate(val_loss):
        if value < best_value - min_delta:  # False for NaN: a NaN epoch never improves
            best_index, best_value = index, value
    return best_index


def detect_overfitting(
    train_loss: Sequence[float],
    val_loss: Sequence[float],
    patience: int = 3,
    min_delta: float = 0.0,
) -> Finding | None:
    """Say whether, and since when, a run overfits: validation loss above its best for the
    last ``patience`` epochs while training loss kept falling (the rule in the module doc).

    Args:
        train_loss: training loss per epoch, shape ``(E,)``.
        val_loss: validation loss per epoch, shape ``(E,)``, the same epochs.
        patience: how many epochs in a row validation loss must stay above its best.
        min_delta: changes in validation loss up to this size count as noise.

    Returns:
        ``None``, or a :class:`~chainrule.diagnostics.Finding` of kind ``"overfitting"`` whose
        ``figures`` hold ``best_epoch`` and ``began_epoch`` (1-based; overfitting began the epoch
        after the best), ``best_val_loss``, ``last_val_loss``, ``train_loss_drop`` (training
        loss at the best epoch minus at the last) and ``gap`` (last validation minus last
        training loss).

    Example:
        >>> finding = detect_overfitting([3, 2, 1, 0.5, 0.2], [3, 2, 1, 1.5, 2.5], patience=2)
        >>> finding.message  # doctest: +ELLIPSIS
        'validation loss has risen since epoch 4: from its best 1 (epoch 3) to 2.5 (epoch 5), ...'
    """
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise ValueError(f"detect_overfitting: patience must be an integer >= 1, got {patience!r}")
    if not min_delta >= 0:
        raise ValueError(f"detect_overfitting: min_delta must be >= 0, got {min_delta!r}")
    train = _as_floats(train_loss, "train_loss")
    val = _as_floats(val_loss, "val_loss")
    if len(train) != len(val):
        raise ValueError(
            f"detect_overfitting: train_loss has {len(train)} epochs but val_loss has {len(val)}; "
            f"pass one value of each per epoch"
        )
    best = _best_epoch(val, min_delta)
    last = len(val) - 1
    if best is None or last - best < patience:
        return None
    threshold = val[best] + min_delta
    recent_rose = all(value > threshold for value in val[last - patience + 1 :])
    if not (recent_rose and train[last] < train[best]):
        return None

    figures = {
        "best_epoch": best + 1,
        "began_epoch": best + 2,
        "best_val_loss": val[best],
        "last_val_loss": val[last],
        "train_loss_drop": train[best] - train[last],
        "gap": val[last] - train[last],
    }
    message = (
        f"validation loss has risen since epoch {best + 2}: from its best {val[best]:.4g} "
        f"(epoch {best + 1}) to {val[last]:.4g} (epoch {last + 1}), while training loss fell "
        f"by {figures['train_loss_drop']:.4g} to {train[last]:.4g}; validation loss is now "
        f"{figures['gap']:.4g} above training loss, so the model is memorising the training "
        f"data rather than learning what generalises"
    )
    hint = f"keep the weights of epoch {best + 1} and regularise: {REMEDIES}"
    return Finding(kind="overfitting", layer="", message=message, hint=hint, figures=figures)
