"""NER distils per token: at every labelled token the student's tag distribution is pulled
towards the teacher's (KL at temperature T), mixed with the usual per-token cross-entropy;
tokens labelled -100 (special tokens, padding, non-first sub-words) get no soft target.

Where the teacher's tokenizer cuts the training windows into exactly the student's tokens (the
same vocabulary, or the same model family), the teacher reads the encoded windows themselves
and every labelled token gets its own target. Where they differ (a student of another family),
the teacher tags each word through its own tokenizer and that word's distribution (at its first
sub-word, as prediction reads it) becomes the target of the student's first sub-word of the
word: word-level alignment, so any student with a fast tokenizer can learn from any teacher.
"""

from __future__ import annotations

from tunesmith.tasks.ner.tokens import first_pieces, space_piece
from tunesmith.training.distillation import Distiller

BATCH = 32


class TokenDistiller(Distiller):
    def __init__(self, task, student: str):
        super().__init__(student)
        self.task = task  # its windowing is the one the encoded dataset used

    def targets(self, teacher, processor, examples, dataset, labels, cfg):
        order = [teacher.labels.index(name) for name in labels]  # teacher columns, our order
        frame = examples.frame
        sentences = list(zip(frame["input"], frame["offsets"], strict=True))
        hard = list(dataset["labels"])
        theirs = self.task._windows(teacher.processor, sentences, cfg.max_length)["input_ids"]
        positions = getattr(teacher.model.config, "max_position_embeddings", None) or 10**9
        if theirs == list(dataset["input_ids"]) and max(map(len, theirs)) <= positions:
            per_token = self._on_windows(teacher, dataset, order)
            return [
                [[float(y), float(y != -100), *logp] for y, logp in zip(row, rows, strict=True)]
                for row, rows in zip(hard, per_token, strict=True)
            ]
        return self._by_words(teacher, processor, sentences, hard, order, cfg.max_length)

    def _on_windows(self, teacher, dataset, order) -> list[list[list[float]]]:
        """The teacher's tag log-probabilities at each token of the student's own windows."""
        import torch

        model, tokenizer = teacher.model, teacher.processor
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in dataset[0]]
        device = next(model.parameters()).device
        model.eval()
        out = []
        with torch.inference_mode():
            for start in range(0, len(dataset), BATCH):
                rows = dataset[start : start + BATCH]
                features = [{k: rows[k][i] for k in keys} for i in range(len(rows[keys[0]]))]
                batch = tokenizer.pad(features, return_tensors="pt").to(device)
                logp = model(**batch).logits.float()[..., order].log_softmax(-1).cpu()
                for i, feature in enumerate(features):
                    n = len(feature["input_ids"])
                    kept = logp[i, :n] if tokenizer.padding_side == "right" else logp[i, -n:]
                    out.append(kept.tolist())
        return out

    def _by_words(self, teacher, processor, sentences, hard, order, max_length):
        """Word-level alignment: the teacher's distribution for each word, on the student's
        first sub-word of that word; other tokens keep only their hard label."""
        by_word = self._word_log_probs(teacher, sentences, order)
        windows = self.task._windows(processor, sentences, max_length)
        space, none = space_piece(processor), [0.0] * len(order)
        packed = []
        for window, sample in enumerate(windows["overflow_to_sample_mapping"]):
            word_ids = windows.word_ids(window)
            first = first_pieces(word_ids, windows["input_ids"][window], space)
            row = []
            for position, (y, word) in enumerate(zip(hard[window], word_ids, strict=True)):
                target = None
                if y != -100 and word is not None and first.get(word) == position:
                    target = by_word[sample][word]
                row.append([float(y), float(target is not None), *(target or none)])
            packed.append(row)
        return packed

    def _word_log_probs(self, teacher, sentences, order) -> list[list[list[float] | None]]:
        """Per sentence, per word: the teacher's tag log-probabilities at the word's first
        sub-word (its first window that holds it), through the teacher's own tokenizer."""
        import torch

        model, tokenizer = teacher.model, teacher.processor
        space, device = space_piece(tokenizer), next(model.parameters()).device
        result: list[list] = [[None] * len(w) for w, _ in sentences]
        model.eval()
        with torch.inference_mode():
            for start in range(0, len(sentences), BATCH):
                enc = self.task._windows(
                    tokenizer,
                    sentences[start : start + BATCH],
                    teacher.max_length,
                    padding=True,
                    return_tensors="pt",
                )
                mapping = enc.pop("overflow_to_sample_mapping").tolist()
                logp = model(**enc.to(device)).logits.float()[..., order].log_softmax(-1).cpu()
                for window, sample in enumerate(mapping):
                    ids = enc["input_ids"][window].tolist()
                    for word, position in first_pieces(enc.word_ids(window), ids, space).items():
                        if result[start + sample][word] is None:
                            result[start + sample][word] = logp[window, position].tolist()
        return result

    def loss(self, temperature, alpha, class_weights):
        return token_distillation_loss(temperature, alpha, class_weights)

    def collator(self, collator):
        return PackedTokenLabels(collator)


class PackedTokenLabels:
    """DataCollatorForTokenClassification pads flat label rows; packed ones (a list per token:
    [hard, has target, teacher log-probs...]) are padded here to the batch's padded length.
    Validation batches (flat rows) go to the task's collator unchanged."""

    def __init__(self, collator):
        self.collator = collator

    def __call__(self, features: list[dict]) -> dict:
        import torch

        if not features or not isinstance(features[0]["labels"][0], list):
            return self.collator(features)
        packed = [f["labels"] for f in features]
        batch = self.collator([{k: v for k, v in f.items() if k != "labels"} for f in features])
        length = batch["input_ids"].shape[1]
        pad = [-100.0] + [0.0] * (len(packed[0][0]) - 1)
        left = self.collator.tokenizer.padding_side == "left"
        batch["labels"] = torch.tensor(
            [
                [pad] * (length - len(row)) + row if left else row + [pad] * (length - len(row))
                for row in packed
            ]
        )
        return batch


def token_distillation_loss(temperature: float, alpha: float, class_weights=None):
    import torch.nn.functional as F

    def loss(outputs, labels, num_items_in_batch=None):
        logits = outputs["logits"].float()
        weight = None if class_weights is None else class_weights.to(logits.device)
        if labels.dim() == 2:  # validation: a tag id per token
            return F.cross_entropy(
                logits.flatten(0, 1), labels.flatten().long(), ignore_index=-100, weight=weight
            )
        hard, has, teacher = labels[..., 0].long(), labels[..., 1] > 0, labels[..., 2:].float()
        ce = F.cross_entropy(logits.flatten(0, 1), hard.flatten(), ignore_index=-100, weight=weight)
        soft = logits.sum() * 0.0  # a batch with no soft target (word alignment found none)
        if has.any():
            soft = F.kl_div(  # batchmean over the selected tokens: mean KL per token
                F.log_softmax(logits[has] / temperature, -1),
                F.log_softmax(teacher[has] / temperature, -1),
                log_target=True,
                reduction="batchmean",
            )
        return alpha * soft * temperature**2 + (1 - alpha) * ce

    return loss
