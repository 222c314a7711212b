"""Passwords, one-time passwords, login throttling and login sessions.

Passwords are hashed with argon2id. A new account gets a one-time password and must choose its
own (:mod:`bcl_core.study.passwords`) before doing anything else. Throttling follows the OWASP
Authentication Cheat Sheet ("Login Throttling"): after :data:`FREE_FAILED_LOGINS` failures in a
row an account pauses for 1 s, then 2 s, 4 s ... up to :data:`LOGIN_BACKOFF_MAX` (a wrong
current password in :func:`change_password` counts the same); attempts during a pause are refused
and not counted, so a stranger cannot keep an account shut for longer than one pause at a time,
and the right password works once the pause is over. Each client and the whole server also have
a budget of failed logins (:mod:`bcl_core.study.throttle`). Every failure (unknown user, wrong
password, paused or disabled account, spent budget) gets the same message and costs one password
hash, so neither the message nor the time tells which it was. Login sessions are random bearer
tokens of which only the SHA-256 is stored; they expire.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bcl_core.errors import AuthenticationError, ConflictError, StudyError
from bcl_core.study.constants import (
    FREE_FAILED_LOGINS,
    LOGIN_BACKOFF_FIRST,
    LOGIN_BACKOFF_MAX,
    MAX_PASSWORD_LENGTH,
    MAX_USERNAME_LENGTH,
    Role,
)
from bcl_core.study.db import StudyDatabase
from bcl_core.study.models import AuditEvent, AuthSession, User, utcnow
from bcl_core.study.passwords import check_new_password
from bcl_core.study.throttle import client_key_of, login_budget
from bcl_core.study.validation import check_plain_text
from bcl_core.study.views import Actor, LoginResult, NewUser

logger = logging.getLogger(__name__)

#: The one answer to every failed login, whatever the reason (OWASP: no discrepancy factor).
LOGIN_FAILED = ("Wrong username or password. After repeated failures logins pause for a while: "
                "wait a minute and try again, or ask the study coordinator.")
_USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")


def token_digest(token: str) -> str:
    """SHA-256 hex digest of a session token (what the database stores).

    A string that is no valid token (even one with a lone surrogate) still gets a digest, which
    matches no session.
    """
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_one_time_password() -> str:
    """A random one-time password of about 72 bits, easy to type."""
    return secrets.token_urlsafe(9)


def check_username(username: str) -> str:
    """Normalise and validate a username (lower-case letters, digits, ``._-``; 3-64 long).

    Raises
    ------
    StudyError
        If the name has other characters or a bad length.
    """
    name = check_plain_text(username, "username").strip().lower()
    if not 3 <= len(name) <= MAX_USERNAME_LENGTH or not set(name) <= _USERNAME_CHARS:
        raise StudyError(
            f"A username needs 3-{MAX_USERNAME_LENGTH} characters: lower-case letters, digits, "
            "'.', '_' or '-'."
        )
    return name


def normalise_identity(identity: str) -> str:
    """An OIDC identity (e-mail) as stored: stripped, lower-case, sanity-checked.

    Raises
    ------
    StudyError
        If it does not look like an e-mail address.
    """
    text = check_plain_text(identity, "organisation login").strip().lower()
    if not 3 <= len(text) <= 255 or "@" not in text or any(c.isspace() for c in text):
        raise StudyError("An organisation login is identified by its e-mail address.")
    return text


def create_account(
    session: Session, hasher: PasswordHasher, username: str, role: Role, created_by: int | None,
    external_identity: str | None = None,
) -> NewUser:
    """Insert an account (shared by bootstrap and the coordinator).

    A password account gets a one-time password. An account linked to an organisation login
    (``external_identity``) gets an unusable random password instead and signs in through
    :func:`login_external` only; its ``one_time_password`` is empty.
    """
    name = check_username(username)
    if session.scalar(select(User.id).where(User.username == name)) is not None:
        raise ConflictError(f"The username {name!r} is taken; choose another.")
    identity = None if external_identity is None else normalise_identity(external_identity)
    if identity is not None and session.scalar(
            select(User.id).where(User.external_identity == identity)) is not None:
        raise ConflictError("That organisation login is linked to another account already.")
    password = new_one_time_password() if identity is None else secrets.token_urlsafe(32)
    user = User(username=name, role=Role(role).value, password_hash=hasher.hash(password),
                must_change_password=identity is None, external_identity=identity)
    session.add(user)
    session.flush()
    session.add(AuditEvent(user_id=created_by, action="create_user",
                           detail=f"user_id={user.id} role={user.role} sso={identity is not None}"))
    return NewUser(user.id, name, Role(user.role), password if identity is None else "")


def bootstrap_coordinator(db: StudyDatabase, username: str) -> NewUser:
    """Create the first coordinator of an empty database; returns its one-time password.

    Raises
    ------
    ConflictError
        If any account exists already (the coordinator then creates the others).
    """

    def work(session: Session) -> NewUser:
        if session.scalar(select(func.count(User.id))):
            raise ConflictError("Accounts exist already; ask a coordinator to create yours.")
        return create_account(session, db.password_hasher, username, Role.COORDINATOR, None)

    return db.run(work, write=True)


def _verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        # surrogatepass: a password with a broken character is simply wrong, never a crash.
        return hasher.verify(password_hash, password.encode("utf-8", "surrogatepass"))
    except (VerificationError, InvalidHashError):
        return False


def backoff(consecutive_failures: int) -> timedelta:
    """The pause after ``consecutive_failures`` failed logins in a row.

    None up to :data:`FREE_FAILED_LOGINS`; then :data:`LOGIN_BACKOFF_FIRST`, doubled with each
    further failure, at most :data:`LOGIN_BACKOFF_MAX`.
    """
    extra = consecutive_failures - FREE_FAILED_LOGINS - 1
    if extra < 0:
        return timedelta(0)
    return min(LOGIN_BACKOFF_FIRST * 2 ** min(extra, 32), LOGIN_BACKOFF_MAX)


def _paused(user: User, now: datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


def _count_failure(session: Session, user: User, now: datetime, action: str) -> None:
    """One more failure in a row: pause the account as :func:`backoff` says; audited."""
    user.failed_logins += 1
    pause = backoff(user.failed_logins)
    if pause:
        user.locked_until = now + pause
    session.add(AuditEvent(user_id=user.id, action=action,
                           detail=f"in_a_row={user.failed_logins} "
                                  f"pause_s={int(pause.total_seconds())}"))


def _reset_failures(user: User) -> None:
    user.failed_logins = 0
    user.locked_until = None


def login(db: StudyDatabase, username: str, password: str,
          client_key: str | None = None) -> LoginResult:
    """Check a password and open a session.

    Parameters
    ----------
    db:
        The study database.
    username, password:
        As typed (the username is matched case-insensitively; the password is never trimmed).
    client_key:
        An opaque name of the client for its failed-login budget (the app passes the remote
        address); callers that pass none share one budget.

    Returns
    -------
    LoginResult
        The new session.

    Raises
    ------
    AuthenticationError
        With :data:`LOGIN_FAILED` for every failure: unknown user, wrong password, an account
        paused after failures or disabled, a client or server over its failed-login budget.
        Each costs one password hash, like a real check. Also for a password over
        :data:`MAX_PASSWORD_LENGTH` characters (says so; it reveals nothing about accounts).
    """
    secret = password if isinstance(password, str) else ""
    if len(secret) > MAX_PASSWORD_LENGTH:
        raise AuthenticationError(f"A password has at most {MAX_PASSWORD_LENGTH} characters.")
    try:
        name = check_plain_text(username, "username").strip().lower()
    except StudyError:
        name = ""
    client = client_key_of(client_key)
    budget = login_budget(str(db.url))
    hasher = db.password_hasher
    if not budget.allows(client):
        _verify(hasher, _dummy_hash(hasher), secret)  # the same time as any other failure
        logger.warning("login refused: a client is over its failed-login budget")
        raise AuthenticationError(LOGIN_FAILED)

    def work(session: Session) -> LoginResult | str:
        user = session.scalar(select(User).where(User.username == name)) if name else None
        now = utcnow()
        if user is None:
            _verify(hasher, _dummy_hash(hasher), secret)
            return "unknown user"
        # Always hash, so a paused or disabled account answers as slowly as a wrong password.
        correct = _verify(hasher, user.password_hash, secret)
        if not user.active:
            return "disabled"
        if _paused(user, now):
            return "paused"  # not counted: a stranger cannot stretch the pause
        if not correct:
            _count_failure(session, user, now, "login_failed")
            return "wrong password"
        _reset_failures(user)
        if hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hasher.hash(secret)
        return _open_session(session, db, user, "login")

    # The failure count must be committed, so failures are returned, then raised.
    outcome = db.run(work, write=True)
    if isinstance(outcome, str):
        budget.record_failure(client)
        logger.info("login failed (%s)", outcome)
        raise AuthenticationError(LOGIN_FAILED)
    return outcome


def _open_session(session: Session, db: StudyDatabase, user: User, action: str) -> LoginResult:
    token = secrets.token_urlsafe(32)
    expires = utcnow() + db.session_ttl
    session.add(AuthSession(user_id=user.id, token_sha256=token_digest(token), expires_at=expires))
    session.add(AuditEvent(user_id=user.id, action=action))
    return LoginResult(token, user.username, Role(user.role), user.must_change_password, expires)


def login_external(db: StudyDatabase, identity: str) -> LoginResult:
    """Open a session for the account linked to an organisation login (OIDC, ``st.login``).

    Only for a caller that has verified ``identity`` with the identity provider (the app, after
    ``st.login``): this function trusts it.

    Raises
    ------
    AuthenticationError
        If no active, unlocked account is linked to ``identity``.
    """
    try:
        key = normalise_identity(identity)
    except StudyError as exc:
        raise AuthenticationError(str(exc)) from exc

    def work(session: Session) -> LoginResult | str:
        user = session.scalar(select(User).where(User.external_identity == key))
        if user is None or not user.active:
            return ("No active study account is linked to this organisation login; ask the "
                    "study coordinator.")
        # A pause after wrong passwords does not apply: the organisation vouched for the user.
        return _open_session(session, db, user, "login_sso")

    outcome = db.run(work, write=True)
    if isinstance(outcome, str):
        raise AuthenticationError(outcome)
    return outcome


_DUMMY_HASHES: dict[tuple[int, int, int], str] = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    if key not in _DUMMY_HASHES:
        _DUMMY_HASHES[key] = hasher.hash(secrets.token_urlsafe(16))
    return _DUMMY_HASHES[key]


def authenticate(session: Session, token: str, allow_password_change: bool = False) -> Actor:
    """The user behind a session token, checked for expiry, revocation and account state.

    Raises
    ------
    AuthenticationError
        If the token is unknown, expired or revoked, the account is disabled, or the user must
        first replace a one-time password.
    """
    if not isinstance(token, str) or not token:
        raise AuthenticationError("Please log in.")
    row = session.execute(
        select(AuthSession, User)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.token_sha256 == token_digest(token))
    ).first()
    if row is None:
        raise AuthenticationError("Your session is not valid; please log in again.")
    auth_session, user = row
    if auth_session.revoked or auth_session.expires_at <= utcnow():
        raise AuthenticationError("Your session has expired; please log in again.")
    if not user.active:
        raise AuthenticationError("This account is disabled; contact the study coordinator.")
    if user.must_change_password and not allow_password_change:
        raise AuthenticationError("Choose your own password before continuing.")
    return Actor(user.id, user.username, Role(user.role))


def change_password(db: StudyDatabase, token: str, old_password: str, new_password: str) -> None:
    """Replace the signed-in user's password (also how a one-time password is retired).

    A wrong ``old_password`` counts as a failed login (same back-off); while the account is
    paused the change is refused. A successful change ends the user's other sessions.

    Raises
    ------
    AuthenticationError
        If the session is invalid, ``old_password`` is wrong or the account is paused.
    StudyError
        If the new password breaks the policy (:func:`~bcl_core.study.passwords.
        check_new_password`) or equals the old one.
    """
    old = old_password if isinstance(old_password, str) else ""
    if len(old) > MAX_PASSWORD_LENGTH:
        raise AuthenticationError("The current password is wrong.")
    check_plain_text(new_password, "new password")

    def work(session: Session) -> str | None:
        actor = authenticate(session, token, allow_password_change=True)
        user = session.get(User, actor.user_id)
        assert user is not None
        now = utcnow()
        correct = _verify(db.password_hasher, user.password_hash, old)
        if _paused(user, now):
            seconds = max(1, int((user.locked_until - now).total_seconds()) + 1)  # type: ignore[operator]
            return (f"Too many wrong passwords in a row: wait {seconds} s and try again, or "
                    "ask the study coordinator.")
        if not correct:
            _count_failure(session, user, now, "change_password_failed")
            return "The current password is wrong."
        check_new_password(new_password, (user.username, user.external_identity or ""))
        if new_password == old:
            raise StudyError("The new password must differ from the old one.")
        user.password_hash = db.password_hasher.hash(new_password)
        user.must_change_password = False
        _reset_failures(user)
        others = session.scalars(select(AuthSession).where(
            AuthSession.user_id == user.id, AuthSession.token_sha256 != token_digest(token),
            AuthSession.revoked.is_(False)))
        for other in others:
            other.revoked = True
        session.add(AuditEvent(user_id=user.id, action="change_password"))
        return None

    # A wrong current password must be counted (committed), so it is returned, then raised.
    refusal = db.run(work, write=True)
    if refusal is not None:
        raise AuthenticationError(refusal)


def logout(db: StudyDatabase, token: str) -> None:
    """Revoke a session token (no error if it is already invalid)."""
    if not isinstance(token, str) or not token:
        return

    def work(session: Session) -> None:
        auth_session = session.scalar(
            select(AuthSession).where(AuthSession.token_sha256 == token_digest(token))
        )
        if auth_session is not None:
            auth_session.revoked = True

    db.run(work, write=True)

