"""Stratified, seeded train/val/test splits, optionally keeping groups whole, checked before
they can fail halfway."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tunesmith.errors import TunesmithError


def stratified_split(
    labels: Sequence[str] | None,
    val_size: float,
    test_size: float,
    seed: int,
    need_val: bool = True,
    need_test: bool = True,
    source: str = "data",
    rows: int = 0,
    groups: Sequence | None = None,
) -> dict[str, list[int]]:
    """Return row indices for train/val/test, each class spread in proportion across splits.

    `labels` holds one stratification key per row; None (with `rows`) splits at random, for
    tasks without one label per example. With `groups`, rows that share a group value land in
    the same split (the shares are then met as closely as whole groups allow). Splits the user
    supplies as files are not carved out here (need_val/need_test False).
    """
    keys = pd.Series(["all"] * rows if labels is None else list(labels), dtype="str")
    parts = int(need_val) + int(need_test)
    counts = keys.value_counts()
    small = counts[counts < parts + 1]
    if len(small) and groups is None:
        listed = ", ".join(
            f"{k!r} ({v} row{'s' if v > 1 else ''})" for k, v in sorted(small.items())
        )
        raise TunesmithError(
            f"too few examples to split class {listed} into train/val/test",
            where=source,
            fix=f"add examples so each class has at least {parts + 1} rows, remove that class, "
            "or supply --data.val_file/--data.test_file",
        )
    y = pd.factorize(keys)[0] if len(counts) > 1 else None
    group_ids = None if groups is None else pd.factorize(pd.Series(list(groups), dtype="str"))[0]
    index = np.arange(len(keys))
    out: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    try:
        rest = index
        if need_test:
            rest, test = _hold_out(rest, y, group_ids, test_size, seed)
            out["test"] = sorted(test.tolist())
        if need_val:
            share = val_size / (1 - (test_size if need_test else 0))
            rest, val = _hold_out(rest, y, group_ids, share, seed)
            out["val"] = sorted(val.tolist())
    except ValueError as exc:  # e.g. fewer held-out rows (or groups) than classes
        raise TunesmithError(
            f"cannot make a {'grouped' if groups is not None else 'stratified'} split ({exc})",
            where=source,
            fix="add data, raise --data.val_size/--data.test_size, or supply "
            "--data.val_file/--data.test_file"
            + (", or use a --data.group_column with more distinct values" if groups else ""),
        ) from None
    out["train"] = sorted(rest.tolist())
    return out


def _hold_out(index, y, groups, size: float, seed: int):
    """Split `index` into (rest, held out) with `size` of it held out."""
    from sklearn.model_selection import (
        GroupShuffleSplit,
        StratifiedGroupKFold,
        train_test_split,
    )

    if groups is None:
        return train_test_split(
            index, test_size=size, stratify=None if y is None else y[index], random_state=seed
        )
    if y is None or len(np.unique(y[index])) < 2:
        splitter = GroupShuffleSplit(n_splits=1, test_size=size, random_state=seed)
        rest, held = next(splitter.split(index, groups=groups[index]))
    else:  # one fold of k ~ 1/size folds, stratified as far as whole groups allow
        folds = max(2, round(1 / size))
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        rest, held = next(splitter.split(index, y[index], groups[index]))
    return index[rest], index[held]
