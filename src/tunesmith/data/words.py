"""Split raw text into words with character offsets, for English and Chinese alike, and join
pre-split words (CoNLL) back into the running text they came from.

A word is a run of letters/digits, or one CJK character (Chinese has no spaces between words,
so each character is a unit, and entity spans stay exact), or one punctuation mark.
"""

from __future__ import annotations

import re

CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df"
WORD = re.compile(rf"[{CJK}]|[^\W{CJK}]+|[^\w\s]")
# Scripts written without spaces between words, and their punctuation: CJK ideographs, CJK
# symbols (、。《》), kana, full-width forms (，：（）！).
UNSPACED = re.compile(rf"[{CJK}\u3000-\u30ff\uff00-\uffef]")


def split_words(text: str) -> list[tuple[str, int, int]]:
    """(word, start, end) for every word in `text`; offsets index into `text` itself."""
    return [(m.group(), m.start(), m.end()) for m in WORD.finditer(text)]


def join_words(words: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """The running text of pre-split words and each word's offsets in it: a space between two
    words, except where either side is Chinese (or another unspaced script), and none at all in
    a Chinese sentence split one character per line (as Chinese CoNLL data is: "1 9 9 7 年"
    was "1997年")."""
    chars = all(len(w) == 1 for w in words) and any(UNSPACED.match(w) for w in words)
    text, offsets = "", []
    for word in words:
        if text and word and not (chars or UNSPACED.match(text[-1]) or UNSPACED.match(word[0])):
            text += " "
        offsets.append((len(text), len(text) + len(word)))
        text += word
    return text, offsets
