"""Files that are wrong in ways a reader must survive: image paths that lead out of the data
folder, FIFOs and devices, oversized files, very wide headers and NUL bytes. No model needed."""

import json
from types import SimpleNamespace

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


def rows_with_nul_on_line(line: int, total: int = 3_000) -> bytes:
    rows = [f"row number {i},{'ab'[i % 2]}" for i in range(total)]
    rows[line - 2] = rows[line - 2].replace("number", "num\0ber")
    return ("text,label\n" + "\n".join(rows) + "\n").encode()


@pytest.mark.parametrize("line", [2, 2_500])  # inside the first 8 KB, and far past it
@pytest.mark.parametrize("encoding", [None, "utf-8"])
def test_a_nul_byte_anywhere_is_reported_with_its_line(tmp_path, line, encoding):
    path = tmp_path / "d.csv"
    path.write_bytes(rows_with_nul_on_line(line))
    with pytest.raises(TunesmithError, match=f"d.csv, line {line}: a NUL byte") as caught:
        read_table(path, options=SimpleNamespace(encoding=encoding))
    assert "binary file or damaged text" in str(caught.value)


def test_utf16_without_a_byte_order_mark_suggests_the_encoding(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("text,label\nhello there,a\nbye now,b\n".encode("utf-16-le"))
    with pytest.raises(TunesmithError, match="--data.encoding utf-16-le"):
        read_table(path)
    table = read_table(path, options=SimpleNamespace(encoding="utf-16-le"))
    assert table.to_dict("list") == {"text": ["hello there", "bye now"], "label": ["a", "b"]}
