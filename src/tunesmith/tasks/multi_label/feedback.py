"""Multi-label feedback: the right set of labels for a text (the empty set is an answer)."""

from __future__ import annotations

import json

from tunesmith.tasks.feedback import AnswerShapedFeedback, Correction, optional_json, short_text
from tunesmith.tasks.multi_label.data import SEPARATORS


class LabelSetFeedback(AnswerShapedFeedback):
    label_help = 'the right labels, a list such as ["sport", "politics"] ([] when none applies)'

    def check(self, input, label, predicted, rating):
        if isinstance(label, str):  # "sport;politics", as the data files may write it
            separator = next((s for s in SEPARATORS if s in label), None)
            label = [x for x in label.split(separator)] if separator else [label]
        if not isinstance(label, list):
            raise ValueError(f"label must be {self.label_help}")
        labels = sorted({short_text(x, f"label[{i}]") for i, x in enumerate(label)})
        return Correction(
            json.dumps(labels, ensure_ascii=False), optional_json(predicted, "predicted")
        )

    def record(self, input, label, live, keep_file):
        return {"text": input, "labels": json.loads(label)}

    def pool_record(self, row, keep_file):
        return {"text": row["input"], "labels": list(row["label"])}
