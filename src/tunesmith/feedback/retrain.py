"""Retrain on the grown dataset and promote the new version only when it is measurably better.

Works for every task that has a `feedback` piece (tasks/feedback.py): the task says what a
correction becomes and how its examples are written, so this module never looks inside one.

The training pool is the original training rows, plus new data (all but a held-out tenth),
plus the corrections collected by the service; an example already in the pool (by the task's
key: the text, the image's bytes, the chat's prompt) with another answer takes the newer one
(counted and reported). Validation and the frozen test set are the original splits plus
held-out slices of new data: no version ever trains on them, and the live and the new version
are scored on exactly the same rows.

Pools live in RUN/retrain/ as JSON Lines the task's own `prepare` reads, images beside them in
RUN/retrain/images/ (hard links where the file system allows), so every version's data is a
self-contained folder the normal training path reads.

The gate: the new version becomes live only if it is better on the task's promotion metric by
more than luck (paired tests on the frozen test set, feedback/significance.py: McNemar where
answers are right or wrong per row, a paired bootstrap of the metric; p < `alpha`), by at
least `margin`, and no class loses more than `max_class_drop` F1 (where the task measures
classes); otherwise it is kept, not promoted, and the decision says why.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import yaml

from tunesmith.console import info
from tunesmith.errors import TunesmithError
from tunesmith.feedback import versions
from tunesmith.run_dir import CONFIG, write_atomic

POOL = "retrain"  # RUN/retrain/: the training pool, validation and the frozen test set
SPLITS = ("train", "val", "test")
# The live run's training settings a new version keeps (as resolved when it trained: the
# learning rate and freezing it really used), so a retrain differs only in its data.
KEPT_SETTINGS = (
    "epochs",
    "learning_rate",
    "batch_size",
    "grad_accum",
    "weight_decay",
    "warmup",
    "max_length",
    "freeze",
    "precision",
    "seed",
)
# Data settings that name the original files or columns; the pool has its own.
FILE_SETTINGS = ("path", "val_file", "test_file", "text_column", "label_column", "image_column")


def retrain(
    run_dir: str | Path,
    *,
    add: str | None = None,
    use_feedback: bool = True,
    start: str = "live",
    margin: float = 0.0,
    max_class_drop: float = 0.05,
    alpha: float = 0.05,
    seed: int = 42,
) -> dict:
    import tunesmith
    from tunesmith.data.readers import read_table

    root = Path(run_dir)
    live = tunesmith.load(root)
    rules = live.task.feedback
    if rules is None:
        raise TunesmithError(
            f"{live.task.name} runs take no feedback, so they cannot be retrained from it",
            where=f"tunesmith retrain {root}",
            fix="train a new run with `tunesmith train` on the grown data",
        )
    pool = Pool(root / POOL, live)
    splits = pool.start()
    batches, notes = [("the pool", splits["train"])], []
    if add:
        new = live.task.prepare(
            read_table(add, "--add", live.data_options), add, {}, live.data_options
        ).frame
        share = 0.1 if len(new) >= 10 else 0.0
        test = new.sample(frac=share, random_state=seed)
        val = new.drop(test.index).sample(frac=share / 0.9, random_state=seed)
        splits["test"] += pool.records(test)
        splits["val"] += pool.records(val)
        batches.append((f"new data ({add})", pool.records(new.drop(test.index).drop(val.index))))
        notes.append(
            f"Held out {len(test)} new row(s) for the frozen test set and {len(val)} for "
            "validation."
        )
    if use_feedback:
        corrections, ratings = pool.feedback()
        if corrections:
            batches.append(("feedback corrections", corrections))
        if ratings:
            notes.append(f"{ratings} thumbs-down rating(s) kept in feedback.db, not trained on.")
    train, merge_notes = pool.merge(batches)
    splits["train"], dropped = pool.without(train, splits["val"] + splits["test"])
    notes = merge_notes + notes
    if dropped:
        notes.append(f"Dropped {dropped} training row(s) that are in the validation or test set.")
    for note in notes:
        info(note)
    name = versions.next_name(root)
    files = pool.save(name, splits)
    saved = yaml.safe_load((live.path / CONFIG).read_text(encoding="utf-8"))
    if start == "live" and not (live.path / "config.json").is_file():
        info("The live version holds LoRA adapters only: training starts from its base model.")
        start = "base"
    model = str(live.path) if start == "live" else live.manifest["base_model"]
    info(
        f"Training {name} from {'the live version' if start == 'live' else model} on "
        f"{len(splits['train'])} rows; frozen test set: {len(splits['test'])} rows."
    )
    data = {k: v for k, v in (saved.get("data") or {}).items() if k not in FILE_SETTINGS}
    new_model = tunesmith.train(
        files["train"],
        task=live.task.name,
        model=model,
        out=str(root / "versions" / name),
        overwrite=True,
        data=data | {f"{s}_file": str(files[s]) for s in ("val", "test")} | {"leakage": "drop"},
        train={k: saved["train"][k] for k in KEPT_SETTINGS if k in saved["train"]},
    )
    return _gate(root, name, live, new_model, files["test"], margin, max_class_drop, notes, alpha)


class Pool:
    """RUN/retrain/: the records retrain trains and tests on, and the images they name."""

    def __init__(self, folder: Path, live):
        self.folder, self.live, self.task = folder, live, live.task
        self.rules = live.task.feedback
        self.images = folder / "images"

    def keep_file(self, path: str) -> str:
        """A copy of an example's file in the pool (by content, so each is kept once), as the
        path the pool's records write: relative to the pool folder."""
        source = Path(path)
        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:32]
        target = self.images / f"{digest}{source.suffix.lower()}"
        if not target.is_file():
            self.images.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)  # no copy on the same disk
            except OSError:
                shutil.copyfile(source, target)
        return target.relative_to(self.folder).as_posix()

    def records(self, frame: pd.DataFrame) -> list[dict]:
        return [self.rules.pool_record(row, self.keep_file) for row in frame.to_dict("records")]

    def start(self) -> dict[str, list[dict]]:
        """The accumulated train/val/test pools, or on the first retrain the original run's
        splits. Validation is fixed too, so a class that only corrections know can train."""
        if (self.folder / "train.jsonl").is_file():
            return {split: self.read(f"{split}.jsonl") for split in SPLITS}
        return {split: self.records(ex.frame) for split, ex in run_splits(self.live).items()}

    def read(self, name: str) -> list[dict]:
        text = (self.folder / name).read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def feedback(self) -> tuple[list[dict], int]:
        """Stored corrections as records, and how many ratings are kept but not trained on."""
        from tunesmith.feedback.store import FeedbackStore, db_path

        root = self.folder.parent
        if not db_path(root).is_file():
            return [], 0
        store = FeedbackStore(root)
        corrections, ratings = store.corrections(), store.count("rating")
        store.close()
        if self.task.input_kind == "image":  # stored under the run: feedback/images/...
            corrections = [c | {"input": str(root / c["input"])} for c in corrections]
        records, unused = self.rules.records(corrections, self.live, self.keep_file)
        if unused:
            info(f"{unused} rating(s) found no answer to pair with; not trained on.")
        return records, ratings

    def prepared(self, records: list[dict], name: str):
        """`records` as the task reads them from a pool file (cleaning included)."""
        from tunesmith.data.readers import read_table

        path = self.folder / name
        self.folder.mkdir(parents=True, exist_ok=True)
        write_records(path, records)
        try:
            table = read_table(path, "--data.path", self.live.data_options)
            return self.task.prepare(table, str(path), {}, self.live.data_options)
        finally:
            path.unlink()

    def merge(self, batches: list[tuple[str, list[dict]]]) -> tuple[list[dict], list[str]]:
        """The batches' records in order; a record whose key an earlier batch has replaces
        those (the newer answer wins). Duplicates within one batch are all kept (a prompt may
        have several good answers)."""
        origins = [i for i, (_, records) in enumerate(batches) for _ in records]
        examples = self.prepared([r for _, records in batches for r in records], ".merge.jsonl")
        frame = examples.frame
        keys = self.rules.keys(frame)
        kept: dict[str, list[tuple[int, dict]]] = {}
        counts = [{"added": 0, "known": 0, "replaced": 0} for _ in batches]
        for key, row in zip(keys, frame.to_dict("records"), strict=True):
            origin, record = origins[int(row["row"])], self.rules.pool_record(row, self.keep_file)
            earlier = [r for o, r in kept.get(key, []) if o < origin]
            if earlier:
                same = all(r == record for r in earlier)
                counts[origin]["known" if same else "replaced"] += 1
                kept[key] = [(o, r) for o, r in kept[key] if o == origin]
            else:
                counts[origin]["added"] += 1
            kept.setdefault(key, []).append((origin, record))
        notes = [
            f"Added {c['added']} row(s) from {name}; {c['known']} already known; "
            f"{c['replaced']} gave an example a new answer (the newer answer wins)."
            for (name, _), c in list(zip(batches, counts, strict=True))[1:]
        ]
        dropped = len(origins) - len(frame)
        if dropped:
            notes.append(f"{dropped} row(s) were dropped on reading: {' '.join(examples.notes)}")
        return [record for group in kept.values() for _, record in group], notes

    def without(self, train: list[dict], held: list[dict]) -> tuple[list[dict], int]:
        """Training records whose example is in `held` (validation, test), removed."""
        test_keys = set(self.rules.keys(self.prepared(held, ".held.jsonl").frame))
        frame = self.prepared(train, ".train.jsonl").frame
        keys = self.rules.keys(frame)
        keep = [
            self.rules.pool_record(row, self.keep_file)
            for row, key in zip(frame.to_dict("records"), keys, strict=True)
            if key not in test_keys
        ]
        return keep, len(train) - len(keep)

    def save(self, name: str, splits: dict[str, list[dict]]) -> dict[str, Path]:
        """This version's pool files, and the pool the next retrain grows from."""
        paths = {split: self.folder / f"{name}_{split}.jsonl" for split in SPLITS}
        for split, records in splits.items():
            write_records(paths[split], records)
            write_records(self.folder / f"{split}.jsonl", records)
        return paths


def write_records(path: Path, records: list[dict]) -> None:
    write_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def run_splits(model) -> dict:
    """A finished run's train/val/test examples, read again from its data as training split it
    (the rows in splits.json)."""
    from tunesmith.api import resolve_config
    from tunesmith.data.inspection import read_examples

    saved = yaml.safe_load((model.path / CONFIG).read_text(encoding="utf-8"))
    cfg = resolve_config(config=saved)
    _, _, main, given = read_examples(cfg)
    rows = json.loads((model.path / "splits.json").read_text(encoding="utf-8"))
    out = {}
    for split in ("train", "val", "test"):
        examples = given.get(split, main)
        keep = examples.frame["row"].isin(set(rows[split]))
        out[split] = examples.subset(list(keep[keep].index))
    return out


def _metric(metrics: dict, path: str) -> float:
    for part in path.split("."):
        metrics = metrics[part]
    return float(metrics)


def _gate(root, name, live, new_model, test_file, margin, max_class_drop, notes, alpha) -> dict:
    """Score the live and the new version on the same rows of the frozen test set, test whether
    the difference is more than luck, compare classes, promote or keep."""
    from tunesmith.data.readers import read_table

    task = live.task
    table = read_table(test_file, "--data.test_file", live.data_options)
    examples = task.prepare(table, str(test_file), {}, live.data_options)
    scorable = [i for i in range(len(examples)) if _knows(live, examples.subset([i]))]
    if len(scorable) < len(examples):  # the live model cannot be scored on classes it never saw
        notes.append(
            f"{len(examples) - len(scorable)} test row(s) have labels the live version lacks; "
            "both versions are compared on the other rows."
        )
        examples = examples.subset(scorable)
    scores, answers = {}, {}
    for which, version in (("live", live), ("new", new_model)):
        scores[which], answers[which] = version.task.test(
            version.model, version.processor, examples, version.labels, version.max_length, 64
        )
    metric, higher = task.promotion_metric, task.promotion_higher
    old, new = _metric(scores["live"], metric), _metric(scores["new"], metric)
    gain = (new - old) if higher else (old - new)
    tests = _paired_tests(live, new_model, examples, answers, higher)
    significant = bool(tests) and all(t["p"] < alpha for t in tests.values())
    per_class = {
        label: {"live": f1["f1"], "new": scores["new"]["per_class"].get(label, {}).get("f1", 0.0)}
        for label, f1 in scores["live"].get("per_class", {}).items()
        if isinstance(f1, dict) and "f1" in f1
    }
    worst = min(per_class.items(), key=lambda kv: kv[1]["new"] - kv[1]["live"], default=None)
    drop = worst[1]["live"] - worst[1]["new"] if worst else 0.0
    versus = f"{metric} {new:.4f} vs live {old:.4f} ({gain:+.4f} better)"
    evidence = "; ".join(_describe(t) for t in tests.values()) or "no paired test for this task"
    if gain < margin:
        decision = f"kept, not promoted: {versus}; the gate needs {margin:+.4f}"
    elif tests and not significant:
        decision = f"kept, not promoted: {versus} is within the noise at {alpha} ({evidence})"
    elif drop > max_class_drop:
        decision = (
            f"kept, not promoted: class {worst[0]!r} loses {drop:.4f} F1 (the gate "
            f"allows {max_class_drop:.4f})"
        )
    else:
        decision = f"promoted: {versus}; {evidence}"
        if per_class:
            decision += f"; no class lost more than {max_class_drop:.4f}"
    promoted = decision.startswith("promoted")
    state = versions.read(root)
    state["versions"][name] = {
        "path": f"versions/{name}",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "test": new_model.task.report.headline(new_model.metrics["test"]),
        "compared_on": {"rows": len(examples), "metric": metric, "live": old, "new": new},
        "significance": {"alpha": alpha, "tests": tests},
        "live_on_same_test": task.report.headline(scores["live"]),
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


def _paired_tests(live, new_model, examples, answers, higher) -> dict[str, dict]:
    """McNemar where the task's answers are right or wrong row by row, and a paired bootstrap
    of the promotion metric: from score() of resampled answers, or from the task's per-row
    values (paired_rows) where its metric is not a score of answers."""
    import numpy as np

    from tunesmith.feedback import significance as sig

    task, tests = live.task, {}
    right = [task.right_or_wrong(answers[w], examples) for w in ("live", "new")]
    if right[0] is not None and right[1] is not None:
        tests["mcnemar"] = sig.mcnemar(*right)
    try:
        task.score(answers["live"], examples, live.labels)
    except NotImplementedError:  # scored by test() as a whole: per-row values instead
        rows = [
            v.task.paired_rows(v.model, v.processor, examples, v.labels, v.max_length)
            for v in (live, new_model)
        ]
        if rows[0] is None or rows[1] is None or len(rows[0][0]) != len(rows[1][0]):
            return tests
        means = [sig.weighted_mean(values, weights) for values, weights in rows]
        tests["bootstrap"] = sig.paired_bootstrap(
            lambda r: (means[0](r), means[1](r)), len(rows[0][0]), higher
        )
        return tests

    def scored(rows: np.ndarray) -> tuple[float, float]:
        subset = examples.subset(list(rows))
        return tuple(
            task.promotion_score([answers[w][i] for i in rows], subset, v.labels)
            for w, v in (("live", live), ("new", new_model))
        )

    tests["bootstrap"] = sig.paired_bootstrap(scored, len(examples), higher)
    return tests


def _describe(test: dict) -> str:
    if "interval" in test:
        low, high = test["interval"]
        return f"{test['test']}: gain 95% interval {low:+.4f} to {high:+.4f}, p={test['p']:.3f}"
    return (
        f"{test['test']}: {test['only_new_right']} rows only the new version gets right, "
        f"{test['only_live_right']} only the live one, p={test['p']:.3f}"
    )


def _knows(model, example) -> bool:
    try:
        model.task.check_labels(example, model.labels)
    except TunesmithError:
        return False
    return True


def format_comparison(name: str, entry: dict) -> str:
    compared = entry.get("compared_on", {})
    lines = [f"{name} against {entry['compared_with']} on the same frozen test set:"]
    if compared:
        lines.append(
            f"  {compared['metric']}: live {compared['live']:.4f}, new {compared['new']:.4f} "
            f"({compared['rows']} rows)"
        )
    for test in entry.get("significance", {}).get("tests", {}).values():
        lines.append(f"  {_describe(test)}")
    if entry["per_class_f1"]:
        lines.append(f"  {'class':<16} {'live F1':>8} {'new F1':>8} {'change':>8}")
    for label, f1 in entry["per_class_f1"].items():
        lines.append(
            f"  {label:<16} {f1['live']:>8.4f} {f1['new']:>8.4f} {f1['new'] - f1['live']:>+8.4f}"
        )
    lines.append(f"Decision: {entry['decision']}")
    return "\n".join(lines)
