"""The bad-input zoo: every broken input gives one line naming the file, row, column or flag
and the fix, exit code 2, and writes nothing."""

import json
import os

import pandas as pd
import pytest
from conftest import write_images

from tunesmith.cli import main


def csv(text: str, name: str = "d.csv"):
    def build(folder):
        (folder / name).write_text(text, encoding="utf-8")
        return name

    return build


def raw(data: bytes, name: str):
    def build(folder):
        (folder / name).write_bytes(data)
        return name

    return build


def records(obj, name: str = "d.json"):
    def build(folder):
        (folder / name).write_text(
            obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8"
        )
        return name

    return build


GOOD = "text,label\n" + "".join(f"row number {i},{'ab'[i % 2]}\n" for i in range(30))


def good_with(extra: dict):
    def build(folder):
        (folder / "d.csv").write_text(GOOD, encoding="utf-8")
        for name, text in extra.items():
            (folder / name).write_text(text, encoding="utf-8")
        return "d.csv"

    return build


def empty_folder(folder):
    (folder / "texts" / "pos").mkdir(parents=True)
    (folder / "texts" / "pos" / "a.md").write_text("not a .txt")
    return "texts"


def symlink_loop(folder):
    (folder / "loop" / "cls").mkdir(parents=True)
    os.symlink(folder / "loop", folder / "loop" / "cls" / "again")
    return "loop"


def label_studio_unannotated(folder):
    tasks = [{"data": {"text": "hello"}, "annotations": []}] * 3
    (folder / "ls.json").write_text(json.dumps(tasks))
    return "ls.json"


def excel(folder):
    pd.DataFrame({"text": ["a b", "c d", "e f"], "label": ["x", "y", "x"]}).to_excel(
        folder / "d.xlsx", index=False
    )
    return "d.xlsx"


def image_folder(make_file):
    """photos/<a|b>/x.<suffix>, every file made by `make_file(path)`."""

    def build(folder):
        for label in ("a", "b"):
            (folder / "photos" / label).mkdir(parents=True)
            make_file(folder / "photos" / label)
        return "photos"

    return build


def text_named_jpg(folder):
    (folder / "x.jpg").write_text("I am text")


def truncated_jpeg(folder):
    from PIL import Image

    Image.new("RGB", (64, 64), (200, 10, 10)).save(folder / "x.jpg")
    (folder / "x.jpg").write_bytes((folder / "x.jpg").read_bytes()[:200])


def huge_image(folder):  # 60 megapixels, but bilevel, so the file is small
    from PIL import Image

    Image.new("1", (10_000, 6_000)).save(folder / "x.png")


def images_outside(folder):  # a table beside no images, pointing at some out of its folder
    write_images(folder / "elsewhere", per_class=4)
    (folder / "data").mkdir()
    rows = [
        f"../elsewhere/{p.parent.name}/{p.name},{p.parent.name}"
        for p in sorted((folder / "elsewhere").glob("*/*.png"))
    ]
    (folder / "data" / "d.csv").write_text("image,label\n" + "\n".join(rows) + "\n")
    return "data/d.csv"


def nul_late(folder):  # far past the first 8 KB that the binary check used to look at
    (folder / "d.csv").write_bytes((GOOD * 40 + "bad\0row,a\n").encode())
    return "d.csv"


NER_MISMATCH = [{"tokens": ["Ann", "lives"], "tags": ["B-PER"]}]
ALL_O = "".join(f"word{i}\tO\nmore\tO\n\n" for i in range(10))

ZOO = [  # id, build(folder) -> data path, extra args, words the message must contain
    ("empty file", csv(""), [], "the file is empty"),
    ("blank lines only", csv("\n \n\t\n"), [], "the file is empty"),
    ("header only", csv("text,label\n"), [], "header but no rows"),
    ("ragged rows", csv("text,label\na,b\nc,d,e,f\n"), [], "line 3"),
    ("binary named .csv", raw(b"\x89PNG\r\n\x1a\n\0\0\0IHDR" * 10, "d.csv"), [], "binary"),
    ("UTF-16 text", raw("text,label\na,b\n".encode("utf-16"), "d.csv"), [], "UTF-16"),
    (
        "UTF-16 text without a byte-order mark",
        raw("text,label\na,b\n".encode("utf-16-le"), "d.csv"),
        [],
        "--data.encoding utf-16-le",
    ),
    ("NUL byte late in a CSV", nul_late, [], "line 1241: a NUL byte"),
    (
        "200,000-column header",
        csv(",".join(f"c{i}" for i in range(200_000)) + "\n" + "x," * 199_999 + "x\n"),
        [],
        "delimiter",
    ),
    ("unknown encoding flag", csv(GOOD), ["--data.encoding", "klingon"], "--data.encoding"),
    (
        "wrong encoding flag",
        csv("text,label\n中文,好\n" * 5),
        ["--data.encoding", "ascii"],
        "ascii",
    ),
    ("missing label column", csv(GOOD), ["--data.label_column", "nope"], "'nope'"),
    ("missing text column", csv(GOOD), ["--data.text_column", "nope"], "--data.text_column"),
    ("missing group column", csv(GOOD), ["--data.group_column", "user"], "--data.group_column"),
    ("labels all empty", csv("text,label\n" + "hello there,\n" * 5), [], "no usable rows"),
    ("texts all empty", csv("text,label\n" + ",a\n,b\n" * 5), [], "no usable rows"),
    ("one class", csv("text,label\n" + "".join(f"t {i},a\n" for i in range(9))), [], "one class"),
    (
        "class with one example",
        csv("text,label\n" + "".join(f"t {i},{'a' if i else 'b'}\n" for i in range(9))),
        [],
        "'b' (1 row)",
    ),
    ("no column to use as label", csv("n1,n2\n1,2\n3,4\n"), [], "--data.label_column"),
    ("duplicate column names", csv("text,text,label\na,b,c\n"), [], "more than once"),
    ("JSON object, not a list", records({"text": "a", "label": "b"}), [], "list of records"),
    ("JSON list of numbers", records([1, 2, 3]), [], "record 1"),
    ("broken JSON", records('[{"text": "a",}]'), [], "not valid JSON"),
    ("broken JSON line", records('{"text": "a", "label": "b"}\n{oops\n', "d.jsonl"), [], "line 2"),
    ("Label Studio, no annotations", label_studio_unannotated, [], "none of the 3"),
    ("CoNLL line without a tag", csv("A\tB-PER\nb\tO\n" * 9 + "lives\n", "d.conll"), [], "line 19"),
    ("not CoNLL", csv("just some prose here\nand more\n", "d.conll"), [], "not CoNLL"),
    ("NER tokens and tags differ", records(NER_MISMATCH, "d.jsonl"), [], "2 tokens but 1 tags"),
    ("NER without entities", csv(ALL_O, "d.conll"), ["--task", "ner"], "no entities"),
    ("unsupported file type", raw(b"PK\x03\x04", "d.docx"), [], "unsupported file type"),
    ("no such file", lambda folder: "missing.csv", [], "no such file"),
    ("folder without .txt files", empty_folder, [], "no .txt or image files"),
    ("symlink loop", symlink_loop, [], "no .txt or image files"),
    ("text file named .xlsx", raw(b"text,label\na,b\n", "d.xlsx"), [], ".xlsx workbook"),
    ("missing Excel sheet", excel, ["--data.sheet", "Sheet9"], "--data.sheet"),
    ("text file named .parquet", raw(b"text,label\n", "d.parquet"), [], "Parquet"),
    (
        "test file repeats training rows",
        good_with({"t.csv": "text,label\nrow number 3,b\nrow number 4,a\n"}),
        ["--data.test_file", "t.csv"],
        "2 training text(s) also appear in the test file",
    ),
    ("missing test file", csv(GOOD), ["--data.test_file", "nope.csv"], "--data.test_file"),
    ("val_size out of range", csv(GOOD), ["--data.val_size", "0.7"], "--data.val_size"),
    ("images that are text files", image_folder(text_named_jpg), [], "no usable images"),
    ("truncated JPEGs only", image_folder(truncated_jpeg), [], "no usable images"),
    ("decompression-bomb sized images", image_folder(huge_image), [], "no usable images"),
    ("CSV of images outside its folder", images_outside, [], "outside the data folder"),
    (
        "CSV of image paths that do not exist",
        csv("image,label\nmissing/a.jpg,x\nmissing/b.jpg,y\n"),
        [],
        "no usable images",
    ),
]


@pytest.mark.parametrize("build,args,expect", [z[1:] for z in ZOO], ids=[z[0] for z in ZOO])
def test_bad_input_is_one_clear_line_exit_2_and_nothing_written(
    tmp_path, monkeypatch, capsys, build, args, expect
):
    monkeypatch.chdir(tmp_path)
    data = build(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    code = main(["train", data, "--out", "run", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    last = err.splitlines()[-1]  # progress lines (task detected, ...) may come first
    assert last.startswith("error: "), err
    assert sum(line.startswith("error:") for line in err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert expect in last, err
    assert "Fix:" in last or "fix" in last.lower(), err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no run, no report


def test_the_zoo_is_at_least_30_strong():
    assert len(ZOO) >= 30


def test_a_semicolon_csv_from_european_excel_is_read_with_its_delimiter(tmp_path):
    from tunesmith.data.readers import read_table

    (tmp_path / "d.csv").write_text("text;label\nbonjour, le monde;a\nsalut;b\n")
    table = read_table(tmp_path / "d.csv")
    assert table.to_dict("list") == {"text": ["bonjour, le monde", "salut"], "label": ["a", "b"]}
