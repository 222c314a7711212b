"""Number formatting and wide summary tables shared by the HTML report and the app page."""

from __future__ import annotations

import math

import pandas as pd


def format_estimate(value: float, lo: float, hi: float, digits: int = 3) -> str:
    """``"0.812 (0.771-0.848)"``; ``"n/a"`` where the value is undefined."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} ({lo:.{digits}f}-{hi:.{digits}f})"


def format_p(p: float) -> str:
    """p-value with 3 significant digits, ``"<0.001"`` below 0.001."""
    if not math.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3g}"


def metrics_wide(metrics: pd.DataFrame, auroc: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per scorer and type, one column per metric, cells "estimate (lo-hi)"."""
    if metrics.empty:
        return metrics
    cells = metrics.assign(cell=[format_estimate(v, lo, hi) for v, lo, hi in
                                 zip(metrics["value"], metrics["lo"], metrics["hi"], strict=True)])
    wide = cells.pivot(index=["type", "scorer"], columns="metric", values="cell")
    order = [m for m in ("sensitivity", "specificity", "accuracy", "precision", "f1") if m in wide.columns]
    wide = wide[order]
    if auroc is not None and not auroc.empty:
        auc = auroc.assign(auroc=[format_estimate(v, lo, hi) for v, lo, hi in
                                  zip(auroc["auc"], auroc["lo"], auroc["hi"], strict=True)])
        wide = wide.join(auc.set_index(["type", "scorer"])["auroc"], how="outer")
    return wide.reset_index().fillna("")
