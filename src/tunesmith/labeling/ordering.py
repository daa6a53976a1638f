"""Which unlabelled rows a person should label first: the ones the model is least sure of,
spread out so that fifty near-copies of one confusing row do not fill the queue.

Greedy, one row at a time (maximal marginal relevance): the next row is the one whose
uncertainty minus `weight` x its similarity to the closest row already queued is highest, among
the `pool` x `limit` least sure rows. A second near-copy of a queued row (similarity near 1)
drops behind every row that is not one. Similarity is the cosine of TF-IDF vectors of character
n-grams for text (no word splitting, so Chinese works) or of small grey thumbnails for images.
Clustering the pool and taking the least sure row per cluster (Zhdanov 2019) was tried first:
a pool filled with copies of one row collapses into one cluster, and the copies came back batch
after batch.
"""

from __future__ import annotations

import numpy as np


def text_features(texts: list[str]):
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    return vectorizer.fit_transform([str(t) for t in texts])


def image_features(paths: list[str], side: int = 16) -> np.ndarray:
    from PIL import Image

    rows = []
    for path in paths:
        with Image.open(path) as image:
            rows.append(np.asarray(image.convert("L").resize((side, side)), dtype=np.float32))
    flat = np.stack(rows).reshape(len(rows), -1) / 255.0
    return flat - flat.mean(axis=1, keepdims=True)  # cosine of what differs from the mean grey


def order(features, uncertainty, limit=None, pool: int = 5, weight: float = 1.0) -> list[int]:
    """Row indices, the first to label first: the first `limit` of them (default: all)."""
    from sklearn.preprocessing import normalize

    doubt = np.asarray(uncertainty, dtype=float)
    limit = len(doubt) if limit is None else min(limit, len(doubt))
    candidates = np.argsort(-doubt, kind="stable")[: limit * pool]
    vectors = normalize(features[candidates])
    closest = np.zeros(len(candidates))  # similarity to the most similar row queued so far
    open_ = np.ones(len(candidates), dtype=bool)
    ranked = []
    for _ in range(limit):
        gain = np.where(open_, doubt[candidates] - weight * closest, -np.inf)
        best = int(np.argmax(gain))
        open_[best] = False
        ranked.append(int(candidates[best]))
        similarity = vectors @ vectors[best].T
        similarity = similarity.toarray() if hasattr(similarity, "toarray") else similarity
        closest = np.maximum(closest, np.asarray(similarity).ravel())
    return ranked
