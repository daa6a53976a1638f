"""Generation: fine-tune a causal language model (GPT-style) on plain text, instructions or chats.

LoRA by default (training/lora.py). Metrics are loss and perplexity on the answers of the
held-out split and, for chats and instructions, exact match, ROUGE-L and valid JSON of greedy
answers (answer_metrics.py), before and after fine-tuning; sample answers to held-out prompts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from tunesmith.data.conversations import detect_shape, flatten, prompt_and_reference, to_examples
from tunesmith.data.readers import describe_row
from tunesmith.errors import TunesmithError
from tunesmith.tasks.base import Examples, Task
from tunesmith.tasks.generation import answer_metrics
from tunesmith.tasks.generation import encoding as lm
from tunesmith.tasks.generation.feedback import AnswerFeedback
from tunesmith.tasks.generation.report import SAMPLE_TOKENS, GenerationReport

SAMPLES = 5  # held-out prompts whose answers the report shows, before and after


class CausalLM(Task):
    name = "generation"
    report_class = GenerationReport
    feedback = AnswerFeedback()
    promotion_metric = "perplexity"
    promotion_higher = False
    onnx_refusal = (
        "a model that writes answers token by token, with a cache, ships as GGUF for llama.cpp "
        "rather than as one ONNX graph",
        "export it for llama.cpp and Ollama with `tunesmith export RUN --format gguf`, or serve "
        "it with `tunesmith serve RUN` (PyTorch; bf16 where the CPU runs it natively)",
    )
    exports_gguf = True  # export/gguf.py: llama.cpp's converter, a Modelfile, tensor parity
    default_model = "smollm2-135m"
    input_kind = "text"
    throughput_unit = ("sequences", "tokens")  # packed blocks count as one each
    pipeline_tag = "text-generation"
    metric = "loss"
    epoch_metrics = ()
    default_lora = True
    new_head = False
    peft_task_type = "CAUSAL_LM"
    keeps_adapters = True  # adapters are a few MB; the base model is hundreds
    takes_prompts = True
    settings = ("train.packing",)
    distill_refusal = (
        "the teacher's answer at every token is a distribution over its whole vocabulary, too "
        "large to keep for the training split, and useless to a student with another tokenizer",
        "train the smaller model directly: tunesmith train DATA --task generation --model "
        "SMALLER_MODEL",
    )

    def probe_labels(self, batch, length):
        return None  # the model's loss predicts the inputs themselves

    def texts(self, examples, limit=2000):
        return [flatten(x) for x in examples.frame["input"][:limit]]

    def freeze(self, model, spec, train_rows):
        from tunesmith.training.freezing import apply_freezing

        spec = "none" if spec == "auto" else spec  # tied input/output embeddings must learn
        return spec, apply_freezing(model, spec)

    def check_labels(self, examples, labels):
        return None  # nothing to check: the answers are the labels

    def label_names(self, examples):
        if examples.frame.empty:
            raise TunesmithError(
                "no rows left after cleaning (see the notes above for what was dropped)",
                where=examples.source,
                fix="check the data: every chat needs an assistant answer",
            )
        return []

    def prepare(self, table, source, columns, options=None):
        shape = detect_shape(table, source, columns.get("text"))
        inputs, notes = to_examples(table, shape, source)
        frame = pd.DataFrame({"input": inputs, "row": table.index})
        frame["key"] = frame["input"].map(lambda x: flatten(x) if x else "")  # for duplicates
        empty = frame["input"].map(lambda x: not x or (isinstance(x, str) and not x.strip()))
        if empty.any():
            what = "no answer" if shape.kind != "text" else "no text"
            first = describe_row(source, int(frame.index[empty][0]))
            notes.append(f"Dropped {int(empty.sum())} row(s) with {what} (first: {first}).")
        frame = frame[~empty].reset_index(drop=True)
        if frame.empty:
            raise TunesmithError(
                f"no rows left: {notes[-1]}",
                where=source,
                fix="every chat needs an assistant answer and every instruction an output; "
                "check the file, or the column choice (--data.text_column)",
            )
        described = {"chat": "chats", "instruction": "instruction records", "text": "plain text"}
        notes.append(
            f"Data read as {described[shape.kind]} (columns: "
            f"{', '.join(f'{k}={v!r}' for k, v in shape.columns.items())})"
            + (
                "; the loss covers only the answers, not the prompts."
                if shape.kind != "text"
                else "; packed into blocks of max_length tokens."
            )
        )
        return Examples(frame, source, shape.columns, notes)

    def load_model(self, source, labels, flag_value):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from tunesmith.models.loading import load_or_explain

        tokenizer = load_or_explain(AutoTokenizer, source, flag_value)
        model = load_or_explain(AutoModelForCausalLM, source, flag_value)
        lm.prepare_tokenizer(tokenizer)
        return model, tokenizer

    def load_trained(self, run_dir):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        run_dir = Path(run_dir)
        tokenizer = AutoTokenizer.from_pretrained(run_dir)
        manifest = json.loads((run_dir / "tunesmith.json").read_text(encoding="utf-8"))
        tokenizer.tunesmith_chat = "text" not in manifest["columns"]
        if (run_dir / "adapter_config.json").is_file():
            from tunesmith.training.lora import load_adapter

            return load_adapter(AutoModelForCausalLM, run_dir, manifest["base_model"]), tokenizer
        return AutoModelForCausalLM.from_pretrained(run_dir), tokenizer

    def encode(self, examples, processor, labels, cfg, training=False):
        from datasets import Dataset

        inputs = list(examples.frame["input"])
        chat = bool(inputs) and not isinstance(inputs[0], str)
        processor.tunesmith_chat = chat
        if chat:
            columns, counts = lm.encode_chats(processor, inputs, cfg.max_length)
            self._warn(counts, cfg.max_length, examples)
            if cfg.packing:
                columns = lm.pack(columns, cfg.max_length)
        else:
            columns = lm.encode_texts(processor, inputs, cfg.max_length)
        if not columns["input_ids"]:
            raise TunesmithError(
                f"nothing left to learn in {examples.source} after tokenising",
                where=f"--train.max_length {cfg.max_length}",
                fix="raise --train.max_length so that the answers fit",
            )
        columns["attention_mask"] = [[1] * len(row) for row in columns["input_ids"]]
        columns["length"] = [len(row) for row in columns["input_ids"]]
        return Dataset.from_dict(columns)

    @staticmethod
    def _warn(counts: dict, max_length: int, examples: Examples) -> None:
        from tunesmith.console import info

        if counts["truncated"]:
            info(
                f"{counts['truncated']} of {len(examples)} example(s) in {examples.source} are "
                f"longer than {max_length} tokens and were cut (--train.max_length)."
            )
        if counts["no_answer_left"]:
            info(
                f"{counts['no_answer_left']} example(s) had no answer left after the cut and "
                "were skipped."
            )
        if counts["unmasked"]:
            info(
                f"{counts['unmasked']} chat(s) rendered by a template that rewrites earlier "
                "turns: their prompts count in the loss too."
            )

    def collator(self, processor):
        from transformers import DataCollatorForSeq2Seq

        return DataCollatorForSeq2Seq(
            processor, label_pad_token_id=lm.IGNORE, pad_to_multiple_of=8, padding=True
        )

    def loss_function(self, class_weights):
        return None  # the model's own shifted cross-entropy, over the labelled tokens

    def validation_metrics(self, labels):
        return None  # validation loss only: logits over the vocabulary are too big to gather

    def default_learning_rate(self, model, counts):
        from tunesmith.training.trainer import default_learning_rate

        return default_learning_rate(counts["total"] - model.get_input_embeddings().weight.numel())

    def baseline(self, model, processor, examples, cfg):
        """Test loss, answer scores and sample answers of the model before any training."""
        test = self._loss(model, processor, examples, cfg.max_length, cfg.eval_batch_size)
        test |= answer_metrics.measure(model, processor, examples, min(cfg.eval_batch_size, 8))
        return {"test": test, "samples": self._samples(model, processor, examples)}

    def _loss(self, model, processor, examples, max_length, batch_size):
        from tunesmith.config import TrainConfig

        encoded = self.encode(examples, processor, [], TrainConfig(max_length=max_length))
        return lm.token_loss(model, encoded, self.collator(processor), min(batch_size, 8))

    def _samples(self, model, processor, examples):
        pairs = [prompt_and_reference(x) for x in examples.frame["input"][:SAMPLES]]
        answers = lm.generate(model, processor, [p for p, _ in pairs], max_new_tokens=SAMPLE_TOKENS)
        return [
            {"prompt": _show(p), "reference": r, "answer": a}
            for (p, r), a in zip(pairs, answers, strict=True)
        ]

    def paired_rows(self, model, processor, examples, labels, max_length):
        """Each example's loss per answer token, weighted by its tokens: the weighted mean is
        the log of the perplexity."""
        import numpy as np

        from tunesmith.config import TrainConfig

        encoded = self.encode(examples, processor, [], TrainConfig(max_length=max_length))
        sums, counts = lm.example_losses(model, encoded, self.collator(processor))
        counts = np.array(counts, dtype=float)
        return np.array(sums) / np.maximum(counts, 1), counts

    def test(self, model, processor, examples, labels, max_length, batch_size, baseline=None):
        metrics = self._loss(model, processor, examples, max_length, batch_size)
        metrics |= answer_metrics.measure(model, processor, examples, min(batch_size, 8))
        metrics["count"] = len(examples)
        samples = self._samples(model, processor, examples)
        if baseline:
            metrics["before"] = baseline["test"]
            for sample, before in zip(samples, baseline["samples"], strict=True):
                sample["before"] = before["answer"]
        metrics["samples"] = samples
        return metrics, samples

    def predict(self, model, processor, inputs, labels, max_length, batch_size=64, **options):
        texts = lm.generate(model, processor, list(inputs), min(batch_size, 8), **options)
        return [{"text": t} for t in texts]

    def stream(self, model, processor, prompt, **options):
        return lm.stream(model, processor, prompt, **options)


def _show(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    return "\n".join(f"{m['role']}: {m['content']}" for m in prompt)
