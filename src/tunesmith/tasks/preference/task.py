"""Preference tuning: a causal LM learns which of two answers people prefer (DPO, from pairs)
or which answers are good and which bad (KTO, from thumbs), through TRL's trainers.

The tuned model is a generation model like any other (it predicts, streams, serves and exports
as one: the model side is generation's), so this task takes generation's model pieces and
replaces the data, the trainer, the measurements and the feedback. LoRA by default, and the
reference model is the base with the adapters switched off.
"""

from __future__ import annotations

from tunesmith.console import info
from tunesmith.data.conversations import flatten
from tunesmith.errors import TunesmithError
from tunesmith.tasks.base import Examples
from tunesmith.tasks.generation import CausalLM
from tunesmith.tasks.generation import encoding as lm
from tunesmith.tasks.preference import scoring
from tunesmith.tasks.preference.data import read_preferences
from tunesmith.tasks.preference.feedback import PreferenceFeedback
from tunesmith.tasks.preference.report import SAMPLE_TOKENS, PreferenceReport, show
from tunesmith.tasks.preference.trainer import BETA, trainer_parts

SAMPLES = 5  # held-out prompts whose answers the report shows, before and after


def method(examples_or_columns) -> str:
    columns = getattr(examples_or_columns, "columns", examples_or_columns)
    return "dpo" if "rejected" in columns else "kto"


class Preference(CausalLM):
    name = "preference"
    report_class = PreferenceReport
    feedback = PreferenceFeedback()
    promotion_metric = "accuracy"  # held-out preference accuracy (KTO: desirable above undesirable)
    promotion_higher = True
    group_by_length = False  # TRL batches chosen and rejected together
    throughput_unit = ("pairs", "tokens")
    settings = ()  # no packing: each pair is scored whole
    # bench/preference_dpo.py (SmolLM2-135M, 2 epochs): at LoRA's usual 2e-4 DPO over-shot
    # (log-prob margin +57, the answers' facts lost); 5e-5 moved preference just as far
    lora_learning_rate = 5e-5

    def texts(self, examples, limit=2000):
        frame = examples.frame.head(limit)
        answers = frame["chosen"] if "chosen" in frame else frame["completion"]
        return [flatten([*p, *a]) for p, a in zip(frame["input"], answers, strict=True)]

    def stratify_key(self, examples):
        frame = examples.frame
        return [str(d) for d in frame["desirable"]] if "desirable" in frame else None

    def prepare(self, table, source, columns, options=None):
        frame, used, kind = read_preferences(table, source)
        if kind == "thumbs" and frame["desirable"].nunique() < 2:
            which = "good" if frame["desirable"].iloc[0] else "bad"
            raise TunesmithError(
                f"every completion is labelled {which}: KTO learns from both good and bad ones",
                where=source,
                fix="add completions labelled the other way (or train on the good ones with "
                "--task generation)",
            )
        shown = ", ".join(f"{k}={v!r}" for k, v in used.items())
        if kind == "pairs":
            what = "preference pairs: DPO (the chosen answer over the rejected one)"
        else:
            good = int(frame["desirable"].sum())
            what = f"thumbs-up/down completions: KTO ({good} good, {len(frame) - good} bad)"
        notes = [f"Data read as {what}; columns: {shown}."]
        return Examples(frame, source, used, notes)

    def encode(self, examples, processor, labels, cfg, training=False):
        """The conversational records TRL's trainers tokenize with the model's chat template."""
        from datasets import Dataset

        frame = examples.frame
        prompts = [list(p) for p in frame["input"]]
        if method(examples) == "dpo":
            data = {"prompt": prompts, "chosen": list(frame["chosen"])}
            data["rejected"] = list(frame["rejected"])
        else:
            data = {"prompt": prompts, "completion": list(frame["completion"])}
            data["label"] = [bool(d) for d in frame["desirable"]]
        processor.tunesmith_chat = True
        self._check_lengths(prompts, processor, cfg.max_length, examples.source)
        return Dataset.from_dict(data)

    @staticmethod
    def _check_lengths(prompts, processor, max_length: int, source: str) -> None:
        """TRL drops a row whose prompt alone fills max_length (nothing of the answer is left to
        score): say how many, and stop when that is all of them."""
        texts = [lm.render(processor, p, generation_prompt=True) for p in prompts]
        lengths = [len(ids) for ids in processor(texts, add_special_tokens=False)["input_ids"]]
        full = sum(n >= max_length for n in lengths)
        if full == len(lengths):
            raise TunesmithError(
                f"every prompt in {source} is {max_length} tokens or longer, leaving no room for "
                "the answers",
                where=f"--train.max_length {max_length}",
                fix=f"raise --train.max_length above {max(lengths)} tokens",
            )
        if full:
            info(
                f"{full} of {len(lengths)} row(s) in {source} have prompts of {max_length} tokens "
                "or more and are left out (--train.max_length)."
            )

    def trainer(self, cfg, encoded):
        columns = encoded["train"].column_names
        chosen = "dpo" if "rejected" in columns else "kto"
        info(f"Training with TRL's {chosen.upper()} (beta {BETA}).")
        labels = list(encoded["train"]["label"]) if chosen == "kto" else None
        return trainer_parts(chosen, cfg, labels)

    def collator(self, processor):
        return None  # TRL's own (chosen and rejected in one batch; KTO's KL pairs)

    def baseline(self, model, processor, examples, cfg):
        """The answers' log-probabilities under the untrained model (DPO's reference)."""
        return {
            "logps": scoring.measure(model, processor, examples, cfg.max_length),
            "samples": self._samples(model, processor, examples),
        }

    def _samples(self, model, processor, examples):
        frame = examples.frame.head(SAMPLES)
        answers = frame["chosen"] if "chosen" in frame else frame["completion"]
        prompts = [list(p) for p in frame["input"]]
        written = lm.generate(model, processor, prompts, max_new_tokens=SAMPLE_TOKENS)
        return [
            {"prompt": show(p), "reference": a[-1]["content"], "answer": w}
            for p, a, w in zip(prompts, answers, written, strict=True)
        ]

    def _figures(self, logps, examples):
        if "chosen" in logps:
            return scoring.pair_figures(logps)
        return scoring.thumbs_figures(logps, [bool(d) for d in examples.frame["desirable"]])

    def test(self, model, processor, examples, labels, max_length, batch_size, baseline=None):
        after = scoring.measure(model, processor, examples, max_length)
        metrics = {"method": method(examples), "count": len(examples), "beta": BETA}
        metrics |= self._figures(after, examples)
        samples = self._samples(model, processor, examples)
        if baseline:
            metrics["before"] = self._figures(baseline["logps"], examples)
            desirable = None
            if "desirable" in examples.frame:
                desirable = [bool(d) for d in examples.frame["desirable"]]
            metrics |= scoring.rewards(baseline["logps"], after, BETA, desirable)
            for sample, before in zip(samples, baseline["samples"], strict=True):
                sample["before"] = before["answer"]
        metrics["samples"] = samples
        return metrics, samples

    def paired_rows(self, model, processor, examples, labels, max_length):
        """Pairs: 1 where the model prefers the chosen answer (the mean is the accuracy)."""
        import numpy as np

        if method(examples) != "dpo":
            return None
        logps = scoring.measure(model, processor, examples, max_length)
        right = [float(c > r) for c, r in zip(logps["chosen"], logps["rejected"], strict=True)]
        return np.array(right), np.ones(len(right))

    def label_names(self, examples):
        if examples.frame.empty:
            raise TunesmithError("no rows", where=examples.source, fix="check the data file")
        return []
