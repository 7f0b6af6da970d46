"""Built-in model builders for the command line: ``mlp`` and ``cnn``, and loading a user's
model class from ``path/to/file.py:ClassName``.

Each builder takes the shape of one input sample and the number of outputs (classes, or 1 for
regression) and returns a ``chainrule.nn.Sequential`` whose layers have readable names
(``fc1``, ``conv1``...), so per-layer statistics read ``fc1.weight/grad_norm``.

Example::

    >>> from chainrule.train.models import mlp
    >>> model = mlp((64,), 10, hidden=(128,))
    >>> model(chainrule.zeros(32, 64)).shape
    (32, 10)
"""

from __future__ import annotations

import hashlib
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
from chainrule.errors import ConfigError, UntrustedCodeError

BUILT_IN_MODELS = ("mlp", "cnn")
# A run folder keeps a copy of a user model's file here, with its SHA-256 beside it
# (``<file>.py.sha256``, in ``sha256sum`` format so ``sha256sum -c`` checks it too).
MODEL_CODE_DIR = "model_code"
TRUST_FLAG = "--trust-model-code"


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
    conv: type[nn.Module]
    pool: type[nn.Module]
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
        from chainrule.creation import tensor

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


def is_model_file(spec: str) -> bool:
    """Whether ``spec`` names Python code (``file.py:ClassName``) rather than a built-in model."""
    return spec not in BUILT_IN_MODELS


def load_model_class(spec: str) -> type:
    """The class named by ``"path/to/file.py:ClassName"``. The file is run as a module, as
    ``python file.py`` would run it: only point it at code you trust (a run folder's model is
    loaded through :func:`run_model_spec`, which asks for that trust).

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
    path_text, class_name = _split_spec(spec)
    path = Path(path_text)
    if not path.is_file():
        raise ConfigError(f"model file {path_text!r} does not exist")
    module_name = f"_chainrule_user_model_{abs(hash(path.resolve()))}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise ConfigError(f"cannot import {path_text!r} as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:  # the user's code; its message is the best help there is
        del sys.modules[module_name]
        raise ConfigError(f"{path_text} failed to import: {type(error).__name__}: {error}") from error
    model_class = getattr(module, class_name, None)
    if not isinstance(model_class, type):
        found = sorted(name for name, value in vars(module).items() if isinstance(value, type))
        raise ConfigError(f"{path_text} has no class {class_name!r}; classes there: {found}")
    return model_class


def _split_spec(spec: str) -> tuple[str, str]:
    path_text, separator, class_name = spec.rpartition(":")
    if not separator or not path_text.endswith(".py") or not class_name.isidentifier():
        raise ConfigError(f"model {spec!r} is not 'mlp', 'cnn' or 'path/to/file.py:ClassName'")
    return path_text, class_name


def save_model_code(spec: str, run_dir: str | Path) -> None:
    """Copy a user model's file into ``run_dir/model_code/`` with its SHA-256 beside it, so the
    run folder holds the exact code its weights belong to (and keeps working when the original
    file changes or is not on the machine that loads the run)."""
    from chainrule.files import atomic_write_bytes

    path_text, _ = _split_spec(spec)
    source = Path(path_text).read_bytes()
    folder = Path(run_dir) / MODEL_CODE_DIR
    folder.mkdir(exist_ok=True)
    name = Path(path_text).name
    atomic_write_bytes(folder / name, source)
    atomic_write_bytes(folder / f"{name}.sha256", f"{hashlib.sha256(source).hexdigest()}  {name}\n".encode())


def run_model_spec(spec: str, run_dir: str | Path, trust_model_code: bool) -> str:
    """The model spec to build a saved run's model from, refusing to run code unless trusted.

    A built-in model (``mlp``, ``cnn``) is returned as is. A user model runs Python code, so
    without ``trust_model_code`` this raises :class:`UntrustedCodeError`; with it, the run
    folder's own copy is used after its SHA-256 is checked against the one recorded at training
    time (a mismatch means the code is not the code the weights were trained with).

    Example::

        >>> run_model_spec("mlp", "runs/iris-a", trust_model_code=False)
        'mlp'
    """
    if not is_model_file(spec):
        return spec
    run_dir = Path(run_dir)
    path_text, class_name = _split_spec(spec)
    if not trust_model_code:
        raise UntrustedCodeError(
            f"{run_dir} uses the model {spec!r}, which is Python code that loading would run; if "
            f"you trust whoever made this run folder, pass {TRUST_FLAG} (see SECURITY.md)"
        )
    name = Path(path_text).name
    copy, recorded = run_dir / MODEL_CODE_DIR / name, run_dir / MODEL_CODE_DIR / f"{name}.sha256"
    if not copy.is_file():
        # A run folder from before copies were kept: the original file, trusted by the flag.
        return spec
    expected = recorded.read_text(errors="replace").split()[0] if recorded.is_file() else ""
    actual = hashlib.sha256(copy.read_bytes()).hexdigest()
    if actual != expected:
        raise UntrustedCodeError(
            f"{copy} does not match the SHA-256 recorded when the run was trained ({recorded}); "
            "the model code changed since, so its weights may not fit it: restore the file or "
            "retrain"
        )
    return f"{copy}:{class_name}"


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
    unknown = sorted(set(model_args or {}) - set(parameters)) if not takes_any else []
    if unknown:
        accepted = [name for name in parameters if name not in ("self", *offered)]
        raise ConfigError(
            f"[model_args] {', '.join(unknown)}: {model_class.__name__} takes no such argument; "
            f"it accepts {', '.join(accepted) or 'no [model_args] at all'}"
        )
    arguments.update(model_args or {})
    try:
        model = model_class(**arguments)
    except Exception as error:  # the user's code; its message is the best help there is
        raise ConfigError(
            f"{spec} could not be built with {arguments}: {type(error).__name__}: {error}"
        ) from error
    if not isinstance(model, nn.Module):
        raise ConfigError(f"{spec} built a {type(model).__name__}, not a chainrule.nn.Module")
    return model
