"""`make demo-embedding`: fine-tune MiniLM-L6 (all-MiniLM-L6-v2) for search on BBC News, offline:
each article's title is a query, its first paragraph (the lead) the passage to find. Held-out
titles are searched against all the leads, before and after fine-tuning.

The same as typing:
    tunesmith train bbc_pairs.csv --task embedding --model minilm-l6 --train.max_length 128
    tunesmith predict runs/bbc-embedding --query "..." --corpus leads.txt
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from tunesmith import packaged
from tunesmith.cli import main as tunesmith

OUT = "runs/bbc-embedding"


def pairs() -> pd.DataFrame:
    rows = []
    for folder in sorted(p for p in packaged.bbc_news().iterdir() if p.is_dir()):
        for file in sorted(folder.glob("*.txt")):
            lines = [x.strip() for x in file.read_text(encoding="latin-1").splitlines()]
            title, body = lines[0], [x for x in lines[1:] if x]
            if title and body:  # the first paragraph: the article's lead, ~40 words
                rows.append({"query": title, "passage": body[0]})
    return pd.DataFrame(rows)


def main() -> int:
    data = Path("runs/bbc_pairs.csv")
    data.parent.mkdir(exist_ok=True)
    table = pairs()
    table.to_csv(data, index=False)
    started = time.perf_counter()
    settings = ["--train.max_length", "128", "--train.epochs", "1", "--train.batch_size", "32"]
    code = tunesmith(
        ["train", str(data), "--task", "embedding", "--model", "minilm-l6", "--out", OUT]
        + settings
        + ["--overwrite"]
    )
    if code:
        return code
    minutes = (time.perf_counter() - started) / 60
    import tunesmith as ts

    test = ts.load(OUT).metrics["test"]
    before = test["before"]
    print(
        f"\nBBC News titles -> leads, MiniLM-L6 fine-tuned in {minutes:.1f} min on this machine; "
        f"{test['queries']} held-out titles searched against all {test['corpus']} leads:"
    )
    for name in ("recall@1", "recall@10", "MRR@10", "nDCG@10"):
        print(f"  {name:10} before {before[name]:.3f}   after {test[name]:.3f}")
    corpus = data.with_name("bbc_leads.txt")
    corpus.write_text("\n".join(dict.fromkeys(table["passage"])), encoding="utf-8")
    query = "Mobile phone sales rise"
    print(f'\n$ tunesmith predict {OUT} --query "{query}" --corpus {corpus} --top-k 3')
    return tunesmith(["predict", OUT, "--query", query, "--corpus", str(corpus), "--top-k", "3"])


if __name__ == "__main__":
    raise SystemExit(main())
