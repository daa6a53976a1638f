"""The queue's pages: /jobs (running, waiting and past jobs), /jobs/<id> (live progress, pushed
from /jobs/<id>/events as Server-Sent Events and drawn by static/progress.js), cancel, resume."""

from __future__ import annotations

import shlex
import time

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, StreamingResponse

from tunesmith.studio import i18n, job_process
from tunesmith.studio.errors import PageError
from tunesmith.studio.progress import ProgressReader, job_view, stream, summary
from tunesmith.studio.rendering import page

router = APIRouter()

# what progress.js writes itself, in the page's language
SCRIPT_STRINGS = (
    "step", "eta", "eta_min", "eta_sec", "finishing", "waiting_first_step", "train_loss",
    "val_loss", "epoch", "no_points", "cancelling",
)  # fmt: skip
METRICS = ("loss", "accuracy", "f1", "f1_macro", "f1_micro", "precision", "recall")


def _label(lang: str, prefix: str, value: str) -> str:
    """A translated word for `value` (a state, a job kind), or the value itself when none."""
    key = f"{prefix}{value}"
    return i18n.translate(lang, key) if key in i18n.catalog(i18n.DEFAULT) else value


def _when(seconds: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) if seconds else ""


def _row(queue, job, lang: str) -> dict:
    took = (job.ended or time.time()) - job.started if job.started else None
    return {
        "job": job,
        "title": i18n.translate(lang, job.title, **job.title_args),
        "kind": _label(lang, "jobs.kind_", job.kind),
        "state": _label(lang, "jobs.state_", job.state),
        "created": _when(job.created),
        "minutes": None if took is None else round(took / 60, 1),
        "view": job_view(queue, job),
    }


@router.get("/jobs")
def jobs_page(request: Request):
    queue, lang = request.app.state.jobs, request.state.lang
    rows = [_row(queue, job, lang) for job in queue.ordered()]
    return page(
        request,
        "jobs.html",
        running=[r for r in rows if r["job"].state == "running"],
        queued=[r for r in rows if r["job"].state == "queued"],
        past=[r for r in reversed(rows) if r["view"]["ended"]],
    )


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: str):
    queue, lang = request.app.state.jobs, request.state.lang
    job = queue.get(job_id)
    strings = {key: i18n.translate(lang, f"jobs.js_{key}") for key in SCRIPT_STRINGS}
    strings["metrics"] = {m: i18n.translate(lang, f"jobs.metric_{m}") for m in METRICS}
    # Everything so far goes in the page and is drawn at once; the stream sends only the rest
    # (replayed one by one, a finished job's page showed a half-drawn table for a moment).
    events = ProgressReader(queue, job).read()
    return page(
        request,
        "jobs_job.html",
        row=_row(queue, job, lang),
        command="tunesmith " + shlex.join(job.command),
        started=_when(job.started),
        ended=_when(job.ended),
        strings=strings,
        progress=summary(events),
        events=events,
        log=job_process.log_tail(queue.job_folder(job_id)),
    )


def queue_and_show(request: Request, command: list[str], **details) -> RedirectResponse:
    """Queue `tunesmith COMMAND` and send the browser to its page."""
    jobs = getattr(request.app.state, "jobs", None)
    if jobs is None:
        raise PageError("queue_stopped", command=f"tunesmith {shlex.join(command)}")
    job = jobs.submit(command, **details)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.get("/jobs/{job_id}/events")
async def job_events(request: Request, job_id: str):
    queue = request.app.state.jobs
    queue.get(job_id)  # an unknown job: the error page, not an empty stream
    # a reconnecting browser says the last event it has; a fresh page, how many it came with
    sent = request.headers.get("last-event-id") or request.query_params.get("after", "")
    events = stream(queue, job_id, int(sent) if sent.isascii() and sent.isdigit() else 0)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)


@router.post("/jobs/{job_id}/cancel")
def cancel(request: Request, job_id: str):
    request.app.state.jobs.cancel(job_id)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


@router.post("/jobs/{job_id}/resume")
def resume(request: Request, job_id: str):
    job = request.app.state.jobs.resume(job_id)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)
