"""The package's layers, checked over every import in its source.

Each module belongs to a group and each group to a layer; a module may import its own group and
any group on a lower layer, never one beside or above it. Every ``import`` and ``from ...
import`` counts, at the top of a file, inside a function or under ``TYPE_CHECKING``, with one
exception by rule, not by file: the imports inside a module-level ``__getattr__`` (PEP 562).
Those keep a public name reachable where users import it after it moved up a layer (e.g.
``chainrule.diagnostics.OverfittingMonitor``, a trainer callback), and load nothing until the
name is used.

Why the groups sit where they do (docs/architecture.md draws it):

- ``base`` holds plain Python and NumPy every layer may use: the error types, safe file
  writing, dtypes and the window geometry of convolution and pooling.
- ``kernels`` (NumPy/numba array code) and ``backends`` know no Tensor: the engine calls them.
- ``distributed`` (collectives over tensors) sits under ``nn`` and ``utils.data``, whose
  DistributedDataParallel and DistributedSampler are built on it.
- ``serialization``, ``onnx``, ``compiler``, ``viz`` and ``utils.checkpoint`` take a model (an
  ``nn.Module``) and save, export, compile, draw or checkpoint it: tools over modules, used by
  the workflow but needing none of it.
- ``learning`` (learning rules) changes how a model's gradients are made, like the insight
  packages it takes a model and never the trainer; the trainer wires rules in.
- The facade ``chainrule`` (and ``chainrule.utils``) may import anything: re-exporting is its
  job. Importing it, ``import chainrule``, loads everything it re-exports, so only the
  workflow and the command line may.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "chainrule"

# Layers from the bottom; each holds groups, each group the modules (and their submodules) in it.
LAYERS: list[dict[str, tuple[str, ...]]] = [
    {"base": ("errors", "files", "window", "dtypes")},
    {"kernels": ("kernels", "backends")},
    {
        "engine": (
            "tensor",
            "autograd",
            "ops",
            "grad_mode",
            "devices",
            "promotion",
            "torch_functions",
            "printing",
            "random",
            "creation",
            "accelerator",
            "cuda",
            "linalg",
            "array_functions",
            "distributions",
        )
    },
    {"distributed": ("distributed",)},
    {"nn": ("nn",), "optim": ("optim",), "utils.data": ("utils.data",)},
    {
        "datasets": ("datasets",),
        "serialization": ("serialization", "state_format", "pytorch_checkpoint"),
        "onnx": ("onnx",),
        "compiler": ("compiler",),
        "viz": ("viz",),
        "utils.checkpoint": ("utils.checkpoint",),
        "utils.tensorboard": ("utils.tensorboard",),
    },
    {
        "diagnostics": ("diagnostics",),
        "interpret": ("interpret",),
        "fairness": ("fairness",),
        "data checks": ("data",),
        "learning": ("learning",),
    },
    {"train": ("train",)},
    {"command line": ("cli", "run", "__main__")},
]
FACADE = ("chainrule", "chainrule.utils")
# `import chainrule` is allowed from this layer up (train and the command line).
FACADE_IMPORTABLE_FROM = 7



def group_of(module: str) -> tuple[str, float]:
    """The group and layer of a dotted module name under ``chainrule``."""
    if module in FACADE:
        return "facade", FACADE_IMPORTABLE_FROM - 0.5
    relative = module.removeprefix("chainrule.")
    best: tuple[str, int, int] | None = None
    for layer, groups in enumerate(LAYERS):
        for group, prefixes in groups.items():
            for prefix in prefixes:
                if relative == prefix or relative.startswith(prefix + "."):
                    if best is None or len(prefix) > best[2]:
                        best = (group, layer, len(prefix))
    if best is None:
        raise AssertionError(
            f"chainrule.{relative} is in no layer: add it to LAYERS in tests/test_layering.py"
        )
    return best[0], best[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(tree: ast.Module, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, module) of every chainrule import, except those inside a module-level __getattr__."""
    lazy = {
        id(node)
        for top in tree.body
        if isinstance(top, ast.FunctionDef) and top.name == "__getattr__"
        for node in ast.walk(top)
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in lazy:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            if base in FACADE:  # `from chainrule import nn` imports chainrule.nn
                found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, base))
    return [(line, name) for line, name in found if name == "chainrule" or name.startswith("chainrule.")]


def parsed_modules() -> Iterator[tuple[Path, str, str, ast.Module]]:
    """(path, dotted module name, path as shown in messages, syntax tree) of every module."""
    for path in sorted(PACKAGE.rglob("*.py")):
        source = f"chainrule/{path.relative_to(PACKAGE).as_posix()}"
        yield path, module_name(path), source, ast.parse(path.read_text(encoding="utf-8"), filename=source)


def forbidden_imports() -> list[str]:
    problems = []
    for path, module, source, tree in parsed_modules():
        if module in FACADE:
            continue  # the facade may import anything
        group, layer = group_of(module)
        for line, target in imported_modules(tree, module, path.name == "__init__.py"):
            target_group, target_layer = group_of(target)
            if target_group == group or target_layer < layer:
                continue
            where = "above" if target_layer > layer else "beside"
            problems.append(
                f"{source}, line {line}: {module} ({group}) imports {target} ({target_group}), which "
                f"sits {where} it; move the code to the layer it belongs to, or pass what it needs in "
                "as an argument"
            )
    return problems


def test_every_import_respects_the_layers():
    problems = forbidden_imports()
    assert not problems, "\n".join(problems)


def test_the_check_names_a_planted_upward_import(tmp_path, monkeypatch):
    """An insight package importing the trainer, even inside a function, is refused with the
    file, line and edge; the same import in a module-level __getattr__ is a lazy re-export."""
    package = tmp_path / "chainrule"
    (package / "diagnostics").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "diagnostics" / "__init__.py").write_text(
        "def explain(model):\n    from chainrule.train.trainer import Trainer\n    return Trainer\n\n\n"
        "def __getattr__(name):\n    from chainrule.train import callbacks\n    return callbacks\n"
    )
    monkeypatch.setattr(f"{__name__}.PACKAGE", package)
    assert forbidden_imports() == [
        "chainrule/diagnostics/__init__.py, line 2: chainrule.diagnostics (diagnostics) imports "
        "chainrule.train.trainer (train), which sits above it; move the code to the layer it "
        "belongs to, or pass what it needs in as an argument"
    ]


def test_importing_the_facade_below_the_workflow_is_refused(tmp_path, monkeypatch):
    package = tmp_path / "chainrule"
    (package / "fairness").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "fairness" / "audit.py").write_text("import numpy\n\n\ndef f():\n    import chainrule\n")
    monkeypatch.setattr(f"{__name__}.PACKAGE", package)
    [problem] = forbidden_imports()
    assert problem.startswith(
        "chainrule/fairness/audit.py, line 5: chainrule.fairness.audit (fairness) imports chainrule (facade)"
    )


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports() -> list[str]:
    """Imports of a leading-underscore name, or from a leading-underscore module, of another
    package: what one package hands another is its public API, so a rename inside a package
    stays inside it."""
    problems = []
    for _, module, source, tree in parsed_modules():
        home = module.split(".")[:2]
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or node.level:
                continue
            if not (node.module or "").startswith("chainrule."):
                continue
            target = node.module.split(".")
            if target[:2] == home:
                continue
            private = [name for name in (alias.name for alias in node.names) if _is_private(name)]
            if any(_is_private(part) for part in target[1:]) or private:
                names = ", ".join(private) or "its names"
                problems.append(
                    f"{source}, line {node.lineno}: {module} imports {names} from {node.module}, private to "
                    "another package; give it a public name there"
                )
    return problems


def test_no_package_imports_another_packages_private_names():
    problems = private_imports()
    assert not problems, "\n".join(problems)


def test_the_private_name_check_names_a_planted_import(tmp_path, monkeypatch):
    package = tmp_path / "chainrule"
    (package / "compiler").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "compiler" / "__init__.py").write_text(
        "from chainrule.autograd.engine import _owned, run_backward\n"
        "from chainrule.compiler._record import _x\n"
    )
    monkeypatch.setattr(f"{__name__}.PACKAGE", package)
    assert private_imports() == [
        "chainrule/compiler/__init__.py, line 1: chainrule.compiler imports _owned from "
        "chainrule.autograd.engine, private to another package; give it a public name there"
    ]
