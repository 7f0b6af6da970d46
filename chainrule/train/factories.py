"""The model, optimizer, scheduler and loss a configuration names, built for its data."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, InputError


def build_model_for(
    config: Mapping[str, Any],
    input_shape: tuple[int, ...],
    num_outputs: int,
    task: str,
    target_mean: float = 0.0,
    target_variance: float = 1.0,
    model_spec: str | None = None,
) -> Any:
    """The model the config names (or ``model_spec``, e.g. a run folder's verified copy of the
    model's file); a regression model ends in a fixed ``Rescale`` layer so it learns
    standardised targets but outputs the data's own units."""
    from chainrule import nn
    from chainrule.train.models import Rescale, build_model

    try:
        model = build_model(
            model_spec or config["model"],
            input_shape,
            num_outputs,
            hidden=config["hidden"],
            channels=config["channels"],
            dropout=config["dropout"],
            model_args=config["model_args"],
        )
    except InputError:
        raise
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if task == "regression":
        rescale = Rescale(math.sqrt(target_variance) if target_variance > 0 else 1.0, target_mean)
        if isinstance(model, nn.Sequential):
            model.add_module("rescale", rescale)
        else:
            model = nn.Sequential(model, rescale)
    return model


def build_optimizer(config: Mapping[str, Any], model: Any) -> Any:
    from chainrule import optim

    params, lr, decay = model.parameters(), config["lr"], config["weight_decay"]
    if config["optimizer"] == "sgd":
        return optim.SGD(params, lr=lr, momentum=config["momentum"], weight_decay=decay)
    if config["optimizer"] == "adam":
        return optim.Adam(params, lr=lr, weight_decay=decay)
    if config["optimizer"] == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=decay)
    return optim.RMSprop(params, lr=lr, weight_decay=decay)


def build_scheduler(config: Mapping[str, Any], optimizer: Any) -> Any:
    from chainrule.optim import lr_scheduler

    if config["scheduler"] == "plateau":
        return lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)
    if config["scheduler"] == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=config["epochs"])
    return None


def loss_for(task: str, target_variance: float) -> Any:
    from chainrule import nn
    from chainrule.train.models import ScaledMSELoss

    return nn.CrossEntropyLoss() if task == "classification" else ScaledMSELoss(target_variance)


def seed_everything(seed: int) -> None:
    """Seed chainrule's generator, NumPy's legacy global one and Python's ``random``."""
    import chainrule

    chainrule.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
