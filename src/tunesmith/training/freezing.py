"""Freeze parts of a pretrained model: embeddings, the bottom N layers, or all but the head."""

from __future__ import annotations

from tunesmith.errors import TunesmithError


def _layers(base):
    """The stack of transformer layers: the longest ModuleList of the base model."""
    import torch.nn as nn

    lists = [m for m in base.modules() if isinstance(m, nn.ModuleList)]
    return max(lists, key=len) if lists else []


SMALL_DATA_ROWS = 10_000


def resolve_freeze(spec: str, train_rows: int) -> str:
    """`auto`: freeze the embeddings on small data, train everything otherwise.

    The embedding table is the largest single block of a small encoder (11.7M of MiniLM-L6's
    22.7M parameters); few examples update few of its rows, and noisily. Measured on BBC News
    (1,779 training articles, MiniLM-L6, 3 epochs): the same test accuracy (0.978) with it
    frozen or not, and 24% less training time.
    """
    if spec != "auto":
        return spec
    return "embeddings" if train_rows < SMALL_DATA_ROWS else "none"


def apply_freezing(model, spec: str) -> dict[str, int]:
    """Apply `spec` (none | embeddings | N | head) and return parameter counts."""
    base = model.base_model
    if spec == "head":
        for p in base.parameters():
            p.requires_grad = False
    elif spec != "none":
        embeddings = getattr(base, "embeddings", None) or base.get_input_embeddings()
        for p in embeddings.parameters():
            p.requires_grad = False
        if spec.isdigit() and int(spec) > 0:
            layers = _layers(base)
            if int(spec) > len(layers):
                raise TunesmithError(
                    f"the model has only {len(layers)} layers",
                    where=f"--train.freeze {spec}",
                    fix=f"use a number from 0 to {len(layers)}, or 'head'",
                )
            for layer in layers[: int(spec)]:
                for p in layer.parameters():
                    p.requires_grad = False
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}
