"""Server-rendered pages: Jinja2 templates (templates/) extending base.html, given the
translator `t`, the language, and the navigation. Jinja2 escapes every value by default, so
texts and file names from data cannot become markup."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates

from tunesmith.studio.i18n import LANGUAGES, translator

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))

# (path, translation key) of the top navigation, in the order of the path a user walks
NAVIGATION = [
    ("/data", "nav.data"),
    ("/jobs", "nav.jobs"),
    ("/runs", "nav.runs"),
]


def page(request: Request, template: str, status_code: int = 200, **context):
    lang = request.state.lang
    return templates.TemplateResponse(
        request,
        template,
        {
            "t": translator(lang),
            "lang": lang,
            "languages": LANGUAGES,
            "navigation": NAVIGATION,
            "path": request.url.path,
            **context,
        },
        status_code=status_code,
    )
