"""The evaluation tables: model (and oracle) against the reference standard, per type.

Reader tables come from :mod:`bcl_core.evaluation.readers`, per-scorer rows from
:mod:`bcl_core.evaluation.scorers`. Every table is a long-format
:class:`pandas.DataFrame` ready to be written as CSV and shown in the report and the app.
"""

from __future__ import annotations

import logging

import pandas as pd

from bcl_core.errors import StatsError
from bcl_core.evaluation import schema
from bcl_core.evaluation.decision_curves import model_decision_rows
from bcl_core.evaluation.loading import EvaluationData
from bcl_core.evaluation.readers import reader_tables
from bcl_core.evaluation.scorers import (
    EvaluationResult,
    EvaluationSettings,
    Rows,
    merge_rows,
    scorer_rows,
)
from bcl_core.evaluation.subgroups import subgroup_rows
from bcl_core.stats import (
    auroc_ci,
    calibration_summary,
    delong_test,
    fixed_sensitivity_point,
    recalibration,
    wilson_ci,
    youden_point,
)

logger = logging.getLogger(__name__)


def _description(data: EvaluationData, settings: EvaluationSettings) -> pd.DataFrame:
    rows = []
    for t in schema.TYPES:
        y = data.labels[t].to_numpy()
        prevalence = wilson_ci(int(y.sum()), y.size, settings.level)
        row = {"type": t, "n_cases": y.size, "n_positive": int(y.sum()), "prevalence": prevalence.value,
               "prevalence_lo": prevalence.lo, "prevalence_hi": prevalence.hi}
        if data.reads is not None:
            reads = data.reads[data.reads["type"] == t]
            row["n_readers"] = reads["reader_id"].nunique()
            row["n_reads"] = len(reads)
        rows.append(row)
    return pd.DataFrame(rows)


def _model_extras(data: EvaluationData, settings: EvaluationSettings, notes: list[str]) -> Rows:
    """Operating points, calibration (with slope and intercept), reliability curves and model-vs-oracle tests."""
    out: Rows = {"operating_points": [], "calibration": [], "reliability": [], "auroc_tests": []}
    for t in schema.TYPES:
        y = data.labels[t].to_numpy()
        probs = data.probabilities[t].to_numpy()
        try:
            for point in (youden_point(y, probs), fixed_sensitivity_point(y, probs, settings.target_sensitivity)):
                out["operating_points"].append({"scorer": schema.MODEL, "type": t, "rule": point.rule, "threshold": point.threshold,
                                                "sensitivity": point.sensitivity, "specificity": point.specificity})
        except StatsError as exc:
            notes.append(f"operating points on {t} not computed: {exc}")
        cal = calibration_summary(y, probs, settings.calibration_bins)
        row = {"scorer": schema.MODEL, "type": t, "ece": cal.ece, "brier": cal.brier, "n_bins": settings.calibration_bins}
        try:
            fit = recalibration(y, probs, settings.level)
            row |= {"slope": fit.slope, "slope_lo": fit.slope_lo, "slope_hi": fit.slope_hi, "intercept": fit.intercept,
                    "intercept_lo": fit.intercept_lo, "intercept_hi": fit.intercept_hi}
        except StatsError as exc:
            notes.append(f"calibration slope and intercept on {t} not computed: {exc}")
        out["calibration"].append(row)
        for pred, obs, count in zip(cal.mean_predicted, cal.observed_frequency, cal.bin_counts, strict=True):
            out["reliability"].append({"scorer": schema.MODEL, "type": t, "mean_predicted": pred, "observed_frequency": obs, "n_cases": int(count)})
        if data.oracle is not None:
            try:
                z, p = delong_test(y, probs, data.oracle[t].to_numpy())
                out["auroc_tests"].append({"type": t, "scorer_a": schema.MODEL, "scorer_b": schema.ORACLE, "z": z, "p": p,
                                           "n_cases": y.size, "test": "paired DeLong, two-sided"})
            except StatsError as exc:
                notes.append(f"model vs oracle DeLong test on {t} not computed: {exc}")
    return out


def evaluate(data: EvaluationData, settings: EvaluationSettings | None = None) -> EvaluationResult:
    """Compute every evaluation table for the model, the oracle (if given) and the readers (if given).

    Parameters
    ----------
    data
        Output of :func:`bcl_core.evaluation.loading.assemble`.
    settings
        Confidence level, bootstrap replicates and seed, calibration bins, target sensitivity.

    Returns
    -------
    EvaluationResult
        ``tables`` keyed by name (see docs/evaluation.md for each table's columns).
    """

    settings = settings or EvaluationSettings()
    result = EvaluationResult(data=data, settings=settings)
    rows: Rows = {}
    for t in schema.TYPES:
        y = data.labels[t].to_numpy()
        merge_rows(rows, scorer_rows(schema.MODEL, t, y, data.calls[t].to_numpy(), data.probabilities[t].to_numpy(), settings, result.notes))
        if data.oracle is not None:
            try:
                auc, lo, hi = auroc_ci(y, data.oracle[t].to_numpy(), settings.level)
                rows.setdefault("auroc", []).append({"scorer": schema.ORACLE, "type": t, "auc": auc, "lo": lo, "hi": hi,
                                                     "n_positive": int(y.sum()), "n_negative": int((1 - y).sum())})
            except StatsError as exc:
                result.notes.append(f"oracle AUROC on {t} not computed: {exc}")
    merge_rows(rows, _model_extras(data, settings, result.notes))
    merge_rows(rows, model_decision_rows(data))
    if data.reads is not None:
        merge_rows(rows, reader_tables(data, settings, result.notes))
    merge_rows(rows, subgroup_rows(data, settings, result.notes))
    result.tables["description"] = _description(data, settings)
    for name, items in rows.items():
        if items:  # a table with no rows (e.g. no oracle, no reads) is left out, not written empty
            result.tables[name] = pd.DataFrame(items)
    logger.info("evaluation done: %d tables, %d notes", len(result.tables), len(result.notes))
    return result
