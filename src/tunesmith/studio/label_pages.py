"""Label with Label Studio from the studio (/runs/<name>/label): the connection (address and
key, checked once and kept in the workspace: the key goes to the jobs through their environment,
never onto a page or a command line), then the loop `tunesmith label` runs as queued jobs: push
the rows the model is least sure of, pull what people labelled and retrain through the gate."""

from __future__ import annotations

import json
import time
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from tunesmith.errors import TunesmithError
from tunesmith.labeling.loop import FOLDER, LIMIT
from tunesmith.studio import uploads
from tunesmith.studio.errors import PageError, sentence
from tunesmith.studio.rendering import page
from tunesmith.studio.run_files import load_run

router = APIRouter()
KEY = "LABEL_STUDIO_API_KEY"  # the name `tunesmith label` reads the key from
URL = "label_studio_url"
DEFAULT_URL = "http://127.0.0.1:8080"


@router.get("/runs/{name}/label")
def label_page(request: Request, name: str):
    return _render(request, name)


def _render(request: Request, name: str, problem: str | None = None, status: int = 200):
    workspace = request.app.state.workspace
    run = load_run(workspace, name)
    return page(
        request,
        "label.html",
        status_code=status,
        run=run,
        labels=run.task.label_studio_control is not None,
        url=workspace.secret(URL) or DEFAULT_URL,
        connected=bool(workspace.secret(KEY)),
        problem=problem,
        datasets=uploads.listing(workspace),
        limit=LIMIT,
        pulls=_pulls(run.root / FOLDER),
    )


@router.post("/runs/{name}/label/connection")
async def connect(request: Request, name: str, url: str = Form(...), key: str = Form("")):
    """Check the address and key against Label Studio itself before keeping them."""
    from tunesmith.labeling import client

    workspace, url, key = request.app.state.workspace, url.strip(), key.strip()
    if not key and url == workspace.secret(URL):  # empty: keep the saved key, but never
        key = workspace.secret(KEY) or ""  # send it to an address it was not saved for
    try:
        if not key:
            raise PageError("label_no_key")
        await run_in_threadpool(client.connect, url, key)
    except TunesmithError as exc:  # what a user meets, in the page's words (not CLI flags)
        said = {"--url": "label_unreachable", "--api-key": "label_key_refused"}.get(exc.where)
        error = PageError(said, url=url) if said else exc
        return _render(request, name, problem=sentence(error, request.state.lang), status=400)
    workspace.save_secret(URL, url)
    workspace.save_secret(KEY, key)
    return RedirectResponse(f"/runs/{quote(name)}/label#push", status_code=303)


@router.post("/runs/{name}/label/push")
def push(request: Request, name: str, dataset: str = Form(...), limit: int = Form(LIMIT)):
    workspace = request.app.state.workspace
    run = load_run(workspace, name)
    data = uploads.meta(uploads.folder(workspace, dataset))["path"]
    command = ["label", "push", str(run.root), "--data", data, "--limit", str(max(1, limit))]
    return _queued(request, run, command, "label.job_push")


@router.post("/runs/{name}/label/pull")
def pull(request: Request, name: str, retrain: bool = Form(False)):
    run = load_run(request.app.state.workspace, name)
    command = ["label", "pull", str(run.root), *(["--retrain"] if retrain else [])]
    return _queued(request, run, command, "label.job_pull")


def _queued(request: Request, run, command: list[str], title: str) -> RedirectResponse:
    workspace = request.app.state.workspace
    if not workspace.secret(KEY):
        raise PageError("label_not_connected")
    job = request.app.state.jobs.submit(
        [*command, "--url", workspace.secret(URL) or DEFAULT_URL],
        kind="label",
        title=title,
        title_args={"run": run.name},
        run=str(run.root),
        secret_env=(KEY,),
    )
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


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
