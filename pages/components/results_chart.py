"""The results chart of the consult page: probability per type against its threshold."""

from __future__ import annotations

import plotly.graph_objects as go

from bcl_core.leakage import LEAKAGE_TYPES, TYPE_LABELS
from bcl_core.predict.pipeline import PredictionResult

HIGH_COLOUR = "#c0392b"
LOW_COLOUR = "#5d8aa8"


def probability_chart(result: PredictionResult) -> go.Figure:
    """Horizontal bars (probability, %) per type, threshold ticks, Type IV on top."""
    names = list(reversed(LEAKAGE_TYPES))  # plotly draws the first bar at the bottom
    labels = [TYPE_LABELS[n] for n in names]
    figure = go.Figure()
    figure.add_bar(
        x=[100 * result.probabilities[n] for n in names], y=labels, orientation="h",
        marker_color=[HIGH_COLOUR if result.calls[n] else LOW_COLOUR for n in names],
        text=[f"{100 * result.probabilities[n]:.0f} %" for n in names], textposition="outside",
        name="model estimate")
    figure.add_scatter(
        x=[100 * result.thresholds[n] for n in names], y=labels, mode="markers",
        marker={"symbol": "line-ns-open", "size": 28, "line": {"width": 3}, "color": "black"},
        name="threshold")
    figure.update_layout(
        xaxis={"title": "model estimate of leakage (%)", "range": [0, 110]},
        height=300, margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": 1.15})
    return figure
