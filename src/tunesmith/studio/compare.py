"""Compare runs side by side (/runs/compare?run=a&run=b...): headline test metrics with the best
of each row marked, per-class tables, confusion matrices, and the settings that differ."""

from __future__ import annotations

from typing import Annotated

import yaml
from fastapi import APIRouter, Query, Request

from tunesmith.studio.errors import PageError
from tunesmith.studio.rendering import page
from tunesmith.studio.run_files import Run, best, load_run, per_class

router = APIRouter()
# settings that differ between any two runs without saying anything about them
IGNORED = {"out"}
MISSING = object()


@router.get("/runs/compare")
def compare_page(request: Request, run: Annotated[list[str] | None, Query()] = None):
    names = list(dict.fromkeys(run or []))  # a run picked twice is shown once
    if len(names) < 2:
        raise PageError("compare_too_few")
    runs = [load_run(request.app.state.workspace, name) for name in names]
    return page(
        request,
        "compare.html",
        runs=runs,
        headline=headline_rows(runs),
        classes=class_rows(runs),
        settings=differing_settings(runs),
        matrices=[[p for p in r.plots() if "confusion" in p] for r in runs],
    )


def headline_rows(runs: list[Run]) -> list[tuple[str, list, object]]:
    """(metric, one value per run or None, the best value) in the order the runs name them."""
    metrics = list(dict.fromkeys(m for run in runs for m in run.headline))
    rows = []
    for metric in metrics:
        values = [run.headline.get(metric) for run in runs]
        rows.append((metric, values, best(values, metric)))
    return rows


def class_rows(runs: list[Run]) -> tuple[str, list[tuple[str, list, object]]]:
    """Per class, each run's F1 (or the first per-class measure the runs have), best marked."""
    tables = [per_class(run.metrics()) for run in runs]
    measure = next((c for c in ("f1", "F1") if any(c in cols for cols, _ in tables)), None)
    measure = measure or next((cols[0] for cols, _ in tables if cols), "")
    labels = list(dict.fromkeys(label for _, rows in tables for label in rows))
    rows = []
    for label in labels:
        values = [rows.get(label, {}).get(measure) for _, rows in tables]
        rows.append((label, values, best(values, measure)))
    return measure, rows


def differing_settings(runs: list[Run]) -> list[tuple[str, list]]:
    """Dotted settings whose values are not the same in every run (absent counts as a value)."""
    flat = [run.settings() for run in runs]
    keys = list(dict.fromkeys(k for settings in flat for k in settings))
    rows = []
    for key in keys:
        if key in IGNORED:
            continue
        values = [settings.get(key, MISSING) for settings in flat]
        if any(v != values[0] for v in values[1:]):
            rows.append((key, [shown(v) for v in values]))
    return rows


def shown(value: object) -> str:
    """A setting as run_config.yaml writes it ("—" where a run has no such setting)."""
    if value is MISSING:
        return "—"
    return (
        yaml.safe_dump(value, default_flow_style=True, allow_unicode=True)
        .strip()
        .removesuffix("\n...")
    )
