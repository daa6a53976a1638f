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
HTML_TAG = r"(?s)<!--.*?-->|</?[A-Za-z][^<>]{0,500}>"
HTML_ENTITY = r"&(?:[A-Za-z]{2,8}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});"
# C0/C1 controls except tab/newline (whitespace, handled below), zero-width characters, bidi
# marks and the BOM: invisible, but they make equal texts differ and split tokens.
CONTROL_RANGES = [
    (0x00, 0x08), (0x0B, 0x0C), (0x0E, 0x1F), (0x7F, 0x9F), (0x200B, 0x200F), (0x2028, 0x2029),
    (0x202A, 0x202E), (0x2060, 0x2064), (0x2066, 0x2069), (0xFEFF, 0xFEFF),
]  # fmt: skip
# Exactly what Python's `\s` matches in a str, spelled out so Arrow's RE2 matches the same.
SPACE_RANGES = [
    (0x09, 0x0D), (0x1C, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A),
    (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000),
]  # fmt: skip


def _char_class(ranges: list[tuple[int, int]], re2: bool) -> str:
    """`[...]` for Python's re (\\uXXXX) or for RE2 (\\x{...}), from the same ranges."""
    code = (lambda c: f"\\x{{{c:x}}}") if re2 else (lambda c: f"\\U{c:08x}")
    return "[" + "".join(f"{code(a)}-{code(b)}" for a, b in ranges) + "]"


CONTROL, CONTROL_RE2 = _char_class(CONTROL_RANGES, False), _char_class(CONTROL_RANGES, True)
SPACES = _char_class(SPACE_RANGES, False) + "+"
SPACES_RE2 = _char_class(SPACE_RANGES, True) + "+"


def clean_text(text: str, options: Any = None) -> str:
    """One text, cleaned as training cleaned its column (`options`: the run's DataConfig)."""
    text = str(text)
    if _on(options, "strip_html"):
        text = re.sub(HTML_TAG, " ", text)
        if re.search(HTML_ENTITY, text):
            text = html.unescape(text)
    if _on(options, "strip_control"):
        text = re.sub(CONTROL, "", text)
    if _on(options, "unicode_nfkc"):
        text = unicodedata.normalize("NFKC", text)
    return re.sub(SPACES, " ", text).strip()


CHUNK = 100_000  # rows cleaned at a time: every step copies its column, so chunks bound memory


def too_short(frame: pd.DataFrame, source: str, options: Any, notes: list[str]) -> pd.Series:
    """Rows whose cleaned `input` is shorter than --data.min_chars, with a note naming the
    first; the caller drops them."""
    from tunesmith.data.readers import describe_row

    short = frame["input"].str.len() < (options.min_chars if options is not None else 1)
    if short.any():
        notes.append(
            f"Dropped {int(short.sum())} row(s) with empty or too-short text "
            f"(first: {describe_row(source, int(frame.index[short][0]))})."
        )
    return short


def clean_texts(texts: pd.Series, options: Any = None) -> tuple[pd.Series, list[str]]:
    """A column cleaned as `clean_text` cleans one text, and a note per step that changed rows.

    The regular expressions run in Arrow (RE2), not through Python strings, and a large column
    goes through in chunks: a million rows in seconds and well under a gigabyte."""
    texts = texts.astype(str)
    counts: dict[str, int] = {}
    parts = []
    for start in range(0, max(len(texts), 1), CHUNK):
        cleaned, changed = _clean_chunk(texts.iloc[start : start + CHUNK], options)
        parts.append(cleaned)
        for step, n in changed.items():
            counts[step] = counts.get(step, 0) + n
    notes = [f"{STEPS[step]}: {n} text(s) changed." for step, n in counts.items() if n]
    return (pd.concat(parts) if len(parts) > 1 else parts[0]), notes


STEPS = {
    "strip_html": "Removed HTML tags and decoded entities (--data.strip_html)",
    "strip_control": "Removed control and zero-width characters (--data.strip_control)",
    "unicode_nfkc": "Normalised full-width and compatibility forms, Unicode NFKC "
    "(--data.unicode_nfkc)",
    "spaces": "Collapsed runs of spaces and line breaks",
}


def _clean_chunk(texts: pd.Series, options: Any) -> tuple[pd.Series, dict[str, int]]:
    steps = {
        "strip_html": _strip_html,
        "strip_control": lambda t: _replace(t, CONTROL_RE2, ""),
        "unicode_nfkc": lambda t: _arrow(t, _compute().utf8_normalize(_array(t), "NFKC")),
    }
    changed = {}
    for step, apply in steps.items():
        if _on(options, step):
            cleaned = apply(texts)
            changed[step] = int((cleaned != texts).sum())
            texts = cleaned
    stripped = _strip(texts)
    texts = _strip(_replace(texts, SPACES_RE2, " "))
    changed["spaces"] = int((texts != stripped).sum())
    return texts, changed


def _compute():
    import pyarrow.compute

    return pyarrow.compute


def _array(texts: pd.Series):
    import pyarrow as pa

    return pa.array(texts.array)


def _arrow(like: pd.Series, values) -> pd.Series:
    return pd.Series(values, dtype=like.dtype, index=like.index)


def _replace(texts: pd.Series, re2_pattern: str, replacement: str) -> pd.Series:
    return _arrow(
        texts, _compute().replace_substring_regex(_array(texts), re2_pattern, replacement)
    )


def _strip(texts: pd.Series) -> pd.Series:
    """Strip what `str.strip()` strips (the same whitespace as SPACES)."""
    edge = SPACES_RE2
    return _replace(_replace(texts, "^" + edge, ""), edge + "$", "")


# The entities most text carries, decoded in Arrow; `&amp;` last, so "&amp;lt;" -> "&lt;" as
# html.unescape does. Rows with any other `&` go through html.unescape itself.
COMMON_ENTITIES = [("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#39;", "'")]
COMMON_ENTITIES += [("&nbsp;", "\xa0"), ("&amp;", "&")]


def _strip_html(texts: pd.Series) -> pd.Series:
    compute = _compute()
    texts = _replace(texts, HTML_TAG, " ")
    values = _array(texts)
    entity = compute.match_substring_regex(values, HTML_ENTITY)
    if not compute.any(entity).as_py():
        return texts
    decoded = values
    for name, char in COMMON_ENTITIES:
        decoded = compute.replace_substring(decoded, name, char)
    others = compute.replace_substring_regex(values, "&(lt|gt|quot|#39|nbsp|amp);", "")
    rare = compute.and_(entity, compute.match_substring(others, "&"))
    decoded = _arrow(texts, compute.if_else(entity, decoded, values))
    if compute.any(rare).as_py():  # other entities: Python's html.unescape, on those rows only
        rare = pd.Series(rare.to_numpy(zero_copy_only=False), index=texts.index)  # a mask
        decoded = decoded.copy()
        decoded[rare] = texts[rare].map(html.unescape)
    return decoded


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


def label_codes(frame: pd.DataFrame) -> pd.Series:
    """An integer per distinct label; all equal for tasks without labels (generation), where
    copies are plain duplicates and never conflicts."""
    if "label" not in frame:
        return pd.Series(0, index=frame.index)
    return hashed(duplicate_key(frame["label"]))


def duplicate_key(values: pd.Series) -> pd.Series:
    """Inputs as comparable strings (token lists joined with spaces)."""
    if len(values) and isinstance(values.iloc[0], list):
        return values.map(lambda tokens: " ".join(map(str, tokens)))
    return values.astype(str)


def hashed(values: pd.Series) -> pd.Series:
    """An integer code per distinct value (Arrow's dictionary encoding): equal texts get equal
    codes, so duplicates are found on integers; through pandas a million texts cost a GB."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values_ = pa.array(values.astype(str).array)
    if isinstance(values_, pa.ChunkedArray):  # one dictionary for all, not one per chunk
        values_ = values_.combine_chunks()
    codes = pc.dictionary_encode(values_).indices
    return pd.Series(codes.to_numpy(zero_copy_only=False), index=values.index)


def drop_duplicates(frame: pd.DataFrame, options: Any = None) -> tuple[pd.DataFrame, list[str]]:
    """Exact copies of an input keep their first row; copies that disagree on the label are a
    conflict: all of them go (which label is right is the user's call, listed by the doctor)."""
    notes: list[str] = []
    if frame.empty:
        return frame, notes
    key = hashed(example_keys(frame))
    labels = label_codes(frame)
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
