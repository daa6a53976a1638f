"""Likely mislabelled rows, found by confident learning (cleanlab) on out-of-fold predictions of
a quick model (data/quick_model.py).

A row is suspect when the quick model, which never saw that row, is confident in another label.
That means something only when the quick model is good at the task: on sentiment a TF-IDF model
is wrong on a quarter of the rows, and its disagreements flagged 22% of a mostly right set. So
the model is judged first by its own out-of-fold balanced accuracy, and rows are listed only
when it passes. Suspects are reported for review, never dropped: the quick model can still be
the one that is wrong.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

SAMPLE = 20_000  # rows checked at most; a larger dataset is checked on a random sample
FOLDS = 5
# Out-of-fold balanced accuracy (mean recall per class, against the given labels) the quick
# model needs before its disagreements are listed. Measured with 5% planted flips
# (bench/label_noise.py): BBC topics 0.92-0.93, precision 0.88-0.91; Rotten Tomatoes
# sentiment 0.69-0.74, precision 0.13-0.17. Labels that are 10% wrong cost a perfect model
# about 0.1, so a clean-enough set with a good model still passes.
MIN_BALANCED_ACCURACY = 0.85
KEEP = 1_000  # suspects kept in the report (most suspect first)


def check_labels(
    texts: list[str],
    labels: list[str],
    seed: int = 0,
    model: str | None = None,
    min_balanced_accuracy: float = MIN_BALANCED_ACCURACY,
) -> dict:
    """How good the quick model is, whether it is trusted, and (only then) the suspects:
    `issues` = [{index, label, suggested, score, given_probability}] ranked most suspect
    first (lowest out-of-fold probability of the given label); `index` into the inputs, `score`
    the probability of the suggested label. `model` (a --model value) adds sentence embeddings
    on small data; without it, or when it cannot be loaded, TF-IDF alone."""
    from cleanlab.filter import find_label_issues
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedKFold

    from tunesmith.data import quick_model

    started = time.perf_counter()
    index = np.arange(len(texts))
    if len(index) > SAMPLE:
        index = np.sort(np.random.default_rng(seed).choice(len(index), SAMPLE, replace=False))
    y_all = pd.Series([labels[i] for i in index])
    counts = y_all.value_counts()
    usable = y_all.isin(counts.index[counts >= 2]).to_numpy()  # each class in several folds
    index, y_names = index[usable], y_all[usable].tolist()
    classes = sorted(set(y_names))
    if len(classes) < 2 or len(index) < 10:
        return {"rows_checked": 0, "trusted": False, "issues": []}
    y = np.array([classes.index(v) for v in y_names])
    folds = int(min(FOLDS, pd.Series(y).value_counts().min()))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    chosen = [texts[i] for i in index]
    probs = quick_model.tfidf_probabilities(chosen, y, cv)
    name, note = "word TF-IDF + logistic regression", None
    if model and len(index) <= quick_model.EMBED_ROWS:
        try:
            embedded = quick_model.embedding_probabilities(chosen, y, cv, model)
            probs, name = (probs + embedded) / 2, f"{name}, averaged with a probe on {model}"
        except Exception as exc:  # any failure to load or run it: TF-IDF still checks
            note = f"{model} could not embed the texts ({type(exc).__name__}); TF-IDF alone"
    predicted = probs.argmax(1)
    out = {
        "quick_model": name,
        "rows_checked": len(index),
        "accuracy": round(float((predicted == y).mean()), 4),
        "balanced_accuracy": round(float(balanced_accuracy_score(y, predicted)), 4),
        "majority_accuracy": round(float(np.bincount(y).max() / len(y)), 4),
        "min_balanced_accuracy": min_balanced_accuracy,
    }
    out["trusted"] = out["balanced_accuracy"] >= min_balanced_accuracy
    out |= {"note": note} if note else {}
    # n_jobs=1: cleanlab's default forks a process pool, which can hang for good when the
    # process has threads (the studio runs the doctor in one) and torch's thread pool is up
    ranked = find_label_issues(y, probs, return_indices_ranked_by="self_confidence", n_jobs=1)
    out["disagreements"] = len(ranked)  # what an untrusted model would have flagged
    out["likely_mislabelled"] = len(ranked) if out["trusted"] else None
    out["issues"] = [_issue(i, index, y, probs, classes) for i in ranked.tolist()[:KEEP]]
    if not out["trusted"]:
        out["issues"] = []  # its disagreements are mostly its own mistakes
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def _issue(i: int, index, y, probs, classes) -> dict:
    best = int(probs[i].argmax())
    return {
        "index": int(index[i]),
        "label": classes[y[i]],
        "suggested": classes[best],
        "score": round(float(probs[i, best]), 4),
        "given_probability": round(float(probs[i, y[i]]), 4),
    }
