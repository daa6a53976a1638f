"""Datasets in the studio: each one is a folder `studio/uploads/<id>/` holding `dataset.json`
(its name and the path to train on), the uploaded files under `data/` (a zip is extracted
there, safely), and what the pages keep about it (the doctor's report, applied fixes, the
model advice's job, the configs submitted). A path the user points at is only recorded, never
copied or changed."""

from __future__ import annotations

import json
import secrets
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from tunesmith.studio.errors import PageError
from tunesmith.studio.workspace import Workspace, inside, safe_name

META = "dataset.json"
# A zip is refused past these: a "zip bomb" would fill the disk or take hours to unpack.
MAX_MEMBERS = 100_000
MAX_TOTAL = 8 << 30
MAX_RATIO = 200  # uncompressed / compressed, for members over 1 MB
TABLES = {".csv", ".tsv", ".tab", ".txt", ".json", ".jsonl", ".xlsx", ".xls", ".parquet", ".pq"}


def new_id(workspace: Workspace, name: str) -> str:
    stem = Path(safe_name(name)).stem.strip(" .") or "data"
    return f"{stem[:60]}-{secrets.token_hex(3)}"


def folder(workspace: Workspace, dataset_id: str) -> Path:
    """The dataset's folder (404 for an id that is not a dataset here)."""
    path = inside(workspace.uploads, dataset_id)
    if not (path / META).is_file():
        from fastapi import HTTPException

        raise HTTPException(404, f"no such dataset: {dataset_id}")
    return path


def meta(path: Path) -> dict:
    return json.loads((path / META).read_text(encoding="utf-8"))


def listing(workspace: Workspace) -> list[dict]:
    found = [p for p in workspace.uploads.iterdir() if (p / META).is_file()]
    found.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [meta(p) | {"id": p.name} for p in found]


def save_upload(workspace: Workspace, filename: str, stream) -> str:
    """Keep an uploaded file (or unpack an uploaded zip) as a new dataset; return its id."""
    name = safe_name(filename)
    dataset_id = new_id(workspace, name)
    root = workspace.uploads / dataset_id
    data = root / "data"
    data.mkdir(parents=True)
    try:
        target = data / name
        with target.open("wb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)
        if name.lower().endswith(".zip"):
            extract(target, data)
            target.unlink()
            target = data_path_in(data)
        _write_meta(root, {"name": name, "kind": "upload", "path": str(target)})
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return dataset_id


def point_at(workspace: Workspace, path: str) -> str:
    """Record a file or folder on this machine as a dataset (read in place, never copied)."""
    source = Path(path.strip().strip('"')).expanduser()
    if not path.strip() or not source.exists():
        raise PageError("path_missing", where=path or "(empty path)")
    source = source.resolve()
    dataset_id = new_id(workspace, source.name)
    root = workspace.uploads / dataset_id
    root.mkdir(parents=True)
    _write_meta(root, {"name": source.name, "kind": "path", "path": str(source)})
    return dataset_id


def files_root(info: dict) -> Path:
    """The folder whose files (images) the pages may show: the data folder, or the file's."""
    path = Path(info["path"])
    return path if path.is_dir() else path.parent


def _write_meta(root: Path, info: dict) -> None:
    (root / META).write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")


def extract(archive: Path, into: Path) -> None:
    """Unpack `archive` into `into`, refusing members that would land outside it, links, and
    sizes past the limits above. Names from Windows zips (GBK, no UTF-8 flag) stay Chinese."""
    try:
        zip_file = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise PageError("zip_unreadable", where=archive.name) from None
    with zip_file:
        members = zip_file.infolist()
        if len(members) > MAX_MEMBERS or sum(m.file_size for m in members) > MAX_TOTAL:
            raise PageError(
                "zip_too_large",
                where=archive.name,
                files=len(members),
                gigabytes=sum(m.file_size for m in members) / 2**30,
                max_files=MAX_MEMBERS,
                max_gigabytes=MAX_TOTAL >> 30,
            )
        for member in members:
            name = _member_name(member)
            parts = PurePosixPath(name.replace("\\", "/")).parts
            mode = member.external_attr >> 16
            unsafe = not parts or ".." in parts or name.startswith(("/", "\\"))
            if stat.S_ISLNK(mode) or unsafe or ":" in parts[0]:  # ":": a Windows drive
                raise PageError("zip_unsafe_member", where=archive.name, name=name)
            big = member.file_size > 1 << 20
            if big and member.file_size > MAX_RATIO * max(member.compress_size, 1):
                raise PageError(
                    "zip_bomb",
                    where=archive.name,
                    name=name,
                    size=member.file_size,
                    packed=member.compress_size,
                )
            parts = [p for p in parts if p not in ("", ".")]
            if not parts or parts[0] == "__MACOSX" or parts[-1].startswith("._"):
                continue  # macOS resource forks, not data
            target = into.joinpath(*parts)
            if not target.resolve().is_relative_to(into.resolve()):
                raise PageError("zip_unsafe_member", where=archive.name, name=name)
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zip_file.open(member) as source, target.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)


def _member_name(member: zipfile.ZipInfo) -> str:
    if member.flag_bits & 0x800:  # marked UTF-8
        return member.filename
    raw = member.filename.encode("cp437")  # how zipfile decoded the unmarked bytes
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return member.filename


def data_path_in(folder: Path) -> Path:
    """What to train on in an unpacked zip: past a single wrapping folder, the one table
    file there, else the folder itself (class folders, or train/val/test)."""
    while True:
        entries = [p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX"))]
        if len(entries) == 1 and entries[0].is_dir():
            folder = entries[0]
            continue
        tables = [p for p in entries if p.is_file() and p.suffix.lower() in TABLES]
        subdirs = [p for p in entries if p.is_dir()]
        if len(tables) == 1 and not subdirs:
            return tables[0]
        return folder
