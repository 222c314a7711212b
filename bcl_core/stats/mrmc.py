"""Multi-reader multi-case AUROC analysis: Obuchowski-Rockette (OR) in its three factor settings.

The model follows Obuchowski & Rockette (1995) as Hillis (2007, Stat Med 26:596) and Hillis,
Berbaum & Metz (2008, Acad Radiol 15:647) present it, and as MRMCaov and OR-DBM MRMC compute it.
``aucs[t, j]`` is the AUROC of reader ``j`` in test (modality) ``t``; the covariance of all
``T*J`` AUROCs over cases comes from DeLong's method or from the leave-one-case-out jackknife
(:mod:`bcl_core.stats.roc`) and is averaged into the OR error variance ``Var`` and covariances
``Cov1`` (same reader, different tests), ``Cov2`` (different readers, same test) and ``Cov3``
(different readers and tests). Three analyses:

- random readers, random cases (RRRC): ``F = MS(T) / (MS(T*R) + J max(Cov2 - Cov3, 0))`` on
  ``(T - 1, ddf_H)`` with Hillis' (2007) ``ddf_H``; the claim generalises to readers and cases.
- fixed readers, random cases (FRRC): ``X2 = (T - 1) MS(T) / (Var - Cov1 + (J - 1) max(Cov2 -
  Cov3, 0))``, chi-square on ``T - 1`` df; the claim holds for these readers only.
- random readers, fixed cases (RRFC): ``F = MS(T) / MS(T*R)`` on ``(T - 1, (T - 1)(J - 1))``,
  the conventional test x reader ANOVA; the claim holds for these cases only.

Where Hillis' ``ddf_H`` is infinite (``MS(T*R) = 0``), the F test is its limit, ``F * df1 ~
chi-square(df1)``, and the t interval the normal one. Reader-averaged AUROC intervals are
truncated to [0, 1], as MRMCaov and :func:`~bcl_core.stats.roc.auroc_ci` do.

Model versus clinicians: the model is one "reader" that gives the same scores whichever reader
it stands in for. :func:`model_vs_readers` enters it as test 1 (its scores repeated once per
reader) and the readers' own confidences as test 2. The OR test of the two tests' mean AUROC is
then the test of model AUROC minus reader-averaged AUROC; for RRRC it equals the single-test OR
analysis of the per-reader differences (Chakraborty et al.'s approach for "AI versus
radiologists").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as sps

from bcl_core.errors import StatsError
from bcl_core.stats._checks import check_level
from bcl_core.stats.roc import AUCCovariance, delong_covariance, jackknife_covariance

CovarianceMethod = Literal["delong", "jackknife"]
Factor = Literal["random", "fixed"]

#: Covariance estimators of the AUROCs over cases, by name.
COVARIANCE_METHODS = {"delong": delong_covariance, "jackknife": jackknife_covariance}
#: How reports and the app name each covariance method.
COVARIANCE_NAMES: dict[CovarianceMethod, str] = {"delong": "DeLong", "jackknife": "jackknife (leave one case out)"}
#: The (readers, cases) settings an analysis can take, in report order, with their names.
ANALYSES: dict[tuple[Factor, Factor], str] = {
    ("random", "random"): "random readers, random cases",
    ("fixed", "random"): "fixed readers, random cases",
    ("random", "fixed"): "random readers, fixed cases",
}


@dataclass(frozen=True)
class ORComponents:
    """OR inputs: AUROCs ``(T, J)`` and the averaged error variance and covariances."""

    aucs: NDArray[np.float64]
    var: float
    cov1: float
    cov2: float
    cov3: float


@dataclass(frozen=True)
class ORTestResult:
    """Result of the OR test of equal mean AUROC across tests.

    ``difference`` and its interval are for test 1 minus test 2 (two tests only; ``nan``
    otherwise). ``ci_per_test`` holds each test's reader-averaged AUROC interval (single-test
    analysis in the same factor setting), truncated to [0, 1].

    For fixed readers the test is chi-square (``test == "chi-square"``): ``f_statistic`` is
    ``X2 / df_numerator`` (the F form of the same test), ``df_denominator`` is infinite and
    ``p_value`` is the chi-square test's.
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
    covariance: CovarianceMethod = "delong"
    readers: Factor = "random"
    cases: Factor = "random"
    test: str = "F"

    @property
    def chi_square(self) -> float:
        """The chi-square statistic ``X2`` of the fixed-reader test (``nan`` for F tests)."""
        return self.f_statistic * self.df_numerator if self.test == "chi-square" else float("nan")

    @property
    def analysis(self) -> str:
        """Which analysis this is, e.g. ``"random readers, random cases"``."""
        return ANALYSES[(self.readers, self.cases)]


def _covariance(truth: ArrayLike, flat_scores: NDArray[np.float64], method: str) -> AUCCovariance:
    if method not in COVARIANCE_METHODS:
        raise StatsError(f"covariance must be 'delong' or 'jackknife', got {method!r}.")
    return COVARIANCE_METHODS[method](truth, flat_scores)


def _average_blocks(aucs: NDArray[np.float64], cov: NDArray[np.float64]) -> ORComponents:
    """Average a ``(T*J, T*J)`` covariance (test-major order) into Var, Cov1, Cov2, Cov3."""
    n_tests, n_readers = aucs.shape
    test_of = np.repeat(np.arange(n_tests), n_readers)
    reader_of = np.tile(np.arange(n_readers), n_tests)
    same_test = test_of[:, None] == test_of[None, :]
    same_reader = reader_of[:, None] == reader_of[None, :]

    def mean_where(mask: NDArray[np.bool_]) -> float:
        return float(cov[mask].mean()) if mask.any() else 0.0

    return ORComponents(
        aucs=aucs,
        var=mean_where(same_test & same_reader),
        cov1=mean_where(~same_test & same_reader),
        cov2=mean_where(same_test & ~same_reader),
        cov3=mean_where(~same_test & ~same_reader),
    )


def _components_with_tests(
    truth: ArrayLike, scores: ArrayLike, covariance: str
) -> tuple[ORComponents, tuple[ORComponents, ...]]:
    """OR components of all tests together and of each test alone (one covariance estimate)."""
    stack = np.asarray(scores, dtype=float)
    if stack.ndim != 3:
        raise StatsError("MRMC scores must have shape (tests, readers, cases).")
    n_tests, n_readers, n_cases = stack.shape
    if n_readers < 2:
        raise StatsError("the Obuchowski-Rockette analysis needs at least 2 readers.")
    estimate = _covariance(truth, stack.reshape(n_tests * n_readers, n_cases), covariance)
    aucs = estimate.aucs.reshape(n_tests, n_readers)
    whole = _average_blocks(aucs, estimate.covariance)
    per_test = tuple(
        _average_blocks(aucs[t : t + 1], estimate.covariance[t * n_readers : (t + 1) * n_readers,
                                                             t * n_readers : (t + 1) * n_readers])
        for t in range(n_tests)
    )
    return whole, per_test


def or_components(truth: ArrayLike, scores: ArrayLike, covariance: CovarianceMethod = "delong") -> ORComponents:
    """AUROCs and averaged error covariances of a ``(T, J, n)`` score array.

    Raises
    ------
    StatsError
        Wrong shape, fewer than 2 readers, unknown covariance method, or as
        :func:`~bcl_core.stats.roc.delong_covariance`.
    """
    return _components_with_tests(truth, scores, covariance)[0]


def _f_sf(f_stat: float, df1: int, ddf: float) -> float:
    """Upper tail of F(df1, ddf); for ``ddf = inf`` its limit, chi-square(df1) of ``F * df1``."""
    if np.isinf(ddf):
        return float(sps.chi2.sf(f_stat * df1, df1))
    return float(sps.f.sf(f_stat, df1, ddf))


def _quantile(level: float, df: float) -> float:
    """Two-sided t quantile (normal where ``df`` is infinite)."""
    return float(sps.norm.ppf(0.5 + level / 2.0) if np.isinf(df) else sps.t.ppf(0.5 + level / 2.0, df))


def _hillis_ddf(denominator: float, mean_square: float, df: float) -> float:
    """Satterthwaite-type ``ddf_H = denominator^2 / (MS^2 / df)`` (infinite when MS is 0)."""
    return denominator**2 / (mean_square**2 / df) if mean_square > 0 else float("inf")


def _unit_interval(centre: float, half: float) -> tuple[float, float]:
    return max(0.0, centre - half), min(1.0, centre + half)


def _single_test_ci(comp: ORComponents, readers: str, cases: str, level: float) -> tuple[float, float]:
    """Reader-averaged AUROC interval of one test (Hillis 2007; Hillis et al. 2008), in [0, 1]."""
    aucs = comp.aucs.ravel()
    n_readers = aucs.size
    mean = float(aucs.mean())
    ms_reader = float(np.var(aucs, ddof=1))
    if cases == "fixed":
        return _unit_interval(mean, _quantile(level, n_readers - 1) * np.sqrt(ms_reader / n_readers))
    if readers == "fixed":
        error = comp.var + (n_readers - 1) * max(comp.cov2, 0.0)
        return _unit_interval(mean, _quantile(level, np.inf) * np.sqrt(max(error, 0.0) / n_readers))
    denom = ms_reader + n_readers * max(comp.cov2, 0.0)
    if denom <= 0.0:
        return mean, mean
    ddf = _hillis_ddf(denom, ms_reader, n_readers - 1)
    return _unit_interval(mean, _quantile(level, ddf) * np.sqrt(denom / n_readers))


def _check_factors(readers: str, cases: str) -> None:
    for name, value in (("readers", readers), ("cases", cases)):
        if value not in ("random", "fixed"):
            raise StatsError(f"{name} must be 'random' or 'fixed', got {value!r}.")
    if readers == "fixed" and cases == "fixed":
        raise StatsError("readers and cases cannot both be fixed: nothing would be left to generalise to.")


def obuchowski_rockette(
    truth: ArrayLike,
    scores: ArrayLike,
    covariance: CovarianceMethod = "delong",
    readers: Factor = "random",
    cases: Factor = "random",
    level: float = 0.95,
) -> ORTestResult:
    """OR test of equal reader-averaged AUROC across tests, with the difference's interval.

    Parameters
    ----------
    truth
        0/1 labels, shape ``(n,)``.
    scores
        Shape ``(T, J, n)``: every reader reads every case in every test (fully crossed).
    covariance
        ``"delong"`` (default) or ``"jackknife"``: how the AUROC covariances over cases are
        estimated (not used when cases are fixed).
    readers, cases
        ``"random"`` (default) or ``"fixed"``; not both fixed.
    level
        Confidence level of the intervals.

    Returns
    -------
    ORTestResult
        See the module docstring for each analysis' statistic and degrees of freedom.

    Raises
    ------
    StatsError
        Fewer than 2 tests or readers, one class only, unknown options, or an error term of 0
        (the test is undefined: no reader and no case variation).

    Examples
    --------
    >>> y = [0, 0, 0, 1, 1, 1]
    >>> a = [[0.1, 0.2, 0.6, 0.4, 0.7, 0.9], [0.2, 0.1, 0.3, 0.5, 0.8, 0.6]]
    >>> b = [[0.3, 0.2, 0.1, 0.4, 0.7, 0.9], [0.1, 0.3, 0.2, 0.5, 0.8, 0.6]]
    >>> r = obuchowski_rockette(y, [a, b])
    >>> [round(float(v), 4) for v in r.mean_aucs]
    [0.9444, 1.0]
    """
    level = check_level(level)
    _check_factors(readers, cases)
    comp, per_test_comps = _components_with_tests(truth, scores, covariance)
    aucs = comp.aucs
    n_tests, n_readers = aucs.shape
    if n_tests < 2:
        raise StatsError("the OR test compares at least 2 tests; got 1.")
    per_test = tuple(_single_test_ci(c, readers, cases, level) for c in per_test_comps)
    test_means = aucs.mean(axis=1)
    grand = aucs.mean()
    df1 = n_tests - 1
    ms_t = n_readers * float(np.sum((test_means - grand) ** 2)) / df1
    resid = aucs - test_means[:, None] - aucs.mean(axis=0)[None, :] + grand
    ms_tr = float(np.sum(resid**2)) / (df1 * (n_readers - 1))
    test = "F"
    if cases == "fixed":
        denom, ddf = ms_tr, float(df1 * (n_readers - 1))
        if denom <= 0.0:
            raise StatsError("the fixed-case OR test is undefined: the readers' AUROC differences between "
                             "tests are all equal (MS(T*R) = 0).")
    elif readers == "fixed":
        denom = comp.var - comp.cov1 + (n_readers - 1) * max(comp.cov2 - comp.cov3, 0.0)
        ddf, test = float("inf"), "chi-square"
        if denom <= 0.0:
            raise StatsError("the fixed-reader OR test is undefined: its error term is zero.")
    else:
        denom = ms_tr + n_readers * max(comp.cov2 - comp.cov3, 0.0)
        if denom <= 0.0:
            raise StatsError("the OR error term is zero (identical readers and no case variance).")
        ddf = _hillis_ddf(denom, ms_tr, df1 * (n_readers - 1))
    f_stat = ms_t / denom
    diff, lo, hi = float("nan"), float("nan"), float("nan")
    if n_tests == 2:
        diff = float(test_means[0] - test_means[1])
        half = _quantile(level, ddf) * np.sqrt(2.0 * denom / n_readers)
        lo, hi = float(diff - half), float(diff + half)
    return ORTestResult(
        mean_aucs=test_means,
        difference=diff,
        difference_lo=lo,
        difference_hi=hi,
        f_statistic=float(f_stat),
        df_numerator=df1,
        df_denominator=float(ddf),
        p_value=_f_sf(float(f_stat), df1, ddf),
        ci_per_test=per_test,
        components=comp,
        covariance=covariance,
        readers=readers,
        cases=cases,
        test=test,
    )


def model_vs_readers(
    y_true: ArrayLike,
    model_scores: ArrayLike,
    reader_scores: ArrayLike,
    level: float = 0.95,
    covariance: CovarianceMethod = "delong",
    readers: Factor = "random",
    cases: Factor = "random",
) -> ORTestResult:
    """Model AUROC vs readers' average AUROC by the OR analysis.

    Parameters
    ----------
    y_true
        0/1 labels ``(n,)``.
    model_scores
        Model probabilities ``(n,)``.
    reader_scores
        Readers' confidences ``(J, n)``, J >= 2.
    level, covariance, readers, cases
        As :func:`obuchowski_rockette` (defaults: 95%, DeLong, random readers and cases).

    Returns
    -------
    ORTestResult
        Test 1 = model, test 2 = readers; ``difference`` = model minus reader average.

    Raises
    ------
    StatsError
        Mismatched shapes, or as :func:`obuchowski_rockette`.
    """
    reader_stack = np.asarray(reader_scores, dtype=float)
    model = np.asarray(model_scores, dtype=float)
    if reader_stack.ndim != 2 or model.ndim != 1 or reader_stack.shape[1] != model.size:
        raise StatsError("reader scores must be (readers, cases) and match the model's cases.")
    stacked = np.stack([np.broadcast_to(model, reader_stack.shape), reader_stack])
    return obuchowski_rockette(y_true, stacked, covariance, readers, cases, level)
