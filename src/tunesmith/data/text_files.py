"""Bytes to text: the encoding (detected or given), binary files and NUL bytes refused,
delimiters sniffed.

Detection streams the file in blocks, so a large CSV is checked without holding it in memory.
"""

from __future__ import annotations

import codecs
import csv
from pathlib import Path

from tunesmith.errors import TunesmithError

# UTF-8 (with or without BOM), then what Chinese Excel writes (GBK is a subset of GB18030), then
# Western Windows text (cp1252 covers Latin-1: one BBC News article is Latin-1).
ENCODINGS = ("utf-8-sig", "gb18030", "cp1252")
DELIMITERS = ",\t;|"
BLOCK = 1 << 20


def _open_error(path: Path, exc: OSError) -> TunesmithError:
    return TunesmithError(
        f"cannot read the file ({exc.strerror or exc})",
        where=str(path),
        fix="check that it exists and that you may read it",
    )


def check_not_binary(path: Path) -> None:
    try:
        with open(path, "rb") as handle:
            head = handle.read(8192)
    except OSError as exc:
        raise _open_error(path, exc) from None
    if not head.strip():
        raise TunesmithError("the file is empty", where=str(path), fix="point to a file with data")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise TunesmithError(
            "the file is UTF-16 text",
            where=str(path),
            fix="save it as UTF-8 (in Excel: 'CSV UTF-8'), or pass --data.encoding utf-16",
        )
    check_no_nul(path)


def check_no_nul(path: Path) -> None:
    """Refuse text with a NUL byte anywhere, naming its line: no text encoding we read makes
    one, so it is binary data, a damaged export, or UTF-16 without a byte-order mark."""
    found = find_nul(path)
    if found is None:
        return
    line, offset = found
    with open(path, "rb") as handle:
        utf16 = utf16_without_bom(handle.read(8192))
    if utf16:
        raise TunesmithError(
            "the file looks like UTF-16 text without a byte-order mark (a NUL byte beside "
            "every letter)",
            where=str(path),
            fix=f"pass --data.encoding {utf16}, or save it as UTF-8 (in Excel: 'CSV UTF-8')",
        )
    raise TunesmithError(
        f"a NUL byte (byte {offset}): this is a binary file or damaged text, not plain text",
        where=f"{path}, line {line}",
        fix="export the data again as CSV, TSV or JSONL (an Excel workbook must end in .xlsx), "
        "or delete the NUL characters from that line",
    )


def find_nul(path: Path) -> tuple[int, int] | None:
    """(1-based line, byte offset) of the first NUL byte, streaming the file in blocks."""
    lines, offset = 1, 0
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(BLOCK), b""):
                at = block.find(b"\0")
                if at >= 0:
                    return lines + block.count(b"\n", 0, at), offset + at
                lines += block.count(b"\n")
                offset += len(block)
    except OSError as exc:
        raise _open_error(path, exc) from None
    return None


def utf16_without_bom(head: bytes) -> str | None:
    """ "utf-16-le" or "utf-16-be" when most of the odd (or even) bytes are NUL, as in ASCII
    letters written as UTF-16; else None."""
    even, odd = head[0::2], head[1::2]
    if len(odd) < 2:
        return None
    if odd.count(0) > 0.8 * len(odd) and even.count(0) < 0.2 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.8 * len(even) and odd.count(0) < 0.2 * len(odd):
        return "utf-16-be"
    return None


def detect_encoding(path: Path, given: str | None = None) -> str:
    """The given encoding (checked to exist), else the first of ENCODINGS that decodes it all."""
    if given:
        try:
            codecs.lookup(given)
        except LookupError:
            raise TunesmithError(
                f"unknown encoding {given!r}",
                where="--data.encoding",
                fix="use a Python codec name such as utf-8, gb18030, gbk, big5, cp1252, latin-1",
            ) from None
        if not codecs.lookup(given).name.startswith(("utf-16", "utf-32")):  # these write NULs
            check_no_nul(path)
        return given
    check_not_binary(path)
    for encoding in ENCODINGS:
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with open(path, "rb") as handle:
                for block in iter(lambda h=handle: h.read(BLOCK), b""):
                    decoder.decode(block)
            decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
        except OSError as exc:
            raise _open_error(path, exc) from None
    raise TunesmithError(
        "the file is not UTF-8, GBK/GB18030 or Windows-1252 text",
        where=str(path),
        fix="save it as UTF-8 (in Excel: 'CSV UTF-8'), or name its encoding with --data.encoding",
    )


def read_text(path: Path, encoding: str) -> str:
    try:
        return path.read_bytes().decode(encoding)
    except UnicodeDecodeError as exc:
        raise TunesmithError(
            f"not {encoding} text (byte {exc.start})",
            where=str(path),
            fix="name the right encoding with --data.encoding, or save the file as UTF-8",
        ) from None
    except OSError as exc:
        raise _open_error(path, exc) from None


def choose_delimiter(path: Path, encoding: str, default: str, given: str | None = None) -> str:
    """The delimiter the header uses: the file type's default when it splits the header into
    columns, else what csv.Sniffer finds (a `;` CSV from a European Excel, a `|` export)."""
    if given:
        return {"tab": "\t", "\\t": "\t"}.get(given, given)
    with open(path, encoding=encoding, errors="replace", newline="") as handle:
        sample = handle.read(64 * 1024)
    header = sample.splitlines()[0] if sample.strip() else ""
    if len(next(csv.reader([header], delimiter=default), [])) >= 2:
        return default
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return default
    return sniffed if len(next(csv.reader([header], delimiter=sniffed), [])) >= 2 else default
