"""``Module``: the base class of layers and models.

A Module registers what is assigned to it: a ``Parameter`` becomes one of its learnable weights,
a ``Module`` one of its children, both in the order assigned. ``named_parameters()`` then gives
dotted names (``"encoder.0.weight"``) and ``state_dict()`` / ``load_state_dict()`` round-trip the
weights, with PyTorch's names, so state dicts interchange with PyTorch.

Registration never fails silently: assigning a tensor that requires grad, or a Python list of
layers, raises an error that says what to use instead (``Parameter``, ``ModuleList``,
``register_buffer``).
"""

from __future__ import annotations

import functools
import inspect
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from chainrule.devices import check_cpu, parse_to_arguments
from chainrule.dtypes import as_dtype
from chainrule.grad_mode import no_grad
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor

# The attributes a Module keeps in its own __dict__; __getattr__ must never look these up.
_INTERNAL = ("_parameters", "_buffers", "_non_persistent_buffers", "_modules",
             "_forward_hooks", "_forward_pre_hooks", "_forward_depth")


def _checking_device(init: Callable[..., None]) -> Callable[..., None]:
    """``init`` that first refuses a ``device`` other than the CPU (see ``check_cpu``)."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def init_on_cpu(self: Any, *args: Any, **kwargs: Any) -> None:
        device = kwargs.get("device")
        if device is None and args:
            device = signature.bind_partial(self, *args).arguments.get("device")
        if device is not None:
            check_cpu(device)
        init(self, *args, **kwargs)

    return init_on_cpu


class _IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` could not match (PyTorch's return value)."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"


class RemovableHandle:
    """Returned by hook registration; ``handle.remove()`` unregisters the hook. Also a
    context manager that removes the hook on exit."""

    _next_id = itertools.count()

    def __init__(self, hooks: dict[int, Callable[..., Any]]) -> None:
        self._hooks = hooks
        self.id = next(RemovableHandle._next_id)

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()


def _to_array(value: Any) -> np.ndarray:
    """An array from a chainrule tensor, a PyTorch tensor (duck-typed: no torch import) or
    anything ``np.asarray`` reads."""
    if isinstance(value, Tensor):
        return value.array
    if hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "numpy"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _registrables_in(value: Any) -> list[Any]:
    """The Modules and Parameters held directly by a list, tuple or dict (else none)."""
    if isinstance(value, Mapping):
        items = list(value.values())
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        return []
    return [item for item in items if isinstance(item, Module | Parameter)]


class Module:
    """Base class of every layer and model. Subclasses assign their layers and parameters in
    ``__init__`` (after ``super().__init__()``) and define ``forward``.

    Example::

        >>> class Net(chainrule.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc = chainrule.nn.Linear(4, 2)
        ...     def forward(self, x):
        ...         return self.fc(x).relu()
        >>> [name for name, _ in Net().named_parameters()]
        ['fc.weight', 'fc.bias']
    """

    training: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise TypeError(
                f"{type(self).__name__}.__init__() got unexpected arguments; Module.__init__ "
                "takes none (call super().__init__() without arguments)"
            )
        set_plain = object.__setattr__
        set_plain(self, "training", True)
        set_plain(self, "_parameters", OrderedDict())
        set_plain(self, "_buffers", OrderedDict())
        set_plain(self, "_non_persistent_buffers", set())
        set_plain(self, "_modules", OrderedDict())
        set_plain(self, "_forward_hooks", OrderedDict())
        set_plain(self, "_forward_pre_hooks", OrderedDict())
        set_plain(self, "_forward_depth", 0)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # A layer built with device="cuda" must fail as tensor creation does, not quietly give
        # CPU weights: every constructor that takes PyTorch's ``device`` argument checks it.
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and "device" in inspect.signature(init).parameters:
            setattr(cls, "__init__", _checking_device(init))  # noqa: B010 - mypy refuses method assignment

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self._forward_pre_hooks and not self._forward_hooks:  # the common case, less work
            depth = self._forward_depth
            object.__setattr__(self, "_forward_depth", depth + 1)
            try:
                return self.forward(*args, **kwargs)
            finally:
                object.__setattr__(self, "_forward_depth", depth)
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        # While forward runs, storing a computed activation on the module is allowed.
        object.__setattr__(self, "_forward_depth", self._forward_depth + 1)
        try:
            output = self.forward(*args, **kwargs)
            for hook in list(self._forward_hooks.values()):
                result = hook(self, args, output)
                if result is not None:
                    output = result
        finally:
            object.__setattr__(self, "_forward_depth", self._forward_depth - 1)
        return output

    # ------------------------------------------------------------------------ registration
    def _check_initialised(self, what: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {what} before Module.__init__() call; call super().__init__() "
                f"first in {type(self).__name__}.__init__"
            )

    def _check_name(self, name: Any, what: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{what} name should be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f'{what} name can\'t be empty or contain ".", got {name!r}')

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add ``param`` (or ``None``: a declared but absent weight, such as a missing bias)
        under ``name``."""
        self._check_initialised("parameters")
        self._check_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists on {type(self).__name__}")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign {type(param).__name__} object to parameter '{name}' "
                "(chainrule.nn.Parameter or None required); wrap it: nn.Parameter(tensor)"
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a tensor that is state but not a learnable weight (e.g. BatchNorm's running
        mean). Persistent buffers are saved in ``state_dict``; all move with ``to(dtype)``."""
        self._check_initialised("buffers")
        self._check_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists on {type(self).__name__}")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign {type(tensor).__name__} object to buffer '{name}' "
                "(chainrule.Tensor or None required)"
            )
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add ``module`` as a child named ``name`` (reachable as an attribute)."""
        self._check_initialised("child module")
        self._check_name(name, "module")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists on {type(self).__name__}")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._modules[name] = module

    register_module = add_module

    def _unregister(self, name: str) -> None:
        for table in (self.__dict__, self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        self._non_persistent_buffers.discard(name)

    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            self._check_initialised("parameters")
            self._unregister(name)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter '{name}' "
                    "(chainrule.nn.Parameter or None expected)"
                )
            params[name] = None
        elif isinstance(value, Module):
            self._check_initialised("child module")
            self._unregister(name)
            self._modules[name] = value
        elif params is not None and name in self._modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as child module '{name}' "
                    "(chainrule.nn.Module or None expected)"
                )
            self._modules[name] = None
        elif params is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign {type(value).__name__} as buffer '{name}' "
                    "(chainrule.Tensor or None expected)"
                )
            self._buffers[name] = value
        else:
            self._refuse_unregistered(name, value)
            object.__setattr__(self, name, value)

    def _refuse_unregistered(self, name: str, value: Any) -> None:
        """Raise where a plain attribute would silently hide weights from the optimizer."""
        owner = type(self).__name__
        if isinstance(value, Tensor) and value.requires_grad:
            computed_in_forward = value.grad_fn is not None and self.__dict__.get("_forward_depth", 0) > 0
            if not computed_in_forward:
                raise TypeError(
                    f"{owner}.{name}: assigning a plain Tensor that requires grad would not register "
                    f"it, so parameters() and state_dict() would miss it. Use "
                    f"self.{name} = nn.Parameter(tensor) for a learnable weight, "
                    f"self.register_buffer('{name}', tensor.detach()) for fixed state, or assign "
                    f"tensor.detach() to keep a computed value."
                )
        held = _registrables_in(value)
        if held and not self._all_registered(held):
            if isinstance(value, Mapping):
                wrappers = "nn.ModuleDict or nn.ParameterDict"
            else:
                wrappers = "nn.ModuleList, nn.ParameterList or nn.Sequential"
            raise TypeError(
                f"{owner}.{name}: assigning a plain {type(value).__name__} of Modules or Parameters "
                f"would not register them, so parameters() and state_dict() would miss them. Wrap it "
                f"in {wrappers}."
            )

    def _all_registered(self, items: list[Any]) -> bool:
        """True if every item is already reachable from this module, so a plain list of
        them (e.g. shortcuts to some registered layers) hides nothing."""
        known = {id(m) for m in self.modules()} | {id(p) for p in self.parameters()}
        return all(id(item) in known for item in items)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: registered names live in the tables below.
        if name not in _INTERNAL:
            for table_name in ("_parameters", "_buffers", "_modules"):
                table = self.__dict__.get(table_name)
                if table is not None and name in table:
                    return table[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        names = set(super().__dir__())
        names.update(self._parameters, self._buffers, self._modules)
        return sorted(name for name in names if not name[0].isdigit())

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        # A module pickled mid-forward, or by an older version, still gets a working call path.
        self.__dict__["_forward_depth"] = 0
        self.__dict__.setdefault("_forward_hooks", OrderedDict())
        self.__dict__.setdefault("_forward_pre_hooks", OrderedDict())

    # ------------------------------------------------------------------------- traversal
    def named_modules(self, memo: set[Module] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """This module and all below it, each once, as (dotted name, module); this one is ``""``."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if self in memo:
                return
            memo.add(self)
        yield prefix, self
        for name, child in self._modules.items():
            if child is None:
                continue
            child_prefix = f"{prefix}.{name}" if prefix else name
            yield from child.named_modules(memo, child_prefix, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[Module] = set()
        for name, child in self._modules.items():
            if child is not None and child not in seen:
                seen.add(child)
                yield name, child

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def _named_members(self, table_name: str, prefix: str, recurse: bool,
                       remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        if recurse:
            modules: Any = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
        else:
            modules = [(prefix, self)]
        seen: set[int] = set()
        for module_prefix, module in modules:
            for name, member in getattr(module, table_name).items():
                if member is None or (remove_duplicate and id(member) in seen):
                    continue
                seen.add(id(member))
                yield (f"{module_prefix}.{name}" if module_prefix else name), member

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs, each shared parameter once, in registration order.

        Example::

            >>> [n for n, _ in chainrule.nn.Sequential(chainrule.nn.Linear(2, 2)).named_parameters()]
            ['0.weight', '0.bias']
        """
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)  # type: ignore[misc]

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def get_submodule(self, target: str) -> Module:
        """The module at dotted path ``target`` (``""`` is this module)."""
        module = self
        walked = type(self).__name__
        for part in target.split(".") if target else []:
            child = module._modules.get(part)
            if not isinstance(child, Module):
                raise AttributeError(f"{walked} has no submodule `{part}` (looking up '{target}')")
            module, walked = child, f"{walked}.{part}"
        return module

    def get_parameter(self, target: str) -> Parameter:
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if name not in module._parameters:
            raise AttributeError(f"{type(module).__name__} has no parameter `{name}` (looking up '{target}')")
        return module._parameters[name]

    def get_buffer(self, target: str) -> Tensor:
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if name not in module._buffers:
            raise AttributeError(f"{type(module).__name__} has no buffer `{name}` (looking up '{target}')")
        return module._buffers[name]

    # ------------------------------------------------------------------------ state dicts
    def state_dict(self, destination: dict[str, Any] | None = None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict[str, Tensor]:
        """Every parameter and persistent buffer by dotted name, as PyTorch orders them (a
        module's own parameters, its buffers, then each child's). Values are detached tensors
        sharing the module's data unless ``keep_vars``.

        Example::

            >>> list(chainrule.nn.BatchNorm1d(3).state_dict())
            ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
        """
        if destination is None:
            destination = OrderedDict()
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buffer in self._buffers.items():
            if buffer is not None and name not in self._non_persistent_buffers:
                destination[prefix + name] = buffer if keep_vars else buffer.detach()
        for name, child in self._modules.items():
            if child is not None:
                child.state_dict(destination, prefix + name + ".", keep_vars)
        return destination  # type: ignore[return-value]

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> _IncompatibleKeys:
        """Copy values into this module's parameters and persistent buffers, keeping their
        dtype. Values may be chainrule tensors, PyTorch tensors or anything ``np.asarray``
        reads. Wrong shapes always raise; missing and unexpected keys raise when ``strict``
        and are returned as ``(missing_keys, unexpected_keys)`` otherwise. With ``assign``
        the tensors take the loaded arrays themselves (and their dtype) instead of copies.

        Example::

            >>> twin = chainrule.nn.Linear(3, 2)
            >>> twin.load_state_dict(chainrule.nn.Linear(3, 2).state_dict())
            <All keys matched successfully>
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"expected a dict-like state_dict, got {type(state_dict).__name__}")
        targets = self.state_dict(keep_vars=True)
        missing = [key for key in targets if key not in state_dict]
        unexpected = [key for key in state_dict if key not in targets]
        errors = []
        arrays = {}
        for key, target in targets.items():
            if key not in state_dict:
                continue
            array = _to_array(state_dict[key])
            if array.shape != target.shape:
                errors.append(
                    f"size mismatch for {key}: copying a param with shape {tuple(array.shape)} "
                    f"from checkpoint, the shape in current model is {tuple(target.shape)}."
                )
            arrays[key] = array
        if strict:
            if unexpected:
                errors.insert(0, f"Unexpected key(s) in state_dict: {_quoted(unexpected)}.")
            if missing:
                errors.insert(0, f"Missing key(s) in state_dict: {_quoted(missing)}.")
        if errors:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors)
            )
        with no_grad():
            for key, array in arrays.items():
                if assign:
                    targets[key].array = array
                else:
                    targets[key].copy_(array.astype(targets[key].dtype, copy=False))
        return _IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Module:
        """Set training mode here and below (Dropout drops, BatchNorm uses batch statistics)."""
        if not isinstance(mode, bool):
            raise ValueError(f"train(mode): mode is expected to be a bool, got {type(mode).__name__}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (same as ``train(False)``)."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's ``.grad`` (to None, or to zeros in place)."""
        for param in self.parameters():
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                param.grad = param.grad.detach()
                with no_grad():
                    param.grad.zero_()

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every child (recursively), then on this module; e.g. custom init."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ---------------------------------------------------------------------- dtype changes
    def _cast(self, convert: Callable[[np.ndarray], np.ndarray]) -> Module:
        """Replace each parameter's and buffer's array by ``convert(array)`` in place, so the
        Parameter objects (and an optimizer holding them) stay the same."""
        for module in self.modules():
            for tensor in itertools.chain(module._parameters.values(), module._buffers.values()):
                if tensor is None:
                    continue
                tensor.array = convert(tensor.array)
                if tensor.grad is not None:
                    tensor.grad.array = convert(tensor.grad.array)
        return self

    def _cast_floating(self, dtype: Any) -> Module:
        dtype = as_dtype(dtype)
        return self._cast(lambda a: a.astype(dtype, copy=False) if a.dtype.kind == "f" else a)

    def float(self) -> Module:
        return self._cast_floating(np.float32)

    def double(self) -> Module:
        return self._cast_floating(np.float64)

    def half(self) -> Module:
        return self._cast_floating(np.float16)

    def type(self, dst_type: Any) -> Module:
        """Cast every parameter and buffer (floating or not) to ``dst_type``."""
        dtype = as_dtype(dst_type)
        return self._cast(lambda a: a.astype(dtype, copy=False))

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """``to(dtype)``, ``to("cpu")``, ``to(tensor)``: floating parameters and buffers take
        the dtype; integer ones (e.g. ``num_batches_tracked``) keep theirs."""
        dtype, _ = parse_to_arguments(args, kwargs)
        if dtype is None:
            return self
        dtype = as_dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dtype}")
        return self._cast_floating(dtype)

    def cpu(self) -> Module:
        return self

    def cuda(self, device: Any = None) -> Module:
        """Always an error: chainrule has no CUDA device (see ``chainrule.cuda.is_available``)."""
        check_cpu("cuda" if device is None else device)
        return self

    def share_memory(self) -> Module:
        return self

    # --------------------------------------------------------------------------- hooks
    def register_forward_hook(self, hook: Callable[[Module, tuple[Any, ...], Any], Any]) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after each ``forward``; a non-None result
        replaces the output. Returns a handle whose ``remove()`` unregisters it.

        Example::

            >>> layer, outputs = nn.Linear(3, 2), []
            >>> handle = layer.register_forward_hook(lambda m, args, out: outputs.append(out))
            >>> _ = layer(chainrule.ones(4, 3))
            >>> handle.remove()
            >>> _ = layer(chainrule.ones(4, 3))
            >>> [output.shape for output in outputs]                # the first call only
            [(4, 2)]
        """
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def register_forward_pre_hook(self, hook: Callable[[Module, tuple[Any, ...]], Any]) -> RemovableHandle:
        """Call ``hook(module, args)`` before each ``forward``; a non-None result replaces
        the positional arguments (a tuple, or a single value)."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    # --------------------------------------------------------------------------- display
    def extra_repr(self) -> str:
        """The text shown inside this module's parentheses; layers override it."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        children = [f"({name}): {_indent(repr(child))}" for name, child in self._modules.items()]
        if not children and len(lines) <= 1:
            return f"{self._get_name()}({extra})"
        body = "\n".join("  " + line for line in lines + children)
        return f"{self._get_name()}(\n{body}\n)"


def _quoted(keys: list[str]) -> str:
    return ", ".join(f'"{key}"' for key in keys)


def _indent(text: str) -> str:
    """Indent every line of ``text`` but the first by two spaces (for nesting reprs)."""
    return text.replace("\n", "\n  ")
