"""Run the service with uvicorn: threads sized to the machine, loopback by default, and a
shutdown that loses no request: on SIGTERM new requests get a 503 with `Connection: close`
while every accepted one is answered; only then does uvicorn close the sockets."""

from __future__ import annotations

import os
import socket

import uvicorn

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
    grace: float = 30,
    debug: bool = False,
) -> None:
    """`grace`: at shutdown, how long to wait for requests in flight when none finishes (the
    wait goes on while they do). `debug`: a traceback in the log with each 500."""
    import torch

    from tunesmith.serving.app import Limits, create_app

    if not 0 < port < 65536:
        raise TunesmithError(f"port {port} is out of range", where="--port", fix="use 1-65535")
    if not grace > 0:
        raise TunesmithError(
            f"the grace period must be above 0 seconds (got {grace:g})",
            where="--grace",
            fix="--grace 30",
        )
    _check_free(host, port)
    # One inference thread does the work: give it every core; the event loop needs none.
    torch.set_num_threads(os.cpu_count() or 1)
    from tunesmith.api import load

    model = load(run_dir, backend, precision)
    app = create_app(
        run_dir,
        model=model,
        api_key=api_key,
        limits=Limits(max_inputs=max_inputs),
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        log_predictions=log_predictions,
        debug=debug,
    )
    if host not in {"127.0.0.1", "localhost", "::1"}:
        info(
            f"Listening on {host}: reachable from other machines"
            + ("." if api_key else " without an API key (--api-key).")
        )
    info(f"Serving {run_dir} at http://{host}:{port}/ (API docs: /docs). Ctrl-C stops.")
    server = make_server(app, host, port, grace=grace)
    if model.task.onnx is not None:  # the certificate compares the task's parity answers
        start_parity_check(server, run_dir, api_key)
    try:
        server.run()
    except KeyboardInterrupt:  # Ctrl-C: the shutdown above has run; as uvicorn.run does
        return
    if not server.started:
        raise TunesmithError(
            f"the server on {host}:{port} did not start (its log above says why)",
            where=f"--host {host} --port {port}",
            fix="pick a free port with --port (or stop what is using it)",
        )


def start_parity_check(server: uvicorn.Server, run_dir: str, api_key: str | None) -> None:
    """The parity certificate's HTTP row, measured beside the service once it listens (start-up
    is not delayed; at most parity.HTTP_ROWS test rows): GET /v1/model shows it when done."""
    import threading
    import time

    from tunesmith.evaluation import parity

    shown = server.config.app.state.parity

    def check() -> None:
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.05)
        host, port = server.config.host, server.config.port
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        try:
            parity.check_service(url, run_dir, api_key, shown, info)
        except Exception as exc:  # the service runs on; the certificate says the check failed
            backends = shown.setdefault("backends", {})
            backends["http"] = {"status": f"failed: {type(exc).__name__}: {exc}"[:300]}
            info(f"The parity check over HTTP failed ({type(exc).__name__}: {exc}).")

    threading.Thread(target=check, name="tunesmith-parity", daemon=True).start()


class DrainingServer(uvicorn.Server):
    """uvicorn's server, whose shutdown drains the app first (`app.state.inflight`): new
    requests get a 503 while the accepted ones are answered, however long the queue, as long
    as they keep finishing. A second Ctrl-C ends the wait."""

    def __init__(self, config: uvicorn.Config, grace: float):
        super().__init__(config)
        self.grace = grace

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        inflight = self.config.app.state.inflight
        left = await inflight.drain(self.grace, force=lambda: self.force_exit)
        if left:
            info(f"Stopping with {left} requests unanswered: none finished in {self.grace} s.")
        await super().shutdown(sockets)


def make_server(app, host: str, port: int, grace: float = 30) -> DrainingServer:
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=grace
    )
    return DrainingServer(config, grace)


def _check_free(host: str, port: int) -> None:
    """Fail before loading the model when the address is taken or cannot be bound."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            # As uvicorn binds: the previous server's connections in TIME_WAIT do not make the
            # port taken (Linux still refuses it while another socket listens on it).
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise TunesmithError(
            f"cannot listen on {host}:{port} ({exc.strerror})",
            where=f"--host {host} --port {port}",
            fix="pick a free port with --port (or stop what is using it)",
        ) from None
