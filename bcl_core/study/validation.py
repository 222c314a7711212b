"""Checks of what users type, shared by every service function that stores it.

The service boundary (:func:`bcl_core.study.access.service`) checks every argument against its
annotation with :func:`check_argument` before a service body runs, so a wrong type, a broken
character or an impossible id is refused with a :class:`~bcl_core.errors.StudyError` instead of
failing deep in the database driver.
"""

from __future__ import annotations

import math
import numbers
import os
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bcl_core.errors import StudyError
from bcl_core.study.constants import (
    CLOCK_SKEW_S,
    LEAK_TYPES,
    MAX_ID,
    MAX_SEED,
    MAX_TEXT_LENGTH,
    MAX_TIME_SPENT_S,
)


def label(name: str) -> str:
    """A parameter name as people read it: ``study_id`` -> ``study id``, ``time_s`` -> ``time (s)``."""
    if name.endswith("_s"):
        return name[:-2].replace("_", " ") + " (s)"
    return name.replace("_", " ")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_plain_text(value: object, field: str) -> str:
    """Text that can be stored: a ``str`` whose every character can be written as UTF-8.

    A lone surrogate (e.g. ``"\\ud800"``, left by a damaged copy-paste) cannot be stored by
    SQLite or PostgreSQL; it is refused here rather than failing in the database driver.

    Raises
    ------
    StudyError
        If ``value`` is not text, or holds a character that cannot be stored.
    """
    if not isinstance(value, str):
        raise StudyError(f"The {field} must be text, not {type(value).__name__}.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise StudyError(f"The {field} holds a broken character (often from a damaged "
                         "copy-paste); retype it.") from None
    return value


def clean_text(value: str | None, field: str, max_length: int = MAX_TEXT_LENGTH) -> str:
    """Free text as stored: stripped, NUL-free (PostgreSQL refuses NUL), length-checked.

    Text is stored as given otherwise (queries bind parameters, so nothing in it is SQL); pages
    show it escaped, and exports neutralise spreadsheet formulas.

    Raises
    ------
    StudyError
        If it is not text, holds a broken character or is too long.
    """
    text = check_plain_text("" if value is None else value, field).replace("\x00", "").strip()
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
    if not _is_real(seconds) or not math.isfinite(seconds) or not (
        0 <= seconds <= MAX_TIME_SPENT_S
    ):
        raise StudyError("The time spent on a case must be between 0 s and 24 h.")
    return float(seconds)


def check_started_at(started_at: datetime | None, time_spent_s: float,
                     now: datetime) -> datetime:
    """When a reader opened a case, checked against the submission time ``now``.

    ``None`` means ``now - time_spent_s``. A given time must be timezone-aware, not after
    ``now`` (beyond :data:`CLOCK_SKEW_S`), at most a day before it, and leave room for the time
    the reader reports having spent.

    Raises
    ------
    StudyError
        If the start time is naive, in the future, too old or shorter than the time spent.
    """
    if started_at is None:
        return now - timedelta(seconds=time_spent_s)
    started = check_aware_datetime(started_at, "case start time")
    elapsed_s = (now - started).total_seconds()
    if elapsed_s < -CLOCK_SKEW_S:
        raise StudyError("The case start time lies in the future; check the clock of this "
                         "computer and open the case again.")
    if elapsed_s > MAX_TIME_SPENT_S:
        raise StudyError("The case start time is more than 24 h before submission; open the "
                         "case again and answer it in one sitting.")
    if time_spent_s > max(elapsed_s, 0.0) + CLOCK_SKEW_S:
        raise StudyError(f"The time spent ({time_spent_s:.0f} s) is longer than the time since "
                         f"the case was opened ({max(elapsed_s, 0.0):.0f} s); open the case "
                         "again.")
    return started


def check_probability(value: float, name: str) -> float:
    """A model probability in [0, 1]."""
    if not _is_real(value) or not math.isfinite(value) or not 0 <= value <= 1:
        raise StudyError(f"{name} must be a probability between 0 and 1, got {value!r}.")
    return float(value)


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_whole_number(value: object, field: str, lowest: int, highest: int) -> int:
    """A whole number in ``[lowest, highest]`` (``True``/``False`` and ``2.0`` are refused).

    Raises
    ------
    StudyError
        If ``value`` is not a whole number or lies outside the range.
    """
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise StudyError(f"The {field} must be a whole number; got {_shown(value)}.")
    if not lowest <= int(value) <= highest:
        raise StudyError(f"The {field} must be between {lowest} and {highest}; got {value}.")
    return int(value)


def check_id(value: object, field: str) -> int:
    """A database id: a whole number from 1 to :data:`MAX_ID`.

    Raises
    ------
    StudyError
        If it is not a whole number or out of range (list the items to pick a real id).
    """
    return check_whole_number(value, field, 1, MAX_ID)


def check_aware_datetime(value: object, field: str) -> datetime:
    """A timezone-aware :class:`~datetime.datetime` (a naive one is ambiguous).

    Raises
    ------
    StudyError
        If ``value`` is not a datetime or carries no timezone.
    """
    if not isinstance(value, datetime):
        raise StudyError(f"The {field} must be a date and time; got {_shown(value)}.")
    if value.tzinfo is None or value.utcoffset() is None:
        raise StudyError(f"The {field} has no timezone; give it in UTC (or with its offset).")
    return value


def _check_one(name: str, kind: Any, value: object) -> None:
    field = label(name)
    if kind not in _KNOWN_KINDS and typing.get_origin(kind) not in (Mapping, Callable):
        if isinstance(kind, type) and not isinstance(value, kind):
            raise StudyError(f"The {field} must be a {kind.__name__}; got {_shown(value)}.")
        return
    if kind is int:
        if name.endswith("_id"):
            check_id(value, field)
        else:
            check_whole_number(value, field, -MAX_SEED - 1, MAX_SEED)
    elif kind is str:
        check_plain_text(value, field)
    elif kind is bool:
        if not isinstance(value, bool):
            raise StudyError(f"The {field} must be yes or no (True/False); got "
                             f"{_shown(value)}.")
    elif kind is float:
        if not _is_real(value) or not math.isfinite(value):  # type: ignore[arg-type]
            raise StudyError(f"The {field} must be a number; got {_shown(value)}.")
    elif kind is datetime:
        check_aware_datetime(value, field)
    elif kind is Path:
        if not isinstance(value, os.PathLike):
            raise StudyError(f"The {field} must be a path; got {_shown(value)}.")
    elif typing.get_origin(kind) is Mapping or kind is Mapping:
        if not isinstance(value, Mapping):
            raise StudyError(f"The {field} must be a mapping of names to values; got "
                             f"{type(value).__name__}.")
    elif typing.get_origin(kind) is Callable or kind is Callable:
        if not callable(value):
            raise StudyError(f"The {field} must be callable; got {type(value).__name__}.")


_KNOWN_KINDS = (int, str, bool, float, datetime, Path, Mapping, Callable)


def _options(annotation: Any) -> tuple[Any, ...]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return typing.get_args(annotation)
    return (annotation,)


def check_argument(name: str, annotation: Any, value: object) -> None:
    """Check one service argument against its annotation.

    Understood: ``int`` (an id when the name ends in ``_id``, otherwise a whole number that
    fits a 32-bit database INTEGER), ``str``, ``bool``, ``float``, ``datetime`` (aware),
    ``Path``, ``Mapping[...]``, ``Callable[...]``, their unions and ``None``. ``str`` in a union
    with other types (e.g. ``Role | str``) is only checked when the value is text. Other
    annotations are left to the service body.

    Raises
    ------
    StudyError
        If ``value`` fits none of the annotated types.
    """
    options = _options(annotation)
    if value is None:
        if type(None) in options:
            return
        raise StudyError(f"The {label(name)} is missing.")
    if len(options) == 1 or (len(options) == 2 and type(None) in options):
        _check_one(name, next(o for o in options if o is not type(None)), value)
        return
    # A union: the value must fit one member; text is checked as text.
    if str in options and isinstance(value, str):
        check_plain_text(value, label(name))
        return
    errors = []
    for option in (o for o in options if o is not type(None)):
        try:
            _check_one(name, option, value)
            return
        except StudyError as exc:
            errors.append(str(exc))
    raise StudyError(errors[0])
