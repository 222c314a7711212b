"""Exports: a long CSV (one row per read and type) and iMRMC input files.

Reader scores for ROC analysis: a reader gives a 0/1 call and an optional 0-100 confidence in
that call. The score on a 0-100 "leakage" scale is ``50 + confidence/2`` for a "yes" call and
``50 - confidence/2`` for a "no" (a call without confidence counts as fully confident), so the
score orders cases from surest "no" to surest "yes".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from sqlalchemy import select

from bcl_core.errors import StudyError
from bcl_core.study.access import ServiceContext, service
from bcl_core.study.constants import LEAK_TYPES, Role
from bcl_core.study.models import Case, ModelPrediction, Read, User
from bcl_core.study.predictions import prediction_probs
from bcl_core.study.reference import label_for_cases
from bcl_core.study.studies import get_study

__all__ = ["imrmc_input", "long_csv"]

LONG_COLUMNS = (
    "study", "reader", "case", "leak_type", "call", "confidence", "score", "time_spent_s",
    "started_at", "submitted_at", "amendments", "reference", "reference_source",
    "model_version", "model_probability",
)
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def reader_score(call: int, confidence: int | None) -> float:
    """Leakage score 0-100 from a call and the reader's confidence in it.

    Examples
    --------
    >>> reader_score(1, 80), reader_score(0, 80), reader_score(1, None)
    (90.0, 10.0, 100.0)
    """
    sure = 100 if confidence is None else confidence
    return 50 + sure / 2 if call else 50 - sure / 2


def spreadsheet_safe(value: object) -> object:
    """Neutralise text a spreadsheet would run as a formula (CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


def _write_csv(columns: Sequence[str], rows: list[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([[spreadsheet_safe(v) for v in row] for row in rows])
    return buffer.getvalue()


def reader_code(user_id: int) -> str:
    """Pseudonymous reader code used in exports."""
    return f"R{user_id:03d}"


@service(Role.COORDINATOR)
def long_csv(ctx: ServiceContext, study_id: int) -> str:
    """Every prediction read in long format: one row per read and leakage type."""
    study = get_study(ctx.session, study_id)
    labels = label_for_cases(ctx.session, study.id)
    latest = {}
    for prediction in ctx.session.scalars(select(ModelPrediction).where(
            ModelPrediction.study_id == study.id).order_by(ModelPrediction.created_at)):
        latest[prediction.case_id] = prediction
    rows: list[Sequence[object]] = []
    reads = ctx.session.execute(
        select(Read, Case.code).join(Case, Case.id == Read.case_id).join(
            User, User.id == Read.reader_id)
        .where(Read.study_id == study.id, Read.locked.is_(True))
        .order_by(Read.reader_id, Case.code))
    for read, code in reads:
        label = labels.get(read.case_id)
        prediction = latest.get(read.case_id)
        for n, leak_type in enumerate(LEAK_TYPES, 1):
            call = getattr(read, leak_type)
            confidence = getattr(read, f"confidence{n}")
            rows.append([
                study.name, reader_code(read.reader_id), code, leak_type, call,
                "" if confidence is None else confidence, reader_score(call, confidence),
                round(read.time_spent_s, 3), read.started_at.isoformat(),
                read.submitted_at.isoformat(), read.amendments,
                "" if label is None else getattr(label, leak_type),
                "" if label is None else label.source,
                "" if prediction is None else prediction.model_version,
                "" if prediction is None else prediction_probs(prediction)[leak_type],
            ])
    return _write_csv(LONG_COLUMNS, rows)


@service(Role.COORDINATOR)
def imrmc_input(ctx: ServiceContext, study_id: int, leak_type: str) -> str:
    """An iMRMC input file (``.imrmc``) for one leakage type: the readers as one modality.

    Layout (iMRMC's documented input format): free description lines, ``N0``/``N1``/``NR``/
    ``NM`` counts, ``BEGIN DATA:``, then ``readerID,caseID,modalityID,score`` rows; truth rows
    have reader ``-1`` and modality ``0``. Only cases with a reference label and reads are
    included; case and reader ids are integers.

    Raises
    ------
    StudyError
        If ``leak_type`` is unknown or no labelled case has been read.
    """
    if leak_type not in LEAK_TYPES:
        raise StudyError(f"Unknown leakage type {leak_type!r}; use one of {', '.join(LEAK_TYPES)}.")
    study = get_study(ctx.session, study_id)
    number = LEAK_TYPES.index(leak_type) + 1
    labels = label_for_cases(ctx.session, study.id)
    reads = [r for r in ctx.session.scalars(select(Read).where(
        Read.study_id == study.id, Read.locked.is_(True)).order_by(Read.reader_id, Read.case_id))
        if r.case_id in labels]
    if not reads:
        raise StudyError("No read case has a reference label yet; nothing to export.")
    case_ids = sorted({r.case_id for r in reads})
    truth = {c: int(getattr(labels[c], leak_type)) for c in case_ids}
    lines = [
        f"BCL Predict reader study {study.id}, leakage {leak_type}; "
        "scores 0-100 (50 +/- confidence/2).",
        f"N0: {sum(1 for v in truth.values() if v == 0)}",
        f"N1: {sum(1 for v in truth.values() if v == 1)}",
        f"NR: {len({r.reader_id for r in reads})}",
        "NM: 1",
        "",
        "BEGIN DATA:",
    ]
    lines += [f"-1,{case_id},0,{truth[case_id]}" for case_id in case_ids]
    lines += [f"{r.reader_id},{r.case_id},1,"
              f"{reader_score(getattr(r, leak_type), getattr(r, f'confidence{number}')):g}"
              for r in reads]
    return "\n".join(lines) + "\n"
