"""Static PNG versions of the report figures (matplotlib, Agg backend) for PDFs and papers."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display at clinics or in CI; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bcl_core.evaluation import schema  # noqa: E402
from bcl_core.evaluation.figure_data import (  # noqa: E402
    AXIS_LABELS,
    CONFUSION_TICKS,
    FIGURE_TITLES,
    calibration_panels,
    confusion_panels,
    decision_panels,
    roc_panels,
)
from bcl_core.evaluation.scorers import EvaluationResult  # noqa: E402


def _grid(title: str) -> tuple[Figure, dict[str, plt.Axes]]:
    fig, axes = plt.subplots(2, 2, figsize=(10, 9), dpi=110)
    fig.suptitle(title)
    panels = dict(zip(schema.TYPES, axes.ravel(), strict=True))
    for t, ax in panels.items():
        ax.set_title(schema.TYPE_TITLES[t], fontsize=10)
    return fig, panels


def _unit_square(ax: plt.Axes, name: str) -> None:
    xlabel, ylabel = AXIS_LABELS[name]
    ax.plot([0, 1], [0, 1], color="#bbbbbb", linestyle=":", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def _roc(result: EvaluationResult) -> Figure:
    fig, panels = _grid(FIGURE_TITLES["roc"])
    for t, (curves, points) in roc_panels(result).items():
        ax = panels[t]
        _unit_square(ax, "roc")
        for curve in curves:
            ax.plot(curve.x, curve.y, linestyle="--" if curve.dashed else "-", label=curve.label)
        for point in points:
            ax.scatter([point.x], [point.y], s=22, label=point.label)
        if curves or points:
            ax.legend(fontsize=7, loc="lower right")
        else:
            ax.text(0.5, 0.5, "no cases of both classes", ha="center", va="center")
    return fig


def _calibration(result: EvaluationResult) -> Figure:
    fig, panels = _grid(FIGURE_TITLES["calibration"])
    for t, curve in calibration_panels(result).items():
        ax = panels[t]
        _unit_square(ax, "calibration")
        ax.plot(curve.x, curve.y, marker="o", label=curve.label)
        ax.legend(fontsize=8, loc="upper left")
    return fig


def _confusion(result: EvaluationResult) -> Figure:
    fig, panels = _grid(FIGURE_TITLES["confusion"])
    for t, matrix in confusion_panels(result).items():
        ax = panels[t]
        ax.imshow(matrix, cmap="Blues")
        for (r, c), value in ((rc, matrix[rc]) for rc in ((0, 0), (0, 1), (1, 0), (1, 1))):
            dark = value > matrix.max() / 2  # light text on dark cells
            ax.text(c, r, str(value), ha="center", va="center", fontsize=12, color="white" if dark else "black")
        ax.set_xticks([0, 1], list(CONFUSION_TICKS[0]))
        ax.set_yticks([0, 1], list(CONFUSION_TICKS[1]))
    return fig


def _decision_curve(result: EvaluationResult) -> Figure:
    fig, panels = _grid(FIGURE_TITLES["decision_curve"])
    xlabel, ylabel = AXIS_LABELS["decision_curve"]
    for t, (curves, y_range) in decision_panels(result).items():
        ax = panels[t]
        for curve in curves:
            ax.plot(curve.x, curve.y, linestyle="--" if curve.dashed else "-", linewidth=1.2, label=curve.label)
        ax.set_xlim(0, 1)
        ax.set_ylim(*y_range)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7, loc="upper right")
    return fig


def write_pngs(result: EvaluationResult, out_dir: Path) -> dict[str, Path]:
    """Write ``roc.png``, ``calibration.png``, ``confusion.png`` and ``decision_curve.png`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, draw in (("roc", _roc), ("calibration", _calibration), ("confusion", _confusion),
                       ("decision_curve", _decision_curve)):
        fig = draw(result)
        fig.tight_layout()
        path = out_dir / f"{name}.png"
        fig.savefig(path)
        plt.close(fig)
        written[name] = path
    return written
