"""Shared fixtures and builders of the reader-study tests (no tests of its own).

Service tests run against SQLite and, when ``BCL_TEST_POSTGRES_URL`` is set (scripts/
test_services.sh sets it), PostgreSQL: each test gets its own schema there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text

from bcl_core.study import (
    StudyDatabase,
    assign_reader,
    bootstrap_coordinator,
    change_password,
    create_study,
    create_user,
    login,
)
from bcl_core.study.cases import study_folder
from bcl_core.study.constants import Role
from bcl_core.study.models import Case

#: Cheap argon2 parameters: the tests check the flow, not the hashing cost.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
POSTGRES_URL_ENV = "BCL_TEST_POSTGRES_URL"


def postgres_url() -> str:
    """The test server's URL, or skip (fail in CI, where it must exist)."""
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{POSTGRES_URL_ENV} is not set in CI; scripts/test_services.sh "
                        "should have started PostgreSQL")
        pytest.skip(f"{POSTGRES_URL_ENV} not set (run scripts/test_services.sh)")
    return url


def database_factory(root: Path) -> Iterator:
    """Generator fixture body: yields ``make(backend) -> StudyDatabase`` (migrated, empty) and
    cleans every database up when resumed."""
    cleanups = []

    def make(backend: str) -> StudyDatabase:
        if backend == "sqlite":
            database = StudyDatabase(data_dir=root / "data", password_hasher=FAST_HASHER,
                                     url=f"sqlite:///{root / 'study.sqlite'}")
        else:
            url = postgres_url()
            schema = f"t_{uuid.uuid4().hex[:12]}"
            admin = create_engine(url)
            with admin.begin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            database = StudyDatabase(
                url=url, data_dir=root / "data", password_hasher=FAST_HASHER,
                engine_options={"connect_args": {"options": f"-csearch_path={schema}"}})

            def drop(admin=admin, schema=schema) -> None:
                with admin.begin() as connection:
                    connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()

            cleanups.append(drop)
        database.upgrade()
        cleanups.insert(0, database.dispose)
        return database

    yield make
    for cleanup in cleanups:
        cleanup()


def activate(db: StudyDatabase, username: str, one_time_password: str) -> str:
    """Log in with a one-time password, set the real one, return a working session token."""
    first = login(db, username, one_time_password)
    change_password(db, first.token, one_time_password, PASSWORD)
    return login(db, username, PASSWORD).token


def add_cases(db: StudyDatabase, study_id: int, count: int) -> list[int]:
    """Insert cases directly, where import would store them (no files: write_case adds them)."""

    def work(session) -> list[int]:
        cases = [Case(study_id=study_id, code=f"C{n:04d}", source_key_sha256=f"{n:064x}",
                      content_sha256=f"{n:064x}",
                      storage_path=f"{study_folder(study_id)}/cases/C{n:04d}", series="ct,mr")
                 for n in range(1, count + 1)]
        session.add_all(cases)
        session.flush()
        return [c.id for c in cases]

    return db.run(work, write=True)


@dataclass
class World:
    """A study with cases and one signed-in account per role (two readers, two reference)."""

    db: StudyDatabase
    study_id: int
    case_ids: list[int]
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, who: str) -> str:
        return self.tokens[who]


ACCOUNTS = {
    "reader": Role.READER, "reader2": Role.READER,
    "reference1": Role.REFERENCE_READER, "reference2": Role.REFERENCE_READER,
    "adjudicator": Role.ADJUDICATOR,
}
#: One account name per role, for the role matrix.
ACCOUNT_OF_ROLE = {Role.COORDINATOR: "coordinator", Role.READER: "reader",
                   Role.REFERENCE_READER: "reference1", Role.ADJUDICATOR: "adjudicator"}


def build_world(db: StudyDatabase, n_cases: int = 4, order_seed: int = 7) -> World:
    """Coordinator, one account per role, a study with ``n_cases`` cases, all assigned."""
    first = bootstrap_coordinator(db, "coordinator")
    tokens = {"coordinator": activate(db, "coordinator", first.one_time_password)}
    coordinator = tokens["coordinator"]
    for name, role in ACCOUNTS.items():
        created = create_user(db, coordinator, name, role)
        tokens[name] = activate(db, name, created.one_time_password)
    study = create_study(db, coordinator, "Pilot", "two readers", order_seed)
    case_ids = add_cases(db, study.study_id, n_cases) if n_cases else []
    for name, role in ACCOUNTS.items():
        if case_ids and role in (Role.READER, Role.REFERENCE_READER):
            assign_reader(db, coordinator, study.study_id, name)
    return World(db, study.study_id, case_ids, tokens)


def calls(*values: int) -> dict[str, int]:
    """``calls(1, 0, 0, 1)`` -> ``{"type1": 1, "type2": 0, "type3": 0, "type4": 1}``."""
    return {f"type{n}": v for n, v in enumerate(values, start=1)}


# --- DICOM with planted identifiers ---------------------------------------------------------
PLANTED = {
    "PatientName": "Doe^Planted",
    "PatientID": "MRN-PLANTED-4711",
    "PatientBirthDate": "19311224",
    "PatientAddress": "1 Planted Street, Springfield",
    "InstitutionName": "Planted General Hospital",
    "ReferringPhysicianName": "Who^Planted",
    "AccessionNumber": "ACC-PLANTED-99",
    "OtherPatientIDs": "OTHER-PLANTED-1",
    "PatientTelephoneNumbers": "555-0199-PLANTED",
}


def write_case(root: Path, case_id: str, seed: int = 0) -> Path:
    """A tiny case folder (``ct/`` and ``mr/``, 3 slices each) with identifiers planted."""
    from bcl_core.io.dicom_write import SyntheticPatient, make_uid, write_series
    from bcl_core.volume import Volume

    rng = np.random.default_rng(seed)
    folder = root / case_id
    patient = SyntheticPatient(patient_id=PLANTED["PatientID"],
                               patient_name=PLANTED["PatientName"],
                               birth_date=PLANTED["PatientBirthDate"])
    study_uid = make_uid(case_id, "study", seed)
    extra = {k: v for k, v in PLANTED.items()
             if k not in ("PatientName", "PatientID", "PatientBirthDate")}
    for name, modality, values in (("ct", "CT", rng.integers(-1000, 1500, (3, 8, 8))),
                                   ("mr", "MR", rng.integers(0, 800, (3, 8, 6)))):
        volume = Volume(values.astype(np.float32), spacing=(0.8, 0.8, 2.0), modality=modality)
        write_series(volume, folder / name, patient=patient, series_description=f"{name} test",
                     series_number=1 if name == "ct" else 2, study_uid=study_uid,
                     series_uid=make_uid(case_id, name, seed),
                     frame_of_reference_uid=make_uid(case_id, name, "for", seed),
                     extra_tags=extra, uid_seed=f"{case_id}-{name}-{seed}")
    return folder
