"""The cases of PyTorch's type promotion table that tests/test_promotion.py checks, and the
script that regenerates the checked-in table from PyTorch:

    python tests/promotion_cases.py   # rewrites tests/promotion_table.json (needs torch)

Each case is one binary op on two operands, each a tensor with dimensions ("dim"), a 0-d tensor
("zero") or a Python number ("number"), of each dtype; the table holds the result dtype, or
"error" where PyTorch refuses the op.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

TABLE_PATH = Path(__file__).with_name("promotion_table.json")

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
NUMBERS = {"bool": True, "int": 3, "float": 0.5}

# Each op as a function of (library, a, b); `where` also needs a condition.
OPS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "add": lambda lib, a, b: lib.add(a, b),
    "sub": lambda lib, a, b: lib.sub(a, b),
    "mul": lambda lib, a, b: lib.mul(a, b),
    "div": lambda lib, a, b: lib.div(a, b),
    "pow": lambda lib, a, b: lib.pow(a, b),
    "maximum": lambda lib, a, b: lib.maximum(a, b),
    "minimum": lambda lib, a, b: lib.minimum(a, b),
    "where": lambda lib, a, b: lib.where(lib.tensor([True, False]), a, b),
    "add_operator": lambda lib, a, b: a + b,
    "radd_operator": lambda lib, a, b: b + a,
    "truediv_operator": lambda lib, a, b: a / b,
    "rtruediv_operator": lambda lib, a, b: b / a,
    "mul_operator": lambda lib, a, b: a * b,
}


def operand(lib: Any, kind: str, dtype: str) -> Any:
    """A tensor ([1, 2] or 2) of ``dtype``, or a Python number of kind ``dtype``."""
    if kind == "number":
        return NUMBERS[dtype]
    values = [1, 2] if kind == "dim" else 2
    if dtype == "bool":
        values = [True, True] if kind == "dim" else True
    return lib.tensor(values, dtype=getattr(lib, dtype))


def cases() -> Iterator[tuple[str, str, str, str, str]]:
    """(op, kind_a, dtype_a, kind_b, dtype_b): a is always a tensor."""
    for op in OPS:
        for kind_a in ("dim", "zero"):
            for dtype_a in DTYPES:
                for kind_b in ("dim", "zero"):
                    for dtype_b in DTYPES:
                        yield op, kind_a, dtype_a, kind_b, dtype_b
                for number in NUMBERS:
                    yield op, kind_a, dtype_a, "number", number


def key(case: tuple[str, ...]) -> str:
    op, kind_a, dtype_a, kind_b, dtype_b = case
    return f"{op} {kind_a}:{dtype_a} {kind_b}:{dtype_b}"


def result(lib: Any, case: tuple[str, ...]) -> str:
    """The result dtype's name (``float32``), or ``error`` where the op raises."""
    op, kind_a, dtype_a, kind_b, dtype_b = case
    try:
        out = OPS[op](lib, operand(lib, kind_a, dtype_a), operand(lib, kind_b, dtype_b))
    except (RuntimeError, TypeError, ValueError):
        return "error"
    return str(out.dtype).removeprefix("torch.")


def table(lib: Any) -> dict[str, str]:
    return {key(case): result(lib, case) for case in cases()}


if __name__ == "__main__":
    import torch

    TABLE_PATH.write_text(json.dumps(table(torch), indent=0, sort_keys=True) + "\n")
    print(f"wrote {TABLE_PATH}")
