"""Case import: de-identified on the way in, stored under the study's data folder, hashed.

A case folder is ``<case_id>/ct/*.dcm`` and ``<case_id>/mr/*.dcm`` (as ``bcl synth`` writes),
optionally ``postop/`` with postoperative images for the reference readers. Every series passes
through the foundation's PS3.15 Annex E de-identification (``bcl_core.io.deid``) before anything
is stored; only CT and MR image objects are stored, anything else (PDF reports, structured
reports ...) is set aside and counted in the import report. The case gets a study code
(``C0001``...); its source folder name is kept only as HMAC-SHA-256 under the study key, which
lives outside the database (:mod:`bcl_core.study.keys`), so reference labels and model
predictions given by source case id can still be matched while the database alone reveals
nothing. Of ``truth.json`` only the target vertebra (its two points and level) is kept; labels,
oracle probabilities and masks are never imported: they would unblind the readers. Everything
is written owner-only (folders 0700, files 0600); staging folders of killed imports are removed
by the next import.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import logging
import random
import re
import shutil
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bcl_core.errors import ConflictError, InputError, NotFoundError
from bcl_core.io.case_folder import find_truth
from bcl_core.io.csv_safe import unescape_cell
from bcl_core.io.private_files import make_private_dir
from bcl_core.study.access import ServiceContext, service
from bcl_core.study.constants import REFERENCE_SERIES, Role
from bcl_core.study.db import StudyDatabase
from bcl_core.study.keys import create_study_key, load_study_key, require_study_key
from bcl_core.study.models import (
    LEGACY_SOURCE_KEY_SCHEME,
    SOURCE_KEY_SCHEME,
    AuditEvent,
    Case,
    Study,
)
from bcl_core.study.staging import new_staging_dir, remove_stale_staging
from bcl_core.study.studies import get_study
from bcl_core.study.views import CaseInfo, CaseTarget, ImportReport

logger = logging.getLogger(__name__)

__all__ = ["import_cases", "list_cases"]

STAGING = "staging"


def study_folder(study_id: int) -> str:
    """Folder of a study under the data root (relative)."""
    return f"study_{int(study_id):04d}"


def _keyed(key: bytes, salted_digest: str) -> str:
    return hmac.new(key, salted_digest.encode("ascii"), hashlib.sha256).hexdigest()


def source_key(study: Study, source_case_id: str, key: bytes) -> str:
    """The only trace kept of a source case id: HMAC-SHA-256 under the study key of the
    study-salted SHA-256 of the id.

    The salted digest inside is what databases before migration ``0002_privacy`` stored, so
    :func:`protect_legacy_source_keys` can key those rows without knowing any source name.

    Parameters
    ----------
    study:
        The study (its ``salt`` separates studies).
    source_case_id:
        The source folder name.
    key:
        The study key (:func:`bcl_core.study.keys.require_study_key`); never in the database.

    Returns
    -------
    str
        64 hex characters.
    """
    salted = hashlib.sha256(f"{study.salt}:{source_case_id.strip()}".encode()).hexdigest()
    return _keyed(key, salted)


def protect_legacy_source_keys(session: Session, key: bytes) -> int:
    """Key the unkeyed source hashes of databases from before ``0002_privacy``, in place.

    Returns
    -------
    int
        How many cases were converted (0 once done).
    """
    legacy = session.scalars(select(Case).where(
        Case.source_key_scheme == LEGACY_SOURCE_KEY_SCHEME)).all()
    for case in legacy:
        case.source_key_sha256 = _keyed(key, case.source_key_sha256)
        case.source_key_scheme = SOURCE_KEY_SCHEME
    if legacy:
        session.flush()
        logger.info("keyed the source hashes of %d case(s) imported before 0002_privacy",
                    len(legacy))
    return len(legacy)


def find_case_by_source(session: Session, study: Study, source_case_id: str,
                        key: bytes) -> Case | None:
    """The study's case imported from the folder named ``source_case_id``, if any.

    Unkeyed hashes left by an older version are keyed first (in this transaction).
    """
    protect_legacy_source_keys(session, key)
    return session.scalar(select(Case).where(
        Case.study_id == study.id,
        Case.source_key_sha256 == source_key(study, source_case_id, key)))


def ensure_study_key(db: StudyDatabase) -> bytes:
    """The study key; created (0600 file) when none exists and no case was keyed with one.

    A database whose cases are all unkeyed (new, or from before ``0002_privacy``) gets a new
    key; one whose cases were keyed needs that key back, since a new one would match nothing.

    Raises
    ------
    StudyError
        If keyed cases exist but the key is missing; the message says how to restore it.
    """
    key = load_study_key(db.root)
    if key is not None:
        return key
    keyed = db.run(lambda session: session.scalar(select(Case.id).where(
        Case.source_key_scheme == SOURCE_KEY_SCHEME).limit(1)), write=False)
    if keyed is None:
        create_study_key(db.root)
    return require_study_key(db.root)


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
    truth = find_truth(folder)
    if truth is None:
        return None
    target = {"ct_point_mm": list(truth.ct_point_mm), "mr_point_mm": list(truth.mr_point_mm)}
    level = truth.level
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


def _deidentify_case(folder: Path, staging: Path, pseudonym: str,
                     set_aside: Counter[str]) -> tuple[str, ...]:
    """De-identify the series of one case folder into ``staging``; returns the series names.

    One :class:`~bcl_core.io.deid.Deidentifier` (random key, never stored) per case, so the
    case's series keep linking to each other and to nothing outside. Files it does not store
    (non-image objects, non-DICOM files) are added to ``set_aside`` by reason.
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
    set_aside.update(deidentifier.set_aside)
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
    content was imported before is skipped. Only CT and MR image objects are stored; the
    report lists what was set aside (by SOP class, never by file name). Staging folders left
    by a killed import are removed first.

    Raises
    ------
    InputError
        If ``source`` holds no case folders.
    DeidentificationError
        If a series cannot be de-identified safely (nothing of that case is kept).
    StudyError
        If cases were imported before but the study key is missing.
    """
    source = Path(source)
    root = ctx.db.root
    study_dir = root / study_folder(study_id)
    key = ensure_study_key(ctx.db)
    remove_stale_staging(study_dir / STAGING)
    imported: list[str] = []
    skipped = 0
    set_aside: Counter[str] = Counter()
    for folder in case_folders(source):
        staging = new_staging_dir(study_dir / STAGING)
        try:
            code = ctx.db.run(lambda session: _next_code(session, int(study_id)), write=False)
            target = read_target(folder)
            series = _deidentify_case(folder, staging, f"BCL-{int(study_id)}-{code}", set_aside)
            digest = content_hash(staging)

            def record(session: Session, folder: Path = folder, staging: Path = staging,
                       series: tuple[str, ...] = series, digest: str = digest,
                       code: str = code, target: str | None = target) -> str | None:
                study = get_study(session, study_id)
                protect_legacy_source_keys(session, key)
                hashed = source_key(study, folder.name, key)
                duplicate = session.scalar(select(Case.id).where(
                    Case.study_id == study.id,
                    (Case.source_key_sha256 == hashed) | (Case.content_sha256 == digest)))
                if duplicate is not None:
                    return None
                if _next_code(session, study.id) != code:
                    raise ConflictError("Another import ran at the same time; import again "
                                        "(cases already imported are skipped).")
                relative = f"{study_folder(study.id)}/cases/{code}"
                session.add(Case(study_id=study.id, code=code, source_key_sha256=hashed,
                                 source_key_scheme=SOURCE_KEY_SCHEME,
                                 content_sha256=digest, storage_path=relative,
                                 series=",".join(series), target_json=target))
                session.flush()
                # Inside the transaction: a row is committed only once its files are in place.
                # A retried attempt finds the files moved already by the failed one.
                final = root / relative
                if staging.exists():
                    if final.exists():
                        shutil.rmtree(final)
                    make_private_dir(final.parent)
                    staging.rename(final)
                return code

            stored_code = ctx.db.run(record, write=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if stored_code is None:
            skipped += 1
        else:
            imported.append(stored_code)
            logger.info("imported case %s", stored_code)
    if set_aside:
        logger.info("files set aside (not stored): %s", dict(set_aside))
    event = AuditEvent(user_id=ctx.actor.user_id, action="import_cases",
                       detail=f"study_id={int(study_id)} cases={len(imported)} "
                              f"set_aside={sum(set_aside.values())}")
    ctx.db.run(lambda session: session.add(event), write=True)
    return ImportReport(tuple(imported), skipped, tuple(sorted(set_aside.items())))


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
            # The product's own CSV writers escape formula-like cells; read them back as written.
            return [{key: str(unescape_cell(value)) if isinstance(value, str) else value
                     for key, value in row.items()} for row in reader]
    except OSError as exc:
        raise InputError(f"Cannot read {path}: {exc.strerror}.") from exc
