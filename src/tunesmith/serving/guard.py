"""What every request passes before its route runs. A pure ASGI middleware, so that it acts
before anything reads the body:

- while the server shuts down, new requests get a 503 with `Connection: close`; the ones
  already accepted still finish (`Inflight.drain`);
- the API key is checked before the body is read: a wrong key costs no upload;
- the body is counted as it streams in: a chunked body has no Content-Length to check;
- an unexpected error is a generic JSON 500 and one log line, and the connection stays usable
  (uvicorn closes it and logs a traceback when an exception reaches it).

A refused request's body is left unread, so its response closes the connection: uvicorn would
otherwise read (and discard) the rest of the upload to reach the next request.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("uvicorn.error")  # the server's error log, set up by uvicorn
CLOSE = {"Connection": "close"}


class Inflight:
    """The requests being answered, and the switch that refuses new ones at shutdown."""

    def __init__(self) -> None:
        self.active = 0
        self.finished = 0
        self.draining = False

    async def drain(self, grace: float, force: Callable[[], bool] = lambda: False) -> int:
        """Refuse new requests and wait for the accepted ones as long as they keep finishing:
        a slow queue is worked off, but nothing finishing for `grace` seconds (a stuck client)
        or `force()` (a second Ctrl-C) ends the wait. Returns how many were left."""
        self.draining = True
        loop = asyncio.get_running_loop()
        progress, finished = loop.time(), self.finished
        while self.active and loop.time() - progress < grace and not force():
            await asyncio.sleep(0.05)  # uvicorn's own shutdown polls the same way
            if self.finished != finished:
                progress, finished = loop.time(), self.finished
        return self.active


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        inflight: Inflight,
        api_key: str | None,
        open_paths: set[str],
        max_body_bytes: int,
        debug: bool = False,
    ):
        self.app = app
        self.inflight = inflight
        self.api_key = api_key
        self.open_paths = open_paths  # everything else needs the key: deny by default
        self.max_body = max_body_bytes
        self.too_large = f"request body over {max_body_bytes} bytes; send fewer inputs"
        self.debug = debug

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refusal = self.refusal(scope)
        if refusal is not None:
            return await refusal(scope, receive, send)
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        self.inflight.active += 1
        try:
            await self.app(scope, self.counted(receive), send_tracked)
        except Exception as exc:
            if started:  # too late for a clean answer: uvicorn closes the connection
                raise
            await self.failure(scope, exc)(scope, receive, send)
        finally:
            self.inflight.active -= 1
            self.inflight.finished += 1

    def refusal(self, scope: Scope) -> JSONResponse | None:
        headers = Headers(scope=scope)
        if self.inflight.draining:
            return refuse(503, "the server is shutting down; retry in a moment")
        if self.api_key and scope["path"] not in self.open_paths:
            # OpenAI's clients send `Authorization: Bearer KEY`
            given = headers.get("x-api-key") or headers.get("authorization", "")
            given = given.removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), self.api_key.encode()):
                return refuse(
                    401,
                    "missing or wrong API key: send the header X-API-Key (or Authorization: "
                    "Bearer KEY)",
                )
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            return refuse(413, self.too_large)
        return None

    def counted(self, receive: Receive) -> Receive:
        """`receive` that refuses the body once it passes the limit, before the route has it."""
        seen = 0

        async def receive_counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body:  # an HTTPException: FastAPI's body reading passes it on
                raise HTTPException(413, self.too_large, headers=CLOSE)
            return message

        return receive_counted

    def failure(self, scope: Scope, exc: Exception) -> JSONResponse:
        if isinstance(exc, HTTPException):  # the body limit, outside a FastAPI route
            return refuse(exc.status_code, str(exc.detail))
        message = " ".join(str(exc).split())[:300]  # one line, and bounded: it may quote input
        log.error(
            "%s %s failed: %s: %s",
            scope["method"],
            scope["path"],
            type(exc).__name__,
            message,
            exc_info=exc if self.debug else None,
        )
        return JSONResponse({"detail": "internal error; the server log says what failed"}, 500)


def refuse(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=CLOSE)
