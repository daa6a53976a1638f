"""Checkpoint weights back into the model, for --resume and the best epoch at the end.

transformers 5 renames some models' weights when loading (ViT: `encoder.layer.0.attention.
attention.query` becomes `layers.0.attention.q_proj`) and saves them under the old names, but
its Trainer reads a checkpoint back with a plain non-strict `load_state_dict`: the renamed
weights are skipped with only a log line, so a resumed run (or the "best" model) silently kept
the body it happened to have. `from_pretrained` applies the renaming; it is used only where the
names differ, so other models load as the Trainer loads them.
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS = "model.safetensors"


def renamed(model, folder: str | Path | None) -> bool:
    """True when the checkpoint in `folder` names its weights otherwise than `model` does."""
    from safetensors import safe_open
    from transformers import PreTrainedModel

    path = Path(folder or "") / WEIGHTS
    if not isinstance(model, PreTrainedModel) or not path.is_file():
        return False  # peft adapters, torchvision models, sharded checkpoints: the Trainer's way
    with safe_open(str(path), framework="pt") as saved:
        names = set(saved.keys())
    return not names <= set(model.state_dict())


def restore(model, folder: str | Path) -> None:
    """Load the checkpoint's weights into `model` in place, renaming them as from_pretrained
    does (a second copy of the weights exists only during the call)."""
    loaded = type(model).from_pretrained(str(folder), dtype=next(model.parameters()).dtype)
    model.load_state_dict(loaded.state_dict(), strict=True)
