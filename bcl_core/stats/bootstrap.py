"""Stratified, seeded, vectorised bootstrap: resampled case indices, drawn once, reused.

Resampling is done within each reference class separately so every replicate keeps the observed
number of positives and negatives (the design of a diagnostic-accuracy study: prevalence fixed
by sampling). All ``n_resamples`` replicates are drawn as one ``(B, n)`` index matrix so a
statistic is computed on all replicates with array operations, not a Python loop.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bcl_core.errors import StatsError
from bcl_core.stats._checks import binary_labels, check_level

#: Default number of bootstrap replicates and seed; reports state both.
DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 20241115


def stratified_indices(
    y_true: ArrayLike, n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
) -> NDArray[np.intp]:
    """Case indices of ``n_resamples`` stratified bootstrap replicates.

    Parameters
    ----------
    y_true
        0/1 labels defining the strata.
    n_resamples
        Number of replicates ``B``.
    seed
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same replicates.

    Returns
    -------
    ndarray of shape ``(B, n)``
        Row ``b`` holds replicate ``b``'s case indices: first the resampled positives, then the
        resampled negatives.
    """
    if n_resamples < 1:
        raise StatsError(f"number of bootstrap resamples must be positive, got {n_resamples}.")
    labels = binary_labels(y_true, need_both=False)
    rng = np.random.default_rng(seed)
    blocks = []
    for stratum in (np.flatnonzero(labels), np.flatnonzero(~labels)):
        if stratum.size:
            blocks.append(stratum[rng.integers(0, stratum.size, size=(n_resamples, stratum.size))])
    return np.concatenate(blocks, axis=1)


def percentile_interval(replicates: ArrayLike, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of finite replicate values (NaN replicates are dropped).

    Returns ``(nan, nan)`` when no replicate is finite.
    """
    level = check_level(level)
    values = np.asarray(replicates, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(values, [0.5 - level / 2.0, 0.5 + level / 2.0])
    return float(lo), float(hi)
