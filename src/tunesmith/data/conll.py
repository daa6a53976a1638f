"""CoNLL files (token and tag per line, blank line between sentences) and tag schemes."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from tunesmith.errors import TunesmithError

TAG = re.compile(r"^(O|[BIMESLU]-.+)$")


def looks_like_conll(text: str) -> bool:
    """Most non-blank lines are `token<space or tab>...tag` with a BIO-style last field."""
    lines = [line for line in text.splitlines()[:200] if line.strip()]
    hits = sum(1 for line in lines if len(line.split()) >= 2 and TAG.match(line.split()[-1]))
    return bool(lines) and hits >= 0.9 * len(lines)


def read_conll(path: Path, text: str) -> pd.DataFrame:
    """One row per sentence: `tokens` and `tags` lists. `-DOCSTART-` lines are skipped."""
    rows, tokens, tags = [], [], []
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            if tokens:
                rows.append({"tokens": tokens, "tags": tags, "line": lineno - len(tokens)})
            tokens, tags = [], []
            continue
        if fields[0] == "-DOCSTART-":
            continue
        if len(fields) < 2:
            raise TunesmithError(
                f"expected a token and a tag, found {line.strip()!r}",
                where=f"{path}, line {lineno}",
                fix="write `token<TAB>tag` on each line and a blank line between sentences",
            )
        tokens.append(fields[0])
        tags.append(fields[-1])
    if tokens:
        rows.append({"tokens": tokens, "tags": tags, "line": lineno - len(tokens) + 1})
    return pd.DataFrame(rows)


def to_bio(tags: list[str]) -> tuple[list[str], int]:
    """Normalise IOB1 / BIOES / BMES / BILOU tags to BIO (IOB2); return (tags, repairs made).

    An I- that does not continue an entity of its type starts one (B-): that is how IOB1
    marks most entities, and in BIO it is the usual annotation slip.
    """
    out, repairs, previous = [], 0, "O"
    for tag in tags:
        if tag == "O" or len(tag) < 3 or tag[1] != "-":
            out.append("O")
            previous = "O"
            continue
        prefix, kind = tag[0], tag[2:]
        if prefix in "SU":
            prefix = "B"
        elif prefix in "MEL":  # BMES (Chinese NER data) writes an entity's middle as M-
            prefix = "I"
        if prefix == "I" and previous[2:] != kind:
            prefix = "B"
            repairs += 1
        out.append(f"{prefix}-{kind}")
        previous = out[-1]
    return out, repairs
