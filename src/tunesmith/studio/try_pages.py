"""Try a run (/runs/<name>/try): type a text, drop an image, or chat with a generation run, and
see its answer: scores as bars, highlighted entities, a label set, an answer. Predictions run
in-process through `tunesmith.load(run).predict`, with the last two loaded models kept."""

from __future__ import annotations

import json
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse

from tunesmith.errors import TunesmithError
from tunesmith.studio.errors import PageError, sentence
from tunesmith.studio.i18n import translator
from tunesmith.studio.rendering import page, templates
from tunesmith.studio.run_files import Run, load_run
from tunesmith.studio.workspace import safe_name

router = APIRouter()
KEPT = 2  # loaded models kept in memory
MAX_NEW_TOKENS = 256
MAX_IMAGE_BYTES = 20 * 1024 * 1024


class Models:
    """The last KEPT loaded runs, by their live version's folder and its creation time: a
    promotion, a retrain or a run trained again under the same name loads afresh."""

    def __init__(self):
        self.loaded: OrderedDict[tuple[str, str], object] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, run: Run):
        from tunesmith.api import load

        key = (str(run.live), str(run.manifest.get("created")))
        with self.lock:  # one load at a time: two would hold two copies in memory
            if key not in self.loaded:
                self.loaded[key] = load(run.root)
                while len(self.loaded) > KEPT:
                    self.loaded.popitem(last=False)
            self.loaded.move_to_end(key)
            return self.loaded[key]


def models(app) -> Models:
    if not hasattr(app.state, "try_models"):
        app.state.try_models = Models()
    return app.state.try_models


def mode(task) -> str:
    """What the page asks for: a chat, an image, or a text."""
    if task.takes_prompts:
        return "chat"
    return "image" if task.input_kind == "image" else "text"


@router.get("/runs/{name}/try")
def try_page(request: Request, name: str):
    run = load_run(request.app.state.workspace, name)
    return page(request, "try.html", run=run, mode=mode(run.task), labels=run.manifest["labels"])


@router.post("/runs/{name}/try")
def try_predict(
    request: Request,
    name: str,
    text: str = Form(""),
    chat: str = Form(""),
    image: Annotated[UploadFile | None, File()] = None,
):
    """One answer as JSON: the model's own answer, and `html`, the page's view of it (a
    mistake the user can fix comes back as {"error": ...})."""
    try:
        run = load_run(request.app.state.workspace, name)
        kind = mode(run.task)
        answer = answer_for(models(request.app).get(run), kind, text, chat, image)
    except TunesmithError as exc:
        return JSONResponse({"error": sentence(exc, request.state.lang)}, status_code=400)
    view = templates.get_template("try_answer.html").render(
        t=translator(request.state.lang),
        answer=answer,
        text=text,
        # offsets count in the text the model read (cleaned as training cleaned), if it says
        parts=entity_parts(str(answer.get("text", text)), answer),
        chat=kind == "chat",
    )
    return JSONResponse({"answer": jsonable(answer), "html": view})


def answer_for(model, kind: str, text: str, chat: str, image: UploadFile | None) -> dict:
    if kind == "chat":
        return model.predict(read_chat(chat, text), max_new_tokens=MAX_NEW_TOKENS)
    if kind == "image":
        return predict_image(model, image)
    if not text.strip():
        raise PageError("no_text")
    return model.predict(text)


def read_chat(chat: str, text: str) -> list[dict]:
    """The conversation the page keeps ({"role", "content"} messages), the new message last."""
    try:
        messages = json.loads(chat) if chat.strip() else []
    except ValueError:
        messages = None
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and isinstance(m.get("content"), str) and m.get("role") in ROLES
        for m in messages
    ):
        raise PageError("bad_chat")
    if text.strip():
        messages.append({"role": "user", "content": text})
    if not messages or messages[-1]["role"] != "user":
        raise PageError("no_message")
    return messages


ROLES = {"system", "user", "assistant"}


def predict_image(model, image: UploadFile | None) -> dict:
    if image is None or not image.filename:
        raise PageError("no_image")
    data = image.file.read(MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:
        raise PageError("image_too_large", where=image.filename, megabytes=MAX_IMAGE_BYTES >> 20)
    with tempfile.TemporaryDirectory(prefix="tunesmith-try-") as folder:
        path = Path(folder) / safe_name(image.filename, "image.png")
        path.write_bytes(data)
        return model.predict(str(path))


def entity_parts(text: str, answer: dict) -> list[tuple[str, str | None]]:
    """The text cut into (piece, entity type or None) by the answer's character offsets."""
    entities = answer.get("entities") if isinstance(answer, dict) else None
    if not entities:
        return []
    parts, at = [], 0
    for entity in sorted(entities, key=lambda e: e["start"]):
        start, end = max(int(entity["start"]), at), int(entity["end"])
        if start > at:
            parts.append((text[at:start], None))
        if end > start:
            parts.append((text[start:end], str(entity.get("type", ""))))
        at = max(at, end)
    parts.append((text[at:], None))
    return [p for p in parts if p[0]]


def jsonable(value):
    """An answer as JSON (embeddings may come as arrays or tensors)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value
