"""AUROC with DeLong (or jackknife) variance, covariance and the paired DeLong test.

The fast algorithm of Sun & Xu (2014, IEEE Signal Process. Lett. 21:1389) computes the DeLong
structural components from mid-ranks, O(n log n) per scorer, instead of the O(m n) pairwise
kernel. Scores are oriented "higher = more likely positive" (pROC ``direction = "<"``); no
automatic direction flip is made, so a worse-than-chance scorer reports AUROC < 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as sps

from bcl_core.errors import StatsError
from bcl_core.stats._checks import binary_labels, check_level, matching_scores


@dataclass(frozen=True)
class AUCCovariance:
    """AUROCs of ``k`` scorers on the same cases and the covariance matrix of those AUROCs.

    Attributes
    ----------
    aucs
        Shape ``(k,)``.
    covariance
        Shape ``(k, k)``; the diagonal holds the variances.
    n_positive, n_negative
        Case counts per class.
    """

    aucs: NDArray[np.float64]
    covariance: NDArray[np.float64]
    n_positive: int
    n_negative: int


#: The name :func:`delong_covariance` has always returned (a DeLong covariance is one kind).
DeLongResult = AUCCovariance


@dataclass(frozen=True)
class _Placements:
    """Empirical AUROCs and DeLong structural components (placement values) per scorer."""

    aucs: NDArray[np.float64]
    v_pos: NDArray[np.float64]  # V10, shape (k, m): share of negatives each positive outranks
    v_neg: NDArray[np.float64]  # V01, shape (k, n): share of positives outranking each negative


def _placements(y_true: ArrayLike, scores: ArrayLike) -> _Placements:
    labels = binary_labels(y_true)
    stack = np.atleast_2d(matching_scores(scores, labels.size))
    positives = stack[:, labels]
    negatives = stack[:, ~labels]
    m, n = positives.shape[1], negatives.shape[1]
    if m < 2 or n < 2:
        raise StatsError(
            f"AUROC variances need at least 2 positive and 2 negative cases (have {m} and {n})."
        )
    # Mid-ranks within each class and over all cases (Sun & Xu 2014, algorithm 2).
    rank_pos = sps.rankdata(positives, axis=1)
    rank_neg = sps.rankdata(negatives, axis=1)
    rank_all = sps.rankdata(np.concatenate([positives, negatives], axis=1), axis=1)
    aucs = (rank_all[:, :m].sum(axis=1) / m - (m + 1) / 2.0) / n
    v_pos = (rank_all[:, :m] - rank_pos) / n
    v_neg = 1.0 - (rank_all[:, m:] - rank_neg) / m
    return _Placements(aucs=aucs, v_pos=v_pos, v_neg=v_neg)


def delong_covariance(y_true: ArrayLike, scores: ArrayLike) -> AUCCovariance:
    """AUROC and DeLong covariance of one or several scorers read on the same cases.

    Parameters
    ----------
    y_true
        0/1 reference labels, shape ``(n,)``.
    scores
        Shape ``(n,)`` or ``(k, n)``: higher means more likely positive.

    Returns
    -------
    AUCCovariance

    Raises
    ------
    StatsError
        One class only, fewer than 2 cases of a class, mismatched lengths, non-finite scores.

    Examples
    --------
    >>> r = delong_covariance([0, 0, 1, 1], [[0.1, 0.4, 0.35, 0.8]])
    >>> float(r.aucs[0])
    0.75
    """
    p = _placements(y_true, scores)
    m, n = p.v_pos.shape[1], p.v_neg.shape[1]
    covariance = np.atleast_2d(np.cov(p.v_pos)) / m + np.atleast_2d(np.cov(p.v_neg)) / n
    return AUCCovariance(aucs=p.aucs, covariance=covariance, n_positive=m, n_negative=n)


def jackknife_covariance(y_true: ArrayLike, scores: ArrayLike) -> AUCCovariance:
    """AUROC and leave-one-case-out jackknife covariance (as OR-DBM MRMC and RJafroc use).

    ``cov = (N - 1) / N * sum_k (A_(k) - mean A_(.)) (A_(k) - mean A_(.))^T`` over all ``N``
    cases, where ``A_(k)`` are the AUROCs without case ``k``. For the empirical AUROC these
    come in closed form from the placement values: without positive ``i``,
    ``(m A - V10_i) / (m - 1)``; without negative ``j``, ``(n A - V01_j) / (n - 1)``.

    Parameters
    ----------
    y_true
        0/1 reference labels, shape ``(n,)``.
    scores
        Shape ``(n,)`` or ``(k, n)``: higher means more likely positive.

    Returns
    -------
    AUCCovariance

    Raises
    ------
    StatsError
        As :func:`delong_covariance`.
    """
    p = _placements(y_true, scores)
    m, n = p.v_pos.shape[1], p.v_neg.shape[1]
    leave_out = np.concatenate(
        [(m * p.aucs[:, None] - p.v_pos) / (m - 1), (n * p.aucs[:, None] - p.v_neg) / (n - 1)], axis=1
    )
    n_cases = m + n
    centred = leave_out - leave_out.mean(axis=1, keepdims=True)
    covariance = (n_cases - 1) / n_cases * (centred @ centred.T)
    return AUCCovariance(aucs=p.aucs, covariance=covariance, n_positive=m, n_negative=n)


def auroc_ci(y_true: ArrayLike, scores: ArrayLike, level: float = 0.95) -> tuple[float, float, float]:
    """AUROC with its DeLong confidence interval (as pROC ``ci.auc(method = "delong")``).

    Parameters
    ----------
    y_true
        0/1 reference labels.
    scores
        One score per case, higher = more likely positive.
    level
        Confidence level.

    Returns
    -------
    (auc, lo, hi)
        Bounds clipped to [0, 1] as pROC does.

    Raises
    ------
    StatsError
        One class only, fewer than two cases per class, mismatched or non-finite input.
    """
    level = check_level(level)
    if np.ndim(scores) != 1:
        raise StatsError("auroc_ci takes one score vector; use delong_covariance for several.")
    result = delong_covariance(y_true, scores)
    auc = float(result.aucs[0])
    half = float(sps.norm.ppf(0.5 + level / 2.0) * np.sqrt(result.covariance[0, 0]))
    return auc, max(0.0, auc - half), min(1.0, auc + half)


def delong_test(y_true: ArrayLike, scores_a: ArrayLike, scores_b: ArrayLike) -> tuple[float, float]:
    """Paired two-sided DeLong test of AUROC(a) = AUROC(b) on the same cases.

    Matches pROC ``roc.test(roc_a, roc_b, method = "delong", paired = TRUE)``.

    Returns
    -------
    (z, p)
        ``z`` > 0 when ``a`` has the larger AUROC. Identical scorers give ``(0.0, 1.0)``.

    Raises
    ------
    StatsError
        As :func:`delong_covariance`.
    """
    a = np.asarray(scores_a, dtype=float)
    b = np.asarray(scores_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise StatsError(f"the two score vectors must be 1-D and the same length ({a.shape} vs {b.shape}).")
    result = delong_covariance(y_true, np.stack([a, b]))
    diff = float(result.aucs[0] - result.aucs[1])
    cov = result.covariance
    var = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    if var <= 1e-15 * max(1.0, float(cov[0, 0])):
        if abs(diff) < 1e-12:
            return 0.0, 1.0
        raise StatsError("the AUROC difference has zero DeLong variance; the test is undefined.")
    z = diff / np.sqrt(var)
    return float(z), float(2.0 * sps.norm.sf(abs(z)))
