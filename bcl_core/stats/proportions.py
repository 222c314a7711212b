"""Confusion matrix and the metrics derived from it, each with a confidence interval.

Proportions (sensitivity, specificity, accuracy, precision) get Wilson score intervals
(statsmodels ``proportion_confint(method="wilson")``). F1 is not a binomial proportion, so its
interval is a stratified, seeded percentile bootstrap (:mod:`bcl_core.stats.bootstrap`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from statsmodels.stats.proportion import proportion_confint

from bcl_core.stats._checks import binary_labels, check_level, matching_scores
from bcl_core.stats.bootstrap import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    percentile_interval,
    stratified_indices,
)

METRIC_NAMES: tuple[str, ...] = ("sensitivity", "specificity", "accuracy", "precision", "f1")


@dataclass(frozen=True)
class ConfusionCounts:
    """Counts of a binary confusion matrix."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def n(self) -> int:
        """Number of cases."""
        return self.tp + self.fp + self.fn + self.tn


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its interval and how the interval was obtained."""

    value: float
    lo: float
    hi: float
    method: str


def confusion_counts(y_true: ArrayLike, calls: ArrayLike) -> ConfusionCounts:
    """Confusion matrix counts of 0/1 calls against 0/1 labels.

    Examples
    --------
    >>> confusion_counts([1, 1, 0, 0], [1, 0, 1, 0])
    ConfusionCounts(tp=1, fp=1, fn=1, tn=1)
    """
    labels = binary_labels(y_true, need_both=False)
    pred = binary_labels(matching_scores(calls, labels.size, "calls"), need_both=False)
    return ConfusionCounts(
        tp=int(np.sum(labels & pred)),
        fp=int(np.sum(~labels & pred)),
        fn=int(np.sum(labels & ~pred)),
        tn=int(np.sum(~labels & ~pred)),
    )


def wilson_ci(successes: int, total: int, level: float = 0.95) -> Estimate:
    """Proportion with its Wilson score interval; ``nan`` when ``total`` is 0.

    Parameters
    ----------
    successes, total
        Count of events and of trials.
    level
        Confidence level.

    Returns
    -------
    Estimate
        Bounds exactly 0 at 0 successes and exactly 1 at ``total`` successes.

    Raises
    ------
    StatsError
        A level outside (0, 1).
    """
    level = check_level(level)
    if total == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), "wilson")
    lo, hi = proportion_confint(successes, total, alpha=1.0 - level, method="wilson")
    # The Wilson bounds at 0 and n successes are exactly 0 and 1; floating point leaves 1 - 1e-16.
    lo = 0.0 if successes == 0 else float(lo)
    hi = 1.0 if successes == total else float(hi)
    return Estimate(successes / total, lo, hi, "wilson")


def f1_from_counts(tp: NDArray[np.float64], fp: NDArray[np.float64], fn: NDArray[np.float64]) -> NDArray[np.float64]:
    """F1 = 2TP / (2TP + FP + FN), elementwise; ``nan`` where undefined (no positives at all)."""
    denom = 2.0 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, 2.0 * tp / np.where(denom > 0, denom, 1.0), np.nan)


def binary_metrics(
    y_true: ArrayLike,
    calls: ArrayLike,
    level: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    indices: NDArray[np.intp] | None = None,
) -> dict[str, Estimate]:
    """Sensitivity, specificity, accuracy, precision (Wilson) and F1 (bootstrap) of 0/1 calls.

    Parameters
    ----------
    y_true, calls
        0/1 labels and 0/1 calls of the same cases.
    level
        Confidence level.
    n_resamples, seed
        Bootstrap settings for F1.
    indices
        Precomputed replicate indices from :func:`stratified_indices` (shared across scorers
        of the same cases so their intervals come from the same replicates); overrides
        ``n_resamples`` and ``seed``.

    Returns
    -------
    dict
        Keys :data:`METRIC_NAMES`.
    """
    counts = confusion_counts(y_true, calls)
    labels = np.asarray(y_true).astype(bool)
    pred = np.asarray(calls).astype(bool)
    if indices is None:
        indices = stratified_indices(labels, n_resamples, seed)
    boot_labels = labels[indices]
    boot_pred = pred[indices]
    tp = np.sum(boot_labels & boot_pred, axis=1).astype(float)
    fp = np.sum(~boot_labels & boot_pred, axis=1).astype(float)
    fn = np.sum(boot_labels & ~boot_pred, axis=1).astype(float)
    f1 = float(f1_from_counts(np.array([counts.tp]), np.array([counts.fp]), np.array([counts.fn]))[0])
    f1_lo, f1_hi = percentile_interval(f1_from_counts(tp, fp, fn), level)
    return {
        "sensitivity": wilson_ci(counts.tp, counts.tp + counts.fn, level),
        "specificity": wilson_ci(counts.tn, counts.tn + counts.fp, level),
        "accuracy": wilson_ci(counts.tp + counts.tn, counts.n, level),
        "precision": wilson_ci(counts.tp, counts.tp + counts.fp, level),
        "f1": Estimate(f1, f1_lo, f1_hi, f"stratified bootstrap percentile (B={indices.shape[0]})"),
    }
