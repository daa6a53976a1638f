"""`tunesmith studio`: the app on uvicorn. Loopback by default; any other address only with a
key (--api-key or $TUNESMITH_API_KEY), which the browser enters once at /login."""

from __future__ import annotations

import contextlib

from tunesmith.console import info
from tunesmith.errors import TunesmithError

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def run_studio(directory: str, *, host: str, port: int, api_key: str | None) -> None:
    import uvicorn

    from tunesmith.serving.server import _check_free
    from tunesmith.studio.app import create_app

    if host not in LOOPBACK and not api_key:
        raise TunesmithError(
            f"the studio would be open to every machine that reaches {host}",
            where=f"--host {host}",
            fix="add --api-key KEY (or set TUNESMITH_API_KEY), or keep the default 127.0.0.1",
        )
    if not 0 < port < 65536:
        raise TunesmithError(f"port {port} is out of range", where="--port", fix="use 1-65535")
    _check_free(host, port)
    # Without a key only loopback is served, and only under its own names (no DNS rebinding)
    names = None if api_key else {"127.0.0.1", "localhost", "::1", host}
    app = create_app(directory, api_key=api_key, hosts=names)
    app.state.jobs.claim()  # a second studio on the same folder: refused here, in one line
    shown = "127.0.0.1" if host in {"0.0.0.0", "::"} else host
    info(f"tunesmith studio: http://{shown}:{port}/  (workspace {app.state.workspace.root})")
    info("Ctrl-C stops it; a training in progress goes on and the queue waits for the next start.")

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame):  # Ctrl-C: open job pages end their event streams
            app.state.jobs.closing.set()  # (uvicorn would wait for them), then uvicorn stops
            super().handle_exit(sig, frame)

    # a stream that does not end by itself is closed 3 s after Ctrl-C
    config = uvicorn.Config(app, host, port, log_level="warning", timeout_graceful_shutdown=3)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how the studio stops
        Server(config).run()
