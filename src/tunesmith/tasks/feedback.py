"""The feedback piece of the task contract: what a correction from the service looks like for a
task, and how the task's examples travel through `tunesmith retrain`'s training pool.

A task holds one of these as `Task.feedback` (None: the task takes no feedback). The service
checks a correction with `check` and stores it as text; `retrain` turns stored corrections and
the run's own examples into pool records (JSON objects this task's `prepare` reads back), so the
pool goes through the same reading and cleaning as any training file.

This base class is the rule for one label per input (a text or an image); tasks whose answers
have another shape (label sets, entity spans, captions, answers, passages) subclass it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

# A label becomes a class name at `tunesmith retrain`; longer ones are refused (and `predicted`,
# which is a label too), so a client cannot grow the database with them.
MAX_LABEL_CHARS = 200
# Captions, answers and passages are texts, not class names.
MAX_ANSWER_CHARS = 20_000


@dataclass
class Correction:
    """A checked correction, as the feedback store keeps it."""

    label: str | None  # the right answer (JSON for structured ones); None for a bare rating
    predicted: str | None  # what the model answered, where the client said
    trains: bool = True  # retrain learns from it; False: kept for the record (a thumbs-down)


def short_text(value: Any, what: str, limit: int = MAX_LABEL_CHARS) -> str:
    """A non-empty string of at most `limit` characters, stripped; ValueError says why not."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string")
    value = value.strip()
    if not value:
        raise ValueError(f"{what} is empty")
    if len(value) > limit:
        raise ValueError(f"{what} has {len(value)} characters; at most {limit} characters")
    return value


def optional_json(value: Any, what: str, limit: int = MAX_ANSWER_CHARS) -> str | None:
    """What the model answered, as the client sent it (a label, or a structured answer)."""
    if value is None:
        return None
    if isinstance(value, str):
        return short_text(value, what, MAX_LABEL_CHARS)
    text = json.dumps(value, ensure_ascii=False)
    if len(text) > limit:
        raise ValueError(f"{what} is over {limit} characters")
    return text


class Feedback:
    """One label per input: `label` is the right class name (a new one is allowed: retrain
    learns it)."""

    def summary(self, corrections: list[dict], labels: list[str]) -> list[str]:
        """Lines for `tunesmith feedback`: what the corrections say about the model."""
        from collections import Counter

        wrong = [c for c in corrections if c["predicted"] and c["predicted"] != c["label"]]
        lines = [
            f"the model was wrong on {len(wrong)} of the corrections that say what it answered"
        ]
        pairs = Counter((c["predicted"], c["label"]) for c in wrong)
        lines += [
            f"{n:>4} x answered {was!r}, should be {right!r}"
            for (was, right), n in pairs.most_common(10)
        ]
        new = sorted({c["label"] for c in corrections} - set(labels))
        if new:
            lines.append(f"new labels the model does not know: {', '.join(new)}")
        return lines

    label_help = f"the right label (at most {MAX_LABEL_CHARS} characters)"

    def __init__(self, input_column: str = "text"):
        self.input_column = input_column  # the pool records' input field: "text" or "image"

    takes_ratings = False  # a thumbs up or down instead of a label (generation)

    def checked(self, input: Any, label: Any, predicted: Any, rating: str | None) -> Correction:
        """`check`, after refusing a rating where the task takes none."""
        if rating is not None and not self.takes_ratings:
            raise ValueError(f"rating is for generation models; send {self.label_help}")
        return self.check(input, label, predicted, rating)

    def check(self, input: Any, label: Any, predicted: Any, rating: str | None) -> Correction:
        """The correction a client sent, checked: ValueError with what to send instead."""
        if label is None:
            raise ValueError(f"label is missing: send {self.label_help}")
        return Correction(
            short_text(label, "label"), optional_json(predicted, "predicted", MAX_LABEL_CHARS)
        )

    def record(self, input: str, label: str, live: Any, keep_file: Callable[[str], str]) -> dict:
        """A stored correction as a pool record. `input` is the stored input (a text, or an
        image's absolute path); `live` the loaded run (tunesmith.api.Model: its manifest,
        labels, data options); `keep_file` as for pool_record."""
        return {self.input_column: self._input(input, keep_file), "label": label}

    def records(self, rows: list[dict], live: Any, keep_file: Callable[[str], str]):
        """All stored corrections ({input, label, predicted}) as pool records, and how many
        were not usable. Default: each one through `record`; a task whose examples come from
        several corrections together (preference pairs: a better and a worse answer) pairs
        them here."""
        return [self.record(r["input"], r["label"], live, keep_file) for r in rows], 0

    def pool_record(self, row: dict, keep_file: Callable[[str], str]) -> dict:
        """One prepared example (a row of Examples.frame) as a pool record. `keep_file(path)`
        copies a file the example needs (an image) into the pool and returns its new path."""
        return {self.input_column: self._input(row["input"], keep_file), "label": row["label"]}

    def _input(self, value: Any, keep_file: Callable[[str], str]) -> Any:
        return keep_file(value) if self.input_column == "image" else value

    def keys(self, frame: pd.DataFrame) -> list[str]:
        """What makes two examples the same one: a newer answer for the same key replaces the
        older, and a training example whose key is in the frozen test set is dropped."""
        if "key" in frame:  # images: the digest of their bytes, under any file name
            return [str(k) for k in frame["key"]]
        return [json.dumps(x, ensure_ascii=False) for x in frame["input"]]


class AnswerShapedFeedback(Feedback):
    """Base for tasks whose answers are not one class name (label sets, spans, captions,
    answers, passages): `tunesmith feedback` counts them without a confusion list."""

    def summary(self, corrections, labels):
        answered = sum(1 for c in corrections if c["predicted"])
        return [f"{answered} of the corrections say what the model answered"]
