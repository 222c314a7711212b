"""Input checks shared by the statistics modules: one place for every "cannot compute" message."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bcl_core.errors import StatsError


def binary_labels(y_true: ArrayLike, *, need_both: bool = True) -> NDArray[np.bool_]:
    """Validate 0/1 (or boolean) reference labels and return them as a boolean vector.

    Parameters
    ----------
    y_true
        Reference standard, 1 = event (leakage of that type), 0 = no event.
    need_both
        Require at least one positive and one negative (AUROC, DeLong).

    Raises
    ------
    StatsError
        Labels are not 0/1, contain missing values, or (``need_both``) one class is absent.
    """
    arr = np.asarray(y_true)
    if arr.ndim != 1 or arr.size == 0:
        raise StatsError("labels must be a non-empty 1-D sequence of 0/1 values.")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise StatsError("labels contain missing values; drop or complete those cases first.")
    values = set(np.unique(arr).tolist())
    if not values <= {0, 1}:
        raise StatsError(f"labels must be 0/1, found values {sorted(values)[:5]}.")
    labels = arr.astype(bool)
    if need_both and (labels.all() or not labels.any()):
        kind = "positive" if labels.all() else "negative"
        raise StatsError(
            f"all {labels.size} cases are {kind}: AUROC and its variance need at least one "
            "case of each class."
        )
    return labels


def matching_scores(scores: ArrayLike, n_cases: int, name: str = "scores") -> NDArray[np.float64]:
    """Validate a score vector (or a (k, n) stack) against ``n_cases`` and return it as float.

    Raises
    ------
    StatsError
        Wrong length, non-numeric or non-finite values.
    """
    try:
        arr = np.asarray(scores, dtype=float)
    except (TypeError, ValueError) as exc:
        raise StatsError(f"{name} must be numeric ({exc}).") from None
    if arr.shape[-1] != n_cases:
        raise StatsError(f"{name} has {arr.shape[-1]} values for {n_cases} cases.")
    if not np.isfinite(arr).all():
        raise StatsError(f"{name} contain missing or infinite values.")
    return arr


def check_level(level: float) -> float:
    """Validate a confidence level in (0, 1)."""
    if not 0.0 < float(level) < 1.0:
        raise StatsError(f"confidence level must be between 0 and 1, got {level}.")
    return float(level)
