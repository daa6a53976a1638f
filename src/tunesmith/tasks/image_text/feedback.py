"""Image-text feedback: the right caption for an uploaded image."""

from __future__ import annotations

from tunesmith.tasks.feedback import (
    MAX_ANSWER_CHARS,
    AnswerShapedFeedback,
    Correction,
    optional_json,
    short_text,
)


class CaptionFeedback(AnswerShapedFeedback):
    label_help = (
        "the right class for the image (its caption is made as in training), or for a run "
        "trained on captions only, the right caption"
    )

    def check(self, input, label, predicted, rating):
        caption = short_text(label, "label", 1000) if label is not None else None
        if caption is None:
            raise ValueError(f"label is missing: send {self.label_help}")
        return Correction(caption, optional_json(predicted, "predicted", MAX_ANSWER_CHARS))

    def record(self, input, label, live, keep_file):
        if not live.manifest["columns"].get("label"):  # a run of captions only
            return {"image": keep_file(input), "caption": label}
        from tunesmith.tasks.image_text.metrics import template_for

        template = template_for([label], live.data_options.caption_template)
        return {"image": keep_file(input), "caption": template.format(label=label), "label": label}

    def pool_record(self, row, keep_file):
        record = {"image": keep_file(row["input"]), "caption": row["caption"]}
        if "label" in row and row["label"]:
            record["label"] = row["label"]  # the classes zero-shot accuracy is measured on
        return record
