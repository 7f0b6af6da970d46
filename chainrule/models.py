"""Built-in model builders for the command line: ``mlp`` and ``cnn``, and loading a user's
model class from ``path/to/file.py:ClassName``.

Each builder takes the shape of one input sample and the number of outputs (classes, or 1 for
regression) and returns a ``chainrule.nn.Sequential`` whose layers have readable names
(``fc1``, ``conv1``...), so per-layer statistics read ``fc1.weight/grad_norm``.

Example::

    >>> from chainrule.models import mlp
    >>> model = mlp((64,), 10, hidden=(128,))
    >>> model(chainrule.zeros(32, 64)).shape
    (32, 10)
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import sys
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import nn

BUILT_IN_MODELS = ("mlp", "cnn")


def mlp(
    input_shape: Sequence[int], num_outputs: int, hidden: Sequence[int] = (128,), dropout: float = 0.0
) -> nn.Sequential:
    """A multi-layer perceptron: flatten, then ``Linear -> ReLU (-> Dropout)`` per hidden width,
    then a ``Linear`` to ``num_outputs``. Shape: ``(N, *input_shape) -> (N, num_outputs)``.

    Example::

        >>> mlp((1, 8, 8), 10, hidden=(64, 32), dropout=0.1)
        Sequential(
          (flatten): Flatten(start_dim=1, end_dim=-1)
          (fc1): Linear(in_features=64, out_features=64, bias=True)
          (relu1): ReLU()
          (dropout1): Dropout(p=0.1, inplace=False)
          (fc2): Linear(in_features=64, out_features=32, bias=True)
          (relu2): ReLU()
          (dropout2): Dropout(p=0.1, inplace=False)
          (fc3): Linear(in_features=32, out_features=10, bias=True)
        )
    """
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
    width = math.prod(input_shape)
    for index, hidden_width in enumerate(hidden, start=1):
        layers[f"fc{index}"] = nn.Linear(width, hidden_width)
        layers[f"relu{index}"] = nn.ReLU()
        if dropout > 0:
            layers[f"dropout{index}"] = nn.Dropout(dropout)
        width = hidden_width
    layers[f"fc{len(hidden) + 1}"] = nn.Linear(width, num_outputs)
    return nn.Sequential(layers)


def cnn(
    input_shape: Sequence[int], num_outputs: int, channels: Sequence[int] = (16, 32), dropout: float = 0.0
) -> nn.Sequential:
    """A small convolutional network: per entry of ``channels`` a 3-wide convolution (padding
    1), ReLU and 2x max-pooling (while the signal is at least 2 wide), then a ``Linear`` to
    ``num_outputs``. Images ``(C, H, W)`` use 2-D convolutions; signals ``(L,)`` (e.g.
    MNIST-1D) 1-D ones. Shape: ``(N, *input_shape) -> (N, num_outputs)``.

    Example::

        >>> cnn((1, 28, 28), 10)(chainrule.zeros(2, 1, 28, 28)).shape
        (2, 10)
    """
    input_shape = tuple(input_shape)
    if len(input_shape) == 3:
        conv, pool, spatial, in_channels = nn.Conv2d, nn.MaxPool2d, list(input_shape[1:]), input_shape[0]
        layers: OrderedDict[str, nn.Module] = OrderedDict()
    elif len(input_shape) == 1:
        conv, pool, spatial, in_channels = nn.Conv1d, nn.MaxPool1d, [input_shape[0]], 1
        layers = OrderedDict(unflatten=nn.Unflatten(1, (1, input_shape[0])))
    else:
        raise ValueError(
            f"cnn: inputs of shape {input_shape} are neither images (C, H, W) nor signals (L,); "
            "use --model mlp for other data"
        )
    for index, out_channels in enumerate(channels, start=1):
        layers[f"conv{index}"] = conv(in_channels, out_channels, 3, padding=1)
        layers[f"relu{index}"] = nn.ReLU()
        if min(spatial) >= 2:
            layers[f"pool{index}"] = pool(2)
            spatial = [size // 2 for size in spatial]
        in_channels = out_channels
    layers["flatten"] = nn.Flatten()
    if dropout > 0:
        layers["dropout"] = nn.Dropout(dropout)
    layers["fc"] = nn.Linear(in_channels * math.prod(spatial), num_outputs)
    return nn.Sequential(layers)


class Rescale(nn.Module):
    """``y = x * scale + offset`` with fixed (saved, not trained) buffers: lets a regression
    network predict standardised targets while its outputs stay in the data's own units.

    Shape: any, broadcast against ``scale`` and ``offset`` of shape ``(D,)``.
    """

    def __init__(self, scale: Any, offset: Any) -> None:
        super().__init__()
        from chainrule.tensor import tensor

        self.register_buffer("scale", tensor(np.asarray(scale, dtype=np.float32)))
        self.register_buffer("offset", tensor(np.asarray(offset, dtype=np.float32)))

    def forward(self, x: Any) -> Any:
        return x * self.scale + self.offset


class ScaledMSELoss(nn.Module):
    """Mean squared error divided by the targets' variance: 1.0 is as good as predicting the
    mean, whatever the units, so one learning rate suits every regression dataset."""

    def __init__(self, variance: float) -> None:
        super().__init__()
        self.variance = float(variance) if variance > 0 else 1.0

    def forward(self, prediction: Any, target: Any) -> Any:
        return nn.functional.mse_loss(prediction, target) * (1.0 / self.variance)


def load_model_class(spec: str) -> type:
    """The class named by ``"path/to/file.py:ClassName"`` (the file is run as a module, as
    ``python file.py`` would run it: only point it at code you trust).

    Example::

        >>> _ = open("my_models.py", "w").write(
        ...     "from chainrule import nn\\n"
        ...     "class TinyNet(nn.Module):\\n"
        ...     "    def __init__(self, in_features, num_classes):\\n"
        ...     "        super().__init__()\\n"
        ...     "        self.fc = nn.Linear(in_features, num_classes)\\n"
        ...     "    def forward(self, x):\\n"
        ...     "        return self.fc(x)\\n")
        >>> load_model_class("my_models.py:TinyNet").__name__
        'TinyNet'
    """
    path_text, separator, class_name = spec.rpartition(":")
    if not separator or not path_text.endswith(".py") or not class_name.isidentifier():
        raise ValueError(f"model {spec!r} is not 'mlp', 'cnn' or 'path/to/file.py:ClassName'")
    path = Path(path_text)
    if not path.is_file():
        raise ValueError(f"model file {path_text!r} does not exist")
    module_name = f"_chainrule_user_model_{abs(hash(path.resolve()))}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise ValueError(f"cannot import {path_text!r} as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    module_spec.loader.exec_module(module)
    model_class = getattr(module, class_name, None)
    if not isinstance(model_class, type):
        found = sorted(name for name, value in vars(module).items() if isinstance(value, type))
        raise ValueError(f"{path_text} has no class {class_name!r}; classes there: {found}")
    return model_class


def build_model(
    spec: str,
    input_shape: Sequence[int],
    num_outputs: int,
    *,
    hidden: Sequence[int] = (128,),
    channels: Sequence[int] = (16, 32),
    dropout: float = 0.0,
    model_args: dict[str, Any] | None = None,
) -> nn.Module:
    """Build ``"mlp"``, ``"cnn"`` or a user class ``"file.py:ClassName"``.

    A user class is called with the keyword arguments of ``model_args`` plus whichever of
    ``input_shape``, ``in_features`` (the flattened size) and ``num_outputs`` /
    ``num_classes`` its ``__init__`` accepts.
    """
    if spec == "mlp":
        return mlp(input_shape, num_outputs, hidden=hidden, dropout=dropout)
    if spec == "cnn":
        return cnn(input_shape, num_outputs, channels=channels, dropout=dropout)
    model_class = load_model_class(spec)
    offered = {
        "input_shape": tuple(input_shape),
        "in_features": math.prod(input_shape),
        "num_outputs": num_outputs,
        "num_classes": num_outputs,
    }
    parameters = inspect.signature(model_class).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    arguments = {name: value for name, value in offered.items() if takes_any or name in parameters}
    arguments.update(model_args or {})
    model = model_class(**arguments)
    if not isinstance(model, nn.Module):
        raise ValueError(f"{spec} built a {type(model).__name__}, not a chainrule.nn.Module")
    return model
