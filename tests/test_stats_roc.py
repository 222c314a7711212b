"""AUROC, DeLong variance / CI / paired test against pROC's published values and scikit-learn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from bcl_core.errors import StatsError
from bcl_core.stats import auroc_ci, delong_covariance, delong_test

# pROC's own test suite (xrobin/pROC tests/testthat: test-auc.R, test-var.R, test-cov.R,
# test-ci.auc.R, test-roc.test.R), 15 significant digits. Case = outcome "Poor".
PROC_AUC = {"wfns": 0.823678861788618, "ndka": 0.611957994579946}
PROC_VAR = {"wfns": 0.00146991470882363, "ndka": 0.0031908105493913, "s100b": 0.00266868245717244}
PROC_COV = {
    ("wfns", "ndka"): -0.000532967856762438,
    ("ndka", "s100b"): -0.000756164938056579,
    ("s100b", "wfns"): 0.00119615567376754,
}
PROC_CI_NDKA = (0.501244999271703, 0.611957994579946, 0.722670989888189)
PROC_TEST = {  # roc.test(a, b): Z, p
    ("wfns", "s100b"): (2.20898359144091, 0.0271757822291882),
    ("wfns", "ndka"): (2.79777591868904, 0.00514557970691098),
    ("ndka", "s100b"): (-1.39077002573558, 0.164295175223054),
}
TOL = 1e-9  # the issue asks for 1e-6; pROC publishes 15 digits, we match far tighter


@pytest.fixture(scope="module")
def asah(repo_root: Path) -> pd.DataFrame:
    path = Path(repo_root).parent / "shared" / "ref" / "aSAH.csv"
    if not path.is_file():
        pytest.skip(f"pROC's aSAH reference data not found at {path} (CI places shared/ beside the checkout)")
    frame = pd.read_csv(path)
    frame["case"] = (frame["outcome"] == "Poor").astype(int)
    return frame


@pytest.mark.parametrize("marker", ["wfns", "ndka"])
def test_auc_matches_proc(asah: pd.DataFrame, marker: str) -> None:
    auc, _, _ = auroc_ci(asah["case"], asah[marker])
    assert auc == pytest.approx(PROC_AUC[marker], abs=TOL)


@pytest.mark.parametrize("marker", ["wfns", "ndka", "s100b"])
def test_delong_variance_matches_proc(asah: pd.DataFrame, marker: str) -> None:
    result = delong_covariance(asah["case"], asah[marker])
    assert result.covariance[0, 0] == pytest.approx(PROC_VAR[marker], abs=1e-12)


@pytest.mark.parametrize(("a", "b"), list(PROC_COV))
def test_delong_covariance_matches_proc(asah: pd.DataFrame, a: str, b: str) -> None:
    result = delong_covariance(asah["case"], np.stack([asah[a], asah[b]]))
    assert result.covariance[0, 1] == pytest.approx(PROC_COV[(a, b)], abs=1e-12)


def test_ci_ndka_matches_proc(asah: pd.DataFrame) -> None:
    auc, lo, hi = auroc_ci(asah["case"], asah["ndka"])
    assert (lo, auc, hi) == pytest.approx(PROC_CI_NDKA, abs=TOL)


def test_ci_s100b_matches_proc_documentation(asah: pd.DataFrame) -> None:
    # pROC documents AUC 0.7314, 95% CI 0.6301-0.8326 (4 digits); the interval from pROC's
    # 15-digit variance gives the tight check.
    auc, lo, hi = auroc_ci(asah["case"], asah["s100b"])
    assert (auc, lo, hi) == pytest.approx((0.7314, 0.6301, 0.8326), abs=5e-5)
    half = sps.norm.ppf(0.975) * np.sqrt(PROC_VAR["s100b"])
    assert (lo, hi) == pytest.approx((auc - half, auc + half), abs=TOL)


@pytest.mark.parametrize(("a", "b"), list(PROC_TEST))
def test_paired_delong_test_matches_proc(asah: pd.DataFrame, a: str, b: str) -> None:
    z, p = delong_test(asah["case"], asah[a], asah[b])
    assert (z, p) == pytest.approx(PROC_TEST[(a, b)], abs=TOL)


def test_identical_scorers_give_z0_p1(asah: pd.DataFrame) -> None:
    assert delong_test(asah["case"], asah["wfns"], asah["wfns"]) == (0.0, 1.0)


def _pairwise_delong(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Textbook O(m n) DeLong (DeLong et al. 1988, eq. 3-5), independent of the fast path."""
    pos, neg = scores[:, y == 1], scores[:, y == 0]
    kernel = (pos[:, :, None] > neg[:, None, :]) + 0.5 * (pos[:, :, None] == neg[:, None, :])
    v10 = kernel.mean(axis=2)
    v01 = kernel.mean(axis=1)
    aucs = kernel.mean(axis=(1, 2))
    return aucs, np.cov(v10) / pos.shape[1] + np.cov(v01) / neg.shape[1]


def test_fast_delong_equals_pairwise_with_ties() -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 120)
    scores = np.round(y + rng.normal(0, 1.5, (3, 120)), 1)  # rounding makes many ties
    fast = delong_covariance(y, scores)
    aucs, cov = _pairwise_delong(y, scores)
    np.testing.assert_allclose(fast.aucs, aucs, atol=1e-12)
    np.testing.assert_allclose(fast.covariance, cov, atol=1e-12)
    for k in range(3):
        assert fast.aucs[k] == pytest.approx(roc_auc_score(y, scores[k]), abs=1e-12)


def test_one_class_is_a_clear_error() -> None:
    with pytest.raises(StatsError, match="need at least one case of each class"):
        auroc_ci([1, 1, 1], [0.2, 0.4, 0.9])


def test_length_mismatch_is_a_clear_error() -> None:
    with pytest.raises(StatsError, match="3 values for 4 cases"):
        auroc_ci([0, 1, 0, 1], [0.2, 0.4, 0.9])


def test_non_binary_labels_rejected() -> None:
    with pytest.raises(StatsError, match="labels must be 0/1"):
        auroc_ci([0, 1, 2, 1], [0.2, 0.4, 0.9, 0.1])
