"""Scores a user can read from the answers themselves: exact match, ROUGE-L F1 and, where the
data's answers are JSON, the share of the model's answers that are valid JSON. Greedy answers
to held-out chats and instructions; plain text has no reference answers and gets none.
"""

from __future__ import annotations

import json
import os
import re

from tunesmith.data.conversations import flatten, prompt_and_reference
from tunesmith.data.words import CJK

PROMPTS = 200  # held-out prompts answered: greedy generation on a CPU takes seconds a prompt
MAX_NEW_TOKENS = 256  # the longest reference answer sets the answers' length, up to this
SLACK = 8  # tokens past the longest reference: an answer a little longer is still seen whole

# ROUGE's units: one CJK ideograph or kana (no spaces between Chinese or Japanese words), or a
# run of other letters and digits. Punctuation is dropped, as rouge_score's own tokenizer does;
# that one also drops every non-ASCII letter, Chinese included.
KANA = "\u3040-\u30ff"
UNIT = re.compile(rf"[{CJK}{KANA}]|[^\W_{CJK}{KANA}]+")


class Units:
    """The tokenizer rouge_score calls (any object with `tokenize`)."""

    def tokenize(self, text: str) -> list[str]:
        return UNIT.findall(text.lower())


def normalise(text: str) -> str:
    return " ".join(text.split())


def exact_match(answers: list[str], references: list[str]) -> float:
    """Share of answers equal to the reference, runs of white space counted as one space."""
    pairs = zip(answers, references, strict=True)
    return _mean([normalise(a) == normalise(r) for a, r in pairs])


def rouge_l(answers: list[str], references: list[str]) -> float:
    """Mean ROUGE-L F1: the longest common subsequence of units, against both lengths."""
    from rouge_score.rouge_scorer import RougeScorer  # imports nltk: a second or two

    scorer = RougeScorer(["rougeL"], tokenizer=Units())
    pairs = zip(answers, references, strict=True)
    return _mean([scorer.score(r, a)["rougeL"].fmeasure for a, r in pairs])


def is_json(text: str) -> bool:
    """A JSON object or array (a bare number or string is not a structured answer)."""
    try:
        return isinstance(json.loads(text), (dict, list))
    except ValueError:
        return False


def answers_are_json(references: list[str]) -> bool:
    return sum(map(is_json, references)) * 2 > len(references)


def score(answers: list[str], references: list[str]) -> dict:
    """exact_match and rouge_l, and json_valid when most references are JSON."""
    out = {"exact_match": exact_match(answers, references), "rouge_l": rouge_l(answers, references)}
    if answers_are_json(references):
        out["json_valid"] = _mean([is_json(a) for a in answers])
    return out


def measure(model, tokenizer, examples, batch_size: int = 8) -> dict:
    """Greedy answers to the first PROMPTS held-out prompts, scored against the data's answers,
    with how many were answered and the new-token limit; {} for plain text."""
    inputs = list(examples.frame["input"][:PROMPTS])
    if not inputs or isinstance(inputs[0], str):
        return {}
    prompts, references = zip(*(prompt_and_reference(x) for x in inputs), strict=True)
    lengths = tokenizer(list(references), add_special_tokens=False)["input_ids"]
    limit = min(MAX_NEW_TOKENS, max(map(len, lengths)) + SLACK)
    answers = _answer(model, tokenizer, list(prompts), batch_size, limit)
    return score(answers, list(references)) | {"answered": len(prompts), "answer_tokens": limit}


def _answer(model, tokenizer, prompts: list, batch_size: int, limit: int) -> list[str]:
    """generate() a batch at a time, prompts of similar length together; a progress bar once
    it has taken a few seconds."""
    import sys

    from tqdm.auto import tqdm

    from tunesmith.tasks.generation.encoding import generate

    order = sorted(range(len(prompts)), key=lambda i: len(flatten(prompts[i])))
    answers = [""] * len(prompts)
    quiet = os.environ.get("RANK", "0") != "0"
    bar = tqdm(
        total=len(prompts),
        desc="Answering held-out prompts",
        unit="prompt",
        delay=3,
        file=sys.stderr,
        leave=False,
        disable=quiet,
    )
    with bar:
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            texts = [prompts[i] for i in batch]
            texts = generate(model, tokenizer, texts, batch_size, max_new_tokens=limit)
            for i, text in zip(batch, texts, strict=True):
                answers[i] = text
            bar.update(len(batch))
    return answers


def _mean(values: list) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0
