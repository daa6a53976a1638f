"""Label Studio JSON exports in and out.

In: choices become a label (text or image tasks), labelled spans become NER entities (character
offsets, so Chinese works). Several annotators on one task: choices go by majority vote (a tie
goes to the earliest annotation and is counted, `tie` column), the share of annotators who
agree with the result is kept (`agreement`) for the doctor's per-class report; spans come from
the latest annotation. Multi-choice exports (an annotation with several choices) also get a
`choices` column: every choice of the latest annotation, a list per row (multi-label).
Out: rows to review as Label Studio tasks with a pre-annotation.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from tunesmith.errors import TunesmithError


def is_label_studio(records: list) -> bool:
    return bool(records) and all(
        isinstance(r, dict) and "data" in r and ("annotations" in r or "predictions" in r)
        for r in records[:20]
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


def label_studio_frame(records: list[dict], source: str = "Label Studio export") -> pd.DataFrame:
    rows = []
    for task in records:
        annotations = [r for r in _results(task) if r]
        if not annotations:
            continue
        spans = [[r for r in result if r.get("type") == "labels"] for result in annotations]
        choices = [
            [c for r in result if r.get("type") == "choices" for c in r["value"]["choices"]]
            for result in annotations
        ]
        data = task["data"]
        row: dict = {"annotators": len(annotations)}
        if "image" in data:
            row["image"] = str(data["image"])
        else:
            row["text"] = _text(data)
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
            ranked = votes.most_common()
            row["label"] = ranked[0][0] if ranked else ""
            row["tie"] = len(ranked) > 1 and ranked[0][1] == ranked[1][1]
            row["agreement"] = ranked[0][1] / sum(votes.values()) if ranked else 0.0
            row["choices"] = next((c for c in reversed(choices) if c), [])
        rows.append(row)
    if not any(len(row.get("choices", ())) > 1 for row in rows):  # single choice: one label
        for row in rows:
            row.pop("choices", None)
    if not rows:
        raise TunesmithError(
            f"none of the {len(records)} Label Studio tasks has an annotation",
            where=source,
            fix="annotate (and submit) tasks in Label Studio, then export again",
        )
    return pd.DataFrame(rows)


def review_tasks(rows: list[dict], label_name: str = "label") -> list[dict]:
    """Label Studio tasks for rows to review: {"text", "label", "suggested", "score", "row"}.

    The current label is the pre-annotation (so the reviewer confirms or changes it); the
    suggestion and its confidence are in the task's data, visible in the labelling view."""
    tasks = []
    for row in rows:
        tasks.append(
            {
                "data": {
                    "text": row["text"],
                    "row": row["row"],
                    "given_label": row["label"],
                    "suggested_label": row["suggested"],
                },
                "predictions": [
                    {
                        "model_version": "tunesmith-doctor",
                        "score": float(row["score"]),
                        "result": [
                            {
                                "from_name": label_name,
                                "to_name": "text",
                                "type": "choices",
                                "value": {"choices": [row["label"]]},
                            }
                        ],
                    }
                ],
            }
        )
    return tasks
