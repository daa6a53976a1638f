"""`tunesmith replay RUN`: train a finished run again from its saved settings and check that
the same data and seed give the same split and the same test metrics.

The run's run_config.yaml holds every resolved setting (with absolute data paths) and
splits.json the data's fingerprints, so a replay needs nothing but the run. The data is checked
against its fingerprints first: a replay on other data would prove nothing. Training goes
through `tunesmith.train`, as any run does; the comparison reads the two runs' files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tunesmith.console import info
from tunesmith.data.fingerprint import fingerprint
from tunesmith.errors import TunesmithError
from tunesmith.run_dir import CONFIG, RunDir

# splits.json's fingerprint key -> the data setting holding that file's path
DATA_FILES = {"data": "path", "val_file": "val_file", "test_file": "test_file"}


@dataclass
class Replay:
    """What `replay` found: the new run and how it compares with the original."""

    original: Path
    path: Path
    same_split: bool
    same_metrics: bool
    rows: list[tuple[str, float | None, float | None]]  # metric, original, replay
    differing: tuple[int, int]  # test metric values (per class included) that differ, of all
    changed_data: list[str] = field(default_factory=list)
    explanations: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.same_split and self.same_metrics


def default_out(run: str | Path) -> Path:
    return Path(f"{str(run).rstrip('/')}-replay")


def replay(
    run: str | Path,
    out: str | Path | None = None,
    *,
    data: str | None = None,
    allow_changed_data: bool = False,
    overwrite: bool = False,
) -> Replay:
    """Retrain `run` into `out` (default RUN-replay) and compare. `data` points at the training
    data when it has moved (checked against the fingerprint like the saved path)."""
    import tunesmith
    from tunesmith.training.environment import differences, environment

    original = RunDir(run)
    manifest = original.manifest()  # a clear error when RUN is not a finished run
    settings = yaml.safe_load((original / CONFIG).read_text(encoding="utf-8")) or {}
    saved_splits = json.loads((original / "splits.json").read_text(encoding="utf-8"))
    if data:
        settings["data"]["path"] = str(Path(data).expanduser().resolve())
    changed = check_data(settings["data"], saved_splits.get("fingerprints", {}), allow_changed_data)
    out = Path(out) if out else default_out(run)
    settings["out"] = str(out)
    info(f"Replaying {original.path} into {out}: the same data, settings and seed.")
    model = tunesmith.train(config=settings, overwrite=overwrite)
    new_splits = json.loads((model.path / "splits.json").read_text(encoding="utf-8"))
    split_keys = ("labels", "train", "val", "test")
    same_split = all(saved_splits.get(k) == new_splits.get(k) for k in split_keys)
    before = json.loads((original / "metrics.json").read_text(encoding="utf-8"))["test"]
    after = model.metrics["test"]
    headline_before = model.task.report.headline(before)
    headline_after = model.task.report.headline(after)
    rows = [(name, headline_before.get(name), headline_after.get(name)) for name in headline_before]
    flat_before, flat_after = _flatten(before), _flatten(after)
    keys = flat_before.keys() | flat_after.keys()
    differing = sum(flat_before.get(k) != flat_after.get(k) for k in keys)
    result = Replay(
        original=original.path,
        path=model.path,
        same_split=same_split,
        same_metrics=before == after,
        rows=rows,
        differing=(differing, len(keys)),
        changed_data=changed,
    )
    if not result.identical:
        result.explanations = explain(
            result, differences(manifest.get("environment"), environment()), manifest
        )
    return result


def check_data(data: dict, prints: dict, allow_changed: bool) -> list[str]:
    """The run's data files whose content no longer matches their fingerprint; an error naming
    the first, unless `allow_changed`. Hub datasets carry no fingerprint and are not checked."""
    changed = []
    for key, setting in DATA_FILES.items():
        path = data.get(setting)
        if key not in prints or not path:
            continue
        if not Path(path).exists():
            raise TunesmithError(
                "the run's data is not there any more",
                where=str(path),
                fix="put it back at that path"
                + (", or pass --data with where it is now" if key == "data" else ""),
            )
        if fingerprint(path) != prints[key]:
            changed.append(str(path))
    if changed and not allow_changed:
        raise TunesmithError(
            "the data changed since the run was trained (its fingerprint differs), so a replay "
            "would not show whether the run reproduces",
            where=changed[0],
            fix="restore the original data, or pass --allow-changed-data to replay on the data "
            "as it is now (the split and the metrics will then differ)",
        )
    for path in changed:
        info(f"Warning: {path} changed since the run was trained; replaying on it anyway.")
    if any(str(data.get(s) or "").startswith("hub:") for s in DATA_FILES.values()):
        info("Hub datasets have no fingerprint: a new version of one would change the results.")
    return changed


def explain(result: Replay, changed_environment: list[str], manifest: dict) -> list[str]:
    """Why a replay can differ, most likely first."""
    out = []
    if result.changed_data:
        out.append(f"the data changed: {', '.join(result.changed_data)}")
    if changed_environment:
        out.append("this machine differs from the original's: " + "; ".join(changed_environment))
    elif "environment" not in manifest:
        version = manifest.get("tunesmith_version", "an older tunesmith")
        out.append(
            f"the original run (tunesmith {version}) did not record its library versions and "
            "device, so another version or machine cannot be ruled out"
        )
    devices = {manifest.get("environment", {}).get("device"), _device()}
    if devices - {"cpu", None}:
        out.append(
            "on a GPU some kernels (cuDNN convolutions, atomic additions) are not bit-for-bit "
            "deterministic: small differences in the last digits are expected there"
        )
    if not out:
        out.append(
            "no change of data, libraries or device was found: this is unexpected, please "
            "report it with both runs' metrics.json"
        )
    return out


def _device() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


def _flatten(value, prefix: str = "") -> dict:
    """Nested metrics as {"per_class.sport.f1": 0.9, ...}; lists are compared whole."""
    if isinstance(value, dict):
        out = {}
        for key, inner in value.items():
            out |= _flatten(inner, f"{prefix}{key}.")
        return out
    return {prefix.rstrip("."): json.dumps(value) if isinstance(value, list) else value}


def format_replay(result: Replay) -> str:
    """The comparison for the terminal: verdict, the headline table, what could explain it."""
    lines = [
        f"Original: {result.original}",
        f"Replay:   {result.path}",
        f"Split (train/val/test rows): {'match' if result.same_split else 'DIFFERENT'}",
    ]
    rows = [
        [name, _fmt(a), _fmt(b), _fmt(b - a) if _numbers(a, b) else ""]
        for name, a, b in result.rows
    ]
    lines.append(_table(["metric", "original", "replay", "difference"], rows))
    if result.differing[0]:
        lines.append(
            f"{result.differing[0]} of {result.differing[1]} test metric values differ (per "
            "class and confusion matrix included)."
        )
    if result.identical:
        lines.append("Result: the replay matches the original exactly (split and test metrics).")
        return "\n".join(lines)
    lines.append(
        "Result: the replay does NOT match the original"
        + ("" if result.same_split else " (the split differs)")
        + ". What could explain it:"
    )
    lines += [f"  - {reason}" for reason in result.explanations]
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def _numbers(*values) -> bool:
    return all(isinstance(v, (int, float)) for v in values)


def _fmt(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
