"""Run the service with uvicorn: threads sized to the machine, graceful shutdown (requests in
flight finish), loopback by default."""

from __future__ import annotations

import os

from tunesmith.console import info
from tunesmith.errors import TunesmithError


def serve(
    run_dir: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    max_batch: int = 32,
    max_wait_ms: float = 5,
    max_inputs: int = 64,
    backend: str = "pytorch",
    precision: str = "auto",
    log_predictions: int = 0,
) -> None:
    import torch
    import uvicorn

    from tunesmith.serving.app import Limits, create_app

    if not 0 < port < 65536:
        raise TunesmithError(f"port {port} is out of range", where="--port", fix="use 1-65535")
    _check_free(host, port)
    # One inference thread does the work: give it every core; the event loop needs none.
    torch.set_num_threads(os.cpu_count() or 1)
    from tunesmith.api import load

    app = create_app(
        run_dir,
        model=load(run_dir, backend, precision),
        api_key=api_key,
        limits=Limits(max_inputs=max_inputs),
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        log_predictions=log_predictions,
    )
    if host not in {"127.0.0.1", "localhost", "::1"}:
        info(
            f"Listening on {host}: reachable from other machines"
            + ("." if api_key else " without an API key (--api-key).")
        )
    info(f"Serving {run_dir} at http://{host}:{port}/ (API docs: /docs). Ctrl-C stops.")
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=10)


def _check_free(host: str, port: int) -> None:
    """Fail before loading the model when the address is taken or cannot be bound."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host, port))
    except OSError as exc:
        raise TunesmithError(
            f"cannot listen on {host}:{port} ({exc.strerror})",
            where=f"--host {host} --port {port}",
            fix="pick a free port with --port (or stop what is using it)",
        ) from None
