"""Interactive plotly figures of the report and the app (from :mod:`figure_data`)."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bcl_core.evaluation import schema
from bcl_core.evaluation.figure_data import (
    AXIS_LABELS,
    CONFUSION_TICKS,
    FIGURE_TITLES,
    calibration_panels,
    confusion_panels,
    decision_panels,
    roc_panels,
)
from bcl_core.evaluation.scorers import EvaluationResult

_GRID = {t: divmod(i, 2) for i, t in enumerate(schema.TYPES)}
_TITLES = [schema.TYPE_TITLES[t] for t in schema.TYPES]


def _grid(title: str) -> go.Figure:
    fig = make_subplots(rows=2, cols=2, subplot_titles=_TITLES, horizontal_spacing=0.1, vertical_spacing=0.14)
    fig.update_layout(title=title, height=760, template="plotly_white", legend={"font": {"size": 10}})
    return fig


def _diagonal(fig: go.Figure, row: int, col: int) -> None:
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"color": "#bbbbbb", "dash": "dot"},
                             showlegend=False, hoverinfo="skip"), row=row, col=col)


def _unit_axes(fig: go.Figure, name: str) -> None:
    xlabel, ylabel = AXIS_LABELS[name]
    fig.update_xaxes(title_text=xlabel, range=[0, 1])
    fig.update_yaxes(title_text=ylabel, range=[0, 1.02])


def roc_figure(result: EvaluationResult) -> go.Figure:
    """ROC curves per type with reader (and model) operating points."""
    fig = _grid(FIGURE_TITLES["roc"])
    for t, (curves, points) in roc_panels(result).items():
        row, col = (v + 1 for v in _GRID[t])
        _diagonal(fig, row, col)
        for curve in curves:
            fig.add_trace(go.Scatter(x=curve.x, y=curve.y, mode="lines", name=f"{t}: {curve.label}",
                                     line={"dash": "dash" if curve.dashed else "solid"}), row=row, col=col)
        fig.add_trace(go.Scatter(x=[p.x for p in points], y=[p.y for p in points], mode="markers",
                                 text=[p.label for p in points], name=f"{t}: operating points",
                                 hovertemplate="%{text}<br>1-spec %{x:.3f}<br>sens %{y:.3f}<extra></extra>"),
                      row=row, col=col)
    _unit_axes(fig, "roc")
    return fig


def calibration_figure(result: EvaluationResult) -> go.Figure:
    """Reliability curves of the model per type."""
    fig = _grid(FIGURE_TITLES["calibration"])
    for t, curve in calibration_panels(result).items():
        row, col = (v + 1 for v in _GRID[t])
        _diagonal(fig, row, col)
        fig.add_trace(go.Scatter(x=curve.x, y=curve.y, mode="lines+markers", name=f"{t}: {curve.label}"), row=row, col=col)
    _unit_axes(fig, "calibration")
    return fig


def confusion_figure(result: EvaluationResult) -> go.Figure:
    """Model confusion matrices per type."""
    fig = _grid(FIGURE_TITLES["confusion"])
    for t, matrix in confusion_panels(result).items():
        row, col = (v + 1 for v in _GRID[t])
        fig.add_trace(go.Heatmap(z=matrix, x=list(CONFUSION_TICKS[0]), y=list(CONFUSION_TICKS[1]), text=matrix,
                                 texttemplate="%{text}", colorscale="Blues", showscale=False), row=row, col=col)
        fig.update_yaxes(autorange="reversed", row=row, col=col)
    return fig


def decision_curve_figure(result: EvaluationResult) -> go.Figure:
    """Net benefit against threshold probability per type: model, readers' calls, treat all / none."""
    fig = _grid(FIGURE_TITLES["decision_curve"])
    xlabel, ylabel = AXIS_LABELS["decision_curve"]
    for t, (curves, y_range) in decision_panels(result).items():
        row, col = (v + 1 for v in _GRID[t])
        for curve in curves:
            fig.add_trace(go.Scatter(x=curve.x, y=curve.y, mode="lines", name=f"{t}: {curve.label}",
                                     line={"dash": "dash" if curve.dashed else "solid"}), row=row, col=col)
        fig.update_xaxes(title_text=xlabel, range=[0, 1], row=row, col=col)
        fig.update_yaxes(title_text=ylabel, range=list(y_range), row=row, col=col)
    return fig


def all_figures(result: EvaluationResult) -> dict[str, go.Figure]:
    """Every report figure by name (the names of :data:`figure_data.FIGURE_NAMES`)."""
    return {"roc": roc_figure(result), "calibration": calibration_figure(result), "confusion": confusion_figure(result),
            "decision_curve": decision_curve_figure(result)}
