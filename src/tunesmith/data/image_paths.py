"""Image paths from a table or export, resolved inside the data folder.

A table can name any path, so image paths are confined to the data folder (the folder itself, or
the folder of the table or export): one that leads outside it, through `..`, an absolute path or
a symlink, is not read, so a file from elsewhere cannot slip into training (`open_rgb` with a
`root` refuses it, and training drops it like an unreadable image, with a note naming the row).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

# Notes after a path in a source's name, as in "photos (val split)"
SOURCE_NOTE = re.compile(r" \([^()]*\)$")


def data_folder(source: str | Path) -> Path:
    """The folder image paths must stay in: `source` if it is a folder, else its folder."""
    path = Path(source)
    if not path.exists():
        path = Path(SOURCE_NOTE.sub("", str(source)))
    return (path if path.is_dir() else path.parent).resolve()


def is_inside(path: str | Path, root: Path) -> bool:
    """Whether `path`, with `..` and symlinks followed, is in `root` (resolved already)."""
    return Path(os.path.realpath(path)).is_relative_to(root)


def written_path(value: str) -> Path:
    """The path a table or export names. Label Studio writes `/data/upload/3/cat.jpg` and, for
    local storage, `/data/local-files/?d=photos/cat.jpg` (the path is the `d` parameter)."""
    value = value.strip()
    parts = urlsplit(value)
    if "?" in value and "d" in parse_qs(parts.query):
        return Path(unquote(parse_qs(parts.query)["d"][0]))
    return Path(value.split("?")[0]).expanduser()


def resolve_image_paths(values, root: Path) -> list[str]:
    """Each value as an absolute path, preferring an existing file inside `root`.

    Relative paths are relative to `root`. A path that is not a file there as written is also
    looked for under `root` (an absolute path with its leading `/` dropped) and by its file name
    in `root`: Label Studio exports name `/data/upload/3/cat.jpg` for an image the user keeps
    beside the export. When nothing is found inside, the path as written is kept (opening it
    then says why it cannot be used: missing, or outside the data folder)."""
    out = []
    for value in values:
        path = written_path(str(value))
        as_written = path if path.is_absolute() else root / path
        candidates = [as_written, root / str(path).lstrip("/"), root / path.name]
        found = next((c for c in candidates if c.is_file() and is_inside(c, root)), as_written)
        out.append(os.path.realpath(found))
    return out
