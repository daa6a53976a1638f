"""The data doctor: what is in a dataset and what is wrong with it, each finding with its fix.

`diagnose` runs on task-ready examples (cleaned, not yet de-duplicated) and is shared by
`tunesmith inspect` and `tunesmith train` (which records the report in the run). Findings have
a severity: "error" (training stops on it), "warning" (training goes on; the result may
mislead), "info".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

from tunesmith.data.clean import example_keys, hashed, label_codes
from tunesmith.data.images import near_duplicate_hashes
from tunesmith.data.readers import describe_row
from tunesmith.data.similarity import loose_key, sample_positions, similar_across, similar_pairs
from tunesmith.tasks.base import Examples, Task

SHOW = 20  # rows listed per finding


@dataclass
class Finding:
    check: str
    severity: str  # error | warning | info
    message: str
    fix: str
    rows: list[str] = field(default_factory=list)  # where to look, e.g. "d.csv, line 7"
    # The settings its fix names, for one-click use (the studio): {"data.drop_duplicates": True}
    setting: dict | None = None


def diagnose(
    task: Task,
    examples: Examples,
    held_out: dict[str, Examples] | None = None,
    options=None,
    table: pd.DataFrame | None = None,
    seed: int = 0,
    model: str | None = None,
) -> dict:
    """Statistics and findings for `examples` (and user-supplied `held_out` splits). `model`
    (the run's --model) lends its sentence embeddings to the label check on small data."""
    held_out = held_out or {}
    frame = examples.frame
    labelled = "label" in frame and isinstance(frame["label"].iloc[0], str)
    findings: list[Finding] = []
    keys = example_keys(frame)
    text = task.input_kind == "text"
    report: dict = {"task": task.name, "rows_kept": len(frame), "columns": examples.columns}
    report["notes"] = list(examples.notes)
    if labelled:
        report |= _balance(frame["label"], examples, findings, held_out)
    elif "label" in frame:  # tag sequences, label sets: the task counts them
        report |= task.label_counts(examples)
    report["duplicates"], report["conflicting_duplicates"] = _duplicates(examples, keys, findings)
    if text:
        _near_duplicates(examples, keys, findings, seed)
    else:
        _image_findings(examples, findings)
    for split, other in held_out.items():
        _leakage(examples, other, split, findings, seed, text)
    if labelled and table is not None and "agreement" in table:
        report["annotation"] = _agreement(table, frame, findings, examples)
    if labelled and text and (options is None or options.label_issues):
        report |= _label_issues(examples, findings, seed, model)
    if text:
        lengths = keys.str.len()
        report["chars"] = {q: int(lengths.quantile(p)) for q, p in PERCENTILES.items()}
    report["findings"] = [asdict(f) for f in findings]
    return report


PERCENTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "max": 1.0}


def _rows(examples: Examples, positions) -> list[str]:
    if "phash" in examples.frame:  # images: the file says more than a row number
        return [examples.frame["input"].iloc[int(p)] for p in list(positions)[:SHOW]]
    rows = examples.frame["row"]
    return [describe_row(examples.source, int(rows.iloc[int(p)])) for p in list(positions)[:SHOW]]


def _balance(labels: pd.Series, examples, findings, held_out) -> dict:
    counts = labels.value_counts()
    out = {"labels": {str(k): int(v) for k, v in counts.items()}}
    out["imbalance_ratio"] = round(float(counts.max() / counts.min()), 2)
    if len(counts) < 2:
        findings.append(
            Finding(
                "one class",
                "error",
                f"only one class ({counts.index[0]!r}): a classifier needs at least two",
                "add examples of other classes, or check --data.label_column",
            )
        )
    parts = 2 - len(held_out)
    small = counts[counts < parts + 1]
    if parts and len(small):
        listed = ", ".join(f"{k!r} ({v})" for k, v in small.items())
        findings.append(
            Finding(
                "too small to split",
                "error",
                f"class(es) with fewer than {parts + 1} rows cannot be spread over "
                f"train/val/test: {listed}",
                "add examples, remove the class, or supply --data.val_file/--data.test_file",
            )
        )
    if out["imbalance_ratio"] >= 3:
        findings.append(
            Finding(
                "imbalance",
                "warning",
                f"imbalanced labels ({counts.max()} vs {counts.min()}, ratio "
                f"{out['imbalance_ratio']:g}:1)",
                "training weighs rare classes up by default (--train.class_weights); macro F1 "
                "is the selection metric; more examples of the rare classes help most",
                setting={"train.class_weights": "balanced"},
            )
        )
    return out


def _duplicates(examples: Examples, keys: pd.Series, findings) -> tuple[int, int]:
    labels = label_codes(examples.frame)
    pairs = pd.DataFrame({"k": hashed(keys), "l": labels})
    copies = int(pairs["k"].duplicated().sum())
    kinds = pairs.groupby("k", sort=False)["l"].nunique()
    conflicted = kinds.index[kinds > 1]
    if copies:
        findings.append(
            Finding(
                "duplicates",
                "warning",
                f"{copies} row(s) repeat an earlier text: copies could land in both train and "
                "test and inflate the score",
                "training drops them (--data.drop_duplicates)",
                _rows(examples, pairs.index[pairs["k"].duplicated()]),
                {"data.drop_duplicates": True},
            )
        )
    if len(conflicted):
        where = pairs.index[pairs["k"].isin(conflicted)]
        findings.append(
            Finding(
                "conflicting labels",
                "warning",
                f"{len(conflicted)} text(s) appear with different labels ({len(where)} rows)",
                "decide the right label and fix the file; until then training drops every "
                "copy (--data.drop_conflicts)",
                _rows(examples, where),
                {"data.drop_conflicts": True},
            )
        )
    return copies, len(conflicted)


def _near_duplicates(examples: Examples, keys: pd.Series, findings, seed: int) -> None:
    unique = ~hashed(keys).duplicated()
    loose = loose_key(keys[unique])
    close = hashed(loose).duplicated(keep=False) & (loose != "")
    positions = unique[unique].index
    sample = sample_positions(len(positions), seed)  # cosine is pairwise: a sample
    pairs = similar_pairs(keys[positions[sample]].tolist())
    near = {int(positions[sample[i]]) for p in pairs for i in p[:2]}
    near = sorted(near | set(loose.index[close]))
    if near:
        findings.append(
            Finding(
                "near duplicates",
                "warning",
                f"{len(near)} row(s) are near copies of another row (same words up to case, "
                "punctuation or a few characters): they can straddle train and test",
                "remove the copies, or keep related rows together with --data.group_column",
                _rows(examples, near),
            )
        )


def _leakage(train: Examples, other: Examples, split: str, findings, seed: int, text: bool):
    train_keys = example_keys(train.frame)
    other_keys = example_keys(other.frame)
    exact = other_keys.isin(set(train_keys))
    if exact.any():
        findings.append(
            Finding(
                f"leakage into {split}",
                "error",
                f"{int(exact.sum())} {split} row(s) also appear in the training data: the "
                f"{split} score would be inflated",
                "remove them from one file, or train with --data.leakage drop",
                _rows(other, exact[exact].index),
                {"data.leakage": "drop"},
            )
        )
    if not text:
        return
    rest = other_keys[~exact]
    near = similar_across(train_keys.tolist(), rest.tolist(), seed=seed)
    if near:
        findings.append(
            Finding(
                f"near leakage into {split}",
                "warning",
                f"{len(near)} {split} row(s) are near copies of training rows",
                "remove or rewrite them, so the score measures what the model learned",
                _rows(other, [rest.index[i] for i, _, _ in near]),
            )
        )


def _image_findings(examples: Examples, findings) -> None:
    frame = examples.frame
    pairs = near_duplicate_hashes(frame["phash"].tolist())
    near = sorted({i for pair in pairs for i in pair})
    if near:
        findings.append(
            Finding(
                "near duplicates",
                "warning",
                f"{len(near)} image(s) look almost the same as another (perceptual hash): "
                "resized or re-encoded copies can straddle train and test",
                "remove the copies, or keep related images together with --data.group_column",
                _rows(examples, near),
            )
        )
    for column, message, fix in (
        ("small", "are smaller than 32 pixels on a side", "they are upscaled; use larger images"),
        (
            "blurry",
            "are very blurry (low variance of the Laplacian)",
            "check they show what their label says; they are kept",
        ),
    ):
        flagged = frame.index[frame[column]]
        if len(flagged):
            findings.append(
                Finding(
                    column,
                    "warning",
                    f"{len(flagged)} image(s) {message}",
                    fix,
                    _rows(examples, flagged),
                )
            )


def _agreement(table: pd.DataFrame, frame: pd.DataFrame, findings, examples) -> dict:
    """Annotator agreement per class, for Label Studio exports with several annotators."""
    votes = table.iloc[frame["row"].to_numpy()]
    multi = (votes["annotators"] > 1).to_numpy()
    per_class = (
        pd.Series(votes["agreement"].to_numpy()[multi], index=frame["label"][multi].to_numpy())
        .groupby(level=0)
        .mean()
        .round(3)
    )
    ties = votes["tie"].to_numpy() & multi
    if ties.any():
        findings.append(
            Finding(
                "annotator ties",
                "warning",
                f"{int(ties.sum())} task(s) have a tied vote among annotators (the earliest "
                "annotation's label was used)",
                "have another annotator break the tie in Label Studio",
                _rows(examples, ties.nonzero()[0]),
            )
        )
    low = per_class[per_class < 0.7]
    if len(low):
        findings.append(
            Finding(
                "low agreement",
                "warning",
                "annotators often disagree on: "
                + ", ".join(f"{k!r} ({v:.0%})" for k, v in low.items()),
                "clarify the labelling guideline for those classes",
            )
        )
    return {"tasks_with_several_annotators": int(multi.sum()), "agreement": per_class.to_dict()}


def _label_issues(examples: Examples, findings, seed: int, model: str | None) -> dict:
    from tunesmith.data.label_issues import check_labels

    frame = examples.frame
    check = check_labels(frame["input"].tolist(), frame["label"].tolist(), seed, model)
    issues = check.pop("issues")
    for issue in issues:
        position = issue.pop("index")
        issue["row"] = int(frame["row"].iloc[position])
        issue["where"] = describe_row(examples.source, issue["row"])
        issue["text"] = frame["input"].iloc[position]
    if check["rows_checked"] and not check["trusted"]:
        findings.append(
            Finding(
                "label check",
                "info",
                f"the quick model ({check['quick_model']}) reaches only "
                f"{check['balanced_accuracy']:.0%} out-of-fold balanced accuracy "
                f"({check['accuracy']:.0%} accuracy, majority class "
                f"{check['majority_accuracy']:.0%}): too weak to judge labels, so no rows are "
                f"listed (it disagrees with {check['disagreements']} of them, mostly its own "
                "mistakes)",
                "check a random sample of labels by hand; after training, the run's report "
                "shows the fine-tuned model's most confident mistakes",
            )
        )
    elif issues:
        share = check["likely_mislabelled"] / check["rows_checked"]
        findings.append(
            Finding(
                "possible label errors",
                "warning",
                f"about {check['likely_mislabelled']} row(s) ({share:.1%}) look mislabelled to a "
                f"quick model trained without them ({check['quick_model']}, "
                f"{check['balanced_accuracy']:.0%} out-of-fold balanced accuracy; confident "
                "learning), most suspect first; e.g. "
                + "; ".join(
                    f"{i['where']}: {i['label']!r}, looks like {i['suggested']!r}"
                    for i in issues[:3]
                ),
                "review them: `tunesmith inspect DATA --export-label-studio review.json`, "
                "import into Label Studio, export, and train on the export",
                [i["where"] for i in issues[:SHOW]],
            )
        )
    return {"label_check": check, "label_issues": issues}
