"""Images sent with corrections, kept beside the run in `feedback/images/` for `retrain`.

Each is stored once (named by the digest of what is written), shrunk so its longer side is at
most MAX_SIDE pixels (training resizes to a few hundred anyway), as PNG. The folder has a size
limit: past it the service answers 507 and keeps what it has, so feedback cannot fill a disk.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from tunesmith.run_dir import write_atomic

FOLDER = "feedback/images"
MAX_SIDE = 1024


class StorageFull(Exception):
    pass


def store_image(root: str | Path, image, limit_bytes: int) -> str:
    """Save a PIL image; returns its path relative to the run folder `root`."""
    image = image.copy()
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = buffer.getvalue()
    folder = Path(root) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()[:32]}.png"
    if not path.is_file():
        used = sum(p.stat().st_size for p in folder.glob("*.png"))
        if used + len(data) > limit_bytes:
            raise StorageFull(
                f"the feedback image folder is full ({used / 1e6:.0f} MB of "
                f"{limit_bytes / 1e6:.0f} MB); run `tunesmith retrain` or raise the limit"
            )
        write_atomic(path, data)
    return path.relative_to(root).as_posix()
