"""Embedding results for people: retrieval before and after, vectors as answers."""

from __future__ import annotations

import json
from pathlib import Path

from tunesmith.tasks.report import Report

ST_CONFIG = "config_sentence_transformers.json"  # model.ST_CONFIG, without importing torch


class EmbeddingReport(Report):
    def headline(self, measured):
        return {name: measured[name] for name in ("recall@1", "MRR@10", "nDCG@10")}

    def mistakes(self, predictions, examples, limit=10):
        return []

    def report_sections(self, measured, mistakes):
        from tunesmith.evaluation.report import table

        body = table(["test queries", "before fine-tuning", "after"], rows(measured))
        body += (
            f"<p class='muted'>{measured['queries']} held-out queries searched against all "
            f"{measured['corpus']} distinct passages of the data. Recall@k: the share of a "
            "query's passages among the k closest; MRR@10: 1 / the rank of the first one; "
            "nDCG@10: rank-discounted hits.</p>"
        )
        return [("Before and after fine-tuning", body)]

    def card_details(self, measured):
        return "| test queries | before | after |\n|---|---|---|\n" + "\n".join(
            f"| {a} | {b} | {c} |" for a, b, c in rows(measured)
        )

    def plain_usage(self, run_dir):
        prompts = {}
        saved = Path(run_dir) / ST_CONFIG
        if saved.is_file():
            prompts = json.loads(saved.read_text(encoding="utf-8")).get("prompts") or {}
        query = prompts.get("query", "")
        return f"""With sentence-transformers:
```python
from sentence_transformers import SentenceTransformer
model = SentenceTransformer("path/to/this/folder")
vectors = model.encode(["{query}how do I reset my password?"], normalize_embeddings=True)
```
With transformers alone: mean-pool `last_hidden_state` over the attention mask, then
L2-normalise:
```python
from transformers import AutoModel, AutoTokenizer
model = AutoModel.from_pretrained("path/to/this/folder")
tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")
```"""

    def plots(self, measured, history, out_dir: Path):
        from tunesmith.evaluation import plots

        return {"Learning curves": plots.learning_curves(history, out_dir, ())} if history else {}

    def format_answer(self, answer):
        vector = answer["embedding"]
        shown = ", ".join(f"{x:.4f}" for x in vector[:4])
        return f"[{shown}, ...] ({len(vector)} dimensions)"

    def answer_columns(self, answer):
        return {"embedding": json.dumps([round(x, 6) for x in answer["embedding"]])}

    def describe(self, measured):
        lines = [f"  {a:12} before {b:>7}   after {c:>7}" for a, b, c in rows(measured)]
        lines.append(f"  ({measured['queries']} queries against {measured['corpus']} passages)")
        return "\n".join(lines)


def rows(measured: dict) -> list[list[str]]:
    from tunesmith.tasks.embedding.metrics import before_after_rows

    return before_after_rows(measured)
