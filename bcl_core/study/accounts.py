"""Accounts, managed by the coordinator."""

from __future__ import annotations

from sqlalchemy import select

from bcl_core.errors import NotFoundError, StudyError
from bcl_core.study.access import ServiceContext, service
from bcl_core.study.auth import check_username, create_account, new_one_time_password
from bcl_core.study.constants import Role
from bcl_core.study.models import AuthSession, User, utcnow
from bcl_core.study.views import NewUser, UserInfo

__all__ = ["create_user", "list_users", "reset_password", "set_active"]


def _user(ctx: ServiceContext, username: str) -> User:
    user = ctx.session.scalar(select(User).where(User.username == check_username(username)))
    if user is None:
        raise NotFoundError(f"No account named {username.strip().lower()!r}.")
    return user


@service(Role.COORDINATOR, write=True)
def create_user(ctx: ServiceContext, username: str, role: Role | str,
                external_identity: str | None = None) -> NewUser:
    """Create an account with a one-time password (show it once to the new user).

    With ``external_identity`` (the e-mail at the organisation's OIDC provider) the account
    signs in through the organisation login instead and gets no usable password.

    Raises
    ------
    ConflictError
        If the username is taken.
    StudyError
        If the username or role is not valid.
    """
    try:
        role = Role(role)
    except ValueError:
        raise StudyError(
            f"Unknown role {role!r}; use one of: " + ", ".join(r.value for r in Role) + "."
        ) from None
    return create_account(ctx.session, ctx.db.password_hasher, username, role, ctx.actor.user_id,
                          external_identity)


@service(Role.COORDINATOR)
def list_users(ctx: ServiceContext) -> list[UserInfo]:
    """Every account, by username."""
    now = utcnow()
    return [
        UserInfo(u.id, u.username, Role(u.role), u.active,
                 u.locked_until is not None and u.locked_until > now, u.must_change_password,
                 u.external_identity)
        for u in ctx.session.scalars(select(User).order_by(User.username))
    ]


@service(Role.COORDINATOR, write=True)
def reset_password(ctx: ServiceContext, username: str) -> NewUser:
    """Give an account a new one-time password, unlock it and end its sessions."""
    user = _user(ctx, username)
    password = new_one_time_password()
    user.password_hash = ctx.db.password_hasher.hash(password)
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None
    sessions = select(AuthSession).where(AuthSession.user_id == user.id)
    for auth_session in ctx.session.scalars(sessions):
        auth_session.revoked = True
    ctx.audit("reset_password", f"user_id={user.id}")
    return NewUser(user.id, user.username, Role(user.role), password)


@service(Role.COORDINATOR, write=True)
def set_active(ctx: ServiceContext, username: str, active: bool) -> None:
    """Disable (or re-enable) an account; a disabled account cannot log in or act."""
    user = _user(ctx, username)
    if user.id == ctx.actor.user_id and not active:
        raise StudyError("You cannot disable your own account.")
    user.active = bool(active)
    ctx.audit("set_active", f"user_id={user.id} active={user.active}")
