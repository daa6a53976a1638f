"""Cleaning: text repairs that are safe for training and prediction alike, label spellings
merged, duplicates and conflicting duplicates dropped. Each step counts what it changed and is
switched by a `--data.*` flag; the user's files are never touched (cleaning happens in memory
and the run records what it did).

Whole columns are cleaned with pandas string methods (vectorised over Arrow memory, so a
million rows take seconds); one text at prediction time goes through `clean_text`, which applies
the same patterns with `re`, so training and serving see the same text.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter, defaultdict
from typing import Any

import pandas as pd

# An HTML tag or comment: `<` directly followed by a letter, `/` or `!`, so `a < b` stays.
HTML_TAG = r"<!--.*?-->|</?[A-Za-z][^<>]{0,500}>"
HTML_ENTITY = r"&(?:[A-Za-z]{2,8}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});"
# C0/C1 controls except tab/newline (whitespace, handled below), zero-width characters, bidi
# marks and the BOM: invisible, but they make equal texts differ and split tokens.
CONTROL = (
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
    "\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
SPACES = r"\s+"


def clean_text(text: str, options: Any = None) -> str:
    """One text, cleaned as training cleaned its column (`options`: the run's DataConfig)."""
    text = str(text)
    if _on(options, "strip_html"):
        text = re.sub(HTML_TAG, " ", text, flags=re.DOTALL)
        if re.search(HTML_ENTITY, text):
            text = html.unescape(text)
    if _on(options, "strip_control"):
        text = re.sub(CONTROL, "", text)
    if _on(options, "unicode_nfkc"):
        text = unicodedata.normalize("NFKC", text)
    return re.sub(SPACES, " ", text).strip()


def clean_texts(texts: pd.Series, options: Any = None) -> tuple[pd.Series, list[str]]:
    """A column cleaned as `clean_text` cleans one text, and a note per step that changed rows."""
    steps = [
        ("strip_html", _strip_html, "Removed HTML tags and decoded entities"),
        (
            "strip_control",
            lambda t: t.str.replace(CONTROL, "", regex=True),
            "Removed control and zero-width characters",
        ),
        (
            "unicode_nfkc",
            lambda t: t.str.normalize("NFKC"),
            "Normalised full-width and compatibility forms, Unicode NFKC",
        ),
    ]
    texts, notes = texts.astype(str), []
    for flag, apply, what in steps:
        if _on(options, flag):
            cleaned = apply(texts)
            changed = int((cleaned != texts).sum())
            if changed:
                notes.append(f"{what} (--data.{flag}): {changed} text(s) changed.")
            texts = cleaned
    stripped = texts.str.strip()
    texts = texts.str.replace(SPACES, " ", regex=True).str.strip()
    changed = int((texts != stripped).sum())
    if changed:
        notes.append(f"Collapsed runs of spaces and line breaks: {changed} text(s) changed.")
    return texts, notes


def _strip_html(texts: pd.Series) -> pd.Series:
    texts = texts.str.replace(HTML_TAG, " ", regex=True, flags=re.DOTALL)
    entity = texts.str.contains(HTML_ENTITY, regex=True)
    if entity.any():  # html.unescape only where an entity is, to keep a million rows fast
        texts = texts.copy()
        texts[entity] = texts[entity].map(html.unescape)
    return texts


def _on(options: Any, name: str) -> bool:
    return options is None or bool(getattr(options, name, True))


def _tidy(label: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", label).split())


def label_key(label: str) -> str:
    return _tidy(label).casefold()


def merge_label_spellings(labels: pd.Series) -> tuple[pd.Series, list[str]]:
    """`" Positive"`, `"positive"` and `"ＰＯＳＩＴＩＶＥ"` are one class: each group of spellings
    that differ only in case, width or spaces becomes its most frequent spelling."""
    counts = Counter(labels)
    groups: dict[str, list[str]] = defaultdict(list)
    for spelling in counts:
        groups[label_key(spelling)].append(spelling)
    mapping, notes = {}, []
    for spellings in groups.values():
        if len(spellings) < 2:
            continue
        winner = max(spellings, key=lambda s: (counts[s], s == _tidy(s), s))
        moved = sum(counts[s] for s in spellings if s != winner)
        mapping |= {s: winner for s in spellings}
        shown = ", ".join(repr(s) for s in sorted(spellings, key=lambda s: -counts[s]))
        notes.append(f"Merged label spellings {shown} into {winner!r} ({moved} row(s) relabelled).")
    if mapping:
        labels = labels.map(lambda label: mapping.get(label, label))
    return labels, notes


def example_keys(frame: pd.DataFrame) -> pd.Series:
    """What makes two examples the same: a task's `key` column (image bytes' hash) if it has
    one, else the input."""
    return frame["key"].astype(str) if "key" in frame else duplicate_key(frame["input"])


def duplicate_key(values: pd.Series) -> pd.Series:
    """Inputs as comparable strings (token lists joined with spaces)."""
    if len(values) and isinstance(values.iloc[0], list):
        return values.map(lambda tokens: " ".join(map(str, tokens)))
    return values.astype(str)


def drop_duplicates(frame: pd.DataFrame, options: Any = None) -> tuple[pd.DataFrame, list[str]]:
    """Exact copies of an input keep their first row; copies that disagree on the label are a
    conflict: all of them go (which label is right is the user's call, listed by the doctor)."""
    notes: list[str] = []
    if "label" not in frame or frame.empty:
        return frame, notes
    key = example_keys(frame)
    labels = duplicate_key(frame["label"])
    if _on(options, "drop_conflicts"):
        kinds = pd.DataFrame({"k": key, "l": labels}).groupby("k", sort=False)["l"].nunique()
        conflicted = key.isin(kinds.index[kinds > 1])
        if conflicted.any():
            notes.append(
                f"Dropped {int(conflicted.sum())} row(s): {int((kinds > 1).sum())} text(s) "
                "appear with different labels (--data.drop_conflicts; `tunesmith inspect` "
                "lists them)."
            )
            frame, key, labels = frame[~conflicted], key[~conflicted], labels[~conflicted]
    if _on(options, "drop_duplicates"):
        copies = pd.DataFrame({"k": key, "l": labels}).duplicated(keep="first")
        if copies.any():
            notes.append(
                f"Dropped {int(copies.sum())} exact duplicate row(s), so no copy can sit in "
                "both train and test (--data.drop_duplicates)."
            )
            frame = frame[~copies.to_numpy()]
    return frame.reset_index(drop=True), notes
