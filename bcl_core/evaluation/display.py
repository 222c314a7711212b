"""Display versions of the evaluation tables, shared by the HTML report and the app page.

Estimates and their intervals go in one cell, p-values through :func:`format_p`, every other
number through :func:`format_number`: nothing a person reads shows floating-point residue. The
raw tables (full precision) are what ``tables/*.csv`` and the zip download hold.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from bcl_core.evaluation.decision_curves import TABLE_THRESHOLDS
from bcl_core.evaluation.formatting import (
    format_estimate,
    format_number,
    format_p,
    format_table,
    metrics_wide,
)
from bcl_core.evaluation.scorers import EvaluationResult


def _cells(frame: pd.DataFrame, value: str, lo: str, hi: str) -> list[str]:
    return [format_estimate(v, a, b) for v, a, b in zip(frame[value], frame[lo], frame[hi], strict=True)]


def _description(frame: pd.DataFrame) -> pd.DataFrame:
    pretty = frame.drop(columns=["prevalence", "prevalence_lo", "prevalence_hi"])
    pretty.insert(3, "prevalence (95% CI)", _cells(frame, "prevalence", "prevalence_lo", "prevalence_hi"))
    return format_table(pretty)


def _calibration(frame: pd.DataFrame) -> pd.DataFrame:
    pretty = frame[["scorer", "type", "n_bins", "ece", "brier"]].copy()
    if "slope" in frame:
        pretty["calibration slope (CI)"] = _cells(frame, "slope", "slope_lo", "slope_hi")
        pretty["calibration intercept (CI)"] = _cells(frame, "intercept", "intercept_lo", "intercept_hi")
    return format_table(pretty)


def _mrmc(frame: pd.DataFrame) -> pd.DataFrame:
    statistic = [
        f"X2({df1}) = {format_number(chi, 2)}" if test == "chi-square"
        else f"F({df1}, {format_number(ddf, 1)}) = {format_number(f, 2)}"
        for test, f, chi, df1, ddf in zip(frame["test"], frame["f"], frame["chi_square"], frame["df1"], frame["ddf"], strict=True)
    ]
    return pd.DataFrame({
        "type": frame["type"], "analysis": frame["analysis"], "covariance": frame["covariance"],
        "n_cases": frame["n_cases"], "n_readers": frame["n_readers"],
        "model AUROC": frame["model_auc"].map(format_number),
        "readers' mean AUROC": _cells(frame, "readers_mean_auc", "readers_lo", "readers_hi"),
        "model - readers": _cells(frame, "difference", "lo", "hi"),
        "test": statistic, "p": frame["p"].map(format_p),
    })


def _fleiss(frame: pd.DataFrame) -> pd.DataFrame:
    pretty = frame[["type", "n_cases", "n_readers"]].copy()
    pretty["kappa"] = _cells(frame, "kappa", "lo", "hi")
    pretty["valid bootstrap replicates"] = frame["n_valid_replicates"]
    pretty["interval"] = np.where(frame["interval_reliable"], "reliable", "UNRELIABLE (see notes)")
    pretty["method"] = frame["method"]
    return format_table(pretty)


def decision_table(frame: pd.DataFrame, thresholds: Iterable[float] = TABLE_THRESHOLDS) -> pd.DataFrame:
    """Net benefit per type and scorer (rows) at a few thresholds (columns ``pt = 0.05`` ...)."""
    wanted = np.round(np.asarray(list(thresholds), dtype=float), 6)
    rows = frame[np.isin(np.round(frame["threshold"].to_numpy(), 6), wanted)]
    wide = rows.pivot_table(index=["type", "scorer"], columns="threshold", values="net_benefit", sort=False)
    wide.columns = [f"pt = {format_number(c, 2)}" for c in wide.columns]
    return format_table(wide.reset_index())


def _subgroups(frame: pd.DataFrame) -> pd.DataFrame:
    pretty = frame[["stratifier", "subgroup", "type", "n_cases", "n_positive"]].copy()
    pretty["AUROC (CI)"] = _cells(frame, "auc", "auc_lo", "auc_hi")
    pretty["sensitivity (CI)"] = _cells(frame, "sensitivity", "sensitivity_lo", "sensitivity_hi")
    pretty["specificity (CI)"] = _cells(frame, "specificity", "specificity_lo", "specificity_hi")
    return format_table(pretty)


def _kappa(frame: pd.DataFrame) -> pd.DataFrame:
    return format_table(frame.drop(columns=["kappa", "lo", "hi"]).assign(kappa=_cells(frame, "kappa", "lo", "hi")))


def _with_p(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    pretty = format_table(frame)
    for column in columns:
        pretty[column] = frame[column].map(format_p)
    return pretty


def display_tables(result: EvaluationResult) -> dict[str, pd.DataFrame]:
    """Display versions of the tables present, by the raw tables' names (plus ``performance``)."""
    t = result.tables
    pretty: dict[str, pd.DataFrame] = {"performance": metrics_wide(t.get("metrics", pd.DataFrame()), t.get("auroc"))}
    builders = {
        "description": _description,
        "calibration": _calibration,
        "mrmc": _mrmc,
        "fleiss": _fleiss,
        "decision_curve": decision_table,
        "subgroups": _subgroups,
        "kappa_reference": _kappa,
        "kappa_readers": _kappa,
        "auroc_tests": lambda f: _with_p(f, ["p"]),
        "mcnemar": lambda f: _with_p(f, ["p_exact", "p_mid"]),
        "operating_points": format_table,
    }
    for name, build in builders.items():
        if name in t and not t[name].empty:
            pretty[name] = build(t[name])
    return pretty
