"""What each figure shows, computed once and drawn by both renderers (plotly and matplotlib)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from bcl_core.evaluation import schema
from bcl_core.evaluation.decision_curves import TREAT_ALL, TREAT_NONE
from bcl_core.evaluation.scorers import EvaluationResult

FIGURE_NAMES: tuple[str, ...] = ("roc", "calibration", "confusion", "decision_curve")
#: Titles and (x, y) axis labels, shared by both renderers.
FIGURE_TITLES: dict[str, str] = {
    "roc": "ROC curves (points: binary calls)",
    "calibration": "Calibration (reliability curves)",
    "confusion": "Model confusion matrices (rows: reference, columns: call)",
    "decision_curve": "Decision curves (net benefit; act when the risk is at least the threshold)",
}
AXIS_LABELS: dict[str, tuple[str, str]] = {
    "roc": ("1 - specificity", "sensitivity"),
    "calibration": ("mean predicted probability", "observed frequency"),
    "decision_curve": ("threshold probability", "net benefit"),
}
CONFUSION_TICKS: tuple[tuple[str, str], tuple[str, str]] = (("call 0", "call 1"), ("reference 0", "reference 1"))


@dataclass(frozen=True)
class Curve:
    """A named x/y line (ROC: x = 1 - specificity, y = sensitivity)."""

    label: str
    x: np.ndarray
    y: np.ndarray
    dashed: bool = False


@dataclass(frozen=True)
class Point:
    """A named operating point."""

    label: str
    x: float
    y: float


def _auc_of(result: EvaluationResult, scorer: str, type_name: str) -> str:
    table = result.tables.get("auroc", pd.DataFrame())
    row = table[(table["scorer"] == scorer) & (table["type"] == type_name)] if len(table) else table
    return f" (AUROC {row['auc'].iloc[0]:.3f})" if len(row) else ""


def roc_panels(result: EvaluationResult) -> dict[str, tuple[list[Curve], list[Point]]]:
    """Per type: model (and oracle) ROC curves; reader and model operating points."""
    data = result.data
    panels: dict[str, tuple[list[Curve], list[Point]]] = {}
    for t in schema.TYPES:
        y = data.labels[t].to_numpy()
        curves: list[Curve] = []
        points: list[Point] = []
        if 0 < y.sum() < y.size:
            fpr, tpr, _ = roc_curve(y, data.probabilities[t].to_numpy())
            curves.append(Curve(f"model{_auc_of(result, schema.MODEL, t)}", fpr, tpr))
            if data.oracle is not None:
                fpr, tpr, _ = roc_curve(y, data.oracle[t].to_numpy())
                curves.append(Curve(f"oracle{_auc_of(result, schema.ORACLE, t)}", fpr, tpr, dashed=True))
        metrics = result.tables.get("metrics", pd.DataFrame())
        if len(metrics):
            for scorer, group in metrics[metrics["type"] == t].groupby("scorer", sort=True):
                values = group.set_index("metric")["value"]
                if np.isfinite(values["sensitivity"]) and np.isfinite(values["specificity"]):
                    points.append(Point(f"{scorer} calls", 1.0 - values["specificity"], values["sensitivity"]))
        panels[t] = (curves, points)
    return panels


def calibration_panels(result: EvaluationResult) -> dict[str, Curve]:
    """Per type: the model's reliability curve (mean predicted vs observed frequency)."""
    table = result.tables["reliability"]
    panels = {}
    for t in schema.TYPES:
        rows = table[table["type"] == t]
        ece = result.tables["calibration"].set_index("type").loc[t, "ece"]
        panels[t] = Curve(f"model (ECE {ece:.3f})", rows["mean_predicted"].to_numpy(), rows["observed_frequency"].to_numpy())
    return panels


def confusion_panels(result: EvaluationResult, scorer: str = schema.MODEL) -> dict[str, np.ndarray]:
    """Per type: the 2x2 matrix [[TN, FP], [FN, TP]] (rows = reference 0/1, columns = call 0/1)."""
    table = result.tables["confusion"]
    panels = {}
    for t in schema.TYPES:
        row = table[(table["scorer"] == scorer) & (table["type"] == t)].iloc[0]
        panels[t] = np.array([[row["tn"], row["fp"]], [row["fn"], row["tp"]]], dtype=int)
    return panels


def decision_panels(result: EvaluationResult) -> dict[str, tuple[list[Curve], tuple[float, float]]]:
    """Per type: net-benefit curves (model, readers' calls, treat all, treat none) and a y range.

    The range runs from a little below 0 to a little above the prevalence (the most any rule can
    gain), so the steep fall of "treat all" at high thresholds does not flatten the rest.
    """
    table = result.tables["decision_curve"]
    panels = {}
    for t in schema.TYPES:
        rows = table[table["type"] == t]
        curves = [Curve(str(scorer), group["threshold"].to_numpy(), group["net_benefit"].to_numpy(),
                        dashed=scorer in (TREAT_ALL, TREAT_NONE))
                  for scorer, group in rows.groupby("scorer", sort=False)]
        prevalence = float(result.data.labels[t].mean())
        panels[t] = (curves, (-0.05 - 0.1 * prevalence, max(prevalence * 1.15, 0.05)))
    return panels
