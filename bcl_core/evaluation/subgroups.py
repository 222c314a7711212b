"""Per-site and per-level breakdowns of the model's performance (labels.csv ``site`` / ``level``).

Each subgroup gets its case and event counts, the model's AUROC with its DeLong interval (where
the subgroup holds both classes, at least 2 of each) and sensitivity and specificity of the
model's calls with Wilson intervals. Subgroups are descriptive: no test between them.
"""

from __future__ import annotations

import numpy as np

from bcl_core.errors import StatsError
from bcl_core.evaluation import schema
from bcl_core.evaluation.loading import EvaluationData
from bcl_core.evaluation.scorers import EvaluationSettings, Rows
from bcl_core.stats import auroc_ci, confusion_counts, wilson_ci


def _auroc_or_nan(y: np.ndarray, probs: np.ndarray, level: float) -> tuple[float, float, float]:
    """AUROC with its DeLong interval, or NaNs where the subgroup lacks 2 cases of each class."""
    try:
        return auroc_ci(y, probs, level)
    except StatsError:
        return float("nan"), float("nan"), float("nan")


def _subgroup_row(stratifier: str, value: str, t: str, y: np.ndarray, auroc: tuple[float, float, float],
                  calls: np.ndarray, settings: EvaluationSettings) -> dict[str, object]:
    counts = confusion_counts(y, calls)
    sens = wilson_ci(counts.tp, counts.tp + counts.fn, settings.level)
    spec = wilson_ci(counts.tn, counts.tn + counts.fp, settings.level)
    auc, lo, hi = auroc
    return {"stratifier": stratifier, "subgroup": value, "type": t, "n_cases": int(y.size), "n_positive": int(y.sum()),
            "auc": auc, "auc_lo": lo, "auc_hi": hi, "sensitivity": sens.value, "sensitivity_lo": sens.lo,
            "sensitivity_hi": sens.hi, "specificity": spec.value, "specificity_lo": spec.lo, "specificity_hi": spec.hi}


def subgroup_rows(data: EvaluationData, settings: EvaluationSettings, notes: list[str]) -> Rows:
    """Model metrics per value of each stratifier present (``site``, ``level``) and per type."""
    rows: Rows = {"subgroups": []}
    if data.strata is None:
        return rows
    for stratifier in data.strata.columns:
        groups = data.strata[stratifier].to_numpy()
        skipped = 0
        for value in sorted(set(groups.tolist())):
            member = groups == value
            for t in schema.TYPES:
                y = data.labels[t].to_numpy()[member]
                auroc = _auroc_or_nan(y, data.probabilities[t].to_numpy()[member], settings.level)
                skipped += not np.isfinite(auroc[0])
                rows["subgroups"].append(_subgroup_row(stratifier, value, t, y, auroc,
                                                       data.calls[t].to_numpy()[member], settings))
        if skipped:
            notes.append(f"per-{stratifier} AUROC not computed for {skipped} subgroup(s) and type(s) with fewer than "
                         "2 cases of each class.")
    return rows
