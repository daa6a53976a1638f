"""OpenAI's request bodies, its error shape, and what the routes check before queueing a
generation (serving/openai_api.py): the roles, the text, the settings this server supports."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

PATHS = {"/v1/chat/completions", "/v1/completions"}


class StreamOptions(BaseModel):
    include_usage: bool = Field(False, description="a last chunk with the token counts")


class Sampling(BaseModel):
    """What both routes take. `model` is accepted and ignored: this server has one model."""

    model: str | None = Field(None, description="ignored: this server has one (GET /v1/models)")
    max_tokens: int | None = Field(None, ge=1, description="answer tokens at most (default 128)")
    temperature: float = Field(0.0, ge=0, le=2, description="0: greedy (the default)")
    top_p: float = Field(1.0, gt=0, le=1, description="sampling: nucleus mass kept")
    seed: int | None = Field(None, description="sampling: the same seed, the same answer")
    stop: str | list[str] | None = Field(None, description="up to 4 texts that end the answer")
    stream: bool = Field(False, description="server-sent events, piece by piece")
    stream_options: StreamOptions | None = None
    n: int = Field(1, description="answers per request: 1 only")


class Message(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = Field(
        None, description='the text, or parts [{"type": "text", "text": "..."}]'
    )


class ChatRequest(Sampling):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1, description="max_tokens' new name")


class CompletionRequest(Sampling):
    prompt: str | list[str] = Field(description="one text (or a list holding one)")


class OpenAIError(Exception):
    def __init__(self, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


def error_body(message: str, param=None, code=None, kind="invalid_request_error") -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(exc: OpenAIError) -> JSONResponse:
    # ASCII JSON: the message may quote input holding a lone surrogate
    content = json.dumps(error_body(exc.message, exc.param, exc.code)).encode()
    return JSONResponse(json.loads(content), status_code=400)


ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


def chat_messages(body: ChatRequest, max_chars: int) -> list[dict[str, str]]:
    messages, total = [], 0
    for i, message in enumerate(body.messages):
        if message.role not in ROLES:
            raise OpenAIError(
                f"messages[{i}].role {message.role!r} is not one this model takes: use "
                "system, user or assistant",
                f"messages[{i}].role",
            )
        content = message.content or ""
        if isinstance(content, list):  # content parts: text only (this model reads no images)
            if any(part.get("type") != "text" for part in content):
                raise OpenAIError(
                    f"messages[{i}].content has a part that is not text; send text parts only",
                    f"messages[{i}].content",
                )
            content = "".join(str(part.get("text", "")) for part in content)
        check_text(content, f"messages[{i}].content")
        total += len(content)
        messages.append({"role": ROLES[message.role], "content": content})
    if total > max_chars:
        raise OpenAIError(
            f"the messages hold {total} characters; the limit is {max_chars}",
            "messages",
            "context_length_exceeded",
        )
    return messages


def check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise OpenAIError(f"{where} has a lone surrogate at character {exc.start}", where) from None


def options(body: Sampling, max_tokens: int | None) -> dict:
    if body.n != 1:
        raise OpenAIError("n must be 1: this server writes one answer per request", "n")
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stops) > 4:
        raise OpenAIError(f"stop has {len(stops)} sequences; send at most 4", "stop")
    for i, stop in enumerate(stops):
        check_text(stop, f"stop[{i}]")
    return {
        "max_new_tokens": max_tokens or 128,
        "temperature": body.temperature,
        "top_p": body.top_p,
        "seed": body.seed,
        "stop": stops,
    }


def validation_error(errors: list) -> OpenAIError:
    """FastAPI's first complaint, in words, naming the field."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid body", "type": ""}
    if first["type"] == "json_invalid":
        return OpenAIError("the body is not valid JSON")
    path = [str(x) for x in first["loc"][1:]]
    if first["type"] == "missing" and not path:
        return OpenAIError("the body is missing: send a JSON object")
    # a union names the branch it tried ("stop.list[str]"): the field's own name is enough
    param = ".".join(p for p in path if not p.startswith(("list[", "str", "int"))) or None
    given = repr(first.get("input"))[:80]
    where = f"{param}: " if param else ""
    return OpenAIError(f"{where}{first['msg']} (got {given})", param)


def failed(exc: Exception) -> JSONResponse:
    """A generation that failed: one line in the server's log, a 500 in OpenAI's shape."""
    message = " ".join(str(exc).split())[:300]
    logging.getLogger("uvicorn.error").error(
        "generation failed: %s: %s", type(exc).__name__, message
    )
    body = error_body("generation failed; the server log says why", kind="server_error")
    return JSONResponse(body, status_code=500)


def event(data: dict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"
