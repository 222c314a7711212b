"""McNemar's test for paired binary calls (model vs reader on the same cases).

The p-value is the exact conditional (binomial) test from statsmodels
``mcnemar(table, exact=True)``; the mid-p value (exact p minus the point probability of the
observed split, doubled: Fagerland, Lydersen & Laake 2013) is reported beside it because the exact test
is conservative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar

from bcl_core.errors import StatsError


@dataclass(frozen=True)
class McNemarResult:
    """Discordant counts and p-values of a paired comparison.

    ``b``: first right, second wrong; ``c``: first wrong, second right.
    """

    b: int
    c: int
    p_exact: float
    p_mid: float


def mcnemar_test(correct_a: ArrayLike, correct_b: ArrayLike) -> McNemarResult:
    """Exact McNemar test of two paired 0/1 outcomes (e.g. "call correct" of model and reader).

    For paired sensitivity, pass correctness on the positive cases only; for specificity, on
    the negative cases only.

    Examples
    --------
    >>> r = mcnemar_test([1, 1, 1, 0], [0, 0, 1, 0])
    >>> r.b, r.c, r.p_exact
    (2, 0, 0.5)
    """
    a = np.asarray(correct_a).astype(bool)
    b = np.asarray(correct_b).astype(bool)
    if a.shape != b.shape or a.ndim != 1:
        raise StatsError("paired outcomes must be 1-D and the same length.")
    n10 = int(np.sum(a & ~b))
    n01 = int(np.sum(~a & b))
    if n10 + n01 == 0:
        return McNemarResult(0, 0, 1.0, 1.0)
    table = np.array([[np.sum(a & b), n10], [n01, np.sum(~a & ~b)]])
    p_exact = float(mcnemar(table, exact=True).pvalue)
    k, total = min(n10, n01), n10 + n01
    p_mid = float(min(1.0, 2.0 * (sps.binom.cdf(k - 1, total, 0.5) + 0.5 * sps.binom.pmf(k, total, 0.5))))
    return McNemarResult(n10, n01, p_exact, p_mid)
