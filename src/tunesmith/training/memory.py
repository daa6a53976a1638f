"""Will this run fit in memory? A rough estimate, checked before training, so that a run does
not crash (or swap for an hour) after minutes of data preparation: weights, gradients and AdamW
state for the trainable part, plus activations and output logits for one batch.
`tunesmith models --task T` measures the real peak instead."""

from __future__ import annotations

from tunesmith.console import info

WARN_SHARE = 0.8  # of the memory available now


def estimate_bytes(model, counts: dict, batch: int, length: int, precision: str) -> int:
    config = getattr(model, "config", None)
    hidden = getattr(config, "hidden_size", 0) or 0
    layers = getattr(config, "num_hidden_layers", 0) or 0
    vocab = getattr(config, "vocab_size", 0) or 0
    per_value = 2 if precision in {"bf16", "fp16"} else 4
    weights = counts["total"] * 4 + counts["trainable"] * (4 + 8)  # fp32 weights, grads, Adam
    activations = batch * length * hidden * layers * 18 * per_value  # ~18 saved values a unit
    logits = batch * length * vocab * 4 * 3 if _is_language_model(model) else 0
    return int(weights + activations + logits)


def _is_language_model(model) -> bool:
    names = getattr(getattr(model, "config", None), "architectures", None) or []
    return any(n.endswith("ForCausalLM") for n in names)


def available_bytes() -> tuple[int, str] | None:
    """Free memory where training runs: the GPU's, else the system's (Linux MemAvailable)."""
    import torch

    if torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info()
        return int(free), "GPU memory free"
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "memory available"
    except OSError:
        return None
    return None


def check_fits(model, counts: dict, cfg, precision: str, task_name: str) -> int:
    """Warn (training still goes on) when the estimate passes 80% of what is free."""
    need = estimate_bytes(model, counts, cfg.batch_size, cfg.max_length, precision)
    have = available_bytes()
    if have and need > WARN_SHARE * have[0]:
        half = max(1, cfg.batch_size // 2)
        info(
            f"Warning: this run may not fit in memory: about {need / 2**30:.1f} GiB needed, "
            f"{have[0] / 2**30:.1f} GiB {have[1]}. Fix: --train.batch_size {half} "
            f"--train.grad_accum {2 * cfg.grad_accum} (same effective batch), --lora, "
            f"--train.gradient_checkpointing, or a smaller model (`tunesmith models --task "
            f"{task_name}`)."
        )
    return need
