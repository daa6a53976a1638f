"""`tunesmith label push` and `label pull`: the labelling loop with a running Label Studio.

push: the run's model answers every unlabelled row; the rows go into the project as tasks with
those answers as pre-annotations, least sure and most varied first (ordering.py), leaving out
rows the project already has. pull: annotations finished since the last pull come back as a
Label Studio export file in RUN/labeling/, which any tunesmith command reads as training data;
`--retrain` hands it to `tunesmith retrain`'s gate at once (no webhook needed).
"""

from __future__ import annotations

import base64
import json
import mimetypes
from pathlib import Path

from tunesmith.console import info
from tunesmith.labeling import client as ls
from tunesmith.labeling import configs
from tunesmith.run_dir import write_atomic

FOLDER = "labeling"  # RUN/labeling/: pulled annotations and what was pulled
# Rows a push imports by default: a few days' labelling. After a retrain the model's doubts
# change, so the next push orders the rest again with the better model.
LIMIT = 500


def default_title(run: str | Path) -> str:
    return f"tunesmith {Path(run).resolve().name}"


def version_name(model) -> str:
    from tunesmith.feedback import versions

    return f"tunesmith-{Path(model.root).resolve().name}-{versions.read(model.root)['live']}"


def read_inputs(model, data: str, column: str | None) -> tuple[list[str], list[str]]:
    """(inputs for the model, what Label Studio shows): texts twice, or image paths and their
    contents as data URIs (Label Studio shows them without access to this disk)."""
    from tunesmith.data.readers import read_table

    table = read_table(data, "--data")
    if model.task.input_kind == "image":
        from tunesmith.tasks.image_classification import image_column, image_paths

        saved = model.manifest["columns"].get("image")
        name = image_column(table, column or (saved if saved in table else None), data, "--column")
        paths = [str(p) for p in image_paths(table, name, data)[0]]
        return paths, [_data_uri(p) for p in paths]
    from tunesmith.data.columns import detect_text_column

    name = detect_text_column(table, data, column, model.manifest["columns"].get("text"))
    texts = [str(t) for t in table[name]]
    return texts, texts


def _data_uri(path: str) -> str:
    kind = mimetypes.guess_type(path)[0] or "image/png"
    return f"data:{kind};base64,{base64.b64encode(Path(path).read_bytes()).decode()}"


def _save_image(task: dict, folder: Path, name: str) -> None:
    """An image task's picture, as Label Studio showed it to the person who labelled it, saved
    beside the pulled file (FOLDER/pull-N/<task id>.png) so that the file trains as it is. It
    comes from the data URI push sent, never from a path on this disk the server names."""
    data = task["data"]
    head, _, body = str(data.get("image", "")).partition(";base64,")
    if not (head.startswith("data:image/") and body):
        return  # not an image task, or an image the project has by URL: left as it is
    suffix = mimetypes.guess_extension(head.removeprefix("data:")) or ".img"
    try:
        picture = base64.b64decode(body, validate=True)
    except ValueError:
        return  # not base64: the reader drops the row and says which
    relative = f"{name}/{int(task['id'])}{suffix}"
    (folder / name).mkdir(parents=True, exist_ok=True)
    (folder / relative).write_bytes(picture)
    data["image"] = relative  # relative to the pulled file's folder, where readers look
    if "path" in data:
        data["source"] = data.pop("path")  # where it was on the machine that pushed it


def push(run, data, url, api_key, title=None, column=None, limit=LIMIT) -> dict:
    import tunesmith
    from tunesmith.labeling import ordering

    model = tunesmith.load(run)
    task, source = model.task, configs.input_name(model.task)
    config = configs.label_config(task, model.labels)  # refuses tasks without a control first
    client = ls.connect(url, api_key)
    title = title or default_title(run)
    project_id = ls.project(client, url, title, config)
    inputs, shown = read_inputs(model, data, column)
    known = {
        t["data"].get("path", t["data"].get(source)) for t in ls.tasks(client, url, project_id)
    }
    new = [i for i, x in enumerate(inputs) if x not in known]
    info(f"{len(inputs) - len(new)} row(s) of {data} are in the project already; left out.")
    if not new:
        print(f"Nothing to import: every row of {data} is in {title!r} already.")
        return {"project": project_id, "imported": 0, "order": []}
    answers = model.predict([inputs[i] for i in new])
    doubt = [configs.uncertainty(task, a) for a in answers]
    rows = [inputs[i] for i in new]
    features = ordering.image_features(rows) if source == "image" else ordering.text_features(rows)
    ranked = ordering.order(features, doubt, limit=limit)
    version = version_name(model)
    items = []
    for rank, j in enumerate(ranked):
        row = new[j]
        item = {source: shown[row], "row": row, "rank": rank + 1, "uncertainty": round(doubt[j], 4)}
        if source == "image":
            item["path"] = str(Path(inputs[row]).resolve())
        items.append({"data": item, "predictions": [configs.prediction(task, answers[j], version)]})
    ids = ls.import_tasks(client, url, project_id, items)
    where = f"{url.rstrip('/')}/projects/{project_id}/data"
    print(
        f"Imported {len(ids)} task(s) into {title!r} at {where}, least sure and most varied "
        f"first (pre-annotated by {version})."
    )
    return {"project": project_id, "imported": len(ids), "order": [new[j] for j in ranked]}


def connect_backend(run, url, api_key, backend_url, title=None) -> int:
    """Add `tunesmith label backend RUN` (at `backend_url`) as the project's ML backend."""
    import tunesmith

    model = tunesmith.load(run)
    client = ls.connect(url, api_key)
    title = title or default_title(run)
    project_id = ls.project(client, url, title, configs.label_config(model.task, model.labels))
    backend = ls.add_backend(client, url, project_id, backend_url, f"tunesmith {Path(run).name}")
    print(f"Label Studio project {title!r} asks {backend_url} for pre-annotations.")
    return backend


def pull(run, url, api_key, title=None, retrain=False, **gate) -> dict:
    """Finished annotations since the last pull -> RUN/labeling/pull-N.json; with `retrain`,
    `tunesmith retrain RUN --add` that file."""
    root = Path(run)
    client = ls.connect(url, api_key)
    title = title or default_title(run)
    with ls.calls(url):
        found = [p for p in client.projects.list(title=title) if p.title == title]
    if not found:
        from tunesmith.errors import TunesmithError

        raise TunesmithError(
            f"Label Studio at {url} has no project {title!r}",
            where="--project",
            fix=f"push rows first: tunesmith label push {run} --data FILE",
        )
    project_id = found[0].id
    state_path = root / FOLDER / "pulled.json"
    state = json.loads(state_path.read_text(encoding="utf-8")) if state_path.is_file() else {}
    seen = state.setdefault(str(project_id), {})
    fresh = []
    for task in ls.tasks(client, url, project_id, annotated=True):
        kept = [a for a in task["annotations"] if not a.get("was_cancelled") and a.get("result")]
        stamp = max((str(a.get("updated_at")) for a in kept), default=None)
        if stamp is None or seen.get(str(task["id"])) == stamp:
            continue
        data = dict(task["data"])
        text = str(data.get("text", ""))
        kept = [a | {"result": configs.spans_from_label_studio(text, a["result"])} for a in kept]
        fresh.append((task["id"], stamp, {"id": task["id"], "data": data, "annotations": kept}))
    if not fresh:
        print(f"No annotations finished in {title!r} since the last pull.")
        return {"pulled": 0, "file": None}
    number = len(list((root / FOLDER).glob("pull-*.json"))) + 1
    while (root / FOLDER / f"pull-{number}.json").exists():  # one was deleted: never overwrite
        number += 1
    out = root / FOLDER / f"pull-{number}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    for _, _, item in fresh:
        _save_image(item, root / FOLDER, f"pull-{number}")
    write_atomic(out, json.dumps([t for _, _, t in fresh], ensure_ascii=False, indent=1))
    seen.update({str(i): stamp for i, stamp, _ in fresh})
    write_atomic(state_path, json.dumps(state, indent=1))
    print(f"Pulled {len(fresh)} annotated task(s) from {title!r} into {out}.")
    result = {"pulled": len(fresh), "file": str(out)}
    if retrain:
        from tunesmith.feedback.retrain import retrain as grow

        result["retrain"] = grow(root, add=str(out), **gate)
        print(f"{result['retrain']['name']}: {result['retrain']['decision']}")
    else:
        print(f"Next: tunesmith retrain {run} --add {out}")
    return result
