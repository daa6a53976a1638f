"""`make demo`: fine-tune the real MiniLM-L6 on real BBC News articles, offline, and show results.

The same as typing:
    tunesmith train <bbc folder> --model minilm-l6 --out runs/bbc-demo
    tunesmith predict runs/bbc-demo --text "..."
"""

from __future__ import annotations

import time
from pathlib import Path

from tunesmith import packaged
from tunesmith.cli import main as tunesmith


def main() -> int:
    out = "runs/bbc-demo"
    started = time.perf_counter()
    code = tunesmith(
        ["train", str(packaged.bbc_news()), "--model", "minilm-l6", "--out", out, "--overwrite"]
    )
    if code:
        return code
    minutes = (time.perf_counter() - started) / 60
    import tunesmith as ts

    model = ts.load(out)
    test = model.metrics["test"]
    print(f"\nBBC News, 5 topics, MiniLM-L6 fine-tuned in {minutes:.1f} min on this machine:")
    print(f"  test accuracy {test['accuracy']:.3f}   macro-F1 {test['f1_macro']:.3f}")
    print(f"  report: {Path(out, 'report.html').resolve()}")
    sample = "Shares fell sharply after the results, and investors sold the bank's bonds."
    print(f'\n$ tunesmith predict {out} --text "{sample}"')
    return tunesmith(["predict", out, "--text", sample])


if __name__ == "__main__":
    raise SystemExit(main())
