"""Bounded-number argparse types shared by the ``bcl train`` targets (clear errors, no traceback)."""

from __future__ import annotations

import argparse


def float_between(text: str, low: float, high: float, what: str, *, inclusive: bool) -> float:
    """Parse a float in [low, high] (``inclusive``) or (low, high), or raise an argparse error."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    inside = low <= value <= high if inclusive else low < value < high
    if not inside:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_mm(text: str) -> float:
    """Parse a positive length in mm (argparse type)."""
    return float_between(text, 0.0, 100.0, "a length between 0 and 100 mm", inclusive=False)


def probability(text: str) -> float:
    """Parse a probability from 0 to 1 (argparse type)."""
    return float_between(text, 0.0, 1.0, "a probability from 0 to 1", inclusive=True)
