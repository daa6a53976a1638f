"""Embedding feedback: the passage that should have been found for a query."""

from __future__ import annotations

from tunesmith.tasks.feedback import (
    MAX_ANSWER_CHARS,
    AnswerShapedFeedback,
    Correction,
    optional_json,
    short_text,
)


class PassageFeedback(AnswerShapedFeedback):
    label_help = "the passage that answers the query (input)"

    def check(self, input, label, predicted, rating):
        if label is None:
            raise ValueError(f"label is missing: send {self.label_help}")
        passage = short_text(label, "label", MAX_ANSWER_CHARS)
        return Correction(passage, optional_json(predicted, "predicted", MAX_ANSWER_CHARS))

    def record(self, input, label, live, keep_file):
        return {"query": input, "passage": label}

    def pool_record(self, row, keep_file):
        record = {"query": row["input"], "passage": row["passage"]}
        if isinstance(row.get("negative"), str) and row["negative"]:
            record["negative"] = row["negative"]
        return record
