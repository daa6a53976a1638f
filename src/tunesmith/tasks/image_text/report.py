"""Image-text results for people: retrieval and zero-shot before and after fine-tuning."""

from __future__ import annotations

from pathlib import Path

from tunesmith.tasks.image_text import metrics as measure
from tunesmith.tasks.report import Report


class PairReport(Report):
    def headline(self, metrics):
        out = {}
        if "zero_shot_accuracy" in metrics:
            out["zero-shot accuracy"] = metrics["zero_shot_accuracy"]
        out["image-to-text R@1"] = metrics["image_to_text"]["R@1"]
        out["text-to-image R@1"] = metrics["text_to_image"]["R@1"]
        return out

    def mistakes(self, predictions, examples, limit=10):
        return []

    def report_sections(self, metrics, mistakes):
        from tunesmith.evaluation.report import table

        rows = measure.before_after_rows(metrics)
        body = table(["test split", "before fine-tuning", "after"], rows)
        body += (
            f"<p class='muted'>{metrics['images']} images and {metrics['captions']} distinct "
            "captions. Recall@k: the share of images whose caption is among the k closest "
            "captions (and of captions whose image is among the k closest images). Zero-shot: "
            "each image against every label, through caption templates averaged per label. "
            "An assembled dual encoder starts with untrained projections: its 'before' is "
            "chance.</p>"
        )
        return [("Before and after fine-tuning", body)]

    def card_details(self, metrics):
        rows = measure.before_after_rows(metrics)
        return "| test split | before | after |\n|---|---|---|\n" + "\n".join(
            f"| {a} | {b} | {c} |" for a, b, c in rows
        )

    def plain_usage(self, run_dir):
        from tunesmith.models.dual_encoder import CONFIG_FILE

        if (Path(run_dir) / CONFIG_FILE).is_file():
            return (
                "An assembled dual encoder (dual_encoder.json says which towers): load it with "
                '`tunesmith.load("path/to/this/folder")`.'
            )
        return """With transformers alone:
```python
from transformers import pipeline
classify = pipeline("zero-shot-image-classification", model="path/to/this/folder")
```"""

    def plots(self, metrics, history, out_dir: Path):
        from tunesmith.evaluation import plots

        return {"Learning curves": plots.learning_curves(history, out_dir, ())} if history else {}

    def describe(self, metrics):
        return "\n".join(
            f"  {a:24} before {b:>8}   after {c:>8}"
            for a, b, c in measure.before_after_rows(metrics)
        )
