"""Facts of the reader-study protocol, written down once: roles, leakage types, limits."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from bcl_core.leakage import LEAKAGE_TYPES


class Role(StrEnum):
    """What a study account may do.

    ``reader`` is a prediction reader (reads preoperative CT + MRI blinded and predicts leakage);
    ``reference_reader`` records the observed leakage (the reference standard);
    ``adjudicator`` settles disagreements between the two reference readers;
    ``coordinator`` runs the study.
    """

    COORDINATOR = "coordinator"
    READER = "reader"
    REFERENCE_READER = "reference_reader"
    ADJUDICATOR = "adjudicator"


ALL_ROLES: frozenset[Role] = frozenset(Role)

#: The four leakage types of the protocol, in column order (type I ... type IV).
LEAK_TYPES: tuple[str, ...] = LEAKAGE_TYPES

#: Series sub-folders a case folder may hold; ``postop`` is shown to reference readers only.
READER_SERIES: tuple[str, ...] = ("ct", "mr")
REFERENCE_SERIES: tuple[str, ...] = ("ct", "mr", "postop")

#: Failed logins in a row that lock an account, and for how long.
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
#: Lifetime of a login session.
SESSION_TTL = timedelta(hours=8)
#: Minimum length of a password a user chooses.
MIN_PASSWORD_LENGTH = 10
#: Longest free text stored (comments, reasons, notes, descriptions).
MAX_TEXT_LENGTH = 2000
#: Longest time a reader may report on one case.
MAX_TIME_SPENT_S = 24 * 3600.0
#: Reference readers needed per case before a label can be decided.
REFERENCE_READS_PER_CASE = 2
