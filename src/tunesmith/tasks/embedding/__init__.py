"""Text embeddings for search (`--task embedding`): data.py (pairs, triplets, the corpus),
model.py (mean-pooled encoder, sentence-transformers files), training.py (batches and the
in-batch-negatives loss), metrics.py (recall@k, MRR, nDCG against the whole corpus), task.py."""

from tunesmith.tasks.embedding.task import Embedding

__all__ = ["Embedding"]
