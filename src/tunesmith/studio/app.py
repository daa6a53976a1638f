"""The studio's FastAPI app. Each page group is a router of its own module (PAGES); this file
only joins them and adds what every page needs: the language, the login when a key guards
the studio, static files from the package (nothing from a CDN: it works offline), and user
errors shown as a page that says what to do."""

from __future__ import annotations

import hashlib
import hmac
import importlib
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from tunesmith.errors import TunesmithError
from tunesmith.studio import i18n
from tunesmith.studio.errors import said
from tunesmith.studio.jobs import JobQueue
from tunesmith.studio.rendering import page
from tunesmith.studio.workspace import Workspace

# the modules whose `router` makes the studio's pages, in the order of the path a user walks
PAGES = (
    "home",
    "data_pages",
    "settings_pages",
    "job_pages",
    "run_pages",
    "try_pages",
    "deploy_pages",
    "label_pages",
)
COOKIE_KEY = "tunesmith_studio"
OPEN_PATHS = ("/login", "/static/")


def create_app(
    workspace: str | Path, *, api_key: str | None = None, hosts: set[str] | None = None
) -> FastAPI:
    """`hosts`: the only Host headers answered (server.py passes the loopback names when no key
    guards the studio, so a web page elsewhere cannot reach it by DNS rebinding)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.jobs.start()  # the queue runs while the studio serves
        yield
        app.state.jobs.stop()  # a running job goes on; the next start finds it again

    app = FastAPI(title="tunesmith studio", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.workspace = Workspace(workspace)
    app.state.jobs = JobQueue(app.state.workspace)
    app.state.api_key = api_key
    app.mount("/static", StaticFiles(directory=Path(__file__).with_name("static")), "static")
    for name in PAGES:
        app.include_router(importlib.import_module(f"tunesmith.studio.{name}").router)

    @app.middleware("http")
    async def language_and_login(request: Request, call_next):
        query = request.query_params.get("lang")
        request.state.lang = i18n.pick(
            query, request.cookies.get("lang"), request.headers.get("accept-language")
        )
        refused = _foreign(request, hosts)
        if refused:
            return Response(refused, status_code=403)
        if api_key and not _signed_in(request, api_key):
            if request.url.path.startswith("/api/") or request.headers.get("x-api-key"):
                return Response("a valid X-API-Key header is required", status_code=401)
            wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(wanted, safe='')}", status_code=303)
        response = await call_next(request)
        if query in i18n.LANGUAGES:  # the switch: remembered for the next pages
            response.set_cookie("lang", query, samesite="lax", max_age=365 * 86400)
        return response

    @app.exception_handler(TunesmithError)
    async def user_error(request: Request, exc: TunesmithError):
        return page(request, "error.html", status_code=400, error=said(exc, request.state.lang))

    @app.exception_handler(StarletteHTTPException)
    async def not_found(request: Request, exc: StarletteHTTPException):
        if "text/html" not in request.headers.get("accept", ""):  # scripts get JSON
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return page(request, "error.html", status_code=exc.status_code, missing=exc.detail)

    @app.get("/login")
    def login_form(request: Request, next: str = "/"):
        return page(request, "login.html", next=next, wrong=False)

    @app.post("/login")
    def login(request: Request, key: str = Form(""), next: str = Form("/")):
        if not api_key:  # nothing to sign in to
            return RedirectResponse("/", status_code=303)
        if not hmac.compare_digest(key.encode(), api_key.encode() if api_key else b""):
            return page(request, "login.html", status_code=401, next=next, wrong=True)
        target = next if next.startswith("/") and not next.startswith("//") else "/"
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE_KEY, _token(api_key), httponly=True, samesite="strict")
        return response

    return app


def _token(api_key: str) -> str:
    """What the login cookie holds: a digest of the key, never the key itself."""
    return hashlib.sha256(b"tunesmith-studio:" + api_key.encode()).hexdigest()


def _foreign(request: Request, hosts: set[str] | None) -> str | None:
    """Why a request that another web site made the browser send is refused: a Host this
    studio does not answer to (DNS rebinding), or a form posted from another origin."""
    host = request.headers.get("host", "").rsplit(":", 1)[0].strip("[]")
    if hosts is not None and host not in hosts:
        return f"this studio does not answer to the host {host!r}"
    if request.method not in {"GET", "HEAD", "OPTIONS"}:
        origin = request.headers.get("origin")
        crossed = request.headers.get("sec-fetch-site") == "cross-site"
        if crossed or (origin and urlsplit(origin).netloc != request.headers.get("host")):
            return "a form from another web site cannot act on this studio"
    return None


def _signed_in(request: Request, api_key: str) -> bool:
    if request.url.path == "/login" or request.url.path.startswith(OPEN_PATHS[1]):
        return True
    header = request.headers.get("x-api-key", "")
    if header and hmac.compare_digest(header.encode(), api_key.encode()):
        return True
    return hmac.compare_digest(request.cookies.get(COOKIE_KEY, ""), _token(api_key))
