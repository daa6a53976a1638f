"""Model and settings (`/data/<id>/train`): the catalog for the detected task with the advice
`tunesmith models --json` measures on this machine (queued as a job), a model box, and the
settings form generated from the config. A valid submission is written as a YAML config in
the dataset's folder and queued as `tunesmith train DATA --config YAML --out runs/NAME`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

import yaml
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from tunesmith.errors import TunesmithError
from tunesmith.studio import findings, settings_form, uploads
from tunesmith.studio.errors import PageError
from tunesmith.studio.i18n import translator
from tunesmith.studio.job_pages import queue_and_show
from tunesmith.studio.jobs import ACTIVE, WAITING
from tunesmith.studio.rendering import page
from tunesmith.studio.workspace import safe_name

router = APIRouter()
ADVICE = "advice.json"


@router.get("/data/{dataset_id}/train")
def settings_page(request: Request, dataset_id: str):
    return _render(request, dataset_id, {}, {})


@router.post("/data/{dataset_id}/advice")
def measure(request: Request, dataset_id: str):
    folder = uploads.folder(request.app.state.workspace, dataset_id)
    info = uploads.meta(folder)
    task = _task(folder, info)
    if not task:
        raise PageError("task_unknown", where=info["name"])
    job = request.app.state.jobs.submit(
        ["models", "--task", task, "--data", info["path"], "--json"],
        kind="models",
        title="settings.advice_title",
        title_args={"name": info["name"]},
    )
    (folder / ADVICE).write_text(json.dumps({"job": job.id}), encoding="utf-8")
    return RedirectResponse(f"/data/{quote(dataset_id)}/train#advice", status_code=303)


@router.post("/data/{dataset_id}/train")
async def submit(request: Request, dataset_id: str):
    form = await request.form()
    values = {key: str(form.getlist(key)[-1]) for key in form.keys()}
    values["model"] = values.get("model_text", "").strip() or values.get("model_choice", "")
    return await run_in_threadpool(_submit, request, dataset_id, values)


def _submit(request: Request, dataset_id: str, values: dict):
    workspace = request.app.state.workspace
    folder = uploads.folder(workspace, dataset_id)
    info = uploads.meta(folder)
    changed, typed = settings_form.overrides(values)
    config, errors = settings_form.validate(changed, info["path"], request.state.lang)
    name = values.get("run_name", "").strip()
    t = translator(request.state.lang)
    if not name or safe_name(name) != name:
        errors["out"] = t("settings.run_bad_name")
    elif _taken(request, workspace.runs / name):
        errors["out"] = t("settings.run_exists", name=name)
    if errors:
        return _render(request, dataset_id, typed | {"out": name}, errors, status=400)
    number = 1 + len(list(folder.glob("config-*.yaml")))
    while (folder / f"config-{number}.yaml").exists():
        number += 1
    path = folder / f"config-{number}.yaml"
    resolved = config.model_dump(mode="json", exclude={"out"})
    path.write_text(yaml.safe_dump(resolved, allow_unicode=True, sort_keys=False), "utf-8")
    out = str(workspace.runs / name)
    return queue_and_show(
        request,
        ["train", info["path"], "--config", str(path), "--out", out],
        kind="train",
        title="settings.job_title",
        title_args={"name": name},
        run=out,
    )


def _render(request, dataset_id: str, typed: dict, errors: dict, status: int = 200):
    from tunesmith.models.advice import catalog_rows
    from tunesmith.models.catalog import CATALOG

    workspace = request.app.state.workspace
    folder = uploads.folder(workspace, dataset_id)
    info = uploads.meta(folder)
    stored = findings.load_settings(folder)
    task = _task(folder, info)
    catalog = [r for r in catalog_rows() if task in r["tasks"].split(", ")] if task else []
    for row in catalog:
        entry = CATALOG.get(row["name"])
        row["summary"] = entry.summary if entry else row["source"]
    fields = settings_form.fields()
    shown = {
        f.name: typed.get(f.name, settings_form.raw(stored.get(f.name, f.default))) for f in fields
    }
    shown["out"] = typed.get("out") or _free_name(request, workspace.runs, info["name"])
    advanced_open = any(
        not f.common and (f.name in errors or shown[f.name] != settings_form.raw(f.default))
        for f in fields
        if f.name not in settings_form.FIXED
    )
    return page(
        request,
        "settings.html",
        status_code=status,
        id=dataset_id,
        info=info,
        task=task,
        catalog=catalog,
        catalog_names=[r["name"] for r in catalog],
        advice=_advice(request, folder),
        fields=fields,
        values=shown,
        stored=stored,
        errors=errors,
        advanced_open=advanced_open,
        raw=settings_form.raw,
    )


def _task(folder: Path, info: dict) -> str | None:
    stored = findings.load_settings(folder).get("task")
    if stored:
        return stored
    try:
        return findings.report(folder, info["path"]).get("task")
    except TunesmithError:
        return None


def _taken(request: Request, run: Path) -> bool:
    """A run there already, or a training queued or running that will write it."""
    if run.exists() or run.with_name(f"{run.name}.unfinished").exists():
        return True
    pending = [job for job in request.app.state.jobs.ordered() if job.state in WAITING + ACTIVE]
    return any(job.run and Path(job.run) == run for job in pending)


def _free_name(request: Request, runs: Path, data_name: str) -> str:
    base = safe_name(Path(data_name).stem or data_name)
    name, n = base, 2
    while _taken(request, runs / name):
        name, n = f"{base}-{n}", n + 1
    return name


def _advice(request: Request, folder: Path) -> dict | None:
    """{"job", "state", "report"}: the measured advice once its job has printed its JSON."""
    path = folder / ADVICE
    if not path.is_file():
        return None
    advice = json.loads(path.read_text(encoding="utf-8"))
    if advice.get("report"):
        return advice | {"state": "done"}
    jobs = request.app.state.jobs
    try:
        job = jobs.get(advice["job"])
    except TunesmithError:
        return advice | {"state": "failed"}
    advice["state"] = job.state
    if job.state == "done":
        log = jobs.job_folder(job.id) / "log.txt"
        advice["report"] = _printed_json(log.read_text(encoding="utf-8", errors="replace"))
        if advice["report"] is None:
            advice["state"] = "failed"
        else:
            path.write_text(json.dumps(advice, ensure_ascii=False), encoding="utf-8")
    return advice


def _printed_json(text: str) -> dict | None:
    """The report `tunesmith models --json` printed, among the progress lines of the log."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"^\{", text, re.M):
        try:
            found, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(found, dict) and "results" in found:
            return found
    return None
