"""``chainrule.utils.tensorboard.SummaryWriter``: PyTorch's TensorBoard writer, on tensorboardX.

Scripts that log with ``torch.utils.tensorboard`` run unchanged: the same class, methods and
arguments, taking chainrule tensors (or NumPy arrays, or numbers) where PyTorch takes its own.
The event files are written by tensorboardX, the optional ``[tensorboard]`` extra; this module
imports without it, and making a writer then says what to install. Open the logs with
``tensorboard --logdir runs`` (the ``tensorboard`` package serves them in a browser).

``add_graph`` has no counterpart: it draws a TorchScript graph, which chainrule does not have.

Example::

    >>> import tempfile
    >>> from chainrule.utils.tensorboard import SummaryWriter
    >>> with SummaryWriter(tempfile.mkdtemp()) as writer:
    ...     for step in range(3):
    ...         writer.add_scalar("loss", 1.0 / (step + 1), step)
    ...     writer.add_histogram("weights", chainrule.randn(100), 0)
"""

from __future__ import annotations

from typing import Any

import numpy as np

TENSORBOARD_HINT = 'pip install "chainrule[tensorboard]"'


def require_tensorboardx(user: str) -> Any:
    """The ``tensorboardX`` module, or an ImportError naming ``user`` and what to install."""
    try:
        import tensorboardX
    except ImportError:
        raise ImportError(
            f"{user} needs the optional package tensorboardX; install it with: {TENSORBOARD_HINT}"
        ) from None
    return tensorboardX


def _numpy(value: Any) -> Any:
    """A chainrule tensor as its NumPy array (detached); anything else unchanged."""
    from chainrule.tensor import Tensor

    return value.array if isinstance(value, Tensor) else value


def _number(value: Any) -> float:
    return float(np.asarray(_numpy(value)))


class SummaryWriter:
    """Write TensorBoard event files under ``log_dir`` (default ``runs/DATE_TIME_HOST``
    plus ``comment``), as ``torch.utils.tensorboard.SummaryWriter`` does.

    Values may be chainrule tensors, NumPy arrays or numbers; images are ``(C, H, W)`` unless
    ``dataformats`` says otherwise, floats in [0, 1] or uint8 in [0, 255].
    """

    def __init__(
        self,
        log_dir: str | None = None,
        comment: str = "",
        purge_step: int | None = None,
        max_queue: int = 10,
        flush_secs: int = 120,
        filename_suffix: str = "",
    ) -> None:
        tensorboardx = require_tensorboardx("SummaryWriter")
        self._writer = tensorboardx.SummaryWriter(
            logdir=None if log_dir is None else str(log_dir),
            comment=comment,
            purge_step=purge_step,
            max_queue=max_queue,
            flush_secs=flush_secs,
            filename_suffix=filename_suffix,
        )
        self.log_dir = self._writer.logdir

    def get_logdir(self) -> str:
        return self.log_dir

    def add_scalar(
        self,
        tag: str,
        scalar_value: Any,
        global_step: int | None = None,
        walltime: float | None = None,
        new_style: bool = False,
        double_precision: bool = False,
    ) -> None:
        self._writer.add_scalar(tag, _number(scalar_value), global_step, walltime)

    def add_scalars(
        self,
        main_tag: str,
        tag_scalar_dict: dict[str, Any],
        global_step: int | None = None,
        walltime: float | None = None,
    ) -> None:
        values = {tag: _number(value) for tag, value in tag_scalar_dict.items()}
        self._writer.add_scalars(main_tag, values, global_step, walltime)

    def add_histogram(
        self,
        tag: str,
        values: Any,
        global_step: int | None = None,
        bins: str = "tensorflow",
        walltime: float | None = None,
        max_bins: int | None = None,
    ) -> None:
        array = np.asarray(_numpy(values), dtype=np.float64)
        self._writer.add_histogram(tag, array, global_step, bins, walltime, max_bins)

    def add_image(
        self,
        tag: str,
        img_tensor: Any,
        global_step: int | None = None,
        walltime: float | None = None,
        dataformats: str = "CHW",
    ) -> None:
        self._writer.add_image(tag, np.asarray(_numpy(img_tensor)), global_step, walltime, dataformats)

    def add_images(
        self,
        tag: str,
        img_tensor: Any,
        global_step: int | None = None,
        walltime: float | None = None,
        dataformats: str = "NCHW",
    ) -> None:
        self._writer.add_images(tag, np.asarray(_numpy(img_tensor)), global_step, walltime, dataformats)

    def add_figure(
        self,
        tag: str,
        figure: Any,
        global_step: int | None = None,
        close: bool = True,
        walltime: float | None = None,
    ) -> None:
        """A matplotlib figure (or a list of them) as an image."""
        self._writer.add_figure(tag, figure, global_step, close, walltime)

    def add_text(
        self, tag: str, text_string: str, global_step: int | None = None, walltime: float | None = None
    ) -> None:
        self._writer.add_text(tag, text_string, global_step, walltime)

    def add_hparams(
        self, hparam_dict: dict[str, Any], metric_dict: dict[str, Any], *args: Any, **kwargs: Any
    ) -> None:
        metrics = {key: _number(value) for key, value in metric_dict.items()}
        self._writer.add_hparams(hparam_dict, metrics, *args, **kwargs)

    def add_graph(
        self, model: Any, input_to_model: Any = None, verbose: bool = False, use_strict_trace: bool = True
    ) -> None:
        raise NotImplementedError(
            "SummaryWriter.add_graph draws a TorchScript graph, which chainrule does not have; "
            "export the model with chainrule.onnx.export and open the .onnx file in Netron, or "
            "draw the autograd graph of an output with chainrule.viz.to_dot"
        )

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


__all__ = ["SummaryWriter"]
