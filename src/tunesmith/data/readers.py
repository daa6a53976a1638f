"""Read a data source into tables: CSV/TSV, JSON/JSONL, Parquet, Excel, CoNLL, Label Studio
exports, folders with one sub-folder per class (optionally under train/val/test), datasets saved
with `save_to_disk`, and hub datasets (`hub:NAME`) when online.

Every column is read as text, so labels like `1` and `01` stay what the user wrote and no number
is silently turned into a float. pandas keeps text columns in Arrow memory (not one Python object
per row), which lets a million-row CSV load in well under 2 GB. A table's index is the 0-based
data row in its source.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from tunesmith.data.conll import looks_like_conll, read_conll
from tunesmith.data.images import is_image
from tunesmith.data.label_studio import is_label_studio, label_studio_frame
from tunesmith.data.text_files import choose_delimiter, detect_encoding, read_text
from tunesmith.errors import TunesmithError

DELIMITED = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
JSON = {".jsonl", ".json", ".ndjson"}
EXCEL = {".xlsx", ".xlsm"}
PARQUET = {".parquet", ".pq"}
PLAIN_TEXT = {".txt", ".md"}  # prose for generation, unless it reads as CoNLL
CONLL_SUFFIXES = {".md", ".conll", ".conllu", ".bio", ".iob", ".iob2", ".bioes", ".txt", ""}
SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "dev": "val"}
SPLIT_NAMES |= {"test": "test"}
HUB_PREFIX = "hub:"
# More columns than this is a wrong delimiter or not a table (a text task uses two or three);
# refused at once, before pandas spends minutes on a 200,000-column header.
MAX_COLUMNS = 10_000


def read_table(path: str | Path, flag: str = "--data.path", options: Any = None) -> pd.DataFrame:
    """One table from `path`. Sources that hold splits give their test split (for evaluation),
    or their training split when they have no test split."""
    splits = read_splits(path, flag, options)
    return splits.get("test", splits["train"])


def read_splits(
    path: str | Path, flag: str = "--data.path", options: Any = None
) -> dict[str, pd.DataFrame]:
    """{"train": table} for one file; also "val"/"test" when the source is split already."""
    if str(path).startswith(HUB_PREFIX):
        return _read_hub(str(path)[len(HUB_PREFIX) :], flag)
    path = Path(path)
    if not path.exists():
        raise TunesmithError(
            "no such file or folder",
            where=f"{flag} {path}",
            fix="check the path, or run from the folder that holds the data (hub datasets: "
            "hub:NAME)",
        )
    if path.is_dir():
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            return _read_saved_dataset(path)
        split_dirs = {SPLIT_NAMES[p.name.lower()]: p for p in _subdirs(path) if _is_split(p)}
        if "train" in split_dirs:
            return {name: read_class_folders(folder) for name, folder in split_dirs.items()}
        return {"train": read_class_folders(path)}
    return {"train": _read_file(path, flag, options)}


def _read_file(path: Path, flag: str, options: Any) -> pd.DataFrame:
    suffix = path.suffix.lower()
    known = DELIMITED.keys() | JSON | EXCEL | PARQUET | CONLL_SUFFIXES
    if suffix not in known:
        raise TunesmithError(
            f"unsupported file type {suffix!r}",
            where=f"{flag} {path}",
            fix="use .csv, .tsv, .jsonl, .json, .parquet, .xlsx or CoNLL (.conll), or a folder "
            "with one sub-folder per class",
        )
    if suffix in EXCEL:
        frame = _read_excel(path, getattr(options, "sheet", None))
    elif suffix in PARQUET:
        frame = _read_parquet(path)
    else:
        encoding = detect_encoding(path, getattr(options, "encoding", None))
        if suffix in DELIMITED:
            delimiter = choose_delimiter(
                path, encoding, DELIMITED[suffix], getattr(options, "delimiter", None)
            )
            frame = _read_delimited(path, encoding, delimiter)
        elif suffix in JSON:
            frame = _read_json(path, read_text(path, encoding))
        else:
            text = read_text(path, encoding)
            if suffix in PLAIN_TEXT and not looks_like_conll(text):
                frame = _paragraphs(text)
            elif not looks_like_conll(text):
                raise TunesmithError(
                    "not CoNLL: expected `token<TAB>tag` lines (tags O, B-TYPE, I-TYPE)",
                    where=f"{flag} {path}",
                    fix="convert it to CoNLL, or to CSV/JSONL with named columns",
                )
            else:
                frame = read_conll(path, text)
    if frame.empty:
        raise TunesmithError(
            "the file has a header but no rows",
            where=str(path),
            fix="add data rows below the header",
        )
    frame.columns = [str(c).strip() for c in frame.columns]
    _check_columns(list(frame.columns), str(path))
    return frame.reset_index(drop=True)


def _check_columns(names: list[str], where: str, sep: str | None = None) -> None:
    """Refuse a header with more than MAX_COLUMNS columns or a name used twice (pandas would
    quietly rename the second one to "name.1"). Linear in the number of columns."""
    if sep is not None:
        _check_width(
            len(names),
            where,
            f"the header splits into {len(names):,} columns at {sep!r}: the delimiter is most "
            "likely wrong",
            "check that line 1 is the header and name the delimiter with --data.delimiter (e.g. "
            "';' or tab), or keep only the columns to train on",
        )
    _check_width(len(names), where, f"the table has {len(names):,} columns")
    twice = sorted(name for name, n in Counter(names).items() if n > 1)
    if twice:
        raise TunesmithError(
            f"the header names column {twice[0]!r} more than once",
            where=where,
            fix="give every column a distinct name",
        )


def _check_width(
    count: int, where: str, what: str, fix: str = "keep only the columns to train on"
) -> None:
    if count > MAX_COLUMNS:
        raise TunesmithError(
            f"{what} (tunesmith reads at most {MAX_COLUMNS:,}; a task uses a few: text, label)",
            where=where,
            fix=fix,
        )


def _read_delimited(path: Path, encoding: str, sep: str) -> pd.DataFrame:
    import csv

    with open(path, encoding=encoding, errors="replace", newline="") as handle:
        try:
            header = next(csv.reader(handle, delimiter=sep), [])
        except csv.Error as exc:  # a header field over csv's size limit
            raise TunesmithError(
                f"cannot parse the header ({exc})",
                where=f"{path}, line 1",
                fix="line 1 must be the header: short column names separated by the delimiter",
            ) from None
    _check_columns([name.strip() for name in header], f"{path}, line 1", sep)
    try:  # Arrow's reader: 5x faster, a third less memory on a million rows
        return pd.read_csv(
            path, sep=sep, encoding=encoding, dtype=str, keep_default_na=False, engine="pyarrow"
        )
    except Exception:  # pandas' own parser reads more odd files and names the bad line
        pass
    try:
        return pd.read_csv(
            path,
            sep=sep,
            encoding=encoding,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=True,
        )
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().split("C error: ")[-1]  # "Expected 2 fields in line 3, saw 4"
        raise TunesmithError(
            f"cannot parse the table ({detail})".replace("\n", " "),
            where=str(path),
            fix="every row needs as many fields as the header; quote fields that contain the "
            "delimiter or line breaks",
        ) from None
    except UnicodeDecodeError as exc:  # only with a wrong --data.encoding
        raise TunesmithError(
            f"not {encoding} text (byte {exc.start} of a block cannot be decoded)",
            where=str(path),
            fix="name the right encoding with --data.encoding, or leave it unset to detect it",
        ) from None
    except pd.errors.EmptyDataError:
        raise TunesmithError(
            "the file is empty", where=str(path), fix="point to a file with data"
        ) from None


def _read_excel(path: Path, sheet: str | None) -> pd.DataFrame:
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        raise TunesmithError(
            "reading Excel files needs openpyxl",
            where=str(path),
            fix="pip install openpyxl, or save the sheet as CSV UTF-8",
        ) from None
    try:
        frame = pd.read_excel(path, sheet_name=sheet or 0, dtype=str, keep_default_na=False)
    except ValueError as exc:
        if "not found" not in str(exc):  # not a sheet name that is missing
            raise TunesmithError(
                "not a readable .xlsx workbook",
                where=str(path),
                fix="open and re-save it in Excel, or export the sheet as CSV UTF-8",
            ) from None
        raise TunesmithError(
            f"cannot read the workbook ({exc})",
            where=f"{path}, --data.sheet",
            fix="name a "
            "sheet that is in the workbook, or leave --data.sheet unset for the first one",
        ) from None
    except Exception as exc:  # zipfile.BadZipFile and friends: not really a workbook
        raise TunesmithError(
            f"not a readable .xlsx workbook ({type(exc).__name__})",
            where=str(path),
            fix="open and re-save it in Excel, or export the sheet as CSV UTF-8",
        ) from None
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow.parquet

    try:
        width = len(pyarrow.parquet.read_schema(path).names)  # the footer only: cheap
        _check_width(width, str(path), f"the table has {width:,} columns")
        frame = pd.read_parquet(path)
    except TunesmithError:
        raise
    except Exception as exc:  # pyarrow.ArrowInvalid and friends
        raise TunesmithError(
            f"not a readable Parquet file ({str(exc).splitlines()[0]})",
            where=str(path),
            fix="write it again with pandas/pyarrow, or export CSV",
        ) from None
    return _as_text_columns(frame)


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
    elif stripped.startswith("{") and path.suffix.lower() == ".json" and "\n{" not in stripped:
        raise TunesmithError(
            "the JSON file holds one object, not a list of records",
            where=str(path),
            fix='write a list: [{"text": "...", "label": "..."}, ...], or JSON Lines (.jsonl)',
        )
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
        return label_studio_frame(records, str(path))
    bad = next((i for i, r in enumerate(records) if not isinstance(r, dict)), None)
    if bad is not None:
        raise TunesmithError(
            "expected an object with named fields",
            where=f"{path}, record {bad + 1}",
            fix='write records like {"text": "...", "label": "..."}',
        )
    fields = len(set().union(*records))  # before pandas makes (slowly) a column of each
    _check_width(fields, str(path), f"the records name {fields:,} different fields")
    return _as_text_columns(pd.DataFrame.from_records(records))


def _as_text_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers become their string form ("1", not 1.0); lists and objects (NER tokens, tags,
    spans) stay as they are, as Python lists."""
    return frame.apply(lambda col: col.map(_as_text))


def _as_text(value) -> Any:
    if hasattr(value, "tolist") and not isinstance(value, str):  # numpy arrays from Arrow
        value = value.tolist()
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, (str, list, dict)) else str(value)


def _paragraphs(text: str) -> pd.DataFrame:
    """Plain text: one row per paragraph (blocks separated by blank lines)."""
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text)]
    return pd.DataFrame({"text": [b for b in blocks if b]})


def _subdirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _is_split(folder: Path) -> bool:
    return folder.name.lower() in SPLIT_NAMES


def read_class_folders(root: Path) -> pd.DataFrame:
    """`root/<class>/*.txt` -> rows of (text, label, file); `root/<class>/*.jpg` (any image
    type) -> rows of (image, label, file); images directly in `root` -> rows of (image, file),
    for prediction. Hidden entries are ignored; image paths are absolute."""
    texts, images = [], []
    for class_dir in _subdirs(root):
        for file in sorted(p for p in class_dir.iterdir() if p.is_file()):
            row = {"label": class_dir.name, "file": str(file.relative_to(root))}
            if file.suffix.lower() == ".txt":
                size = file.stat().st_size
                texts.append({"text": read_text(file, detect_encoding(file)) if size else ""} | row)
            elif is_image(file):
                images.append({"image": str(file.resolve())} | row)
    if texts or images:
        return pd.DataFrame(texts or images)
    files = sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
    documents = [p for p in files if p.suffix.lower() in PLAIN_TEXT]
    if documents:  # a folder of notes: one row per file (generation)
        return pd.DataFrame(
            {
                "text": [
                    read_text(p, detect_encoding(p)) if p.stat().st_size else "" for p in documents
                ],
                "file": [p.name for p in documents],
            }
        )
    flat = [p for p in files if is_image(p)]
    if flat:
        return pd.DataFrame(
            {"image": [str(p.resolve()) for p in flat], "file": [p.name for p in flat]}
        )
    raise TunesmithError(
        "found no .txt or image files in class sub-folders",
        where=str(root),
        fix="lay the folder out as <folder>/<class name>/<example>.txt or .jpg (optionally "
        "under train/, val/ and test/)",
    )


def _read_saved_dataset(path: Path) -> dict[str, pd.DataFrame]:
    """A folder written by `datasets` `save_to_disk`: a Dataset, or a DatasetDict of splits."""
    from datasets import Dataset, load_from_disk

    try:
        loaded = load_from_disk(str(path))
    except Exception as exc:
        raise TunesmithError(
            f"cannot load the saved dataset ({exc})",
            where=str(path),
            fix="save it again with datasets' save_to_disk",
        ) from None
    if isinstance(loaded, Dataset):
        return {"train": _dataset_frame(loaded)}
    return _named_splits(loaded, str(path))


def _read_hub(name: str, flag: str) -> dict[str, pd.DataFrame]:
    from datasets import load_dataset

    try:
        loaded = load_dataset(name)
    except Exception as exc:
        raise TunesmithError(
            f"cannot load hub dataset {name!r} ({str(exc).splitlines()[0][:200]})",
            where=f"{flag} hub:{name}",
            fix="check the name and that the Hugging Face hub is reachable (HF_DATASETS_OFFLINE "
            "must be unset), or download the data and pass the file",
        ) from None
    return _named_splits(loaded, name)


def _named_splits(splits, source: str) -> dict[str, pd.DataFrame]:
    out = {SPLIT_NAMES[k.lower()]: _dataset_frame(v) for k, v in splits.items() if _known(k)}
    if "train" not in out:
        raise TunesmithError(
            f"no train split (splits are: {', '.join(splits)})",
            where=source,
            fix="name one split 'train'",
        )
    return out


def _known(split: str) -> bool:
    return split.lower() in SPLIT_NAMES


def _dataset_frame(dataset) -> pd.DataFrame:
    """Class ids become their names, so labels read as the dataset's authors wrote them."""
    from datasets import ClassLabel, Sequence

    frame = _as_text_columns(dataset.to_pandas())
    for column, feature in dataset.features.items():
        if isinstance(feature, ClassLabel):
            frame[column] = [feature.int2str(int(v)) for v in frame[column]]
        elif isinstance(feature, Sequence) and isinstance(feature.feature, ClassLabel):
            names = feature.feature.names
            frame[column] = [[names[int(i)] for i in tags] for tags in frame[column]]
        elif isinstance(feature, list) and feature and isinstance(feature[0], ClassLabel):
            names = feature[0].names
            frame[column] = [[names[int(i)] for i in tags] for tags in frame[column]]
    return frame


def describe_row(source: str | Path, index: int) -> str:
    """Human row reference for a 0-based data row: CSV line numbers count the header."""
    source = Path(source)
    if source.is_dir():
        return f"{source}, example {index + 1}"
    if source.suffix.lower() in DELIMITED:
        return f"{source}, line {index + 2}"
    if source.suffix.lower() in EXCEL:
        return f"{source}, sheet row {index + 2}"
    if source.suffix.lower() in CONLL_SUFFIXES:
        return f"{source}, sentence {index + 1}"
    return f"{source}, record {index + 1}"
