"""How well a model's vocabulary covers the data: unknown-token and truncation shares.

MiniLM-L6's English WordPiece vocabulary turns most Chinese characters into [UNK]; a model fine-
tuned on such text learns from a fraction of it. Measured before training, warned about above
5%, with the fix named.
"""

from __future__ import annotations

import re

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
WARN_SHARE = 0.05


def chinese_share(texts: list[str]) -> float:
    """Share of non-space characters that are CJK ideographs."""
    text = "".join(texts)
    letters = sum(1 for c in text if not c.isspace())
    return len(CJK.findall(text)) / letters if letters else 0.0


def coverage(tokenizer, texts: list[str], max_length: int) -> dict[str, float]:
    """unknown: share of tokens that are the unknown token; truncated: share of texts longer
    than `max_length` tokens (with the special tokens)."""
    if not texts:
        return {"unknown": 0.0, "truncated": 0.0}
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    total = sum(len(row) for row in ids)
    unk = tokenizer.unk_token_id
    unknown = sum(row.count(unk) for row in ids) if unk is not None else 0
    special = tokenizer.num_special_tokens_to_add()
    truncated = sum(1 for row in ids if len(row) + special > max_length)
    return {"unknown": unknown / total if total else 0.0, "truncated": truncated / len(texts)}
