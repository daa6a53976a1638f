"""Search quality: held-out queries against the whole corpus (every distinct passage of the
data, not only the test split's), recall@1/5/10, MRR@10 and nDCG@10."""

from __future__ import annotations

import math

import torch

from tunesmith.tasks.embedding.data import corpus_of
from tunesmith.tasks.embedding.model import embed

KS = (1, 5, 10)
DEPTH = 10  # MRR and nDCG look this deep
NAMES = [f"recall@{k}" for k in KS] + [f"MRR@{DEPTH}", f"nDCG@{DEPTH}"]


def ranking_metrics(top: list[list[int]], relevant: list[set[int]]) -> dict[str, float]:
    """`top[q]`: corpus positions, most similar first (at least DEPTH where the corpus has
    them); `relevant[q]`: the positions that answer query q. Recall@k: the share of a query's
    relevant passages among its k first (BEIR's definition; with one passage per query, the
    share of queries whose passage is there). MRR@10: 1 / the rank of the first relevant
    passage, 0 past rank 10. nDCG@10: binary relevance, discounted by log2(rank + 1)."""
    sums = dict.fromkeys(NAMES, 0.0)
    for ranked, wanted in zip(top, relevant, strict=True):
        for k in KS:
            sums[f"recall@{k}"] += len(wanted & set(ranked[:k])) / len(wanted)
        hits = [rank for rank, p in enumerate(ranked[:DEPTH], 1) if p in wanted]
        sums[f"MRR@{DEPTH}"] += 1 / hits[0] if hits else 0.0
        dcg = sum(1 / math.log2(rank + 1) for rank in hits)
        ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(len(wanted), DEPTH) + 1))
        sums[f"nDCG@{DEPTH}"] += dcg / ideal
    return {name: round(total / max(1, len(top)), 4) for name, total in sums.items()}


def top_k(query_vectors: torch.Tensor, corpus_vectors: torch.Tensor, k: int, chunk: int = 1024):
    """(scores, positions) of the k most similar corpus rows per query, in query chunks."""
    k = min(k, corpus_vectors.shape[0])
    scores, positions = [], []
    for start in range(0, query_vectors.shape[0], chunk):
        best = (query_vectors[start : start + chunk] @ corpus_vectors.t()).topk(k, dim=1)
        scores.append(best.values)
        positions.append(best.indices)
    return torch.cat(scores), torch.cat(positions)


def ranked(model, processor, examples, max_length: int, batch_size: int = 64):
    """Each held-out query's corpus positions, most similar first, and the positions that
    answer it; and the corpus."""
    frame = examples.frame
    corpus = corpus_of(examples)
    where = {p: i for i, p in enumerate(corpus)}
    queries = list(dict.fromkeys(frame["input"]))
    relevant: dict[str, set[int]] = {q: set() for q in queries}
    for query, passage in zip(frame["input"], frame["passage"], strict=True):
        relevant[query].add(where[passage])
    query_vectors, _ = embed(model, processor, queries, "query", max_length, batch_size)
    corpus_vectors, _ = embed(model, processor, corpus, "passage", max_length, batch_size)
    _, positions = top_k(query_vectors, corpus_vectors, DEPTH)
    return positions.tolist(), [relevant[q] for q in queries], corpus


def evaluate(model, processor, examples, max_length: int, batch_size: int = 64) -> dict:
    top, relevant, corpus = ranked(model, processor, examples, max_length, batch_size)
    metrics = ranking_metrics(top, relevant)
    return metrics | {"queries": len(top), "corpus": len(corpus), "count": len(examples)}


def ndcg_per_query(top: list[list[int]], relevant: list[set[int]]) -> list[float]:
    """nDCG@10 of each query (their mean is ranking_metrics' nDCG@10)."""
    return [
        ranking_metrics([ranked], [wanted])[f"nDCG@{DEPTH}"]
        for ranked, wanted in zip(top, relevant, strict=True)
    ]


def search(model, processor, query: str, corpus: list[str], k: int, max_length: int) -> list:
    query_vector, _ = embed(model, processor, [query], "query", max_length)
    corpus_vectors, _ = embed(model, processor, corpus, "passage", max_length)
    scores, positions = top_k(query_vector, corpus_vectors, k)
    return [
        {"passage": corpus[p], "score": round(s, 4), "index": p}
        for s, p in zip(scores[0].tolist(), positions[0].tolist(), strict=True)
    ]


def before_after_rows(metrics: dict) -> list[list[str]]:
    before = metrics.get("before") or {}
    return [
        [name, f"{before[name]:.3f}" if name in before else "n/a", f"{metrics[name]:.3f}"]
        for name in NAMES
    ]
