"""Text classification: one label per text, on any `AutoModelForSequenceClassification`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from tunesmith.data.clean import clean_texts, merge_label_spellings
from tunesmith.data.columns import detect_columns
from tunesmith.data.readers import describe_row
from tunesmith.errors import TunesmithError
from tunesmith.tasks.base import Examples, Task


def sort_labels(values) -> list[str]:
    """Numbers in numeric order ("2" before "10"), anything else alphabetically."""
    values = sorted(set(values))
    if all(v.lstrip("-").isdigit() for v in values):
        return sorted(values, key=int)
    return values


class TextClassification(Task):
    name = "text-classification"
    default_model = "minilm-l6"
    input_kind = "text"
    cleans_inputs = True
    pipeline_tag = "text-classification"
    metric = "f1_macro"
    selection_metrics = ("f1_macro", "f1_weighted", "accuracy")
    epoch_metrics = ("accuracy", "f1_macro")
    peft_task_type = "SEQ_CLS"  # --lora: adapters plus a fully trained classifier head
    onnx_logits = "per_input"
    collects_feedback = True
    distillable = True
    settings = (
        "train.class_weights",
        "train.extend_vocab",
        "train.teacher",
        "train.distill_temperature",
        "train.distill_alpha",
    )

    def stratify_key(self, examples):
        return examples.frame["label"]

    def class_weights(self, train_dataset, num_labels, mode):
        from tunesmith.training.trainer import balanced_weights

        return balanced_weights(train_dataset["labels"], num_labels, mode)

    def check_labels(self, examples, labels):
        unknown = sorted(set(examples.frame["label"]) - set(labels))
        if unknown:
            raise TunesmithError(
                f"labels the model does not know: {unknown[:5]} (it knows {labels})",
                where=f"{examples.source}, column {examples.columns['label']!r}",
                fix="fix or remove those rows, or train with them",
            )

    def headline(self, metrics):
        return {
            "test accuracy": metrics["accuracy"],
            "macro F1": metrics["f1_macro"],
            "weighted F1": metrics["f1_weighted"],
            "macro precision": metrics["precision_macro"],
            "macro recall": metrics["recall_macro"],
        }

    def mistakes(self, predictions, examples, limit=10):
        scored = examples.frame.assign(
            predicted=[p["label"] for p in predictions], score=[p["score"] for p in predictions]
        )
        wrong = scored[scored["predicted"] != scored["label"]]
        return wrong.sort_values("score", ascending=False).head(limit).to_dict("records")

    def prepare(self, table, source, columns, options=None):
        found = detect_columns(table, source, columns.get("text"), columns.get("label"))
        text, notes = clean_texts(table[found.text], options)
        label = table[found.label].astype(str).str.strip()
        if options is None or options.merge_labels:
            label, merged = merge_label_spellings(label)
            notes += merged
        frame = pd.DataFrame({"input": text, "label": label, "row": table.index})
        if found.detected:
            notes.append(
                f"Using text column {found.text!r} and label column {found.label!r} "
                "(override with --data.text_column / --data.label_column)."
            )
        min_chars = options.min_chars if options is not None else 1
        short = frame["input"].str.len() < min_chars
        if short.any():
            notes.append(
                f"Dropped {int(short.sum())} row(s) with empty or too-short text "
                f"(first: {describe_row(source, int(frame.index[short][0]))})."
            )
        unlabeled = ~short & (frame["label"] == "")
        if unlabeled.any():
            notes.append(
                f"Dropped {int(unlabeled.sum())} row(s) with no label "
                f"(first: {describe_row(source, int(frame.index[unlabeled][0]))})."
            )
        frame = frame[~short & ~unlabeled].reset_index(drop=True)
        if frame.empty:
            raise TunesmithError(
                f"no usable rows: every row has empty text in {found.text!r} or "
                f"no label in {found.label!r}",
                where=source,
                fix="check the column choice (--data.text_column, "
                "--data.label_column) and the file's contents",
            )
        return Examples(frame, source, {"text": found.text, "label": found.label}, notes)

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

    def load_model(self, source, labels, flag_value):
        from transformers import AutoModelForSequenceClassification

        from tunesmith.models.loading import load_with_new_head

        return load_with_new_head(AutoModelForSequenceClassification, source, labels, flag_value)

    def load_trained(self, run_dir):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        return (
            AutoModelForSequenceClassification.from_pretrained(run_dir),
            AutoTokenizer.from_pretrained(run_dir),
        )

    def encode(self, examples, processor, labels, cfg, training=False):
        from datasets import Dataset

        self.check_labels(examples, labels)
        index = {name: i for i, name in enumerate(labels)}
        encoded = processor(
            list(examples.frame["input"]), truncation=True, max_length=cfg.max_length
        )
        columns = dict(encoded)
        columns["labels"] = [index[x] for x in examples.frame["label"]]
        columns["length"] = [len(ids) for ids in encoded["input_ids"]]
        return Dataset.from_dict(columns)

    def collator(self, processor):
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(processor, pad_to_multiple_of=8)

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

    def predict(self, model, processor, inputs, labels, max_length, batch_size=64):
        import torch

        texts = [str(t) for t in inputs]  # cleaned by the caller (api.Model.predict)
        # Shortest first, so each batch pads little; answers are put back in input order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        probs: list[Any] = [None] * len(texts)
        model.eval()
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                enc = processor(
                    [texts[i] for i in batch],
                    truncation=True,
                    max_length=max_length,
                    padding=True,
                    return_tensors="pt",
                ).to(model.device)
                out = model(**enc).logits.float().softmax(-1).cpu().tolist()
                for i, row in zip(batch, out, strict=True):
                    probs[i] = row
        return [self._answer(row, labels) for row in probs]

    @staticmethod
    def _answer(row: list[float], labels: list[str]) -> dict:
        best = max(range(len(row)), key=row.__getitem__)
        return {
            "label": labels[best],
            "score": row[best],
            "scores": dict(zip(labels, row, strict=True)),
        }

    def score(self, predictions, examples, labels):
        from tunesmith.evaluation.classification import full_metrics

        return full_metrics(
            list(examples.frame["label"]), [p["label"] for p in predictions], labels
        )

    def plots(self, metrics, history, out_dir: Path):
        from tunesmith.evaluation import plots

        out = {"Confusion matrix (test)": plots.confusion_matrix(metrics, out_dir)}
        if history:
            out["Learning curves"] = plots.learning_curves(history, out_dir, self.epoch_metrics)
        return out

    def format_answer(self, answer):
        return f"{answer['label']}\t{answer['score']:.3f}"

    def answer_columns(self, answer):
        return {"predicted_label": answer["label"], "score": round(answer["score"], 6)}

    def describe(self, metrics):
        from tunesmith.evaluation.classification import format_metrics

        return format_metrics(metrics)
