"""Blinded prediction reads: next case, submit (locked), progress, audited amendment.

A prediction reader sees only its own assignment and its own reads: nothing here returns model
outputs, reference labels or another reader's answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bcl_core.errors import ConflictError, NotFoundError, StudyError
from bcl_core.study.access import ServiceContext, service
from bcl_core.study.cases import case_target, get_case, series_dirs
from bcl_core.study.constants import LEAK_TYPES, READER_SERIES, REFERENCE_SERIES, Role
from bcl_core.study.models import Case, Read, ReadAmendment, ReferenceRead, User, utcnow
from bcl_core.study.studies import case_order, count_done, get_assignment
from bcl_core.study.validation import (
    check_calls,
    check_confidences,
    check_started_at,
    check_time_spent,
    clean_text,
)
from bcl_core.study.views import CaseToRead, Progress, ReadAnswer

__all__ = ["allow_amendment", "my_progress", "my_reads", "next_case", "reader_reads",
           "submit_read"]

_NUMBER = {t: str(n) for n, t in enumerate(LEAK_TYPES, start=1)}


def _answer(read: Read, code: str) -> ReadAnswer:
    return ReadAnswer(
        read_id=read.id, case_code=code,
        calls={t: getattr(read, t) for t in LEAK_TYPES},
        confidences={t: getattr(read, f"confidence{_NUMBER[t]}") for t in LEAK_TYPES},
        comment=read.comment, time_spent_s=read.time_spent_s,
        submitted_at=read.submitted_at, locked=read.locked)


def _answer_json(read: Read) -> str:
    answer = _answer(read, "")
    return json.dumps({"calls": answer.calls, "confidences": answer.confidences,
                       "comment": answer.comment, "time_spent_s": answer.time_spent_s})


@service(Role.READER, Role.REFERENCE_READER)
def next_case(ctx: ServiceContext, study_id: int) -> CaseToRead | None:
    """The caller's next case in its stored order (``None`` when all are done).

    A prediction reader gets the preoperative CT and MRI only; a reference reader also the
    postoperative series where the study has them. A read unlocked for amendment comes first.
    """
    assignment = get_assignment(ctx.session, study_id, ctx.actor.user_id)
    order = case_order(assignment)
    if ctx.actor.role is Role.READER:
        reads = {r.case_id: r for r in ctx.session.scalars(select(Read).where(
            Read.study_id == assignment.study_id, Read.reader_id == ctx.actor.user_id))}
        pending = [c for c in order if c in reads and not reads[c].locked]
        pending += [c for c in order if c not in reads]
        allowed = READER_SERIES
    else:
        done = set(ctx.session.scalars(select(ReferenceRead.case_id).where(
            ReferenceRead.study_id == assignment.study_id,
            ReferenceRead.reader_id == ctx.actor.user_id)))
        reads = {}
        pending = [c for c in order if c not in done]
        allowed = REFERENCE_SERIES
    if not pending:
        return None
    case = ctx.session.get(Case, pending[0])
    assert case is not None
    return CaseToRead(study_id=assignment.study_id, case_id=case.id, code=case.code,
                      position=order.index(case.id) + 1, total=len(order),
                      series_dirs=series_dirs(ctx.db.root, case, allowed),
                      amendment=case.id in reads, target=case_target(case))


@service(Role.READER, Role.REFERENCE_READER)
def my_progress(ctx: ServiceContext, study_id: int) -> Progress:
    """How many of the caller's assigned cases are done."""
    assignment = get_assignment(ctx.session, study_id, ctx.actor.user_id)
    return Progress(ctx.actor.username, ctx.actor.role,
                    count_done(ctx.session, assignment.study_id, ctx.actor.user_id,
                               ctx.actor.role),
                    len(case_order(assignment)))


def check_assigned(ctx: ServiceContext, study_id: int, case_id: int) -> Case:
    """The case, if it is in the caller's assignment; otherwise :class:`NotFoundError`."""
    assignment = get_assignment(ctx.session, study_id, ctx.actor.user_id)
    if int(case_id) not in case_order(assignment):
        raise NotFoundError("This case is not assigned to you.")
    return get_case(ctx.session, study_id, case_id)


@service(Role.READER, write=True)
def submit_read(
    ctx: ServiceContext,
    study_id: int,
    case_id: int,
    calls: Mapping[str, int],
    confidences: Mapping[str, int | None] | None = None,
    time_spent_s: float = 0.0,
    comment: str = "",
    started_at: datetime | None = None,
) -> ReadAnswer:
    """Submit the caller's prediction on one case; the answer is locked at once.

    Parameters
    ----------
    calls:
        ``{"type1": 0|1, ..., "type4": 0|1}``; every type is required.
    confidences:
        Optional 0-100 confidence in each call.
    time_spent_s:
        Seconds the reader spent on the case.
    started_at:
        When the case was opened, timezone-aware (default: submission time minus
        ``time_spent_s``); at most a day before submission and not after it.

    Raises
    ------
    ConflictError
        If the case was already answered and is locked (a coordinator may allow an amendment).
    StudyError
        If an answer is missing or out of range, or the start time is impossible.
    """
    answer_calls = check_calls(calls)
    answer_confidences = check_confidences(confidences)
    spent = check_time_spent(time_spent_s)
    text = clean_text(comment, "comment")
    case = check_assigned(ctx, study_id, case_id)
    now = utcnow()
    started = check_started_at(started_at, spent, now)
    read = ctx.session.scalar(select(Read).where(
        Read.case_id == case.id, Read.reader_id == ctx.actor.user_id))
    if read is not None and read.locked:
        raise ConflictError(f"Case {case.code} is answered and locked; ask the coordinator "
                            "to allow an amendment if it must change.")
    amendment = None
    if read is None:
        read = Read(study_id=case.study_id, case_id=case.id, reader_id=ctx.actor.user_id,
                    amendments=0)
        ctx.session.add(read)
    else:
        amendment = ctx.session.scalar(select(ReadAmendment).where(
            ReadAmendment.read_id == read.id, ReadAmendment.new_answer.is_(None)))
        read.amendments += 1
    for leak_type in LEAK_TYPES:
        setattr(read, leak_type, answer_calls[leak_type])
        setattr(read, f"confidence{_NUMBER[leak_type]}", answer_confidences[leak_type])
    read.comment = text
    read.time_spent_s = spent
    read.started_at = started
    read.submitted_at = now
    read.locked = True
    try:
        ctx.session.flush()
    except IntegrityError as exc:  # a second submission raced this one
        raise ConflictError(f"Case {case.code} was just submitted already.") from exc
    if amendment is not None:
        amendment.new_answer = _answer_json(read)
        amendment.amended_at = now
    ctx.audit("submit_read" if amendment is None else "amend_read",
              f"read_id={read.id} case_id={case.id}")
    return _answer(read, case.code)


@service(Role.READER)
def my_reads(ctx: ServiceContext, study_id: int) -> list[ReadAnswer]:
    """The caller's own submitted reads, in reading order."""
    assignment = get_assignment(ctx.session, study_id, ctx.actor.user_id)
    rows = ctx.session.execute(select(Read, Case.code).join(Case, Case.id == Read.case_id).where(
        Read.study_id == assignment.study_id, Read.reader_id == ctx.actor.user_id))
    position = {case_id: n for n, case_id in enumerate(case_order(assignment))}
    answers = sorted(rows, key=lambda row: position.get(row[0].case_id, 0))
    return [_answer(read, code) for read, code in answers]


@service(Role.COORDINATOR)
def reader_reads(ctx: ServiceContext, study_id: int, username: str) -> list[ReadAnswer]:
    """A reader's submitted reads (for the coordinator, e.g. to allow an amendment)."""
    user = ctx.session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise NotFoundError(f"No account named {username!r}.")
    rows = ctx.session.execute(select(Read, Case.code).join(Case, Case.id == Read.case_id).where(
        Read.study_id == int(study_id), Read.reader_id == user.id).order_by(Case.code))
    return [_answer(read, code) for read, code in rows]


@service(Role.COORDINATOR, write=True)
def allow_amendment(ctx: ServiceContext, read_id: int, reason: str) -> int:
    """Unlock one read so its reader can answer it again; the old answer and reason are kept.

    Returns the read id.

    Raises
    ------
    StudyError
        If no reason is given.
    ConflictError
        If the read is already unlocked.
    """
    why = clean_text(reason, "reason")
    if not why:
        raise StudyError("Give the reason for the amendment; it is kept in the audit trail.")
    read = ctx.session.get(Read, int(read_id))
    if read is None:
        raise NotFoundError(f"No read with id {read_id}.")
    if not read.locked:
        raise ConflictError("This read is already open for amendment.")
    read.locked = False
    ctx.session.add(ReadAmendment(read_id=read.id, allowed_by_id=ctx.actor.user_id, reason=why,
                                  previous_answer=_answer_json(read)))
    ctx.audit("allow_amendment", f"read_id={read.id}")
    return read.id
