"""Exports: reads in long format, reference labels, model predictions, iMRMC input files.

The three CSVs are the evaluation page's inputs (``reads.csv``, ``labels.csv``,
``predictions.csv``, joined on ``case_id``, here the study's case code).

A reader gives, per type, a 0/1 call and optionally a confidence: the reader's probability
(0-100) that this type of leakage occurs, the same meaning the evaluation module gives it.
Where no confidence was given, the call itself serves as the score (0 or 100), and the
``confidence_given`` column says so.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from bcl_core.errors import StudyError
from bcl_core.io.csv_safe import csv_text
from bcl_core.study.access import ServiceContext, service
from bcl_core.study.constants import LEAK_TYPES, Role
from bcl_core.study.models import Case, ModelPrediction, Read, User
from bcl_core.study.predictions import prediction_probs
from bcl_core.study.reference import label_for_cases
from bcl_core.study.studies import get_study

__all__ = ["imrmc_input", "labels_csv", "long_csv", "predictions_csv"]

LONG_COLUMNS = (
    "reader_id", "case_id", "type", "call", "confidence", "confidence_given", "time_spent_s",
    "started_at", "submitted_at", "amendments", "study", "reference", "reference_source",
    "model_version", "model_probability",
)


def reader_score(call: int, confidence: int | None) -> float:
    """Leakage score 0-100: the confidence where given, else the call (0 or 100).

    Examples
    --------
    >>> reader_score(1, 80), reader_score(0, 30), reader_score(1, None), reader_score(0, None)
    (80.0, 30.0, 100.0, 0.0)
    """
    return float(100 * call if confidence is None else confidence)


def _case_codes(session: Session, study_id: int) -> dict[int, str]:
    """Study case code (``C0001``) by database case id: the one case id every export uses."""
    return dict(session.execute(select(Case.id, Case.code).where(
        Case.study_id == study_id)).all())


def reader_code(user_id: int) -> str:
    """Pseudonymous reader code used in exports."""
    return f"R{user_id:03d}"


@service(Role.COORDINATOR)
def long_csv(ctx: ServiceContext, study_id: int) -> str:
    """Every submitted prediction read in long format (``reads.csv``): one row per read and type."""
    study = get_study(ctx.session, study_id)
    labels = label_for_cases(ctx.session, study.id)
    # The latest prediction per case: the query runs oldest first, so later ones replace.
    stored = ctx.session.scalars(select(ModelPrediction).where(
        ModelPrediction.study_id == study.id).order_by(ModelPrediction.created_at))
    latest = {prediction.case_id: prediction for prediction in stored}
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
                reader_code(read.reader_id), code, leak_type, call,
                reader_score(call, confidence), int(confidence is not None),
                round(read.time_spent_s, 3), read.started_at.isoformat(),
                read.submitted_at.isoformat(), read.amendments, study.name,
                "" if label is None else getattr(label, leak_type),
                "" if label is None else label.source,
                "" if prediction is None else prediction.model_version,
                "" if prediction is None else prediction_probs(prediction)[leak_type],
            ])
    return csv_text(LONG_COLUMNS, rows)


@service(Role.COORDINATOR)
def imrmc_input(ctx: ServiceContext, study_id: int, leak_type: str) -> str:
    """An iMRMC input file (``.imrmc``) for one leakage type: the readers as one modality.

    Layout (iMRMC's documented input format): free description lines, ``N0``/``N1``/``NR``/
    ``NM`` counts, ``BEGIN DATA:``, then ``readerID,caseID,modalityID,score`` rows; truth rows
    have reader ``-1`` and modality ``0``. Only cases with a reference label and reads are
    included. Readers and cases carry the same codes as ``reads.csv`` and ``labels.csv``
    (``R002``, ``C0001``), so the files join; iMRMC reads its ids as text.

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
    codes = _case_codes(ctx.session, study.id)
    case_ids = sorted({r.case_id for r in reads}, key=codes.__getitem__)
    truth = {c: int(getattr(labels[c], leak_type)) for c in case_ids}
    lines = [
        f"BCL Predict reader study {study.id}, leakage {leak_type}; "
        "scores: reader confidence 0-100 (the call x 100 where none was given).",
        f"N0: {sum(1 for v in truth.values() if v == 0)}",
        f"N1: {sum(1 for v in truth.values() if v == 1)}",
        f"NR: {len({r.reader_id for r in reads})}",
        "NM: 1",
        "",
        "BEGIN DATA:",
    ]
    lines += [f"-1,{codes[case_id]},0,{truth[case_id]}" for case_id in case_ids]
    lines += [f"{reader_code(r.reader_id)},{codes[r.case_id]},1,"
              f"{reader_score(getattr(r, leak_type), getattr(r, f'confidence{number}')):g}"
              for r in reads]
    return "\n".join(lines) + "\n"


@service(Role.COORDINATOR)
def labels_csv(ctx: ServiceContext, study_id: int) -> str:
    """Decided reference labels (``labels.csv``: ``case_id,type1..type4,source,decided_by``)."""
    study = get_study(ctx.session, study_id)
    labels = label_for_cases(ctx.session, study.id)
    codes = _case_codes(ctx.session, study.id)
    rows: list[Sequence[object]] = [
        [codes[case_id], *(getattr(label, t) for t in LEAK_TYPES), label.source,
         "" if label.decided_by_id is None else reader_code(label.decided_by_id)]
        for case_id, label in sorted(labels.items(), key=lambda item: codes[item[0]])]
    return csv_text(("case_id", *LEAK_TYPES, "source", "decided_by"), rows)


@service(Role.COORDINATOR)
def predictions_csv(ctx: ServiceContext, study_id: int, model_version: str) -> str:
    """One model version's stored predictions (``predictions.csv`` as predict-batch writes it)."""
    study = get_study(ctx.session, study_id)
    found = ctx.session.execute(
        select(ModelPrediction, Case.code).join(Case, Case.id == ModelPrediction.case_id)
        .where(ModelPrediction.study_id == study.id,
               ModelPrediction.model_version == model_version).order_by(Case.code)).all()
    if not found:
        raise StudyError(f"No predictions of model version {model_version!r} in this study.")
    rows: list[Sequence[object]] = []
    for prediction, code in found:
        probs = prediction_probs(prediction)
        rows.append([code, *(probs[t] for t in LEAK_TYPES),
                     *(getattr(prediction, f"call{n}") for n in range(1, len(LEAK_TYPES) + 1))])
    return csv_text(("case_id", *(f"prob_{t}" for t in LEAK_TYPES),
                       *(f"call_{t}" for t in LEAK_TYPES)), rows)
