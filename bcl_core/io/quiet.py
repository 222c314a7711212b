"""Keep pydicom's complaints about malformed values out of the user's terminal and the logs.

pydicom reports a non-conforming value (an invalid UID, an over-long name) both as a
``UserWarning`` and on its ``pydicom`` logger, quoting the value, which may be a patient's name
or ID. Inside :func:`quiet_pydicom` such records are dropped (the loader reports problems in its
own words); the warnings are always ignored because every one of them is also a log record,
which outside this scope still reaches the logs as before. A context variable (not a global
switch) scopes this, so concurrent app sessions do not interfere.
"""

from __future__ import annotations

import contextvars
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

_QUIET: contextvars.ContextVar[bool] = contextvars.ContextVar("bcl_quiet_pydicom", default=False)


class _DropWhileQuiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (_QUIET.get() and record.levelno < logging.ERROR)


_FILTER = _DropWhileQuiet()
if _FILTER not in logging.getLogger("pydicom").filters:
    logging.getLogger("pydicom").addFilter(_FILTER)
warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\..*)?$")


@contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Drop pydicom's value warnings raised in this block (and in this context only)."""
    token = _QUIET.set(True)
    try:
        yield
    finally:
        _QUIET.reset(token)
