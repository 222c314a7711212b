"""Case import: de-identified on the way in, stored under the study's data folder, hashed.

A case folder is ``<case_id>/ct/*.dcm`` and ``<case_id>/mr/*.dcm`` (as ``bcl synth`` writes),
optionally ``postop/`` with postoperative images for the reference readers. Every series passes
through the foundation's PS3.15 Annex E de-identification (``bcl_core.io.deid``) before anything
is stored. The case gets a study code (``C0001``...); its source folder name is kept only as a
salted SHA-256, so reference labels and model predictions given by source case id can still be
matched. Of ``truth.json`` only the target vertebra (its two points and level) is kept; labels,
oracle probabilities and masks are never imported: they would unblind the readers.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import random
import re
import shutil
import uuid
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bcl_core.errors import ConflictError, InputError, NotFoundError
from bcl_core.study.access import ServiceContext, service
from bcl_core.study.constants import REFERENCE_SERIES, Role
from bcl_core.study.models import AuditEvent, Case, Study
from bcl_core.study.studies import get_study
from bcl_core.study.views import CaseInfo, CaseTarget, ImportReport

logger = logging.getLogger(__name__)

__all__ = ["import_cases", "list_cases"]

STAGING = "staging"


def study_folder(study_id: int) -> str:
    """Folder of a study under the data root (relative)."""
    return f"study_{int(study_id):04d}"


def source_key(study: Study, source_case_id: str) -> str:
    """Salted SHA-256 of a source case id (the only trace of the source name that is kept)."""
    return hashlib.sha256(f"{study.salt}:{source_case_id.strip()}".encode()).hexdigest()


def find_case_by_source(session: Session, study: Study, source_case_id: str) -> Case | None:
    """The study's case imported from the folder named ``source_case_id``, if any."""
    return session.scalar(select(Case).where(
        Case.study_id == study.id, Case.source_key_sha256 == source_key(study, source_case_id)))


def content_hash(folder: Path) -> str:
    """SHA-256 over the relative paths and bytes of every file under ``folder``, in order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


_LEVEL = re.compile(r"^[CTLS][0-9]{1,2}$")


def read_target(folder: Path) -> str | None:
    """The target vertebra from a case's ``truth.json``, as stored JSON (``None`` if absent).

    Only the two points and the level are read: labels, oracle probabilities and latent
    features stay behind, or they would unblind the readers.

    Raises
    ------
    InputError
        If ``truth.json`` exists but its points or level are malformed.
    """
    path = folder / "truth.json"
    if not path.is_file():
        return None
    try:
        truth = json.loads(path.read_text(encoding="utf-8"))
        target = {key: [float(v) for v in truth[key]] for key in ("ct_point_mm", "mr_point_mm")}
        level = str(truth.get("level", ""))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"truth.json of case folder {folder.name} has no usable target "
                         "points (ct_point_mm, mr_point_mm).") from exc
    if any(len(p) != 3 or not all(math.isfinite(v) for v in p) for p in target.values()):
        raise InputError(f"truth.json of case folder {folder.name}: points need 3 numbers.")
    return json.dumps({**target, "level": level if _LEVEL.match(level) else ""})


def case_target(case: Case) -> CaseTarget | None:
    """The stored target vertebra of a case, if any."""
    if not case.target_json:
        return None
    data = json.loads(case.target_json)
    return CaseTarget(tuple(data["ct_point_mm"]), tuple(data["mr_point_mm"]),  # type: ignore[arg-type]
                      data.get("level", ""))


def _series_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def case_folders(source: Path) -> list[Path]:
    """Case folders under ``source`` (sub-folders holding ``ct/`` and ``mr/``), shuffled.

    The random order keeps case codes from mirroring the source names' order (which could be
    alphabetical by patient name).
    """
    if not source.is_dir():
        raise InputError(f"{source} is not a folder; give the folder `bcl synth` wrote.")
    folders = [p for p in source.iterdir()
               if p.is_dir() and (p / "ct").is_dir() and (p / "mr").is_dir()]
    if not folders:
        raise InputError(f"No case folders (<case>/ct and <case>/mr) under {source}.")
    random.SystemRandom().shuffle(folders)
    return folders


def _deidentify_case(folder: Path, staging: Path, pseudonym: str) -> tuple[str, ...]:
    """De-identify the series of one case folder into ``staging``; returns the series names.

    One :class:`~bcl_core.io.deid.Deidentifier` (random key, never stored) per case, so the
    case's series keep linking to each other and to nothing outside.
    """
    from bcl_core.io.deid import Deidentifier
    from bcl_core.io.sources import FileRef

    deidentifier = Deidentifier(pseudonym)
    series = []
    for name in REFERENCE_SERIES:
        if not (folder / name).is_dir():
            continue
        files = [FileRef(name=f"{name}/{n}", path=path)
                 for n, path in enumerate(_series_files(folder / name))]
        if deidentifier.write_files(files, staging / name):
            series.append(name)
    if not {"ct", "mr"} <= set(series):
        raise InputError(f"Case folder {folder.name} lacks a readable CT or MR series.")
    return tuple(series)


def _next_code(session: Session, study_id: int) -> str:
    number = int(session.scalar(
        select(func.count(Case.id)).where(Case.study_id == study_id)) or 0) + 1
    return f"C{number:04d}"


@service(Role.COORDINATOR, own_transactions=True)
def import_cases(ctx: ServiceContext, study_id: int, source: str | Path) -> ImportReport:
    """Import every case folder under ``source`` into a study, de-identified.

    Files are de-identified to a staging folder outside any transaction, hashed, and only then
    recorded (and moved in place) in a short write transaction. A case whose source id or
    content was imported before is skipped.

    Raises
    ------
    InputError
        If ``source`` holds no case folders.
    DeidentificationError
        If a series cannot be de-identified safely (nothing of that case is kept).
    """
    source = Path(source)
    root = ctx.db.root
    study_dir = root / study_folder(study_id)
    imported: list[str] = []
    skipped = 0
    for folder in case_folders(source):
        staging = study_dir / STAGING / uuid.uuid4().hex
        try:
            code = ctx.db.run(lambda session: _next_code(session, int(study_id)), write=False)
            target = read_target(folder)
            series = _deidentify_case(folder, staging, f"BCL-{int(study_id)}-{code}")
            digest = content_hash(staging)

            def record(session: Session, folder: Path = folder, staging: Path = staging,
                       series: tuple[str, ...] = series, digest: str = digest,
                       code: str = code, target: str | None = target) -> str | None:
                study = get_study(session, study_id)
                key = source_key(study, folder.name)
                duplicate = session.scalar(select(Case.id).where(
                    Case.study_id == study.id,
                    (Case.source_key_sha256 == key) | (Case.content_sha256 == digest)))
                if duplicate is not None:
                    return None
                if _next_code(session, study.id) != code:
                    raise ConflictError("Another import ran at the same time; import again "
                                        "(cases already imported are skipped).")
                relative = f"{study_folder(study.id)}/cases/{code}"
                session.add(Case(study_id=study.id, code=code, source_key_sha256=key,
                                 content_sha256=digest, storage_path=relative,
                                 series=",".join(series), target_json=target))
                session.flush()
                # Inside the transaction: a row is committed only once its files are in place.
                # A retried attempt finds the files moved already by the failed one.
                final = root / relative
                if staging.exists():
                    if final.exists():
                        shutil.rmtree(final)
                    final.parent.mkdir(parents=True, exist_ok=True)
                    staging.rename(final)
                return code

            code = ctx.db.run(record, write=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if code is None:
            skipped += 1
        else:
            imported.append(code)
            logger.info("imported case %s", code)
    event = AuditEvent(user_id=ctx.actor.user_id, action="import_cases",
                       detail=f"study_id={int(study_id)} cases={len(imported)}")
    ctx.db.run(lambda session: session.add(event), write=True)
    return ImportReport(tuple(imported), skipped)


@service(Role.COORDINATOR)
def list_cases(ctx: ServiceContext, study_id: int) -> list[CaseInfo]:
    """The study's cases, by code."""
    study = get_study(ctx.session, study_id)
    return [CaseInfo(c.id, c.code, c.content_sha256, tuple(c.series.split(",")))
            for c in ctx.session.scalars(
                select(Case).where(Case.study_id == study.id).order_by(Case.code))]


def series_dirs(root: Path, case: Case, allowed: tuple[str, ...]) -> dict[str, Path]:
    """Absolute folders of a case's stored series, limited to ``allowed`` names."""
    return {name: root / case.storage_path / name
            for name in case.series.split(",") if name in allowed}


def get_case(session: Session, study_id: int, case_id: int) -> Case:
    """A case of the study, or :class:`NotFoundError`."""
    case = session.get(Case, int(case_id))
    if case is None or case.study_id != int(study_id):
        raise NotFoundError(f"No case {case_id} in study {study_id}.")
    return case


def read_label_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a CSV with a ``case_id`` column and ``required`` columns.

    Raises
    ------
    InputError
        If the file cannot be read or lacks columns.
    """
    try:
        with Path(path).open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = set(reader.fieldnames or ())
            missing = [c for c in ("case_id", *required) if c not in columns]
            if missing:
                raise InputError(f"{Path(path).name} lacks the column(s) {', '.join(missing)}.")
            return list(reader)
    except OSError as exc:
        raise InputError(f"Cannot read {path}: {exc.strerror}.") from exc
