"""Reference standard: two independent reference reads per case, adjudication of disagreements.

The final label of a case is the two readers' agreement, or the adjudicator's decision (with
who decided), or a label imported from CSV. A reference reader sees only its own reads; the
adjudicator sees both reads of the cases in its queue.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bcl_core.errors import ConflictError, InputError
from bcl_core.study.access import ServiceContext, service
from bcl_core.study.cases import (
    case_target,
    ensure_study_key,
    find_case_by_source,
    get_case,
    read_label_csv,
    series_dirs,
)
from bcl_core.study.constants import LEAK_TYPES, REFERENCE_READS_PER_CASE, REFERENCE_SERIES, Role
from bcl_core.study.models import Case, ReferenceLabel, ReferenceRead, User
from bcl_core.study.reading import check_assigned
from bcl_core.study.studies import get_study
from bcl_core.study.validation import check_calls, clean_text
from bcl_core.study.views import Disagreement, LabelInfo

__all__ = ["adjudicate", "adjudication_queue", "import_reference_labels", "reference_labels",
           "submit_reference_read"]

AGREEMENT = "agreement"
ADJUDICATED = "adjudicated"
IMPORTED = "imported"


def _calls(row: ReferenceRead | ReferenceLabel) -> dict[str, int]:
    return {t: int(getattr(row, t)) for t in LEAK_TYPES}


def _reads_by_case(session: Session, study_id: int) -> dict[int, list[ReferenceRead]]:
    grouped: dict[int, list[ReferenceRead]] = defaultdict(list)
    for read in session.scalars(select(ReferenceRead).where(ReferenceRead.study_id == study_id)
                                .order_by(ReferenceRead.id)):
        grouped[read.case_id].append(read)
    return grouped


@service(Role.REFERENCE_READER, write=True)
def submit_reference_read(ctx: ServiceContext, study_id: int, case_id: int,
                          calls: Mapping[str, int], comment: str = "") -> str:
    """Record the leakage types the caller observed on one case (final once submitted).

    Returns the case code.

    When the second reference read of the case arrives and agrees with the first, the case's
    reference label is set; when it disagrees, the case joins the adjudication queue.
    """
    answer = check_calls(calls)
    text = clean_text(comment, "comment")
    case = check_assigned(ctx, study_id, case_id)
    if ctx.session.scalar(select(ReferenceRead.id).where(
            ReferenceRead.case_id == case.id, ReferenceRead.reader_id == ctx.actor.user_id)):
        raise ConflictError(f"You have already recorded case {case.code}.")
    ctx.session.add(ReferenceRead(study_id=case.study_id, case_id=case.id,
                                  reader_id=ctx.actor.user_id, comment=text, **answer))
    try:
        ctx.session.flush()
    except IntegrityError as exc:
        raise ConflictError(f"Case {case.code} was just recorded already.") from exc
    reads = list(ctx.session.scalars(select(ReferenceRead).where(
        ReferenceRead.case_id == case.id).order_by(ReferenceRead.id)))
    has_label = ctx.session.scalar(
        select(ReferenceLabel.id).where(ReferenceLabel.case_id == case.id)) is not None
    if len(reads) == REFERENCE_READS_PER_CASE and not has_label:
        first, second = (_calls(r) for r in reads)
        if first == second:
            ctx.session.add(ReferenceLabel(study_id=case.study_id, case_id=case.id,
                                           source=AGREEMENT, **first))
    ctx.audit("submit_reference_read", f"case_id={case.id}")
    return case.code


def _queue(ctx: ServiceContext, study_id: int) -> list[tuple[Case, list[ReferenceRead]]]:
    study = get_study(ctx.session, study_id)
    labelled = set(ctx.session.scalars(select(ReferenceLabel.case_id).where(
        ReferenceLabel.study_id == study.id)))
    queue = []
    for case_id, reads in sorted(_reads_by_case(ctx.session, study.id).items()):
        first_two = reads[:REFERENCE_READS_PER_CASE]
        if (case_id not in labelled and len(first_two) == REFERENCE_READS_PER_CASE
                and _calls(first_two[0]) != _calls(first_two[1])):
            queue.append((get_case(ctx.session, study.id, case_id), first_two))
    return queue


@service(Role.ADJUDICATOR, Role.COORDINATOR)
def adjudication_queue(ctx: ServiceContext, study_id: int) -> list[Disagreement]:
    """Cases whose two reference reads disagree and that have no label yet, with both reads."""
    names = dict(ctx.session.execute(select(User.id, User.username)).all())
    return [
        Disagreement(case.id, case.code,
                     tuple((names[r.reader_id], _calls(r), r.comment) for r in reads),
                     series_dirs(ctx.db.root, case, REFERENCE_SERIES), case_target(case))
        for case, reads in _queue(ctx, study_id)
    ]


@service(Role.ADJUDICATOR, write=True)
def adjudicate(ctx: ServiceContext, study_id: int, case_id: int, calls: Mapping[str, int],
               note: str = "") -> LabelInfo:
    """Decide the reference label of a case in the adjudication queue.

    Raises
    ------
    ConflictError
        If the case is not waiting for adjudication (no disagreement, or already decided).
    """
    answer = check_calls(calls)
    text = clean_text(note, "note")
    waiting = {case.id: case for case, _ in _queue(ctx, study_id)}
    if int(case_id) not in waiting:
        raise ConflictError("This case is not waiting for adjudication.")
    case = waiting[int(case_id)]
    ctx.session.add(ReferenceLabel(study_id=case.study_id, case_id=case.id, source=ADJUDICATED,
                                   decided_by_id=ctx.actor.user_id, note=text, **answer))
    try:
        ctx.session.flush()
    except IntegrityError as exc:
        raise ConflictError(f"Case {case.code} was just decided already.") from exc
    ctx.audit("adjudicate", f"case_id={case.id}")
    return LabelInfo(case.code, answer, ADJUDICATED, ctx.actor.username, text)


@service(Role.COORDINATOR, Role.ADJUDICATOR)
def reference_labels(ctx: ServiceContext, study_id: int) -> list[LabelInfo]:
    """Every decided reference label of the study, with its source and who decided."""
    study = get_study(ctx.session, study_id)
    names = dict(ctx.session.execute(select(User.id, User.username)).all())
    rows = ctx.session.execute(
        select(ReferenceLabel, Case.code).join(Case, Case.id == ReferenceLabel.case_id)
        .where(ReferenceLabel.study_id == study.id).order_by(Case.code))
    return [LabelInfo(code, _calls(label), label.source,
                      names.get(label.decided_by_id) if label.decided_by_id else None, label.note)
            for label, code in rows]


@service(Role.COORDINATOR, write=True)
def import_reference_labels(ctx: ServiceContext, study_id: int, csv_path: str | Path) -> int:
    """Set reference labels from a CSV (``case_id,type1..type4``, e.g. ``bcl synth``'s labels.csv).

    ``case_id`` is the source folder name the case was imported from. Cases that already have a
    label keep it. Returns the number of labels set.

    Raises
    ------
    InputError
        If columns are missing, a value is not 0/1, or a case id is not in the study.
    """
    study = get_study(ctx.session, study_id)
    key = ensure_study_key(ctx.db)  # source ids are matched by keyed hash
    rows = read_label_csv(Path(csv_path), LEAK_TYPES)
    count = 0
    for line, row in enumerate(rows, start=2):
        case = find_case_by_source(ctx.session, study, row["case_id"], key)
        if case is None:
            raise InputError(f"Line {line}: case {row['case_id']!r} is not in this study.")
        try:
            calls = check_calls({t: int(row[t]) for t in LEAK_TYPES})
        except (ValueError, TypeError) as exc:
            raise InputError(f"Line {line}: each type must be 0 or 1.") from exc
        if ctx.session.scalar(select(ReferenceLabel.id).where(ReferenceLabel.case_id == case.id)):
            continue
        ctx.session.add(ReferenceLabel(study_id=study.id, case_id=case.id, source=IMPORTED,
                                       decided_by_id=ctx.actor.user_id, **calls))
        count += 1
    ctx.audit("import_reference_labels", f"study_id={study.id} labels={count}")
    return count


def label_for_cases(session: Session, study_id: int) -> dict[int, ReferenceLabel]:
    """Decided labels by case id (for exports)."""
    return {label.case_id: label for label in session.scalars(
        select(ReferenceLabel).where(ReferenceLabel.study_id == study_id))}


