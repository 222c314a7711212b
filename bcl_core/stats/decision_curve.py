"""Decision curve analysis: net benefit against the threshold probability (Vickers & Elkin 2006).

A clinician who would act (e.g. change the cement technique for a Type IV risk) once the risk
exceeds ``pt`` weighs a false positive at ``pt / (1 - pt)`` of a true positive. The net benefit
of a rule that acts on some cases is then

    NB(pt) = TP / n - FP / n * pt / (1 - pt)

(Vickers & Elkin, Med Decis Making 2006;26:565, eq. 1). The model acts when its probability is
at least ``pt``; a reader's binary call acts where the call is 1, whatever ``pt``; "treat all"
acts on every case (``prevalence - (1 - prevalence) pt / (1 - pt)``) and "treat none" on none
(0). A rule is worth using at ``pt`` where its net benefit exceeds both defaults.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bcl_core.errors import StatsError
from bcl_core.stats._checks import binary_labels, matching_scores

#: Threshold probabilities of the decision curves in the report: 0.01 to 0.99 by 0.01.
DEFAULT_THRESHOLDS: NDArray[np.float64] = np.round(np.arange(1, 100) / 100.0, 2)


def _checked_thresholds(thresholds: ArrayLike) -> NDArray[np.float64]:
    values = np.atleast_1d(np.asarray(thresholds, dtype=float))
    if values.ndim != 1 or values.size == 0 or not np.all((values > 0.0) & (values < 1.0)):
        raise StatsError("threshold probabilities must lie strictly between 0 and 1.")
    return values


def _net_benefit(tp: NDArray[np.float64], fp: NDArray[np.float64], n: int, pt: NDArray[np.float64]) -> NDArray[np.float64]:
    return tp / n - fp / n * pt / (1.0 - pt)


def net_benefit_of_model(
    y_true: ArrayLike, probabilities: ArrayLike, thresholds: ArrayLike = DEFAULT_THRESHOLDS
) -> NDArray[np.float64]:
    """Net benefit of acting when the predicted probability is at least each threshold.

    Parameters
    ----------
    y_true
        0/1 outcomes.
    probabilities
        Predicted probabilities.
    thresholds
        Threshold probabilities ``pt`` in (0, 1).

    Returns
    -------
    ndarray
        One net benefit per threshold.

    Raises
    ------
    StatsError
        Bad labels, scores or thresholds.

    Examples
    --------
    >>> net_benefit_of_model([1, 0, 1, 0], [0.9, 0.6, 0.4, 0.1], [0.5]).tolist()
    [0.0]
    """
    labels = binary_labels(y_true, need_both=False)
    probs = matching_scores(probabilities, labels.size, "probabilities")
    pt = _checked_thresholds(thresholds)
    # Counts of positives / negatives with probability >= pt, by sorting once.
    pos = np.sort(probs[labels])
    neg = np.sort(probs[~labels])
    tp = (pos.size - np.searchsorted(pos, pt, side="left")).astype(float)
    fp = (neg.size - np.searchsorted(neg, pt, side="left")).astype(float)
    return _net_benefit(tp, fp, labels.size, pt)


def net_benefit_of_calls(
    y_true: ArrayLike, calls: ArrayLike, thresholds: ArrayLike = DEFAULT_THRESHOLDS
) -> NDArray[np.float64]:
    """Net benefit of fixed 0/1 calls (acting where the call is 1) at each threshold.

    Raises
    ------
    StatsError
        Bad labels, calls or thresholds.
    """
    labels = binary_labels(y_true, need_both=False)
    acts = binary_labels(matching_scores(calls, labels.size, "calls"), need_both=False)
    pt = _checked_thresholds(thresholds)
    tp = np.full(pt.shape, float(np.sum(labels & acts)))
    fp = np.full(pt.shape, float(np.sum(~labels & acts)))
    return _net_benefit(tp, fp, labels.size, pt)


def net_benefit_treat_all(y_true: ArrayLike, thresholds: ArrayLike = DEFAULT_THRESHOLDS) -> NDArray[np.float64]:
    """Net benefit of acting on every case: ``prevalence - (1 - prevalence) pt / (1 - pt)``.

    Raises
    ------
    StatsError
        Bad labels or thresholds.
    """
    labels = binary_labels(y_true, need_both=False)
    return net_benefit_of_calls(labels, np.ones(labels.size), thresholds)
