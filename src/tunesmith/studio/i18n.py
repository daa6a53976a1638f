"""Translations: every string the studio shows lives in `locales/<lang>/<group>.json` (one file
per page group, so each page's words sit together). A key missing from a language falls back
to English; a key missing from English is a bug, shown as the key itself and caught by tests."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

LOCALES = Path(__file__).with_name("locales")
LANGUAGES = {"en": "English", "zh": "中文"}
DEFAULT = "en"


@cache
def catalog(lang: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted((LOCALES / lang).glob("*.json")):
        merged |= json.loads(path.read_text(encoding="utf-8"))
    return merged


def translate(lang: str, key: str, **values) -> str:
    text = catalog(lang).get(key) or catalog(DEFAULT).get(key) or key
    return text.format(**values) if values else text


def translator(lang: str):
    """`t("data.upload")`, `t("jobs.step", step=3, total=10)` in the given language."""
    return lambda key, **values: translate(lang, key, **values)


def pick(query: str | None, cookie: str | None, accept: str | None) -> str:
    """?lang= first (the switch), then the cookie it sets, then the browser's preference."""
    for choice in (query, cookie):
        if choice in LANGUAGES:
            return choice
    for part in (accept or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT
