"""``Optimizer``: the base class that holds parameter groups and per-parameter state.

An optimizer keeps

* ``param_groups``: a list of dicts, each with ``"params"`` (a list of tensors) and that group's
  hyperparameters (``"lr"``, ...); options missing from a group are filled from ``defaults``;
* ``state``: a dict keyed by parameter holding what the update rule carries from step to step
  (momentum buffers, moment estimates, step counts), as chainrule tensors.

Subclasses implement ``step``. The update maths lives in plain functions next to each subclass
(``sgd``, ``adam``, ...), which work in place on the NumPy arrays behind the parameters: an
update records no graph and allocates no tensors.
"""

from __future__ import annotations

import functools
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from chainrule.backends.allocator import tune_for_training
from chainrule.grad_mode import enable_grad
from chainrule.tensor import Tensor


class _RequiredParameter:
    """Marks a hyperparameter that every parameter group must give (no default)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]


class Optimizer:
    """Base class of all optimizers.

    ``params`` is an iterable of tensors, of ``(name, tensor)`` pairs (as
    ``module.named_parameters()`` gives), or of dicts, each one a parameter group with its own
    options. ``defaults`` holds the options a group does not set.

    Example::

        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> optimizer = chainrule.optim.SGD([
        ...     {"params": model[0].parameters()},
        ...     {"params": model[2].parameters(), "lr": 1e-2},
        ... ], lr=1e-3, momentum=0.9)
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got a Tensor of shape {tuple(params.shape)}; wrap it in a list: [param]"
            )
        param_groups: list[Any] = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)
        # a training loop reuses the same large arrays every step: keep them in the process
        # (chainrule.backends.allocator; CHAINRULE_TUNE_ALLOCATOR=0 leaves malloc alone)
        tune_for_training()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Learning-rate schedulers warn when they are stepped before the optimizer ever was
        # (a common porting mistake that silently skips the first value of the schedule), so
        # every subclass's step() notes that it has run.
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            setattr(cls, "step", _note_step_called(cls.__dict__["step"]))  # noqa: B010 - mypy refuses method assignment

    # ---------------------------------------------------------------------------- groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (e.g. a new layer while fine-tuning).

        Example::

            >>> optimizer = chainrule.optim.SGD(nn.Linear(4, 8).parameters(), lr=1e-2)
            >>> new_layer = nn.Linear(8, 2)
            >>> optimizer.add_param_group({"params": new_layer.parameters(), "lr": 1e-4})
            >>> [group["lr"] for group in optimizer.param_groups]
            [0.01, 0.0001]
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            params = list(params)
        group = dict(param_group)
        if params and isinstance(params[0], tuple):
            group["param_names"] = [name for name, _ in params]
            params = [param for _, param in params]
        group["params"] = params

        for param in params:
            if not isinstance(param, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    f"{type(param).__name__}"
                )
            if not param.is_leaf:
                raise ValueError(
                    "can't optimize a non-leaf Tensor (one made by an operation); optimize the "
                    "leaf it was computed from, or make a leaf with t.detach().requires_grad_()"
                )

        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(
                    "parameter group didn't specify a value of required optimization "
                    f"parameter {name}"
                )
            group.setdefault(name, default)
        self._check_group(group)

        ids = [id(param) for param in params]
        if len(set(ids)) != len(ids):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, "
                "this will cause an error",
                UserWarning,
                stacklevel=3,
            )
        seen = {id(param) for existing in self.param_groups for param in existing["params"]}
        if not seen.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Raise a ValueError naming any invalid hyperparameter of ``group`` (per optimizer)."""

    # ------------------------------------------------------------------------- stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: to None (default; the next backward
        allocates fresh ones) or, with ``set_to_none=False``, to zeros in place."""
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if set_to_none:
                    param.grad = None
                else:
                    if param.grad.grad_fn is not None:
                        param.grad.detach_()
                    else:
                        param.grad.requires_grad = False
                    param.grad.array[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update the parameters once from their ``.grad``; ``closure`` (optional) re-evaluates
        the model and returns the loss, which ``step`` returns."""
        raise NotImplementedError(f"{type(self).__name__} does not implement step()")

    def _functional_step(
        self, closure: Callable[[], Any] | None, update: Callable[..., None], state_keys: tuple[str, ...]
    ) -> Any:
        """One step through a plain update function, for each group:
        ``update(params, grads, *[one list of arrays per name in state_keys], **self._options(group))``.
        A parameter's state is made by ``self._initial_state(param, group)`` at its first step."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            params = self._params_to_update(group)
            for param in params:
                if not self.state[param]:
                    self.state[param] = self._initial_state(param, group)
            states = [self.state[param] for param in params]
            update(
                [param.array for param in params],
                grad_arrays(params),
                *([state[key].array for state in states] for key in state_keys),
                **self._options(group),
            )
        return loss

    def _initial_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _options(self, group: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    @staticmethod
    def _evaluate(closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        # the closure runs forward and backward, so it needs recording on
        with enable_grad():
            return closure()

    def _params_to_update(self, group: dict[str, Any]) -> list[Tensor]:
        """The group's parameters that have a gradient (the others are left as they are),
        marked as changed in place."""
        params = [param for param in group["params"] if param.grad is not None]
        for param in params:
            # an in-place change: a graph saved before this step must not be reused
            param._vc[0] += 1
        return params

    # ---------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in PyTorch's layout::

            {"state": {index: {"step": tensor, ...}},
             "param_groups": [{"lr": ..., ..., "params": [index, ...]}]}

        Parameters are numbered in the order of the groups. The per-parameter dicts are the
        live ones (as in PyTorch); ``copy.deepcopy`` the result to freeze it.
        """
        index_of: dict[int, int] = {}
        packed_groups = []
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key != "params"}
            for param in group["params"]:
                index_of.setdefault(id(param), len(index_of))
            packed["params"] = [index_of[id(param)] for param in group["params"]]
            packed_groups.append(packed)
        packed_state = {
            (index_of[id(key)] if isinstance(key, Tensor) else key): value
            for key, value in self.state.items()
        }
        return {"state": packed_state, "param_groups": packed_groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore state saved by ``state_dict``; this optimizer must have the same groups
        with the same number of parameters. Saved hyperparameters replace the current ones.
        State tensors are copied and cast to their parameter's dtype (the step count keeps
        its own)."""
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                "loaded state dict has a different number of parameter groups "
                f"({len(saved_groups)}) than this optimizer ({len(self.param_groups)})"
            )
        for index, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(
                    "loaded state dict contains a parameter group that doesn't match the size "
                    f"of optimizer's group: group {index} has {len(saved['params'])} saved "
                    f"parameters and {len(group['params'])} in this optimizer"
                )
        param_of = {
            saved_index: param
            for group, saved in zip(self.param_groups, saved_groups)
            for saved_index, param in zip(saved["params"], group["params"])
        }

        new_state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key in param_of:
                param = param_of[key]
                new_state[param] = {name: _copy_state_value(param, name, v) for name, v in value.items()}
            else:
                new_state[key] = value

        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            new_group = {key: value for key, value in saved.items() if key != "params"}
            if "param_names" in group and "param_names" not in saved:
                new_group["param_names"] = group["param_names"]
            new_group["params"] = group["params"]
            new_groups.append(new_group)
        self.state = new_state
        self.param_groups = new_groups

    # --------------------------------------------------------------------------- display
    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index}")
            for key in sorted(group):
                if key not in ("params", "param_names"):
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def grad_arrays(params: Sequence[Tensor]) -> list[np.ndarray]:
    """The arrays of ``params``' gradients, for parameters known to have one (those of
    ``Optimizer._params_to_update``)."""
    arrays = []
    for param in params:
        grad = param._grad
        assert grad is not None, "grad_arrays: a parameter without a gradient"
        arrays.append(grad.array)
    return arrays


def _note_step_called(step: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(step)
    def step_and_note(self: Optimizer, *args: Any, **kwargs: Any) -> Any:
        self._opt_called = True  # type: ignore[attr-defined]  # read by the schedulers only
        return step(self, *args, **kwargs)

    return step_and_note


# scalar state kept in float32 whatever the parameter's dtype: NAdam's Π, ASGD's η and μ
_FLOAT32_SCALARS = ("mu_product", "eta", "mu")


def _copy_state_value(param: Tensor, name: str, value: Any) -> Any:
    """A copy of a saved state entry, as this optimizer's state holds it."""
    if name == "step":
        # step counts stay float32 scalars whatever the parameter's dtype (as in PyTorch)
        return Tensor._wrap(np.array(float(_as_float(value)), dtype=np.float32))
    if name in _FLOAT32_SCALARS:
        # PyTorch casts these to the parameter's dtype on load, so its own runs do not resume
        # exactly; keeping them float32 resumes bit for bit and continues as an unbroken run
        return _float32_scalar(_as_float(value))
    if isinstance(value, Tensor | np.ndarray):
        array = np.asarray(value.array if isinstance(value, Tensor) else value)
        dtype = param.dtype if param.dtype.kind == "f" and array.dtype.kind == "f" else array.dtype
        return Tensor._wrap(np.array(array, dtype=dtype, copy=True))
    return value


def _as_float(value: Any) -> float:
    if isinstance(value, Tensor):
        return float(value.array)
    return float(value)


def _hyper(value: Any) -> float:
    """A hyperparameter as a Python float: a NumPy float64 scalar (or a float64 0-d tensor)
    would promote a float32 parameter to float64 in every update."""
    return _as_float(value)


def _floats(group: dict[str, Any], *names: str) -> dict[str, float]:
    """The group's hyperparameters ``names`` as Python floats (see ``_hyper``); ``betas``
    becomes ``beta1`` and ``beta2``."""
    options = {name: _hyper(group[name]) for name in names if name != "betas"}
    if "betas" in names:
        options["beta1"], options["beta2"] = (_hyper(beta) for beta in group["betas"])
    return options


def _new_step_count() -> Tensor:
    return _float32_scalar(0.0)


def _float32_scalar(value: float) -> Tensor:
    """A 0-d float32 tensor: how PyTorch keeps step counts and scalar state (ASGD's eta and mu,
    NAdam's mu_product) whatever the parameter's dtype."""
    return Tensor._wrap(np.array(value, dtype=np.float32))


def _zero_buffers(param: Tensor, *names: str) -> dict[str, Tensor]:
    """Per-parameter state entries ``names``, each a zero tensor shaped like ``param``."""
    return {name: Tensor._wrap(np.zeros_like(param.array)) for name in names}


def _check_lr(lr: Any) -> None:
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError(f"Tensor lr must be 1-element, got shape {tuple(lr.shape)}")
    if not 0.0 <= _as_float(lr):
        raise ValueError(f"Invalid learning rate: {_as_float(lr)} (must be >= 0)")


def _check_non_negative(name: str, value: Any, what: str | None = None) -> None:
    if not 0.0 <= value:
        raise ValueError(f"Invalid {what or name} value: {value} ({name} must be >= 0)")


def _check_differentiable(optimizer: str, differentiable: bool) -> None:
    # foreach / fused / capturable only choose among PyTorch kernels, so chainrule accepts and
    # ignores them; differentiable would change what the update means, so it is refused.
    if differentiable:
        raise NotImplementedError(
            f"{optimizer}: differentiable=True (gradients through the update itself) is not "
            "supported by chainrule; the update runs on NumPy arrays outside the graph"
        )
