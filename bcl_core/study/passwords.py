"""The password policy: what a user may choose as a password.

After NIST SP 800-63B and the OWASP Authentication Cheat Sheet: a minimum and a maximum length
(nothing trimmed or truncated), every character allowed, no composition rules, and common or
trivial passwords refused. "Common or trivial" is judged by zxcvbn (Dropbox's estimator: lists
of the most used passwords, words, names, keyboard patterns, repeats, sequences and dates), which
the OWASP cheat sheet names for this purpose.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bcl_core.errors import StudyError
from bcl_core.study.constants import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, MIN_PASSWORD_SCORE
from bcl_core.study.validation import check_plain_text

logger = logging.getLogger(__name__)

#: zxcvbn reads at most this many characters (its own limit); a longer password is judged by
#: its beginning, which only underestimates it.
ZXCVBN_MAX_LENGTH = 72
#: Words of this product a password should not lean on.
PRODUCT_WORDS = ("bcl", "predict", "kyphoplasty", "cement", "leakage", "study", "reader",
                 "coordinator", "adjudicator", "password")


def check_new_password(password: object, user_inputs: Iterable[str] = ()) -> str:
    """Refuse a password that is too short, too long, or common or trivial.

    Parameters
    ----------
    password:
        The password as typed (never trimmed).
    user_inputs:
        Words the password must not lean on, such as the username.

    Returns
    -------
    str
        The password, unchanged.

    Raises
    ------
    StudyError
        Saying what to change.
    """
    text = check_plain_text(password, "new password")
    if len(text) < MIN_PASSWORD_LENGTH:
        raise StudyError(f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.")
    if len(text) > MAX_PASSWORD_LENGTH:
        raise StudyError(f"A password has at most {MAX_PASSWORD_LENGTH} characters; a few "
                         "unrelated words are plenty.")
    from zxcvbn import zxcvbn  # loaded on first use: the app starts without it

    words = [w for w in (*user_inputs, *PRODUCT_WORDS) if isinstance(w, str) and w]
    verdict = zxcvbn(text[:ZXCVBN_MAX_LENGTH], user_inputs=words)
    if verdict["score"] < MIN_PASSWORD_SCORE:
        warning = str(verdict["feedback"].get("warning") or "").strip().rstrip(".")
        reason = f" ({warning})" if warning else ""
        raise StudyError(f"This password is too easy to guess{reason}. Choose a longer one, "
                         "for example a few unrelated words.")
    return text
