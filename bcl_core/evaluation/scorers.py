"""Per-scorer rows (model, oracle or one reader on one type) and the evaluation's settings.

Shared by :mod:`bcl_core.evaluation.analysis` (model) and :mod:`bcl_core.evaluation.readers`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bcl_core.errors import StatsError
from bcl_core.evaluation import schema
from bcl_core.evaluation.loading import EvaluationData
from bcl_core.stats import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    auroc_ci,
    binary_metrics,
    confusion_counts,
    kappa_ci,
)
from bcl_core.stats.mrmc import CovarianceMethod

#: Table name -> rows; merged across scorers and types, then turned into DataFrames.
Rows = dict[str, list[dict[str, object]]]


def merge_rows(into: Rows, rows: Rows) -> None:
    """Append ``rows`` to ``into`` table by table."""
    for name, items in rows.items():
        into.setdefault(name, []).extend(items)


@dataclass(frozen=True)
class EvaluationSettings:
    """Settings of one evaluation; the report states all of them."""

    level: float = 0.95
    n_resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED
    calibration_bins: int = 10
    target_sensitivity: float = 0.9
    #: AUROC covariance of the Obuchowski-Rockette analyses: "delong" or "jackknife".
    mrmc_covariance: CovarianceMethod = "delong"


@dataclass
class EvaluationResult:
    """All tables of an evaluation, the data they came from, and notes on what was skipped."""

    data: EvaluationData
    settings: EvaluationSettings
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def scorer_rows(
    scorer: str,
    type_name: str,
    y: np.ndarray,
    calls: np.ndarray,
    scores: np.ndarray | None,
    settings: EvaluationSettings,
    notes: list[str],
) -> Rows:
    """Metric, confusion, AUROC and kappa-vs-reference rows of one scorer on one type."""
    key = {"scorer": scorer, "type": type_name}
    counts = confusion_counts(y, calls)
    rows: Rows = {
        "confusion": [{**key, "tp": counts.tp, "fp": counts.fp, "fn": counts.fn, "tn": counts.tn}],
        "metrics": [],
        "auroc": [],
        "kappa_reference": [],
    }
    metrics = binary_metrics(y, calls, settings.level, settings.n_resamples, settings.seed)
    for name, est in metrics.items():
        rows["metrics"].append({**key, "metric": name, "value": est.value, "lo": est.lo, "hi": est.hi, "method": est.method})
    if scores is not None:
        try:
            auc, lo, hi = auroc_ci(y, scores, settings.level)
            rows["auroc"].append({**key, "auc": auc, "lo": lo, "hi": hi, "n_positive": int(y.sum()), "n_negative": int((1 - y).sum())})
        except StatsError as exc:
            notes.append(f"AUROC of {scorer} on {type_name} not computed: {exc}")
    try:
        kappa, lo, hi = kappa_ci(y, calls, "linear", settings.level, categories=schema.CALL_LEVELS)
        rows["kappa_reference"].append({**key, "weights": "linear", "kappa": kappa, "lo": lo, "hi": hi})
    except StatsError as exc:
        notes.append(f"kappa of {scorer} vs reference on {type_name} not computed: {exc}")
    return rows
