"""Embedding data: (query, passage) pairs or (query, positive, negative) triplets, the corpus
they are searched against, and corpus files for `predict --corpus`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tunesmith.data.columns import by_name, check_column, column_names
from tunesmith.errors import TunesmithError
from tunesmith.tasks.base import Examples

QUERY_NAMES = ("query", "question", "anchor", "sentence1", "title", "查询", "问题", "标题")
PASSAGE_NAMES = (
    "passage",
    "positive",
    "answer",
    "document",
    "sentence2",
    "context",
    "body",
    "段落",
    "答案",
    "正文",
)
NEGATIVE_NAMES = ("negative", "hard_negative", "negative_passage", "负例")
CORPUS = "corpus"  # frame.attrs key: every distinct passage of the data the rows came from


def _text(series: pd.Series) -> pd.Series:
    return series.fillna("").astype(str).str.strip()


def prepare_pairs(table: pd.DataFrame, source: str, columns: dict) -> Examples:
    """Rows as `input` (the query), `passage`, optional `negative`, `row` and `key` (what makes
    two rows the same pair, for de-duplication). `--data.text_column` names the query column,
    `--data.label_column` the passage column; the rest is detected by name."""
    names = [str(c) for c in table.columns]
    query_col = columns.get("text") or by_name(names, QUERY_NAMES)
    rest = [c for c in names if c != query_col]
    passage_col = columns.get("label") or by_name(rest, PASSAGE_NAMES)
    rest = [c for c in rest if c != passage_col]
    negative_col = columns.get("negative") or by_name(rest, NEGATIVE_NAMES)
    if not query_col or not passage_col:
        raise TunesmithError(
            f"no query and passage columns (columns: {column_names(table.columns)})",
            where=source,
            fix="name them query and passage (or question/answer, anchor/positive), or pass "
            "--data.text_column QUERY --data.label_column PASSAGE",
        )
    for flag, col in (
        ("--data.text_column", query_col),
        ("--data.label_column", passage_col),
        ("negative column", negative_col),
    ):
        if col:
            check_column(table, col, flag, source)
    frame = pd.DataFrame({"input": _text(table[query_col]), "passage": _text(table[passage_col])})
    if negative_col:
        frame["negative"] = _text(table[negative_col])
    frame["row"] = range(len(table))
    notes = []
    empty = (frame["input"] == "") | (frame["passage"] == "")
    if empty.any():
        notes.append(f"Dropped {int(empty.sum())} row(s) with an empty query or passage.")
        frame = frame[~empty].reset_index(drop=True)
    if frame.empty:
        raise TunesmithError(
            "no usable (query, passage) pairs: every row has an empty query or passage",
            where=source,
            fix=f"fill the {query_col!r} and {passage_col!r} columns",
        )
    parts = [frame["input"], frame["passage"]] + ([frame["negative"]] if negative_col else [])
    frame["key"] = parts[0].str.cat(parts[1:], sep="\x1f")
    passages = list(frame["passage"]) + (list(frame["negative"]) if negative_col else [])
    # pandas carries attrs through row selection, so the test split still knows the corpus
    frame.attrs[CORPUS] = tuple(dict.fromkeys(p for p in passages if p))
    used = {"text": query_col, "label": passage_col, "negative": negative_col or ""}
    return Examples(frame, source, used, notes)


def corpus_of(examples: Examples) -> list[str]:
    """The passages to search: all of the data's (not only this split's), then the split's own."""
    frame = examples.frame
    return list(dict.fromkeys([*frame.attrs.get(CORPUS, ()), *frame["passage"]]))


def read_corpus(path: str, flag: str = "--corpus") -> list[str]:
    """Passages from a text file (one a line) or a table with a passage-like column."""
    file = Path(path)
    if not file.is_file():
        raise TunesmithError(
            "corpus file not found", where=f"{flag} {path}", fix="pass a .txt or .csv file"
        )
    if file.suffix.lower() in {".txt", ".text", ".md", ""}:
        lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
        passages = [line.strip() for line in lines if line.strip()]
    else:
        from tunesmith.data.readers import read_table

        table = read_table(str(file), flag, None)
        names = [str(c) for c in table.columns]
        column = by_name(names, PASSAGE_NAMES + ("text",)) or (
            names[0] if len(names) == 1 else None
        )
        if column is None:
            raise TunesmithError(
                f"no passage column in the corpus (columns: {column_names(table.columns)})",
                where=f"{flag} {path}",
                fix="name the column passage (or text, document), or give a text file",
            )
        passages = [p for p in _text(table[column]) if p]
    if not passages:
        raise TunesmithError("the corpus is empty", where=f"{flag} {path}", fix="add passages")
    return list(dict.fromkeys(passages))
