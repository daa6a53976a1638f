"""The run directory: the artifact a training run leaves behind.

Layout (model files in plain Hugging Face format at the top, so `from_pretrained(run_dir)` works):

    config.json, model.safetensors, tokenizer*   the fine-tuned model and its processor
    run_config.yaml     the resolved configuration (written first; --resume reads it)
    splits.json         row indices of train/val/test and the data fingerprint
    metrics.json        test metrics, validation history
    progress.jsonl      the curve while it trains (steps, losses, each epoch's metrics)
    report.html, README.md, *.png
    tunesmith.json      the manifest, written last, listing every file of the run

A run is built beside its --out folder, in `<out>.unfinished/` (checkpoints included), and moved
to --out only when finished: a crash never leaves something that looks finished, and replacing a
finished run (--overwrite) keeps the old one until the new one is complete. tunesmith deletes
only what a manifest lists, or its own `.unfinished` folder, and never a folder holding anything
else.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from tunesmith.errors import TunesmithError

MANIFEST = "tunesmith.json"
CONFIG = "run_config.yaml"
UNFINISHED = ".unfinished"  # suffix of the folder a run is built in
MARKER = ".tunesmith-unfinished"  # in that folder from its first moment: tunesmith made it
MARKER_TEXT = (
    "tunesmith is building a run here. It moves to {out} when finished;\n"
    "`tunesmith train --resume --out {out}` continues it after a crash.\n"
)


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    if isinstance(content, bytes):
        tmp.write_bytes(content)
    else:
        tmp.write_text(content, encoding="utf-8")
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

    @property
    def unfinished(self) -> RunDir:
        """Where this run is built (and resumed) until it is finished."""
        path = self.path if self.path.name else self.path.resolve()
        return RunDir(path.with_name(path.name + UNFINISHED))

    def manifest(self) -> dict:
        """The manifest of a finished run, or an error that says what to do instead."""
        if not self.finished:
            building = self.unfinished.started or (self.started and self.path.is_dir())
            if building:
                raise TunesmithError(
                    "this run has not finished",
                    where=str(self.path),
                    fix=f"finish it with `tunesmith train --resume --out {self.path}`",
                )
            raise TunesmithError(
                "no such run directory"
                if not self.path.is_dir()
                else "this is not a finished tunesmith run",
                where=str(self.path),
                fix="pass the --out folder of a finished `tunesmith train`",
            )
        return json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))

    def foreign(self) -> list[str]:
        """Entries of a finished run that its manifest does not list: files tunesmith did not
        write with this run (yours, or feedback and versions collected since)."""
        listed = self.manifest().get("files")
        if listed is None:  # written before manifests listed their files: nothing is known
            return sorted(p.name for p in self.path.iterdir())
        return sorted(p.name for p in self.path.iterdir() if p.name not in {*listed, MANIFEST})

    def check(self, *, resume: bool, overwrite: bool) -> None:
        """Refuse, before any work, a run that `start` would refuse: nothing is touched."""
        where = f"--out {self.path}"
        work = self.unfinished
        if resume:
            if work.started:  # a new run, or the replacement of a finished one (--overwrite)
                return
            if self.finished:
                raise TunesmithError(
                    "this run already finished",
                    where=where,
                    fix="use it as is, or pass --overwrite to train again",
                )
            raise TunesmithError(
                f"there is no unfinished run to resume here (no {work.path.name})",
                where=where,
                fix="start the run without --resume",
            )
        if work.path.exists():
            if not (work.path / MARKER).is_file():
                raise TunesmithError(
                    f"{work.path} exists and was not made by tunesmith",
                    where=where,
                    fix=f"move {work.path} away or choose another --out",
                )
            if not overwrite:
                raise TunesmithError(
                    f"an unfinished run is waiting in {work.path}",
                    where=where,
                    fix="pass --resume to continue it, --overwrite to start over, or choose "
                    "another --out",
                )
        if self.path.exists() and not self.path.is_dir():
            raise TunesmithError(
                "this is a file, not a folder", where=where, fix="choose a folder for --out"
            )
        if not self.path.exists() or not any(self.path.iterdir()):
            return
        if not self.finished:
            # Never delete a folder tunesmith did not make: it may hold the user's files.
            raise TunesmithError(
                "the folder exists and is not a finished tunesmith run",
                where=where,
                fix="choose a new or empty --out folder",
            )
        if not overwrite:
            raise TunesmithError(
                "the folder already holds a finished run",
                where=where,
                fix="pass --overwrite to replace it, or choose another --out",
            )
        if "files" not in self.manifest():
            raise TunesmithError(
                "an older tunesmith wrote this run without listing its files, so --overwrite "
                "cannot tell them from yours",
                where=where,
                fix=f"delete the folder yourself if nothing in it is yours (rm -r {self.path}), "
                "or choose another --out",
            )
        others = self.foreign()
        if others:
            shown = ", ".join(others[:5]) + (" ..." if len(others) > 5 else "")
            raise TunesmithError(
                f"--overwrite replaces only what tunesmith wrote, and the run also holds: {shown}",
                where=where,
                fix="move those files out of the folder (or delete the folder yourself), or "
                "choose another --out",
            )

    def start(self, *, resume: bool, overwrite: bool) -> RunDir:
        """The folder to build this run in: its `.unfinished` sibling, made anew (an earlier
        unfinished run there is replaced with --overwrite) or kept to resume."""
        self.check(resume=resume, overwrite=overwrite)
        work = self.unfinished
        if not resume:
            if work.path.exists():  # check() made sure tunesmith made it
                shutil.rmtree(work.path)
            work.path.mkdir(parents=True)
            (work.path / MARKER).write_text(MARKER_TEXT.format(out=self.path), encoding="utf-8")
        return work

    def publish(self, manifest: dict, keep_checkpoints: bool = False) -> None:
        """Finish the run built in `.unfinished`: the manifest (listing the run's files) last,
        then the folder takes the place of --out; a finished run there is replaced, and only
        the files its manifest lists are deleted."""
        work = self.unfinished
        if not keep_checkpoints:
            shutil.rmtree(work.checkpoints, ignore_errors=True)
        (work / "training_args.bin").unlink(missing_ok=True)  # a pickle nobody needs
        (work / MARKER).unlink(missing_ok=True)
        files = sorted(p.name for p in work.path.iterdir())
        write_json(work / MANIFEST, manifest | {"files": files})
        old = None
        if self.finished:  # --overwrite: the old run steps aside, then only its files go
            old = Path(
                tempfile.mkdtemp(prefix=f".{self.path.name}.replaced-", dir=work.path.parent)
            )
            os.replace(self.path, old)
        elif self.path.exists():
            try:
                self.path.rmdir()  # empty: check() refused anything else
            except OSError:
                raise TunesmithError(
                    f"the run finished in {work.path}, but files appeared in --out meanwhile",
                    where=f"--out {self.path}",
                    fix=f"move your files out of {self.path}, then rename {work.path} to it",
                ) from None
        os.replace(work.path, self.path)
        if old is not None:
            kept = _delete_listed(RunDir(old))
            if kept:
                from tunesmith.console import info

                info(
                    f"The replaced run held files tunesmith did not write; kept in {old}: "
                    + ", ".join(kept[:5])
                )


def _delete_listed(run: RunDir) -> list[str]:
    """Delete a replaced run: the files its manifest lists, then the folder if nothing else is
    left in it. Returns what was kept."""
    listed = run.manifest().get("files")
    for name in [*listed, MANIFEST] if listed is not None else []:
        target = run.path / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    kept = sorted(p.name for p in run.path.iterdir())
    if not kept:
        run.path.rmdir()
    return kept
