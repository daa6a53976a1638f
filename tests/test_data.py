import json

import pandas as pd
import pytest

from tunesmith.data.columns import detect_columns
from tunesmith.data.readers import read_table
from tunesmith.data.split import stratified_split
from tunesmith.errors import TunesmithError


def test_reads_csv_tsv_jsonl_and_keeps_labels_as_written(tmp_path):
    rows = [{"text": "hello there", "label": "01"}, {"text": "bye now", "label": "2"}]
    pd.DataFrame(rows).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame(rows).to_csv(tmp_path / "a.tsv", index=False, sep="\t")
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    (tmp_path / "n.jsonl").write_text('{"text": "x", "label": 1}\n{"text": "y", "label": 2}\n')
    for name in ("a.csv", "a.tsv", "a.jsonl"):
        table = read_table(tmp_path / name)
        assert list(table["label"]) == ["01", "2"], name
        assert list(table["text"]) == ["hello there", "bye now"]
    assert list(read_table(tmp_path / "n.jsonl")["label"]) == ["1", "2"]


def test_reads_gbk_csv_from_chinese_excel(tmp_path):
    path = tmp_path / "zh.csv"
    path.write_bytes("评论,标签\n这个手机很好用,好评\n质量太差了,差评\n".encode("gbk"))
    table = read_table(path)
    assert list(table.columns) == ["评论", "标签"]
    found = detect_columns(table, str(path))
    assert (found.text, found.label) == ("评论", "标签")


def test_reads_class_folders(tmp_path):
    for label, texts in {"sport": ["goal", "match"], "tech": ["chip"]}.items():
        (tmp_path / label).mkdir()
        for i, text in enumerate(texts):
            (tmp_path / label / f"{i}.txt").write_text(text)
    (tmp_path / ".hidden").mkdir()
    table = read_table(tmp_path)
    assert sorted(zip(table["text"], table["label"], strict=True)) == [
        ("chip", "tech"),
        ("goal", "sport"),
        ("match", "sport"),
    ]


@pytest.mark.parametrize(
    "name,content,match",
    [
        ("missing.csv", None, "no such file"),
        ("empty.csv", "", "empty"),
        ("header.csv", "text,label\n", "no rows"),
        ("data.xml", "<a/>", "unsupported file type"),
        ("bad.jsonl", '{"text": "a"}\n{"text": oops}\n', r"bad.jsonl, line 2"),
    ],
)
def test_unreadable_files_say_what_and_where(tmp_path, name, content, match):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(TunesmithError, match=match) as err:
        read_table(path)
    assert name in err.value.message


def test_detects_columns_by_shape_when_names_say_nothing():
    table = pd.DataFrame(
        {
            "id": [str(i) for i in range(20)],
            "body_of_thing": [f"a fairly long piece of text number {i}" for i in range(20)],
            "kind": ["x", "y"] * 10,
        }
    )
    found = detect_columns(table, "t.csv")
    assert (found.text, found.label, found.detected) == ("body_of_thing", "kind", True)


def test_named_column_that_does_not_exist():
    table = pd.DataFrame({"text": ["a"], "label": ["b"]})
    with pytest.raises(TunesmithError, match="no column 'sentiment'.*'text', 'label'"):
        detect_columns(table, "t.csv", label="sentiment")


def test_split_is_stratified_seeded_and_disjoint():
    labels = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    first = stratified_split(labels, 0.1, 0.1, seed=7)
    assert first == stratified_split(labels, 0.1, 0.1, seed=7)
    assert first != stratified_split(labels, 0.1, 0.1, seed=8)
    parts = [set(first[k]) for k in ("train", "val", "test")]
    assert sum(map(len, parts)) == 100 and set.union(*parts) == set(range(100))
    test_labels = [labels[i] for i in first["test"]]
    assert (test_labels.count("a"), test_labels.count("b"), test_labels.count("c")) == (5, 3, 2)


def test_split_refuses_a_class_too_small_to_stratify():
    with pytest.raises(TunesmithError, match=r"class 'rare' \(2 rows\)"):
        stratified_split(["a"] * 20 + ["rare"] * 2, 0.1, 0.1, seed=0, source="d.csv")
