"""Operating-point selection on the empirical ROC curve (scikit-learn ``roc_curve``).

A call is positive when ``score >= threshold``, the convention of ``roc_curve`` and of the
``call_type*`` columns written by ``bcl predict-batch``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import roc_curve

from bcl_core.errors import StatsError
from bcl_core.stats._checks import binary_labels, matching_scores


@dataclass(frozen=True)
class OperatingPoint:
    """A threshold and the sensitivity / specificity it gives on the data it was chosen on."""

    rule: str
    threshold: float
    sensitivity: float
    specificity: float


def _curve(y_true: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels = binary_labels(y_true)
    values = matching_scores(scores, labels.size)
    fpr, tpr, thresholds = roc_curve(labels, values, drop_intermediate=False)
    # roc_curve's first threshold is +inf (nothing called positive): keep it out of the choice.
    return fpr[1:], tpr[1:], thresholds[1:]


def youden_point(y_true: ArrayLike, scores: ArrayLike) -> OperatingPoint:
    """Threshold maximising Youden's J = sensitivity + specificity - 1 (first of ties, highest threshold)."""
    fpr, tpr, thresholds = _curve(y_true, scores)
    youden = tpr - fpr
    # Ties within rounding (e.g. 2/3 - 0 vs 1 - 1/3) go to the highest threshold.
    best = int(np.flatnonzero(youden >= youden.max() - 1e-12)[0])
    return OperatingPoint("youden", float(thresholds[best]), float(tpr[best]), float(1.0 - fpr[best]))


def fixed_sensitivity_point(y_true: ArrayLike, scores: ArrayLike, target: float = 0.9) -> OperatingPoint:
    """Highest threshold whose sensitivity is at least ``target`` (best specificity there)."""
    if not 0.0 < target <= 1.0:
        raise StatsError(f"target sensitivity must be in (0, 1], got {target}.")
    fpr, tpr, thresholds = _curve(y_true, scores)
    reach = np.flatnonzero(tpr >= target - 1e-12)
    best = int(reach[0])  # thresholds decrease, so the first index is the highest threshold
    return OperatingPoint(
        f"sensitivity>={target:g}", float(thresholds[best]), float(tpr[best]), float(1.0 - fpr[best])
    )
