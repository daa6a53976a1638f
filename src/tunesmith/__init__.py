"""tunesmith: fine-tune pretrained models on your own data, end to end.

    import tunesmith
    run = tunesmith.train("bbc/", model="minilm-l6", out="runs/bbc")
    model = tunesmith.load("runs/bbc")
    model.predict(["Shares fell sharply after the results"])

Imports stay light: torch and transformers load only when training or predicting starts.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["train", "load", "evaluate", "TunesmithError", "__version__"]

from tunesmith.errors import TunesmithError


def __getattr__(name: str):
    # Lazy so that `import tunesmith` (and `tunesmith --help`) never imports torch.
    if name in {"train", "load", "evaluate"}:
        from tunesmith import api

        return getattr(api, name)
    raise AttributeError(f"module 'tunesmith' has no attribute {name!r}")
