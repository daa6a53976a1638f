"""Read a data source into a table: CSV/TSV/JSONL files, or a folder with one sub-folder per class.

Every column is read as text, so labels like `1` and `01` stay what the user wrote and no
number is silently turned into a float. The table's index is the 0-based data row in the source.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tunesmith.data.conll import looks_like_conll, read_conll
from tunesmith.data.label_studio import is_label_studio, label_studio_frame
from tunesmith.errors import TunesmithError

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".jsonl": None, ".json": None}
CONLL_SUFFIXES = {".conll", ".conllu", ".bio", ".iob", ".iob2", ".bioes", ".txt", ""}
# UTF-8 (with or without BOM), then what Chinese Excel writes, then Western Windows text
# (cp1252 covers Latin-1: one BBC News article is Latin-1).
ENCODINGS = ("utf-8-sig", "gb18030", "cp1252")


def read_table(path: str | Path, flag: str = "--data.path") -> pd.DataFrame:
    """Read `path` into a DataFrame of strings, or raise a TunesmithError saying what to fix."""
    path = Path(path)
    if not path.exists():
        raise TunesmithError(
            "no such file or folder",
            where=f"{flag} {path}",
            fix="check the path, or run from the folder that holds the data",
        )
    if path.is_dir():
        return read_class_folders(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES | dict.fromkeys(CONLL_SUFFIXES):
        raise TunesmithError(
            f"unsupported file type {suffix or '(none)'!r}",
            where=f"{flag} {path}",
            fix="use .csv, .tsv, .jsonl, .json or CoNLL (.conll), or a folder with one "
            "sub-folder per class",
        )
    text = _decode(path)
    if not text.strip():
        raise TunesmithError("the file is empty", where=str(path), fix="point to a file with data")
    if suffix in CONLL_SUFFIXES:
        if not looks_like_conll(text):
            raise TunesmithError(
                "not CoNLL: expected `token<TAB>tag` lines (tags O, B-TYPE, I-TYPE)",
                where=f"{flag} {path}",
                fix="convert it to CoNLL, or to CSV/JSONL with named columns",
            )
        frame = read_conll(path, text)
    elif suffix in {".jsonl", ".json"}:
        frame = _read_json(path, text)
    else:
        frame = _read_delimited(path, text, TABLE_SUFFIXES[suffix])
    if frame.empty:
        raise TunesmithError(
            "the file has a header but no rows",
            where=str(path),
            fix="add data rows below the header",
        )
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.reset_index(drop=True)


def _decode(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TunesmithError(
            f"cannot read the file ({exc.strerror})",
            where=str(path),
            fix="check that it exists and that you may read it",
        ) from None
    for encoding in ENCODINGS:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise TunesmithError(
        "the file is not UTF-8, GBK/GB18030 or Windows-1252 text",
        where=str(path),
        fix="save it as UTF-8 (in Excel: 'CSV UTF-8')",
    )


def _read_delimited(path: Path, text: str, sep: str) -> pd.DataFrame:
    import io

    try:
        return pd.read_csv(
            io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=True
        )
    except pd.errors.ParserError as exc:
        raise TunesmithError(
            f"cannot parse the table ({exc})".replace("\n", " "),
            where=str(path),
            fix="quote fields that contain the delimiter or line breaks",
        ) from None


def _read_json(path: Path, text: str) -> pd.DataFrame:
    stripped = text.lstrip()
    if stripped.startswith("["):  # a JSON array of records
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TunesmithError(
                f"not valid JSON ({exc.msg})",
                where=f"{path}, line {exc.lineno}",
                fix="fix the JSON syntax",
            ) from None
    else:  # JSON Lines: one object per line
        records = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise TunesmithError(
                    f"not valid JSON ({exc.msg})",
                    where=f"{path}, line {lineno}",
                    fix="each line must be one JSON object",
                ) from None
    if is_label_studio(records):
        return label_studio_frame(records)
    bad = next((i for i, r in enumerate(records) if not isinstance(r, dict)), None)
    if bad is not None:
        raise TunesmithError(
            "expected an object with named fields",
            where=f"{path}, record {bad + 1}",
            fix='write records like {"text": "...", "label": "..."}',
        )
    frame = pd.DataFrame.from_records(records)
    # Keep text as written; JSON numbers become their string form ("1", not 1.0); lists and
    # objects (NER tokens, tags, spans) stay as they are.
    return frame.apply(lambda col: col.map(_as_text))


def _as_text(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, (str, list, dict)) else str(value)


def read_class_folders(root: Path) -> pd.DataFrame:
    """`root/<class>/*.txt` -> rows of (text, label, file). Hidden entries are ignored."""
    rows = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for file in sorted(class_dir.glob("*.txt")):
            rows.append(
                {
                    "text": _decode(file),
                    "label": class_dir.name,
                    "file": str(file.relative_to(root)),
                }
            )
    if not rows:
        raise TunesmithError(
            "found no .txt files in class sub-folders",
            where=str(root),
            fix="lay the folder out as <folder>/<class name>/<example>.txt",
        )
    return pd.DataFrame(rows)


def describe_row(source: str | Path, index: int) -> str:
    """Human row reference for a 0-based data row: CSV line numbers count the header."""
    source = Path(source)
    if source.is_dir():
        return f"{source}, example {index + 1}"
    if source.suffix.lower() in {".csv", ".tsv", ".tab"}:
        return f"{source}, line {index + 2}"
    if source.suffix.lower() in CONLL_SUFFIXES:
        return f"{source}, sentence {index + 1}"
    return f"{source}, record {index + 1}"
