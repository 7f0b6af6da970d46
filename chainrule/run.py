"""``chainrule run script.py [args]``: run an unmodified PyTorch script on chainrule.

For the one process that runs the script, an import hook answers ``import torch`` (and
``import torch.nn``, ``from torch.utils.data import DataLoader``...) with chainrule's modules of
the same path, so no line of the script changes. What chainrule lacks fails with a message that
names it: ``chainrule has no counterpart of torch.fft yet``, both for imports and for attributes
(``torch.fft.rfft``). Nothing outside the process is changed; an installed PyTorch is hidden
from the script, not touched.

Also ``python -m chainrule.run script.py [args]``. From Python:

>>> from chainrule.run import torch_alias
>>> with torch_alias():
...     import torch            # chainrule, for this block
...     print(torch.Tensor is chainrule.Tensor, torch.nn.Linear.__module__)
True chainrule.nn.modules.linear
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import runpy
import sys
import traceback
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

# PyTorch module paths whose chainrule counterpart lives under another path.
RENAMED = {
    # User-defined Functions with PyTorch's contract (chainrule.autograd.function holds the
    # array-level base class of chainrule's own ops).
    "torch.autograd.function": "chainrule.autograd.custom_function",
}


class MissingCounterpart(Exception):
    """A PyTorch module or name that chainrule does not have (yet)."""


class MissingModuleError(MissingCounterpart, ModuleNotFoundError):
    """``import torch.fft``: raised where Python expects a ModuleNotFoundError."""


class MissingAttributeError(MissingCounterpart, AttributeError):
    """``torch.fft``: raised where Python expects an AttributeError (so ``hasattr`` works)."""


def _message(torch_name: str) -> str:
    return f"chainrule has no counterpart of {torch_name} yet"


def chainrule_name(torch_name: str) -> str:
    """``torch.nn.functional`` -> ``chainrule.nn.functional`` (with the RENAMED exceptions)."""
    if torch_name in RENAMED:
        return RENAMED[torch_name]
    return "chainrule" + torch_name[len("torch") :]


class TorchModule(types.ModuleType):
    """What the script sees as ``torch`` or ``torch.<sub>``: a view of a chainrule module.
    Attribute reads go to the chainrule module (submodules come back as views too); a name
    chainrule lacks raises :class:`MissingAttributeError`; assignments such as
    ``torch.backends.cudnn.benchmark = True`` reach the chainrule module."""

    def __init__(self, torch_name: str, target: types.ModuleType) -> None:
        super().__init__(torch_name)
        object.__setattr__(self, "_target", target)

    def __getattr__(self, attribute: str) -> Any:
        target = object.__getattribute__(self, "_target")
        torch_name = f"{self.__name__}.{attribute}"
        try:
            if torch_name in RENAMED:
                raise AttributeError(torch_name)  # the counterpart lives elsewhere
            value = getattr(target, attribute)
        except AttributeError:
            if attribute.startswith("__"):
                raise
            try:  # a submodule not imported yet, e.g. torch.utils.data
                value = importlib.import_module(chainrule_name(torch_name))
            except ImportError:
                raise MissingAttributeError(_message(torch_name), name=attribute, obj=self) from None
        if isinstance(value, types.ModuleType) and value.__name__.startswith("chainrule"):
            return view_of(torch_name, value)
        return value

    def __setattr__(self, attribute: str, value: Any) -> None:
        # The import system's own bookkeeping stays here, and so does the submodule it binds
        # after `import torch.autograd.function`: forwarded, it would replace the chainrule
        # module of that name (chainrule.autograd.function, the library's own op base class)
        # with the view of another one, for the rest of the process.
        if attribute.startswith("__") or isinstance(value, TorchModule):
            object.__setattr__(self, attribute, value)
        else:
            setattr(object.__getattribute__(self, "_target"), attribute, value)

    def __dir__(self) -> list[str]:
        return dir(object.__getattribute__(self, "_target"))


_VIEWS: dict[str, TorchModule] = {}


def view_of(torch_name: str, target: types.ModuleType) -> TorchModule:
    view = _VIEWS.get(torch_name)
    if view is None or object.__getattribute__(view, "_target") is not target:
        view = _VIEWS[torch_name] = TorchModule(torch_name, target)
    return view


class _TorchLoader(importlib.abc.Loader):
    def __init__(self, view: TorchModule) -> None:
        self.view = view

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> TorchModule:
        return self.view

    def exec_module(self, module: types.ModuleType) -> None:
        return None  # the chainrule module it shows is imported already


class TorchFinder(importlib.abc.MetaPathFinder):
    """Finds ``torch`` and ``torch.*`` among chainrule's modules."""

    def find_spec(
        self, fullname: str, path: Any = None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "torch" and not fullname.startswith("torch."):
            return None
        name = chainrule_name(fullname)
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name is not None and name.startswith(error.name):
                raise MissingModuleError(_message(fullname), name=fullname) from None
            raise  # a chainrule module failed to import one of its own dependencies
        view = view_of(fullname, module)
        spec = importlib.util.spec_from_loader(fullname, _TorchLoader(view), is_package=True)
        assert spec is not None
        return spec


@contextlib.contextmanager
def torch_alias() -> Iterator[None]:
    """Within the block, ``import torch`` (and its submodules) imports chainrule; afterwards
    the previous ``torch`` modules, if any, are back."""
    saved = {
        name: module for name, module in sys.modules.items() if name == "torch" or name.startswith("torch.")
    }
    for name in saved:
        del sys.modules[name]
    finder = TorchFinder()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for name in [n for n in sys.modules if n == "torch" or n.startswith("torch.")]:
            del sys.modules[name]
        sys.modules.update(saved)


def run_script(script: str | Path, args: Sequence[str] = ()) -> None:
    """Run ``script`` as ``__main__`` with ``sys.argv = [script, *args]`` and torch aliased."""
    path = Path(script)
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [str(path), *args]
    sys.path.insert(0, str(path.resolve().parent))  # as `python script.py` does
    try:
        with torch_alias():
            runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path


def main(argv: Sequence[str] | None = None) -> int:
    """``chainrule run script.py [args]``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(
            "usage: chainrule run script.py [args ...]  (runs a PyTorch script on chainrule)", file=sys.stderr
        )
        return 2 if not argv else 0
    script = Path(argv[0])
    if not script.is_file():
        print(f"chainrule run: error: no such script: {script}", file=sys.stderr)
        return 2
    try:
        run_script(script, argv[1:])
    except MissingCounterpart as error:
        print(f"chainrule run: error: {_where(error, script)}{error}", file=sys.stderr)
        return 1
    except SystemExit as exit_request:
        code = exit_request.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def _where(error: BaseException, script: Path) -> str:
    """``script.py line 12: `` for the deepest frame of the script in the traceback."""
    resolved = str(script.resolve())
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == resolved]
    return f"{script} line {frames[-1].lineno}: " if frames else ""


if __name__ == "__main__":
    sys.exit(main())
