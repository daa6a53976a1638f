"""`tunesmith inspect`: what is in a dataset and what may go wrong, before an hour of training.

A first version of the data doctor: rows kept and dropped, the columns and task chosen, label
balance, duplicates (and duplicates with conflicting labels, which leak between splits), text
length, the share of Chinese, the model tunesmith would pick, and how much of the text that
model's vocabulary cannot read or must cut.
"""

from __future__ import annotations

from collections import Counter

from tunesmith import tasks
from tunesmith.data.readers import read_table


def inspect_data(
    path: str,
    *,
    task: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    model: str | None = None,
    max_length: int = 128,
) -> dict:
    table = read_table(path, "inspect DATA")
    chosen = tasks.get(task or tasks.detect(table))
    examples = chosen.prepare(table, path, {"text": text_column, "label": label_column})
    frame = examples.frame
    keys = [x if isinstance(x, str) else " ".join(x) for x in frame["input"]]
    labels = [x if isinstance(x, str) else " ".join(x) for x in frame["label"]]
    seen: dict[str, set[str]] = {}
    for key, label in zip(keys, labels, strict=True):
        seen.setdefault(key, set()).add(label)
    if chosen.name == "ner":
        balance = Counter(t[2:] for tags in frame["label"] for t in tags if t.startswith("B-"))
    else:
        balance = Counter(labels)
    texts = chosen.texts(examples)
    report = {
        "source": path,
        "task": chosen.name,
        "rows_read": len(table),
        "rows_kept": len(frame),
        "columns": examples.columns,
        "notes": examples.notes,
        "labels": dict(balance.most_common()),
        "duplicates": len(keys) - len(seen),
        "conflicting_duplicates": sum(1 for s in seen.values() if len(s) > 1),
        "chars_median": sorted(len(k) for k in keys)[len(keys) // 2],
        "chars_max": max(len(k) for k in keys),
    }
    from tunesmith.models.vocabulary import chinese_share, choose_model

    report["chinese_share"] = round(chinese_share(texts), 3)

    report["model"] = model or choose_model(chosen, texts)
    report["vocabulary"] = _coverage(report["model"], texts, max_length)
    return report


def _coverage(model: str, texts: list[str], max_length: int) -> dict:
    from transformers import AutoTokenizer

    from tunesmith.console import quiet_libraries
    from tunesmith.models.loading import load_or_explain, resolve
    from tunesmith.models.vocabulary import coverage

    quiet_libraries()
    source, _ = resolve(model)
    tokenizer = load_or_explain(AutoTokenizer, source, model)
    shares = coverage(tokenizer, texts, max_length)
    return {
        "unknown_share": round(shares["unknown"], 4),
        "truncated_share": round(shares["truncated"], 4),
        "max_length": max_length,
    }


def format_report(report: dict) -> str:
    from tunesmith.models.vocabulary import WARN_SHARE

    vocab = report["vocabulary"]
    largest = max(report["labels"].values()) if report["labels"] else 0
    smallest = min(report["labels"].values()) if report["labels"] else 0
    lines = [
        f"{report['source']}: {report['rows_read']} rows read, {report['rows_kept']} usable",
        f"  task {report['task']}; columns: "
        + ", ".join(f"{role} = {name!r}" for role, name in report["columns"].items()),
        *(f"  {note}" for note in report["notes"]),
        f"  {'entity types' if report['task'] == 'ner' else 'labels'} "
        f"({len(report['labels'])}): "
        + ", ".join(f"{k} {v}" for k, v in list(report["labels"].items())[:15]),
        f"  text length: median {report['chars_median']} characters, longest "
        f"{report['chars_max']}; Chinese {report['chinese_share']:.0%} of characters",
        f"  model {report['model']}: {vocab['unknown_share']:.1%} of tokens unknown, "
        f"{vocab['truncated_share']:.1%} of texts longer than {vocab['max_length']} tokens",
    ]
    problems = []
    if report["duplicates"]:
        problems.append(
            f"{report['duplicates']} duplicate texts ({report['conflicting_duplicates']}"
            " with conflicting labels): copies can land in both train and test"
        )
    if smallest and largest >= 3 * smallest:
        handled = (
            "training weighs rare classes up by default (--train.class_weights)"
            if report["task"] != "ner"
            else "--train.class_weights balanced weighs rare tags up"
        )
        problems.append(f"imbalanced labels ({largest} vs {smallest}): {handled}")
    if vocab["unknown_share"] > WARN_SHARE:
        problems.append(
            "the model cannot read much of this text: use --model "
            "multilingual-e5-small or --train.extend_vocab"
        )
    if vocab["truncated_share"] > 0.2:
        problems.append(
            f"{vocab['truncated_share']:.0%} of texts are cut at "
            f"{vocab['max_length']} tokens: consider --train.max_length 256"
        )
    lines += [f"  ! {p}" for p in problems] or ["  no problems found"]
    return "\n".join(lines)
