"""A large CSV through load, clean, de-duplicate, the data doctor and split: peak memory and
time at growing sizes, against the plain pandas + scikit-learn script a user would write
instead (read_csv, drop_duplicates, train_test_split: no cleaning, no checks), in one run.

Each measurement runs in a fresh process so its peak memory (max RSS) is its own.

    make bench-data                        # 250k, 500k, 1M rows
    python bench/large_csv.py 100000       # other sizes
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

SIZES = [250_000, 500_000, 1_000_000]
WORDS = (
    "the market shares fell sharply after team won match game film star music election "
    "minister vote bank growth 市场 球队 电影 选举 银行 <b>html</b> &amp; Ｆｕｌｌ"
).split()
LABELS = ["business", "sport", "politics", "tech", "entertainment", " Business"]


def make_csv(path: Path, rows: int) -> None:
    """Synthetic news-like rows: 8-30 words, 1% exact duplicates, messy labels and markup."""
    rng = random.Random(0)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["text", "label"])
        previous = []
        for i in range(rows):
            if previous and rng.random() < 0.01:
                out.writerow(rng.choice(previous))
                continue
            row = [" ".join(rng.choices(WORDS, k=rng.randint(8, 30))) + f" {i}", rng.choice(LABELS)]
            previous = previous[-1000:] + [row]
            out.writerow(row)


TUNESMITH = """
import json, resource, sys, time
started = time.perf_counter()
from tunesmith.api import resolve_config
from tunesmith.training.pipeline import prepare_data
data = prepare_data(resolve_config(sys.argv[1]))
print(json.dumps({"seconds": time.perf_counter() - started,
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
                  "train": len(data.splits["train"]), "findings": len(data.doctor["findings"])}))
"""

PLAIN = """
import json, resource, sys, time
started = time.perf_counter()
import pandas as pd
from sklearn.model_selection import train_test_split
frame = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False).drop_duplicates("text")
rest, test = train_test_split(frame, test_size=0.1, stratify=frame["label"], random_state=0)
train, val = train_test_split(rest, test_size=1 / 9, stratify=rest["label"], random_state=0)
print(json.dumps({"seconds": time.perf_counter() - started,
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
                  "train": len(train), "findings": 0}))
"""


def measure(script: str, path: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or SIZES
    results = []
    with tempfile.TemporaryDirectory(prefix="tunesmith-bench-data-") as scratch:
        for rows in sizes:
            path = Path(scratch) / f"rows{rows}.csv"
            make_csv(path, rows)
            mb = path.stat().st_size / 1e6
            for name, script in (("plain pandas+sklearn", PLAIN), ("tunesmith", TUNESMITH)):
                result = measure(script, path) | {"rows": rows, "mb": mb, "name": name}
                results.append(result)
                print(
                    f"{rows:>9,} rows ({mb:5.0f} MB)  {name:<21} {result['seconds']:6.1f} s  "
                    f"peak {result['peak_gb']:.2f} GB  train {result['train']:,}  "
                    f"findings {result['findings']}",
                    flush=True,
                )
    print("\n| rows | CSV | plain: time, peak | tunesmith: time, peak | time ratio |")
    print("|---:|---:|---:|---:|---:|")
    for plain, ours in zip(results[::2], results[1::2], strict=True):
        print(
            f"| {ours['rows']:,} | {ours['mb']:.0f} MB | {plain['seconds']:.1f} s, "
            f"{plain['peak_gb']:.2f} GB | {ours['seconds']:.1f} s, {ours['peak_gb']:.2f} GB | "
            f"{ours['seconds'] / plain['seconds']:.1f}x |"
        )
    out = Path(__file__).parent / "results" / "large_csv.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
