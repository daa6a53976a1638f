"""The parity certificate: every form of the model a user can run, scored against the trained
model (PyTorch fp32) on the run's frozen test split.

For each form (PyTorch fp32 and bf16, ONNX fp32 and int8 where exported, and the running
service over HTTP): how often it gives the same answer (the task's `decision`), the task's
headline metric, and that metric's difference from PyTorch fp32 with a paired bootstrap 95%
interval (the same resampled test rows for both; numpy, seeded).

    <model folder>/parity.json   written by `tunesmith export`, completed by `tunesmith serve`
                                 (its HTTP row); shown in report.html and GET /v1/model

Like onnx/, it is written after the run finished, so the manifest does not list it: --overwrite
names it among the files to move away first.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.run_dir import write_json

FILE = "parity.json"
REFERENCE = "pytorch fp32"
RESAMPLES = 1000
SEED = 0
HTTP_ROWS = 256  # serve's check: enough to catch a serving bug, quick for any test split


def split_examples(model, split: str = "test"):
    """A split of the run ("train", "val", "test"), read again from its data as training
    split it."""
    from tunesmith.data.readers import read_splits, read_table

    splits = json.loads((model.path / "splits.json").read_text(encoding="utf-8"))
    options = model.data_options
    tables = read_splits(options.path, "--data.path", options)
    source = options.path
    if options.test_file:
        tables["test"], source = (
            read_table(options.test_file, "--data.test_file", options),
            options.test_file,
        )
    table = tables.get(split, tables["train"])
    examples = model.task.prepare(table, source, model.manifest["columns"], options)
    keep = examples.frame["row"].isin(set(splits[split]))
    return examples.subset(list(keep[keep].index))


def headline_metric(task, answers, examples, labels, module=None, model=None) -> tuple[str, float]:
    """(name, value) of the metric the task reports first."""
    return next(iter(headline(task, answers, examples, labels, module, model).items()))


def headline(task, answers, examples, labels, module=None, model=None) -> dict[str, float]:
    try:
        measured = task.score(answers, examples, labels)
    except NotImplementedError:  # scored by test() (embedding: searches the whole corpus)
        measured, _ = task.test(module, model.processor, examples, labels, model.max_length, 64)
    return {k: float(v) for k, v in task.report.headline(measured).items()}


def compare(task, answers, reference, examples, labels, measured: dict, base: dict) -> dict:
    """One form against the reference on the same rows: agreement, the first two headline
    metrics, the first one's difference and its bootstrap interval."""
    metric = next(iter(base))
    row = {k: round(v, 4) for k, v in list(measured.items())[:2]}
    row["examples"] = len(examples)
    decisions = [task.decision(a) for a in answers], [task.decision(r) for r in reference]
    same = None
    if decisions[1][0] is not None:
        same = np.array([a == r for a, r in zip(*decisions, strict=True)])
        row["agreement"] = round(float(same.mean()), 4)
        row["answers_that_differ"] = int((~same).sum())
    row["difference"] = round(measured[metric] - base[metric], 4)
    row["interval_95"] = bootstrap(task, answers, reference, examples, labels, same)
    return row | largest_difference(answers, reference)


def bootstrap(task, answers, reference, examples, labels, same) -> list[float] | None:
    """Paired bootstrap 95% interval of metric(answers) - metric(reference): both scored on the
    same resampled test rows, from the task's per-row counts (`headline_parts`). None where
    the task has none (retrieval metrics rank against the whole split)."""
    if same is None:
        return None
    if same.all():  # the metric scores decisions only: equal on every resample
        return [0.0, 0.0]
    ours = task.headline_parts(answers, examples, labels)
    theirs = task.headline_parts(reference, examples, labels)
    if ours is None or theirs is None:
        return None
    n = len(answers)
    rows = np.random.default_rng(SEED).integers(0, n, (RESAMPLES, n))
    weights = np.stack([np.bincount(r, minlength=n) for r in rows])  # times each row is drawn
    gaps = ours[1](weights @ ours[0]) - theirs[1](weights @ theirs[0])
    low, high = np.percentile(gaps, [2.5, 97.5])
    return [round(float(low), 4), round(float(high), 4)]


def accuracy_parts(correct) -> tuple[np.ndarray, Callable]:
    """A share of rows that are right (accuracy): per row (right, 1)."""
    right = np.asarray(correct, dtype=float)
    return np.stack([right, np.ones_like(right)], 1), lambda sums: sums[..., 0] / sums[..., 1]


def f1_parts(true_pos, false_pos, false_neg) -> tuple[np.ndarray, Callable]:
    """Micro F1 from per-row true positives, false positives and false negatives."""
    parts = np.stack([np.asarray(c, dtype=float) for c in (true_pos, false_pos, false_neg)], 1)

    def f1(sums):
        tp, fp, fn = sums[..., 0], sums[..., 1], sums[..., 2]
        denominator = 2 * tp + fp + fn
        return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)

    return parts, f1


def largest_difference(answers: list[dict], reference: list[dict]) -> dict:
    """The largest probability (or embedding value) difference against the reference."""
    pairs = list(zip(answers, reference, strict=True))
    if "embedding" in reference[0]:
        gap = max(
            abs(x - y)
            for a, r in pairs
            for x, y in zip(a["embedding"], r["embedding"], strict=True)
        )
        return {"max_embedding_difference": round(gap, 7)}
    if "scores" in reference[0]:
        gap = max(abs(a["scores"][k] - r["scores"][k]) for a, r in pairs for k in r["scores"])
        return {"max_probability_difference": round(gap, 6)}
    if "entities" in reference[0]:  # scores of the entities both found
        gaps = [
            abs(x["score"] - y["score"])
            for a, r in pairs
            for x, y in zip(
                a["entities"], r["entities"], strict=False
            )  # pairs up to the first extra
            if (x["type"], x["start"], x["end"]) == (y["type"], y["start"], y["end"])
        ]
        return {"max_probability_difference": round(max(gaps, default=0.0), 6)}
    return {}


def certify(model, forms: dict[str, tuple[Any, bool]], examples=None) -> dict:
    """The in-process rows: `forms` maps a name to (net, bf16 autocast) for the task's
    predict; the first is the reference (PyTorch fp32)."""
    task, labels = model.task, model.labels
    examples = examples if examples is not None else split_examples(model, "test")
    answers, measured = {}, {}
    for name, (net, bf16) in forms.items():
        with autocast() if bf16 else contextlib.nullcontext():
            answers[name] = task.onnx.parity_answers(
                net, model.processor, examples, labels, model.max_length
            )
            measured[name] = headline(task, answers[name], examples, labels, net, model)
    reference = next(iter(forms))
    rows = {
        name: compare(
            task,
            answers[name],
            answers[reference],
            examples,
            labels,
            measured[name],
            measured[reference],
        )
        for name in forms
    }
    return {
        "model": model.manifest.get("created", "unknown"),
        "reference": reference,
        "metric": next(iter(measured[reference])),
        "test_examples": len(examples),
        "resamples": RESAMPLES,
        "seed": SEED,
        "measured": now(),
        "backends": rows,
    }


def autocast():
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.autocast(device, dtype=torch.bfloat16)


def pytorch_forms(model) -> dict[str, tuple[Any, bool]]:
    """PyTorch fp32, and bf16 where the machine runs it natively (what serve's --precision auto
    picks)."""
    from tunesmith.training.precision import resolve_precision

    forms = {REFERENCE: (model.model, False)}
    if resolve_precision("auto") == "bf16":
        forms["pytorch bf16"] = (model.model, True)
    return forms


def http_row(url: str, reference_model, examples, api_key: str | None = None) -> dict:
    """The running service over HTTP (POST /v1/predict) against PyTorch fp32 on the same
    inputs, for at most HTTP_ROWS test rows (a cap that keeps serve's start-up check short)."""
    import httpx

    task, labels = reference_model.task, reference_model.labels
    total = len(examples)
    examples = examples.subset(list(range(min(total, HTTP_ROWS))))
    field, inputs = request_inputs(task, list(examples.frame["input"]))
    headers = {"X-API-Key": api_key} if api_key else {}
    headers["X-Tunesmith-Check"] = "parity"  # not a user's prediction: never logged
    answers = []
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        for start in range(0, len(inputs), 16):
            response = client.post("/v1/predict", json={field: inputs[start : start + 16]})
            response.raise_for_status()
            answers += response.json()["outputs"]
    texts = inputs if field == "inputs" else list(examples.frame["input"])
    reference = reference_model.predict(texts)
    try:
        measured = headline(task, answers, examples, labels)
        base = headline(task, reference, examples, labels)
    except (NotImplementedError, ValueError):  # no per-answer score for this task's answers
        measured = base = {}
    if base:
        row = compare(task, answers, reference, examples, labels, measured, base)
    else:
        row = {"examples": len(examples)} | largest_difference(answers, reference)
        if task.decision(reference[0]) is not None:
            same = [
                task.decision(a) == task.decision(r)
                for a, r in zip(answers, reference, strict=True)
            ]
            row["agreement"] = round(sum(same) / len(same), 4)
    return row | {"url": url, "of_test_examples": total, "measured": now()}


def request_inputs(task, inputs: list) -> tuple[str, list]:
    """What POST /v1/predict takes for these test inputs."""
    if task.input_kind == "image":
        return "images", [base64.b64encode(Path(p).read_bytes()).decode() for p in inputs]
    # CoNLL rows are word lists; the service takes text (the task splits it into words again)
    return "inputs", [x if isinstance(x, str) else " ".join(x) for x in inputs]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read(folder: Path, model=None) -> dict | None:
    """The certificate in a model folder (None if absent, or made for another version)."""
    try:
        certificate = json.loads((Path(folder) / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if model is not None and certificate.get("model") != model.manifest.get("created"):
        return None
    return certificate


def save(folder: Path, certificate: dict) -> None:
    """parity.json, and its section in report.html."""
    from tunesmith.evaluation.report import set_section

    write_json(Path(folder) / FILE, certificate)
    report = Path(folder) / "report.html"
    if report.is_file():
        set_section(report, "parity", "Parity: every form of the model", section(certificate))


def section(certificate: dict) -> str:
    """report.html's parity section."""
    from tunesmith.evaluation.report import table

    metric = certificate["metric"]
    rows = [
        [
            name,
            r.get("examples", ""),
            f"{r['agreement']:.2%}" if "agreement" in r else "n/a",
            f"{r[metric]:.4f}" if metric in r else "n/a",
            f"{r['difference']:+.4f}" if "difference" in r else "n/a",
            "[{:+.4f}, {:+.4f}]".format(*r["interval_95"]) if r.get("interval_95") else "n/a",
        ]
        for name, r in certificate["backends"].items()
    ]
    return (
        f"<p>Each form a user can run, on the frozen test split, against {certificate['reference']}"
        f" (the trained model): how often it gives the same answer, and the difference in "
        f"{html.escape(metric)} with a paired bootstrap 95% interval ({certificate['resamples']} "
        "resamples of the test rows). The service over HTTP is checked by <code>tunesmith "
        f"serve</code> at start-up on at most {HTTP_ROWS} rows.</p>"
        + table(["form", "test rows", "same answer", metric, "difference", "95% interval"], rows)
    )


def format_table(certificate: dict) -> str:
    """The certificate for the terminal."""
    metric = certificate["metric"]
    lines = [
        f"Parity on the run's test split ({certificate['test_examples']} examples), against "
        f"{certificate['reference']}:",
        f"  {'form':<13} {'same answer':>11} {metric:>16} {'difference [95% interval]':>28}"
        f" {'max prob diff':>13} {'size':>8}",
    ]
    for name, r in certificate["backends"].items():
        same = f"{r['agreement']:.2%}" if "agreement" in r else "n/a"
        value = f"{r[metric]:.4f}" if metric in r else "n/a"
        gap = f"{r['difference']:+.4f}" if "difference" in r else "n/a"
        if r.get("interval_95"):
            gap += " [{:+.4f}, {:+.4f}]".format(*r["interval_95"])
        largest = next((v for k, v in r.items() if k.startswith("max_")), "")
        size = f"{r['megabytes']} MB" if "megabytes" in r else ""
        lines.append(
            f"  {name:<13} {same:>11} {value:>16} {gap:>28} {largest:>13} {size:>8}".rstrip()
        )
    return "\n".join(lines)


def check_service(
    url: str, run_dir: str | Path, api_key: str | None, shown: dict, log: Callable[[str], None]
) -> None:
    """serve's start-up check, run beside the service once it listens: the HTTP row (and
    the in-process rows if no certificate exists for this version), saved and shown in
    GET /v1/model through `shown` (the app's state)."""
    from tunesmith.api import load

    reference = load(run_dir)  # PyTorch fp32: what the service must agree with
    certificate = read(reference.path, reference)
    examples = split_examples(reference, "test")
    if certificate is None:  # never exported: certify the PyTorch forms on the capped rows
        capped = examples.subset(list(range(min(len(examples), HTTP_ROWS))))
        certificate = certify(reference, pytorch_forms(reference), capped)
    shown["backends"] = dict(certificate["backends"]) | {"http": {"status": "running"}}
    shown.update({k: v for k, v in certificate.items() if k != "backends"})
    row = http_row(url, reference, examples, api_key)
    certificate["backends"]["http"] = row
    save(reference.path, certificate)
    shown["backends"] = certificate["backends"]
    agreement = row.get("agreement")
    log(
        f"Parity of the running service over HTTP ({row['examples']} test rows): "
        + (f"{agreement:.2%} same answers as PyTorch fp32" if agreement is not None else "done")
        + f"; {Path(reference.path) / FILE}"
    )
