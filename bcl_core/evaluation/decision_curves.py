"""Decision-curve rows of the evaluation: model, treat all, treat none (readers' rows: readers.py).

Net benefit per type at the thresholds :data:`bcl_core.stats.DEFAULT_THRESHOLDS` (Vickers &
Elkin 2006). A surgeon deciding at which Type IV risk to change technique reads the model's
curve against "treat all" and "treat none" at the risk where they would act.
"""

from __future__ import annotations

import numpy as np

from bcl_core.evaluation import schema
from bcl_core.evaluation.loading import EvaluationData
from bcl_core.evaluation.scorers import Rows
from bcl_core.stats import DEFAULT_THRESHOLDS, net_benefit_of_model, net_benefit_treat_all

TREAT_ALL = "treat all"
TREAT_NONE = "treat none"
#: Thresholds the report's decision-curve table shows (the CSV holds every one).
TABLE_THRESHOLDS: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)


def model_decision_rows(data: EvaluationData) -> Rows:
    """Net benefit of the model, of treating all and of treating none, per type and threshold."""
    rows: Rows = {"decision_curve": []}
    for t in schema.TYPES:
        y = data.labels[t].to_numpy()
        curves = {
            schema.MODEL: net_benefit_of_model(y, data.probabilities[t].to_numpy(), DEFAULT_THRESHOLDS),
            TREAT_ALL: net_benefit_treat_all(y, DEFAULT_THRESHOLDS),
            TREAT_NONE: np.zeros(DEFAULT_THRESHOLDS.size),
        }
        for scorer, net_benefit in curves.items():
            rows["decision_curve"] += [{"type": t, "scorer": scorer, "threshold": float(pt), "net_benefit": float(nb)}
                                       for pt, nb in zip(DEFAULT_THRESHOLDS, net_benefit, strict=True)]
    return rows
