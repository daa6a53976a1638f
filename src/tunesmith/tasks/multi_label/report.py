"""What people see of a multi-label run: headline, terminal lines, CSV columns, report sections,
plots and model card."""

from __future__ import annotations

from pathlib import Path

from tunesmith.tasks.report import Report


def _joined(labels) -> str:
    return ", ".join(labels) or "(none)"


class LabelSetReport(Report):
    def headline(self, metrics):
        return {
            "micro F1": metrics["f1_micro"],
            "macro F1": metrics["f1_macro"],
            "samples F1": metrics["f1_samples"],
            "subset accuracy": metrics["subset_accuracy"],
            "Hamming loss": metrics["hamming_loss"],
        }

    def mistakes(self, predictions, examples, limit=10):
        """Rows whose predicted set differs, by the most confident wrong decision (a label
        predicted that is not there, or a missed one scored far from it)."""
        rows = []
        for p, (_, ex) in zip(predictions, examples.frame.iterrows(), strict=True):
            truth, said = set(ex["label"]), set(p["labels"])
            if truth == said:
                continue
            wrong = [p["scores"].get(x, 0.0) for x in said - truth]
            wrong += [1 - p["scores"].get(x, 0.0) for x in truth - said]
            rows.append(
                {
                    "row": int(ex["row"]),
                    "input": ex["input"],
                    "label": _joined(sorted(truth)),
                    "predicted": _joined(p["labels"]),
                    "score": max(wrong),
                }
            )
        return sorted(rows, key=lambda r: -r["score"])[:limit]

    def report_sections(self, metrics, mistakes):
        from tunesmith.evaluation.report import mistakes_table, per_class_table, table

        sections = [("Per label (test)", per_class_table(metrics))]
        thresholds = metrics.get("thresholds") or {}
        if thresholds:
            html = table(["label", "threshold"], [[k, f"{v:.3f}"] for k, v in thresholds.items()])
            sections.append(("Thresholds (each maximises its label's F1 on validation)", html))
        if metrics.get("before"):
            before = metrics["before"]
            rows = [
                [name, f"{before[key]:.3f}", f"{metrics[key]:.3f}"]
                for key, name in (
                    ("f1_micro", "micro F1"),
                    ("f1_macro", "macro F1"),
                    ("subset_accuracy", "subset accuracy"),
                    ("hamming_loss", "Hamming loss"),
                )
            ]
            sections.append(
                ("Before and after training (test)", table(["metric", "untrained", "tuned"], rows))
            )
        sections.append(("Most confident mistakes (test)", mistakes_table(mistakes)))
        return sections

    def card_details(self, metrics):
        thresholds = metrics.get("thresholds") or {}
        lines = [
            "| label | precision | recall | F1 | support | threshold |",
            "|---|---|---|---|---|---|",
        ]
        for name, m in metrics["per_class"].items():
            cut = f"{thresholds[name]:.3f}" if name in thresholds else "0.5"
            lines.append(
                f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | "
                f"{m['support']} | {cut} |"
            )
        return "\n".join(lines)

    def plain_usage(self, run_dir):
        return """With transformers alone (one sigmoid per label; a label applies when its score
reaches its threshold in `thresholds.json`, tuned on the validation split):
```python
import json
from transformers import pipeline
model = pipeline("text-classification", model="path/to/this/folder", top_k=None,
                 function_to_apply="sigmoid")
thresholds = json.load(open("path/to/this/folder/thresholds.json"))
scores = model("your text")[0]
labels = [s["label"] for s in scores if s["score"] >= thresholds.get(s["label"], 0.5)]
```"""

    def plots(self, metrics, history, out_dir: Path):
        from tunesmith.evaluation import plots

        title = f"F1 per label (micro {metrics['f1_micro']:.3f}, macro {metrics['f1_macro']:.3f})"
        out = {"F1 per label (test)": plots.per_class_f1(metrics, Path(out_dir), title)}
        if history:
            out["Learning curves"] = plots.learning_curves(
                history, out_dir, self.task.epoch_metrics
            )
        return out

    def format_answer(self, answer):
        top = list(answer["scores"].items())[:3]
        return f"{_joined(answer['labels'])}\t" + " ".join(f"{k}={v:.3f}" for k, v in top)

    def answer_columns(self, answer):
        return {"predicted_labels": ";".join(answer["labels"])} | {
            f"score_{k}": round(v, 6) for k, v in answer["scores"].items()
        }

    def describe(self, metrics):
        from tunesmith.evaluation.classification import per_class_table

        head = (
            f"  micro-F1 {metrics['f1_micro']:.4f}   macro-F1 {metrics['f1_macro']:.4f}   "
            f"subset accuracy {metrics['subset_accuracy']:.4f}   Hamming loss "
            f"{metrics['hamming_loss']:.4f}   ({metrics['count']} examples)"
        )
        return head + "\n" + per_class_table(metrics["per_class"], heading="label")
