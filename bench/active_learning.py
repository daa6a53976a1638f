"""Does labelling in tunesmith's order pay? Simulated annotators on real data:

    python bench/active_learning.py                     # BBC News and Rotten Tomatoes, 3 seeds
    python bench/active_learning.py --seeds 0 --rounds 5 --batch 20

An annotator labels `batch` rows a round, answering from the held-back labels; after each round the
model is retrained on everything labelled so far and scored on a fixed test set (30% of the data,
never labelled). Three orders, from the same start set (2 rows per class, chosen by the seed):
- random: what a person does without help;
- uncertainty: the least sure rows first (one minus the margin between the two likeliest labels);
- tunesmith: `tunesmith label push`'s order (labeling/ordering.py): uncertainty, minus each row's
  similarity (TF-IDF of character n-grams) to the rows already queued, so near-copies of one
  confusing row do not fill a round.

The model is the real MiniLM-L6 encoder (the packaged all-MiniLM-L6-v2), frozen, with a logistic
regression head on its mean-pooled sentence vectors (the data doctor's embedding probe,
data/quick_model.py). Why not full fine-tuning each round: 3 orders x 3 seeds x 2 data sets x 15
rounds is 270 trainings; fine-tuning MiniLM-L6 on a few hundred rows takes about a minute on these
2 busy cores, so 4.5 hours, while the frozen encoder embeds each text once (about 6 minutes on
2 busy cores; the vectors are kept in bench/results/ for the next run) and each head trains in
well under a second: the whole run took about 9 minutes. The order is chosen from the same kind of
scores a fine-tuned run gives (class probabilities), through the same code `label push` runs
(configs.uncertainty, ordering.order).

Prints accuracy and macro F1 at each size as a table, and the labels each order needs to reach
the accuracy random order reaches at the end; writes docs/active_learning.png and
docs/active_learning.json (the figures).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tunesmith import tasks  # noqa: E402
from tunesmith.data.quick_model import sentence_vectors  # noqa: E402
from tunesmith.data.readers import read_table  # noqa: E402
from tunesmith.labeling import configs  # noqa: E402
from tunesmith.labeling.ordering import order, text_features  # noqa: E402
from tunesmith.packaged import bbc_news, movie_reviews  # noqa: E402

ORDERS = ("random", "uncertainty", "tunesmith")
ROOT = Path(__file__).resolve().parent.parent


def datasets() -> dict[str, tuple[list[str], list[str]]]:
    bbc = read_table(bbc_news())[["text", "label"]]
    reviews = pd.read_csv(movie_reviews())
    reviews = reviews[reviews["source"] == "rotten_tomatoes"]
    reviews = reviews.assign(label=reviews["label"].map({0: "negative", 1: "positive"}))
    reviews = reviews.sample(4000, random_state=0)  # keeps the embedding pass short
    return {
        "BBC News (5 topics)": (bbc["text"].tolist(), bbc["label"].tolist()),
        "Rotten Tomatoes (sentiment)": (reviews["text"].tolist(), reviews["label"].tolist()),
    }


def cached_vectors(name: str, texts: list[str]) -> np.ndarray:
    """MiniLM-L6 sentence vectors, kept in bench/results/ between runs (the slow part)."""
    import hashlib

    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = ROOT / "bench" / "results" / f"active_learning_vectors_{digest}.npy"
    if path.is_file():
        return np.load(path)
    vectors = sentence_vectors("minilm-l6", texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def simulate(vectors, features, labels, strategy, seed, rounds, batch) -> list[dict]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import train_test_split

    task = tasks.get("text-classification")
    y = np.asarray(labels)
    rows = np.arange(len(y))
    pool, test = train_test_split(rows, test_size=0.3, random_state=seed, stratify=y)
    rng = np.random.default_rng(seed)
    labelled = [int(r) for c in sorted(set(y)) for r in rng.choice(pool[y[pool] == c], 2, False)]
    curve = []
    for step in range(rounds + 1):
        head = LogisticRegression(max_iter=1000, C=1.0).fit(vectors[labelled], y[labelled])
        guess = head.predict(vectors[test])
        curve.append(
            {
                "labelled": len(labelled),
                "accuracy": float(accuracy_score(y[test], guess)),
                "f1_macro": float(f1_score(y[test], guess, average="macro")),
            }
        )
        if step == rounds:
            break
        left = np.setdiff1d(pool, labelled)
        if strategy == "random":
            picked = rng.choice(left, batch, replace=False)
        else:
            probs = head.predict_proba(vectors[left])
            answers = [{"scores": dict(zip(head.classes_, p, strict=True))} for p in probs]
            doubt = [configs.uncertainty(task, a) for a in answers]
            if strategy == "uncertainty":
                picked = left[np.argsort(-np.asarray(doubt), kind="stable")[:batch]]
            else:
                picked = left[order(features[left], doubt, limit=batch)]
        labelled += [int(r) for r in picked]
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, default=20)
    args = parser.parse_args()
    results = {}
    for name, (texts, labels) in datasets().items():
        started = time.perf_counter()
        vectors = cached_vectors(name, texts)
        features = text_features(texts)
        print(f"{name}: {len(texts)} texts embedded in {time.perf_counter() - started:.0f} s")
        results[name] = {
            strategy: [
                simulate(vectors, features, labels, strategy, s, args.rounds, args.batch)
                for s in args.seeds
            ]
            for strategy in ORDERS
        }
    report(results, args)


def mean_curve(curves: list[list[dict]], metric: str) -> tuple[np.ndarray, np.ndarray]:
    values = np.array([[p[metric] for p in c] for c in curves])
    return values.mean(0), values.std(0)


def summarise(by_order: dict) -> dict:
    """Per order: mean and spread over seeds of accuracy and macro F1 at each size."""
    out = {}
    for o, curves in by_order.items():
        accuracy, spread = mean_curve(curves, "accuracy")
        out[o] = {
            "accuracy": accuracy.tolist(),
            "accuracy_std": spread.tolist(),
            "f1_macro": mean_curve(curves, "f1_macro")[0].tolist(),
        }
    return out


def report(results: dict, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.2))
    summary = {}
    for ax, (name, by_order) in zip(np.atleast_1d(axes), results.items(), strict=True):
        sizes = [p["labelled"] for p in by_order["random"][0]]
        means = summarise(by_order)
        print(f"\n{name}: test accuracy / macro F1, mean of seeds {args.seeds}")
        print(f"{'labelled':>8} " + " ".join(f"{o:>21}" for o in ORDERS))
        for i, size in enumerate(sizes):
            cells = [
                f"{means[o]['accuracy'][i]:.3f} / {means[o]['f1_macro'][i]:.3f}" for o in ORDERS
            ]
            print(f"{size:>8} " + " ".join(f"{c:>21}" for c in cells))
        target = means["random"]["accuracy"][-1]
        reach = {
            o: next(
                (n for n, a in zip(sizes, means[o]["accuracy"], strict=True) if a >= target), None
            )
            for o in ORDERS
        }
        print(f"labels to reach random order's final accuracy {target:.3f}: {reach}")
        summary[name] = {"sizes": sizes, "target": target, "labels_to_reach": reach} | means
        for o, style in zip(ORDERS, (":", "--", "-"), strict=True):
            mean, std = np.array(means[o]["accuracy"]), np.array(means[o]["accuracy_std"])
            ax.plot(sizes, mean, style, marker="o", markersize=3, label=o)
            ax.fill_between(sizes, mean - std, mean + std, alpha=0.15)
        ax.set(title=name, xlabel="labelled rows", ylabel="test accuracy")
        ax.grid(alpha=0.3)
        ax.legend()
    figure.suptitle(
        f"Labelling order: MiniLM-L6 (frozen) + logistic regression, {len(args.seeds)} seeds, "
        f"{args.batch} rows a round"
    )
    figure.tight_layout()
    (ROOT / "docs").mkdir(exist_ok=True)
    figure.savefig(ROOT / "docs" / "active_learning.png", dpi=110)
    out = ROOT / "docs" / "active_learning.json"
    out.write_text(json.dumps(summary | {"seeds": args.seeds, "batch": args.batch}, indent=1))
    print(f"\nwrote docs/active_learning.png and {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
