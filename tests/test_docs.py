"""Docs are tests: every code block of the Markdown docs and every docstring example in chainrule
runs here, and the output each one shows is checked.

Markdown (README.md and every other ``*.md`` at the top of the repository and under docs/), one
file at a time, in a fresh temporary folder:

- ```` ```python ```` blocks run in order in one namespace per file, so a block may use the names
  of the blocks before it.
- An untagged (or ```` ```text ````) block right after a ``python`` block is that block's output:
  what it printed (and, if it raised, ``ExceptionName: message``) must match it, with doctest's
  ``ELLIPSIS`` (``...`` stands for any text) and ``NORMALIZE_WHITESPACE``.
- ```` ```bash ```` / ```` ```console ```` blocks: every command runs in the shell and must exit 0.
  In a transcript (commands written ``$ command``) the lines after a command are its output and
  are checked instead. Only ``chainrule ...`` and ``python -m chainrule ...`` commands are run.
- ```` ```toml ```` blocks are read as ``chainrule train`` config files and validated.
- A block that cannot run as written (it installs packages, needs the reader's own files, takes
  minutes, or shows output that changes from run to run) carries the line
  ``<!-- fragment: why it does not run -->`` just before its opening fence, and is left out and
  counted. Any other block, or a block of another language, fails the test until it runs or is
  marked.

Docstrings: every module under chainrule (private ones too) is walked with
``doctest.DocTestFinder``, so a new example is picked up without being listed here. Each docstring's
``>>>`` examples run with the module's globals plus ``np``, ``chainrule``, ``nn`` (chainrule.nn),
``F`` (chainrule.nn.functional) and ``optim``, seeded (chainrule, NumPy, random: 0), in a temporary
folder, with ``ELLIPSIS`` and ``NORMALIZE_WHITESPACE``. A ``::`` literal block that is valid Python
is an example written so that it never runs: it must be written as ``>>>`` lines instead (formulas,
command lines and layouts, which are not Python, stay literal blocks).
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import doctest
import importlib
import importlib.util
import io
import os
import pkgutil
import random
import re
import shlex
import subprocess
import sys
import textwrap
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule.autograd.function import OP_REGISTRY

REPO = Path(__file__).resolve().parent.parent
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*?)[ \t]*$")
FRAGMENT = re.compile(r"^\s*<!--\s*fragment:\s*(?P<reason>.*?)\s*-->\s*$")
OUTPUT_LANGUAGES = {"", "text"}
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
# chainrule itself, and printf to write a small input file in the block's temporary folder.
RUNNABLE_COMMAND = re.compile(r"^(chainrule|python -m chainrule|printf)(\s|$)")
COMMAND_TIMEOUT = 300


# --------------------------------------------------------------------------------- Markdown
@dataclasses.dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    source: str
    fragment_reason: str | None
    follows_a_block: bool  # only blank lines since the previous block's closing fence

    @property
    def where(self) -> str:
        path = self.path.relative_to(REPO) if self.path.is_relative_to(REPO) else self.path
        return f"{path}:{self.line}"


def markdown_files() -> list[Path]:
    return sorted([*REPO.glob("*.md"), *(REPO / "docs").rglob("*.md")])


def parse_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, indented ones (inside list items) included."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    index = 0
    previous_end = None
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        if end == len(lines):
            raise AssertionError(f"{path}:{index + 1}: code block never closed")
        body = [
            line[len(indent) :] if line.startswith(indent) else line.lstrip()
            for line in lines[index + 1 : end]
        ]
        marker = FRAGMENT.match(lines[index - 1]) if index > 0 else None
        language = opening["info"].split(maxsplit=1)[0].lower() if opening["info"] else ""
        follows = previous_end is not None and not any(
            line.strip() for line in lines[previous_end + 1 : index]
        )
        blocks.append(
            Block(
                path,
                index + 1,
                language,
                "\n".join(body) + "\n",
                marker["reason"] if marker else None,
                follows,
            )
        )
        previous_end = end
        index = end + 1
    return blocks


def _check_output(expected: str, got: str, block: Block, what: str) -> None:
    checker = doctest.OutputChecker()
    if not checker.check_output(expected, got, FLAGS):
        example = doctest.Example("", expected)
        raise AssertionError(
            f"{block.where}: {what} differs from the output the docs show\n"
            + checker.output_difference(example, got, FLAGS)
        )


def _run_python(block: Block, namespace: dict[str, Any]) -> tuple[str, BaseException | None]:
    """Run one block in the file's namespace; returns what it printed and what it raised."""
    stdout = io.StringIO()
    try:
        # Named example.py: tracebacks and anomaly messages then read as they would for a reader
        # who saved the block in a file.
        code = compile(block.source, "example.py", "exec")
        with contextlib.redirect_stdout(stdout):
            exec(code, namespace)  # noqa: S102 - the repository's own documentation
    except Exception as error:  # noqa: BLE001 - a shown output may be the error
        return stdout.getvalue(), error
    return stdout.getvalue(), None


def _shell_commands(block: Block) -> list[tuple[str, str | None]]:
    """(command, expected output or None) pairs of a bash/console block."""
    lines = [line for line in block.source.splitlines() if line.strip()]
    if not any(line.startswith("$ ") for line in lines):
        return [(line, None) for line in lines if not line.lstrip().startswith("#")]
    commands: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.startswith("$ "):
            commands.append((line[2:], []))
        elif commands:
            commands[-1][1].append(line)
        else:
            raise AssertionError(f"{block.where}: a transcript starts with output, not a `$ command`")
    return [(command, "\n".join(output) + "\n" if output else None) for command, output in commands]


def _run_shell(block: Block, cwd: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "MPLBACKEND": "Agg",
    }
    for command, expected in _shell_commands(block):
        if not RUNNABLE_COMMAND.match(command):
            raise AssertionError(
                f"{block.where}: `{command}` is not a chainrule command, so the docs "
                "test does not run it; mark the block <!-- fragment: why -->"
            )
        if command.startswith("python "):
            command = shlex.join([sys.executable]) + command[len("python") :]
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if expected is not None:
            _check_output(expected, result.stdout + result.stderr, block, f"`{command}`")
        elif result.returncode != 0:
            raise AssertionError(
                f"{block.where}: `{command}` exited with status {result.returncode}:\n"
                f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )


def _check_toml(block: Block, cwd: Path) -> None:
    from chainrule.train.run import ConfigError, load_config

    path = cwd / f"block-{block.line}.toml"
    path.write_text(block.source, encoding="utf-8")
    try:
        load_config(path)
    except ConfigError as error:
        raise AssertionError(f"{block.where}: not a valid chainrule config: {error}") from None


@dataclasses.dataclass
class MarkdownCounts:
    run: int = 0
    outputs_checked: int = 0
    excluded: int = 0


def run_markdown(path: Path, cwd: Path) -> MarkdownCounts:
    """Run every block of one Markdown file in ``cwd``; raises AssertionError at the first that fails."""
    counts = MarkdownCounts()
    namespace: dict[str, Any] = {"__name__": "__main__"}
    pending: tuple[Block, str, BaseException | None] | None = None  # the last python block's results
    for block in parse_blocks(path):
        if block.fragment_reason is not None:
            if not block.fragment_reason:
                raise AssertionError(f"{block.where}: a fragment marker needs its reason")
            counts.excluded += 1
            _raise_unshown(pending)
            pending = None
            continue
        if block.language in OUTPUT_LANGUAGES and pending is not None and block.follows_a_block:
            source_block, printed, error = pending
            got = printed + (f"{type(error).__name__}: {error}\n" if error is not None else "")
            _check_output(block.source, got, source_block, "what the block printed")
            counts.outputs_checked += 1
            pending = None
            continue
        _raise_unshown(pending)
        pending = None
        if block.language == "python":
            chainrule.manual_seed(0)
            printed, error = _run_python(block, namespace)
            pending = (block, printed, error)
        elif block.language in SHELL_LANGUAGES:
            _run_shell(block, cwd)
        elif block.language == "toml":
            _check_toml(block, cwd)
        else:
            kind = f"a block tagged {block.language!r}" if block.language else "an untagged block"
            raise AssertionError(
                f"{block.where}: {kind} the docs test cannot run "
                "(python, bash, toml, or output right after a python block); "
                "mark it <!-- fragment: why -->"
            )
        counts.run += 1
    _raise_unshown(pending)
    return counts


def _raise_unshown(pending: tuple[Block, str, BaseException | None] | None) -> None:
    """A python block whose error is not its shown output fails, with its traceback."""
    if pending is not None and pending[2] is not None:
        block, _, error = pending
        trace = "".join(traceback.format_exception(error))
        raise AssertionError(
            f"{block.where}: the block raised (line numbers count from the block's first line)\n{trace}"
        )


@contextlib.contextmanager
def _in_folder(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


@pytest.mark.parametrize("path", markdown_files(), ids=lambda path: str(path.relative_to(REPO)))
def test_markdown_blocks_run(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    with _in_folder(tmp_path), _skip_if_an_optional_package_is_missing():
        run_markdown(path, tmp_path)


def test_every_markdown_block_is_run_or_marked():
    blocks = [block for path in markdown_files() for block in parse_blocks(path)]
    assert blocks, "no code blocks found: is the Markdown discovery broken?"
    excluded = [block for block in blocks if block.fragment_reason is not None]
    assert all(block.fragment_reason for block in excluded), "a fragment marker without its reason"
    assert len(excluded) < len(blocks) / 2, "most blocks are marked fragments: the docs no longer run"


# ------------------------------------------------------------------------------- Docstrings
def chainrule_modules() -> list[Any]:
    names = [info.name for info in pkgutil.walk_packages(chainrule.__path__, "chainrule.")]
    # __main__ runs the command line when imported; its docstring (if any) is the CLI's.
    return [chainrule, *(importlib.import_module(name) for name in names if not name.endswith(".__main__"))]


def docstring_tests() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    found: dict[tuple[str, int], doctest.DocTest] = {}
    for module in chainrule_modules():
        for test in finder.find(module):
            # Objects re-exported by a package are found once per module that holds them.
            if test.examples and test.filename and test.filename.startswith(str(REPO / "chainrule")):
                found.setdefault((test.filename, test.lineno), test)
    return sorted(found.values(), key=lambda test: test.name)


DOCSTRING_TESTS = docstring_tests()
# The optional extras (pyproject.toml) and the module each installs.
OPTIONAL_MODULES = {
    "scikit-learn": "sklearn",
    "mnist1d": "mnist1d",
    "matplotlib": "matplotlib",
    "tensorboardX": "tensorboardX",
    "numba": "numba",
    "mpi4py": "mpi4py",
}


@contextlib.contextmanager
def _skip_if_an_optional_package_is_missing() -> Iterator[None]:
    """A failure that names an optional package which is not installed is a skip, not a failure."""
    try:
        yield
    except AssertionError as failure:
        missing = [
            package
            for package, module in OPTIONAL_MODULES.items()
            if importlib.util.find_spec(module) is None
            and (module in str(failure) or package in str(failure))
        ]
        if missing:
            pytest.skip(f"needs the optional package {missing[0]}")
        raise


DOCTEST_GLOBALS = {
    "np": np,
    "chainrule": chainrule,
    "nn": chainrule.nn,
    "F": chainrule.nn.functional,
    "optim": chainrule.optim,
}


def run_docstring_test(test: doctest.DocTest) -> doctest.TestResults:
    """Run one docstring's examples, seeded, with the documented globals; returns (failed, attempted),
    and raises AssertionError with doctest's report when an example fails."""
    test.globs = {**DOCTEST_GLOBALS, **test.globs}
    chainrule.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = io.StringIO()
    # An example that defines an op (autograd.function's) registers it; every chainrule module is
    # imported already, so any new entry is the example's, and is dropped again.
    ops_before = set(OP_REGISTRY)
    try:
        results = runner.run(test, out=report.write, clear_globs=True)
    finally:
        for name in set(OP_REGISTRY) - ops_before:
            del OP_REGISTRY[name]
    if results.failed:
        raise AssertionError(report.getvalue())
    return results


@pytest.mark.parametrize("test", DOCSTRING_TESTS, ids=lambda test: test.name)
def test_docstring_examples(test, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    with _skip_if_an_optional_package_is_missing():
        run_docstring_test(test)


def literal_blocks(docstring: str) -> Iterator[tuple[int, str]]:
    """(line within the docstring, dedented text) of each reST ``::`` literal block."""
    lines = docstring.expandtabs().splitlines()
    index = 0
    while index < len(lines):
        if not lines[index].rstrip().endswith("::"):
            index += 1
            continue
        indent = len(lines[index]) - len(lines[index].lstrip())
        end = index + 1
        while end < len(lines) and (
            not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent
        ):
            end += 1
        yield index + 1, textwrap.dedent("\n".join(lines[index + 1 : end])).strip("\n")
        index = end


def test_no_python_example_hides_in_a_literal_block():
    finder = doctest.DocTestFinder(exclude_empty=False)
    hidden = set()
    for module in chainrule_modules():
        for test in finder.find(module):
            if not test.docstring or not (test.filename or "").startswith(str(REPO / "chainrule")):
                continue
            for line, text in literal_blocks(test.docstring):
                if text and not text.startswith(">>>") and _is_python(text):
                    hidden.add(f"{test.name} (docstring line {line}):\n{textwrap.indent(text, '    ')}")
    assert not hidden, "Python in a :: literal block never runs; write it as >>> examples:\n" + "\n".join(
        sorted(hidden)
    )


def _is_python(text: str) -> bool:
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    return True


SKIP_WITH_REASON = re.compile(r"#\s*\S[^#\n]*#\s*doctest:[^\n]*\+SKIP")


def test_every_skipped_docstring_example_says_why():
    """``# doctest: +SKIP`` is the docstrings' fragment marker: the first skipped example of a
    docstring carries its reason, ``>>> data = mnist()  # downloads 11 MB  # doctest: +SKIP``."""
    unexplained = []
    for test in DOCSTRING_TESTS:
        skipped = [example for example in test.examples if example.options.get(doctest.SKIP)]
        if skipped and not SKIP_WITH_REASON.search(skipped[0].source):
            unexplained.append(f"{test.name}: {skipped[0].source.strip()}")
    assert not unexplained, "skipped examples without a reason comment:\n" + "\n".join(unexplained)
    all_examples = [example for test in DOCSTRING_TESTS for example in test.examples]
    assert sum(bool(example.options.get(doctest.SKIP)) for example in all_examples) < len(all_examples) / 10


def test_docstring_examples_are_found():
    modules = {test.name.split(".")[1] for test in DOCSTRING_TESTS if "." in test.name}
    # The finder reaches the engine, layers, optimizers, data and training alike.
    assert {"ops", "nn", "optim", "utils", "train"} <= modules
    assert sum(len(test.examples) for test in DOCSTRING_TESTS) > 300


# ------------------------------------------------------------------------ the checker itself
def test_harness_fails_on_a_wrong_output_and_an_undefined_name(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```python\nprint(1 + 1)\n```\n\n```\n3\n```\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="differs from the output the docs show"):
        run_markdown(page, tmp_path)
    page.write_text("```python\nprint(undefined_name)\n```\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="NameError"):
        run_markdown(page, tmp_path)
    page.write_text(
        "<!-- fragment: shown only -->\n```python\nprint(undefined_name)\n```\n\n```js\nx\n```\n",
        encoding="utf-8",
    )
    with pytest.raises(AssertionError, match="a block tagged 'js' the docs test cannot run"):
        run_markdown(page, tmp_path)


def test_harness_fails_on_a_wrong_docstring_example():
    def example() -> None:
        """
        >>> chainrule.ones(2).sum().item()
        3.0
        """

    (test,) = doctest.DocTestFinder().find(example, "example", globs={})
    with pytest.raises(AssertionError, match="Expected:\n    3.0\nGot:\n    2.0"):
        run_docstring_test(test)


def test_harness_finds_python_in_literal_blocks():
    docstring = "Example::\n\n    model = nn.Linear(2, 3)\n\nThe update::\n\n    θ ← θ − lr g\n"
    texts = [text for _, text in literal_blocks(docstring)]
    assert texts == ["model = nn.Linear(2, 3)", "θ ← θ − lr g"]
    assert [_is_python(text) for text in texts] == [True, False]


def test_a_failure_naming_a_missing_optional_package_is_a_skip(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "numba" else real_find_spec(name)
    )
    with pytest.raises(pytest.skip.Exception, match="needs the optional package numba"):
        with _skip_if_an_optional_package_is_missing():
            raise AssertionError("Failed example: chainrule.backends.numba.is_available()")
    with pytest.raises(AssertionError, match="a wrong number"):
        with _skip_if_an_optional_package_is_missing():
            raise AssertionError("a wrong number")
