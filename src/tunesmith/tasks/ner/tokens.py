"""How a sentence's words reach the tokenizer, and which sub-word carries each word's tag.

Words go to the tokenizer pre-split, so no token spans two words and every entity boundary
stays a token boundary; but they go as the running text has them. A SentencePiece tokenizer
(XLM-R, multilingual-e5) writes a word start "▁" only where the text has a space or a sentence
begins; handed pre-split words the usual way, it puts one before every word, so a Chinese
sentence of N characters became about 2N tokens ("▁" 中 "▁" 国 ...), a text unlike any the model
was pretrained on, and long sentences spilled into extra windows. Here only words after a space
(or first in the sentence) get their "▁": 中国 reads as "▁" 中 国. Tokenizing the running text
whole would be shorter still, but XLM-R merges characters across entity boundaries ("在北京" is
one piece): on MSRA news text 9% of the entities had a boundary inside a token, capping entity
F1 at 0.91 before any training.
"""

from __future__ import annotations

import copy
import json
from weakref import WeakKeyDictionary

WORD_START = "\u2581"
_UNPREFIXED: WeakKeyDictionary = WeakKeyDictionary()  # tokenizer -> its copy without auto "▁"


def model_words(words: list[str], offsets: list[tuple[int, int]]) -> list[str]:
    """The words as the tokenizer reads them: with a leading space where the text has one
    before the word (and for the first word), so that "▁" marks only real word starts."""
    return [
        f" {word}" if i == 0 or offsets[i][0] > offsets[i - 1][1] else word
        for i, (word, _) in enumerate(zip(words, offsets, strict=True))
    ]


def _unprefixed(tokenizer):
    """A copy of a SentencePiece-style (Metaspace) tokenizer that adds no "▁" of its own, or
    None for tokenizers that mark no word starts (WordPiece: pre-split words are read as is)."""
    if tokenizer not in _UNPREFIXED:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        split = backend.pre_tokenizer if backend is not None else None
        state = json.loads(split.__getstate__()) if split is not None else {}
        found = None
        if _never_prefix(state):
            found = copy.deepcopy(tokenizer)
            split = found.backend_tokenizer.pre_tokenizer
            split.__setstate__(json.dumps(state).encode())
            found.backend_tokenizer.pre_tokenizer = split
        _UNPREFIXED[tokenizer] = found
    return _UNPREFIXED[tokenizer]


def _never_prefix(state: dict) -> bool:
    """Turn a pre-tokenizer's state into one that adds no "▁" (True if it had a Metaspace): the
    Metaspace prepends never, and a WhitespaceSplit before it (transformers' own XLM-R) goes, or
    it would strip the leading spaces that mark word starts (Metaspace splits at spaces itself)."""
    if state.get("type") == "Metaspace":
        state["prepend_scheme"] = "never"
        return True
    parts = state.get("pretokenizers") or []
    if state.get("type") == "Sequence" and any([_never_prefix(part) for part in parts]):
        state["pretokenizers"] = [p for p in parts if p["type"] != "WhitespaceSplit"]
        return True
    return False


def windows(tokenizer, sentences: list[tuple[list, list]], max_length: int, **kwargs):
    """Tokenise (words, offsets) sentences; long ones become windows overlapping by a quarter.
    `word_ids` index the words; the encoding's ids are the original tokenizer's ids."""
    words = [list(w) for w, _ in sentences]
    unprefixed = _unprefixed(tokenizer)
    if unprefixed is not None:
        tokenizer = unprefixed
        words = [model_words(w, offsets) for w, (_, offsets) in zip(words, sentences, strict=True)]
    return tokenizer(
        words,
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
        stride=max_length // 4,
        return_overflowing_tokens=True,
        **kwargs,
    )


def space_piece(tokenizer) -> int | None:
    """The id of SentencePiece's bare word-start piece "▁", if the tokenizer has one."""
    piece = tokenizer.convert_tokens_to_ids(WORD_START)
    return None if piece in (None, tokenizer.unk_token_id) else piece


def first_pieces(word_ids: list, input_ids: list[int], space: int | None) -> dict[int, int]:
    """Word index -> position of the sub-word that carries its tag: the first one, or the
    second when the first is a bare "▁" (XLM-R has no "▁中", so a word start before a Chinese
    character is "▁" alone, which says nothing about the character that follows)."""
    first: dict[int, int] = {}
    for position, word in enumerate(word_ids):
        if word is None:
            continue
        if word not in first:
            first[word] = position
        elif position == first[word] + 1 and input_ids[first[word]] == space:
            first[word] = position
    return first


def over_length(mapping: list[int]) -> int:
    """How many sentences were cut into more than one window (`overflow_to_sample_mapping`)."""
    from collections import Counter

    return sum(1 for n in Counter(mapping).values() if n > 1)
