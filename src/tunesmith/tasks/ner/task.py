"""Named-entity recognition: a BIO tag per word, on any `AutoModelForTokenClassification`.

Examples hold words (`input`), their BIO tags (`label`), the running text and each word's
character offsets, so predictions map back to exact spans of the original text in English and
Chinese. The model reads the words as the running text has them (tokens.py: no word-start mark
between two Chinese characters); the first sub-word of each word carries its tag, the rest are
ignored by the loss. Sentences longer than the model's maximum are cut into overlapping windows,
not truncated, and training says how many were.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tunesmith.console import info
from tunesmith.data.columns import by_name, check_column
from tunesmith.data.conll import to_bio
from tunesmith.data.readers import describe_row
from tunesmith.data.words import join_words, split_words
from tunesmith.errors import TunesmithError
from tunesmith.tasks.base import DISTILL_SETTINGS, Examples, Task
from tunesmith.tasks.ner.feedback import SpanFeedback
from tunesmith.tasks.ner.report import EntityReport
from tunesmith.tasks.ner.tokens import first_pieces, over_length, space_piece, windows
from tunesmith.tasks.onnx_export import TokenLogitsExport

TOKEN_NAMES = ("tokens", "words", "token", "sentence", "text")
TAG_NAMES = ("tags", "ner_tags", "labels", "label", "entities", "spans")


def _pick(table: pd.DataFrame, given: str | None, names: tuple[str, ...], flag: str, source: str):
    if given:
        check_column(table, given, flag, source)
        return given
    found = by_name([str(c) for c in table.columns], names)
    if found is None:
        raise TunesmithError(
            f"cannot find the NER columns (columns are: {', '.join(map(repr, table.columns))})",
            where=source,
            fix="use CoNLL, JSONL with `tokens` + `tags`, or JSONL with `text` + `entities` "
            "(character spans), or name them with --data.text_column/--data.label_column",
        )
    return found


def spans_to_words(
    text: str, spans: list
) -> tuple[list[str], list[tuple[int, int]], list[str], int]:
    """Character spans -> words, offsets and BIO tags; also counts spans cut inside a word."""
    words = split_words(text)
    tags = ["O"] * len(words)
    misaligned = 0
    for span in spans:
        start, end, kind = (
            (span["start"], span["end"], span.get("label") or span.get("type"))
            if isinstance(span, dict)
            else span[:3]
        )
        inside = [i for i, (_, s, e) in enumerate(words) if s < end and e > start]
        if not inside:
            misaligned += 1
            continue
        if words[inside[0]][1] != start or words[inside[-1]][2] != end:
            misaligned += 1
        for n, i in enumerate(inside):
            tags[i] = f"{'B' if n == 0 else 'I'}-{kind}"
    return [w for w, _, _ in words], [(s, e) for _, s, e in words], tags, misaligned


def entities(tags: list[str], probs: list[float], text: str, offsets) -> list[dict]:
    """Group BIO tags into entity spans with character offsets into `text`."""
    found, current = [], None
    for i, tag in enumerate(tags):
        kind = tag[2:] if tag != "O" else None
        if current and (tag.startswith("B-") or kind != current["type"]):
            found.append(current)
            current = None
        if kind:
            if current is None:
                current = {"type": kind, "start": offsets[i][0], "probs": []}
            current["end"] = offsets[i][1]
            current["probs"].append(probs[i])
    if current:
        found.append(current)
    return [
        {
            "type": e["type"],
            "text": text[e["start"] : e["end"]],
            "start": e["start"],
            "end": e["end"],
            "score": sum(e["probs"]) / len(e["probs"]),
        }
        for e in found
    ]


class TokenClassification(Task):
    name = "ner"
    report_class = EntityReport
    feedback = SpanFeedback()
    promotion_metric = "f1"  # entity F1 (micro)
    label_studio_control = "spans"
    default_model = "minilm-l6"
    input_kind = "text"
    throughput_unit = ("sentences", "tokens")
    pipeline_tag = "token-classification"
    metric = "f1"
    selection_metrics = ("f1",)
    epoch_metrics = ("f1", "precision", "recall")
    peft_task_type = "TOKEN_CLS"
    label_noun = "entity types"
    onnx_class = TokenLogitsExport
    settings = (
        "train.class_weights",
        "train.extend_vocab",
        "train.subword_labels",
        *DISTILL_SETTINGS,
    )
    # Measured on tweet NER (MiniLM-L6, 1,914 sentences): 3 epochs at 5e-5 reached test entity
    # F1 0.33; 5 epochs at 1e-4 reached 0.52. A fresh per-token head needs more and larger steps.
    default_epochs = 5
    learning_rate_scale = 2.0

    def distiller(self):
        from tunesmith.tasks.ner.distillation import TokenDistiller

        return TokenDistiller(self, student="minilm-l3")

    def prepare(self, table, source, columns, options=None):
        words_col = _pick(table, columns.get("text"), TOKEN_NAMES, "--data.text_column", source)
        tags_col = _pick(table, columns.get("label"), TAG_NAMES, "--data.label_column", source)
        rows, repairs, misaligned = [], 0, 0
        for index, (words, tags) in enumerate(zip(table[words_col], table[tags_col], strict=True)):
            if isinstance(words, str) and not isinstance(tags, list):
                raise TunesmithError(
                    f"column {tags_col!r} must hold a list of tags or of entity spans",
                    where=describe_row(source, index),
                    fix='write tags as ["O", "B-PER", ...] or spans as '
                    '[{"start": 0, "end": 5, "label": "ORG"}]',
                )
            if isinstance(words, str):  # text + character spans
                text = words
                words, offsets, tags, cut = spans_to_words(text, tags)
                misaligned += cut
            else:
                words = [str(w) for w in words]
                if len(words) != len(tags):
                    raise TunesmithError(
                        f"{len(words)} tokens but {len(tags)} tags",
                        where=describe_row(source, index),
                        fix="give every token exactly one tag",
                    )
                text, offsets = join_words(words)
            if not words:
                continue
            tags, fixed = to_bio([str(t) for t in tags])
            repairs += fixed
            rows.append(
                {"input": words, "label": tags, "text": text, "offsets": offsets, "row": index}
            )
        notes = []
        if repairs:
            notes.append(f"Repaired {repairs} tag(s): an I- that continued no entity became B-.")
        if misaligned:
            notes.append(
                f"{misaligned} entity span(s) did not start/end on a word boundary; "
                "they were widened to whole words."
            )
        if not rows:
            raise TunesmithError(
                "no sentences with tokens", where=source, fix="check the file's contents"
            )
        return Examples(pd.DataFrame(rows), source, {"text": words_col, "label": tags_col}, notes)

    def label_names(self, examples):
        kinds = sorted({t[2:] for tags in examples.frame["label"] for t in tags if t != "O"})
        if not kinds:
            raise TunesmithError(
                "no entities: every tag is O",
                where=examples.source,
                fix="annotate some entities (B-TYPE / I-TYPE tags)",
            )
        return ["O"] + [f"{p}-{k}" for k in kinds for p in "BI"]

    def check_labels(self, examples, labels):
        known = set(labels)
        unknown = sorted({t for tags in examples.frame["label"] for t in tags} - known)
        if unknown:
            raise TunesmithError(
                f"entity tags the model does not know: {unknown[:5]}",
                where=examples.source,
                fix="fix those tags, or train with them",
            )

    def load_model(self, source, labels, flag_value):
        from transformers import AutoModelForTokenClassification

        from tunesmith.models.loading import load_with_new_head

        model, tokenizer = load_with_new_head(
            AutoModelForTokenClassification, source, labels, flag_value
        )
        if not tokenizer.is_fast:
            raise TunesmithError(
                "NER needs a fast tokenizer (for word alignment)",
                where=f"--model {flag_value}",
                fix="use a model that ships tokenizer.json",
            )
        return model, tokenizer

    def load_trained(self, run_dir: Path):
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        return (
            AutoModelForTokenClassification.from_pretrained(run_dir),
            AutoTokenizer.from_pretrained(run_dir),
        )

    def _windows(self, tokenizer, sentences, max_length, **kwargs):
        """Tokenise (words, offsets) sentences into windows (tokens.py); distillation's too."""
        return windows(tokenizer, sentences, max_length, **kwargs)

    def texts(self, examples, limit=2000):
        """The running text (Chinese without spaces between characters), as the model reads it."""
        return list(examples.frame["text"][:limit])

    def encode(self, examples, processor, labels, cfg, training=False):
        from datasets import Dataset

        self.check_labels(examples, labels)
        index = {name: i for i, name in enumerate(labels)}
        frame = examples.frame
        tags = list(frame["label"])
        sentences = list(zip(frame["input"], frame["offsets"], strict=True))
        enc = self._windows(processor, sentences, cfg.max_length)
        columns = {k: enc[k] for k in enc if k != "overflow_to_sample_mapping"}
        columns["labels"] = []
        space = space_piece(processor)
        for window, sample in enumerate(enc["overflow_to_sample_mapping"]):
            word_ids = enc.word_ids(window)
            first = first_pieces(word_ids, enc["input_ids"][window], space)
            row = []
            for position, word in enumerate(word_ids):
                if word is None:
                    row.append(-100)
                elif first[word] == position:  # the first real sub-word carries the tag
                    row.append(index[tags[sample][word]])
                elif cfg.subword_labels == "all":  # the others continue the entity
                    row.append(index[tags[sample][word].replace("B-", "I-", 1)])
                else:
                    row.append(-100)
            columns["labels"].append(row)
        columns["length"] = [len(ids) for ids in enc["input_ids"]]
        if training:  # what the user needs to know: did sentences fit, or were they cut
            over = over_length(enc["overflow_to_sample_mapping"])
            info(
                f"NER: {over:,} of {len(sentences):,} training sentences over {cfg.max_length} "
                f"tokens{' (each cut into overlapping windows)' if over else ''}; "
                f"{len(enc['input_ids']):,} windows in all."
            )
        return Dataset.from_dict(columns)

    def collator(self, processor):
        from transformers import DataCollatorForTokenClassification

        return DataCollatorForTokenClassification(processor, pad_to_multiple_of=8)

    def validation_metrics(self, labels):
        from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score
        from seqeval.scheme import IOB2

        def compute(eval_pred) -> dict[str, float]:
            predicted = eval_pred.predictions.argmax(-1)
            gold, pred = [], []
            for p_row, g_row in zip(predicted, eval_pred.label_ids, strict=True):
                keep = g_row != -100
                gold.append([labels[i] for i in g_row[keep]])
                pred.append([labels[i] for i in p_row[keep]])
            strict = {"mode": "strict", "scheme": IOB2, "zero_division": 0}
            return {
                "f1": float(f1_score(gold, pred, **strict)),
                "precision": float(precision_score(gold, pred, **strict)),
                "recall": float(recall_score(gold, pred, **strict)),
                "token_accuracy": float(accuracy_score(gold, pred)),
            }

        return compute

    def label_counts(self, examples):
        """Entities per type (B- tags), for the data doctor."""
        import pandas as pd

        tags = examples.frame["label"]
        counts = pd.Series([t[2:] for row in tags for t in row if t.startswith("B-")])
        return {"labels": {str(k): int(v) for k, v in counts.value_counts().items()}}

    def probe_labels(self, batch, length):
        import torch

        return torch.randint(0, 2, (batch, length))

    def class_weights(self, train_dataset, num_labels, mode):
        # "auto" stays off: O outnumbers every entity tag ~100 to 1 in typical NER data, and
        # balancing that trades precision away wholesale. "balanced" is there when asked for.
        if mode != "balanced":
            return None
        from tunesmith.training.trainer import balanced_weights

        tags = [t for row in train_dataset["labels"] for t in row if t != -100]
        return balanced_weights(tags, num_labels, mode)

    def loss_function(self, class_weights):
        if class_weights is None:
            return None  # the model's own token-level cross-entropy (ignores -100)
        import torch.nn.functional as F

        def weighted_token_cross_entropy(outputs, labels, num_items_in_batch=None):
            logits = outputs["logits"].float()
            return F.cross_entropy(
                logits.flatten(0, 1),
                labels.flatten(),
                ignore_index=-100,
                weight=class_weights.to(logits.device),
            )

        return weighted_token_cross_entropy

    def predict_tags(self, model, tokenizer, sentences, labels, max_length, batch_size=32):
        """Word-level (tag, probability) for (words, offsets) sentences, windows stitched back."""
        import torch

        result = [[("O", 0.0)] * len(words) for words, _ in sentences]
        space = space_piece(tokenizer)
        seen = [[False] * len(words) for words, _ in sentences]
        model.eval()
        with torch.inference_mode():
            for start in range(0, len(sentences), batch_size):
                batch = sentences[start : start + batch_size]
                enc = self._windows(tokenizer, batch, max_length, padding=True, return_tensors="pt")
                mapping = enc.pop("overflow_to_sample_mapping").tolist()
                probs = model(**enc.to(model.device)).logits.float().softmax(-1).cpu()
                best, arg = probs.max(-1)
                for window, sample in enumerate(mapping):
                    ids = enc["input_ids"][window].tolist()
                    for word, position in first_pieces(enc.word_ids(window), ids, space).items():
                        if not seen[start + sample][word]:
                            seen[start + sample][word] = True
                            result[start + sample][word] = (
                                labels[int(arg[window, position])],
                                float(best[window, position]),
                            )
        return result

    def predict(self, model, processor, inputs, labels, max_length, batch_size=32):
        prepared = []
        for item in inputs:  # raw text, or a list of words as in CoNLL
            if isinstance(item, str):
                words = split_words(item)
                prepared.append((item, [w for w, _, _ in words], [(s, e) for _, s, e in words]))
            else:
                text, offsets = join_words([str(w) for w in item])
                prepared.append((text, [str(w) for w in item], offsets))
        tagged = self.predict_tags(
            model, processor, [(p[1], p[2]) for p in prepared], labels, max_length, batch_size
        )
        answers = []
        for (text, _, offsets), word_tags in zip(prepared, tagged, strict=True):
            tags, probs = to_bio([t for t, _ in word_tags])[0], [p for _, p in word_tags]
            answers.append(
                {"text": text, "entities": entities(tags, probs, text, offsets), "tags": tags}
            )
        return answers

    def headline_parts(self, predictions, examples, labels):
        """Entity F1's counts per sentence: strict IOB2 spans, as seqeval's score counts them."""
        from seqeval.scheme import IOB2, Entities

        from tunesmith.evaluation.parity import f1_parts

        counts = []
        for gold, pred in zip(examples.frame["label"], predictions, strict=True):
            truth = set(Entities([list(gold)], IOB2).entities[0])
            found = set(Entities([list(pred["tags"])], IOB2).entities[0])
            counts.append((len(truth & found), len(found - truth), len(truth - found)))
        return f1_parts(*zip(*counts, strict=True)) if counts else None

    def score(self, predictions, examples, labels):
        from seqeval.metrics import accuracy_score, classification_report
        from seqeval.scheme import IOB2
        from sklearn.metrics import confusion_matrix

        gold = list(examples.frame["label"])
        pred = [p["tags"] for p in predictions]
        report = classification_report(
            gold, pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0
        )
        kinds = sorted(k for k in report if not k.endswith(" avg"))
        types = kinds + ["O"]  # token-level confusion between entity types
        flat_gold = [t[2:] if t != "O" else "O" for tags in gold for t in tags]
        flat_pred = [t[2:] if t != "O" else "O" for tags in pred for t in tags]
        micro, macro = report["micro avg"], report["macro avg"]
        return {
            "f1": float(micro["f1-score"]),
            "precision": float(micro["precision"]),
            "recall": float(micro["recall"]),
            "f1_macro": float(macro["f1-score"]),
            "accuracy": float(accuracy_score(gold, pred)),  # token accuracy
            "count": len(gold),
            "entities": int(micro["support"]),
            "per_class": {
                k: {
                    "precision": float(report[k]["precision"]),
                    "recall": float(report[k]["recall"]),
                    "f1": float(report[k]["f1-score"]),
                    "support": int(report[k]["support"]),
                }
                for k in kinds
            },
            "labels": types,
            "confusion_matrix": confusion_matrix(flat_gold, flat_pred, labels=types).tolist(),
        }
