"""Inference over texts for the sequence classifiers (single- and multi-label): shortest texts
first, so each batch pads little, with the rows put back in input order."""

from __future__ import annotations


def logits_in_order(model, processor, texts: list[str], max_length: int, batch_size: int = 64):
    """One row of float logits per text, in input order (a tensor); the model may be PyTorch or
    the ONNX backend, which looks the same."""
    import torch

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    rows: list = [None] * len(texts)
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            encoded = processor(
                [texts[i] for i in batch],
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            ).to(model.device)
            for i, row in zip(batch, model(**encoded).logits.float().cpu(), strict=True):
                rows[i] = row
    return torch.stack(rows) if rows else torch.zeros(0, 0)
