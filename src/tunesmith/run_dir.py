"""The run directory: the artifact a training run leaves behind.

Layout (model files in plain Hugging Face format at the top, so `from_pretrained(run_dir)` works):

    config.json, model.safetensors, tokenizer*   the fine-tuned model and its processor
    run_config.yaml     the resolved configuration (written first; --resume reads it)
    splits.json         row indices of train/val/test and the data fingerprint
    metrics.json        test metrics, validation history
    report.html, README.md, *.png
    checkpoints/        only while training
    tunesmith.json      the manifest, written last: a run without it never looks finished
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from tunesmith.errors import TunesmithError

MANIFEST = "tunesmith.json"
CONFIG = "run_config.yaml"


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def finished(self) -> bool:
        return (self.path / MANIFEST).is_file()

    @property
    def started(self) -> bool:
        return (self.path / CONFIG).is_file()

    def manifest(self) -> dict:
        """The manifest of a finished run, or an error that says what to do instead."""
        if not self.path.is_dir():
            raise TunesmithError(
                "no such run directory",
                where=str(self.path),
                fix="pass the --out folder of a finished `tunesmith train`",
            )
        if not self.finished:
            hint = (
                f"finish it with `tunesmith train --resume --out {self.path}`"
                if self.started
                else "pass the --out folder of a finished `tunesmith train`"
            )
            raise TunesmithError(
                "this is not a finished tunesmith run", where=str(self.path), fix=hint
            )
        return json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))

    def check(self, *, resume: bool, overwrite: bool) -> None:
        """Refuse, before any work, a run that `prepare` would refuse: nothing is touched."""
        where = f"--out {self.path}"
        if resume:
            if not self.started:
                raise TunesmithError(
                    "there is no run to resume here",
                    where=where,
                    fix="start the run without --resume",
                )
            if self.finished:
                raise TunesmithError(
                    "this run already finished",
                    where=where,
                    fix="use it as is, or pass --overwrite to train again",
                )
            return
        if self.path.exists() and any(self.path.iterdir()):
            if not (self.started or self.finished):
                # Never delete a folder tunesmith did not make: it may hold the user's files.
                raise TunesmithError(
                    "the folder exists and is not a tunesmith run",
                    where=where,
                    fix="choose a new or empty --out folder",
                )
            if not overwrite:
                state = "a finished run" if self.finished else "an unfinished run"
                fix = (
                    "pass --overwrite to replace it, or choose another --out"
                    if self.finished
                    else "pass --resume to continue it, --overwrite to start over, or choose "
                    "another --out"
                )
                raise TunesmithError(f"the folder already holds {state}", where=where, fix=fix)

    def prepare(self, *, resume: bool, overwrite: bool) -> None:
        """Make the folder ready for a new run, or check that a run can be resumed here."""
        self.check(resume=resume, overwrite=overwrite)
        if not resume and self.path.exists() and any(self.path.iterdir()):
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)

    def finish(self, manifest: dict, keep_checkpoints: bool = False) -> None:
        if not keep_checkpoints:
            shutil.rmtree(self.checkpoints, ignore_errors=True)
        (self.path / "training_args.bin").unlink(missing_ok=True)  # a pickle nobody needs
        write_json(self.path / MANIFEST, manifest)
