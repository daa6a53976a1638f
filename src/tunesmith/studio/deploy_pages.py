"""Deploy a run (/runs/<name>/deploy): export it (queued `tunesmith export`) and read the parity
table the export wrote; start and stop a service (`tunesmith serve` as a child process the
studio owns); the feedback collected; retrain (queued `tunesmith retrain`) and the gate's
decision; promote or roll back a version (in-process, as `tunesmith promote` does)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from tunesmith.studio import deploy_state
from tunesmith.studio.errors import PageError
from tunesmith.studio.job_pages import queue_and_show
from tunesmith.studio.rendering import page
from tunesmith.studio.run_files import load_run
from tunesmith.studio.services import services


@asynccontextmanager
async def stop_services(app):
    yield
    if hasattr(app.state, "services"):  # a service never outlives the studio that started it
        app.state.services.stop_all()


router = APIRouter(lifespan=stop_services)


@router.get("/runs/{name}/deploy")
def deploy_page(request: Request, name: str):
    run = load_run(request.app.state.workspace, name)
    service = services(request.app).get(name)
    return page(
        request,
        "deploy.html",
        run=run,
        exports=deploy_state.exports(run),
        onnx=deploy_state.onnx_parity(run),
        gguf=deploy_state.gguf_parity(run),
        service=service,
        service_state=service.state() if service else "stopped",
        feedback=deploy_state.feedback(run.root),
        retrains=run.task.feedback is not None,
        decisions=deploy_state.decisions(run),
        versions=deploy_state.version_actions(run),
    )


@router.post("/runs/{name}/export")
def export(request: Request, name: str, choice: str = Form(...)):
    run = load_run(request.app.state.workspace, name)
    offered = {e["id"]: e for e in deploy_state.exports(run)}
    if choice not in offered:
        raise PageError(
            "no_export", task=run.manifest["task"], choice=choice, offered=", ".join(offered) or "—"
        )
    command = deploy_state.export_command(run, offered[choice])
    title = {"title": "deploy.job_export", "title_args": {"run": name, "format": choice}}
    return queue_and_show(request, command, kind="export", run=str(run.root), **title)


@router.post("/runs/{name}/retrain")
def retrain(request: Request, name: str):
    run = load_run(request.app.state.workspace, name)
    if run.task.feedback is None:
        raise PageError("no_feedback", task=run.manifest["task"])
    title = {"title": "deploy.job_retrain", "title_args": {"run": name}}
    return queue_and_show(
        request, ["retrain", str(run.root)], kind="retrain", run=str(run.root), **title
    )


@router.post("/runs/{name}/promote")
def promote(request: Request, name: str, version: str = Form(...)):
    from tunesmith.feedback import versions

    run = load_run(request.app.state.workspace, name)
    versions.promote(run.root, version)  # what `tunesmith promote RUN --version V` calls
    return _back(name, "versions")


@router.post("/runs/{name}/service/start")
def start_service(request: Request, name: str):
    run = load_run(request.app.state.workspace, name)
    services(request.app).start(name, run.root)
    return _back(name, "service")


@router.post("/runs/{name}/service/stop")
def stop_service(request: Request, name: str):
    services(request.app).stop(name)
    return _back(name, "service")


def _back(name: str, section: str) -> RedirectResponse:
    return RedirectResponse(f"/runs/{quote(name)}/deploy#{section}", status_code=303)
