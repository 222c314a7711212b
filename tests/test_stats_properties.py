"""Invariants of the statistics (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bcl_core.errors import StatsError
from bcl_core.stats import auroc_ci, binary_metrics, delong_test, weighted_kappa

FAST = settings(max_examples=60, deadline=None)


@st.composite
def labelled_scores(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(4, 60))
    y = draw(arrays(np.int8, n, elements=st.integers(0, 1)))
    assume(2 <= y.sum() <= n - 2)
    scores = draw(arrays(np.float64, n, elements=st.floats(-5, 5, allow_nan=False, width=32)))
    return y, scores


@FAST
@given(labelled_scores())
def test_negated_scores_give_one_minus_auc(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, scores = data
    auc, lo, hi = auroc_ci(y, scores)
    neg_auc, neg_lo, neg_hi = auroc_ci(y, -scores)
    assert abs(neg_auc - (1.0 - auc)) < 1e-12
    assert abs(neg_lo - (1.0 - hi)) < 1e-9 and abs(neg_hi - (1.0 - lo)) < 1e-9


@FAST
@given(labelled_scores(), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_auc_ci_contains_estimate(data: tuple[np.ndarray, np.ndarray], level: float) -> None:
    y, scores = data
    auc, lo, hi = auroc_ci(y, scores, level)
    assert 0.0 <= lo <= auc <= hi <= 1.0


@FAST
@given(labelled_scores())
def test_delong_test_is_antisymmetric(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, scores = data
    other = np.roll(scores, 1)
    try:
        z_ab, p_ab = delong_test(y, scores, other)
        z_ba, p_ba = delong_test(y, other, scores)
    except StatsError:  # a zero-variance difference is documented as undefined
        return
    assert abs(z_ab + z_ba) < 1e-9 and abs(p_ab - p_ba) < 1e-9
    assert 0.0 <= p_ab <= 1.0


@FAST
@given(
    arrays(np.int8, st.integers(2, 80), elements=st.integers(0, 4)),
    st.sampled_from(["linear", "quadratic", None]),
)
def test_kappa_of_identical_ratings_is_one(ratings: np.ndarray, weights: str | None) -> None:
    assume(np.unique(ratings).size >= 2)
    assert weighted_kappa(ratings, ratings.copy(), weights) == (1.0, 1.0, 1.0)


def test_kappa_of_identical_ratings_is_exactly_one_despite_rounding() -> None:
    # Hypothesis found this: statsmodels' variance is ~1e-16, not 0, giving a bound 1 - 2e-8.
    ratings = np.array([3, 1, 2, 3] + [0] * 16)
    assert weighted_kappa(ratings, ratings.copy(), None) == (1.0, 1.0, 1.0)


@FAST
@given(
    arrays(np.int8, st.integers(3, 80), elements=st.integers(0, 3)),
    st.integers(0, 2**16),
    st.sampled_from(["linear", "quadratic"]),
)
def test_kappa_ci_contains_estimate(ratings: np.ndarray, seed: int, weights: str) -> None:
    other = np.random.default_rng(seed).permutation(ratings)
    assume(np.unique(np.concatenate([ratings, other])).size >= 2)
    kappa, lo, hi = weighted_kappa(ratings, other, weights)
    assert -1.0 <= lo <= kappa <= hi <= 1.0


@FAST
@given(labelled_scores(), st.integers(0, 1000))
def test_metric_cis_contain_estimates(data: tuple[np.ndarray, np.ndarray], seed: int) -> None:
    y, scores = data
    metrics = binary_metrics(y, scores > 0, n_resamples=200, seed=seed)
    # Wilson intervals always contain the proportion; a percentile bootstrap interval need not
    # (skewed small samples), so F1 is only checked for order.
    for name in ("sensitivity", "specificity", "accuracy", "precision"):
        est = metrics[name]
        if np.isfinite(est.value):
            assert est.lo - 1e-12 <= est.value <= est.hi + 1e-12
    f1 = metrics["f1"]
    if np.isfinite(f1.lo):
        assert f1.lo <= f1.hi
