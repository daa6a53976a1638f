"""What the single-label classification tasks (text and image) share: labels, the loss with
class weights, metrics and answers (their report is the base tasks/report.py). A task that
predicts one label per input builds on this and adds how it reads, encodes and predicts its
inputs."""

from __future__ import annotations

from tunesmith.errors import TunesmithError
from tunesmith.tasks.base import Task
from tunesmith.tasks.onnx_export import OnnxExport


def sort_labels(values) -> list[str]:
    """Numbers in numeric order ("2" before "10"), anything else alphabetically."""
    values = sorted(set(values))
    if all(v.lstrip("-").isdigit() for v in values):
        return sorted(values, key=int)
    return values


class SingleLabelTask(Task):
    metric = "f1_macro"
    selection_metrics = ("f1_macro", "f1_weighted", "accuracy")
    epoch_metrics = ("accuracy", "f1_macro")
    onnx_class = OnnxExport
    label_studio_control = "choice"

    def stratify_key(self, examples):
        return examples.frame["label"]

    def check_labels(self, examples, labels):
        unknown = sorted(set(examples.frame["label"]) - set(labels))
        if unknown:
            raise TunesmithError(
                f"labels the model does not know: {unknown[:5]} (it knows {labels})",
                where=f"{examples.source}, column {examples.columns['label']!r}",
                fix="fix or remove those rows, or train with them",
            )

    def label_names(self, examples):
        labels = sort_labels(examples.frame["label"])
        if not labels:
            raise TunesmithError(
                "no rows left after cleaning (see the notes above for what was dropped)",
                where=examples.source,
                fix="check the data, or switch off the step that dropped them "
                "(e.g. --no-drop-conflicts)",
            )
        if len(labels) < 2:
            raise TunesmithError(
                f"only one class ({labels[0]!r}) in column {examples.columns['label']!r}; a "
                "classifier needs at least two",
                where=examples.source,
                fix="add examples of other classes, or check --data.label_column",
            )
        return labels

    def loss_function(self, class_weights):
        if class_weights is None:
            return None
        import torch.nn.functional as F

        def weighted_cross_entropy(outputs, labels, num_items_in_batch=None):
            logits = outputs["logits"].float()
            return F.cross_entropy(logits, labels, weight=class_weights.to(logits.device))

        return weighted_cross_entropy

    def validation_metrics(self, labels):
        from tunesmith.evaluation.classification import summary_metrics

        def compute(eval_pred) -> dict[str, float]:
            predicted = eval_pred.predictions.argmax(-1)
            return summary_metrics(eval_pred.label_ids, predicted, labels)

        return compute

    @staticmethod
    def _answer(row: list[float], labels: list[str]) -> dict:
        best = max(range(len(row)), key=row.__getitem__)
        return {
            "label": labels[best],
            "score": row[best],
            "scores": dict(zip(labels, row, strict=True)),
        }

    def right_or_wrong(self, predictions, examples):
        return [p["label"] == y for p, y in zip(predictions, examples.frame["label"], strict=True)]

    def promotion_score(self, predictions, examples, labels):
        """Macro-F1 alone (the full metrics take ten times as long)."""
        from sklearn.metrics import f1_score

        predicted = [p["label"] for p in predictions]
        truth = list(examples.frame["label"])
        return float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0))

    def score(self, predictions, examples, labels):
        from tunesmith.evaluation.classification import full_metrics

        return full_metrics(
            list(examples.frame["label"]), [p["label"] for p in predictions], labels
        )

    def headline_parts(self, predictions, examples, labels):
        """Accuracy (the headline): per row, right or not."""
        from tunesmith.evaluation.parity import accuracy_parts

        truth = examples.frame["label"]
        return accuracy_parts([p["label"] == y for p, y in zip(predictions, truth, strict=True)])
