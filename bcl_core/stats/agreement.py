"""Agreement: Cohen's kappa (unweighted, linear, quadratic) with CI, and Fleiss' kappa.

Weighted kappa and its large-sample standard error come from statsmodels
(``statsmodels.stats.inter_rater.cohens_kappa``), whose non-null variance is the formula of
Fleiss, Cohen & Everitt (1969) as SAS PROC FREQ uses it; the interval is Wald,
``kappa +/- z * ASE``. Categories are the union of values either rater used, equally spaced by
rank (the same convention as scikit-learn's ``cohen_kappa_score``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as sps
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa, fleiss_kappa

from bcl_core.errors import StatsError
from bcl_core.stats._checks import check_level
from bcl_core.stats.bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, percentile_interval

KappaWeights = Literal["linear", "quadratic"] | None


def contingency_table(a: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
    """Square cross-table of two raters' ratings over the union of categories used."""
    ra, rb = np.asarray(a), np.asarray(b)
    if ra.ndim != 1 or ra.shape != rb.shape or ra.size == 0:
        raise StatsError(
            f"the two rating vectors must be 1-D, non-empty and the same length ({ra.shape} vs {rb.shape})."
        )
    if ra.dtype.kind == "f" and (np.isnan(ra).any() or np.isnan(rb.astype(float)).any()):
        raise StatsError("ratings contain missing values; keep only cases both raters rated.")
    categories, inverse = np.unique(np.concatenate([ra, rb]), return_inverse=True)
    k = categories.size
    table = np.zeros((k, k))
    np.add.at(table, (inverse[: ra.size], inverse[ra.size :]), 1.0)
    return table


def weighted_kappa(
    a: ArrayLike, b: ArrayLike, weights: KappaWeights = "linear"
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

    Returns
    -------
    (kappa, lo, hi)
        Bounds clipped to [-1, 1]. Identical ratings give ``(1.0, 1.0, 1.0)``.

    Raises
    ------
    StatsError
        Mismatched or missing ratings; kappa undefined (both raters used one single category).

    Examples
    --------
    >>> weighted_kappa([0, 1, 2, 2], [0, 1, 2, 2])
    (1.0, 1.0, 1.0)
    """
    return kappa_ci(a, b, weights, 0.95)


def kappa_ci(
    a: ArrayLike, b: ArrayLike, weights: KappaWeights = "linear", level: float = 0.95
) -> tuple[float, float, float]:
    """:func:`weighted_kappa` at confidence ``level``."""
    level = check_level(level)
    if weights not in ("linear", "quadratic", None):
        raise StatsError(f"weights must be 'linear', 'quadratic' or None, got {weights!r}.")
    table = contingency_table(a, b)
    if table.shape[0] < 2:
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


def fleiss_kappa_ci(
    ratings: ArrayLike,
    level: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> tuple[float, float, float]:
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
    (kappa, lo, hi)
        Point estimate from statsmodels ``fleiss_kappa``.
    """
    matrix = np.asarray(ratings)
    if matrix.ndim != 2 or matrix.shape[1] < 2 or matrix.shape[0] < 2:
        raise StatsError("Fleiss' kappa needs a (cases x raters) table with >= 2 cases and >= 2 raters.")
    counts, _ = aggregate_raters(matrix)
    if counts.shape[1] < 2:
        raise StatsError("Fleiss' kappa is undefined: every rater used one single category.")
    kappa = float(fleiss_kappa(counts))
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, counts.shape[0], size=(n_resamples, counts.shape[0]))
    with np.errstate(invalid="ignore", divide="ignore"):
        replicates = [fleiss_kappa(counts[r]) for r in rows]
    lo, hi = percentile_interval(replicates, level)
    return kappa, lo, hi
