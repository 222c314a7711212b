"""Agreement: Cohen's kappa (unweighted, linear, quadratic) with CI, and Fleiss' kappa.

Weighted kappa and its large-sample standard error come from statsmodels
(``statsmodels.stats.inter_rater.cohens_kappa``), whose non-null variance is the formula of
Fleiss, Cohen & Everitt (1969) as SAS PROC FREQ uses it; the interval is Wald,
``kappa +/- z * ASE``. Weights are spaced by position on the rating scale: pass the question's
declared scale as ``categories`` (e.g. ``range(1, 6)`` for a 5-point scale) so that a level no
rater happened to use still counts in the distances; without it, the scale is the union of the
values either rater used (scikit-learn's ``cohen_kappa_score`` convention without ``labels``).

Fleiss' kappa gets a case-bootstrap interval; replicates in which every rater used one single
category have no kappa (0/0) and are dropped, and :class:`FleissKappa` says how many were left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as sps
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa, fleiss_kappa

from bcl_core.errors import StatsError
from bcl_core.stats._checks import check_level
from bcl_core.stats.bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, percentile_interval

KappaWeights = Literal["linear", "quadratic"] | None


def contingency_table(a: ArrayLike, b: ArrayLike, categories: Sequence[object] | None = None) -> NDArray[np.float64]:
    """Square cross-table of two raters' ratings (rows: ``a``, columns: ``b``).

    Parameters
    ----------
    a, b
        Ratings of the same cases by two raters.
    categories
        The rating scale in order (every level, used or not); ``None``: the sorted union of
        the levels either rater used.

    Returns
    -------
    ndarray of shape ``(k, k)``

    Raises
    ------
    StatsError
        Mismatched or missing ratings; a rating outside the declared ``categories``.
    """
    ra, rb = np.asarray(a), np.asarray(b)
    if ra.ndim != 1 or ra.shape != rb.shape or ra.size == 0:
        raise StatsError(
            f"the two rating vectors must be 1-D, non-empty and the same length ({ra.shape} vs {rb.shape})."
        )
    if ra.dtype.kind == "f" and (np.isnan(ra).any() or np.isnan(rb.astype(float)).any()):
        raise StatsError("ratings contain missing values; keep only cases both raters rated.")
    both = np.concatenate([ra, rb])
    if categories is None:
        scale, inverse = np.unique(both, return_inverse=True)
    else:
        scale = np.asarray(list(categories))
        if scale.ndim != 1 or scale.size < 2 or np.unique(scale).size != scale.size:
            raise StatsError("the rating scale must list at least 2 distinct levels.")
        outside = sorted(set(np.unique(both).tolist()) - set(scale.tolist()))
        if outside:
            raise StatsError(
                f"ratings {outside[:5]} are not on the declared scale {scale.tolist()}; "
                "correct those ratings or the scale."
            )
        lookup = {value: index for index, value in enumerate(scale.tolist())}
        inverse = np.array([lookup[value] for value in both.tolist()])
    k = scale.size
    table = np.zeros((k, k))
    np.add.at(table, (inverse[: ra.size], inverse[ra.size :]), 1.0)
    return table


def weighted_kappa(
    a: ArrayLike, b: ArrayLike, weights: KappaWeights = "linear", categories: Sequence[object] | None = None
) -> tuple[float, float, float]:
    """Cohen's kappa of two raters with its 95% Wald interval (Fleiss-Cohen-Everitt ASE).

    The DESIGN.md contract; :func:`kappa_ci` takes another confidence level.

    Parameters
    ----------
    a, b
        Ratings of the same cases by two raters (any sortable categories, e.g. 0/1 calls or
        ordinal grades).
    weights
        ``"linear"``, ``"quadratic"`` or ``None`` (unweighted).
    categories
        The question's declared rating scale in order (e.g. ``(1, 2, 3, 4, 5)``); weights are
        spaced by position on it. ``None``: the levels either rater used.

    Returns
    -------
    (kappa, lo, hi)
        Bounds clipped to [-1, 1]. Identical ratings give ``(1.0, 1.0, 1.0)``.

    Raises
    ------
    StatsError
        Mismatched or missing ratings, ratings off the declared scale; kappa undefined (both
        raters used one single category).

    Examples
    --------
    >>> weighted_kappa([0, 1, 2, 2], [0, 1, 2, 2])
    (1.0, 1.0, 1.0)
    """
    return kappa_ci(a, b, weights, 0.95, categories)


def kappa_ci(
    a: ArrayLike,
    b: ArrayLike,
    weights: KappaWeights = "linear",
    level: float = 0.95,
    categories: Sequence[object] | None = None,
) -> tuple[float, float, float]:
    """:func:`weighted_kappa` at confidence ``level``.

    Raises
    ------
    StatsError
        As :func:`weighted_kappa`; a level outside (0, 1).
    """
    level = check_level(level)
    if weights not in ("linear", "quadratic", None):
        raise StatsError(f"weights must be 'linear', 'quadratic' or None, got {weights!r}.")
    table = contingency_table(a, b, categories)
    if np.count_nonzero(table.sum(axis=0) + table.sum(axis=1)) < 2:
        raise StatsError("kappa is undefined: both raters used one single category for every case.")
    if not np.any(table - np.diag(np.diag(table))):
        # Perfect agreement: kappa is 1 and its variance exactly 0 (statsmodels' variance formula
        # leaves rounding residue of ~1e-16 there, a bound of 1 - 2e-8).
        return 1.0, 1.0, 1.0
    with np.errstate(invalid="ignore"):  # statsmodels takes sqrt of a -0.0 variance at kappa = 1
        if weights:
            result = cohens_kappa(table, wt=weights, return_results=True)
        else:
            result = cohens_kappa(table, return_results=True)
    kappa = float(result.kappa)
    if not np.isfinite(kappa):
        raise StatsError("kappa is undefined for these ratings (chance agreement is 1).")
    se = float(np.sqrt(max(float(result.var_kappa), 0.0)))
    half = float(sps.norm.ppf(0.5 + level / 2.0)) * se
    return kappa, max(-1.0, kappa - half), min(1.0, kappa + half)


@dataclass(frozen=True)
class FleissKappa:
    """Fleiss' kappa with its bootstrap interval and how many replicates it rests on.

    Attributes
    ----------
    kappa, lo, hi
        Estimate and percentile interval over the defined replicates.
    n_valid, n_resamples
        Replicates with a defined kappa, of those drawn.
    level
        Confidence level of the interval.
    """

    kappa: float
    lo: float
    hi: float
    n_valid: int
    n_resamples: int
    level: float

    @property
    def reliable(self) -> bool:
        """False when more replicates were undefined than one tail of the interval holds.

        Undefined replicates (every rater used one category) are not missing at random: they
        are the most homogeneous resamples. Once they outnumber ``(1 - level) / 2`` of the
        replicates they could have decided a bound, so the interval is not to be trusted.
        """
        return self.n_resamples - self.n_valid <= (1.0 - self.level) / 2.0 * self.n_resamples


def fleiss_kappa_bootstrap(
    ratings: ArrayLike,
    level: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> FleissKappa:
    """Fleiss' kappa of several raters with a seeded case-bootstrap percentile interval.

    Parameters
    ----------
    ratings
        Shape ``(n_cases, n_raters)``; every rater rated every case.
    level, n_resamples, seed
        Interval settings (cases resampled with replacement, not stratified: there is no
        reference class in a pure agreement analysis).

    Returns
    -------
    FleissKappa
        Point estimate from statsmodels ``fleiss_kappa``; ``n_valid`` replicates of
        ``n_resamples`` had a defined kappa.

    Raises
    ------
    StatsError
        Fewer than 2 cases or raters; every rater used one single category.
    """
    level = check_level(level)
    matrix = np.asarray(ratings)
    if matrix.ndim != 2 or matrix.shape[1] < 2 or matrix.shape[0] < 2:
        raise StatsError("Fleiss' kappa needs a (cases x raters) table with >= 2 cases and >= 2 raters.")
    if n_resamples < 1:
        raise StatsError(f"number of bootstrap resamples must be positive, got {n_resamples}.")
    counts, _ = aggregate_raters(matrix)
    if counts.shape[1] < 2:
        raise StatsError("Fleiss' kappa is undefined: every rater used one single category.")
    kappa = float(fleiss_kappa(counts))
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, counts.shape[0], size=(n_resamples, counts.shape[0]))
    with np.errstate(invalid="ignore", divide="ignore"):
        replicates = np.array([fleiss_kappa(counts[r]) for r in rows], dtype=float)
    lo, hi = percentile_interval(replicates, level)
    return FleissKappa(kappa, lo, hi, int(np.isfinite(replicates).sum()), n_resamples, level)


def fleiss_kappa_ci(
    ratings: ArrayLike,
    level: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> tuple[float, float, float]:
    """``(kappa, lo, hi)`` of :func:`fleiss_kappa_bootstrap` (which also counts valid replicates).

    Raises
    ------
    StatsError
        As :func:`fleiss_kappa_bootstrap`.
    """
    result = fleiss_kappa_bootstrap(ratings, level, n_resamples, seed)
    return result.kappa, result.lo, result.hi
