"""Confusion-matrix metrics, McNemar, kappas, operating points, calibration: independent values."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    cohen_kappa_score,
    f1_score,
    precision_score,
    recall_score,
)

from bcl_core.errors import StatsError
from bcl_core.stats import (
    binary_metrics,
    calibration_summary,
    confusion_counts,
    fixed_sensitivity_point,
    fleiss_kappa_bootstrap,
    fleiss_kappa_ci,
    kappa_ci,
    mcnemar_test,
    stratified_indices,
    weighted_kappa,
    wilson_ci,
    youden_point,
)


# Newcombe (1998) Stat Med 17:857, Table I, method 3 (Wilson score), published to 4 digits.
@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_matches_newcombe(k: int, n: int, lo: float, hi: float) -> None:
    est = wilson_ci(k, n)
    assert (est.lo, est.hi) == pytest.approx((lo, hi), abs=5e-5)
    assert est.value == pytest.approx(k / n)


def test_binary_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    calls = (y + rng.normal(0, 0.8, 200) > 0.5).astype(int)
    m = binary_metrics(y, calls, n_resamples=500, seed=1)
    assert m["sensitivity"].value == pytest.approx(recall_score(y, calls))
    assert m["specificity"].value == pytest.approx(recall_score(1 - y, 1 - calls))
    assert m["accuracy"].value == pytest.approx(accuracy_score(y, calls))
    assert m["precision"].value == pytest.approx(precision_score(y, calls))
    assert m["f1"].value == pytest.approx(f1_score(y, calls))
    for est in m.values():
        assert est.lo <= est.value <= est.hi


def test_confusion_counts_by_hand() -> None:
    counts = confusion_counts([1, 1, 1, 0, 0, 0, 0], [1, 1, 0, 1, 0, 0, 0])
    assert (counts.tp, counts.fn, counts.fp, counts.tn) == (2, 1, 1, 3)


def test_bootstrap_is_stratified_and_seeded() -> None:
    y = np.array([1] * 7 + [0] * 13)
    a = stratified_indices(y, 50, seed=5)
    b = stratified_indices(y, 50, seed=5)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (50, 20)
    assert (y[a].sum(axis=1) == 7).all()  # every replicate keeps the 7 positives


def test_mcnemar_by_hand() -> None:
    # b = 10 model-only correct, c = 2 reader-only correct, 12 discordant pairs:
    # exact p = 2 * P(X <= 2 | Bin(12, 1/2)) = 2 * (1 + 12 + 66) / 4096; mid-p = 2 * (13 + 33) / 4096
    model = [1] * 10 + [0] * 2 + [1] * 5
    reader = [0] * 10 + [1] * 2 + [1] * 5
    r = mcnemar_test(model, reader)
    assert (r.b, r.c) == (10, 2)
    assert r.p_exact == pytest.approx(158 / 4096, abs=1e-12)
    assert r.p_mid == pytest.approx(92 / 4096, abs=1e-12)


def test_mcnemar_no_discordance() -> None:
    assert mcnemar_test([1, 0, 1], [1, 0, 1]).p_exact == 1.0


@pytest.mark.parametrize("weights", ["linear", "quadratic", None])
def test_weighted_kappa_matches_sklearn(weights: str | None) -> None:
    rng = np.random.default_rng(11)
    a = rng.integers(0, 5, 150)
    b = np.clip(a + rng.integers(-1, 2, 150), 0, 4)
    kappa, lo, hi = weighted_kappa(a, b, weights=weights)
    assert kappa == pytest.approx(cohen_kappa_score(a, b, weights=weights), abs=1e-12)
    assert lo < kappa < hi


def test_two_category_weighted_se_equals_simple_kappa_se() -> None:
    # With two categories, linear weights reduce kappa to simple kappa; the
    # Fleiss-Cohen-Everitt weighted variance must reduce to the simple-kappa variance
    # (Fleiss, Cohen & Everitt 1969), computed here by hand: table [[20, 5], [10, 15]].
    a = [0] * 25 + [1] * 25
    b = [0] * 20 + [1] * 5 + [0] * 10 + [1] * 15
    kappa, lo, hi = weighted_kappa(a, b, "linear")
    p = np.array([[20, 5], [10, 15]]) / 50
    row, col = p.sum(1), p.sum(0)
    pe = float(row @ col)
    k = (np.trace(p) - pe) / (1 - pe)
    term_a = sum(p[i, i] * (1 - (row[i] + col[i]) * (1 - k)) ** 2 for i in range(2))
    term_b = (1 - k) ** 2 * sum(p[i, j] * (col[i] + row[j]) ** 2 for i in range(2) for j in range(2) if i != j)
    var = (term_a + term_b - (k - pe * (1 - k)) ** 2) / ((1 - pe) ** 2 * 50)
    assert kappa == pytest.approx(0.4)
    assert (hi - lo) / 2 == pytest.approx(1.959963984540054 * np.sqrt(var), rel=1e-10)


def test_kappa_single_category_is_clear_error() -> None:
    with pytest.raises(StatsError, match="one single category"):
        weighted_kappa([1, 1, 1], [1, 1, 1])


def test_fleiss_kappa_matches_fleiss_1971_example() -> None:
    # The worked example of Fleiss' kappa (10 subjects, 14 raters, 5 categories): kappa = 0.210.
    counts = np.array(
        [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
         [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    )
    ratings = np.array([np.repeat(np.arange(5), row) for row in counts])
    kappa, lo, hi = fleiss_kappa_ci(ratings, n_resamples=300)
    assert kappa == pytest.approx(0.210, abs=5e-4)
    assert lo <= kappa <= hi


def test_youden_by_hand() -> None:
    y = [0, 0, 0, 1, 1, 1]
    s = [0.1, 0.2, 0.6, 0.4, 0.7, 0.9]
    # threshold 0.7: sens 2/3, spec 1 -> J = 0.667; threshold 0.4: sens 1, spec 2/3 -> J = 0.667;
    # first maximum scanning from the highest threshold is 0.7.
    point = youden_point(y, s)
    assert point.threshold == pytest.approx(0.7)
    assert (point.sensitivity, point.specificity) == pytest.approx((2 / 3, 1.0))


def test_fixed_sensitivity_by_hand() -> None:
    y = [0, 0, 0, 1, 1, 1]
    s = [0.1, 0.2, 0.6, 0.4, 0.7, 0.9]
    point = fixed_sensitivity_point(y, s, target=1.0)
    assert point.threshold == pytest.approx(0.4)
    assert point.specificity == pytest.approx(2 / 3)


def test_calibration_by_hand() -> None:
    y = [0, 1, 1, 1]
    p = [0.15, 0.15, 0.95, 0.95]
    cal = calibration_summary(y, p, n_bins=10)
    # bin [0.1, 0.2): predicted 0.15, observed 0.5; bin [0.9, 1]: predicted 0.95, observed 1.
    assert cal.ece == pytest.approx((2 * 0.35 + 2 * 0.05) / 4)
    assert cal.brier == pytest.approx(brier_score_loss(y, p))
    assert cal.brier == pytest.approx((0.15**2 + 0.85**2 + 2 * 0.05**2) / 4)
    np.testing.assert_array_equal(cal.bin_counts, [2, 2])


def test_calibration_rejects_out_of_range() -> None:
    with pytest.raises(StatsError, match=r"\[0, 1\]"):
        calibration_summary([0, 1], [0.2, 1.3])


def test_kappa_level_changes_only_the_width() -> None:
    a = [0, 1, 2, 2, 1, 0, 2, 1, 1, 0]
    b = [0, 2, 2, 1, 1, 0, 2, 1, 0, 0]
    k95, lo95, hi95 = weighted_kappa(a, b)
    k80, lo80, hi80 = kappa_ci(a, b, "linear", 0.80)
    assert k80 == k95
    # Wald: half-widths scale with the normal quantiles 1.2816 (80%) and 1.9600 (95%).
    assert (hi80 - lo80) / (hi95 - lo95) == pytest.approx(1.2815515655446004 / 1.959963984540054)


def test_wilson_bounds_are_exact_at_the_ends() -> None:
    # The Wilson interval for 0/n starts at 0 and for n/n ends at 1 exactly (Newcombe 1998,
    # Table I: 0/20 -> 0.0000-0.1611); floating point used to leave 1 - 1e-16 (shown as 0.99999...).
    assert wilson_ci(0, 20).lo == 0.0
    assert wilson_ci(20, 20).hi == 1.0
    assert wilson_ci(20, 20).lo == pytest.approx(1 - 0.1611, abs=5e-5)


def _fce_weighted_interval(a: np.ndarray, b: np.ndarray, scale: list[int]) -> tuple[float, float, float]:
    """Linear weighted kappa and 95% Wald interval by hand: Fleiss, Cohen & Everitt (1969)."""
    k = len(scale)
    index = {v: i for i, v in enumerate(scale)}
    p = np.zeros((k, k))
    for x, y in zip(a, b, strict=True):
        p[index[x], index[y]] += 1
    n = p.sum()
    p /= n
    w = 1 - np.abs(np.subtract.outer(np.arange(k), np.arange(k))) / (k - 1)  # agreement weights
    row, col = p.sum(1), p.sum(0)
    po, pe = (w * p).sum(), (w * np.outer(row, col)).sum()
    kappa = (po - pe) / (1 - pe)
    w_row, w_col = w @ col, row @ w
    total = sum(p[i, j] * (w[i, j] - (w_row[i] + w_col[j]) * (1 - kappa)) ** 2 for i in range(k) for j in range(k))
    se = np.sqrt((total - (kappa - pe * (1 - kappa)) ** 2) / (n * (1 - pe) ** 2))
    return kappa, kappa - 1.959963984540054 * se, kappa + 1.959963984540054 * se


def test_weighted_kappa_spaces_weights_on_the_declared_scale() -> None:
    # Issue 22: a 1..5 scale on which nobody used level 3. By the levels used, 2 -> 4 is one
    # step; on the declared scale it is two. Reference: scikit-learn with labels=1..5, and the
    # Fleiss-Cohen-Everitt interval worked by hand.
    rng = np.random.default_rng(7)
    levels = np.array([1, 2, 4, 5])
    a = rng.choice(levels, 60)
    b = np.where(rng.random(60) < 0.6, a, rng.choice(levels, 60))
    scale = [1, 2, 3, 4, 5]
    kappa, lo, hi = weighted_kappa(a, b, "linear", categories=scale)
    assert kappa == pytest.approx(cohen_kappa_score(a, b, weights="linear", labels=scale), abs=1e-12)
    assert kappa != pytest.approx(cohen_kappa_score(a, b, weights="linear"), abs=1e-4)
    assert (kappa, lo, hi) == pytest.approx(_fce_weighted_interval(a, b, scale), abs=1e-12)
    quadratic = kappa_ci(a, b, "quadratic", 0.95, categories=scale)[0]
    assert quadratic == pytest.approx(cohen_kappa_score(a, b, weights="quadratic", labels=scale), abs=1e-12)


def test_kappa_rating_off_the_declared_scale_is_a_clear_error() -> None:
    with pytest.raises(StatsError, match=r"not on the declared scale"):
        weighted_kappa([1, 2, 6], [1, 2, 2], categories=range(1, 6))


def test_kappa_one_used_level_on_a_declared_scale_is_undefined() -> None:
    # Both raters said 0 for every case: chance agreement is 1, kappa 0/0, not "perfect".
    with pytest.raises(StatsError, match="one single category"):
        weighted_kappa([0, 0, 0], [0, 0, 0], categories=(0, 1))


def test_fleiss_bootstrap_counts_undefined_replicates() -> None:
    # Issue 22: 20 cases, 4 raters, all agree on category 0 except case 1. A replicate without
    # case 1 has every rater on one category: kappa 0/0. P(no case 1 in 20 draws) = 0.95^20, so
    # of B = 2000 about 2000 * (1 - 0.95^20) = 1283 are defined (binomial SD ~ 21.5).
    ratings = np.zeros((20, 4), dtype=int)
    ratings[0] = [0, 1, 1, 1]
    result = fleiss_kappa_bootstrap(ratings, n_resamples=2000, seed=3)
    p_defined = 1 - 0.95**20
    assert abs(result.n_valid - 2000 * p_defined) < 5 * np.sqrt(2000 * p_defined * (1 - p_defined))
    assert result.n_resamples == 2000
    assert not result.reliable


def test_fleiss_bootstrap_without_undefined_replicates_is_reliable() -> None:
    counts = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1]])
    ratings = np.array([np.repeat(np.arange(5), row) for row in counts])
    result = fleiss_kappa_bootstrap(ratings, n_resamples=300)
    assert result.n_valid == 300 and result.reliable
