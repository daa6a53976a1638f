"""The studio's folder (`tunesmith studio --dir`, default the current one):

    runs/<name>/                 runs, as `tunesmith train` makes them by default
    studio/uploads/<id>/<file>   uploaded data (a user's own files elsewhere are only read)
    studio/jobs/<id>/            one queued command each: its settings, log and state
    studio/secrets.json          keys the studio keeps for its jobs (Label Studio's), owner-only

Names that come from a user (a file name, a run name in a URL) are resolved inside these
folders and refused when they would point outside them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from fastapi import HTTPException

_UNSAFE = re.compile(r'[\x00-\x1f/\\:*?"<>|#%]')  # and what a URL would cut (# %)


class Workspace:
    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.runs = self.root / "runs"
        self.studio = self.root / "studio"
        self.uploads = self.studio / "uploads"
        self.jobs = self.studio / "jobs"
        self.secrets = self.studio / "secrets.json"
        for folder in (self.runs, self.uploads, self.jobs):
            folder.mkdir(parents=True, exist_ok=True)

    def secret(self, name: str) -> str | None:
        try:
            return json.loads(self.secrets.read_text(encoding="utf-8")).get(name)
        except (OSError, ValueError):
            return None

    def save_secrets(self, **values: str) -> None:
        """Kept for the jobs that need them (given to them in their environment, never on their
        command line, in job.json or on a page), all in one write; readable by this user only."""
        try:
            kept = json.loads(self.secrets.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            kept = {}
        kept |= values
        tmp = self.secrets.with_name(".secrets.json.tmp")
        tmp.unlink(missing_ok=True)  # a leftover would keep its own mode
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump(kept, out)
        tmp.replace(self.secrets)

    def run(self, name: str) -> Path:
        """The run called `name` (404 when it would leave runs/)."""
        return inside(self.runs, name)


def inside(folder: Path, name: str) -> Path:
    """`folder/name`, refused (404) when `name` is empty, absolute or climbs out of `folder`."""
    try:
        path = (folder / name).resolve()
    except (ValueError, OSError):  # a NUL byte, a name too long for the file system
        path = None
    if (
        not name
        or Path(name).is_absolute()
        or not path
        or not path.is_relative_to(folder.resolve())
    ):
        raise HTTPException(404, f"no such item: {name}")
    return path


def safe_name(name: str, fallback: str = "data") -> str:
    """A file or folder name safe to create: the last path part, without control characters
    or separators; Chinese and other letters are kept as they are."""
    base = _UNSAFE.sub("_", Path(name.replace("\\", "/")).name).strip(" .")
    return base[:120] or fallback
