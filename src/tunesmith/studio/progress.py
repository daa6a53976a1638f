"""A job's live progress for its page: the training's progress.jsonl (callbacks.ProgressLog),
the log's last lines and the job's state, pushed as Server-Sent Events until the job ends.

progress.jsonl lives in the run's `.unfinished` folder while the run is built and moves with it
when the run is published (the same file: its inode is kept, so reading goes on where it was).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from urllib.parse import quote

import anyio

from tunesmith.run_dir import RunDir
from tunesmith.studio import job_process
from tunesmith.studio.jobs import ENDED, Job, JobQueue
from tunesmith.training.trainer import PROGRESS

LIFETIME = 60  # seconds a stream lasts; the browser reconnects and goes on where it was


class ProgressReader:
    """Reads a job's progress.jsonl as it grows: only whole lines, each once."""

    def __init__(self, queue: JobQueue, job: Job):
        self.queue, self.job = queue, job
        self.inode, self.offset = None, 0

    def locate(self) -> Path | None:
        """The file this job writes: the run being built, else the finished run's. A file
        older than the job is an earlier run's (one this training will replace)."""
        run = self.queue.run_path(self.job)
        if run is None or self.job.started is None:
            return None
        for path in (RunDir(run).unfinished / PROGRESS, run / PROGRESS):
            try:
                if path.stat().st_mtime >= self.job.started - 2:
                    return path
            except OSError:
                continue
        return None

    def read(self) -> list[dict]:
        path = self.locate()
        if path is None:
            return []
        try:
            with open(path, "rb") as file:
                inode = os.fstat(file.fileno()).st_ino
                if inode != self.inode:  # another file (the run started over): from its start
                    self.inode, self.offset = inode, 0
                file.seek(self.offset)
                data = file.read()
        except OSError:
            return []
        whole = data[: data.rfind(b"\n") + 1]  # a line being written waits for the next read
        self.offset += len(whole)
        events = []
        for line in whole.decode("utf-8", errors="replace").splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events


def summary(events: list[dict]) -> dict | None:
    """What the page shows before its script runs (progress.js draws the same from the events):
    the step reached of how many, and each epoch's validation. A resumed run's begin drops what
    came after its checkpoint; the end is the last step (early stopping ends before the total)."""
    begin, step, total, evals = None, 0, 0, []
    for event in events:
        kind, at = event.get("event"), event.get("step", 0)
        if kind == "begin":
            begin, step, total = event, at, event.get("max_steps") or 0
            evals = [e for e in evals if e["step"] <= at]
        elif kind in ("log", "eval"):
            step = max(step, at)
            if kind == "eval":
                evals.append(event)
        elif kind == "end":
            step = total = at
    if begin is None:
        return None
    names = ["loss", *begin.get("metrics", [])]
    rows = [
        [f"{e['epoch']:g}" if e.get("epoch") is not None else ""]
        + [_cell(e["metrics"].get(f"eval_{name}")) for name in names]
        for e in evals
    ]
    share = min(1.0, step / total) if total else 0.0
    return {"step": step, "total": total, "share": share, "names": names, "rows": rows}


def _cell(value) -> str:
    return "" if value is None else f"{value:.4f}"


def job_view(queue: JobQueue, job: Job) -> dict:
    """What the page shows of a job's state (the state event, and the page's first render)."""
    run = queue.run_path(job)
    link = name = None
    if job.state == "done" and run is not None and (run / "tunesmith.json").is_file():
        try:
            name = run.resolve().relative_to(queue.root / "runs").as_posix()
            link = "/runs/" + quote(name)
        except ValueError:
            link = None  # a run outside the workspace's runs/: shown by its path only
    waiting = [j.id for j in queue.waiting()]
    running = sum(j.state == "running" for j in list(queue.jobs.values()))  # a copy: others add
    return {
        "id": job.id,
        "state": job.state,
        "ended": job.state in ENDED,
        "error": job.error,
        "returncode": job.returncode,
        "run": str(run) if run else None,
        "run_link": link,
        "run_name": name,
        "resumable": queue.resumable(job),
        "ahead": waiting.index(job.id) + running if job.id in waiting else None,
        "cancelling": bool(job.cancel_requested) and job.state == "running",
    }


def _sse(event: str, data, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def stream(queue: JobQueue, job_id: str, sent: int = 0, poll: float = 0.5):
    """The events of one job: `progress` (each progress.jsonl line, numbered: a reconnecting
    browser sends the last number it has as Last-Event-ID and gets only the rest), `log` (the
    last lines, when they change), `state` (when it changes), and `end` once the job ended
    and everything was sent."""
    reader = ProgressReader(queue, queue.get(job_id))
    yield "retry: 2000\n\n"
    count, last_log, last_state, born = 0, None, None, time.monotonic()
    while True:
        job = queue.get(job_id)
        reader.job = job
        ended = job.state in ENDED  # read before the file: nothing written after it is missed
        events = await anyio.to_thread.run_sync(reader.read)
        for event in events:
            count += 1
            if count > sent:
                yield _sse("progress", event, count)
        log = await anyio.to_thread.run_sync(job_process.log_tail, queue.job_folder(job_id))
        if log != last_log:
            last_log = log
            yield _sse("log", {"lines": log})
        state = await anyio.to_thread.run_sync(job_view, queue, job)
        if state != last_state:
            last_state = state
            yield _sse("state", state)
        if ended:
            yield _sse("end", state)
            return
        if time.monotonic() - born > LIFETIME or queue.closing.is_set():
            return  # the browser reconnects (to the next studio, after a restart)
        await asyncio.sleep(poll)
