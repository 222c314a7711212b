"""Find prediction sets to evaluate: folders holding predictions.csv and labels.csv.

The app lists every folder under ``models/eval/`` (or ``$BCL_EVAL_ROOT``) that holds a
``predictions.csv`` and a ``labels.csv``; a ``reads.csv`` beside them (a reader study's reads of
the same cases) is picked up too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

EVAL_ROOT_ENV = "BCL_EVAL_ROOT"
PREDICTIONS_FILE = "predictions.csv"
LABELS_FILE = "labels.csv"
READS_FILE = "reads.csv"
_MAX_DEPTH = 3


@dataclass(frozen=True)
class PredictionSet:
    """One evaluable set: its name (folder relative to the root) and files."""

    name: str
    predictions: Path
    labels: Path
    reads: Path | None


def default_eval_root() -> Path:
    """``$BCL_EVAL_ROOT`` if set, else ``models/eval`` of this checkout."""
    override = os.environ.get(EVAL_ROOT_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "models" / "eval"


def find_prediction_sets(root: Path | None = None) -> list[PredictionSet]:
    """Prediction sets under ``root`` (up to 3 folders deep), sorted by name; empty if none."""
    base = Path(root) if root is not None else default_eval_root()
    if not base.is_dir():
        return []
    found = []
    for predictions in sorted(base.rglob(PREDICTIONS_FILE)):
        folder = predictions.parent
        depth = len(folder.relative_to(base).parts)
        labels = folder / LABELS_FILE
        if depth > _MAX_DEPTH or not labels.is_file():
            continue
        reads = folder / READS_FILE
        name = folder.relative_to(base).as_posix() or base.name
        found.append(PredictionSet(name, predictions, labels, reads if reads.is_file() else None))
    return found
