"""What the Runs, Compare and Deploy pages read from a run folder: the manifest, metrics.json,
run_config.yaml, versions.json and the plots. Files only, never the model, so listing many runs
stays quick; the live version's folder is read (the run itself until a retrain is promoted)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml
from fastapi import HTTPException

from tunesmith.feedback import versions
from tunesmith.run_dir import CONFIG, MANIFEST, UNFINISHED
from tunesmith.studio.errors import PageError
from tunesmith.studio.workspace import Workspace

# headline metrics where lower is better (generation's perplexity and loss, Hamming loss)
LOWER_IS_BETTER = ("perplexity", "loss")


@dataclass
class Run:
    name: str
    root: Path  # the run directory
    live: Path  # the live version's folder
    manifest: dict  # the live version's
    state: dict  # versions.json (or the one version a run starts with)

    @property
    def task(self):
        from tunesmith import tasks

        return tasks.get(self.manifest["task"])

    @property
    def headline(self) -> dict[str, float]:
        return self.manifest.get("test") or {}

    @property
    def model(self) -> str:
        base = str(self.manifest.get("base_model", ""))
        return Path(base).name if "/" in base and Path(base).is_absolute() else base

    @property
    def created(self) -> str:
        return str(self.manifest.get("created", "")).replace("T", " ")[:16]

    def metrics(self) -> dict:
        try:
            return json.loads((self.live / "metrics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def settings(self) -> dict[str, object]:
        """run_config.yaml flattened to dotted keys ("train.epochs")."""
        try:
            saved = yaml.safe_load((self.live / CONFIG).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            return {}
        return flatten(saved)

    def plots(self) -> list[str]:
        """The live version's PNG plots, as paths inside the run folder."""
        return [p.relative_to(self.root).as_posix() for p in sorted(self.live.glob("*.png"))]


def load_run(workspace: Workspace, name: str) -> Run:
    """The finished run `name` (a user error that says what to do for any other folder)."""
    root = workspace.run(name)
    if root.parent != workspace.runs:  # a run is a folder of runs/, not one inside a run
        raise HTTPException(404, f"no such item: {name}")
    if not (root / MANIFEST).is_file():
        unfinished = root.with_name(root.name + UNFINISHED).is_dir()
        raise PageError("run_unfinished" if unfinished else "run_missing", name=name)
    state = versions.read(root)
    live = versions.live_dir(root)
    manifest = json.loads((live / MANIFEST).read_text(encoding="utf-8"))
    return Run(name, root, live, manifest, state)


def list_runs(workspace: Workspace) -> tuple[list[Run], list[str]]:
    """Finished runs (newest first) and the names of unfinished ones."""
    finished, unfinished = [], []
    for folder in sorted(workspace.runs.iterdir()):
        if not folder.is_dir():
            continue
        if folder.name.endswith(UNFINISHED):
            unfinished.append(folder.name[: -len(UNFINISHED)])
        elif (folder / MANIFEST).is_file():
            try:
                finished.append(load_run(workspace, folder.name))
            except (OSError, ValueError, KeyError):  # a damaged run is skipped, not fatal
                continue
    finished.sort(key=lambda run: run.created, reverse=True)
    return finished, unfinished


def flatten(values: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out |= flatten(value, f"{name}.")
        else:
            out[name] = value
    return out


def per_class(metrics: dict) -> tuple[list[str], dict[str, dict]]:
    """(columns, {class: {column: value}}) of the test metrics' per-class table."""
    rows = {
        str(label): values
        for label, values in (metrics.get("test", {}).get("per_class") or {}).items()
        if isinstance(values, dict)
    }
    columns: list[str] = []
    for values in rows.values():
        columns += [k for k, v in values.items() if isinstance(v, int | float) and k not in columns]
    return columns, rows


def lower_is_better(metric: str) -> bool:
    return any(word in metric.lower() for word in LOWER_IS_BETTER)


def best(values: list[object], metric: str) -> object:
    """The best of a row of numbers (None where they are all the same, or none is a number)."""
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(set(numbers)) < 2:  # nothing to choose between
        return None
    return min(numbers) if lower_is_better(metric) else max(numbers)
