"""Find the text and label columns of a table when the user did not name them."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tunesmith.errors import TunesmithError

TEXT_NAMES = (
    "text",
    "sentence",
    "review",
    "content",
    "body",
    "document",
    "comment",
    "message",
    "question",
    "title",
    "文本",
    "内容",
    "评论",
    "句子",
    "正文",
    "标题",
)
LABEL_NAMES = (
    "label",
    "labels",
    "category",
    "class",
    "target",
    "sentiment",
    "topic",
    "intent",
    "y",
    "标签",
    "类别",
    "分类",
    "情感",
    "类型",
)


@dataclass(frozen=True)
class Columns:
    text: str
    label: str
    detected: bool  # True when tunesmith chose at least one of them


def by_name(columns: list[str], names: tuple[str, ...]) -> str | None:
    lowered = {c.lower(): c for c in columns}
    return next((lowered[n] for n in names if n in lowered), None)


def column_names(columns, show: int = 20) -> str:
    """The columns for a message: all of a usual table, the first `show` of a very wide one."""
    columns = [str(c) for c in columns]
    named = ", ".join(map(repr, columns[:show]))
    return named if len(columns) <= show else f"{named}, ... ({len(columns):,} in all)"


def check_column(frame: pd.DataFrame, column: str, flag: str, source: str) -> None:
    if column not in frame.columns:
        raise TunesmithError(
            f"no column {column!r} (columns are: {column_names(frame.columns)})",
            where=f"{source}, {flag}",
            fix=f"pass one of those names to {flag}",
        )


def detect_columns(
    frame: pd.DataFrame, source: str, text: str | None = None, label: str | None = None
) -> Columns:
    """Resolve the text and label columns: given names are checked, missing ones detected."""
    if text:
        check_column(frame, text, "--data.text_column", source)
    if label:
        check_column(frame, label, "--data.label_column", source)
    columns = [str(c) for c in frame.columns]
    detected = not (text and label)
    if not text:
        candidates = [c for c in columns if c != label]
        text = by_name(candidates, TEXT_NAMES) or _longest_text(frame, candidates)
    if not label:
        candidates = [c for c in columns if c != text]
        label = by_name(candidates, LABEL_NAMES) or _fewest_values(frame, candidates)
    if not text or not label:
        raise TunesmithError(
            f"cannot tell which column holds the {'text' if not text else 'label'} "
            f"(columns are: {column_names(columns)})",
            where=source,
            fix="name them with --data.text_column and --data.label_column",
        )
    return Columns(text=text, label=label, detected=detected)


def _longest_text(frame: pd.DataFrame, candidates: list[str]) -> str | None:
    """The column with the longest average text that is not mostly numbers."""
    best, best_len = None, 0.0
    for column in candidates:
        values = frame[column].astype(str)
        numeric = pd.to_numeric(values, errors="coerce").notna().mean()
        mean_len = values.str.len().mean()
        if numeric < 0.5 and mean_len > best_len:
            best, best_len = column, mean_len
    return best


def _fewest_values(frame: pd.DataFrame, candidates: list[str]) -> str | None:
    """A column with few distinct values, as labels have (2 to half the rows, at most 1000)."""
    limit = max(2, min(1000, len(frame) // 2))
    scored = [(frame[c].nunique(), c) for c in candidates]
    usable = sorted((n, c) for n, c in scored if 2 <= n <= limit)
    return usable[0][1] if usable else None


def detect_text_column(
    frame: pd.DataFrame, source: str, given: str | None, trained_on: str | None = None
) -> str:
    """The text column for prediction: as given, else the training run's, else detected."""
    if given:
        check_column(frame, given, "--text-column", source)
        return given
    if trained_on and trained_on in frame.columns:
        return trained_on
    columns = [str(c) for c in frame.columns]
    found = by_name(columns, TEXT_NAMES) or _longest_text(frame, columns)
    if not found:
        raise TunesmithError(
            "cannot tell which column holds the text",
            where=source,
            fix="name it with --text-column",
        )
    return found
