"""Retrain on the grown dataset and promote the new version only when it is measurably better.

The training pool is the original training rows, plus new data (all but a held-out tenth),
plus the corrections collected by the service; a text already in the pool with another label
takes the newer label (counted and reported). The frozen test set is the original test split
plus the held-out slices of new data: no version ever trains on it, and the live and the new
version are scored on exactly the same rows.

The gate: the new version becomes live only if its macro-F1 beats the live one's by `margin`
and no class loses more than `max_class_drop` F1; otherwise it is kept, not promoted, and the
decision says why.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import yaml

from tunesmith.console import info
from tunesmith.errors import TunesmithError
from tunesmith.feedback import versions
from tunesmith.run_dir import write_atomic

POOL = "retrain"  # RUN/retrain/: the training pool and the frozen test set, as CSV


def retrain(
    run_dir: str | Path,
    *,
    add: str | None = None,
    use_feedback: bool = True,
    start: str = "live",
    margin: float = 0.0,
    max_class_drop: float = 0.05,
    seed: int = 42,
) -> dict:
    import tunesmith
    from tunesmith.data.clean import clean_text
    from tunesmith.data.readers import read_table
    from tunesmith.feedback.store import FeedbackStore, db_path

    root = Path(run_dir)
    live = tunesmith.load(root)
    if not live.task.collects_feedback:
        raise TunesmithError(
            f"retraining from feedback is not available for {live.task.name} runs yet",
            where=f"tunesmith retrain {root}",
            fix="train a new run with `tunesmith train` on the grown data",
        )
    train, test = _pools(root, live)
    notes = []
    if add:
        new = live.task.prepare(
            read_table(add, "--add", live.data_options), add, {}, live.data_options
        ).frame[["input", "label"]]
        held = new.sample(frac=0.1, random_state=seed) if len(new) >= 10 else new.iloc[:0]
        test = pd.concat([test, held], ignore_index=True)
        train, note = _merge(train, new.drop(held.index), f"new data ({add})")
        notes += [note, f"Held out {len(held)} new row(s) for the frozen test set."]
    if use_feedback and db_path(root).is_file():
        store = FeedbackStore(root)
        rows = [
            {"input": clean_text(c["input"], live.data_options), "label": c["label"]}
            for c in store.corrections()
        ]
        store.close()
        if rows:
            train, note = _merge(train, pd.DataFrame(rows), "feedback corrections")
            notes.append(note)
    leaked = train["input"].isin(set(test["input"]))
    if leaked.any():
        train = train[~leaked]
        notes.append(
            f"Dropped {int(leaked.sum())} training row(s) that are in the frozen test set."
        )
    for note in notes:
        info(note)
    name = versions.next_name(root)
    folder = root / POOL
    folder.mkdir(exist_ok=True)
    train_csv, test_csv = folder / f"{name}_train.csv", folder / f"{name}_test.csv"
    _write(train, train_csv)
    _write(test, test_csv)
    _write(train, folder / "train.csv")  # the pool the next retrain grows from
    _write(test, folder / "test.csv")
    saved = yaml.safe_load((live.path / "run_config.yaml").read_text(encoding="utf-8"))
    model = str(live.path) if start == "live" else live.manifest["base_model"]
    info(
        f"Training {name} from {'the live version' if start == 'live' else model} on "
        f"{len(train)} rows; frozen test set: {len(test)} rows."
    )
    new_model = tunesmith.train(
        train_csv,
        model=model,
        out=str(root / "versions" / name),
        overwrite=True,
        data={"text_column": "text", "label_column": "label", "test_file": str(test_csv)},
        train={k: saved["train"][k] for k in ("epochs", "batch_size", "max_length", "seed")},
    )
    return _gate(root, name, live, new_model, test_csv, margin, max_class_drop, notes)


def _pools(root: Path, live) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The accumulated pools, or on the first retrain the original run's train+val and test."""
    from tunesmith.export.onnx import test_examples

    folder = root / POOL
    if (folder / "train.csv").is_file():
        read = lambda p: pd.read_csv(p, dtype=str, keep_default_na=False).rename(  # noqa: E731
            columns={"text": "input"}
        )
        return read(folder / "train.csv"), read(folder / "test.csv")
    first = live  # before the first retrain the live version is the original run
    test = test_examples(first).frame[["input", "label"]]
    splits = (first.path / "splits.json").read_text(encoding="utf-8")
    import json

    rows = set(json.loads(splits)["train"]) | set(json.loads(splits)["val"])
    options = first.data_options
    from tunesmith.data.readers import read_splits

    table = read_splits(options.path, "--data.path", options)["train"]
    examples = first.task.prepare(table, options.path, first.manifest["columns"], options)
    train = examples.frame[examples.frame["row"].isin(rows)][["input", "label"]]
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _merge(pool: pd.DataFrame, new: pd.DataFrame, what: str) -> tuple[pd.DataFrame, str]:
    """Add `new` rows; a text already in the pool takes the newer label."""
    known = dict(zip(pool["input"], pool["label"], strict=True))
    same = sum(known.get(t) == label for t, label in zip(new["input"], new["label"], strict=True))
    changed = sum(
        t in known and known[t] != label
        for t, label in zip(new["input"], new["label"], strict=True)
    )
    merged = pd.concat([pool, new], ignore_index=True).drop_duplicates("input", keep="last")
    note = (
        f"Added {len(new) - same - changed} row(s) from {what}; {same} already known; "
        f"{changed} relabelled an existing text (the newer label wins)."
    )
    return merged.reset_index(drop=True), note


def _write(frame: pd.DataFrame, path: Path) -> None:
    write_atomic(path, frame.rename(columns={"input": "text"}).to_csv(index=False))


def _gate(root, name, live, new_model, test_csv, margin, max_class_drop, notes) -> dict:
    """Score the live version on the same frozen test set, compare, promote or keep."""
    new_metrics = new_model.metrics["test"]
    table = pd.read_csv(test_csv, dtype=str, keep_default_na=False)
    known = table["label"].isin(set(live.labels))
    if not known.all():  # the live model cannot be scored on classes it never saw
        table = table[known]
        notes.append(f"{int((~known).sum())} test row(s) have classes the live version lacks.")
        write_atomic(test_csv.with_name(f"{name}_test_live.csv"), table.to_csv(index=False))
        test_csv = test_csv.with_name(f"{name}_test_live.csv")
    live_metrics = live.evaluate(test_csv, "text", "label")
    per_class = {
        label: {
            "live": live_metrics["per_class"][label]["f1"],
            "new": new_metrics["per_class"].get(label, {}).get("f1", 0.0),
        }
        for label in live.labels
    }
    gain = new_metrics["f1_macro"] - live_metrics["f1_macro"]
    worst = min(per_class.items(), key=lambda kv: kv[1]["new"] - kv[1]["live"])
    drop = worst[1]["live"] - worst[1]["new"]
    if gain < margin:
        decision = (
            f"kept, not promoted: macro-F1 {new_metrics['f1_macro']:.4f} vs live "
            f"{live_metrics['f1_macro']:.4f} ({gain:+.4f}; the gate needs {margin:+.4f})"
        )
    elif drop > max_class_drop:
        decision = (
            f"kept, not promoted: class {worst[0]!r} loses {drop:.4f} F1 (the gate "
            f"allows {max_class_drop:.4f})"
        )
    else:
        decision = (
            f"promoted: macro-F1 {new_metrics['f1_macro']:.4f} vs live "
            f"{live_metrics['f1_macro']:.4f} ({gain:+.4f}); no class lost more than "
            f"{max_class_drop:.4f}"
        )
    promoted = decision.startswith("promoted")
    state = versions.read(root)
    state["versions"][name] = {
        "path": f"versions/{name}",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "test": new_model.task.headline(new_metrics),
        "live_on_same_test": live.task.headline(live_metrics),
        "compared_with": state["live"],
        "per_class_f1": per_class,
        "decision": decision,
        "notes": notes,
    }
    versions.write(root, state)
    if promoted:
        state = versions.promote(root, name)
    info(format_comparison(name, state["versions"][name]))
    return state["versions"][name] | {"name": name, "promoted": promoted}


def format_comparison(name: str, entry: dict) -> str:
    lines = [
        f"{name} against {entry['compared_with']} on the same frozen test set:",
        f"  {'class':<16} {'live F1':>8} {'new F1':>8} {'change':>8}",
    ]
    for label, f1 in entry["per_class_f1"].items():
        lines.append(
            f"  {label:<16} {f1['live']:>8.4f} {f1['new']:>8.4f} {f1['new'] - f1['live']:>+8.4f}"
        )
    lines.append(f"Decision: {entry['decision']}")
    return "\n".join(lines)
