"""LoRA through peft: small trainable adapters beside frozen pretrained weights.

Generation runs hold the adapters (adapter_config.json, adapter_model.safetensors), and
`--train.merge` also writes RUN/merged, the adapters folded into the base model, which plain
transformers loads without peft. Classification and NER runs hold the merged model (so
pipeline(), ONNX export and retraining work as without LoRA) and the adapters in RUN/adapter;
so do image classification runs on Hugging Face models (ViT, ConvNeXt...), whose new head peft
has no TaskType for: it trains whole through `modules_to_save` (Task.lora_settings). Embedding
and image-text runs hold the merged model too, so sentence-transformers, ONNX export and serving
load them as runs trained without LoRA.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesmith.config import TrainConfig
from tunesmith.errors import TunesmithError

LORA_LEARNING_RATE = 2e-4  # the usual LoRA default: adapters start at zero and need larger steps


def apply_lora(model: Any, cfg: TrainConfig, settings: dict[str, Any] | str):
    """`model` wrapped with LoRA adapters on `cfg.lora_targets`; only adapters (and a new task
    head, which peft keeps fully trainable) learn. `settings` (Task.lora_settings) holds peft's
    `task_type`, or `modules_to_save` naming a head for peft's plain PeftModel, and optionally
    `exclude_modules` (a regex over full module names) for layers that must get no adapters;
    a plain string is a task_type."""
    import torch
    from peft import LoraConfig, get_peft_model

    if isinstance(settings, str):
        settings = {"task_type": settings}
    task_type = settings.get("task_type")
    keep_whole = list(settings.get("modules_to_save") or [])
    targets = cfg.lora_targets.strip()
    linear = sorted(
        {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    )
    target_modules: str | list[str] = [t.strip() for t in targets.split(",") if t.strip()]
    if targets == "all-linear":
        # peft's own "all-linear" leaves out a language model's output layer but not a new
        # classifier head, which must train whole (peft's modules_to_save), not get adapters
        heads = {"classifier", "score", "lm_head", *keep_whole}
        target_modules = (
            "all-linear" if task_type == "CAUSAL_LM" else [n for n in linear if n not in heads]
        )
    config = LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=target_modules,
        task_type=task_type,
        modules_to_save=keep_whole or None,
        exclude_modules=settings.get("exclude_modules"),
    )
    try:
        return get_peft_model(model, config)
    except ValueError as exc:
        raise TunesmithError(
            f"LoRA cannot use these target modules ({str(exc).splitlines()[0][:200]})",
            where=f"--train.lora_targets {cfg.lora_targets}",
            fix=f"use all-linear, or some of this model's linear layers: {', '.join(linear)}",
        ) from None


def parameter_counts(model: Any) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}


def save_merged(model: Any, processor: Any, folder: Path) -> Path:
    """Fold the adapters into the base weights and save a plain transformers model."""
    merged = model.merge_and_unload()
    merged.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def save_merged_run(trainer: Any, run_path: Path) -> None:
    """For tasks whose runs stay plain models (all but generation): the adapters in RUN/adapter,
    the merged model in the run itself, where pipeline(), export and retraining expect it.
    `trainer.model` becomes the merged model, which the test pass then scores."""
    trainer.model.save_pretrained(run_path / "adapter")
    trainer.model = trainer.model.merge_and_unload()
    # saved as without LoRA (with the Trainer's processor): save_pretrained, or the state dict
    # of a plain module (assembled dual encoders)
    trainer.save_model(str(run_path))


def load_adapter(model_class: Any, run_dir: Path, base_model: str):
    """The base model (resolved as at training time, so packaged and converted models are found
    offline) with the run's adapters, merged in memory for plain-speed inference."""
    from peft import PeftModel

    from tunesmith.models.loading import load_or_explain, resolve

    source, _ = resolve(base_model)
    base = load_or_explain(model_class, source, base_model)
    return PeftModel.from_pretrained(base, str(run_dir)).merge_and_unload()
