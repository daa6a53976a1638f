"""Duplicates within a dataset and texts shared between training data and held-out files.

A copy of a training text in the test set inflates the test score; the split the user did not
supply is made after de-duplication, so only user-supplied val/test files can leak.
"""

from __future__ import annotations

from tunesmith.console import info
from tunesmith.data.clean import drop_duplicates, example_keys
from tunesmith.data.readers import describe_row
from tunesmith.errors import TunesmithError
from tunesmith.tasks.base import Examples


def deduplicated(examples: Examples, options=None) -> Examples:
    frame, notes = drop_duplicates(examples.frame, options)
    return Examples(frame, examples.source, examples.columns, examples.notes + notes)


def shared_inputs(train: Examples, held_out: Examples):
    """A boolean mask over `train`: rows whose input also appears in `held_out`."""
    return example_keys(train.frame).isin(set(example_keys(held_out.frame)))


def check_leakage(train: Examples, held_out: Examples, split: str, mode: str) -> Examples:
    """Stop on, drop, or keep (with a warning) training rows that appear in a held-out file."""
    leaked = shared_inputs(train, held_out)
    count = int(leaked.sum())
    if not count:
        return train
    first = describe_row(train.source, int(train.frame["row"][leaked].iloc[0]))
    what = f"{count} training text(s) also appear in the {split} file {held_out.source}"
    if mode == "stop":
        raise TunesmithError(
            f"{what} (first: {first}); the {split} score would be inflated",
            where=f"--data.{split}_file",
            fix="remove them from one of the files, or pass --data.leakage drop (drop them "
            "from training) or --data.leakage keep",
        )
    if mode == "keep":
        info(f"Warning: {what} (first: {first}); kept (--data.leakage keep).")
        return train
    note = f"Dropped {what} from training (--data.leakage drop; first: {first})."
    kept = train.frame[~leaked.to_numpy()].reset_index(drop=True)
    return Examples(kept, train.source, train.columns, [*train.notes, note])
