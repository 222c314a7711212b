"""Studies, reader assignments with their stored random case order, and progress."""

from __future__ import annotations

import json
import random
import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bcl_core.errors import ConflictError, NotFoundError, StudyError
from bcl_core.study.access import ServiceContext, service
from bcl_core.study.auth import check_username
from bcl_core.study.constants import ALL_ROLES, MAX_SEED, Role
from bcl_core.study.models import Assignment, Case, Read, ReferenceRead, Study, User
from bcl_core.study.validation import clean_text
from bcl_core.study.views import Progress, StudyInfo

__all__ = ["assign_reader", "create_study", "list_studies", "study_progress"]

#: Roles that read cases from an assignment.
READING_ROLES = (Role.READER, Role.REFERENCE_READER)


def get_study(session: Session, study_id: int) -> Study:
    """The study with this id, or :class:`NotFoundError`."""
    study = session.get(Study, int(study_id))
    if study is None:
        raise NotFoundError(f"No study with id {study_id}; list the studies to pick one.")
    return study


def get_assignment(session: Session, study_id: int, user_id: int) -> Assignment:
    """A reader's assignment in a study, or :class:`NotFoundError`."""
    assignment = session.scalar(
        select(Assignment).where(Assignment.study_id == study_id, Assignment.user_id == user_id)
    )
    if assignment is None:
        raise NotFoundError("You have no cases in this study; ask the study coordinator.")
    return assignment


def case_order(assignment: Assignment) -> list[int]:
    """The stored reading order (case ids) of an assignment."""
    return [int(case_id) for case_id in json.loads(assignment.case_order)]


def assignment_seed(order_seed: int, user_id: int) -> int:
    """A reader's own order seed, from the study's seed and the reader's id.

    Kept within :data:`MAX_SEED` so that it fits the INTEGER column on PostgreSQL (32-bit);
    below that it is ``order_seed * 100003 + user_id`` as before, so stored orders stay valid.
    """
    return (order_seed * 100_003 + user_id) % (MAX_SEED + 1)


def shuffled(case_ids: list[int], seed: int) -> list[int]:
    """``case_ids`` in a random order fixed by ``seed`` (the same seed, the same order)."""
    order = sorted(case_ids)
    random.Random(seed).shuffle(order)
    return order


@service(Role.COORDINATOR, write=True)
def create_study(ctx: ServiceContext, name: str, description: str = "",
                 order_seed: int | None = None) -> StudyInfo:
    """Create a study. ``order_seed`` fixes every reader's random case order (random if None)."""
    title = clean_text(name, "study name", 200)
    if not title:
        raise StudyError("Give the study a name.")
    if ctx.session.scalar(select(Study.id).where(Study.name == title)) is not None:
        raise ConflictError(f"A study named {title!r} exists already.")
    seed = secrets.randbelow(2**31) if order_seed is None else int(order_seed)
    study = Study(name=title, description=clean_text(description, "description"),
                  order_seed=seed, salt=secrets.token_hex(16))
    ctx.session.add(study)
    ctx.session.flush()
    ctx.audit("create_study", f"study_id={study.id}")
    return StudyInfo(study.id, study.name, study.description, 0)


@service(*ALL_ROLES)
def list_studies(ctx: ServiceContext) -> list[StudyInfo]:
    """Studies the caller takes part in (a coordinator or adjudicator sees all)."""
    query = select(Study).order_by(Study.id)
    if ctx.actor.role in READING_ROLES:
        query = query.join(Assignment, Assignment.study_id == Study.id).where(
            Assignment.user_id == ctx.actor.user_id)
    counts = dict(ctx.session.execute(
        select(Case.study_id, func.count(Case.id)).group_by(Case.study_id)).all())
    return [StudyInfo(s.id, s.name, s.description, int(counts.get(s.id, 0)))
            for s in ctx.session.scalars(query)]


@service(Role.COORDINATOR, write=True)
def assign_reader(ctx: ServiceContext, study_id: int, username: str) -> int:
    """Assign every case of the study to a reader or reference reader, in a seeded random order.

    The order is stored. Assigning again adds cases imported since, shuffled, at the end.
    Returns the number of cases assigned.
    """
    study = get_study(ctx.session, study_id)
    user = ctx.session.scalar(select(User).where(User.username == check_username(username)))
    if user is None:
        raise NotFoundError(f"No account named {username!r}.")
    if Role(user.role) not in READING_ROLES:
        raise StudyError(f"{user.username} is a {user.role}; only readers and reference "
                         "readers get case assignments.")
    case_ids = list(ctx.session.scalars(select(Case.id).where(Case.study_id == study.id)))
    if not case_ids:
        raise StudyError("The study has no cases yet; import cases first.")
    seed = assignment_seed(study.order_seed, user.id)
    assignment = ctx.session.scalar(select(Assignment).where(
        Assignment.study_id == study.id, Assignment.user_id == user.id))
    if assignment is None:
        assignment = Assignment(study_id=study.id, user_id=user.id, seed=seed,
                                case_order=json.dumps(shuffled(case_ids, seed)))
        ctx.session.add(assignment)
    else:
        order = case_order(assignment)
        new = [c for c in case_ids if c not in set(order)]
        assignment.case_order = json.dumps(order + shuffled(new, seed + len(order)))
    ctx.audit("assign", f"study_id={study.id} user_id={user.id}")
    return len(json.loads(assignment.case_order))


def count_done(session: Session, study_id: int, user_id: int, role: Role) -> int:
    """Cases a reader has finished (locked reads) or a reference reader has read."""
    if role is Role.READER:
        query = select(func.count(Read.id)).where(
            Read.study_id == study_id, Read.reader_id == user_id, Read.locked.is_(True))
    else:
        query = select(func.count(ReferenceRead.id)).where(
            ReferenceRead.study_id == study_id, ReferenceRead.reader_id == user_id)
    return int(session.scalar(query) or 0)


@service(Role.COORDINATOR)
def study_progress(ctx: ServiceContext, study_id: int) -> list[Progress]:
    """Cases done / assigned, per assigned reader."""
    study = get_study(ctx.session, study_id)
    rows = ctx.session.execute(
        select(Assignment, User).join(User, User.id == Assignment.user_id)
        .where(Assignment.study_id == study.id).order_by(User.username))
    return [
        Progress(user.username, Role(user.role),
                 count_done(ctx.session, study.id, user.id, Role(user.role)),
                 len(case_order(assignment)))
        for assignment, user in rows
    ]
