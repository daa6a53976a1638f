"""The data doctor on a dataset page: `inspect_data` run in-process as `tunesmith inspect`
runs it, its report cached in the dataset's folder; each finding in the page's language
(keyed by the finding's `check`, numbers from the report, the English text where no
translation exists); and the fixes applied with one click, kept as settings of the dataset
that the settings form starts from. The doctor runs in a thread while the page says so: on
a large file it takes a while, and the page must answer at once."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from pathlib import Path

from tunesmith.run_dir import write_atomic
from tunesmith.studio.i18n import catalog

REPORT = "doctor.json"
SETTINGS = "settings.json"
# Stored settings that change what the doctor reads (the others only change training, so an
# applied fix does not hide the finding it answers).
READING = {"task", "model", "data.text_column", "data.label_column", "data.image_column"}
READING |= {"data.group_column", "data.val_file", "data.test_file", "data.encoding"}
READING |= {"data.delimiter", "data.sheet", "data.label_issues", "data.caption_template"}


def load_settings(folder: Path) -> dict:
    path = folder / SETTINGS
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def store_settings(folder: Path, settings: dict) -> dict:
    merged = load_settings(folder) | settings
    (folder / SETTINGS).write_text(json.dumps(merged, ensure_ascii=False, indent=2), "utf-8")
    return merged


def nested(dotted: dict) -> dict:
    """{"data.drop_duplicates": True} -> {"data": {"drop_duplicates": True}}."""
    out: dict = {}
    for key, value in dotted.items():
        group, _, name = key.rpartition(".")
        (out.setdefault(group, {}) if group else out)[name] = value
    return out


def report(folder: Path, data_path: str) -> dict:
    """The doctor's report for this data and its reading settings, from the cache when those
    have not changed since it was made."""
    key, found = _cached(folder, data_path)
    if found is not None:
        return found
    from tunesmith.api import resolve_config
    from tunesmith.data.inspection import inspect_data

    reading = {k: v for k, v in load_settings(folder).items() if k in READING}
    found = inspect_data(resolve_config(data_path, overrides=nested(reading)))
    write_atomic(folder / REPORT, json.dumps({"key": key, "report": found}, ensure_ascii=False))
    return found


def report_when_ready(folder: Path, data_path: str) -> dict | None:
    """The report if it is made; else None, with the doctor started in a thread of its own (once)
    so the page can say it is checking and look again. Its error is raised at the next look."""
    _, found = _cached(folder, data_path)
    if found is not None:
        return found
    with _lock:
        if folder in _failed:
            raise _failed.pop(folder)
        if folder not in _running or not _running[folder].is_alive():
            _running[folder] = threading.Thread(
                target=_check, args=(folder, data_path), name="tunesmith-doctor", daemon=True
            )
            _running[folder].start()
    return None


_lock = threading.Lock()
_running: dict[Path, threading.Thread] = {}
_failed: dict[Path, Exception] = {}


def _check(folder: Path, data_path: str) -> None:
    try:
        report(folder, data_path)
    except Exception as exc:  # shown on the dataset page: a TunesmithError says what to do
        with _lock:
            _failed[folder] = exc


def _cached(folder: Path, data_path: str) -> tuple[str, dict | None]:
    reading = {k: v for k, v in load_settings(folder).items() if k in READING}
    try:  # a pointed-at file the user has edited since is checked again
        stat = Path(data_path).stat()
        version = [stat.st_mtime_ns, stat.st_size]
    except OSError:
        version = None
    key = [data_path, version, reading]
    key = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    cache = folder / REPORT
    if cache.is_file():
        cached = json.loads(cache.read_text(encoding="utf-8"))
        if cached.get("key") == key:
            return key, cached["report"]
    return key, None


def forget(folder: Path) -> None:
    (folder / REPORT).unlink(missing_ok=True)


def slug(check: str) -> str:
    for prefix in ("near leakage into ", "leakage into "):
        if check.startswith(prefix):
            return prefix.strip().replace(" into", "").replace(" ", "_")
    return check.replace(" ", "_")


def shown(findings: list[dict], report: dict, t, lang: str, applied: dict) -> list[dict]:
    """Each finding with its title, message and fix in the page's language, whether its
    one-click setting is applied, and what that does."""
    out = []
    for finding in findings:
        name = slug(finding["check"])
        if name == "near_duplicates" and "chars" not in report:
            name = "near_images"
        try:
            values = _values(name, finding, report, t)
        except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError):
            values = None
        setting = finding.get("setting") or None
        # ids and data-check: the check's own name, so leakage into val and test differ
        item = dict(finding, slug=name, anchor=finding["check"].replace(" ", "_"), setting=setting)
        item["title"] = _text(t, lang, f"data.check.{name}.title", None) or finding["check"]
        item["text"] = _text(t, lang, f"data.check.{name}.message", values) or finding["message"]
        item["fix_text"] = _text(t, lang, f"data.check.{name}.fix", values) or finding["fix"]
        if setting:
            item["applied"] = all(applied.get(k) == v for k, v in setting.items())
            does = _text(t, lang, f"data.check.{name}.applies", values)
            item["applies"] = does or ", ".join(f"--{k} {v}" for k, v in setting.items())
        out.append(item)
    return out


def _text(t, lang: str, key: str, values: dict | None) -> str | None:
    if key not in catalog("en"):
        return None
    if values is None and "{" in catalog("en")[key]:
        return None  # it needs numbers this finding did not give: the English message
    try:
        return t(key, **(values or {}))
    except (KeyError, IndexError, ValueError):  # a value this finding did not give
        return None


def _numbers(text: str) -> list[str]:
    return re.findall(r"\d[\d,]*(?:\.\d+)?", text)


def _values(name: str, finding: dict, report: dict, t) -> dict:
    numbers = _numbers(finding["message"])
    count = numbers[0] if numbers else ""
    values: dict = {"count": count}
    if name == "duplicates":
        values["count"] = report["duplicates"]
    elif name == "conflicting_labels":
        values |= {"count": report["conflicting_duplicates"], "rows": numbers[1]}
    elif name in ("leakage", "near_leakage"):
        values["split"] = t(f"data.split.{finding['check'].rsplit(' ', 1)[1]}")
    elif name == "imbalance":
        counts = report["labels"].values()
        values = {
            "most": max(counts),
            "fewest": min(counts),
            "ratio": f"{report['imbalance_ratio']:g}",
        }
    elif name == "one_class":
        values = {"label": next(iter(report["labels"]))}
    elif name == "too_small_to_split":
        values = {"min": count, "classes": finding["message"].split(": ", 1)[1]}
    elif name in ("possible_label_errors", "label_check"):
        check = report["label_check"]
        values = {
            "count": check["likely_mislabelled"],
            "model": check["quick_model"],
            "accuracy": f"{check['balanced_accuracy']:.0%}",
            "majority": f"{check['majority_accuracy']:.0%}",
        }
    elif name == "truncation":
        tokens = report["tokens"]
        values = {"share": f"{tokens['truncated_share']:.0%}", "max_length": tokens["max_length"]}
        values |= {"fit": numbers[-1], "value": (finding.get("setting") or {})["train.max_length"]}
    elif name == "vocabulary":
        model = re.search(r"--model (\S+)", finding["fix"])
        values = {"model": report["model"], "share": f"{report['tokens']['unknown_share']:.0%}"}
        values["multilingual"] = model.group(1) if model else ""
    elif name == "low_agreement":
        values = {"classes": finding["message"].split(": ", 1)[1]}
    return values
