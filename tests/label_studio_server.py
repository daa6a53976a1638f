"""A real Label Studio for tests: its own virtual environment (.venv-labelstudio, made by
`make labelstudio`), SQLite in a temporary folder, 127.0.0.1, a user with a known legacy API
token. Started once per test module (about 45 s), stopped by its process id."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("TUNESMITH_LABEL_STUDIO_VENV", ROOT / ".venv-labelstudio"))
MISSING = (
    f"Label Studio is not installed in {VENV}: run `make labelstudio` (python3 -m venv "
    ".venv-labelstudio && .venv-labelstudio/bin/pip install label-studio==1.23.2)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabelStudioServer:
    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(20)
        self.log = folder / "label-studio.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 300) -> None:
        binary = VENV / "bin" / "label-studio"
        if not binary.is_file():
            raise RuntimeError(MISSING)
        # Its own environment: none of tunesmith's venv, no proxy, its data in the temp folder.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
        env |= {"LABEL_STUDIO_BASE_DATA_DIR": str(self.folder), "HOME": str(self.folder)}
        # The ML backend under test is on 127.0.0.1, which Label Studio 1.23 refuses by default
        env["ML_BLOCK_LOCAL_IP"] = env["SSRF_PROTECTION_ENABLED"] = "false"
        env["SENTRY_DSN"] = env["FRONTEND_SENTRY_DSN"] = ""  # no error reports sent out
        command = [
            str(binary), "start", "--no-browser", "--internal-host", "127.0.0.1",
            "--port", str(self.port), "--data-dir", str(self.folder / "data"),
            "--username", "tester@example.com", "--password", secrets.token_hex(8),
            "--user-token", self.token, "--enable-legacy-api-token",
        ]  # fmt: skip
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Label Studio exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(1)
        self.stop()
        raise RuntimeError(f"Label Studio did not answer in {timeout} s: {self.log}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # its own session: it and its workers
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
