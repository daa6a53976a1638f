"""The Task interface: everything that differs between tasks lives behind it.

The training path, the run directory, evaluation, the CLI and the server call these methods
and know nothing else about a task. Heavy imports (torch, transformers) happen inside methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tunesmith.config import DataConfig, TrainConfig
from tunesmith.tasks.feedback import Feedback
from tunesmith.tasks.onnx_export import OnnxExport
from tunesmith.tasks.report import Report


@dataclass
class Examples:
    """Task-ready rows. `frame` has an `input` column, a `label` column (str) where the task has
    labels, and `row`: the 0-based data row in `source`, so errors and splits can point back."""

    frame: pd.DataFrame
    source: str
    columns: dict[str, str]  # role -> column name in the source, e.g. {"text": "review"}
    notes: list[str] = field(default_factory=list)  # what cleaning did, with counts

    def subset(self, rows: list[int]) -> Examples:
        return Examples(self.frame.iloc[rows].reset_index(drop=True), self.source, self.columns)

    def __len__(self) -> int:
        return len(self.frame)


# The settings a task that distils reads (its `settings` include them).
DISTILL_SETTINGS = ("train.teacher", "train.distill_temperature", "train.distill_alpha")


class Task(ABC):
    name: str
    default_model: str
    input_kind: str  # what predict() takes: "text", later "image", ...
    cleans_inputs: bool = False  # predict() gets texts cleaned as the training texts were
    group_by_length: bool = True  # batches of similar length (dynamic padding pays off)
    pipeline_tag: str  # the transformers pipeline that serves a saved run of this task
    metric: str  # the validation metric that picks the best epoch (without "eval_")
    selection_metrics: tuple[str, ...] = ()  # what --train.metric may name, besides loss
    epoch_metrics: tuple[str, ...]  # shown on each epoch's line and in the learning curves
    default_epochs: float = 3
    learning_rate_scale: float = 1.0  # times the by-model-size default learning rate
    new_head: bool = True  # a fresh output layer sized to the labels
    default_lora: bool = False  # --train.lora when unset
    peft_task_type: str | None = None  # peft's TaskType for LoRA; None: LoRA not offered
    lora_learning_rate: float | None = None  # LoRA's default step; None: training/lora.py's
    keeps_adapters: bool = False  # LoRA runs hold the adapters (else the merged model)
    # What the shared features may do with this task (they ask; they never compare names):
    label_noun: str = "labels"  # what the labels are called in messages ("entity types")
    takes_prompts: bool = False  # predict --prompt / predict --input of prompts and chats
    # Throughput (metrics.json, report, the last line): what a training row is called, then
    # "tokens" where the batches' real tokens (their attention mask) are counted too
    throughput_unit: tuple[str, ...] = ("examples", "tokens")
    # The pieces a task is composed of besides its core (reading, encoding, models, training,
    # predicting): how its results read to people (tasks/report.py; built for the task), and
    # what a correction is for POST /v1/feedback and `tunesmith retrain` (tasks/feedback.py).
    report_class: type[Report] = Report
    onnx_class: type[OnnxExport] | None = None  # ONNX export (tasks/onnx_export.py); None: none
    # Without one: why, and what to do instead (the one-line error `export` gives).
    onnx_refusal: tuple[str, str] = (
        "this task has no ONNX graph to export",
        "serve the run with the PyTorch backend (the default)",
    )
    # GGUF export (export/gguf.py) for llama.cpp and Ollama: the task's model is a causal LM
    # that llama.cpp's converter reads. Without it: why, and what to do instead (as for ONNX).
    exports_gguf: bool = False
    gguf_refusal: tuple[str, str] = (
        "GGUF holds language models that write text for llama.cpp and Ollama; this task's model "
        "is not one",
        "export it with --format onnx where the task offers it, or serve it with `tunesmith "
        "serve RUN`",
    )
    feedback: Feedback | None = None
    # How a person labels this task's inputs in Label Studio (labeling/configs.py): "choice"
    # (one label), "choices" (a label set), "spans" (entities, character offsets); None: not
    # offered by `tunesmith label`
    label_studio_control: str | None = None
    # retrain's promotion gate compares live and new on this test metric ("a.b": nested)
    promotion_metric: str = "f1_macro"
    promotion_higher: bool = True  # False: lower is better (perplexity)
    search_learning_rates: tuple[float, float] = (1e-5, 3e-4)  # `tune`: full fine-tuning range
    search_freeze: tuple[str, ...] = ("none", "embeddings")  # `tune`: --train.freeze choices
    # The task-specific settings this task reads ("train.augment"); set for a task that does not
    # read it, such a setting is an error naming the flag (training/settings.py).
    settings: tuple[str, ...] = ()
    # predict answers {"embedding"}, search() takes texts (predict --corpus), /v1/embeddings
    embeds_text: bool = False

    # --- Distillation (`tunesmith distill`; training/distillation.py does the shared part) ---
    # A task that can teach a smaller student returns, from distiller(), the object (from its
    # own package) that turns the teacher run's answers into soft targets beside each training
    # row's hard label and gives the loss that mixes both. One that cannot keeps None and says
    # why, and what to do instead, in distill_refusal: the one-line error `distill` gives.
    distill_refusal: tuple[str, str] = (
        "tunesmith has no distillation for this task",
        "train the smaller model directly: tunesmith train DATA --model SMALLER_MODEL",
    )

    def distiller(self) -> Any | None:
        """A tunesmith.training.distillation.Distiller for this task's runs, or None."""
        return None

    @property
    def distillable(self) -> bool:
        return self.distiller() is not None

    def __init__(self):
        self.report = self.report_class(self)
        self.onnx = self.onnx_class(self) if self.onnx_class else None

    def texts(self, examples: Examples, limit: int = 2000) -> list[str]:
        """Up to `limit` of the examples' texts, for language and vocabulary checks."""
        return [x if isinstance(x, str) else " ".join(x) for x in examples.frame["input"][:limit]]

    def freeze(self, model: Any, spec: str, train_rows: int) -> tuple[str, dict[str, int]]:
        """Resolve `--train.freeze` (auto by data size), apply it, return (spec, counts)."""
        from tunesmith.training.freezing import apply_freezing, resolve_freeze

        spec = resolve_freeze(spec, train_rows)
        return spec, apply_freezing(model, spec)

    def lora_settings(self, model: Any, freeze: str = "auto") -> dict[str, Any]:
        """peft LoraConfig settings for LoRA on this loaded `model` besides rank and targets:
        {"task_type": ...}, or {"modules_to_save": [...]} for a head peft has no TaskType for,
        and {"exclude_modules": regex} for linear layers that must get no adapters. `freeze`
        (--train.freeze) is for a task where it says which parts get adapters (image-text).
        Raises where LoRA is not offered (the model decides where one task has several kinds)."""
        if self.peft_task_type is None:
            from tunesmith.errors import TunesmithError

            raise TunesmithError(
                f"LoRA is not available for {self.name} models",
                where="--train.lora",
                fix="train without --lora (use --train.freeze to train fewer weights)",
            )
        return {"task_type": self.peft_task_type}

    def default_learning_rate(self, model: Any, counts: dict[str, int]) -> float:
        """Sized by the transformer body: an embedding table (96M of multilingual-e5-small's
        118M parameters) says little about how large a step the network tolerates."""
        from tunesmith.training.trainer import default_learning_rate

        body = counts["total"] - model.get_input_embeddings().weight.numel()
        return default_learning_rate(body) * self.learning_rate_scale

    def parameter_groups(self, model: Any, cfg: TrainConfig) -> list[dict] | None:
        """Optimizer parameter groups with their own learning rates, or None for the Trainer's
        single learning rate."""
        return None

    def stratify_key(self, examples: Examples) -> list[str] | None:
        """One value per example to stratify the split on, or None for a plain random split."""
        return None

    def split_groups(self, examples: Examples):
        """One value per example; examples sharing one stay in the same split (None: free)."""
        return None

    def calibrate(
        self,
        model: Any,
        processor: Any,
        val: Examples,
        labels: list[str],
        cfg: TrainConfig,
        run_dir: Path,
    ) -> None:
        """After training, before the test pass: fit what the task tunes on the validation
        split with the best model (multi-label: a threshold per label), saved in `run_dir`.
        Default: nothing."""
        return None

    def chinese_model(self) -> str | None:
        """The model to use when the data's text is mostly Chinese (None: the task has none
        offline, and the user is told). Default: the Chinese-capable encoder, where the
        catalog lists it for this task."""
        from tunesmith.models.catalog import CATALOG
        from tunesmith.models.vocabulary import CHINESE_MODEL

        return CHINESE_MODEL if self.name in CATALOG[CHINESE_MODEL].tasks else None

    def label_counts(self, examples: Examples) -> dict:
        """What the data doctor reports per label where a row's label is not one string (one
        string per row it counts and checks for balance itself): {"labels": {label: rows}}
        plus any other counts worth showing, by name. Default: nothing."""
        return {}

    def probe_labels(self, batch: int, length: int):
        """Random labels for a training-step probe (`tunesmith models`): one class per input
        (None: the input ids are the labels)."""
        import torch

        return torch.randint(0, 2, (batch,))

    def probe_batch(self, model: Any, processor: Any, batch: int, length: int) -> dict:
        """One random batch shaped as this task's collator makes them, `labels` included, for
        the training-step probe (`tunesmith models`), which takes the loss as the Trainer does
        (loss_function, else the model's own). Default: token ids with probe_labels()."""
        import torch

        vocab = model.get_input_embeddings().weight.shape[0]
        ids = torch.randint(5, min(vocab, 30000), (batch, length))
        labels = self.probe_labels(batch, length)
        return {
            "input_ids": ids,
            "attention_mask": torch.ones_like(ids),
            "labels": ids.clone() if labels is None else labels,
        }

    def trainer(self, cfg: TrainConfig, encoded: dict) -> tuple[type, type, dict] | None:
        """A trainer of the task's own instead of transformers' Trainer (TRL's DPO and KTO
        trainers): (Trainer subclass, its TrainingArguments subclass or a function building
        one from TrainingArguments' keywords, the settings it adds), built by
        training/trainer.py with the same defaults, callbacks and metering; such a trainer
        brings its own loss. None: transformers' Trainer with `loss_function`."""
        return None

    def class_weights(self, train_dataset, num_labels: int, mode: str):
        """Loss weights for imbalanced labels (a tensor), or None."""
        return None

    @abstractmethod
    def check_labels(self, examples: Examples, labels: list[str]) -> None:
        """Raise a TunesmithError naming labels in `examples` that are not in `labels`."""

    @abstractmethod
    def prepare(
        self,
        table: pd.DataFrame,
        source: str,
        columns: dict[str, str | None],
        options: DataConfig | None = None,
    ) -> Examples:
        """Pick and check the columns, clean the rows as `options` say (None: all cleaning on),
        and say what was changed or dropped and why."""

    @abstractmethod
    def label_names(self, examples: Examples) -> list[str]:
        """The label set learned from the training data, in a stable order."""

    @abstractmethod
    def load_model(self, source: str, labels: list[str], flag_value: str) -> tuple[Any, Any]:
        """A pretrained model with a fresh head sized to `labels`, and its processor."""

    @abstractmethod
    def load_trained(self, run_dir: Path) -> tuple[Any, Any]:
        """A fine-tuned model and processor from a finished run directory."""

    @abstractmethod
    def encode(
        self,
        examples: Examples,
        processor: Any,
        labels: list[str],
        cfg: TrainConfig,
        training: bool = False,
    ):
        """Model inputs as a dataset (with a `length` column for length grouping); `training`
        marks the split that gets augmentation, for tasks that augment."""

    @abstractmethod
    def collator(self, processor: Any):
        """Builds batches; pads each batch only as far as its longest member."""

    @abstractmethod
    def loss_function(self, class_weights):
        """A `compute_loss_func` for the Trainer, or None for the model's own loss."""

    @abstractmethod
    def validation_metrics(self, labels: list[str]):
        """A `compute_metrics` for the Trainer's per-epoch validation."""

    @abstractmethod
    def predict(
        self,
        model: Any,
        processor: Any,
        inputs: list,
        labels: list[str],
        max_length: int,
        batch_size: int = 64,
    ) -> list[dict]:
        """Answers for raw inputs, in input order."""

    def score(self, predictions: list[dict], examples: Examples, labels: list[str]) -> dict:
        """Full metrics of predictions against the examples' labels (JSON-ready). Tasks that
        keep the default `test` implement it."""
        raise NotImplementedError(f"{self.name} is scored by test()")

    def right_or_wrong(self, predictions: list[dict], examples: Examples) -> list[bool] | None:
        """Per row, whether the answer is right, for a task whose answers are right or wrong
        one by one (retrain's gate runs McNemar's test on them); None where they are not."""
        return None

    def promotion_score(self, predictions: list[dict], examples: Examples, labels) -> float:
        """The promotion metric of answers on examples (retrain's bootstrap calls it a thousand
        times; a task may compute just that number instead of every metric)."""
        value: Any = self.score(predictions, examples, labels)
        for part in self.promotion_metric.split("."):
            value = value[part]
        return float(value)

    def paired_rows(self, model: Any, processor: Any, examples: Examples, labels, max_length):
        """For a task whose promotion metric is not score() of per-row answers: per-row
        (values, weights) arrays whose weighted mean is that metric, or moves with it (retrain's
        gate resamples them in its paired bootstrap). None: no paired test for this task."""
        return None

    def baseline(self, model: Any, processor: Any, examples: Examples, cfg: TrainConfig):
        """Measurements of the untrained model on `examples` (the test split), for the report's
        before/after comparison; None where the task has none."""
        return None

    def test(
        self,
        model: Any,
        processor: Any,
        examples: Examples,
        labels: list[str],
        max_length: int,
        batch_size: int,
        baseline: dict | None = None,
    ) -> tuple[dict, list[dict]]:
        """(metrics, predictions) on labelled examples, through the same prediction path as
        `tunesmith.load(...).predict`."""
        inputs = list(examples.frame["input"])
        predictions = self.predict(model, processor, inputs, labels, max_length, batch_size)
        return self.score(predictions, examples, labels), predictions

    def decision(self, answer: dict) -> Any:
        """The part of an answer the task's metric scores, for parity's "same answer": by
        default the answer without its scores (a label, entities' types and offsets, a label
        set). None where answers are vectors, not decisions."""
        return _without_scores(answer)

    def headline_parts(self, predictions: list[dict], examples: Examples, labels: list[str]):
        """Per-row counts whose column sums give the headline metric, so parity's bootstrap
        rescores a thousand resamples at once: (array of shape (rows, k), function of the
        sums), as evaluation/parity.py `accuracy_parts`/`f1_parts` make. None: no interval."""
        return None


def _without_scores(value: Any) -> Any:
    if isinstance(value, dict):
        kept = {k: _without_scores(v) for k, v in value.items() if not _is_score(v)}
        return tuple(sorted(kept.items()))
    if isinstance(value, list):
        return tuple(_without_scores(v) for v in value)
    return value


def _is_score(value: Any) -> bool:
    return isinstance(value, float) or (
        isinstance(value, dict) and all(isinstance(v, float) for v in value.values())
    )
