"""The answers-and-report piece of the task contract: how a task's results read to people.

A task holds one as `Task.report` (built for it, so it can read the task's settings): the
headline numbers, the terminal summary, the report's sections and plots, the model card, and
one answer as a terminal line or as output columns. Training, serving and export never call
it for anything but showing results. This base class is the report of a classifier with one
label per input; each task package has its own `report.py` where it differs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tunesmith.tasks.base import Examples, Task


class Report:
    def __init__(self, task: Task):
        self.task = task

    def headline(self, metrics: dict) -> dict[str, float]:
        """The few test numbers that summarise the model, by human name, best first."""
        return {
            "test accuracy": metrics["accuracy"],
            "macro F1": metrics["f1_macro"],
            "weighted F1": metrics["f1_weighted"],
            "macro precision": metrics["precision_macro"],
            "macro recall": metrics["recall_macro"],
        }

    def describe(self, metrics: dict) -> str:
        """The headline metrics as a few lines for the terminal."""
        from tunesmith.evaluation.classification import format_metrics

        return format_metrics(metrics)

    def mistakes(self, predictions: list[dict], examples: Examples, limit: int = 10) -> list[dict]:
        """Rows for the report: {row, input, label, predicted, score}, most confident first."""
        scored = examples.frame.assign(
            predicted=[p["label"] for p in predictions], score=[p["score"] for p in predictions]
        )
        wrong = scored[scored["predicted"] != scored["label"]]
        return wrong.sort_values("score", ascending=False).head(limit).to_dict("records")

    def mistake_gallery(self, mistakes: list[dict], out_dir: Path) -> dict[str, Path]:
        """Pictures of the worst mistakes, for tasks whose inputs are pictures."""
        return {}

    def report_sections(self, metrics: dict, mistakes: list[dict]) -> list[tuple[str, str]]:
        """(title, HTML) sections of report.html between the headline and the plots."""
        from tunesmith.evaluation.report import mistakes_table, per_class_table

        return [
            ("Per class", per_class_table(metrics)),
            ("Most confident mistakes (test)", mistakes_table(mistakes)),
        ]

    def plots(self, metrics: dict, history: list[dict], out_dir: Path) -> dict[str, Path]:
        """Plots worth looking at, written as PNG; returns title -> path."""
        from tunesmith.evaluation import plots

        out = {"Confusion matrix (test)": plots.confusion_matrix(metrics, out_dir)}
        if history:
            out["Learning curves"] = plots.learning_curves(
                history, out_dir, self.task.epoch_metrics
            )
        return out

    def card_details(self, metrics: dict) -> str:
        """The model card's detailed results (Markdown) under the headline numbers."""
        return "| class | precision | recall | F1 | support |\n|---|---|---|---|---|\n" + "\n".join(
            f"| {n} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |"
            for n, m in metrics["per_class"].items()
        )

    def plain_usage(self, run_dir: Path) -> str:
        """How to load the saved run without tunesmith, for the model card (Markdown)."""
        return f"""With transformers alone:
```python
from transformers import pipeline
model = pipeline("{self.task.pipeline_tag}", model="path/to/this/folder")
```"""

    def format_answer(self, answer: dict) -> str:
        """One answer as a short line for the terminal."""
        return f"{answer['label']}\t{answer['score']:.3f}"

    def answer_columns(self, answer: dict) -> dict[str, object]:
        """One answer as the columns `predict --output` adds to the input row."""
        return {"predicted_label": answer["label"], "score": round(answer["score"], 6)}
