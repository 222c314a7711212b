"""Number formatting and wide summary tables shared by the HTML report and the app page.

Every number a person reads (report or page) goes through :func:`format_number` (or
:func:`format_estimate` / :func:`format_p`, built on it): fixed decimals, never floating-point
residue such as ``0.00000000000000002``. The CSV tables keep full precision.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import pandas as pd

#: Decimals shown for estimates, intervals and statistics.
DIGITS = 3


def format_number(value: object, digits: int = DIGITS) -> str:
    """One number for display: ``digits`` decimals; integers as they are; ``"n/a"`` if undefined.

    Parameters
    ----------
    value
        A number (Python or numpy); anything else is returned as text.
    digits
        Decimals of a non-integer.

    Returns
    -------
    str
        e.g. ``"0.812"``, ``"0.000"`` for ``1.7e-17``, ``"15"`` for an integer, ``"inf"``,
        ``"n/a"`` for NaN or None, ``"yes"`` / ``"no"`` for booleans.

    Examples
    --------
    >>> format_number(1.7e-17), format_number(0.81234), format_number(12), format_number(float("nan"))
    ('0.000', '0.812', '12', 'n/a')
    """
    if value is None:
        return "n/a"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, Integral):
        return str(int(value))
    if not isinstance(value, Real):
        return str(value)
    number = float(value)
    if math.isnan(number):
        return "n/a"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    text = f"{number:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0.0 else text  # no "-0.000"


def format_estimate(value: float, lo: float, hi: float, digits: int = DIGITS) -> str:
    """``"0.812 (0.771 to 0.848)"`` (``to``, not a dash: bounds may be negative); ``"n/a"`` if undefined."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return format_number(value, digits)
    return f"{format_number(value, digits)} ({format_number(lo, digits)} to {format_number(hi, digits)})"


def format_table(frame: pd.DataFrame, digits: int = DIGITS) -> pd.DataFrame:
    """A copy of ``frame`` with every number formatted by :func:`format_number` (for display)."""
    return frame.apply(lambda column: column.map(lambda v: format_number(v, digits)))


def format_p(p: float) -> str:
    """p-value with 3 significant digits, ``"<0.001"`` below 0.001."""
    if p is None or not math.isfinite(p):
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
