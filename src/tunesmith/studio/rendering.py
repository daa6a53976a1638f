"""Server-rendered pages: Jinja2 templates (templates/) extending base.html, given the
translator `t`, the language, and the navigation. Jinja2 escapes every value by default, so
texts and file names from data cannot become markup."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates

from tunesmith.studio.i18n import LANGUAGES, catalog, translator

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))

# (path, translation key) of the top navigation, in the order of the path a user walks
NAVIGATION = [
    ("/data", "nav.data"),
    ("/jobs", "nav.jobs"),
    ("/runs", "nav.runs"),
]


# how the data code names a row ("d.csv, line 7"; data/readers.py describe_row), to say it
# in the page's language
_PLACE = re.compile(r"^(?P<file>.*), (?P<kind>line|example|sheet row|sentence|record) (?P<n>\d+)$")


def task_name(lang: str, task: str) -> str:
    """A task's name for people ("文本分类"); a task without a translation keeps its own."""
    return catalog(lang).get(f"task.{task}") or catalog("en").get(f"task.{task}") or task


def place(lang: str, where: str) -> str:
    """`d.csv, line 7` in the page's language (`d.csv 第 7 行`); anything else as it is."""
    found = _PLACE.match(where)
    if not found:
        return where
    key = "place." + found["kind"].replace(" ", "_")
    return translator(lang)(key, file=found["file"], n=found["n"])


def page(request: Request, template: str, status_code: int = 200, **context):
    lang = request.state.lang
    return templates.TemplateResponse(
        request,
        template,
        {
            "t": translator(lang),
            "task_name": lambda task: task_name(lang, task),
            "place": lambda where: place(lang, where),
            # the switch keeps the page's own query (?run=a&run=b of a comparison)
            "lang_url": lambda code: str(request.url.include_query_params(lang=code)).split(
                request.url.netloc, 1
            )[-1],
            "lang": lang,
            "languages": LANGUAGES,
            "navigation": NAVIGATION,
            "path": request.url.path,
            **context,
        },
        status_code=status_code,
    )
