"""Obuchowski-Rockette: checked against an independent derivation (single-test OR on differences)
and against MRMCaov's and OR-DBM MRMC's published analyses of the VanDyke data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from bcl_core.errors import StatsError
from bcl_core.stats import auroc_ci, delong_test, model_vs_readers, obuchowski_rockette
from bcl_core.stats.roc import jackknife_covariance


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


def test_identical_readers_p_value_is_the_limit_not_nan() -> None:
    # Issue 22: two identical readers (AUROC 0.875) against a perfect model make MS(T*R) = 0,
    # so Hillis' ddf is infinite. The OR F test then reduces to the paired DeLong test of the
    # model against that one reader (F = z^2, the chi-square(1) limit), an independent result.
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    reader = np.array([0.1, 0.2, 0.3, 0.75, 0.6, 0.7, 0.8, 0.9])
    model = y.astype(float)
    result = model_vs_readers(y, model, np.stack([reader, reader]))
    z, p = delong_test(y, model, reader)
    assert np.isinf(result.df_denominator)
    assert result.f_statistic == pytest.approx(z**2, rel=1e-12)
    assert result.p_value == pytest.approx(p, rel=1e-9)


def test_reader_averaged_interval_is_truncated_to_unit_range() -> None:
    # Same example: the readers' single-test interval reduces to the reader's DeLong interval,
    # 0.875 +/- 1.96 * sqrt(1/48) = (0.592, 1.158) before truncation; MRMCaov and pROC truncate at 1.
    # By hand: V10 = (3/4, 3/4, 1, 1), var 1/48 over m = 4; V01 = (1, 1, 1, 1/2), var 1/16 over
    # n = 4; DeLong variance 1/192 + 1/64 = 1/48.
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    reader = np.array([0.1, 0.2, 0.3, 0.75, 0.6, 0.7, 0.8, 0.9])
    result = model_vs_readers(y, y.astype(float), np.stack([reader, reader]))
    lo, hi = result.ci_per_test[1]
    assert hi == 1.0
    assert lo == pytest.approx(0.875 - 1.959963984540054 * np.sqrt(1 / 48), rel=1e-9)
    for readers, cases in (("fixed", "random"), ("random", "random")):
        res = model_vs_readers(y, y.astype(float), np.stack([reader, reader]), readers=readers, cases=cases)
        assert all(0.0 <= b <= 1.0 for bounds in res.ci_per_test for b in bounds)


# --- VanDyke (1993) data, published analyses ------------------------------------------------
# Data: RJafroc inst/extdata/RocData.csv (= RJafroc dataset02 = MRMCaov VanDyke), see
# tests/data/README.md. Reference values:
#  * DeLong, RRRC: MRMCaov JSS manuscript (docs/jss/MRMCaov.tex, "## DeLong method" summary).
#  * jackknife, RRRC: OR-DBM MRMC 2.51 output shipped with RJafroc (inst/Iowa/VanDyke.txt,
#    "Analysis 1"); the same values in MRMCaov.tex (fixed-readers example, jackknife components).
#  * jackknife, FRRC: MRMCaov.tex "## Fixed readers" and VanDyke.txt "Analysis 2".
#  * RRFC: MRMCaov.tex "## Fixed cases" and VanDyke.txt "Analysis 3" (no covariance used).
VANDYKE = Path(__file__).resolve().parent / "data" / "vandyke_roc.csv"


@pytest.fixture(scope="module")
def vandyke() -> tuple[np.ndarray, np.ndarray]:
    frame = pd.read_csv(VANDYKE).sort_values(["treatment", "reader", "case"])
    truth = frame[(frame["treatment"] == 0) & (frame["reader"] == 0)]["truth"].to_numpy()
    return truth, frame["rating"].to_numpy().reshape(2, 5, 114)


PUBLISHED = [
    # covariance, readers, cases, statistic (F, or X2 for fixed readers), ddf, p, diff CI, test 1 CI, test 2 CI
    ("delong", "random", "random", 4.484854, 15.06611, 0.05123303, (-0.0878671960, 0.0002665519),
     (0.8253461, 0.9687280), (0.8942155, 0.9874592)),
    ("jackknife", "random", "random", 4.46, 15.26, 0.0517, (-0.08796, 0.00036),
     (0.82522360, 0.96885048), (0.89413783, 0.98753689)),
    ("jackknife", "fixed", "random", 5.475953, np.inf, 0.01927984, (-0.08048591, -0.00711473),
     (0.8494301, 0.9446440), (0.9079564, 0.9737183)),
    ("delong", "random", "fixed", 8.704, 4, 0.04195875, (-0.08502022, -0.00258042),
     (0.8280981, 0.9659760), (0.8959894, 0.9856854)),
    ("jackknife", "random", "fixed", 8.704, 4, 0.04195875, (-0.08502022, -0.00258042),
     (0.8280981, 0.9659760), (0.8959894, 0.9856854)),
]


def _digits(value: float) -> float:
    """Half a unit of the last printed digit of ``value`` (as typed in PUBLISHED)."""
    text = repr(value)
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10.0**-decimals + 1e-12


@pytest.mark.parametrize(("covariance", "readers", "cases", "stat", "ddf", "p", "diff_ci", "ci1", "ci2"), PUBLISHED)
def test_vandyke_matches_published(vandyke, covariance, readers, cases, stat, ddf, p, diff_ci, ci1, ci2) -> None:
    truth, scores = vandyke
    res = obuchowski_rockette(truth, scores, covariance=covariance, readers=readers, cases=cases)
    assert res.mean_aucs == pytest.approx([0.89703704, 0.94083736], abs=5e-9)
    assert res.difference == pytest.approx(-0.04380032, abs=5e-9)
    observed = res.chi_square if readers == "fixed" else res.f_statistic
    assert observed == pytest.approx(stat, abs=_digits(stat))
    if np.isinf(ddf):
        assert np.isinf(res.df_denominator) and res.test == "chi-square"
    else:
        assert res.df_denominator == pytest.approx(ddf, abs=_digits(ddf))
    assert res.p_value == pytest.approx(p, abs=_digits(p))
    for got, want in zip((res.difference_lo, res.difference_hi), diff_ci, strict=True):
        assert got == pytest.approx(want, abs=_digits(want))
    for (lo, hi), want in zip(res.ci_per_test, (ci1, ci2), strict=True):
        assert lo == pytest.approx(want[0], abs=_digits(want[0]))
        assert hi == pytest.approx(want[1], abs=_digits(want[1]))


@pytest.mark.parametrize(
    ("covariance", "var", "cov1", "cov2", "cov3"),
    [
        # MRMCaov.tex: DeLong summary, and the jackknife components of the fixed-readers summary.
        ("delong", 0.0007921325, 0.0003420090, 0.0003395265, 0.0002358497),
        ("jackknife", 0.0008022883, 0.0003466137, 0.0003440748, 0.0002390284),
    ],
)
def test_vandyke_or_components_match_mrmcaov(vandyke, covariance, var, cov1, cov2, cov3) -> None:
    truth, scores = vandyke
    comp = obuchowski_rockette(truth, scores, covariance=covariance).components
    assert (comp.var, comp.cov1, comp.cov2, comp.cov3) == pytest.approx((var, cov1, cov2, cov3), abs=5e-11)


def test_vandyke_fixed_readers_delong_by_hand(vandyke) -> None:
    # MRMCaov prints FRRC with jackknife only; with DeLong, Hillis et al. (2008) eq. for X2 and
    # the z interval, evaluated on MRMCaov's printed DeLong components and MS(T).
    truth, scores = vandyke
    ms_t, var, cov1, cov2, cov3 = 0.004796171, 0.0007921325, 0.0003420090, 0.0003395265, 0.0002358497
    error = var - cov1 + 4 * max(cov2 - cov3, 0.0)
    res = obuchowski_rockette(truth, scores, covariance="delong", readers="fixed")
    assert res.chi_square == pytest.approx(ms_t / error, rel=1e-6)
    assert res.p_value == pytest.approx(sps.chi2.sf(ms_t / error, 1), rel=1e-5)
    half = 1.959963984540054 * np.sqrt(2 / 5 * error)
    assert (res.difference_lo, res.difference_hi) == pytest.approx((-0.04380032 - half, -0.04380032 + half), abs=1e-7)


def test_jackknife_covariance_equals_leave_one_out(study) -> None:
    # Brute force: drop each case in turn, recompute both AUROCs with scikit-learn.
    y, model, reads = study
    scores = np.stack([model, reads[0]])
    keep = np.ones(y.size, dtype=bool)
    pseudo = []
    for k in range(y.size):
        keep[:] = True
        keep[k] = False
        pseudo.append([roc_auc_score(y[keep], s[keep]) for s in scores])
    pseudo = np.array(pseudo)
    expected = (y.size - 1) / y.size * (pseudo - pseudo.mean(0)).T @ (pseudo - pseudo.mean(0))
    np.testing.assert_allclose(jackknife_covariance(y, scores).covariance, expected, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"readers": "fixed", "cases": "fixed"}, "cannot both be fixed"),
        ({"covariance": "bootstrap"}, "'delong' or 'jackknife'"),
        ({"readers": "sometimes"}, "'random' or 'fixed'"),
    ],
)
def test_or_rejects_bad_options(study, kwargs, message: str) -> None:
    y, model, reads = study
    with pytest.raises(StatsError, match=message):
        obuchowski_rockette(y, np.stack([reads, reads[::-1]]), **kwargs)
