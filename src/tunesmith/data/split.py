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

    A 2-D `labels` (rows x labels of 0/1, from multi-label tasks) is split by iterative
    stratification, which keeps each label's frequency across the splits (`iterative_split`);
    with groups, whole groups go at random.
    """
    if labels is not None and np.ndim(labels) == 2:
        if groups is None:
            return iterative_split(
                np.asarray(labels), val_size, test_size, seed, need_val, need_test
            )
        labels, rows = None, len(labels)
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
            + (
                ", or use a --data.group_column with more distinct values"
                if groups is not None
                else ""
            ),
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


def iterative_split(
    y: np.ndarray,
    val_size: float,
    test_size: float,
    seed: int,
    need_val: bool = True,
    need_test: bool = True,
) -> dict[str, list[int]]:
    """Multi-label rows split by iterative stratification (Sechidis et al., 2011): the rarest
    label's rows are dealt first, each to the split that still wants most of that label (ties: the
    split that wants most rows, then at random); rows without labels fill the remaining room.
    Every label ends up with at least one row in train (moved there from val/test if need be)."""
    rng = np.random.default_rng(seed)
    y = y.astype(bool)
    shares = np.array([1.0 - val_size * need_val - test_size * need_test, val_size, test_size])
    shares *= [1, need_val, need_test]
    want_rows = shares * len(y)
    want = np.outer(shares, y.sum(axis=0))  # splits x labels: rows of each label still wanted
    split = np.full(len(y), -1)
    while True:
        left = y[split < 0].sum(axis=0)
        if not left.any():
            break
        rarest = np.flatnonzero(left == left[left > 0].min())
        label = rng.choice(rarest)
        for row in rng.permutation(np.flatnonzero((split < 0) & y[:, label])):
            split[row] = _most_wanted(want[:, label], want_rows, shares, rng)
            want[split[row]] -= y[row]
            want_rows[split[row]] -= 1
    for row in rng.permutation(np.flatnonzero(split < 0)):
        split[row] = _most_wanted(want_rows, want_rows, shares, rng)
        want_rows[split[row]] -= 1
    for label in np.flatnonzero(y.any(axis=0) & ~y[split == 0].any(axis=0)):
        split[rng.choice(np.flatnonzero(y[:, label]))] = 0
    return {name: np.flatnonzero(split == i).tolist() for i, name in enumerate(SPLITS)}


SPLITS = ("train", "val", "test")


def _most_wanted(wanted: np.ndarray, rows: np.ndarray, shares: np.ndarray, rng) -> int:
    """The split (among those asked for) that wants most, ties broken by rows wanted, then at
    random."""
    open_ = np.flatnonzero(shares > 0)
    best = open_[wanted[open_] == wanted[open_].max()]
    best = best[rows[best] == rows[best].max()]
    return int(rng.choice(best))
