"""How well a model's vocabulary covers the data: unknown-token and truncation shares.

MiniLM-L6's English WordPiece vocabulary turns most Chinese characters into [UNK]; a model fine-
tuned on such text learns from a fraction of it. Measured before training, warned about above
5%, with the fix named.
"""

from __future__ import annotations

import re
from collections import Counter

from tunesmith.console import info

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
WARN_SHARE = 0.05
CHINESE_MODEL = "multilingual-e5-small"


def chinese_share(texts: list[str]) -> float:
    """Share of non-space characters that are CJK ideographs."""
    text = "".join(texts)
    letters = sum(1 for c in text if not c.isspace())
    return len(CJK.findall(text)) / letters if letters else 0.0


def coverage(tokenizer, texts: list[str], max_length: int) -> dict[str, float]:
    """unknown: share of tokens that are the unknown token; truncated: share of texts longer
    than `max_length` tokens (with the special tokens); tokens: mean tokens a text as the model
    reads it (special tokens in, cut at `max_length`)."""
    if not texts:
        return {"unknown": 0.0, "truncated": 0.0, "tokens": 0.0}
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    total = sum(len(row) for row in ids)
    unk = tokenizer.unk_token_id
    unknown = sum(row.count(unk) for row in ids) if unk is not None else 0
    special = tokenizer.num_special_tokens_to_add()
    truncated = sum(1 for row in ids if len(row) + special > max_length)
    read = sum(min(len(row) + special, max_length) for row in ids)
    return {
        "unknown": unknown / total if total else 0.0,
        "truncated": truncated / len(texts),
        "tokens": read / len(texts),
    }


def unknown_pieces(tokenizer, texts: list[str]) -> Counter:
    """The substrings of `texts` that the tokenizer turns into its unknown token, counted."""
    counts: Counter = Counter()
    unk = tokenizer.unk_token_id
    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    for text, ids, offsets in zip(
        texts, encoded["input_ids"], encoded["offset_mapping"], strict=True
    ):
        for token, (start, end) in zip(ids, offsets, strict=True):
            if token == unk and end > start:
                counts[text[start:end]] += 1
    return counts


def extend_vocabulary(
    tokenizer, model, texts: list[str], min_count: int = 2, limit: int = 5000
) -> list[str]:
    """Add the data's frequent unknown pieces (Chinese characters, mostly) as new tokens and
    grow the embedding table to match; new rows start at the mean of the old ones, so the saved
    model still loads with plain transformers. Returns the tokens added."""
    from tokenizers import AddedToken

    counts = unknown_pieces(tokenizer, texts)
    new = [piece for piece, n in counts.most_common(limit) if n >= min_count]
    if new:
        tokenizer.add_tokens(
            [AddedToken(p, single_word=not CJK.fullmatch(p), normalized=True) for p in new]
        )
        model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    return new


def choose_model(task, texts: list[str]) -> str:
    """The task's default model, or its Chinese-capable one when the text is mostly Chinese
    (a warning when the task has none)."""
    from tunesmith.models.catalog import CATALOG

    share = chinese_share(texts)
    if share < 0.3:
        return task.default_model
    chosen = task.chinese_model()
    if chosen is None:
        info(
            f"{share:.0%} of the text is Chinese, but {task.default_model} is an English-centred "
            "model and no Chinese-capable one ships offline for this task: expect weak results, "
            "or pass --model a model trained on Chinese (a hub id or a local folder)."
        )
        return task.default_model
    if CATALOG[CHINESE_MODEL].installed():
        info(
            f"{share:.0%} of the text is Chinese: using {chosen}, which covers Chinese (set "
            "--model to choose another)."
        )
        return chosen
    info(
        f"{share:.0%} of the text is Chinese, but {CHINESE_MODEL} is not installed "
        f"({CATALOG[CHINESE_MODEL].install_hint}); using {task.default_model}."
    )
    return task.default_model


def check_vocabulary(
    tokenizer, texts: list[str], model: str, max_length: int, notes: list[str]
) -> dict[str, float] | None:
    """Measure unknown-token and truncation shares (returned, see `coverage`); warn with the fix
    when too many tokens are unknown to the model."""
    if not hasattr(tokenizer, "unk_token_id"):
        return None
    shares = coverage(tokenizer, texts, max_length)
    line = (
        f"Vocabulary: {shares['unknown']:.1%} of tokens unknown to {model}; "
        f"{shares['truncated']:.1%} of texts longer than {max_length} tokens."
    )
    notes.append(line)
    if shares["unknown"] > WARN_SHARE:
        info(
            f"Warning: {line} The model cannot read much of this text. Fix: --model "
            f"{CHINESE_MODEL} (covers Chinese and 100 languages) or another model for the "
            "language."
        )
    else:
        info(line)
    return shares
