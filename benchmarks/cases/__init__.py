"""The benchmark cases, in the order the report lists them."""

from benchmarks.cases import cnn, gru, mlp, mnist1d, tiny
from benchmarks.cases.common import Case

ALL_CASES: list[Case] = [*mlp.CASES, cnn.CASE, mnist1d.CASE, gru.CASE, tiny.CASE]

__all__ = ["ALL_CASES", "Case"]
