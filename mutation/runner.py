"""Plant each mutation in a temporary copy of the repository, run its tests with PyTorch hidden,
and report which mutations survive (see ``mutation/__init__.py``)."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mutation.mutants import MUTATIONS, Mutation

ROOT = Path(__file__).resolve().parent.parent
# what the tests read besides the package itself (README and docs for the doc tests)
COPIED = ("chainrule", "tests", "examples", "docs", "pyproject.toml", "README.md")


@dataclass
class Outcome:
    mutation: Mutation
    status: str  # "killed", "survived", "timeout" (counted as killed) or "error"
    seconds: float
    detail: str = ""


def problems(mutations: Sequence[Mutation], root: Path = ROOT) -> list[str]:
    """Why some mutations cannot run against the code in ``root``: a snippet that is missing
    (stale) or not unique, a test file that does not exist, a name used twice."""
    found = []
    seen: set[str] = set()
    for mutation in mutations:
        if mutation.name in seen:
            found.append(f"{mutation.name}: the name is used by two mutations")
        seen.add(mutation.name)
        path = root / mutation.path
        if not path.is_file():
            found.append(f"{mutation.name}: {mutation.path} does not exist (stale)")
            continue
        count = path.read_text(encoding="utf-8").count(mutation.original)
        if count == 0:
            found.append(
                f"{mutation.name}: stale, {mutation.path} no longer contains {mutation.original!r}; "
                "refresh the snippet in mutation/mutants.py"
            )
        elif count > 1:
            found.append(
                f"{mutation.name}: {mutation.original!r} occurs {count} times in {mutation.path}; "
                "give a longer snippet that occurs once"
            )
        if mutation.original == mutation.replacement:
            found.append(f"{mutation.name}: the replacement equals the original")
        for argument in mutation.tests:
            test_file = argument.split("::")[0]
            if not argument.startswith("-") and not (root / test_file).is_file():
                found.append(f"{mutation.name}: test file {test_file} does not exist")
    return found


def _copy_repository(destination: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "runs")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, destination / name)


class _Stamper:
    """Give every write a new modification time, so Python's bytecode cache and numba's
    kernel cache (both keyed on mtime and size) never take a mutated file for an earlier one
    of the same size."""

    def __init__(self) -> None:
        self.next = int(time.time()) + 10

    def write(self, path: Path, text: str) -> None:
        path.write_text(text, encoding="utf-8")
        self.next += 2
        os.utime(path, (self.next, self.next))


def _environment(copy: Path, numba: bool) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy)
    env["CHAINRULE_TEST_WITHOUT_TORCH"] = "1"
    env.pop("CHAINRULE_TEST_WITHOUT_NUMBA", None)
    if not numba:
        env["CHAINRULE_TEST_WITHOUT_NUMBA"] = "1"
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _first_failure(output: str) -> str:
    match = re.search(r"^(FAILED|ERROR) (\S+)", output, flags=re.M)
    return match.group(2) if match else ""


def run_one(mutation: Mutation, copy: Path, stamper: _Stamper, timeout: float) -> Outcome:
    """Plant ``mutation`` in ``copy``, run its tests (stopping at the first failure), restore."""
    path = copy / mutation.path
    original_text = path.read_text(encoding="utf-8")
    stamper.write(path, original_text.replace(mutation.original, mutation.replacement, 1))
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutation.tests]
    start = time.perf_counter()
    try:
        result = subprocess.run(
            command,
            cwd=copy,
            env=_environment(copy, mutation.numba),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return Outcome(mutation, "timeout", time.perf_counter() - start, f"no result in {timeout:.0f} s")
    finally:
        stamper.write(path, original_text)
    seconds = time.perf_counter() - start
    output = result.stdout + result.stderr
    if result.returncode == 0:
        return Outcome(mutation, "survived", seconds)
    if result.returncode in (1, 2):  # failed tests, or a collection error the bug caused
        return Outcome(mutation, "killed", seconds, _first_failure(output))
    tail = " | ".join(output.strip().splitlines()[-3:])
    return Outcome(mutation, "error", seconds, f"pytest exit status {result.returncode}: {tail}")


def _check_the_copy_is_imported(copy: Path) -> None:
    """The tests must import the mutated copy, not an installed chainrule."""
    found = subprocess.run(
        [sys.executable, "-c", "import chainrule; print(chainrule.__file__)"],
        cwd=copy,
        env=_environment(copy, True),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(found).resolve().is_relative_to(copy.resolve()):
        raise RuntimeError(f"the tests would import chainrule from {found}, not from the copy in {copy}")


def run(mutations: Sequence[Mutation], timeout: float = 900.0, log: bool = True) -> list[Outcome]:
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="chainrule-mutation-") as directory:
        copy = Path(directory)
        _copy_repository(copy)
        _check_the_copy_is_imported(copy)
        stamper = _Stamper()
        for number, mutation in enumerate(mutations, start=1):
            outcome = run_one(mutation, copy, stamper, timeout)
            outcomes.append(outcome)
            if log:
                print(
                    f"[{number:2d}/{len(mutations)}] {outcome.status:8s} {outcome.seconds:6.1f} s  "
                    f"{mutation.name}  {outcome.detail}",
                    flush=True,
                )
    return outcomes


def select(names: Sequence[str] | None, quick: bool) -> list[Mutation]:
    chosen = [m for m in MUTATIONS if m.quick] if quick else list(MUTATIONS)
    if names:
        by_name = {m.name: m for m in MUTATIONS}
        unknown = [name for name in names if name not in by_name]
        if unknown:
            raise SystemExit(f"mutation: no mutation named {', '.join(unknown)}; see --list")
        chosen = [by_name[name] for name in names]
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mutation", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="only the subset the test suite runs")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these mutations")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per mutation")
    args = parser.parse_args(argv)
    mutations = select(args.only, args.quick)
    if args.list:
        for mutation in mutations:
            flags = ("" if mutation.numba else " [numba off]") + (" [quick]" if mutation.quick else "")
            print(f"{mutation.name:45s} {mutation.path}{flags}")
        return 0
    found = problems(mutations)
    if found:
        print("\n".join(found), file=sys.stderr)
        return 1
    start = time.perf_counter()
    outcomes = run(mutations, args.timeout)
    survivors = [o.mutation.name for o in outcomes if o.status == "survived"]
    errors = [o.mutation.name for o in outcomes if o.status == "error"]
    killed = sum(o.status in ("killed", "timeout") for o in outcomes)
    print(
        f"\n{killed} of {len(outcomes)} mutations caught in {time.perf_counter() - start:.0f} s "
        f"(PyTorch hidden)."
    )
    if survivors:
        print("Survivors: " + ", ".join(survivors))
    if errors:
        print("Errors (the tests did not run): " + ", ".join(errors))
    return 1 if survivors or errors else 0
