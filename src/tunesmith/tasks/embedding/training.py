"""Training on pairs: the dataset, the collator and the multiple-negatives ranking loss.

A batch is one padded block of texts (the queries, then their passages, then any hard
negatives), so the plain AutoModel runs it in one forward pass and the Trainer saves it as it
is. `labels` carries, per text: its text id, its role, its row in the batch, and its attention
mask, which the loss needs for mean pooling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from tunesmith.tasks.embedding.model import mean_pool

ROLES = ("query", "positive", "negative")  # codes 0, 1, 2 in `labels`
QUERY, POSITIVE, NEGATIVE = 0, 1, 2
SCALE = 20.0  # cosine similarity x 20 as logits (sentence-transformers' default scale)
META = 3  # label columns before the attention mask: text id, role, row


class PairDataset(Dataset):
    """(query, passage[, negative]) rows, tokenised once with the model's prompts."""

    def __init__(self, examples, processor, max_length: int):
        frame = examples.frame
        columns = {"query": ("input", "query"), "positive": ("passage", "passage")}
        if "negative" in frame:
            columns["negative"] = ("negative", "passage")
        ids: dict[str, int] = {}  # equal ids: word for word the same text
        self.tokens, self.ids = {}, {}
        for role, (column, kind) in columns.items():
            texts = [str(t) for t in frame[column]]
            present = [i for i, t in enumerate(texts) if t]
            encoded = processor.tokenizer(
                processor.with_prompt([texts[i] for i in present], kind),
                truncation=True,
                max_length=max_length,
            )["input_ids"]
            self.tokens[role] = [None] * len(texts)
            for i, tokens in zip(present, encoded, strict=True):
                self.tokens[role][i] = tokens
            self.ids[role] = [ids.setdefault(t, len(ids)) if t else -1 for t in texts]

    def __len__(self) -> int:
        return len(self.tokens["query"])

    def __getitem__(self, index: int) -> dict:
        """Keys the Trainer keeps (it drops those the model's forward does not name): the
        query's, passage's and negative's tokens, and their text ids."""
        roles = [r for r in ROLES if r in self.tokens and self.tokens[r][index] is not None]
        return {
            "input_ids": {r: self.tokens[r][index] for r in roles},
            "labels": {r: self.ids[r][index] for r in roles},
        }


class PairCollator:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, batch: list[dict]) -> dict:
        texts, meta = [], []
        for code, role in enumerate(ROLES):
            for row, item in enumerate(batch):
                if role in item["input_ids"]:
                    texts.append(item["input_ids"][role])
                    meta.append([item["labels"][role], code, row])
        padded = self.tokenizer.pad({"input_ids": texts}, padding=True, return_tensors="pt")
        mask = padded["attention_mask"]
        return {
            "input_ids": padded["input_ids"],
            "attention_mask": mask,
            "labels": torch.cat([torch.tensor(meta), mask], dim=1),
        }


def ranking_loss(outputs, labels: torch.Tensor, scale: float = SCALE) -> torch.Tensor:
    """Multiple-negatives ranking loss: each query against every passage and hard negative in
    the batch, cross-entropy towards its own passage. Candidates known to answer the query too
    (a copy of its passage, another passage of the same query text) are left out of its softmax:
    neither the target nor a negative."""
    hidden = outputs["last_hidden_state"] if isinstance(outputs, dict) else outputs[0]
    meta, mask = labels[:, :META], labels[:, META:]
    vectors = mean_pool(hidden[:, : mask.shape[1]], mask)
    role, text_id, row = meta[:, 1], meta[:, 0], meta[:, 2]
    is_query = role == QUERY
    candidate = ~is_query  # positives (in row order), then negatives
    queries, passages = vectors[is_query], vectors[candidate]
    n = queries.shape[0]
    query_ids, candidate_ids = text_id[is_query], text_id[candidate]
    positive_ids = candidate_ids[:n]
    candidate_rows, candidate_is_positive = row[candidate], role[candidate] == POSITIVE
    same_text = positive_ids[:, None] == candidate_ids[None, :]
    same_query = candidate_is_positive[None, :] & (
        query_ids[:, None] == query_ids[candidate_rows][None, :]
    )
    own = torch.zeros_like(same_text)
    own[torch.arange(n), torch.arange(n)] = True
    logits = scale * queries @ passages.t()
    logits = logits.masked_fill((same_text | same_query) & ~own, float("-inf"))
    return F.cross_entropy(logits, torch.arange(n, device=logits.device))


def probe_pairs(batch: int, length: int, vocab: int) -> dict:
    """A random batch as PairCollator makes it, for the training-step probe: `batch` queries,
    then their passages, every text different."""
    ids = torch.randint(5, min(vocab, 30000), (2 * batch, length))
    rows = torch.arange(batch).repeat(2)
    roles = torch.tensor([QUERY] * batch + [POSITIVE] * batch)
    meta = torch.stack([torch.arange(2 * batch), roles, rows], dim=1)
    mask = torch.ones_like(ids)
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.cat([meta, mask], dim=1)}
