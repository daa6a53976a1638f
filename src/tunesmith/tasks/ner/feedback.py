"""NER feedback: the right entity spans of a text, as character offsets (the shape `predict`
answers in, so a client can send back a corrected answer)."""

from __future__ import annotations

import json

from tunesmith.tasks.feedback import AnswerShapedFeedback, Correction, optional_json, short_text


class SpanFeedback(AnswerShapedFeedback):
    label_help = (
        'the right entities, a list such as [{"start": 0, "end": 5, "label": "PER"}] '
        "(character offsets into input; [] when the text has none)"
    )

    def check(self, input, label, predicted, rating):
        if not isinstance(input, str):
            raise ValueError("input must be the text the model answered")
        if not isinstance(label, list):
            raise ValueError(f"label must be {self.label_help}")
        spans = []
        for i, span in enumerate(label):
            where = f"label[{i}]"
            if not isinstance(span, dict):
                raise ValueError(f"{where} must be an object: {self.label_help}")
            start, end = span.get("start"), span.get("end")
            kind = span.get("label", span.get("type"))
            if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool):
                raise ValueError(f"{where} needs integer start and end (character offsets)")
            if not 0 <= start < end <= len(input):
                raise ValueError(
                    f"{where} spans {start}..{end}, outside the input's {len(input)} characters"
                )
            spans.append({"start": start, "end": end, "label": short_text(kind, f"{where}.label")})
        return Correction(
            json.dumps(spans, ensure_ascii=False), optional_json(predicted, "predicted")
        )

    def record(self, input, label, live, keep_file):
        from tunesmith.tasks.ner.task import spans_to_words

        words, _, tags, _ = spans_to_words(input, json.loads(label))
        return {"tokens": words, "tags": tags}

    def pool_record(self, row, keep_file):
        return {"tokens": list(row["input"]), "tags": list(row["label"])}
