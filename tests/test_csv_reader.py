"""The CSV reader and loader on bad files: strict number typing, the one-hot cardinality limit,
dropped columns, files built to exhaust memory or time, and a seeded fuzz run. Every bad file is
one ValueError sentence naming the file, the line and the column."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainrule import datasets
from chainrule.datasets.csvfile import is_number, read_table
from chainrule.datasets.encoding import FeatureEncoder
from chainrule.train.run import ConfigError, LoadedRun, read_inputs
from tests.fuzzing import FUZZ, within_budget


def write_prices(path, bad_cell=None, bad_row=5, rows=40):
    """A table (price, size, label): label follows price. ``bad_cell`` replaces one price."""
    rng = np.random.default_rng(0)
    lines = ["price,size,label"]
    for row in range(rows):
        price = rng.uniform(0, 10)
        cell = f"{price:.3f}" if row != bad_row or bad_cell is None else bad_cell
        lines.append(f"{cell},{rng.uniform(0, 1):.3f},{int(price > 5)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def one_sentence(error: BaseException) -> str:
    message = str(error)
    assert "\n" not in message and message.count("; ") <= 3, message
    return message


# ----------------------------------------------------------------------------- typing
@pytest.mark.parametrize("bad", ["1.2.3", "abc", '"12,5"', "\x00", "1_000", "0x10"])
def test_one_bad_cell_in_a_numeric_column_is_an_error_naming_it(tmp_path, bad):
    """Before: the column silently became 40 one-hot features and training went on."""
    path = write_prices(tmp_path / "prices.csv", bad_cell=bad, bad_row=5)
    with pytest.raises(ValueError) as caught:
        datasets.csv(path, target="label")
    message = one_sentence(caught.value)
    shown = bad.strip('"')
    # data row 5 is on line 7 (the header is line 1)
    assert f"column 'price' holds numbers, but line 7: {shown!r} is not" in message
    assert str(path) in message and "categorical" in message


def test_several_bad_cells_are_counted(tmp_path):
    path = tmp_path / "p.csv"
    rows = [f"{'x' if row % 10 == 3 else row},{row % 2}" for row in range(40)]
    path.write_text("price,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=r"line 5: 'x', line 15: 'x', line 25: 'x' and 1 more are not"):
        datasets.csv(path, target="label")


def test_a_text_column_with_a_few_numbers_stays_text(tmp_path):
    path = tmp_path / "t.csv"
    colours = ["red", "green", "blue", "7"]
    rows = [f"{colours[row % 4] if row % 8 else 'red'},{row * 0.1:.1f},{row % 2}" for row in range(40)]
    path.write_text("colour,x,label\n" + "\n".join(rows) + "\n")
    data = datasets.csv(path, target="label")
    assert data.feature_names == ["colour=7", "colour=blue", "colour=green", "colour=red", "x"]


def test_the_typo_rule_covers_the_target_too(tmp_path):
    path = write_prices(tmp_path / "p.csv")
    text = path.read_text().splitlines()
    text[3] = text[3].rsplit(",", 1)[0] + ",1.0.0"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(ValueError, match=r"target column 'label' holds numbers, but line 4: '1.0.0'"):
        datasets.csv(path, target="label")


def test_strict_numbers():
    for cell in ["0", "-1", "+2.5", ".5", "5.", "1e3", "-2.5E-3", "inf", "-Infinity"]:
        assert is_number(cell), cell
    for cell in ["1.2.3", "12,5", "1_000", "0x10", "٣", "1e", "--1", "", " 1", "nan1", "e5"]:
        assert not is_number(cell), cell


# ------------------------------------------------------------- cardinality and dropping
def write_with_ids(path, rows=300):
    lines = ["id,price,label"]
    for row in range(rows):
        lines.append(f"user-{row:05d},{row % 17 * 0.5},{row % 2}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_text_column_over_the_cardinality_limit_is_an_error_suggesting_to_drop_it(tmp_path):
    """Before: 240 one-hot features from an identifier, with no warning."""
    path = write_with_ids(tmp_path / "ids.csv")
    with pytest.raises(ValueError) as caught:
        datasets.csv(path, target="label")
    message = one_sentence(caught.value)
    assert "text column 'id' has 240 distinct values" in message and "100" in message
    assert "--drop-columns 'id'" in message and "drop_columns" in message

    data = datasets.csv(path, target="label", drop_columns=["id"])
    assert data.feature_names == ["price"] and data.x_train.shape == (240, 1)
    assert data.preprocessing["columns"] == [
        {
            "name": "price",
            "mean": pytest.approx(data.preprocessing["columns"][0]["mean"]),
            "std": pytest.approx(data.preprocessing["columns"][0]["std"]),
        }
    ]
    raised = datasets.csv(path, target="label", max_categories=500)
    assert raised.x_train.shape == (240, 241)


def test_drop_columns_are_checked(tmp_path):
    path = write_with_ids(tmp_path / "ids.csv", rows=20)
    with pytest.raises(ValueError, match=r"drop_columns names \['nope'\] are not columns"):
        datasets.csv(path, target="label", drop_columns=["nope"])
    with pytest.raises(ValueError, match="the target 'label' is listed in drop_columns"):
        datasets.csv(path, target="label", drop_columns=["label"])


def test_memory_stays_proportional_to_the_file(tmp_path):
    """Before: one bad cell in 40k rows one-hot encoded the column into a 6.4 GiB matrix."""
    path = write_prices(tmp_path / "big.csv", bad_cell="1.2.3", bad_row=39_000, rows=40_000)
    size = path.stat().st_size
    error = within_budget(lambda: datasets.csv(path, target="label"), ValueError, memory_budget=40 * size)
    assert error is not None and "line 39002: '1.2.3'" in str(error)
    ids = write_with_ids(tmp_path / "ids.csv", rows=10_000)
    error = within_budget(lambda: datasets.csv(ids, target="label"), ValueError, memory_budget=40 * size)
    assert error is not None and "text column 'id' has 8000 distinct values" in str(error)


# ------------------------------------------------------------------------ file bombs
def test_a_field_over_the_csv_field_limit_is_one_sentence(tmp_path):
    """Before: `_csv.Error: field larger than field limit (131072)` as a traceback."""
    path = tmp_path / "long.csv"
    path.write_text('a,label\n1,0\n"' + "x" * 200_000 + '",1\n')
    with pytest.raises(ValueError) as caught:
        datasets.csv(path, target="label")
    message = one_sentence(caught.value)
    assert f"{path}, line 3: a field is longer than 131072 characters" in message and "quote" in message


def test_a_header_of_100k_columns_is_read_in_linear_time(tmp_path):
    """Before: 86 s (a quadratic duplicate-name check); the error path read the file twice."""
    names = [f"c{i}" for i in range(100_000)]
    path = tmp_path / "wide.csv"
    path.write_text(",".join([*names, "label"]) + "\n" + ",".join(["1"] * 100_001) + "\n")
    started = time.process_time()
    error = within_budget(lambda: datasets.csv(path, target="label"), ValueError, time_budget=5.0)
    assert error is not None and time.process_time() - started < 5.0
    repeated = tmp_path / "repeated.csv"
    repeated.write_text(",".join([*names, "c5", "label"]) + "\n" + ",".join(["1"] * 100_002) + "\n")
    error = within_budget(lambda: datasets.csv(repeated, target="label"), ValueError, time_budget=5.0)
    assert "column name(s) 'c5' appear more than once" in str(error)


def test_text_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"a,label\n1,0\n2,\xe9\n")
    with pytest.raises(ValueError, match=r"line 3 is not UTF-8 text; save the file as UTF-8"):
        read_table(path)


# ------------------------------------------------------------------------------ fuzz
# Characters that matter to a CSV parser and to number parsing, plus NUL, a non-ASCII letter and a
# lone surrogate (written with surrogateescape, so it becomes a byte that is not UTF-8).
_CSV_TEXT = st.text(alphabet='0123456789.,-+eEinfa"\n\r ;\x00\té\udcff', max_size=80)


@st.composite
def csv_bytes(draw):
    """Mostly a valid header then a fuzzed body (so typing and encoding are reached), sometimes
    raw bytes."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=200))
    header = draw(st.sampled_from(["a,b,label\n", "label\n", "a,label,a\n", "a;label\n", ""]))
    return (header + draw(_CSV_TEXT)).encode("utf-8", errors="surrogateescape")


def rewriter(path):
    """Replace a file's content in place: reopening a file for writing costs milliseconds on
    some file systems, which over 2,000 cases would dwarf the reader under test."""
    handle = open(path, "wb")  # closed by the caller

    def rewrite(content: bytes) -> None:
        handle.seek(0)
        handle.write(content)
        handle.truncate()
        handle.flush()

    return handle, rewrite


def test_fuzz_csv_readers(tmp_path):
    path = tmp_path / "fuzz.csv"
    handle, rewrite = rewriter(path)

    # predict's reader of the same files: by column name (a, b) or as bare numbers
    columns = [{"name": "a", "mean": 0.0, "std": 1.0}, {"name": "b", "categories": ["x", "1"]}]
    by_name = LoadedRun({}, None, {"input_shape": [3]}, FeatureEncoder.from_spec({"columns": columns}))
    numeric_columns = {"columns": [{"name": "a", "mean": 0.0, "std": 1.0}], "fill_missing": True}
    numbers = LoadedRun({}, None, {"input_shape": [1]}, FeatureEncoder.from_spec(numeric_columns))
    readers = {
        "loader": (lambda na: datasets.csv(path, target="label", na=na), ValueError),
        "predict by name": (lambda na: read_inputs(path, by_name), ConfigError),
        "predict numbers": (lambda na: read_inputs(path, numbers), ConfigError),
    }

    @FUZZ
    @given(content=csv_bytes(), na=st.sampled_from(["error", "mean"]), reader=st.sampled_from(list(readers)))
    def check(content, na, reader):
        rewrite(content)
        read, allowed = readers[reader]
        error = within_budget(lambda: read(na), allowed)
        if error is not None:
            assert "\n" not in str(error) and str(error)

    with handle:
        check()
