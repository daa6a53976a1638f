"""The start page: the three steps of the path (data, training, runs) and what is in this
workspace now."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tunesmith.studio.rendering import page

router = APIRouter()


@router.get("/")
def home(request: Request):
    workspace = request.app.state.workspace
    runs = sorted(p.name for p in workspace.runs.iterdir() if (p / "tunesmith.json").is_file())
    uploads = sorted(p.name for p in workspace.uploads.iterdir() if p.is_dir())
    return page(request, "home.html", runs=runs, uploads=uploads, root=workspace.root)
