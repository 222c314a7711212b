"""The model's predictions on the study's cases (never visible to prediction readers)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bcl_core.errors import BCLError, InputError, StudyError
from bcl_core.study.access import ServiceContext, service
from bcl_core.study.cases import (
    case_target,
    ensure_study_key,
    find_case_by_source,
    read_label_csv,
    series_dirs,
)
from bcl_core.study.constants import LEAK_TYPES, READER_SERIES, Role
from bcl_core.study.models import AuditEvent, Case, ModelPrediction
from bcl_core.study.studies import get_study
from bcl_core.study.validation import check_calls, check_probability, clean_text
from bcl_core.study.views import CaseTarget

logger = logging.getLogger(__name__)

__all__ = ["import_predictions_csv", "list_predictions", "run_model"]

PROB_COLUMNS = tuple(f"prob_{t}" for t in LEAK_TYPES)
CALL_COLUMNS = tuple(f"call_{t}" for t in LEAK_TYPES)

#: A predictor maps a case's series folders (``{"ct": Path, "mr": Path}``) and its target
#: vertebra (``None`` when the import had none) to ``(probabilities, calls)``, each keyed
#: ``type1``..``type4``. It raises a :class:`BCLError` for a case it cannot predict.
Predictor = Callable[[Mapping[str, Path], CaseTarget | None],
                     tuple[Mapping[str, float], Mapping[str, int]]]


@dataclass(frozen=True)
class ModelRun:
    """Outcome of running a model over a study: cases predicted, and those that failed."""

    predicted: int
    failed: tuple[tuple[str, str], ...]  # (case code, reason)


@dataclass(frozen=True)
class PredictionInfo:
    case_code: str
    model_version: str
    probabilities: dict[str, float]
    calls: dict[str, int]


def _store(session: Session, case: Case, version: str, probabilities: Mapping[str, float],
           calls: Mapping[str, int]) -> None:
    probs = {t: check_probability(probabilities[t], f"prob_{t}") for t in LEAK_TYPES}
    decided = check_calls(calls)
    # A rerun of the same model version replaces its earlier output.
    session.execute(delete(ModelPrediction).where(
        ModelPrediction.case_id == case.id, ModelPrediction.model_version == version))
    session.add(ModelPrediction(
        study_id=case.study_id, case_id=case.id, model_version=version,
        **{f"prob{n}": probs[t] for n, t in enumerate(LEAK_TYPES, 1)},
        **{f"call{n}": decided[t] for n, t in enumerate(LEAK_TYPES, 1)}))


def _version(model_version: str) -> str:
    version = clean_text(model_version, "model version", 100)
    if not version:
        raise StudyError("Name the model version the predictions come from.")
    return version


@service(Role.COORDINATOR, write=True)
def import_predictions_csv(ctx: ServiceContext, study_id: int, csv_path: str | Path,
                           model_version: str) -> int:
    """Store predictions from ``bcl predict-batch`` output (``case_id,prob_type1..,call_type1..``).

    Returns the number of cases stored.

    Raises
    ------
    InputError
        If columns are missing, values are out of range, or a case is not in the study.
    """
    version = _version(model_version)
    study = get_study(ctx.session, study_id)
    key = ensure_study_key(ctx.db)  # source ids are matched by keyed hash
    rows = read_label_csv(Path(csv_path), PROB_COLUMNS + CALL_COLUMNS)
    for line, row in enumerate(rows, start=2):
        case = find_case_by_source(ctx.session, study, row["case_id"], key)
        if case is None:
            raise InputError(f"Line {line}: case {row['case_id']!r} is not in this study.")
        try:
            _store(ctx.session, case, version,
                   {t: float(row[f"prob_{t}"]) for t in LEAK_TYPES},
                   {t: int(row[f"call_{t}"]) for t in LEAK_TYPES})
        except (ValueError, StudyError) as exc:
            raise InputError(f"Line {line}: {exc}") from exc
    ctx.audit("import_predictions", f"study_id={study.id} rows={len(rows)}")
    return len(rows)


@service(Role.COORDINATOR, own_transactions=True)
def run_model(ctx: ServiceContext, study_id: int, predictor: Predictor,
              model_version: str) -> ModelRun:
    """Run ``predictor`` on every case of the study and store its output.

    Each case is predicted outside any transaction, then stored in a short one. A case the
    predictor refuses (a :class:`BCLError`, e.g. no target point) is listed, not fatal.
    """
    version = _version(model_version)

    def cases(session: Session) -> list[tuple[int, str, dict[str, Path], CaseTarget | None]]:
        study = get_study(session, study_id)
        return [(c.id, c.code, series_dirs(ctx.db.root, c, READER_SERIES), case_target(c))
                for c in session.scalars(select(Case).where(Case.study_id == study.id)
                                         .order_by(Case.code))]

    todo = ctx.db.run(cases, write=False)
    failed: list[tuple[str, str]] = []
    for case_id, code, dirs, target in todo:
        try:
            probabilities, calls = predictor(dirs, target)
        except BCLError as exc:
            logger.warning("model run: case %s not predicted (%s)", code, type(exc).__name__)
            failed.append((code, str(exc)))
            continue

        def store(session: Session, case_id: int = case_id,
                  probabilities: Mapping[str, float] = probabilities,
                  calls: Mapping[str, int] = calls) -> None:
            case = session.get(Case, case_id)
            assert case is not None
            _store(session, case, version, probabilities, calls)

        ctx.db.run(store, write=True)
    ctx.db.run(lambda session: session.add(AuditEvent(
        user_id=ctx.actor.user_id, action="run_model",
        detail=f"study_id={int(study_id)} predicted={len(todo) - len(failed)}")), write=True)
    return ModelRun(len(todo) - len(failed), tuple(failed))


def pipeline_predictor() -> tuple[Predictor, str]:
    """The shipped case pipeline as a :data:`Predictor`, with its model version.

    Loads the ONNX models once; each case is loaded from its de-identified series and predicted
    at its stored target points (no heat maps).

    Raises
    ------
    ModelError
        If the shipped models are missing.
    """
    from bcl_core.io import load_volume
    from bcl_core.predict.pipeline import PipelineModels, predict_case

    models = PipelineModels.load()
    version = f"{models.fusion.sidecar.name} {models.fusion.sidecar.version}"

    def predict(dirs: Mapping[str, Path], target: CaseTarget | None
                ) -> tuple[Mapping[str, float], Mapping[str, int]]:
        if target is None:
            raise StudyError("The case has no target vertebra point; the model needs one.")
        result = predict_case(load_volume(dirs["ct"]), load_volume(dirs["mr"]),
                              target.ct_point_mm, target.mr_point_mm, models=models,
                              with_maps=False)
        return result.probabilities, result.calls

    return predict, version


@service(Role.COORDINATOR)
def list_predictions(ctx: ServiceContext, study_id: int) -> list[PredictionInfo]:
    """Stored model predictions of the study."""
    study = get_study(ctx.session, study_id)
    rows = ctx.session.execute(
        select(ModelPrediction, Case.code).join(Case, Case.id == ModelPrediction.case_id)
        .where(ModelPrediction.study_id == study.id)
        .order_by(Case.code, ModelPrediction.model_version))
    return [PredictionInfo(code, p.model_version, prediction_probs(p),
                           {t: getattr(p, f"call{n}") for n, t in enumerate(LEAK_TYPES, 1)})
            for p, code in rows]


def prediction_probs(prediction: ModelPrediction) -> dict[str, float]:
    """Probabilities of a stored prediction keyed ``type1``..``type4``."""
    return {t: getattr(prediction, f"prob{n}") for n, t in enumerate(LEAK_TYPES, 1)}
