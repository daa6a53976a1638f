"""Which unlabelled rows a person should label first: the ones the model is least sure of,
spread out so that fifty near-copies of one confusing row do not fill the queue.

Greedy, one row at a time (maximal marginal relevance): the next row is the one whose
uncertainty minus `weight` x its redundancy is highest, among the `pool` x `limit` least sure
rows (at least the 2,000 least sure: a short queue drawn from a small pool full of copies of one
row would be those copies). Redundancy is the similarity to the closest row already queued,
above what is typical between two rows of the pool (its 90th percentile: 0 there, 1 for a copy),
so a second near-copy of a queued row drops behind every row that is not one. Similarity is the
cosine of TF-IDF vectors of character n-grams for text (no word splitting, so Chinese works) or
of small grey thumbnails for images.

Measured (bench/active_learning.py): the raw similarity as the penalty sent the first rounds on
BBC News to outliers (long articles share many character n-grams, so every row looked
redundant): 45% accuracy after 30 labels against 70% at the start. Clustering the pool and
taking the least sure row per cluster (Zhdanov 2019) was tried before that: a pool filled with
copies of one row collapses into one cluster, and the copies came back batch after batch.
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


MIN_POOL = 2000


def order(features, uncertainty, limit=None, pool: int = 5, weight: float = 1.0) -> list[int]:
    """Row indices, the first to label first: the first `limit` of them (default: all)."""
    from sklearn.preprocessing import normalize

    doubt = np.asarray(uncertainty, dtype=float)
    limit = len(doubt) if limit is None else min(limit, len(doubt))
    candidates = np.argsort(-doubt, kind="stable")[: max(limit * pool, MIN_POOL)]
    vectors = normalize(features[candidates])
    typical = _typical_similarity(vectors)
    closest = np.zeros(len(candidates))  # similarity to the most similar row queued so far
    open_ = np.ones(len(candidates), dtype=bool)
    ranked = []
    for _ in range(limit):
        redundancy = np.clip((closest - typical) / (1.0 - typical), 0.0, None)
        best = int(np.argmax(np.where(open_, doubt[candidates] - weight * redundancy, -np.inf)))
        open_[best] = False
        ranked.append(int(candidates[best]))
        similarity = vectors @ vectors[best].T
        similarity = similarity.toarray() if hasattr(similarity, "toarray") else similarity
        closest = np.maximum(closest, np.asarray(similarity).ravel())
    return ranked


def _typical_similarity(vectors, pairs: int = 500) -> float:
    """The 90th percentile of the cosine between random pairs of rows (unit vectors)."""
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, vectors.shape[0], (2, pairs))
    products = (
        vectors[a].multiply(vectors[b]) if hasattr(vectors, "multiply") else vectors[a] * vectors[b]
    )
    return float(min(np.quantile(np.asarray(products.sum(axis=1)).ravel(), 0.9), 0.99))
