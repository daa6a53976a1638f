"""The run configuration: typed, documented groups, validated at load with all errors at once.

One source of truth for defaults and help texts: the CLI builds its `--group.field` flags from
these models, a YAML file (`--config`) holds the same keys, and flags override the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tunesmith.errors import TunesmithError

# --train.report_to: the Trainer's integrations tunesmith offers (training/tracking.py)
TRACKERS = ("tensorboard", "mlflow", "wandb", "none")


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Group):
    """Where the data comes from, how it is read, cleaned and split."""

    path: str | None = Field(
        None,
        description="training data: CSV/TSV/JSON/JSONL/Parquet/Excel/CoNLL file, Label Studio "
        "export, folder of class sub-folders (optionally under train/val/test), a datasets "
        "save_to_disk folder, or hub:NAME",
    )
    text_column: str | None = Field(None, description="column holding the text (detected if unset)")
    label_column: str | None = Field(
        None, description="column holding the label (detected if unset)"
    )
    image_column: str | None = Field(
        None, description="column holding image paths, relative to the data file (detected)"
    )
    group_column: str | None = Field(
        None,
        description="rows sharing a value here (a user, a document, a patient) stay in one "
        "split, so nothing leaks between train and test",
    )
    val_file: str | None = Field(
        None, description="your own validation file (same columns); replaces the random val split"
    )
    test_file: str | None = Field(
        None, description="your own test file (same columns); replaces the random test split"
    )
    val_size: float = Field(0.1, gt=0, lt=0.5, description="share of rows held out for validation")
    test_size: float = Field(0.1, gt=0, lt=0.5, description="share of rows held out for testing")
    encoding: str | None = Field(
        None, description="text encoding of the files (detected: UTF-8, GB18030/GBK, cp1252)"
    )
    delimiter: str | None = Field(
        None, description="CSV/TSV field delimiter (detected from the header: , tab ; |)"
    )
    sheet: str | None = Field(None, description="Excel sheet name (default: the first sheet)")
    caption_template: str = Field(
        "a photo of {label}",
        description="image-text: the caption made for each image of a class folder ({label} "
        "is the folder name; Chinese labels get 一张{label}的照片)",
    )
    min_chars: int = Field(1, ge=1, description="rows whose text is shorter than this are dropped")
    strip_html: bool = Field(True, description="remove HTML tags, decode entities like &amp;")
    strip_control: bool = Field(
        True, description="remove control, zero-width and direction-mark characters"
    )
    unicode_nfkc: bool = Field(
        True, description="Unicode NFKC: full-width letters, digits, punctuation to usual forms"
    )
    merge_labels: bool = Field(
        True, description="merge label spellings that differ only in case, width or spaces"
    )
    drop_duplicates: bool = Field(True, description="drop exact duplicate rows (keep the first)")
    drop_conflicts: bool = Field(
        True, description="drop every copy of a text that appears with different labels"
    )
    leakage: Literal["stop", "drop", "keep"] = Field(
        "stop",
        description="texts in both your training data and your --data.val_file/test_file: stop "
        "with a list, drop them from training, or keep them",
    )
    label_issues: bool = Field(
        True,
        description="look for likely mislabelled rows with a quick model (cleanlab); reported, "
        "never dropped",
    )


class TrainConfig(_Group):
    """How the model is fine-tuned (on the transformers Trainer)."""

    learning_rate: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="peak learning rate (unset: 5e-5/3e-5/2e-5 by model size, twice that for NER)",
    )
    epochs: float | None = Field(
        None, gt=0, le=1000, description="passes over the data (unset: 3, or 5 for NER)"
    )
    batch_size: int | None = Field(
        None,
        ge=1,
        le=4096,
        description="examples per step per device (unset: 16, or 32 for short texts: "
        "64 tokens or fewer on average, with enough rows for 100 steps)",
    )
    grad_accum: int = Field(1, ge=1, le=1024, description="gradient accumulation steps")
    weight_decay: float = Field(0.01, ge=0, lt=1, description="AdamW weight decay")
    warmup: float = Field(0.1, ge=0, lt=1, description="share of steps with linear warm-up")
    max_length: int = Field(128, ge=8, le=8192, description="tokens kept per text; the rest is cut")
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="auto: bf16 where the CPU/GPU runs it natively, else fp32"
    )
    early_stopping: int = Field(
        2, ge=0, description="stop after this many epochs without validation gain (0: never)"
    )
    metric: str = Field(
        "auto",
        description="validation metric that picks the best epoch: auto (the task's own: macro "
        "F1 for classification, entity F1 for NER, micro F1 for multi-label), loss, or one the "
        "task measures (accuracy, f1_weighted, ...)",
    )
    class_weights: Literal["auto", "balanced", "none"] = Field(
        "auto",
        description="auto: balanced loss weights when the largest class is 3x the smallest "
        "(classification; NER only with balanced)",
    )
    freeze: str = Field(
        "auto",
        description="auto (embeddings under 10,000 training rows, else none) | none | "
        "embeddings | N (embeddings + bottom N layers) | head (only the classifier)",
    )
    subword_labels: Literal["first", "all"] = Field(
        "first", description="NER: tag the first sub-word of each word, or all of them"
    )
    extend_vocab: bool = Field(
        False,
        description="add the data's frequent unknown characters/words to the tokenizer and "
        "train their new embeddings (for text the model's vocabulary does not cover)",
    )
    backbone_lr_scale: float = Field(
        1.0,
        gt=0,
        le=1,
        description="images: learning rate of the pretrained layers as a share of the new "
        "head's (e.g. 0.1: a discriminative learning rate)",
    )
    augment: Literal["basic", "trivial", "randaugment", "none"] = Field(
        "basic",
        description="images: training augmentation (basic: random resized crop, flip, colour "
        "jitter; trivial/randaugment add TrivialAugment/RandAugment)",
    )
    lora: bool | None = Field(
        None,
        description="train small LoRA adapters (peft) instead of all weights (default: on for "
        "generation, off for the other tasks)",
    )
    lora_rank: int = Field(16, ge=1, le=1024, description="LoRA rank r")
    lora_alpha: float = Field(32, gt=0, description="LoRA scaling alpha (scale = alpha / rank)")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="dropout on the LoRA path")
    lora_targets: str = Field(
        "all-linear",
        description="layers that get adapters: all-linear (every linear layer but the output "
        "head), or comma-separated module names like q_proj,v_proj",
    )
    merge: bool = Field(
        False,
        description="LoRA: also save the adapters merged into the base model, in RUN/merged "
        "(a plain transformers model)",
    )
    gradient_checkpointing: bool = Field(
        False,
        description="recompute activations in the backward pass: less memory, about a third slower",
    )
    packing: bool = Field(
        False,
        description="generation: pack several chat/instruction examples into each "
        "max_length block (plain text is always packed)",
    )
    teacher: str | None = Field(
        None,
        description="distillation: a finished run (text or image classification, multi-label, "
        "NER) whose answers the student learns from (`tunesmith distill` sets it)",
    )
    distill_temperature: float = Field(
        2.0, gt=0, le=20, description="distillation: softening temperature T"
    )
    distill_alpha: float = Field(
        0.5,
        ge=0,
        le=1,
        description="distillation: weight of the teacher's soft targets (the rest: hard labels)",
    )
    deepspeed: str | None = Field(
        None,
        description="DeepSpeed config JSON file, handed to the Trainer (multi-GPU; needs "
        "`pip install deepspeed`)",
    )
    fsdp: str | None = Field(
        None,
        description="PyTorch FSDP options handed to the Trainer, e.g. 'full_shard auto_wrap' "
        "(multi-GPU)",
    )
    seed: int = Field(42, description="seed for the split, initialisation and shuffling")
    seeds: int = Field(
        1,
        ge=1,
        le=100,
        description="train N times (seed, seed+1, ...) on the same split and report the mean and "
        "spread of the test metrics: how much of a difference between runs is luck. Each seed "
        "is a full training; the run kept is the first seed's",
    )
    eval_batch_size: int = Field(64, ge=1, description="examples per batch when evaluating")
    report_to: str = Field(
        "tensorboard",
        description="experiment tracking through the Trainer's integrations: tensorboard "
        "(event files in RUN/tensorboard; watch with `tensorboard --logdir runs/`), mlflow "
        "(where MLFLOW_TRACKING_URI points, else ./mlflow.db), wandb (WANDB_MODE=offline works "
        "offline), several joined by commas, or none",
    )

    @field_validator("report_to", mode="before")
    @classmethod
    def _check_report_to(cls, value: Any) -> str:
        items = value if isinstance(value, list | tuple) else str(value).split(",")
        names = [str(item).strip().lower() for item in items if str(item).strip()]
        unknown = [n for n in names if n not in TRACKERS]
        if unknown or not names or ("none" in names and len(names) > 1):
            raise ValueError(
                f"use {', '.join(TRACKERS)}, or several joined by commas (tensorboard,mlflow)"
            )
        return ",".join(dict.fromkeys(names))  # in order, once each

    @field_validator("freeze")
    @classmethod
    def _check_freeze(cls, value: str) -> str:
        value = str(value).strip().lower()
        if value in {"auto", "none", "embeddings", "head", "image", "text"} or value.isdigit():
            return value
        raise ValueError(
            "use auto, none, embeddings, head, a number of bottom layers like 2, or for "
            "image-text image or text (the tower to lock)"
        )


class RunConfig(_Group):
    """Everything one training run needs; saved resolved in the run directory."""

    task: str | None = Field(
        None,
        description="what to learn (detected from the data if unset): one of the registered "
        "tasks, e.g. text-classification, ner, multi-label, image-classification, image-text, "
        "generation, embedding",
    )
    model: str | None = Field(
        None,
        description="catalog name, Hugging Face model id, or local model folder (unset: "
        "minilm-l6, or multilingual-e5-small when the text is mostly Chinese; smollm2-135m for "
        "generation)",
    )
    out: str | None = Field(None, description="run directory to create (default runs/<data name>)")
    data: DataConfig = Field(default_factory=DataConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)

    @field_validator("task")
    @classmethod
    def _check_task(cls, value: str | None) -> str | None:
        from tunesmith import tasks  # the registry is the only list of tasks

        if value is not None and value not in tasks.names():
            raise ValueError(f"unknown task; use one of: {', '.join(tasks.names())}")
        return value

    @model_validator(mode="after")
    def _check_sizes(self) -> RunConfig:
        if self.data.val_size + self.data.test_size >= 0.9:
            raise ValueError("data.val_size + data.test_size must leave at least 10% to train on")
        return self


GROUPS = {"data": DataConfig, "train": TrainConfig}


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a plain dict (validation happens in `build_config`)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise TunesmithError(
            "config file not found", where=str(path), fix="check the --config path"
        )
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark else str(path)
        raise TunesmithError(
            f"not valid YAML ({getattr(exc, 'problem', exc)})",
            where=where,
            fix="fix the YAML syntax",
        ) from None
    if not isinstance(loaded, dict):
        raise TunesmithError(
            "a config file must be a mapping of keys to values",
            where=str(path),
            fix="see examples/text-classification.yaml",
        )
    return loaded


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `overrides` into `base` (flags over file over defaults)."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def build_config(values: dict[str, Any], source: str = "config") -> RunConfig:
    """Validate a nested dict into a RunConfig, reporting every problem in one error."""
    try:
        return RunConfig.model_validate(values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "config"
            got = (
                f" (got {err['input']!r})"
                if "input" in err and not isinstance(err["input"], dict)
                else ""
            )
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown setting; see `tunesmith train --help` for the valid ones"
            problems.append(f"--{key}: {msg}{got}")
        raise TunesmithError(
            f"invalid settings in {source}: " + "; ".join(problems),
            fix="correct the values listed above",
        ) from None
