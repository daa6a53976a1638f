"""Label Studio JSON exports -> plain rows: choices become a label, labelled spans become NER
entities (character offsets, so Chinese works). Several annotators: majority vote for choices
(ties go to the earliest annotation), the latest annotation for spans."""

from __future__ import annotations

from collections import Counter

import pandas as pd


def is_label_studio(records: list) -> bool:
    return bool(records) and all(
        isinstance(r, dict) and "data" in r and "annotations" in r for r in records[:20]
    )


def _results(task: dict) -> list[list[dict]]:
    """The result lists of the task's annotations that were not cancelled, oldest first."""
    kept = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    return [a.get("result") or [] for a in kept]


def _text(data: dict) -> str:
    if "text" in data:
        return str(data["text"])
    strings = [v for v in data.values() if isinstance(v, str)]
    return max(strings, key=len) if strings else ""


def label_studio_frame(records: list[dict]) -> pd.DataFrame:
    rows = []
    for task in records:
        annotations = _results(task)
        spans = [[r for r in result if r.get("type") == "labels"] for result in annotations]
        choices = [
            [c for r in result if r.get("type") == "choices" for c in r["value"]["choices"]]
            for result in annotations
        ]
        row = {"text": _text(task["data"]), "annotators": len(annotations)}
        if any(spans):
            latest = next(s for s in reversed(spans) if s)
            row["entities"] = [
                {
                    "start": r["value"]["start"],
                    "end": r["value"]["end"],
                    "label": r["value"]["labels"][0],
                }
                for r in sorted(latest, key=lambda r: r["value"]["start"])
            ]
        else:
            votes = Counter(c[0] for c in choices if c)
            row["label"] = votes.most_common(1)[0][0] if votes else ""
        rows.append(row)
    return pd.DataFrame(rows)
