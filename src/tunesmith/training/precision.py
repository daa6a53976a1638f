"""Pick the numeric precision: bf16 only where the hardware runs it natively."""

from __future__ import annotations

from pathlib import Path


def cpu_has_native_bf16() -> bool:
    """AVX-512 BF16 or AMX: bf16 autocast is then faster than fp32 on this CPU (measured)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def resolve_precision(choice: str) -> str:
    """Return 'bf16', 'fp16' or 'fp32' for the device the Trainer will use."""
    import torch

    if choice != "auto":
        return choice
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def fastest_attention(precision: str) -> str | None:
    """The attention kernel to train with, or None for the model's default.

    Measured on an AVX-512 BF16 CPU (MiniLM-L6, batch 16x128, train step): under bf16 autocast
    the SDPA kernel took 0.43 s and plain "eager" attention 0.31 s; in fp32 both took 0.84 s.
    """
    import torch

    if precision == "bf16" and not torch.cuda.is_available():
        return "eager"
    return None
