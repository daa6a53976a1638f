"""A content fingerprint of a data source, saved in the run so a reproduction can check its data."""

from __future__ import annotations

import hashlib
from pathlib import Path


def fingerprint(path: str | Path) -> str:
    """sha256 over the file's bytes, or over every file's relative name and bytes in a folder."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()
