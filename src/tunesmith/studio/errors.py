"""Errors a studio page shows, in the page's language.

A PageError names its words by key (`errors.<key>` and `errors.<key>.fix` in
locales/<lang>/errors.json) and the values they hold; its English is what a log or a script
sees. Any other TunesmithError (from the rest of tunesmith) is shown as written, in English,
under the page's own headings.
"""

from __future__ import annotations

from tunesmith.errors import TunesmithError
from tunesmith.studio.i18n import translate


class PageError(TunesmithError):
    def __init__(self, key: str, *, where: str | None = None, **values):
        self.key, self.values = key, values
        what, fix = (translate("en", f"errors.{key}{part}", **values) for part in ("", ".fix"))
        super().__init__(what, where=where, fix=fix)


def said(error: TunesmithError, lang: str) -> dict:
    """{what, where, fix} in `lang` where the error has its words there."""
    if isinstance(error, PageError):
        from tunesmith.studio.rendering import task_name

        values = dict(error.values)
        if "task" in values:  # said as the page says task names
            values["task"] = task_name(lang, values["task"])
        what, fix = (
            translate(lang, f"errors.{error.key}{part}", **values) for part in ("", ".fix")
        )
        return {"what": what, "where": error.where, "fix": fix}
    return {"what": error.what, "where": error.where, "fix": error.fix}


def sentence(error: TunesmithError, lang: str) -> str:
    """One line, for a script's JSON or a card: "what (where). Fix: ..." in `lang`."""
    parts = said(error, lang)
    text = parts["what"].rstrip(".。")
    if parts["where"]:
        text = translate(lang, "error.at", what=text, where=parts["where"])
    return translate(lang, "error.then", text=text, fix=parts["fix"]) if parts["fix"] else text
