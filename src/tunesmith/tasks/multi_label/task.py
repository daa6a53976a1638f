"""The multi-label task: any number of labels per text (none allowed), on any
`AutoModelForSequenceClassification` with `problem_type="multi_label_classification"` (one sigmoid
per label, binary cross-entropy), each label cut at its own threshold tuned on validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tunesmith.errors import TunesmithError
from tunesmith.tasks.base import DISTILL_SETTINGS, Task
from tunesmith.tasks.multi_label import metrics as measure
from tunesmith.tasks.multi_label import report
from tunesmith.tasks.multi_label.data import prepare_examples
from tunesmith.tasks.multi_label.feedback import LabelSetFeedback
from tunesmith.tasks.onnx_export import OnnxExport
from tunesmith.tasks.single_label import sort_labels

THRESHOLDS = "thresholds.json"  # in the run directory: {label: threshold}


class MultiLabel(Task):
    name = "multi-label"
    report_class = report.LabelSetReport
    feedback = LabelSetFeedback()
    promotion_metric = "f1_micro"
    label_studio_control = "choices"
    default_model = "minilm-l6"
    input_kind = "text"
    cleans_inputs = True
    pipeline_tag = "text-classification"
    metric = "f1_micro"
    selection_metrics = ("f1_micro", "f1_macro")
    epoch_metrics = ("f1_micro", "f1_macro")
    peft_task_type = "SEQ_CLS"
    settings = ("train.extend_vocab", *DISTILL_SETTINGS)
    onnx_class = OnnxExport  # the same logits; predict() applies sigmoid and the thresholds

    def prepare(self, table, source, columns, options=None):
        return prepare_examples(table, source, columns, options)

    def distiller(self):
        from tunesmith.tasks.multi_label.distillation import SigmoidDistiller

        return SigmoidDistiller(student="minilm-l3")

    def label_names(self, examples):
        labels = sort_labels(x for labels in examples.frame["label"] for x in labels)
        if not labels:
            raise TunesmithError(
                "no row has a label",
                where=f"{examples.source}, column {examples.columns['label']!r}",
                fix="check --data.label_column: a list per row, or labels joined by ; | or ,",
            )
        return labels

    def label_counts(self, examples):
        """Rows per label, most frequent first (ties by name), and the rows with none, for the
        data doctor."""
        from collections import Counter

        sets = examples.frame["label"]
        counts = Counter(x for row in sets for x in row)
        return {
            "labels": {k: v for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))},
            "rows_without_label": int((sets.map(len) == 0).sum()),
        }

    def stratify_key(self, examples):
        """Multi-hot rows: data/split.py splits them by iterative stratification."""
        return measure.multi_hot(examples.frame["label"], self.label_names(examples))

    def check_labels(self, examples, labels):
        unknown = sorted({x for row in examples.frame["label"] for x in row} - set(labels))
        if unknown:
            raise TunesmithError(
                f"labels the model does not know: {unknown[:5]} (it knows {labels})",
                where=f"{examples.source}, column {examples.columns['label']!r}",
                fix="fix or remove those labels, or train with them",
            )

    def load_model(self, source, labels, flag_value):
        from transformers import AutoModelForSequenceClassification

        from tunesmith.models.loading import load_with_new_head

        model, tokenizer = load_with_new_head(
            AutoModelForSequenceClassification, source, labels, flag_value
        )
        model.config.problem_type = "multi_label_classification"  # sigmoid + BCE, saved
        return model, tokenizer

    def load_trained(self, run_dir):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        model = AutoModelForSequenceClassification.from_pretrained(run_dir)
        tokenizer = AutoTokenizer.from_pretrained(run_dir)
        saved = Path(run_dir) / THRESHOLDS
        if saved.is_file():
            thresholds = json.loads(saved.read_text(encoding="utf-8"))
            model.config.label_thresholds = thresholds
            tokenizer.label_thresholds = thresholds  # kept when the model is swapped for ONNX
        return model, tokenizer

    def encode(self, examples, processor, labels, cfg, training=False):
        from datasets import Dataset

        self.check_labels(examples, labels)
        encoded = processor(
            list(examples.frame["input"]), truncation=True, max_length=cfg.max_length
        )
        columns = dict(encoded)
        columns["labels"] = measure.multi_hot(examples.frame["label"], labels).astype("float32")
        columns["labels"] = columns["labels"].tolist()  # BCE wants float targets
        columns["length"] = [len(ids) for ids in encoded["input_ids"]]
        return Dataset.from_dict(columns)

    def collator(self, processor):
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(processor, pad_to_multiple_of=8)

    def loss_function(self, class_weights):
        return None  # the model's own BCE (problem_type); thresholds handle rare labels

    def probe_labels(self, batch, length):
        import torch

        return torch.randint(0, 2, (batch, 2)).float()  # multi-hot over the probe's 2 labels

    def validation_metrics(self, labels):
        return measure.validation_metrics(labels)

    def probabilities(self, model, processor, texts, max_length, batch_size=64) -> np.ndarray:
        """Sigmoid scores, rows in input order."""
        from tunesmith.tasks.text_batches import logits_in_order

        return logits_in_order(model, processor, texts, max_length, batch_size).sigmoid().numpy()

    def predict(self, model, processor, inputs, labels, max_length, batch_size=64):
        texts = [str(t) for t in inputs]  # cleaned by the caller (api.Model.predict)
        probs = self.probabilities(model, processor, texts, max_length, batch_size)
        thresholds = _thresholds(model, processor)
        chosen = measure.apply_thresholds(probs, labels, thresholds)
        return [_answer(row, picked, labels) for row, picked in zip(probs, chosen, strict=True)]

    def headline_parts(self, predictions, examples, labels):
        """Micro F1's true and false positives and false negatives, row by row."""
        from tunesmith.evaluation.parity import f1_parts

        truth = measure.multi_hot(examples.frame["label"], labels).astype(bool)
        predicted = measure.multi_hot([p["labels"] for p in predictions], labels).astype(bool)
        return f1_parts(
            (truth & predicted).sum(1), (~truth & predicted).sum(1), (truth & ~predicted).sum(1)
        )

    def promotion_score(self, predictions, examples, labels):
        """Micro-F1 alone (retrain's bootstrap asks a thousand times)."""
        from sklearn.metrics import f1_score

        truth = measure.multi_hot(examples.frame["label"], labels)
        predicted = measure.multi_hot([p["labels"] for p in predictions], labels)
        return float(f1_score(truth, predicted, average="micro", zero_division=0))

    def score(self, predictions, examples, labels):
        truth = measure.multi_hot(examples.frame["label"], labels)
        predicted = measure.multi_hot([p["labels"] for p in predictions], labels)
        return measure.full_metrics(truth, predicted, labels)

    def baseline(self, model, processor, examples, cfg):
        """The untrained head (every threshold 0.5) on the test split."""
        probs = self.probabilities(
            model, processor, list(examples.frame["input"]), cfg.max_length, cfg.eval_batch_size
        )
        labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        truth = measure.multi_hot(examples.frame["label"], labels)
        return measure.summary(truth, (probs >= 0.5) * 1)

    def calibrate(self, model, processor, val, labels, cfg, run_dir):
        """A threshold per label, each maximising that label's F1 on the validation split."""
        from tunesmith.run_dir import write_json

        if not len(val):
            return
        texts = list(val.frame["input"])
        probs = self.probabilities(model, processor, texts, cfg.max_length, cfg.eval_batch_size)
        truth = measure.multi_hot(val.frame["label"], labels)
        model.config.label_thresholds = measure.tune_thresholds(probs, truth, labels)
        write_json(Path(run_dir) / THRESHOLDS, model.config.label_thresholds)

    def test(self, model, processor, examples, labels, max_length, batch_size, baseline=None):
        inputs = list(examples.frame["input"])
        predictions = self.predict(model, processor, inputs, labels, max_length, batch_size)
        metrics = self.score(predictions, examples, labels)
        metrics["thresholds"] = _thresholds(model, processor) or {}
        if baseline:
            metrics["before"] = baseline
        return metrics, predictions


def _thresholds(model, processor) -> dict | None:
    config = getattr(model, "config", None)
    return getattr(config, "label_thresholds", None) or getattr(processor, "label_thresholds", None)


def _answer(probs, picked, labels: list[str]) -> dict:
    order = sorted(range(len(labels)), key=lambda j: -probs[j])
    return {
        "labels": [labels[j] for j in order if picked[j]],
        "scores": {labels[j]: float(probs[j]) for j in order},
    }
