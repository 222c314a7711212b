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


def _subgroup_row(stratifier: str, value: str, t: str, y: np.ndarray, probs: np.ndarray, calls: np.ndarray,
                  settings: EvaluationSettings) -> dict[str, object]:
    counts = confusion_counts(y, calls)
    sens = wilson_ci(counts.tp, counts.tp + counts.fn, settings.level)
    spec = wilson_ci(counts.tn, counts.tn + counts.fp, settings.level)
    try:
        auc, lo, hi = auroc_ci(y, probs, settings.level)
    except StatsError:
        auc, lo, hi = float("nan"), float("nan"), float("nan")
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
        for value in sorted(set(groups.tolist())):
            member = groups == value
            for t in schema.TYPES:
                y = data.labels[t].to_numpy()[member]
                rows["subgroups"].append(_subgroup_row(stratifier, value, t, y, data.probabilities[t].to_numpy()[member],
                                                       data.calls[t].to_numpy()[member], settings))
        skipped = sum(1 for row in rows["subgroups"] if row["stratifier"] == stratifier and not np.isfinite(row["auc"]))
        if skipped:
            notes.append(f"per-{stratifier} AUROC not computed for {skipped} subgroup(s) and type(s) with fewer than "
                         "2 cases of each class.")
    return rows
