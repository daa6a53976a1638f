"""tunesmith as a Label Studio ML backend: the routes Label Studio calls, with the shapes
label-studio-ml-backend (label_studio_ml/api.py) gives them.

GET /health (and /): {"status": "UP", "model_class": ...}. POST /setup {project, schema}:
{"model_version"}. POST /predict {tasks, label_config, project, params}: {"results": [one
prediction per task]}. POST /webhook {action, project, ...}: training events are acknowledged,
not acted on: the run learns through `tunesmith label pull RUN --retrain`, whose gate decides
(a webhook that never arrives then loses nothing). A task's text is data["text"] (else its longest
string); an image is data["path"] or data["image"] when it is a file on this machine.
"""

import secrets
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel

from tunesmith.labeling import configs

TRAIN_EVENTS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATION_DELETED", "START_TRAINING")


class PredictBody(BaseModel):
    tasks: list[dict]
    label_config: str | None = None
    project: str | int | None = None
    params: dict | None = None


def _input(task, data: dict) -> str:
    if task.input_kind == "image":
        for key in ("path", "image"):
            if key in data and Path(str(data[key])).is_file():
                return str(data[key])
        raise HTTPException(422, "the task's image is not a file on the backend's machine")
    if "text" in data:
        return str(data["text"])
    strings = [v for v in data.values() if isinstance(v, str)]
    if not strings:
        raise HTTPException(422, "the task has no text in its data")
    return max(strings, key=len)


def create_backend(run: str | Path, basic_auth: tuple[str, str] | None = None) -> FastAPI:
    import tunesmith
    from tunesmith.labeling.loop import version_name

    model = tunesmith.load(run)
    configs.control(model.task)  # refuses tasks Label Studio cannot label here, at start
    version = version_name(model)
    guard = HTTPBasic(auto_error=basic_auth is not None)

    def check(credentials: Annotated[HTTPBasicCredentials | None, Depends(guard)]) -> None:
        if basic_auth is None:
            return
        given = (credentials.username.encode(), credentials.password.encode())
        wanted = (basic_auth[0].encode(), basic_auth[1].encode())
        if not all(secrets.compare_digest(a, b) for a, b in zip(given, wanted, strict=True)):
            raise HTTPException(401, "wrong user or password", {"WWW-Authenticate": "Basic"})

    app = FastAPI(title="tunesmith ML backend", dependencies=[Depends(check)])

    @app.get("/")
    @app.get("/health")
    def health() -> dict:
        return {"status": "UP", "model_class": f"tunesmith {model.task.name}"}

    @app.post("/setup")
    def setup(body: dict) -> dict:
        return {"model_version": version}

    @app.post("/predict")
    def predict(body: PredictBody) -> dict:
        inputs = [_input(model.task, t.get("data") or {}) for t in body.tasks]
        answers = model.predict(inputs) if inputs else []
        return {"results": [configs.prediction(model.task, a, version) for a in answers]}

    @app.post("/webhook", status_code=201)
    def webhook(body: dict) -> dict:
        if body.get("action") not in TRAIN_EVENTS:
            return {"status": "Unknown event"}
        return {
            "status": "ok",
            "result": f"not trained here: run `tunesmith label pull {run} --retrain`",
        }

    @app.get("/metrics")
    def metrics() -> dict:
        return {}

    return app


def serve_backend(run, host="127.0.0.1", port=9090, basic_auth=None) -> None:
    import uvicorn

    from tunesmith.errors import TunesmithError

    if host not in ("127.0.0.1", "localhost", "::1") and basic_auth is None:
        raise TunesmithError(
            f"the ML backend would answer anyone who reaches {host}",
            where=f"--host {host}",
            fix="add --basic-auth USER:PASSWORD (and set the same in Label Studio's model "
            "settings), or keep the default 127.0.0.1",
        )
    app = create_backend(run, basic_auth)
    print(
        f"tunesmith ML backend for {run} at http://{host}:{port} (add it in Label Studio: "
        "Project settings > Model > Connect model)"
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
