"""The Runs pages: every run in the workspace (finished ones with their task, model, headline
test metrics, time and versions; unfinished ones as such), one run's results, and its report
and plots served from inside its folder only."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse

from tunesmith.studio import compare
from tunesmith.studio.rendering import page
from tunesmith.studio.run_files import list_runs, load_run, per_class
from tunesmith.studio.workspace import inside

router = APIRouter()
router.include_router(compare.router)  # /runs/compare before /runs/{name} claims it

# what a run's page may serve from the run folder: its report and its pictures
SERVED = {".html", ".png", ".jpg", ".jpeg", ".svg", ".webp"}


@router.get("/runs")
def runs(request: Request):
    finished, unfinished = list_runs(request.app.state.workspace)
    return page(request, "runs.html", runs=finished, unfinished=unfinished)


@router.get("/runs/{name}")
def run_page(request: Request, name: str):
    run = load_run(request.app.state.workspace, name)
    metrics = run.metrics()
    columns, classes = per_class(metrics)
    report = run.live / "report.html"
    return page(
        request,
        "runs_run.html",
        run=run,
        columns=columns,
        classes=classes,
        settings=run.settings(),
        report=report.relative_to(run.root).as_posix() if report.is_file() else None,
    )


@router.get("/runs/{name}/files/{path:path}")
def run_file(request: Request, name: str, path: str):
    """A report or a picture of the run; nothing outside the run folder, nothing else."""
    root = request.app.state.workspace.run(name)
    target = inside(root, path)
    if target.suffix.lower() not in SERVED or not target.is_file():
        raise HTTPException(404, f"no such file: {path}")
    return FileResponse(target)
