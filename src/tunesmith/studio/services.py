"""Services the studio starts for a run: `tunesmith serve RUN --port P` as a child process on a
free loopback port, its log in studio/services/<run>.log, stopped from the Deploy page or when
the studio shuts down (the lifespan of deploy_pages' router)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from tunesmith.studio.workspace import safe_name

HOST = "127.0.0.1"
STOP_WAIT = 15  # seconds a service gets to answer what it holds before it is killed


def serve_command(run: Path, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tunesmith",
        "serve",
        str(run),
        "--host",
        HOST,
        "--port",
        str(port),
    ]


@dataclass
class Service:
    run: str
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def state(self) -> str:
        """starting (loading the model), running (answers /health), or stopped."""
        if self.process.poll() is not None:
            return "stopped"
        import httpx

        try:
            ok = httpx.get(self.url + "health", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            ok = False
        return "running" if ok else "starting"

    def log_tail(self, lines: int = 12) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Services:
    def __init__(self, folder: Path):
        self.folder = folder
        self.running: dict[str, Service] = {}
        self.lock = threading.Lock()

    def get(self, run: str) -> Service | None:
        return self.running.get(run)

    def start(self, run: str, path: Path) -> Service:
        with self.lock:
            current = self.running.get(run)
            if current is not None and current.process.poll() is None:
                return current  # one service per run
            port = free_port()
            self.folder.mkdir(parents=True, exist_ok=True)
            log = self.folder / f"{safe_name(run, 'run')}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    serve_command(path, port),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            self.running[run] = Service(run, port, process, log)
            return self.running[run]

    def stop(self, run: str) -> None:
        with self.lock:
            service = self.running.pop(run, None)
        if service is not None:
            stop_process(service.process)

    def stop_all(self) -> None:
        for run in list(self.running):
            self.stop(run)


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # uvicorn's graceful shutdown: requests in flight are answered
    try:
        process.wait(STOP_WAIT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    """A port nothing listens on now (the service binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def services(app) -> Services:
    if not hasattr(app.state, "services"):
        app.state.services = Services(app.state.workspace.studio / "services")
    return app.state.services
