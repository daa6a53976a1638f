"""Data: upload files (or a zip of class folders) or point at a path; each dataset's page shows
its first rows (images as thumbnails), the detected task and columns, and the data doctor's
findings with their rows and fixes, each fix that has a setting applied with one click."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse

from tunesmith.errors import TunesmithError
from tunesmith.studio import findings, uploads
from tunesmith.studio.errors import PageError, sentence
from tunesmith.studio.rendering import page
from tunesmith.studio.workspace import inside

router = APIRouter()
PREVIEW_ROWS = 20


@router.get("/data")
def data_list(request: Request):
    datasets = uploads.listing(request.app.state.workspace)
    return page(request, "data.html", datasets=datasets)


@router.post("/data/upload")
def upload(request: Request, file: Annotated[UploadFile | None, File()] = None):
    if file is None or not file.filename:
        raise PageError("no_file")
    dataset_id = uploads.save_upload(request.app.state.workspace, file.filename, file.file)
    return RedirectResponse(f"/data/{quote(dataset_id)}", status_code=303)


@router.post("/data/point")
def point(request: Request, path: str = Form("")):
    dataset_id = uploads.point_at(request.app.state.workspace, path)
    return RedirectResponse(f"/data/{quote(dataset_id)}", status_code=303)


@router.get("/data/{dataset_id}")
def dataset(request: Request, dataset_id: str):
    folder = uploads.folder(request.app.state.workspace, dataset_id)
    info = uploads.meta(folder)
    root = uploads.files_root(info)
    context: dict = {"id": dataset_id, "info": info, "report": None, "problem": None}
    try:
        context["preview"] = _preview(info["path"], root)
        report = findings.report_when_ready(folder, info["path"])
    except TunesmithError as exc:
        context["problem"] = sentence(exc, request.state.lang)
        context.setdefault("preview", None)
        return page(request, "data_dataset.html", **context)
    if report is None:  # the doctor is at work: the page says so and looks again
        return page(request, "data_dataset.html", **context, checking=True)
    t, lang = _translator(request)
    listed = findings.shown(report["findings"], report, t, lang, findings.load_settings(folder))
    prefix = f"{root}/"
    for item in listed:  # rows named relative to the data's folder: shorter, still exact
        item["rows"] = [row.replace(prefix, "") for row in item["rows"]]
    return page(request, "data_dataset.html", **context | {"report": report, "findings": listed})


@router.post("/data/{dataset_id}/fix")
def apply_fix(request: Request, dataset_id: str, check: str = Form(...)):
    """Store the setting the doctor's finding names (taken from the report, not the form)."""
    folder = uploads.folder(request.app.state.workspace, dataset_id)
    report = findings.report(folder, uploads.meta(folder)["path"])
    chosen = [f for f in report["findings"] if f["check"] == check and f.get("setting")]
    if not chosen:
        raise HTTPException(404, f"no finding {check!r} with a setting to apply")
    findings.store_settings(folder, chosen[0]["setting"])
    return RedirectResponse(f"/data/{quote(dataset_id)}#findings", status_code=303)


@router.post("/data/{dataset_id}/recheck")
def recheck(request: Request, dataset_id: str):
    findings.forget(uploads.folder(request.app.state.workspace, dataset_id))
    return RedirectResponse(f"/data/{quote(dataset_id)}", status_code=303)


@router.get("/data/{dataset_id}/image")
def image(request: Request, dataset_id: str, path: str):
    """An image of this dataset, only from inside its folder (or the pointed folder)."""
    from tunesmith.data.images import is_image

    folder = uploads.folder(request.app.state.workspace, dataset_id)
    file = inside(uploads.files_root(uploads.meta(folder)), path)
    if not is_image(file) or not file.is_file():
        raise HTTPException(404, f"no such image: {path}")
    return FileResponse(file)


def _translator(request: Request):
    from tunesmith.studio.i18n import translator

    return translator(request.state.lang), request.state.lang


def _preview(path: str, root: Path) -> dict:
    """The first rows as strings, and per image cell the thumbnail's path inside `root`."""
    from tunesmith.data.images import is_image
    from tunesmith.data.readers import read_splits

    table = read_splits(path, "data")["train"]
    head = table.head(PREVIEW_ROWS)
    rows = []
    for _, record in head.iterrows():
        cells = []
        for value in record:
            text = (
                "" if value is None or (isinstance(value, float) and value != value) else str(value)
            )
            thumb = None
            if text and len(text) < 1000 and is_image(Path(text)):
                file = Path(text) if Path(text).is_absolute() else root / text
                resolved = file.resolve()
                if resolved.is_relative_to(root.resolve()):
                    thumb = resolved.relative_to(root.resolve()).as_posix()
            cells.append({"text": text[:300], "thumb": thumb})
        rows.append(cells)
    return {"columns": [str(c) for c in table.columns], "rows": rows, "total": len(table)}
