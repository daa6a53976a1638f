"""The job queue: `tunesmith` commands (train, export, retrain...) run one at a time, each in its
own process, the rest waiting in order. Each job is a folder `studio/jobs/<id>/`: job.json (its
state, written atomically), log.txt (stdout and stderr), exit_code (job_runner.py).

A worker thread starts the next job when one ends. A studio started again reads every job.json:
a job whose process still runs is watched again, one whose process is gone is finished from its
exit code (interrupted when it has none: killed, or the machine stopped), queued jobs run in
order. Cancel sends SIGINT to the job's process group (the Trainer stops as on Ctrl-C), then
SIGTERM and SIGKILL if it does not stop within the grace."""

from __future__ import annotations

import json
import secrets
import signal
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from tunesmith.console import info
from tunesmith.run_dir import RunDir, write_json
from tunesmith.studio import job_process as proc
from tunesmith.studio.errors import PageError

JOB_FILE = "job.json"
WAITING, ACTIVE = ("queued",), ("running",)
ENDED = ("done", "failed", "cancelled", "interrupted")


@dataclass
class Job:
    id: str
    kind: str
    title: str  # a translation key (shown in the reader's language, with title_args), or text
    command: list[str]
    run: str | None = None
    state: str = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    returncode: int | None = None
    error: str | None = None
    pid: int | None = None
    pid_created: float | None = None  # the process's start time: a reused pid is not it
    cancel_requested: float | None = None
    resumed_from: str | None = None
    title_args: dict = field(default_factory=dict)
    secret_env: dict = field(default_factory=dict)  # environment variable -> workspace secret

    @classmethod
    def read(cls, path: Path) -> Job:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


class JobQueue:
    def __init__(self, workspace, *, grace: float = 20.0, poll: float = 0.5):
        self.workspace = workspace
        self.root: Path = workspace.root
        self.folder: Path = workspace.jobs
        self.grace, self.poll = grace, poll
        self._cond = threading.Condition()
        self._processes: dict[str, object] = {}  # id -> Popen, for the jobs this studio started
        self._thread: threading.Thread | None = None
        self._lock = None  # proc.claim's lock while this queue runs the jobs
        self._stopping = threading.Event()
        self.closing = threading.Event()  # the studio is stopping: live pages end their streams
        self.jobs: dict[str, Job] = {}
        for path in sorted(self.folder.glob(f"*/{JOB_FILE}")):
            try:
                job = Job.read(path)
            except (OSError, ValueError, TypeError):
                continue  # a folder that is not a job (or was cut short): not shown
            self.jobs[job.id] = job
            if job.state in ACTIVE and not proc.alive(job.pid, job.pid_created):
                self._finish(job, proc.exit_code(self.job_folder(job.id)))

    # --- what the pages call ---------------------------------------------------------------
    def submit(
        self,
        command: list[str],
        *,
        kind: str,
        title: str,
        title_args: dict | None = None,
        run: str | None = None,
        secret_env: dict | None = None,
    ) -> Job:
        """Queue `tunesmith COMMAND` (CLI arguments without `tunesmith`); it runs in the
        workspace folder when the jobs before it have ended."""
        job_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
        job = Job(job_id, kind, title, [str(part) for part in command], str(run) if run else None)
        job.title_args, job.secret_env = dict(title_args or {}), dict(secret_env or {})
        self.job_folder(job_id).mkdir(parents=True)
        with self._cond:
            self.jobs[job_id] = job
            self._save(job)
            self._cond.notify_all()
        return job

    def get(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise PageError("job_missing", id=job_id)
        return job

    def ordered(self) -> list[Job]:
        return sorted(self.jobs.values(), key=lambda job: (job.created, job.id))

    def waiting(self) -> list[Job]:
        return [job for job in self.ordered() if job.state in WAITING]

    def job_folder(self, job_id: str) -> Path:
        return self.folder / job_id

    def run_path(self, job: Job) -> Path | None:
        return self.root / job.run if job.run else None  # a relative --out: the workspace's

    def resumable(self, job: Job) -> bool:
        """A training stopped before the end whose `.unfinished` run `--resume` continues."""
        if job.kind != "train" or job.state not in ENDED[1:] or not job.run:
            return False
        again = [j for j in list(self.jobs.values()) if j.run == job.run and j.id != job.id]
        if any(j.state in WAITING or j.state in ACTIVE for j in again):
            return False  # a resume (or a new training) of this run is already on its way
        return RunDir(self.run_path(job)).unfinished.started

    def cancel(self, job_id: str) -> Job:
        with self._cond:
            job = self.get(job_id)
            if job.state in WAITING:  # never started: it just leaves the queue
                job.state, job.ended = "cancelled", time.time()
                self._save(job)
            elif job.state in ACTIVE and not job.cancel_requested:
                job.cancel_requested = time.time()
                self._save(job)
                proc.signal_group(job.pid, signal.SIGINT)
            self._cond.notify_all()
            return job

    def resume(self, job_id: str) -> Job:
        with self._cond:  # checked and queued at once: a double click queues one resume
            job = self.get(job_id)
            if not self.resumable(job):
                raise PageError("job_not_resumable")
            command = ["train", "--resume", "--out", job.run]
            new = self.submit(
                command, kind="train", title=job.title, title_args=job.title_args, run=job.run
            )
            new.resumed_from = job.id
            self._save(new)
            return new

    # --- the worker ------------------------------------------------------------------------
    def claim(self) -> None:
        """Make this the only studio running this workspace's jobs (TunesmithError if not)."""
        if self._lock is None:
            self._lock = proc.claim(self.folder) or False

    def start(self) -> None:
        if self._thread is None:
            self.claim()
            self._stopping.clear()
            self._thread = threading.Thread(target=self._work, name="studio-jobs", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop watching (the studio stops); a running job goes on, found again next start."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._lock:
            self._lock.close()
        self._lock = None

    def _work(self) -> None:
        while not self._stopping.is_set():
            with self._cond:
                try:
                    self._step()
                except Exception as exc:  # a full disk, say: the queue must outlive it
                    info(f"studio job queue: {type(exc).__name__}: {exc}")
                self._cond.wait(self.poll)

    def _step(self) -> None:
        running = [job for job in self.ordered() if job.state in ACTIVE]
        for job in running:
            self._watch(job)
        waiting = self.waiting()
        if waiting and not any(job.state in ACTIVE for job in running):
            self._launch(waiting[0])

    def _launch(self, job: Job) -> None:
        folder = self.job_folder(job.id)
        try:
            env = {var: self.workspace.secret(name) or "" for var, name in job.secret_env.items()}
            process = proc.launch(folder, job.command, self.root, env)
        except OSError as exc:
            job.state, job.ended, job.error = "failed", time.time(), f"error: {exc}"
            self._save(job)
            return
        self._processes[job.id] = process
        job.state, job.started, job.pid = "running", time.time(), process.pid
        job.pid_created = proc.started_at(process.pid)
        self._save(job)

    def _watch(self, job: Job) -> None:
        process = self._processes.get(job.id)
        if process is not None:
            code = process.poll()
            if code is not None:
                del self._processes[job.id]
                self._finish(job, code)
                return
        elif not proc.alive(job.pid, job.pid_created):  # found again after a restart
            self._finish(job, proc.exit_code(self.job_folder(job.id)))
            return
        if job.cancel_requested:  # it did not stop on SIGINT: ask harder
            waited = time.time() - job.cancel_requested
            if waited > self.grace:
                proc.signal_group(job.pid, signal.SIGTERM)
            if waited > self.grace + 5:
                proc.signal_group(job.pid, signal.SIGKILL)

    def _finish(self, job: Job, code: int | None) -> None:
        job.ended, job.returncode = time.time(), code
        if code == 0:  # finished before the cancel reached it: the run is there
            job.state = "done"
        elif job.cancel_requested:
            job.state = "cancelled"
        elif code is None or code == 130 or code < 0:  # killed, stopped, or the studio's machine
            job.state = "interrupted"
        else:
            job.state = "failed"
            job.error = proc.last_error(self.job_folder(job.id))
        self._save(job)

    def _save(self, job: Job) -> None:
        write_json(self.job_folder(job.id) / JOB_FILE, asdict(job))
