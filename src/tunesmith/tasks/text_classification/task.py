"""Text classification: one label per text, on any `AutoModelForSequenceClassification`."""

from __future__ import annotations

import pandas as pd

from tunesmith.data.clean import clean_texts, merge_label_spellings, too_short
from tunesmith.data.columns import detect_columns
from tunesmith.data.readers import describe_row
from tunesmith.errors import TunesmithError
from tunesmith.tasks.base import DISTILL_SETTINGS, Examples
from tunesmith.tasks.feedback import Feedback
from tunesmith.tasks.single_label import SingleLabelTask


class TextClassification(SingleLabelTask):
    name = "text-classification"
    default_model = "minilm-l6"
    input_kind = "text"
    cleans_inputs = True
    pipeline_tag = "text-classification"
    peft_task_type = "SEQ_CLS"  # --lora: adapters plus a fully trained classifier head
    feedback = Feedback()
    settings = ("train.class_weights", "train.extend_vocab", *DISTILL_SETTINGS)

    def distiller(self):
        from tunesmith.training.distillation import SoftmaxDistiller

        return SoftmaxDistiller(student="minilm-l3")

    def class_weights(self, train_dataset, num_labels, mode):
        from tunesmith.training.trainer import balanced_weights

        return balanced_weights(train_dataset["labels"], num_labels, mode)

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
        short = too_short(frame, source, options, notes)
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

    def predict(self, model, processor, inputs, labels, max_length, batch_size=64):
        from tunesmith.tasks.text_batches import logits_in_order

        texts = [str(t) for t in inputs]  # cleaned by the caller (api.Model.predict)
        logits = logits_in_order(model, processor, texts, max_length, batch_size)
        return [self._answer(row, labels) for row in logits.softmax(-1).tolist()]
