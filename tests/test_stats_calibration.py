"""Calibration slope and intercept: checked against statsmodels' GLM fitted independently."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.special import expit, logit

from bcl_core.errors import StatsError
from bcl_core.stats import recalibration
from bcl_core.stats.calibration import PROBABILITY_CLIP


@pytest.fixture(scope="module")
def overconfident() -> tuple[np.ndarray, np.ndarray]:
    # Outcomes drawn from true risks; the "model" doubles the true log-odds and adds 0.5:
    # too extreme (slope 1/2 expected) and too high on average (negative intercept).
    rng = np.random.default_rng(31)
    true_lp = rng.normal(-1.0, 1.2, 600)
    y = (rng.random(600) < expit(true_lp)).astype(int)
    return y, expit(2.0 * true_lp + 0.5)


def test_slope_matches_statsmodels_glm(overconfident) -> None:
    y, p = overconfident
    lp = logit(p)
    fit = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit(tol=1e-13)
    lo, hi = fit.conf_int(alpha=0.05)[1]
    result = recalibration(y, p)
    assert result.slope == pytest.approx(fit.params[1], rel=1e-8)
    assert (result.slope_lo, result.slope_hi) == pytest.approx((lo, hi), rel=1e-7)
    assert result.slope_lo < 0.5 < result.slope_hi  # the doubling is recovered


def test_intercept_matches_statsmodels_glm_with_offset(overconfident) -> None:
    y, p = overconfident
    lp = logit(p)
    fit = sm.GLM(y, np.ones((y.size, 1)), family=sm.families.Binomial(), offset=lp).fit(tol=1e-13)
    lo, hi = fit.conf_int(alpha=0.05)[0]
    result = recalibration(y, p)
    assert result.intercept == pytest.approx(fit.params[0], rel=1e-8)
    assert (result.intercept_lo, result.intercept_hi) == pytest.approx((lo, hi), rel=1e-7)
    assert result.intercept_hi < 0  # predictions too high on average


def test_level_and_clipped_extremes() -> None:
    y = np.array([0, 0, 1, 0, 1, 1, 0, 1, 0, 1])
    p = np.array([0.0, 0.2, 0.7, 0.6, 1.0, 0.4, 0.3, 0.5, 0.55, 0.8])  # 0 and 1 need the clip
    lp = logit(np.clip(p, PROBABILITY_CLIP, 1 - PROBABILITY_CLIP))
    fit = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit(tol=1e-13)
    result = recalibration(y, p, level=0.9)
    assert result.slope == pytest.approx(fit.params[1], rel=1e-7)
    assert result.slope_hi - result.slope == pytest.approx(1.6448536269514722 * fit.bse[1], rel=1e-6)


def test_separation_is_a_clear_error() -> None:
    with pytest.raises(StatsError, match="separate the outcomes"):
        recalibration([0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.3, 0.7, 0.8, 0.9])


def test_one_class_is_a_clear_error() -> None:
    with pytest.raises(StatsError, match="at least one case of each class"):
        recalibration([0, 0, 0], [0.1, 0.2, 0.3])
