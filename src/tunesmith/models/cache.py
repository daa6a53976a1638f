"""Where converted model folders are kept (once built, reused): $TUNESMITH_CACHE, else
$XDG_CACHE_HOME/tunesmith, else ~/.cache/tunesmith."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path


def model_cache(name: str) -> Path:
    root = (
        os.environ.get("TUNESMITH_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tunesmith"
    )
    return Path(root) / "models" / name


def build_once(target: Path, write: Callable[[Path], None]) -> Path:
    """`write(folder)` into a staging folder renamed to `target` at the end, so a crash never
    leaves a half-written model folder that looks finished."""
    if (target / "config.json").is_file():
        return target
    staging = target.with_name(target.name + f".partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    write(staging)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(staging, target)
    except OSError:  # another process built it first
        shutil.rmtree(staging, ignore_errors=True)
    return target
