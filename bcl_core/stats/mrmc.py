"""Multi-reader multi-case AUROC analysis: Obuchowski-Rockette with DeLong covariances.

The model follows Obuchowski & Rockette (1995) with the denominator degrees of freedom of
Hillis (2007), as MRMCaov (``mrmc(..., cov = DeLong)``) computes it for random readers and
random cases. ``aucs[t, j]`` is the AUROC of reader ``j`` in test (modality) ``t``; the
covariance of all ``T*J`` AUROCs over cases comes from :func:`bcl_core.stats.roc.delong_covariance`
and is averaged into the OR error covariances ``Var``, ``Cov1`` (same reader, different tests),
``Cov2`` (different readers, same test) and ``Cov3`` (different readers and tests).

Model versus clinicians: the model is one "reader" that gives the same scores whichever reader
it stands in for. :func:`model_vs_readers` enters it as test 1 (its scores repeated once per
reader) and the readers' own confidences as test 2. The OR test of the two tests' mean AUROC is
then the test of model AUROC minus reader-averaged AUROC, generalising to the population of
readers and cases; it equals the single-test OR analysis of the per-reader differences
(Chakraborty et al.'s approach for "AI versus radiologists").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as sps

from bcl_core.errors import StatsError
from bcl_core.stats._checks import check_level
from bcl_core.stats.roc import delong_covariance


@dataclass(frozen=True)
class ORComponents:
    """OR inputs: AUROCs ``(T, J)`` and the averaged error covariances."""

    aucs: NDArray[np.float64]
    var: float
    cov1: float
    cov2: float
    cov3: float


@dataclass(frozen=True)
class ORTestResult:
    """Result of the OR test of equal mean AUROC across tests.

    ``difference`` and its interval are for test 1 minus test 2 (two tests only; ``nan``
    otherwise). ``ci_per_test`` holds each test's reader-averaged AUROC interval
    (single-test OR analysis, Hillis 2007 df).
    """

    mean_aucs: NDArray[np.float64]
    difference: float
    difference_lo: float
    difference_hi: float
    f_statistic: float
    df_numerator: int
    df_denominator: float
    p_value: float
    ci_per_test: tuple[tuple[float, float], ...]
    components: ORComponents


def or_components(y_true: ArrayLike, scores: ArrayLike) -> ORComponents:
    """AUROCs and averaged DeLong error covariances of a ``(T, J, n)`` score array."""
    stack = np.asarray(scores, dtype=float)
    if stack.ndim != 3:
        raise StatsError("MRMC scores must have shape (tests, readers, cases).")
    n_tests, n_readers, n_cases = stack.shape
    if n_readers < 2:
        raise StatsError("the Obuchowski-Rockette analysis needs at least 2 readers.")
    delong = delong_covariance(y_true, stack.reshape(n_tests * n_readers, n_cases))
    cov = delong.covariance
    test_of = np.repeat(np.arange(n_tests), n_readers)
    reader_of = np.tile(np.arange(n_readers), n_tests)
    same_test = test_of[:, None] == test_of[None, :]
    same_reader = reader_of[:, None] == reader_of[None, :]

    def mean_where(mask: NDArray[np.bool_]) -> float:
        return float(cov[mask].mean()) if mask.any() else 0.0

    return ORComponents(
        aucs=delong.aucs.reshape(n_tests, n_readers),
        var=mean_where(same_test & same_reader),
        cov1=mean_where(~same_test & same_reader),
        cov2=mean_where(same_test & ~same_reader),
        cov3=mean_where(~same_test & ~same_reader),
    )


def _single_test_ci(aucs: NDArray[np.float64], cov2: float, level: float) -> tuple[float, float]:
    """Reader-averaged AUROC interval of one test (Hillis 2007, single-test OR)."""
    n_readers = aucs.size
    ms_reader = float(np.var(aucs, ddof=1))
    denom = ms_reader + n_readers * max(cov2, 0.0)
    if denom <= 0.0:
        mean = float(aucs.mean())
        return mean, mean
    ddf = denom**2 / (ms_reader**2 / (n_readers - 1)) if ms_reader > 0 else np.inf
    half = float(sps.t.ppf(0.5 + level / 2.0, ddf)) * np.sqrt(denom / n_readers)
    return float(aucs.mean() - half), float(aucs.mean() + half)


def obuchowski_rockette(y_true: ArrayLike, scores: ArrayLike, level: float = 0.95) -> ORTestResult:
    """OR test (random readers, random cases) of equal reader-averaged AUROC across tests.

    Parameters
    ----------
    y_true
        0/1 labels, shape ``(n,)``.
    scores
        Shape ``(T, J, n)``: every reader reads every case in every test (fully crossed).
    level
        Confidence level of the intervals.

    Returns
    -------
    ORTestResult
        ``F = MS(T) / (MS(T*R) + J * max(Cov2 - Cov3, 0))`` with ``T - 1`` and Hillis'
        ``ddf = (MS(T*R) + J*max(Cov2-Cov3,0))^2 / (MS(T*R)^2 / ((T-1)(J-1)))``.
    """
    level = check_level(level)
    comp = or_components(y_true, scores)
    aucs = comp.aucs
    n_tests, n_readers = aucs.shape
    if n_tests < 2:
        raise StatsError("the OR test compares at least 2 tests; got 1.")
    stack = np.asarray(scores, dtype=float)
    per_test = tuple(
        _single_test_ci(aucs[t], or_components(y_true, stack[t : t + 1]).cov2, level)
        for t in range(n_tests)
    )
    test_means = aucs.mean(axis=1)
    grand = aucs.mean()
    ms_t = n_readers * float(np.sum((test_means - grand) ** 2)) / (n_tests - 1)
    resid = aucs - test_means[:, None] - aucs.mean(axis=0)[None, :] + grand
    ms_tr = float(np.sum(resid**2)) / ((n_tests - 1) * (n_readers - 1))
    denom = ms_tr + n_readers * max(comp.cov2 - comp.cov3, 0.0)
    if denom <= 0.0:
        raise StatsError("the OR error term is zero (identical readers and no case variance).")
    df1 = n_tests - 1
    ddf = denom**2 / (ms_tr**2 / (df1 * (n_readers - 1))) if ms_tr > 0 else np.inf
    f_stat = ms_t / denom
    p_value = float(sps.f.sf(f_stat, df1, ddf))
    diff, lo, hi = float("nan"), float("nan"), float("nan")
    if n_tests == 2:
        diff = float(test_means[0] - test_means[1])
        half = float(sps.t.ppf(0.5 + level / 2.0, ddf)) * np.sqrt(2.0 * denom / n_readers)
        lo, hi = float(diff - half), float(diff + half)
    return ORTestResult(
        mean_aucs=test_means,
        difference=diff,
        difference_lo=lo,
        difference_hi=hi,
        f_statistic=float(f_stat),
        df_numerator=df1,
        df_denominator=float(ddf),
        p_value=p_value,
        ci_per_test=per_test,
        components=comp,
    )


def model_vs_readers(
    y_true: ArrayLike, model_scores: ArrayLike, reader_scores: ArrayLike, level: float = 0.95
) -> ORTestResult:
    """Model AUROC vs readers' average AUROC, OR with random readers and cases.

    Parameters
    ----------
    y_true
        0/1 labels ``(n,)``.
    model_scores
        Model probabilities ``(n,)``.
    reader_scores
        Readers' confidences ``(J, n)``, J >= 2.

    Returns
    -------
    ORTestResult
        Test 1 = model, test 2 = readers; ``difference`` = model minus reader average.
    """
    readers = np.asarray(reader_scores, dtype=float)
    model = np.asarray(model_scores, dtype=float)
    if readers.ndim != 2 or model.ndim != 1 or readers.shape[1] != model.size:
        raise StatsError("reader scores must be (readers, cases) and match the model's cases.")
    stacked = np.stack([np.broadcast_to(model, readers.shape), readers])
    return obuchowski_rockette(y_true, stacked, level)
