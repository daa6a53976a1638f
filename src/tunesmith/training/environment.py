"""What a run trained on: Python, the libraries that compute its numbers, the device.

Saved in the manifest, so `tunesmith replay` can say what differs when a replay's numbers do:
the same seed gives the same numbers only with the same libraries on the same kind of hardware.
"""

from __future__ import annotations

import platform
from importlib import metadata

# the libraries whose version can change a trained model or its measured metrics
LIBRARIES = (
    "torch",
    "transformers",
    "tokenizers",
    "accelerate",
    "peft",
    "torchvision",
    "numpy",
    "scikit-learn",
    "pandas",
)


def environment() -> dict:
    """{"python", "platform", "device", "threads", "libraries": {name: version}}."""
    import torch

    from tunesmith import __version__
    from tunesmith.machine import _cpu_model

    versions = {"tunesmith": __version__}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "device": device,
        "cpu": _cpu_model(),
        "threads": torch.get_num_threads(),
        "libraries": versions,
    }


def differences(saved: dict | None, now: dict) -> list[str]:
    """What differs between the environment a run recorded and this one, for people:
    ["torch 2.5.1 -> 2.6.0", "device cpu -> NVIDIA H100"]."""
    if not saved:
        return []
    out = [
        f"{key} {saved.get(key)} -> {now.get(key)}"
        for key in ("python", "platform", "device", "cpu", "threads")
        if saved.get(key) != now.get(key)
    ]
    before, after = saved.get("libraries", {}), now.get("libraries", {})
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            out.append(f"{name} {before.get(name, 'absent')} -> {after.get(name, 'absent')}")
    return out
