"""Every table format reads to the same rows; split folders and saved datasets keep splits."""

import pandas as pd
import pytest

from tunesmith.data.readers import read_splits, read_table

ROWS = {"text": ["good film", "bad film", "一般般"], "label": ["1", "0", "01"]}


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json", ".parquet", ".xlsx"])
def test_every_table_format_reads_the_same_rows_as_text(tmp_path, suffix):
    frame = pd.DataFrame(ROWS)
    path = tmp_path / f"d{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    elif suffix == ".json":
        frame.to_json(path, orient="records", force_ascii=False)
    elif suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_excel(path, index=False)
    assert read_table(path).to_dict("list") == ROWS  # "01" stays "01"


def test_gbk_file_is_detected_or_named(tmp_path):
    from tunesmith.config import DataConfig

    path = tmp_path / "d.csv"
    path.write_bytes("文本,标签\n质量很好,好评\n".encode("gbk"))
    assert read_table(path)["标签"].tolist() == ["好评"]
    named = read_table(path, options=DataConfig(encoding="gbk"))
    assert named["文本"].tolist() == ["质量很好"]


def test_split_folders_keep_their_splits(tmp_path):
    for split in ("train", "validation", "test"):
        for label in ("pos", "neg"):
            folder = tmp_path / split / label
            folder.mkdir(parents=True)
            (folder / "a.txt").write_text(f"{split} {label}")
    splits = read_splits(tmp_path)
    assert sorted(splits) == ["test", "train", "val"]
    assert sorted(splits["val"]["text"]) == ["validation neg", "validation pos"]


def test_saved_datasets_read_with_class_names(tmp_path):
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    features = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    data = {"text": ["bad", "good", "fine"], "label": [0, 1, 1]}
    DatasetDict(
        {"train": Dataset.from_dict(data, features), "test": Dataset.from_dict(data, features)}
    ).save_to_disk(tmp_path / "dd")
    splits = read_splits(tmp_path / "dd")
    assert sorted(splits) == ["test", "train"]
    assert splits["train"]["label"].tolist() == ["neg", "pos", "pos"]
    Dataset.from_dict(data, features).save_to_disk(tmp_path / "one")
    assert read_table(tmp_path / "one")["label"].tolist() == ["neg", "pos", "pos"]


def test_group_column_keeps_each_group_in_one_split():
    from tunesmith.data.split import stratified_split

    labels = [("a", "b")[i % 2] for i in range(200)]
    groups = [f"user{i // 4}" for i in range(200)]  # 50 users, 4 rows each
    index = stratified_split(labels, 0.15, 0.15, seed=1, groups=groups)
    owner = {}
    for split, rows in index.items():
        for row in rows:
            assert owner.setdefault(groups[row], split) == split
    assert sorted(sum(index.values(), [])) == list(range(200))
    assert 0.08 <= len(index["test"]) / 200 <= 0.22  # whole groups: close to 15%
