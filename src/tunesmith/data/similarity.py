"""Near-duplicate texts: the same text up to case, punctuation and spacing (every row, cheap),
and texts whose character n-grams are almost the same (TF-IDF cosine, on a sample).

Character n-grams work for Chinese as for English. Copies that differ by a word still let a
model memorise its way to a good test score when they straddle train and test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SAMPLE = 5_000  # rows compared pairwise by cosine (quadratic); the loose key sees every row
THRESHOLD = 0.9


def loose_key(texts: pd.Series) -> pd.Series:
    """Lower-cased, punctuation and spaces removed: "Great film!" == "great  film" (in Arrow,
    not through Python strings)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pc.utf8_lower(pa.array(texts.astype(str).array))
    return pd.Series(
        pc.replace_substring_regex(values, r"[^\pL\pN]+", ""),
        index=texts.index,
        dtype=texts.astype(str).dtype,
    )


def _vectors(texts: list[str]):
    """The fitted vectorizer and the texts' TF-IDF rows, in one pass over the n-grams."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), dtype=np.float32)
    return vectorizer, vectorizer.fit_transform(texts)


def sample_positions(n: int, seed: int = 0) -> np.ndarray:
    """Up to SAMPLE of range(n), sorted: the rows compared pairwise."""
    return _sample(n, seed)


def similar_pairs(texts: list[str], threshold: float = THRESHOLD) -> list[tuple[int, int, float]]:
    """(i, j, cosine) for i < j with cosine >= threshold (give it a sample: it is pairwise)."""
    if len(texts) < 2:
        return []
    _, matrix = _vectors(texts)
    pairs = []
    for start in range(0, len(texts), 500):
        block = (matrix[start : start + 500] @ matrix.T).toarray()
        rows, cols = np.nonzero(block >= threshold)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            i = start + r
            if i < c:
                pairs.append((i, int(c), float(block[r, c])))
    return pairs


def similar_across(
    train: list[str], held_out: list[str], threshold: float = THRESHOLD, seed: int = 0
) -> list[tuple[int, int, float]]:
    """(held-out index, train index, cosine) for held-out texts nearly equal to a training text."""
    picked_train, picked_held = _sample(len(train), seed), _sample(len(held_out), seed)
    if not len(picked_train) or not len(picked_held):
        return []
    train_texts = [train[i] for i in picked_train]
    vectorizer, train_matrix = _vectors(train_texts)
    held_matrix = vectorizer.transform([held_out[i] for i in picked_held])
    pairs = []
    for start in range(0, held_matrix.shape[0], 500):
        block = (held_matrix[start : start + 500] @ train_matrix.T).toarray()
        best = block.argmax(axis=1)
        for r, c in enumerate(best.tolist()):
            if block[r, c] >= threshold:
                held, trained = int(picked_held[start + r]), int(picked_train[c])
                pairs.append((held, trained, float(block[r, c])))
    return pairs


def _sample(n: int, seed: int) -> np.ndarray:
    if n <= SAMPLE:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, SAMPLE, replace=False))
