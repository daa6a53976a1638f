"""How hard the run used the machine: examples (and tokens) a second over the training steps
alone, and the share of the hardware's estimated peak that the model's FLOPs reached.

The counting is the Meter's (training/callbacks.py); the task says what an example is and
whether tokens count (`Task.throughput_unit`). The peak is an estimate, stated with its basis:
a GPU's datasheet figure for the precision trained in, or CPU threads x clock x FLOPs a cycle
for the instruction set. Light to import: the CLI reads a finished run's figures for its line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

# Dense tensor-core TFLOP/s from the vendors' datasheets: (bf16/fp16, fp32 without TF32, which
# PyTorch leaves off for matrix products). Longest name found in the device's name wins.
GPU_TFLOPS = {
    "B200": (2250, 80),
    "H200": (989, 67),
    "H100 PCIe": (756, 51),
    "H100 NVL": (835, 60),
    "H100": (989, 67),
    "A100": (312, 19.5),
    "A10G": (70, 31.2),
    "A10": (125, 31.2),
    "L40S": (362, 91.6),
    "L40": (181, 90.5),
    "L4": (121, 30.3),
    "T4": (65, 8.1),
    "V100": (125, 15.7),
    "RTX 4090": (165, 82.6),
    "RTX 3090": (71, 35.6),
}


def summarise(meter, precision: str) -> dict:
    """metrics.json's `throughput`."""
    seconds = max(meter.seconds, 1e-9)
    examples = meter.rows * meter.epochs
    out = {
        "unit": meter.unit,
        "seconds": round(meter.seconds, 2),
        "examples": round(examples),
        "examples_per_second": round(examples / seconds, 2),
    }
    tokens = None
    if meter.counts_tokens:
        # counted on this process's batches; under torchrun each process trains as many
        tokens = int(meter.tokens) * meter.processes
        out |= {"tokens": tokens, "tokens_per_second": round(tokens / seconds, 1)}
    if not meter.flops_per_unit:
        return out
    per = "token" if tokens is not None else "example"
    flops = meter.flops_per_unit * (tokens if tokens is not None else examples)
    out |= {
        f"flops_per_{per}": round(meter.flops_per_unit),
        "achieved_gflops": flops / seconds / 1e9,
    }
    peak = estimated_peak(precision, meter.processes)
    if peak:
        out |= {"peak_gflops": peak[0] / 1e9, "peak_basis": peak[1]}
        out["share_of_peak"] = round(flops / seconds / peak[0], 4)
    out["achieved_gflops"] = round(out["achieved_gflops"], 2)
    return out


def describe(figures: dict) -> str:
    """`212 examples/s, 41k tokens/s, ~18% of estimated peak`."""
    parts = [f"{_short(figures['examples_per_second'])} {figures['unit']}/s"]
    if "tokens_per_second" in figures:
        parts.append(f"{_short(figures['tokens_per_second'])} tokens/s")
    if "share_of_peak" in figures:
        parts.append(f"~{_percent(figures['share_of_peak'])} of estimated peak")
    return ", ".join(parts)


def finished_line(run: str | Path) -> str:
    """`: 212 examples/s, ...` for `Finished: RUN`, from a finished run's metrics.json."""
    try:
        figures = json.loads((Path(run) / "metrics.json").read_text(encoding="utf-8"))
        return f" ({describe(figures['throughput'])})"
    except (OSError, ValueError, KeyError):
        return ""


def _short(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _percent(share: float) -> str:
    return f"{share:.0%}" if share >= 0.01 else f"{share:.2%}"


def estimated_peak(precision: str, processes: int = 1) -> tuple[float, str] | None:
    """(FLOP/s, how it was estimated) of the device trained on, or None where unknown."""
    import torch

    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        found = [key for key in GPU_TFLOPS if key in name]
        if not found:
            return None
        low, fp32 = GPU_TFLOPS[max(found, key=len)]
        tflops = fp32 if precision == "fp32" else low
        each = f"{name}: {tflops:g} {precision} TFLOP/s (datasheet, dense)"
        gpus = f"{processes} x " if processes > 1 else ""
        return processes * tflops * 1e12, gpus + each
    cpu = _cpu_per_cycle(precision)
    ghz = _clock_ghz()
    if cpu is None or ghz is None:
        return None
    per_cycle, isa = cpu
    threads = torch.get_num_threads() * processes
    basis = f"{threads} threads x {ghz:.2f} GHz x {per_cycle} {precision} FLOPs/cycle ({isa})"
    return threads * ghz * 1e9 * per_cycle, basis


def _cpu_per_cycle(precision: str) -> tuple[int, str] | None:
    """FLOPs a core does per cycle at `precision`, assuming two FMA units (most server cores)."""
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    if precision == "bf16" and "amx_bf16" in flags:
        return 1024, "AMX bf16 tiles"
    if "avx512f" in flags:
        # Zen 4 (AMD family 25) runs AVX-512 on 256-bit units: half Intel's and Zen 5's rate
        half = info.get("vendor_id") == "AuthenticAMD" and info.get("cpu family") == "25"
        fp32 = 32 if half else 64
        width = "AVX-512 on 256-bit units" if half else "AVX-512"
        if precision == "bf16" and "avx512_bf16" in flags:
            return 2 * fp32, f"{width}, BF16 dot products"
        return fp32, width + (", bf16 computed as fp32" if precision == "bf16" else "")
    if "avx2" in flags and "fma" in flags:
        return 32, "AVX2 FMA"
    if "avx" in flags:
        return 16, "AVX"
    return None  # another instruction set (ARM ...): no estimate


def _clock_ghz() -> float | None:
    """The base clock in the model name (Intel's "@ 2.10GHz"), else the maximum cpufreq
    reports, else the current clock /proc/cpuinfo shows (a VM's nominal one)."""
    info = _cpuinfo()
    named = re.search(r"@\s*([\d.]+)\s*GHz", info.get("model name", ""))
    if named:
        return float(named.group(1))
    try:
        khz = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text()
        return int(khz) / 1e6
    except (OSError, ValueError):
        pass
    try:
        return float(info["cpu MHz"]) / 1000
    except (KeyError, ValueError):
        return None


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields
