"""Role checks, enforced in the service layer.

Every service function is declared with :func:`service`, naming the roles allowed to call it.
The wrapper resolves the caller's session token, refuses any other role with
:class:`~bcl_core.errors.PermissionDeniedError` before the function body runs, and runs the body
in one transaction. The public signature is ``fn(db, token, *args)``; the body receives a
:class:`ServiceContext` and ``*args``, each checked against its annotation first
(:func:`~bcl_core.study.validation.check_argument`: ids, text, datetimes...). :data:`SERVICE_REGISTRY` lists every service function
with its roles, so the tests can try each one with every other role.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy.orm import Session

from bcl_core.errors import PermissionDeniedError
from bcl_core.study.auth import authenticate
from bcl_core.study.constants import Role
from bcl_core.study.db import StudyDatabase
from bcl_core.study.models import AuditEvent
from bcl_core.study.validation import check_argument
from bcl_core.study.views import Actor

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class ServiceSpec:
    """A registered service function and the roles allowed to call it."""

    name: str
    function: Callable[..., Any]
    roles: frozenset[Role]
    write: bool


SERVICE_REGISTRY: dict[str, ServiceSpec] = {}


@dataclass(frozen=True)
class ServiceContext:
    """What a service body works with: the database, the caller and (usually) a transaction."""

    db: StudyDatabase
    actor: Actor
    session_or_none: Session | None

    @property
    def session(self) -> Session:
        """The open transaction (not available to services that run their own transactions)."""
        if self.session_or_none is None:
            raise RuntimeError("this service runs its own transactions: use ctx.db.run")
        return self.session_or_none

    def audit(self, action: str, detail: str = "") -> None:
        """Record an audited action (never passwords, tokens or patient data in ``detail``)."""
        self.session.add(AuditEvent(user_id=self.actor.user_id, action=action, detail=detail))


def _refuse(actor: Actor, name: str, allowed: frozenset[Role]) -> PermissionDeniedError:
    needed = " or ".join(sorted(r.value.replace("_", " ") for r in allowed))
    return PermissionDeniedError(
        f"A {actor.role.value.replace('_', ' ')} may not {name.replace('_', ' ')}; "
        f"this needs the role {needed}."
    )


def _argument_checker(
    body: Callable[..., Any],
) -> Callable[[tuple[Any, ...], dict[str, Any]], None]:
    """A check of the arguments a caller passes to ``body``, by ``body``'s annotations.

    Missing or surplus arguments are left to Python's own call (a programming error, not user
    input); every argument given is checked with :func:`check_argument`.
    """
    signature = inspect.signature(body)
    hints: dict[str, Any] = {}

    def check_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if not hints:  # resolved on first use: annotations may name types defined later
            hints.update(typing.get_type_hints(body))
        try:
            bound = signature.bind_partial(None, *args, **kwargs)
        except TypeError:
            return
        for name, value in list(bound.arguments.items())[1:]:
            if name in hints:
                check_argument(name, hints[name], value)

    return check_arguments


def service(
    *roles: Role, write: bool = False, own_transactions: bool = False
) -> Callable[
    [Callable[Concatenate[ServiceContext, P], R]],
    Callable[Concatenate[StudyDatabase, str, P], R],
]:
    """Declare a service function callable by ``roles`` only.

    Parameters
    ----------
    roles:
        Roles allowed to call it.
    write:
        Whether the body writes (a write transaction, retried on lock contention).
    own_transactions:
        The caller is checked in a short read transaction, then the body runs without one and
        opens its own through ``ctx.db.run`` (for long file work such as case import, which must
        not hold the write lock).
    """
    allowed = frozenset(roles)

    def decorate(
        body: Callable[Concatenate[ServiceContext, P], R],
    ) -> Callable[Concatenate[StudyDatabase, str, P], R]:
        name = body.__name__

        check_arguments = _argument_checker(body)

        def check(session: Session, token: str) -> Actor:
            actor = authenticate(session, token)
            if actor.role not in allowed:
                raise _refuse(actor, name, allowed)
            return actor

        @functools.wraps(body)
        def wrapper(db: StudyDatabase, token: str, /, *args: P.args, **kwargs: P.kwargs) -> R:
            if own_transactions:
                actor = db.run(lambda session: check(session, token), write=False)
                check_arguments(args, kwargs)
                return body(ServiceContext(db, actor, None), *args, **kwargs)

            def work(session: Session) -> R:
                actor = check(session, token)
                check_arguments(args, kwargs)
                return body(ServiceContext(db, actor, session), *args, **kwargs)

            return db.run(work, write=write)

        qualified = f"{body.__module__}.{name}"
        SERVICE_REGISTRY[qualified] = ServiceSpec(qualified, wrapper, allowed, write)
        return wrapper

    return decorate
