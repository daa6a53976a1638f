"""OpenAI-compatible routes for runs that take prompts (generation), so that OpenAI's clients,
LangChain, Open WebUI and the like talk to a fine-tuned model unchanged:

    POST /v1/chat/completions  {"messages": [{"role", "content"}], "stream": true, ...}
    POST /v1/completions       {"prompt": "text continued as it is (no chat template)"}
    GET  /v1/models            the one model served

Streams are server-sent events in OpenAI's chunk format, ending with `data: [DONE]`.
Generations queue on the model's one inference thread (the batcher's), in order; a client
that disconnects sets its request's cancel flag, which stops its generation at the next token
(or skips it while queued). Bad bodies get OpenAI's error shape with a 400.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse

from tunesmith.serving.openai_schemas import (
    PATHS,
    ChatRequest,
    CompletionRequest,
    OpenAIError,
    Sampling,
    chat_messages,
    check_text,
    error_body,
    error_response,
    event,
    failed,
    options,
    validation_error,
)


class Generations:
    """The queue's counts for GET /health: waiting, running, finished, stopped because the
    client left, and the last generation's tokens and finish reason."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts = {"queued": 0, "running": 0, "finished": 0, "cancelled": 0}
        self.last: dict | None = None

    def add(self, **changes: int) -> None:
        with self.lock:
            for key, change in changes.items():
                self.counts[key] += change

    def state(self) -> dict:
        with self.lock:
            return self.counts | {"last": self.last}


class Gone(Exception):
    """The client disconnected while its request waited."""


def register(app: FastAPI, model: Any, pool, max_chars: int, root: Path) -> None:
    """Add the OpenAI routes to `app`; generations run one at a time on `pool` (one thread).
    `root`: the run's folder, whose name is the model's id."""
    from jinja2 import TemplateError

    from tunesmith.errors import TunesmithError

    name = Path(root).resolve().name
    created = int(time.time())
    stats = app.state.generations = Generations()

    def run(prompt: Any, opts: dict, cancel: threading.Event, send) -> None:
        """In the inference thread: one generation, its events sent to the request."""
        stats.add(queued=-1)
        if cancel.is_set():  # the client left while this waited: skip it
            stats.add(cancelled=1)
            return send(("end", None))
        try:
            stream = model.stream(prompt, cancel=cancel, **opts)
        except (TunesmithError, TemplateError) as exc:  # too long; roles the template refuses
            return send(("refused", exc))
        except Exception as exc:
            return send(("error", exc))
        stats.add(running=1)
        send(("start", stream))
        try:
            for piece in stream:
                send(("text", piece))
            send(("end", stream))
        except Exception as exc:  # this request fails; the next one runs as usual
            send(("error", exc))
        finally:
            stats.last = {"finish_reason": stream.finish_reason, **stream.usage}
            gone = stream.finish_reason == "cancelled"
            stats.add(running=-1, finished=int(not gone), cancelled=int(gone))

    async def submit(prompt: Any, opts: dict, request: Request):
        """Queue a generation; returns its events' queue, its cancel flag and the first event."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        cancel = threading.Event()

        def send(event: tuple) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        stats.add(queued=1)
        done = loop.run_in_executor(pool, run, prompt, opts, cancel, send)
        done.add_done_callback(lambda f: f.exception())  # errors travel as events
        return events, cancel, await waiting(events, cancel, request)

    async def waiting(events: asyncio.Queue, cancel: threading.Event, request: Request):
        """The next event; while none comes, a client that left cancels its generation."""
        while True:
            try:
                return await asyncio.wait_for(events.get(), 0.5)
            except TimeoutError:
                if await request.is_disconnected():
                    cancel.set()
                    raise Gone from None

    async def answer(prompt, body: Sampling, max_tokens, request, chunk, whole, raw=False):
        opts = options(body, max_tokens) | {"raw": raw}
        field = "prompt" if raw else "messages"
        try:
            events, cancel, (kind, value) = await submit(prompt, opts, request)
        except Gone:
            return JSONResponse(error_body("the client disconnected"), status_code=499)
        if kind == "refused" and isinstance(value, TunesmithError):  # too long for the model
            message = f"{field}: {value.what}; {value.fix}"
            return error_response(OpenAIError(message, field, "context_length_exceeded"))
        if kind == "refused":
            message = f"{field}: the model's chat template refused them: {value}"
            return error_response(OpenAIError(message, field))
        if kind == "error":
            return failed(value)
        if kind == "end":
            return JSONResponse(error_body("cancelled"), status_code=499)
        if body.stream:
            usage = bool(body.stream_options and body.stream_options.include_usage)
            stream = sse(events, cancel, chunk, usage)
            headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
            return StreamingResponse(stream, media_type="text/event-stream", headers=headers)
        pieces = []
        try:
            while True:
                kind, value = await waiting(events, cancel, request)
                if kind != "text":
                    break
                pieces.append(value)
        except Gone:
            return JSONResponse(error_body("the client disconnected"), status_code=499)
        finally:
            cancel.set()  # done or gone: nothing more to write
        if kind == "error":
            return failed(value)
        return whole("".join(pieces), value.finish_reason, value.usage)

    async def sse(events, cancel, chunk, include_usage: bool) -> AsyncIterator[str]:
        """Server-sent events; when the client disconnects, Starlette cancels this generator
        and the `finally` stops the model."""
        try:
            yield event(chunk(None, None, include_usage, first=True))
            while True:
                kind, value = await events.get()
                if kind == "text":
                    yield event(chunk(value, None, include_usage))
                elif kind == "end":
                    yield event(chunk(None, value.finish_reason, include_usage))
                    if include_usage:
                        yield event(chunk(None, None, include_usage, usage=value.usage))
                    break
                else:  # an error mid-stream: OpenAI's clients raise it
                    yield event(json.loads(failed(value).body))
                    break
            yield "data: [DONE]\n\n"
        finally:
            cancel.set()

    def base(kind: str, prefix: str) -> dict:
        return {"id": f"{prefix}-{uuid.uuid4().hex}", "object": kind, "created": int(time.time())}

    @app.get("/v1/models")
    async def models() -> dict:
        """OpenAI's model list: the one model this server runs (its run's name)."""
        return {
            "object": "list",
            "data": [{"id": name, "object": "model", "created": created, "owned_by": "tunesmith"}],
        }

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest, request: Request):
        """OpenAI's chat completions: the chat rendered with the run's chat template."""
        messages = chat_messages(body, max_chars)
        head = base("chat.completion.chunk", "chatcmpl") | {"model": name}

        def chunk(text, finish, include_usage, first=False, usage=None) -> dict:
            delta = {"role": "assistant", "content": ""} if first else {}
            if text is not None:
                delta["content"] = text
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            out = head | {"choices": [] if usage else [choice]}
            return out | ({"usage": usage} if include_usage else {})

        def whole(text: str, finish: str, usage: dict) -> dict:
            message = {"role": "assistant", "content": text}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            return head | {"object": "chat.completion", "choices": [choice], "usage": usage}

        max_tokens = body.max_completion_tokens or body.max_tokens
        return await answer(messages, body, max_tokens, request, chunk, whole)

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request):
        """OpenAI's (legacy) completions: the prompt continued as it is, no chat template."""
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        if len(prompts) != 1:
            raise OpenAIError("send one prompt per request (a text)", "prompt")
        check_text(prompts[0], "prompt")
        if len(prompts[0]) > max_chars:
            raise OpenAIError(
                f"the prompt has {len(prompts[0])} characters; the limit is {max_chars}",
                "prompt",
                "context_length_exceeded",
            )
        head = base("text_completion", "cmpl") | {"model": name}

        def chunk(text, finish, include_usage, first=False, usage=None) -> dict:
            choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
            out = head | {"choices": [] if usage else [choice]}
            return out | ({"usage": usage} if include_usage else {})

        def whole(text: str, finish: str, usage: dict) -> dict:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
            return head | {"choices": [choice], "usage": usage}

        return await answer(prompts[0], body, body.max_tokens, request, chunk, whole, raw=True)

    app.add_exception_handler(OpenAIError, lambda request, exc: error_response(exc))
    previous = app.exception_handlers.get(RequestValidationError)

    async def invalid(request: Request, exc: RequestValidationError):
        if request.url.path not in PATHS and previous is not None:
            return await previous(request, exc)
        return error_response(validation_error(exc.errors()))

    app.add_exception_handler(RequestValidationError, invalid)
