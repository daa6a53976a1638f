"""Is the new version really better, or lucky on this test set? Paired tests on the frozen test
set, both versions answering the same rows.

- McNemar's exact test on the rows exactly one version gets right (tasks whose answers are
  right or wrong per row: one label per input). It ignores the rows both get right or wrong.
- A paired bootstrap of the promotion metric: resample the test rows with replacement, score
  both versions on each resample, and look at the gains. The interval is the middle 95% of
  them; the one-sided p-value is the share of resamples where the new version is no better.

A gain of a few hundredths of F1 on a few hundred rows usually sits well inside the noise;
these say so instead of promoting it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

ROUNDS = 1000
ALPHA = 0.05  # promote only when p < ALPHA


def mcnemar(live_right: list[bool], new_right: list[bool]) -> dict:
    """One-sided exact McNemar test: is the new version right more often where they differ?"""
    from scipy.stats import binomtest

    live, new = np.asarray(live_right, bool), np.asarray(new_right, bool)
    only_live, only_new = int((live & ~new).sum()), int((~live & new).sum())
    differ = only_live + only_new
    p = binomtest(only_new, differ, 0.5, alternative="greater").pvalue if differ else 1.0
    return {
        "test": "McNemar, exact, one-sided",
        "only_live_right": only_live,
        "only_new_right": only_new,
        "p": float(p),
    }


def paired_bootstrap(
    statistic: Callable[[np.ndarray], tuple[float, float]],
    rows: int,
    higher: bool,
    rounds: int = ROUNDS,
    seed: int = 0,
) -> dict:
    """`statistic(rows)` scores (live, new) on those test rows (indices, repeats allowed)."""
    rng = np.random.default_rng(seed)
    live, new = statistic(np.arange(rows))
    sign = 1.0 if higher else -1.0
    gains = np.empty(rounds)
    for i in range(rounds):
        a, b = statistic(rng.integers(0, rows, rows))
        gains[i] = sign * (b - a)
    low, high = np.percentile(gains, [2.5, 97.5])
    return {
        "test": f"paired bootstrap, {rounds} resamples of the {rows} test rows",
        "gain": float(sign * (new - live)),
        "interval": [float(low), float(high)],
        "p": float((np.sum(gains <= 0) + 1) / (rounds + 1)),
    }


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> Callable[[np.ndarray], float]:
    """A statistic over rows from per-row values and weights (a token count, or 1)."""

    def mean(rows: np.ndarray) -> float:
        return float(np.sum(values[rows] * weights[rows]) / max(np.sum(weights[rows]), 1e-12))

    return mean
