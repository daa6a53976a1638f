"""`tunesmith models`: the catalog, and for a task, data size and time budget, which model to
pick on this machine, from measured probes (a few real training steps each), not guesses.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

from tunesmith.models.catalog import (
    CATALOG,
    TORCHVISION_MODELS,
    TORCHVISION_PACKAGES,
    TORCHVISION_TASKS,
)

LICENCES = {"mobilenet-v2": "BSD-3 (torchvision)", "efficientnet-lite0": "Apache-2.0"}
PARAMETERS = {"mobilenet-v2": "3.5M", "efficientnet-lite0": "4.7M"}


def catalog_rows() -> list[dict]:
    import importlib.util

    rows = [
        {
            "name": e.name,
            "tasks": ", ".join(e.tasks),
            "parameters": e.parameters,
            "offline": "yes" if e.installed() else f"no: {e.install_hint}",
            "source": e.package or e.hub_id,
            "licence": e.license,
        }
        for e in CATALOG.values()
    ]
    for name in TORCHVISION_MODELS:
        module = TORCHVISION_PACKAGES[name]
        rows.append(
            {
                "name": name,
                "tasks": ", ".join(TORCHVISION_TASKS),
                "parameters": PARAMETERS[name],
                "offline": "yes" if importlib.util.find_spec(module) else "no",
                "source": module.replace("_", "-"),
                "licence": LICENCES[name],
            }
        )
    return rows


def candidates(task: str, chinese: bool = False) -> list[str]:
    """Offline-available models for `task`, most capable first: by size (a rough proxy for
    accuracy), English models before multilingual ones unless the text is mostly Chinese."""
    if task in TORCHVISION_TASKS:
        import importlib.util

        return [n for n, m in TORCHVISION_PACKAGES.items() if importlib.util.find_spec(m)]
    found = [e for e in CATALOG.values() if task in e.tasks and e.installed()]

    def rank(entry) -> tuple:
        multilingual = entry.languages != "en"
        return (multilingual != chinese, -float(entry.parameters.rstrip("M")))

    names = [e.name for e in sorted(found, key=rank)]
    if names:
        return names
    # No catalog entry of its own (image-text's default pairs two catalog models): the task's
    # default, so there is still a measurement.
    from tunesmith import tasks

    chosen = tasks.get(task)
    return [(chosen.chinese_model() if chinese else None) or chosen.default_model]


def measure(model: str, task: str, batch: int, length: int) -> dict:
    """Run the probe in a fresh process: its peak memory is the model's training footprint."""
    command = [sys.executable, "-m", "tunesmith.models.probe", "--model", model, "--task", task]
    command += ["--batch", str(batch), "--length", str(length)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        return {"model": model, "error": (done.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def estimate(result: dict, rows: int, epochs: float, batch: int) -> dict:
    """Minutes per epoch and for the run, from the measured step time; validation adds ~15%."""
    steps = math.ceil(rows * 0.8 / batch)
    epoch_minutes = steps * result["seconds_per_step"] * 1.15 / 60
    return {"minutes_per_epoch": epoch_minutes, "minutes": epoch_minutes * epochs}


def recommend(results: list[dict], budget_minutes: float | None) -> tuple[str | None, str]:
    """The largest model that fits the budget, and why."""
    ok = [r for r in results if "error" not in r]
    if not ok:
        return None, "no model could be probed (see the errors above)"
    if budget_minutes is None:
        return ok[0]["model"], "the largest available (no --budget given)"
    fits = [r for r in ok if r["minutes"] <= budget_minutes]
    if fits:
        return fits[0]["model"], f"the largest whose estimate fits {budget_minutes:g} min"
    fastest = min(ok, key=lambda r: r["minutes"])
    return fastest["model"], (
        f"none fits {budget_minutes:g} min; the fastest, with fewer epochs "
        "(--train.epochs), LoRA (--lora) or a frozen body (--train.freeze) to cut time"
    )


def data_shape(path: str | None, task: str) -> tuple[int, int, bool, str]:
    """(rows, typical token length, mostly Chinese?, where the numbers come from)."""
    if not path:
        return 1000, 128, False, "assumed: 1,000 rows of 128 tokens (pass --data for yours)"
    import numpy as np

    from tunesmith.data.readers import read_table

    table = read_table(path, "--data")
    text = next(
        (c for c in table.columns if table[c].map(lambda v: isinstance(v, str)).all()), None
    )
    length, chinese = 128, False
    from tunesmith import tasks

    if text is not None and tasks.get(task).input_kind == "text":
        from tunesmith.models.vocabulary import chinese_share

        sample = list(table[text].head(2000))
        chinese = chinese_share(sample) >= 0.3
        # ~1.3 tokens a word; Chinese: about a token a character
        sizes = [len(t) if chinese else len(t.split()) * 1.3 for t in sample]
        length = int(min(128, max(8, np.percentile(sizes, 90) + 2)))
    basis = f"{path}: {len(table):,} rows, ~{length} tokens each (p90)"
    return len(table), length, chinese, basis


def advise(task: str, data: str | None, budget_minutes: float | None, batch: int = 16) -> dict:
    from tunesmith import tasks
    from tunesmith.console import info

    rows, length, chinese, basis = data_shape(data, task)
    epochs = tasks.get(task).default_epochs
    results = []
    for name in candidates(task, chinese):
        info(f"Probing {name}: 3 training steps of batch {batch} ...")
        result = measure(name, task, batch, length)
        if "error" not in result:
            result |= estimate(result, rows, epochs, batch)
        results.append(result)
    choice, why = recommend(results, budget_minutes)
    return {
        "task": task,
        "basis": basis,
        "epochs": epochs,
        "budget_minutes": budget_minutes,
        "results": results,
        "recommended": choice,
        "why": why,
    }


def format_advice(report: dict) -> str:
    lines = [
        f"Task {report['task']}; {report['basis']}; {report['epochs']:g} epochs.",
        "Measured on this machine (a few real training steps each); times are estimates:",
        f"  {'model':24} {'s/step':>7} {'peak MB':>8} {'min/epoch':>10} {'run min':>8}",
    ]
    for r in report["results"]:
        if "error" in r:
            lines.append(f"  {r['model']:24} failed: {r['error']}")
            continue
        lines.append(
            f"  {r['model']:24} {r['seconds_per_step']:7.2f} {r['peak_mb']:8,.0f} "
            f"{r['minutes_per_epoch']:10.1f} {r['minutes']:8.1f}"
        )
    if report["recommended"]:
        lines.append(f"Recommended: {report['recommended']} ({report['why']}).")
    else:
        lines.append(f"No recommendation: {report['why']}.")
    return "\n".join(lines)
