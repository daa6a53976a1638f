"""A job's process: started in its own session (its own process group), so Ctrl-C on the studio
does not reach it and cancelling reaches it and everything it started; recognised again after a
studio restart by its pid and start time (a pid alone may belong to a new process by then)."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import psutil  # accelerate's dependency: already installed with tunesmith

from tunesmith.errors import TunesmithError
from tunesmith.studio.job_runner import EXIT_FILE

LOG = "log.txt"
WINDOWS = sys.platform == "win32"


def launch(folder: Path, command: list[str], cwd: Path, secrets: dict) -> subprocess.Popen:
    """`tunesmith COMMAND` (through job_runner) in `cwd`, stdout and stderr into folder/log.txt;
    `secrets` join its environment."""
    env = (
        os.environ
        | secrets
        | {
            "PYTHONUNBUFFERED": "1",  # the log grows line by line, as the page shows it
            "PYTHONIOENCODING": "utf-8",  # Chinese names in the log whatever the locale
            "TQDM_MININTERVAL": "2",  # the bar's redraws fill a file, not a terminal
        }
    )
    with open(folder / LOG, "ab") as log:
        log.write(f"$ tunesmith {shlex.join(command)}\n".encode())
        log.flush()
        return subprocess.Popen(
            [sys.executable, "-m", "tunesmith.studio.job_runner", str(folder), *command],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=not WINDOWS,
            creationflags=subprocess.CREATE_NEW_PROCESS_GROUP if WINDOWS else 0,
        )


def claim(folder: Path):
    """A lock on the queue's folder, held while a studio runs its jobs: a second studio on the
    same workspace would start a second job beside the first. None where there are no such
    locks (Windows). Job processes do not inherit it (Popen closes other descriptors)."""
    try:
        import fcntl
    except ImportError:
        return None
    handle = open(folder / ".studio.lock", "a")  # noqa: SIM115 (held until release)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise TunesmithError(
            "another tunesmith studio is running the jobs of this workspace",
            where=str(folder.parent.parent),
            fix="use the studio already running (its terminal shows its address) or stop it "
            "first, or start this one with another --dir",
        ) from None
    return handle


def started_at(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def alive(pid: int | None, created: float | None) -> bool:
    """Is the process `pid`, started at `created`, still running (not a zombie)?"""
    if not pid or created is None:
        return False
    try:
        process = psutil.Process(pid)
        same = abs(process.create_time() - created) < 1.0
        return same and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def signal_group(pid: int, sig: int) -> None:
    """Send `sig` to the job's whole process group (its pid leads it: its own session)."""
    try:
        if WINDOWS:  # no groups to signal: CTRL_BREAK reaches the group, else terminate
            os.kill(pid, signal.CTRL_BREAK_EVENT if sig == signal.SIGINT else signal.SIGTERM)
        else:
            os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError, OSError):
        pass  # already gone


def exit_code(folder: Path) -> int | None:
    """The code job_runner left behind; None when the process was killed before it could."""
    try:
        return int((folder / EXIT_FILE).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def last_error(folder: Path) -> str | None:
    """The CLI's last `error: ...` line (what went wrong, where, the fix), from the log's end."""
    for line in reversed(log_tail(folder, 200)):
        at = line.find("error: ")
        if at >= 0:
            return line[at:].strip()
    return None


def log_tail(folder: Path, lines: int = 40, size: int = 64_000) -> list[str]:
    """The log's last lines; a progress bar's redraws (\\r) count as their last state only."""
    try:
        with open(folder / LOG, "rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - size))
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    shown = [line.rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n")]
    while shown and not shown[-1].strip():
        shown.pop()
    return shown[-lines:]
