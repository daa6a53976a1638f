"""Chinese text on an English vocabulary vs the fixes: MiniLM-L6, MiniLM-L6 + --train.extend_vocab,
and multilingual-e5-small, with tunesmith defaults otherwise, in one run.

Data: examples/data/中文评论.csv (210 synthetic product reviews, 3 classes). Prints the share of
tokens unknown to each model, test accuracy and training time.

    make bench-chinese
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = Path(__file__).parents[1] / "examples" / "data" / "中文评论.csv"
RUNS = [
    ("minilm-l6", "minilm-l6", {}),
    ("minilm-l6 + extend_vocab", "minilm-l6", {"extend_vocab": True}),
    ("multilingual-e5-small", "multilingual-e5-small", {}),
]


def main() -> None:
    import tunesmith

    scratch = Path(tempfile.mkdtemp(prefix="tunesmith-bench-zh-"))
    rows = []
    try:
        for name, model_name, train in RUNS:
            started = time.perf_counter()
            model = tunesmith.train(DATA, model=model_name, out=str(scratch / name), train=train)
            seconds = time.perf_counter() - started
            report = (model.path / "report.html").read_text(encoding="utf-8")
            unknown = re.search(r"Vocabulary: ([\d.]+)% of tokens unknown", report).group(1)
            rows.append(
                {
                    "run": name,
                    "unknown_percent": float(unknown),
                    "accuracy": model.metrics["test"]["accuracy"],
                    "train_seconds": model.metrics["train_seconds"],
                    "seconds": seconds,
                }
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print("\n| model | unknown tokens | test accuracy | training (s) | whole run (s) |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['run']} | {r['unknown_percent']:.1f}% | {r['accuracy']:.3f} | "
            f"{r['train_seconds']:.0f} | {r['seconds']:.0f} |"
        )
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "chinese_models.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
