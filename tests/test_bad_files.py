"""Files that are wrong in ways a reader must survive: image paths that lead out of the data
folder, FIFOs and devices, oversized files, very wide headers and NUL bytes. No model needed."""

import json

import pytest

from tunesmith.data.readers import read_table
from tunesmith.errors import TunesmithError


def test_a_200000_column_header_is_refused_at_once_naming_the_delimiter(tmp_path):
    path = tmp_path / "wide.csv"
    header = ",".join(f"c{i}" for i in range(200_000))
    path.write_text(header + "\n" + ",".join("x" * 200_000) + "\n")
    with pytest.raises(TunesmithError, match="200,000 columns at ','") as caught:
        read_table(path)
    assert "wide.csv, line 1" in str(caught.value)
    assert "--data.delimiter" in str(caught.value)


def test_a_wide_json_table_is_refused_before_pandas_builds_it(tmp_path):
    path = tmp_path / "wide.jsonl"
    path.write_text(json.dumps({f"k{i}": "v" for i in range(200_000)}) + "\n")
    with pytest.raises(TunesmithError, match="200,000 different fields"):
        read_table(path)


def test_a_repeated_column_name_in_a_wide_header_is_named(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(
        ",".join([f"c{i}" for i in range(5_000)] + ["c7"]) + "\n" + "x," * 5_000 + "x\n"
    )
    with pytest.raises(TunesmithError, match="'c7' more than once"):
        read_table(path)
