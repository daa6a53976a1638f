"""Stratified, seeded train/val/test splits, checked before they can fail halfway."""

from __future__ import annotations

from collections import Counter

import numpy as np

from tunesmith.errors import TunesmithError


def stratified_split(
    labels: list[str] | None,
    val_size: float,
    test_size: float,
    seed: int,
    need_val: bool = True,
    need_test: bool = True,
    source: str = "data",
    rows: int = 0,
) -> dict[str, list[int]]:
    """Return row indices for train/val/test, each class spread in proportion across splits.

    `labels` holds one stratification key per row; None (with `rows`) splits at random, for
    tasks without one label per example. Splits the user supplies as files are not carved out
    here (need_val/need_test False).
    """
    from sklearn.model_selection import train_test_split

    if labels is None:
        labels = ["all"] * rows
    parts = int(need_val) + int(need_test)
    counts = Counter(labels)
    small = {label: n for label, n in counts.items() if n < parts + 1}
    if small:
        listed = ", ".join(
            f"{k!r} ({v} row{'s' if v > 1 else ''})" for k, v in sorted(small.items())
        )
        raise TunesmithError(
            f"too few examples to split class {listed} into train/val/test",
            where=source,
            fix=f"add examples so each class has at least {parts + 1} rows, remove that class, "
            "or supply --data.val_file/--data.test_file",
        )
    index = np.arange(len(labels))
    y = np.asarray(labels)
    stratify = len(counts) > 1
    out: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    try:
        rest = index
        if need_test:
            rest, test = train_test_split(
                index, test_size=test_size, stratify=y if stratify else None, random_state=seed
            )
            out["test"] = sorted(test.tolist())
        if need_val:
            share = val_size / (1 - (test_size if need_test else 0))
            rest, val = train_test_split(
                rest, test_size=share, stratify=y[rest] if stratify else None, random_state=seed
            )
            out["val"] = sorted(val.tolist())
    except ValueError as exc:  # e.g. fewer held-out rows than classes
        raise TunesmithError(
            f"cannot make a stratified split ({exc})",
            where=source,
            fix="add data, raise --data.val_size/--data.test_size, or supply "
            "--data.val_file/--data.test_file",
        ) from None
    out["train"] = sorted(rest.tolist())
    return out
