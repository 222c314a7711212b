"""Obuchowski-Rockette: checked against an independent derivation (single-test OR on differences)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from bcl_core.errors import StatsError
from bcl_core.stats import auroc_ci, model_vs_readers, obuchowski_rockette


def _pairwise_auc_components(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """O(m n) DeLong placement values per scorer (DeLong et al. 1988), independent of the code."""
    pos, neg = scores[:, y == 1], scores[:, y == 0]
    kernel = (pos[:, :, None] > neg[:, None, :]) + 0.5 * (pos[:, :, None] == neg[:, None, :])
    return kernel.mean(axis=2), kernel.mean(axis=1)


def _difference_analysis(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Hillis (2007) single-test OR analysis of per-reader AUROC differences a_j - b_j.

    Differences' DeLong placements are the placement differences, so their covariance needs no
    test-level averaging: var(mean) = (MS(R) + J * max(Cov2, 0)) / J, t on Hillis' ddf.
    """
    n_readers = a.shape[0]
    v10_a, v01_a = _pairwise_auc_components(y, a)
    v10_b, v01_b = _pairwise_auc_components(y, b)
    v10, v01 = v10_a - v10_b, v01_a - v01_b
    cov = np.cov(v10) / v10.shape[1] + np.cov(v01) / v01.shape[1]
    d = v10.mean(axis=1)
    cov2 = cov[~np.eye(n_readers, dtype=bool)].mean()
    ms_r = d.var(ddof=1)
    denom = ms_r + n_readers * max(cov2, 0.0)
    ddf = denom**2 / (ms_r**2 / (n_readers - 1))
    t = d.mean() / np.sqrt(denom / n_readers)
    return float(d.mean()), float(ddf), float(2 * sps.t.sf(abs(t), ddf))


@pytest.fixture(scope="module")
def study() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2024)
    n, readers = 160, 4
    y = rng.integers(0, 2, n)
    case_effect = rng.normal(0, 1, n)
    model = 1.2 * y + case_effect + rng.normal(0, 0.8, n)
    reader_skill = rng.normal(0.8, 0.2, readers)[:, None]
    reads = np.round(reader_skill * y + case_effect + rng.normal(0, 1.0, (readers, n)), 1)
    return y, model, reads


def test_two_test_or_equals_difference_analysis(study) -> None:
    y, _, reads = study
    rng = np.random.default_rng(5)
    other = reads + rng.normal(0, 0.7, reads.shape)
    result = obuchowski_rockette(y, np.stack([reads, other]))
    diff, ddf, p = _difference_analysis(y, reads, other)
    assert result.difference == pytest.approx(diff, abs=1e-12)
    assert result.df_denominator == pytest.approx(ddf, rel=1e-9)
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert result.difference_lo < result.difference < result.difference_hi


def test_model_vs_readers_equals_difference_analysis(study) -> None:
    y, model, reads = study
    result = model_vs_readers(y, model, reads)
    diff, ddf, p = _difference_analysis(y, np.broadcast_to(model, reads.shape), reads)
    assert result.difference == pytest.approx(diff, abs=1e-12)
    assert result.df_denominator == pytest.approx(ddf, rel=1e-9)
    assert result.p_value == pytest.approx(p, rel=1e-9)


def test_model_test_interval_is_its_delong_interval(study) -> None:
    # A "test" whose readers are all the same scorer has no reader variance: its reader-averaged
    # interval must reduce to the DeLong interval of that scorer.
    y, model, reads = study
    result = model_vs_readers(y, model, reads)
    _, lo, hi = auroc_ci(y, model)
    assert result.ci_per_test[0] == pytest.approx((lo, hi), abs=1e-12)


def test_or_needs_two_readers(study) -> None:
    y, model, reads = study
    with pytest.raises(StatsError, match="at least 2 readers"):
        model_vs_readers(y, model, reads[:1])
