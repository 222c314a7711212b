"""All evaluation statistics of BCL Predict (pure numpy / scipy / statsmodels / scikit-learn).

One module per job: :mod:`~bcl_core.stats.roc` (AUROC, DeLong), :mod:`~bcl_core.stats.proportions`
(confusion matrix, Wilson / bootstrap intervals), :mod:`~bcl_core.stats.agreement` (kappas),
:mod:`~bcl_core.stats.paired` (McNemar), :mod:`~bcl_core.stats.mrmc` (Obuchowski-Rockette,
three factor settings, DeLong or jackknife covariances),
:mod:`~bcl_core.stats.operating_points`, :mod:`~bcl_core.stats.calibration` (with the
calibration slope and intercept), :mod:`~bcl_core.stats.decision_curve` (net benefit) and
:mod:`~bcl_core.stats.bootstrap`. The public contracts of DESIGN.md are re-exported here.
"""

from __future__ import annotations

from bcl_core.stats.agreement import (
    FleissKappa,
    contingency_table,
    fleiss_kappa_bootstrap,
    fleiss_kappa_ci,
    kappa_ci,
    weighted_kappa,
)
from bcl_core.stats.bootstrap import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    percentile_interval,
    stratified_indices,
)
from bcl_core.stats.calibration import (
    Calibration,
    Recalibration,
    calibration_summary,
    recalibration,
)
from bcl_core.stats.decision_curve import (
    DEFAULT_THRESHOLDS,
    net_benefit_of_calls,
    net_benefit_of_model,
    net_benefit_treat_all,
)
from bcl_core.stats.mrmc import ANALYSES, ORTestResult, model_vs_readers, obuchowski_rockette
from bcl_core.stats.operating_points import OperatingPoint, fixed_sensitivity_point, youden_point
from bcl_core.stats.paired import McNemarResult, mcnemar_test
from bcl_core.stats.proportions import (
    METRIC_NAMES,
    ConfusionCounts,
    Estimate,
    binary_metrics,
    confusion_counts,
    wilson_ci,
)
from bcl_core.stats.roc import (
    AUCCovariance,
    DeLongResult,
    auroc_ci,
    delong_covariance,
    delong_test,
    jackknife_covariance,
)

__all__ = [
    "ANALYSES",
    "AUCCovariance",
    "DEFAULT_RESAMPLES",
    "DEFAULT_SEED",
    "DEFAULT_THRESHOLDS",
    "METRIC_NAMES",
    "Calibration",
    "ConfusionCounts",
    "DeLongResult",
    "Estimate",
    "FleissKappa",
    "McNemarResult",
    "ORTestResult",
    "OperatingPoint",
    "Recalibration",
    "auroc_ci",
    "binary_metrics",
    "calibration_summary",
    "confusion_counts",
    "contingency_table",
    "delong_covariance",
    "delong_test",
    "fixed_sensitivity_point",
    "fleiss_kappa_bootstrap",
    "fleiss_kappa_ci",
    "jackknife_covariance",
    "kappa_ci",
    "mcnemar_test",
    "net_benefit_of_calls",
    "net_benefit_of_model",
    "net_benefit_treat_all",
    "model_vs_readers",
    "obuchowski_rockette",
    "percentile_interval",
    "recalibration",
    "stratified_indices",
    "weighted_kappa",
    "wilson_ci",
    "youden_point",
]
