"""The benchmark cases, in the order the report lists them."""

from benchmarks.cases import cnn, gru, mlp, mnist1d, tiny
from benchmarks.cases.common import Case, with_compiled_row, with_numpy_only_row

ALL_CASES: list[Case] = [with_compiled_row(with_numpy_only_row(case))
                         for case in [*mlp.CASES, cnn.CASE, mnist1d.CASE, gru.CASE, tiny.CASE]]

__all__ = ["ALL_CASES", "Case"]
