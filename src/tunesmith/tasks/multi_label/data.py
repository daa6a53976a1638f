"""Multi-label rows: a text and a set of labels, read from whatever shape the file holds them in.

A cell may be a list (JSON/JSONL, a Parquet list column, Label Studio multi-choice), a JSON list
written in a CSV cell, or labels joined by `;`, `|` or `,` (the first of those found in the
column is its separator). An empty cell is a row with no label: valid, the empty set.
"""

from __future__ import annotations

import json

import pandas as pd

from tunesmith.data.clean import clean_texts, merge_label_spellings, too_short
from tunesmith.data.columns import LABEL_NAMES, by_name, check_column, detect_columns
from tunesmith.errors import TunesmithError
from tunesmith.tasks.base import Examples

SEPARATORS = (";", "|", ",")
LABEL_LIST_NAMES = ("labels", "choices", "tags", "categories", "topics", "标签")


def is_label_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def looks_like_label_lists(table: pd.DataFrame) -> bool:
    """One column of string lists beside text columns, no other list column: a multi-label table
    (NER has two list columns, tokens and tags, or lists of span objects)."""
    if not len(table):
        return False
    first = table.iloc[0]
    lists = [c for c in table.columns if isinstance(first[c], list)]
    texts = [c for c in table.columns if isinstance(first[c], str) and first[c]]
    return (
        len(lists) == 1
        and bool(texts)
        and table[lists[0]].head(200).map(is_label_list).all()
        and "image" not in table.columns
    )


def label_column(table: pd.DataFrame, source: str, given: str | None) -> str:
    """The given label column, else a column of lists, else a column named like labels."""
    if given:
        check_column(table, given, "--data.label_column", source)
        return given
    first = table.iloc[0] if len(table) else {}
    lists = [str(c) for c in table.columns if isinstance(first[c], list)]
    found = by_name(lists, LABEL_LIST_NAMES) or (lists[0] if lists else None)
    found = found or by_name([str(c) for c in table.columns], LABEL_LIST_NAMES + LABEL_NAMES)
    if not found:
        raise TunesmithError(
            "cannot tell which column holds the labels",
            where=source,
            fix="name it with --data.label_column (a list per row, or labels joined by ; | ,)",
        )
    return found


def separator(cells: pd.Series) -> str | None:
    strings = cells[cells.map(lambda c: isinstance(c, str) and not c.lstrip().startswith("["))]
    return next((s for s in SEPARATORS if strings.str.contains(s, regex=False).any()), None)


def parse_cell(cell, sep: str | None) -> list[str]:
    """One cell as a list of labels, stripped, empty pieces and repeats dropped, in order."""
    if isinstance(cell, str) and cell.strip().startswith("["):
        try:
            cell = json.loads(cell)
        except ValueError:
            pass
    if isinstance(cell, str):
        cell = cell.split(sep) if sep else [cell]
    if not isinstance(cell, (list, tuple)):
        cell = [] if cell is None else [cell]
    out: list[str] = []
    for value in (str(v).strip() for v in cell):
        if value and value not in out:
            out.append(value)
    return out


def label_sets(cells: pd.Series, merge: bool) -> tuple[pd.Series, list[str]]:
    """Each cell as a sorted list of labels; spellings of one label merged as text classification
    merges them (case, width, spaces)."""
    sep = separator(cells)
    notes = [f"Labels joined by {sep!r} in a cell were read as separate labels."] if sep else []
    sets = cells.map(lambda c: parse_cell(c, sep))
    if merge:
        flat = sets.explode().dropna()
        if len(flat):
            merged, merge_notes = merge_label_spellings(flat.astype(str))
            notes += merge_notes
            if merge_notes:
                mapping = dict(zip(flat, merged, strict=True))
                sets = sets.map(lambda labels: [mapping.get(x, x) for x in labels])
    return sets.map(lambda labels: sorted(set(labels))), notes


def prepare_examples(table, source, columns, options=None) -> Examples:
    """Pick the columns, clean the texts as text classification does, read the label sets."""
    label = label_column(table, source, columns.get("label"))
    found = detect_columns(table, source, columns.get("text"), label)
    text, notes = clean_texts(table[found.text], options)
    labels, label_notes = label_sets(
        table[label], options is None or getattr(options, "merge_labels", True)
    )
    notes += label_notes
    frame = pd.DataFrame({"input": text, "label": labels, "row": table.index})
    if found.detected:
        notes.append(
            f"Using text column {found.text!r} and label column {label!r} "
            "(override with --data.text_column / --data.label_column)."
        )
    frame = frame[~too_short(frame, source, options, notes)].reset_index(drop=True)
    if frame.empty:
        raise TunesmithError(
            f"no usable rows: every row has empty text in {found.text!r}",
            where=source,
            fix="check the column choice (--data.text_column) and the file's contents",
        )
    empty = int((frame["label"].map(len) == 0).sum())
    if empty:
        notes.append(f"{empty} row(s) have no label: kept, they teach the model to say none.")
    return Examples(frame, source, {"text": found.text, "label": label}, notes)
