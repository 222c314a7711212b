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

#: Login throttling (OWASP Authentication Cheat Sheet, "Login Throttling": an exponential lockout
#: that starts at about a second and doubles, instead of a fixed lock a stranger can trigger).
#: Failed logins in a row an account may have before each further one pauses it:
FREE_FAILED_LOGINS = 3
#: The first pause, doubled with every further failure in a row, and the longest pause.
LOGIN_BACKOFF_FIRST = timedelta(seconds=1)
LOGIN_BACKOFF_MAX = timedelta(minutes=5)
#: Failed logins one client (the app passes its remote address) may make in the window, and
#: failed logins of all clients together in the window before clients that failed are refused.
CLIENT_FAILED_LOGIN_BUDGET = 20
GLOBAL_FAILED_LOGIN_BUDGET = 200
LOGIN_BUDGET_WINDOW = timedelta(minutes=15)
#: Longest username (the column holds 64 characters).
MAX_USERNAME_LENGTH = 64
#: Lifetime of a login session.
SESSION_TTL = timedelta(hours=8)
#: Shortest and longest password a user may choose (NIST SP 800-63B: allow at least 64; a cap
#: keeps hashing cheap), and the strength it needs: zxcvbn score 0-4, 3 = "safely unguessable".
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
MIN_PASSWORD_SCORE = 3
#: Largest database id (a signed 64-bit integer) and seed (PostgreSQL INTEGER, 32-bit).
MAX_ID = 2**63 - 1
MAX_SEED = 2**31 - 1
#: How far a reported case start may lie after the server's clock (clock skew), in seconds.
CLOCK_SKEW_S = 60.0
#: Longest free text stored (comments, reasons, notes, descriptions).
MAX_TEXT_LENGTH = 2000
#: Longest time a reader may report on one case.
MAX_TIME_SPENT_S = 24 * 3600.0
#: Reference readers needed per case before a label can be decided.
REFERENCE_READS_PER_CASE = 2
