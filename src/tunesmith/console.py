"""Messages for the person at the terminal. Progress and announcements go to stderr so that
stdout carries only results (predictions, metrics) and can be piped."""

from __future__ import annotations

import os
import sys


def info(message: str) -> None:
    """A message for the user, from the main process only when several train together."""
    if os.environ.get("RANK", "0") == "0":
        print(message, file=sys.stderr, flush=True)


def quiet_libraries() -> None:
    """Silence library chatter we replace with our own, clearer announcements."""
    import datasets
    import huggingface_hub.utils
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    huggingface_hub.utils.disable_progress_bars()  # "Writing model shards" and the like
    import warnings

    # peft still asks for the old name of transformers 5's activation checkpointing flag
    warnings.filterwarnings(
        "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
    )
