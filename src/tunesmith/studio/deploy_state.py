"""What the Deploy page shows of a run, read from the files the CLI writes: the parity table of
the last export (parity.json of the live version for ONNX, RUN/gguf/parity.json for GGUF), the
feedback the service collected (feedback.db), and the gate's decisions (versions.json)."""

from __future__ import annotations

import json
from pathlib import Path

from tunesmith.studio.run_files import Run

LATEST_FEEDBACK = 10


def exports(run: Run) -> list[dict]:
    """The export buttons this run's task offers (asked of the task, by capability)."""
    from tunesmith.export.gguf import QUANTS, llama_cpp_python

    task, offered = run.task, []
    if task.onnx is not None:
        offered += [
            {"id": "onnx", "format": "onnx", "int8": False},
            {"id": "onnx-int8", "format": "onnx", "int8": True},
        ]
    if task.exports_gguf:  # q4_k_m needs llama.cpp's quantizer (llama-cpp-python)
        quants = [q for q in QUANTS if q != "q4_k_m" or llama_cpp_python() is not None]
        offered += [{"id": f"gguf-{q}", "format": "gguf", "quant": q} for q in quants]
    return offered


def export_command(run: Run, choice: dict) -> list[str]:
    command = ["export", str(run.root), "--format", choice["format"]]
    if choice.get("int8"):
        command.append("--int8")
    if choice.get("quant"):
        command += ["--quant", choice["quant"]]
    return command


def onnx_parity(run: Run) -> dict | None:
    """The live version's parity certificate with its rows ready to show (None: no export of
    this version yet)."""
    from tunesmith.evaluation import parity

    certificate = parity.read(run.live, run)
    if not certificate:
        return None
    metric = certificate["metric"]
    rows = []
    for name, row in certificate["backends"].items():
        interval = row.get("interval_95")
        rows.append(
            {
                "form": name,
                "examples": row.get("examples", ""),
                "agreement": row.get("agreement"),
                "value": row.get(metric),
                "difference": row.get("difference"),
                "interval": tuple(interval) if interval else None,
                "megabytes": row.get("megabytes"),
                "status": row.get("status"),
            }
        )
    return {"metric": metric, "examples": certificate["test_examples"], "rows": rows} | {
        "measured": str(certificate.get("measured", "")).replace("T", " ")[:16],
        "reference": certificate["reference"],
    }


def gguf_parity(run: Run) -> dict | None:
    from tunesmith.export.gguf import gguf_folder

    path = gguf_folder(run.root) / "parity.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if report.get("format") == "gguf" else None


def feedback(root: Path) -> dict | None:
    """Counts by kind and the latest rows of the run's feedback store (None: none yet)."""
    from tunesmith.feedback.store import FeedbackStore, db_path

    if not db_path(root).is_file():
        return None
    store = FeedbackStore(root)
    try:
        counts, latest = store.counts(), store.latest(LATEST_FEEDBACK)
    finally:
        store.close()
    for row in latest:
        row["time"] = str(row["time"]).replace("T", " ")[:19]
    return {"counts": counts, "total": sum(counts.values()), "latest": latest}


def decisions(run: Run) -> list[dict]:
    """The gate's decision for each retrained version, newest first: promoted or kept, the
    promotion metric of both versions on the same frozen test rows, and the paired tests."""
    out = []
    for name, version in run.state["versions"].items():
        if "compared_with" not in version:  # the first run: nothing was compared
            continue
        tests = version.get("significance", {}).get("tests", {})
        out.append(
            {
                "version": name,
                "promoted": str(version.get("decision", "")).startswith("promoted"),
                "decision": version.get("decision", ""),
                "compared_with": version["compared_with"],
                "compared_on": version.get("compared_on", {}),
                "p_values": {test: values.get("p") for test, values in tests.items()},
                "created": str(version.get("created", "")).replace("T", " ")[:16],
            }
        )
    return out[::-1]


def version_actions(run: Run) -> list[dict]:
    """Each version with what its button does: promote a newer one, roll back to an older."""
    names = list(run.state["versions"])
    live = names.index(run.state["live"])
    return [
        {
            "version": name,
            "live": i == live,
            "action": None if i == live else ("promote" if i > live else "rollback"),
            "test": version.get("test", {}),
            "created": str(version.get("created", "")).replace("T", " ")[:16],
        }
        for i, (name, version) in enumerate(run.state["versions"].items())
    ]
