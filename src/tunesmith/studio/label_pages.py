"""Label with Label Studio from the studio (/runs/<name>/label): the connection (address and
key, checked once and kept in the workspace: the key goes to the jobs through their environment,
never onto a page or a command line), then the loop `tunesmith label` runs as queued jobs: push
the rows the model is least sure of, pull what people labelled and retrain through the gate."""

from __future__ import annotations

import json
import time
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from tunesmith.errors import TunesmithError
from tunesmith.labeling.loop import FOLDER, LIMIT
from tunesmith.studio import uploads
from tunesmith.studio.errors import PageError, sentence
from tunesmith.studio.job_pages import queue_and_show
from tunesmith.studio.rendering import page
from tunesmith.studio.run_files import load_run

router = APIRouter()
KEY = "LABEL_STUDIO_API_KEY"  # the name `tunesmith label` reads the key from
URL = "label_studio_url"
DEFAULT_URL = "http://127.0.0.1:8080"
CHECK_SECONDS = 10  # the check waits this long for an answer, not the SDK's two minutes


@router.get("/runs/{name}/label")
def label_page(request: Request, name: str):
    return _render(request, name)


def _render(request: Request, name: str, problem: str | None = None, url: str | None = None):
    workspace = request.app.state.workspace
    run = load_run(workspace, name)
    saved = workspace.secret(URL)
    return page(
        request,
        "label.html",
        status_code=400 if problem else 200,
        run=run,
        labels=run.task.label_studio_control is not None,
        url=url or saved or DEFAULT_URL,
        connected=bool(saved and workspace.secret(_token(saved))),
        problem=problem,
        datasets=uploads.listing(workspace),
        limit=LIMIT,
        pulls=_pulls(run.root / FOLDER),
    )


def _token(url: str) -> str:
    """The secret holding the token saved for `url`: a token only ever goes to its address."""
    return f"label-studio-token {url}"


@router.post("/runs/{name}/label/connection")
async def connect(request: Request, name: str, url: str = Form(...), key: str = Form("")):
    """Check the address and key against Label Studio itself before keeping them."""
    from tunesmith.labeling import client

    workspace, url, key = request.app.state.workspace, url.strip().rstrip("/"), key.strip()
    load_run(workspace, name)
    key = key or workspace.secret(_token(url)) or ""  # empty: the one saved for this address
    try:
        address = _address(url)
        if address is None:
            raise PageError("label_bad_url", url=url)
        if address.username or address.password:  # it would show in commands and logs
            raise PageError("label_url_login")
        if not key:
            raise PageError("label_no_key")
        await run_in_threadpool(client.connect, url, key, CHECK_SECONDS)
    except TunesmithError as exc:  # what a user meets, in the page's words (not CLI flags)
        said = "label_key_refused" if exc.where == "--api-key" else "label_unreachable"
        shown_as_is = isinstance(exc, PageError) or exc.where == "tunesmith label"  # no SDK
        error = exc if shown_as_is else PageError(said, url=url)
        problem = sentence(error, request.state.lang)
        return _render(request, name, problem=problem, url=url)
    workspace.save_secrets(**{URL: url, _token(url): key})
    return RedirectResponse(f"/runs/{quote(name)}/label#push", status_code=303)


@router.post("/runs/{name}/label/push")
def push(request: Request, name: str, dataset: str = Form(...), limit: str = Form(str(LIMIT))):
    workspace = request.app.state.workspace
    run = load_run(workspace, name)
    if not limit.strip().isdigit() or int(limit) < 1:
        raise PageError("label_limit", limit=limit)
    data = uploads.meta(uploads.folder(workspace, dataset))["path"]
    command = ["label", "push", str(run.root), "--data", data, "--limit", str(int(limit))]
    return _queued(request, run, command, "label.job_push")


@router.post("/runs/{name}/label/pull")
def pull(request: Request, name: str, retrain: bool = Form(False)):
    run = load_run(request.app.state.workspace, name)
    command = ["label", "pull", str(run.root), *(["--retrain"] if retrain else [])]
    return _queued(request, run, command, "label.job_pull")


def _address(url: str):
    """The parts of an http(s) address, or None for anything else (a broken one included)."""
    try:
        address = urlsplit(url)
        address.port  # noqa: B018 - reading it checks it (a port past 65535 raises)
    except ValueError:
        return None
    return address if address.scheme in ("http", "https") and address.hostname else None


def _queued(request: Request, run, command: list[str], title: str) -> RedirectResponse:
    """The job takes the address saved now and, when it starts, the token saved for that
    address (in its environment): connecting elsewhere meanwhile sends no token astray."""
    url = request.app.state.workspace.secret(URL)
    if not url or not request.app.state.workspace.secret(_token(url)):
        raise PageError("label_not_connected")
    return queue_and_show(
        request,
        [*command, "--url", url],
        kind="label",
        title=title,
        title_args={"run": run.name},
        run=str(run.root),
        secret_env={KEY: _token(url)},
    )


def _pulls(folder) -> list[dict]:
    """The annotations pulled so far, newest first: file, tasks, when."""
    found = []
    for path in sorted(folder.glob("pull-*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            tasks = len(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
        found.append({"file": path.name, "tasks": tasks, "when": when})
    return found
