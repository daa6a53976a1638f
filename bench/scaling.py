"""The small-compute and many-process options side by side, on BBC News with MiniLM-L6, each run
a separate `tunesmith train` process (wall time and peak memory per process tree):

    make bench-scaling                  # all three tables
    python bench/scaling.py lora        # full fine-tune vs frozen embeddings vs head only vs LoRA
    python bench/scaling.py distill     # teacher minilm-l6 vs minilm-l3 plain vs distilled
    python bench/scaling.py processes   # 1 process (2 threads) vs torchrun 2 processes (1 each)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
TUNESMITH = [sys.executable, "-m", "tunesmith.cli"]


def run(args: list[str], launcher: list[str] | None = None) -> dict:
    """Run one command; wall seconds and the peak resident memory of its processes."""
    started = time.perf_counter()
    child = subprocess.Popen([*(launcher or []), *args], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    if status:
        raise SystemExit(f"failed ({status}): {' '.join(args)}")
    return {"seconds": time.perf_counter() - started, "peak_mb": usage.ru_maxrss / 1024}


def metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def lora(data: str, scratch: Path) -> list[dict]:
    rows = []
    for name, flags in [
        ("full fine-tune", ["--train.freeze", "none"]),
        ("embeddings frozen (default)", []),
        ("head only", ["--train.freeze", "head", "--train.learning_rate", "1e-3"]),
        ("LoRA r=16", ["--lora"]),
    ]:
        out = scratch / name.split()[0]
        measured = run(
            [*TUNESMITH, "train", data, "--model", "minilm-l6", "--out", str(out), *flags]
        )
        m = metrics(out)
        rows.append(
            {
                "run": name,
                **measured,
                "accuracy": m["test"]["accuracy"],
                "train_seconds": m["train_seconds"],
            }
        )
    return rows


def distill(data: str, scratch: Path) -> list[dict]:
    teacher = scratch / "teacher"
    rows = []
    for name, args in [
        ("teacher minilm-l6", ["train", data, "--model", "minilm-l6", "--out", str(teacher)]),
        (
            "minilm-l3, labels only",
            ["train", data, "--model", "minilm-l3", "--out", str(scratch / "l3")],
        ),
        (
            "minilm-l3 distilled",
            ["distill", "--teacher", str(teacher), "--out", str(scratch / "l3d")],
        ),
    ]:
        measured = run([*TUNESMITH, *args])
        rows.append({"run": name, **measured})
    side = metrics(scratch / "l3d")["distillation"]  # all three on the same test split
    plain = metrics(scratch / "l3")["test"]
    for row, numbers in zip(rows, [side["teacher"], None, side["student"]], strict=True):
        numbers = numbers or {
            "accuracy": plain["accuracy"],
            "ms_per_example": None,
            "parameters": None,
        }
        row |= {k: numbers.get(k) for k in ("accuracy", "ms_per_example", "parameters")}
    return rows


def processes(data: str, scratch: Path) -> list[dict]:
    rows = []
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
    ]
    for name, launcher in [("1 process", None), ("2 processes (torchrun, DDP/gloo)", torchrun)]:
        out = scratch / name.split()[0]
        args = ["-m", "tunesmith.cli", "train", data, "--model", "minilm-l6", "--out", str(out)]
        measured = run(args if launcher else [sys.executable, *args], launcher)
        m = metrics(out)
        rows.append(
            {
                "run": name,
                **measured,
                "accuracy": m["test"]["accuracy"],
                "train_seconds": m["train_seconds"],
                "steps": m["steps"],
            }
        )
    return rows


def table(rows: list[dict]) -> str:
    keys = [k for k in rows[0] if k != "run"]
    lines = ["| run | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for r in rows:
        cells = [
            f"{r[k]:.4f}"
            if k == "accuracy"
            else f"{r[k]:,.0f}"
            if isinstance(r[k], float) and k != "ms_per_example"
            else str(r[k])
            for k in keys
        ]
        lines.append(f"| {r['run']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    from tunesmith import packaged

    which = sys.argv[1:] or ["lora", "distill", "processes"]
    data = str(packaged.bbc_news())
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    for name in which:
        scratch = Path(tempfile.mkdtemp(prefix=f"tunesmith-bench-{name}-"))
        try:
            rows = {"lora": lora, "distill": distill, "processes": processes}[name](data, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        print(f"\n{name} (BBC News, {os.cpu_count()} CPU cores):\n{table(rows)}", flush=True)
        (results / f"scaling_{name}.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
