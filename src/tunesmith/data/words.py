"""Split raw text into words with character offsets, for English and Chinese alike.

A word is a run of letters/digits, or one CJK character (Chinese has no spaces between words,
so each character is a unit, and entity spans stay exact), or one punctuation mark.
"""

from __future__ import annotations

import re

CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df"
WORD = re.compile(rf"[{CJK}]|[^\W{CJK}]+|[^\w\s]")


def split_words(text: str) -> list[tuple[str, int, int]]:
    """(word, start, end) for every word in `text`; offsets index into `text` itself."""
    return [(m.group(), m.start(), m.end()) for m in WORD.finditer(text)]
