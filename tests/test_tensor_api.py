"""Tensor's statically declared API (the ``if TYPE_CHECKING:`` block in chainrule/tensor.py's
class body) and the methods the op modules attach at import agree: every attached method is
declared, every declaration exists at runtime, with the same parameter names in the same order."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import chainrule  # noqa: F401 - importing chainrule attaches every op module's methods
from chainrule.tensor import Tensor

TENSOR_SOURCE = Path(__file__).resolve().parents[1] / "chainrule" / "tensor.py"


def _is_type_checking_block(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _parameters(function: ast.FunctionDef) -> list[str]:
    arguments = function.args
    names = [a.arg for a in (*arguments.posonlyargs, *arguments.args)]
    if arguments.vararg is not None:
        names.append("*" + arguments.vararg.arg)
    names += [a.arg for a in arguments.kwonlyargs]
    if arguments.kwarg is not None:
        names.append("**" + arguments.kwarg.arg)
    return names[1:]  # without self


def declared_and_defined(source: str) -> tuple[dict[str, list[str]], set[str]]:
    """(declared methods with their parameter names, names the class body itself defines)."""
    tree = ast.parse(source)
    (tensor_class,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Tensor"]
    declared: dict[str, list[str]] = {}
    defined: set[str] = set()
    for node in tensor_class.body:
        if _is_type_checking_block(node):
            assert isinstance(node, ast.If)
            for declaration in node.body:
                assert isinstance(declaration, ast.FunctionDef), ast.dump(declaration)
                declared[declaration.name] = _parameters(declaration)
        elif isinstance(node, ast.FunctionDef):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return declared, defined


def _runtime_parameters(method: object) -> list[str]:
    names = []
    for parameter in list(inspect.signature(method).parameters.values())[1:]:  # type: ignore[arg-type]
        prefix = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}
        names.append(prefix.get(parameter.kind, "") + parameter.name)
    return names


def disagreements(source: str) -> list[str]:
    declared, defined = declared_and_defined(source)
    class_attributes = {
        "__module__",
        "__dict__",
        "__doc__",
        "__weakref__",
        "__annotations__",
        *Tensor.__slots__,
    }
    attached = {name for name in vars(Tensor) if name not in defined and name not in class_attributes}
    problems = [f"{name}: attached at import but not declared" for name in sorted(attached - set(declared))]
    problems += [
        f"{name}: declared but not on Tensor at runtime" for name in sorted(set(declared) - attached)
    ]
    for name in sorted(attached & set(declared)):
        runtime = _runtime_parameters(vars(Tensor)[name])
        if runtime != declared[name]:
            problems.append(f"{name}: declared with parameters {declared[name]}, attached with {runtime}")
    return problems


def test_declared_methods_are_the_attached_methods() -> None:
    assert disagreements(TENSOR_SOURCE.read_text()) == []


def test_the_check_catches_a_missing_a_stray_and_a_mismatched_declaration() -> None:
    source = TENSOR_SOURCE.read_text()
    missing = source.replace("        def exp(self) -> Tensor: ...\n", "", 1)
    stray = source.replace(
        "        def exp(self) -> Tensor: ...\n",
        "        def exp(self) -> Tensor: ...\n        def expo(self) -> Tensor: ...\n",
        1,
    )
    renamed = source.replace("def transpose(self, dim0:", "def transpose(self, first:", 1)
    assert missing != source and stray != source and renamed != source
    assert disagreements(missing) == ["exp: attached at import but not declared"]
    assert disagreements(stray) == ["expo: declared but not on Tensor at runtime"]
    assert disagreements(renamed) == [
        "transpose: declared with parameters ['first', 'dim1'], attached with ['dim0', 'dim1']"
    ]
