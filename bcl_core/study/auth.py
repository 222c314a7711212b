"""Passwords, one-time passwords, lockout and login sessions.

Passwords are hashed with argon2id. A new account gets a one-time password and must choose its
own before doing anything else. Five failures in a row lock the account for 15 minutes. Login
sessions are random bearer tokens of which only the SHA-256 is stored; they expire.
"""

from __future__ import annotations

import hashlib
import logging
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bcl_core.errors import AuthenticationError, ConflictError, StudyError
from bcl_core.study.constants import LOCKOUT, MAX_FAILED_LOGINS, MIN_PASSWORD_LENGTH, Role
from bcl_core.study.db import StudyDatabase
from bcl_core.study.models import AuditEvent, AuthSession, User, utcnow
from bcl_core.study.views import Actor, LoginResult, NewUser

logger = logging.getLogger(__name__)

_LOGIN_FAILED = "Wrong username or password."
_USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")


def token_digest(token: str) -> str:
    """SHA-256 hex digest of a session token (what the database stores)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


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
    name = username.strip().lower()
    if not 3 <= len(name) <= 64 or not set(name) <= _USERNAME_CHARS:
        raise StudyError(
            "A username needs 3-64 characters: lower-case letters, digits, '.', '_' or '-'."
        )
    return name


def check_new_password(password: str) -> None:
    """Refuse passwords that are too short."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StudyError(f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.")


def normalise_identity(identity: str) -> str:
    """An OIDC identity (e-mail) as stored: stripped, lower-case, sanity-checked.

    Raises
    ------
    StudyError
        If it does not look like an e-mail address.
    """
    text = identity.strip().lower()
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
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def login(db: StudyDatabase, username: str, password: str) -> LoginResult:
    """Check a password and open a session.

    Raises
    ------
    AuthenticationError
        On a wrong username or password (one message for both), or a locked or disabled account.
    """
    name = username.strip().lower()

    def work(session: Session) -> LoginResult | str:
        user = session.scalar(select(User).where(User.username == name))
        now = utcnow()
        if user is None:
            # Spend the same time as a real check, so timing does not reveal usernames.
            _verify(db.password_hasher, _dummy_hash(db.password_hasher), password)
            return _LOGIN_FAILED
        if not user.active:
            return "This account is disabled; contact the study coordinator."
        if user.locked_until is not None and user.locked_until > now:
            minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
            return (f"Too many failed logins: the account is locked for {minutes} more "
                    "minute(s), or until a coordinator unlocks it.")
        if not _verify(db.password_hasher, user.password_hash, password):
            user.failed_logins += 1
            if user.failed_logins >= MAX_FAILED_LOGINS:
                user.locked_until = now + LOCKOUT
                user.failed_logins = 0
                session.add(AuditEvent(user_id=user.id, action="lockout"))
            session.add(AuditEvent(user_id=user.id, action="login_failed"))
            return _LOGIN_FAILED
        user.failed_logins = 0
        user.locked_until = None
        if db.password_hasher.check_needs_rehash(user.password_hash):
            user.password_hash = db.password_hasher.hash(password)
        return _open_session(session, db, user, "login")

    # The failure count must be committed, so failures are returned, then raised.
    outcome = db.run(work, write=True)
    if isinstance(outcome, str):
        raise AuthenticationError(outcome)
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
        if user.locked_until is not None and user.locked_until > utcnow():
            return "The account is locked; ask the study coordinator."
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

    Raises
    ------
    AuthenticationError
        If the session is invalid or ``old_password`` is wrong.
    StudyError
        If the new password is too short or equals the old one.
    """
    check_new_password(new_password)
    if new_password == old_password:
        raise StudyError("The new password must differ from the old one.")

    def work(session: Session) -> None:
        actor = authenticate(session, token, allow_password_change=True)
        user = session.get(User, actor.user_id)
        assert user is not None
        if not _verify(db.password_hasher, user.password_hash, old_password):
            raise AuthenticationError("The current password is wrong.")
        user.password_hash = db.password_hasher.hash(new_password)
        user.must_change_password = False
        session.add(AuditEvent(user_id=user.id, action="change_password"))

    db.run(work, write=True)


def logout(db: StudyDatabase, token: str) -> None:
    """Revoke a session token (no error if it is already invalid)."""

    def work(session: Session) -> None:
        auth_session = session.scalar(
            select(AuthSession).where(AuthSession.token_sha256 == token_digest(token))
        )
        if auth_session is not None:
            auth_session.revoked = True

    db.run(work, write=True)

