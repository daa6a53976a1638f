"""Freeze parts of a pretrained model: embeddings, the bottom N layers, or all but the head."""

from __future__ import annotations

from tunesmith.errors import TunesmithError


def _layers(base):
    """The stack of transformer layers: the longest ModuleList of the base model."""
    import torch.nn as nn

    lists = [m for m in base.modules() if isinstance(m, nn.ModuleList)]
    return max(lists, key=len) if lists else []


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
                raise TunesmithError(f"the model has only {len(layers)} layers",
                                     where=f"--train.freeze {spec}",
                                     fix=f"use a number from 0 to {len(layers)}, or 'head'")
            for layer in layers[: int(spec)]:
                for p in layer.parameters():
                    p.requires_grad = False
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}
