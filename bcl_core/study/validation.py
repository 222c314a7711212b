"""Checks of what users type, shared by every service function that stores it."""

from __future__ import annotations

import math
from collections.abc import Mapping

from bcl_core.errors import StudyError
from bcl_core.study.constants import LEAK_TYPES, MAX_TEXT_LENGTH, MAX_TIME_SPENT_S


def clean_text(value: str | None, field: str, max_length: int = MAX_TEXT_LENGTH) -> str:
    """Free text as stored: stripped, NUL-free (PostgreSQL refuses NUL), length-checked.

    Text is stored as given otherwise (queries bind parameters, so nothing in it is SQL); pages
    show it escaped, and exports neutralise spreadsheet formulas.
    """
    text = (value or "").replace("\x00", "").strip()
    if len(text) > max_length:
        raise StudyError(f"The {field} is too long ({len(text)} characters; at most {max_length}).")
    return text


def check_calls(calls: Mapping[str, object]) -> dict[str, int]:
    """Every leakage type answered with 0 or 1.

    Raises
    ------
    StudyError
        Naming the types left unanswered or answered with something else.
    """
    missing = [t for t in LEAK_TYPES if t not in calls or calls[t] is None]
    if missing:
        raise StudyError("Answer every leakage type before submitting; missing: "
                         + ", ".join(missing) + ".")
    bad = [t for t in LEAK_TYPES if calls[t] not in (0, 1) or isinstance(calls[t], float)]
    if bad:
        raise StudyError("Each leakage type is answered 0 (no) or 1 (yes); check: "
                         + ", ".join(bad) + ".")
    return {t: int(calls[t]) for t in LEAK_TYPES}  # type: ignore[call-overload]


def check_confidences(confidences: Mapping[str, object] | None) -> dict[str, int | None]:
    """Optional 0-100 confidence per type (``None`` where not given)."""
    given = confidences or {}
    result: dict[str, int | None] = {}
    for leak_type in LEAK_TYPES:
        value = given.get(leak_type)
        if value is None:
            result[leak_type] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
            raise StudyError(f"The confidence for {leak_type} must be between 0 and 100.")
        result[leak_type] = int(round(value))
    return result


def check_time_spent(seconds: float) -> float:
    """Time on a case in seconds: finite, not negative, under a day."""
    if not isinstance(seconds, int | float) or not math.isfinite(seconds) or not (
        0 <= seconds <= MAX_TIME_SPENT_S
    ):
        raise StudyError("The time spent on a case must be between 0 s and 24 h.")
    return float(seconds)


def check_probability(value: float, name: str) -> float:
    """A model probability in [0, 1]."""
    if not isinstance(value, int | float) or not math.isfinite(value) or not 0 <= value <= 1:
        raise StudyError(f"{name} must be a probability between 0 and 1, got {value!r}.")
    return float(value)
