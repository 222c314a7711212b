"""Calibration: reliability curve, ECE, Brier score, calibration slope and intercept.

The reliability curve and the Brier score are scikit-learn's (``calibration_curve``,
``brier_score_loss``). ECE uses the same equal-width bins: the case-weighted mean of
``|observed frequency - mean predicted probability|`` over non-empty bins.

Logistic recalibration (Cox 1958; Steyerberg, Clinical Prediction Models, ch. 15; TRIPOD item
16): with ``lp = logit(p)``, the calibration slope is ``b`` of ``logit P(y) = a + b lp`` (1 when
the spread of the predictions is right, < 1 when they are too extreme) and the
calibration-in-the-large intercept is ``a`` of ``logit P(y) = a + offset(lp)`` (0 when the
predictions are right on average, < 0 when they are too high). Both are maximum-likelihood
fits by Newton-Raphson with Wald intervals; probabilities are clipped to
``[PROBABILITY_CLIP, 1 - PROBABILITY_CLIP]`` before the logit so that 0 and 1 stay finite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as sps
from scipy.special import expit, logit
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss

from bcl_core.errors import StatsError
from bcl_core.stats._checks import binary_labels, check_level, matching_scores

DEFAULT_BINS = 10
#: Predicted probabilities are clipped to [c, 1 - c] before the logit of the recalibration fits.
PROBABILITY_CLIP = 1e-6
_MAX_ITERATIONS = 100
_TOLERANCE = 1e-10


@dataclass(frozen=True)
class Calibration:
    """Reliability curve (non-empty bins only), bin counts, ECE and Brier score."""

    mean_predicted: NDArray[np.float64]
    observed_frequency: NDArray[np.float64]
    bin_counts: NDArray[np.int64]
    ece: float
    brier: float


def _checked_probabilities(y_true: ArrayLike, probabilities: ArrayLike) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    labels = binary_labels(y_true, need_both=False)
    probs = matching_scores(probabilities, labels.size, "probabilities")
    if probs.min() < 0.0 or probs.max() > 1.0:
        raise StatsError("probabilities must lie in [0, 1].")
    return labels, probs


def calibration_summary(y_true: ArrayLike, probabilities: ArrayLike, n_bins: int = DEFAULT_BINS) -> Calibration:
    """Reliability curve, ECE and Brier score of predicted probabilities.

    Parameters
    ----------
    y_true
        0/1 outcomes.
    probabilities
        Predicted probabilities of the outcome.
    n_bins
        Number of equal-width bins over [0, 1].

    Returns
    -------
    Calibration

    Raises
    ------
    StatsError
        Probabilities outside [0, 1], bad bin count, mismatched input.
    """
    labels, probs = _checked_probabilities(y_true, probabilities)
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


@dataclass(frozen=True)
class Recalibration:
    """Calibration slope and calibration-in-the-large intercept with Wald intervals."""

    slope: float
    slope_lo: float
    slope_hi: float
    intercept: float
    intercept_lo: float
    intercept_hi: float
    level: float


def _newton_logistic(
    design: NDArray[np.float64], offset: NDArray[np.float64], y: NDArray[np.float64], start: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """ML logistic regression ``logit P(y) = design @ beta + offset``: ``(beta, covariance)``."""
    beta = start.astype(float).copy()
    for _ in range(_MAX_ITERATIONS):
        mu = expit(design @ beta + offset)
        information = design.T @ (design * (mu * (1.0 - mu))[:, None])
        try:
            step = np.linalg.solve(information, design.T @ (y - mu))
        except np.linalg.LinAlgError:
            break
        beta += step
        if not np.all(np.isfinite(beta)) or np.abs(beta).max() > 1e6:
            break
        if np.abs(step).max() < _TOLERANCE * (1.0 + np.abs(beta).max()):
            mu = expit(design @ beta + offset)
            information = design.T @ (design * (mu * (1.0 - mu))[:, None])
            return beta, np.linalg.inv(information)
    raise StatsError(
        "the calibration slope / intercept cannot be estimated: the fit does not converge (the "
        "predictions separate the outcomes perfectly, or too few events); report the reliability "
        "curve instead."
    )


def recalibration(y_true: ArrayLike, probabilities: ArrayLike, level: float = 0.95) -> Recalibration:
    """Calibration slope and calibration-in-the-large intercept of predicted probabilities.

    Parameters
    ----------
    y_true
        0/1 outcomes (both classes needed).
    probabilities
        Predicted probabilities of the outcome.
    level
        Confidence level of the Wald intervals.

    Returns
    -------
    Recalibration
        ``slope`` from ``logit P(y) = a + b logit(p)``; ``intercept`` from
        ``logit P(y) = a + offset(logit(p))``.

    Raises
    ------
    StatsError
        One class only, probabilities outside [0, 1], or a fit that does not converge.

    Examples
    --------
    >>> r = recalibration([0, 1, 0, 1, 1, 0, 0, 1], [0.2, 0.7, 0.6, 0.4, 0.9, 0.1, 0.5, 0.3])
    >>> r.slope > 0
    True
    """
    level = check_level(level)
    labels, probs = _checked_probabilities(y_true, probabilities)
    binary_labels(labels)  # both classes
    lp = logit(np.clip(probs, PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP))
    y = labels.astype(float)
    ones = np.ones((y.size, 1))
    z = float(sps.norm.ppf(0.5 + level / 2.0))
    slope_fit, slope_cov = _newton_logistic(np.column_stack([ones, lp]), np.zeros_like(lp), y, np.array([0.0, 1.0]))
    intercept_fit, intercept_cov = _newton_logistic(ones, lp, y, np.array([0.0]))
    slope, slope_se = float(slope_fit[1]), float(np.sqrt(slope_cov[1, 1]))
    intercept, intercept_se = float(intercept_fit[0]), float(np.sqrt(intercept_cov[0, 0]))
    return Recalibration(
        slope=slope, slope_lo=slope - z * slope_se, slope_hi=slope + z * slope_se,
        intercept=intercept, intercept_lo=intercept - z * intercept_se, intercept_hi=intercept + z * intercept_se,
        level=level,
    )
