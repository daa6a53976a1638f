"""Model versions of one run directory and which one is live.

The run directory itself is version 1; retrained versions live in `versions/v2`, `versions/v3`,
... each a complete run directory. `versions.json` at the top says which is live, with each
version's test metrics and the gate's decision; `tunesmith.load(RUN)` and `serve` take the live
one, and promoting (or rolling back) is rewriting that one field.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from tunesmith.errors import TunesmithError

FILE = "versions.json"


def read(run_dir: str | Path) -> dict:
    run_dir = Path(run_dir)
    path = run_dir / FILE
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    manifest = json.loads((run_dir / "tunesmith.json").read_text(encoding="utf-8"))
    first = {"path": ".", "created": manifest.get("created"), "test": manifest.get("test", {})}
    return {"live": "v1", "versions": {"v1": first | {"decision": "the first training run"}}}


def write(run_dir: str | Path, state: dict) -> None:
    from tunesmith.run_dir import write_json

    write_json(Path(run_dir) / FILE, state)


def live_dir(run_dir: str | Path) -> Path:
    """The folder of the live version (the run directory itself until a retrain is promoted)."""
    run_dir = Path(run_dir)
    if not (run_dir / FILE).is_file():
        return run_dir
    state = read(run_dir)
    return run_dir / state["versions"][state["live"]]["path"]


def next_name(run_dir: str | Path) -> str:
    return f"v{len(read(run_dir)['versions']) + 1}"


def promote(run_dir: str | Path, name: str) -> dict:
    state = read(run_dir)
    name = name if name.startswith("v") else f"v{name}"
    if name not in state["versions"]:
        raise TunesmithError(
            f"no version {name} (versions: {', '.join(state['versions'])})",
            where=f"--version {name}",
            fix="see `tunesmith runs RUN` for the versions",
        )
    state["live"] = name
    state["versions"][name]["promoted"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write(run_dir, state)
    return state


def format_versions(state: dict) -> str:
    lines = []
    for name, info in state["versions"].items():
        marker = "live ->" if name == state["live"] else "       "
        scores = ", ".join(f"{k} {v:.4f}" for k, v in list(info.get("test", {}).items())[:2])
        lines.append(f"{marker} {name}  {info.get('created', '')}  {scores}")
        if info.get("decision"):
            lines.append(f"           {info['decision']}")
    return "\n".join(lines)
