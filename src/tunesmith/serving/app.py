"""The REST service for a trained run: FastAPI on uvicorn, one model loaded once, requests
micro-batched onto one inference thread, bounded inputs, optional API key, a web page at `/`.

    POST /v1/predict          {"inputs": ["text", ...]}  or  {"images": ["<base64>", ...]}
    POST /v1/predict/upload   multipart image files (image tasks)
    POST /v1/embeddings       {"input": "text" | ["text", ...]}, OpenAI's shape (embedding tasks)
    POST /v1/feedback         {"input": ..., "label": the right answer}, kept for `retrain`
    POST /v1/chat/completions, /v1/completions, GET /v1/models: OpenAI's API, streamed or
                              whole (generation runs; serving/openai_api.py)
    GET  /v1/model            task, labels, test metrics, version
    GET  /health              liveness, batches run
    GET  /                    a page to try the model;  /docs  the OpenAPI docs
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from tunesmith.serving.batching import MicroBatcher
from tunesmith.serving.guard import Guard, Inflight

PAGE = Path(__file__).with_name("page.html")


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 10 * 1024 * 1024
    max_inputs: int = 64
    max_text_chars: int = 20_000
    max_image_bytes: int = 8 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    max_feedback_image_bytes: int = 1024**3  # all images kept with corrections, together


class PredictRequest(BaseModel):
    inputs: list[str] | None = Field(None, description="texts (text classification, NER)")
    images: list[str] | None = Field(None, description="base64-encoded images (image tasks)")


class PredictResponse(BaseModel):
    outputs: list[dict[str, Any]] = Field(description="one answer per input, in input order")
    model: str = Field(description="the run that answered (its creation time)")


class EmbeddingsRequest(BaseModel):
    """OpenAI's embeddings request; `model` is accepted and ignored (one model is served)."""

    input: str | list[str] = Field(description="a text or a list of texts")
    model: str | None = Field(None, description="ignored: this server has one model")
    encoding_format: Literal["float", "base64"] = Field(
        "float", description="float lists, or base64 of little-endian float32 (OpenAI's client)"
    )


class FeedbackRequest(BaseModel):
    """A correction; what `label` holds depends on the task (GET /v1/model: feedback_label)."""

    input: str | list[dict[str, str]] = Field(
        description="what the model answered: a text, a base64 image (image tasks), or a "
        "prompt or chat of {role, content} messages (generation)"
    )
    label: str | list[str] | list[dict[str, Any]] | None = Field(
        None,
        description="the right answer: a label; a list of labels (multi-label); entity spans "
        '[{"start", "end", "label"}] (NER); a caption (image-text); a better answer '
        "(generation); the right passage (embedding)",
    )
    predicted: Any = Field(None, description="what the model answered, if known")
    rating: Literal["up", "down"] | None = Field(
        None, description="generation: a thumbs up or down on `predicted`, instead of a label"
    )


class ModelInfo(BaseModel):
    task: str
    labels: list[str]
    base_model: str | None
    test: dict[str, float]
    version: str
    tunesmith_version: str
    input_kind: str
    backend: str
    feedback_label: str | None = Field(description="what /v1/feedback takes as `label`")
    parity: dict[str, Any] | None = Field(
        None,
        description="the parity certificate: each form of the model (PyTorch, bf16, ONNX, this "
        "service over HTTP) against the trained model on the test split; null until measured",
    )


def create_app(
    run_dir: str | Path,
    *,
    api_key: str | None = None,
    limits: Limits = Limits(),
    max_batch: int = 32,
    max_wait_ms: float = 5,
    model: Any = None,
    log_predictions: int = 0,
    debug: bool = False,
) -> FastAPI:
    """The service for `run_dir` (or an already loaded `model` with `predict`). `debug` logs
    a traceback with each 500 (otherwise one line)."""
    if model is None:
        from tunesmith.api import load

        model = load(run_dir)
    manifest = model.manifest
    from tunesmith.evaluation import parity

    # The certificate of this version (export's); serve's start-up check adds the HTTP row.
    certificate = parity.read(model.path, model) if hasattr(model, "path") else None
    batcher = MicroBatcher(model.predict, max_batch=max_batch, max_wait_ms=max_wait_ms)

    from concurrent.futures import ThreadPoolExecutor

    from tunesmith.feedback.store import FeedbackStore

    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tunesmith-feedback")
    store: dict[str, FeedbackStore] = {}  # opened on first use, by the writer thread
    root = Path(getattr(model, "root", run_dir))  # the run, not its live version's folder

    def write(kind: str, text: str, predicted: str | None, label: str | None) -> int:
        if "db" not in store:
            store["db"] = FeedbackStore(root)
        return store["db"].add(kind, manifest.get("created", "unknown"), text, predicted, label)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        yield
        await batcher.stop()
        writer.submit(lambda: store.get("db") and store["db"].close())
        writer.shutdown(wait=True)  # every accepted record is written before exit

    app = FastAPI(
        title=f"tunesmith: {manifest['task']}",
        description=f"Model trained from {manifest.get('base_model')}; see /v1/model.",
        lifespan=lifespan,
    )
    app.state.batcher = batcher
    app.state.inflight = Inflight()  # the server drains it at shutdown
    app.state.parity = certificate or {}  # filled in by serve's check (evaluation/parity.py)
    docs = {app.docs_url, app.redoc_url, app.openapi_url, app.swagger_ui_oauth2_redirect_url}
    app.add_middleware(
        Guard,
        inflight=app.state.inflight,
        api_key=api_key,
        open_paths={"/", "/health"} | docs,  # liveness, the page, the API docs
        max_body_bytes=limits.max_body_bytes,
        debug=debug,
    )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return AsciiJSON({"detail": jsonable_encoder(exc.errors())}, status_code=422)

    @app.get("/health")
    async def health() -> dict:
        sizes = {str(size): n for size, n in sorted(batcher.sizes.items())}
        state = {"status": "ok", "batches": batcher.batches, "batch_sizes": sizes}
        if hasattr(app.state, "generations"):  # the OpenAI routes' queue
            state["generations"] = app.state.generations.state()
        return state

    @app.get("/v1/model", response_model=ModelInfo)
    async def model_info() -> ModelInfo:
        return ModelInfo(
            task=manifest["task"],
            labels=model.labels,
            base_model=manifest.get("base_model"),
            test=manifest.get("test", {}),
            version=manifest.get("created", "unknown"),
            tunesmith_version=manifest.get("tunesmith_version", "unknown"),
            input_kind=model.task.input_kind,
            backend=model.backend,
            feedback_label=model.task.feedback and model.task.feedback.label_help,
            parity=app.state.parity or None,
        )

    def count_ok(n: int) -> None:
        if n == 0:
            raise HTTPException(422, "no inputs: send at least one")
        if n > limits.max_inputs:
            raise HTTPException(
                413, f"too many inputs ({n} > {limits.max_inputs}); split them over requests"
            )

    logged = {"count": 0}

    async def answer(inputs: list, logged_ok: bool = True) -> PredictResponse:
        outputs = await batcher.run(inputs)
        if log_predictions and logged_ok and model.task.input_kind == "text":
            for text, out in zip(inputs, outputs, strict=True):
                if logged["count"] < log_predictions and "label" in out:
                    logged["count"] += 1
                    writer.submit(write, "prediction", text, out["label"], None)
        return PredictResponse(outputs=outputs, model=manifest.get("created", "unknown"))

    @app.post("/v1/feedback", status_code=201)
    async def feedback(body: FeedbackRequest) -> dict:
        """A correction: the right answer for an input. Stored for `tunesmith retrain`."""
        import asyncio

        rules = model.task.feedback
        if rules is None:
            raise HTTPException(422, f"{manifest['task']} models take no feedback")
        if model.task.input_kind == "image":
            if not isinstance(body.input, str):
                raise HTTPException(422, "input must be the image, base64-encoded")
            given = decode_image(body.input, "input", limits)
        else:
            given = body.input
            text = given if isinstance(given, str) else json.dumps(given, ensure_ascii=False)
            if len(text) > limits.max_text_chars:
                raise HTTPException(413, f"input has over {limits.max_text_chars} characters")
            check_unicode(text, "input")  # a lone surrogate: no tokenizer or database takes it
        try:
            correction = rules.checked(given, body.label, body.predicted, body.rating)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        for where in ("label", "predicted"):
            check_unicode(getattr(correction, where) or "", where)

        def save() -> int:
            if model.task.input_kind == "image":
                from tunesmith.feedback.images import store_image

                stored = store_image(root, given, limits.max_feedback_image_bytes)
            else:
                stored = text
            kind = "correction" if correction.trains else "rating"
            return write(kind, stored, correction.predicted, correction.label)

        from tunesmith.feedback.images import StorageFull

        try:
            record = await asyncio.get_running_loop().run_in_executor(writer, save)
        except StorageFull as exc:
            raise HTTPException(507, str(exc)) from None
        return {"id": record}

    @app.post("/v1/predict", response_model=PredictResponse)
    async def predict(body: PredictRequest, request: Request) -> PredictResponse:
        user = request.headers.get("x-tunesmith-check") != "parity"  # serve's own check
        if model.task.input_kind == "image":
            if body.inputs is not None or body.images is None:
                raise HTTPException(422, 'this model takes images: {"images": ["<base64>"]}')
            count_ok(len(body.images))
            return await answer(
                [decode_image(b, f"images[{i}]", limits) for i, b in enumerate(body.images)]
            )
        if body.images is not None or body.inputs is None:
            raise HTTPException(422, 'this model takes texts: {"inputs": ["some text"]}')
        count_ok(len(body.inputs))
        for i, text in enumerate(body.inputs):
            if len(text) > limits.max_text_chars:
                raise HTTPException(
                    413,
                    f"inputs[{i}] has {len(text)} characters; the limit is {limits.max_text_chars}",
                )
            check_unicode(text, f"inputs[{i}]")
        return await answer(body.inputs, user)

    @app.post("/v1/embeddings")
    async def embeddings(body: EmbeddingsRequest) -> dict:
        """Text embeddings in OpenAI's shape, for models that embed texts (--task embedding)."""
        if not model.task.embeds_text:
            raise HTTPException(422, "this model does not embed texts; use /v1/predict")
        texts = [body.input] if isinstance(body.input, str) else body.input
        count_ok(len(texts))
        for i, text in enumerate(texts):
            if len(text) > limits.max_text_chars:
                raise HTTPException(413, f"input[{i}] has over {limits.max_text_chars} characters")
            check_unicode(text, f"input[{i}]")
        outputs = await batcher.run(texts)
        tokens = sum(out["tokens"] for out in outputs)
        return {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": encoded(out, body)}
                for i, out in enumerate(outputs)
            ],
            "model": body.model or manifest.get("base_model") or "tunesmith",
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    @app.post("/v1/predict/upload", response_model=PredictResponse)
    async def predict_upload(files: Annotated[list[UploadFile], File()]) -> PredictResponse:
        if model.task.input_kind != "image":
            raise HTTPException(422, "uploads are for image models; send JSON to /v1/predict")
        count_ok(len(files))
        images = []
        for i, upload in enumerate(files):
            data = await upload.read(limits.max_image_bytes + 1)
            images.append(open_image(data, f"files[{i}] ({upload.filename})", limits))
        return await answer(images)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> str:
        return PAGE.read_text(encoding="utf-8")

    if model.task.takes_prompts:  # generations share the batcher's one inference thread
        from tunesmith.serving.openai_api import register

        register(app, model, batcher.pool, limits.max_text_chars, root)
    return app


class AsciiJSON(JSONResponse):
    """JSON with everything past ASCII escaped: a 422 quotes the input, and an input with a
    lone surrogate cannot be encoded as UTF-8 (FastAPI's own 422 fails with a 500)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":")).encode()


def encoded(answer: dict, body: EmbeddingsRequest) -> list[float] | str:
    if body.encoding_format == "float":
        return answer["embedding"]
    import numpy as np

    return base64.b64encode(np.asarray(answer["embedding"], dtype="<f4").tobytes()).decode()


def check_unicode(text: str, where: str) -> None:
    """JSON can carry a lone surrogate ("\\ud800"): no tokenizer or database takes it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise HTTPException(
            422, f"{where} is not valid Unicode: a lone surrogate at character {exc.start}"
        ) from None


def decode_image(text: str, where: str, limits: Limits):
    if "," in text[:100] and text.startswith("data:"):  # a data URL from a browser
        text = text.split(",", 1)[1]
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(422, f"{where} is not valid base64") from None
    return open_image(data, where, limits)


def open_image(data: bytes, where: str, limits: Limits):
    import warnings

    from PIL import Image

    if len(data) > limits.max_image_bytes:
        raise HTTPException(413, f"{where} is over {limits.max_image_bytes} bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > limits.max_image_pixels:
                raise HTTPException(
                    413,
                    f"{where} has {image.width}x{image.height} pixels; the limit is "
                    f"{limits.max_image_pixels:,}",
                )
            image.load()
    except HTTPException:
        raise
    except Exception:
        raise HTTPException(422, f"{where} is not a readable image (JPEG, PNG, ...)") from None
    return image.convert("RGB")
