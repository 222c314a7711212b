"""Calibration: reliability curve, expected calibration error (ECE) and Brier score.

The reliability curve and the Brier score are scikit-learn's (``calibration_curve``,
``brier_score_loss``). ECE uses the same equal-width bins: the case-weighted mean of
``|observed frequency - mean predicted probability|`` over non-empty bins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss

from bcl_core.errors import StatsError
from bcl_core.stats._checks import binary_labels, matching_scores

DEFAULT_BINS = 10


@dataclass(frozen=True)
class Calibration:
    """Reliability curve (non-empty bins only), bin counts, ECE and Brier score."""

    mean_predicted: NDArray[np.float64]
    observed_frequency: NDArray[np.float64]
    bin_counts: NDArray[np.int64]
    ece: float
    brier: float


def calibration_summary(y_true: ArrayLike, probabilities: ArrayLike, n_bins: int = DEFAULT_BINS) -> Calibration:
    """Reliability curve, ECE and Brier score of predicted probabilities.

    Raises
    ------
    StatsError
        Probabilities outside [0, 1], bad bin count, mismatched input.
    """
    labels = binary_labels(y_true, need_both=False)
    probs = matching_scores(probabilities, labels.size, "probabilities")
    if probs.min() < 0.0 or probs.max() > 1.0:
        raise StatsError("probabilities must lie in [0, 1].")
    if n_bins < 1:
        raise StatsError(f"number of calibration bins must be positive, got {n_bins}.")
    observed, predicted = calibration_curve(labels, probs, n_bins=n_bins, strategy="uniform")
    # The bins calibration_curve uses (uniform edges, searchsorted to the left), so the counts
    # line up with its non-empty bins.
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bin_ids = np.searchsorted(edges[1:-1], probs)
    counts = np.bincount(bin_ids, minlength=n_bins)
    counts = counts[counts > 0]
    ece = float(np.sum(counts * np.abs(observed - predicted)) / labels.size)
    return Calibration(
        mean_predicted=predicted,
        observed_frequency=observed,
        bin_counts=counts.astype(np.int64),
        ece=ece,
        brier=float(brier_score_loss(labels, probs)),
    )
