"""LoRA through peft: small trainable adapters beside frozen pretrained weights.

The run directory then holds the adapters (adapter_config.json, adapter_model.safetensors);
`--train.merge` also writes RUN/merged, the adapters folded into the base model, which plain
transformers loads without peft.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesmith.config import TrainConfig
from tunesmith.errors import TunesmithError

LORA_LEARNING_RATE = 2e-4  # the usual LoRA default: adapters start at zero and need larger steps


def apply_lora(model: Any, cfg: TrainConfig, task_type: str):
    """`model` wrapped with LoRA adapters on `cfg.lora_targets`; only adapters (and a new task
    head, which peft keeps fully trainable) learn."""
    import torch
    from peft import LoraConfig, get_peft_model

    targets = cfg.lora_targets.strip()
    target_modules: str | list[str] = (
        targets if targets == "all-linear" else [t.strip() for t in targets.split(",") if t.strip()]
    )
    config = LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=target_modules,
        task_type=task_type,
    )
    try:
        return get_peft_model(model, config)
    except ValueError as exc:
        names = sorted(
            {
                n.rsplit(".", 1)[-1]
                for n, m in model.named_modules()
                if isinstance(m, torch.nn.Linear)
            }
        )
        raise TunesmithError(
            f"LoRA cannot use these target modules ({str(exc).splitlines()[0][:200]})",
            where=f"--train.lora_targets {cfg.lora_targets}",
            fix=f"use all-linear, or some of this model's linear layers: {', '.join(names)}",
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


def load_adapter(model_class: Any, run_dir: Path, base_model: str):
    """The base model (resolved as at training time, so packaged and converted models are found
    offline) with the run's adapters, merged in memory for plain-speed inference."""
    from peft import PeftModel

    from tunesmith.models.loading import load_or_explain, resolve

    source, _ = resolve(base_model)
    base = load_or_explain(model_class, source, base_model)
    return PeftModel.from_pretrained(base, str(run_dir)).merge_and_unload()
