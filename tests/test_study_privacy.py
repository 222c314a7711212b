"""Reader-study privacy (issue 16): what an import stores, how source ids are hashed, file modes,
leftovers of killed imports, and what git may never pick up."""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from dicom_documents import PDF_TEXT, SR_TEXT, write_pdf_object, write_text_sr
from sqlalchemy import create_engine, select, text
from test_study_support import build_world, database_factory, write_case

from bcl_core.errors import StudyError
from bcl_core.study import import_cases, import_reference_labels, reference_labels
from bcl_core.study.keys import KEY_ENV, KEY_FILE_ENV
from bcl_core.study.models import Case, Study

SOURCE = "mrn-40711234"  # a source folder named by a medical record number
LABELS = f"case_id,type1,type2,type3,type4\n{SOURCE},1,0,0,1\n"


@pytest.fixture(autouse=True)
def _no_key_from_the_environment(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)


@pytest.fixture
def make_db(tmp_path):
    yield from database_factory(tmp_path)


@pytest.fixture
def source(tmp_path):
    folder = tmp_path / "incoming"
    write_case(folder, SOURCE, seed=1)
    (folder / "labels.csv").write_text(LABELS)
    return folder


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _salted(study_salt: str, name: str) -> str:
    """The pre-fix scheme: SHA-256 of "salt:name" (salt stored in the same database)."""
    return hashlib.sha256(f"{study_salt}:{name}".encode()).hexdigest()


def _stored_case(world) -> tuple[str, str, str]:
    with world.db.read_session() as session:
        case = session.scalars(select(Case)).one()
        salt = session.get(Study, case.study_id).salt
        return case.source_key_sha256, case.source_key_scheme, salt


# --- item 1: only image objects are stored --------------------------------------------------
def test_pdf_and_text_sr_in_a_series_folder_are_set_aside_and_reported(make_db, source):
    write_pdf_object(source / SOURCE / "ct" / "report.dcm")
    write_text_sr(source / SOURCE / "mr" / "note.dcm")
    world = build_world(make_db("sqlite"), n_cases=0)
    report = import_cases(world.db, world.token("coordinator"), world.study_id, source)
    assert report.imported == ("C0001",)
    assert report.set_aside == (("Basic Text SR Storage", 1), ("Encapsulated PDF Storage", 1))
    stored = [p for p in world.db.root.rglob("*") if p.is_file()]
    assert len([p for p in stored if p.suffix == ".dcm"]) == 6  # 3 CT + 3 MR slices
    for path in stored:
        data = path.read_bytes()
        assert b"MRN-PDF-8841" not in data and SR_TEXT[:20].encode() not in data
        assert PDF_TEXT not in data


# --- item 4: keyed hash, key outside the database -------------------------------------------
def test_source_id_is_kept_as_hmac_under_a_key_file_outside_the_database(make_db, source,
                                                                         tmp_path):
    world = build_world(make_db("sqlite"), n_cases=0)
    import_cases(world.db, world.token("coordinator"), world.study_id, source)
    stored, scheme, salt = _stored_case(world)
    key_file = world.db.root / "study.key"
    key = key_file.read_text().strip().encode()
    assert len(key) >= 32 and _mode(key_file) == 0o600
    # The database alone (salt + hash) no longer matches a guessed MRN ...
    assert stored != _salted(salt, SOURCE)
    # ... only HMAC-SHA-256 under the key does (computed here with the standard library).
    assert stored == hmac.new(key, _salted(salt, SOURCE).encode(), hashlib.sha256).hexdigest()
    assert scheme == "hmac-sha256"
    world.db.dispose()
    database_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("study.sqlite*"))
    assert key not in database_bytes


def test_key_from_the_environment_is_used_and_no_file_written(make_db, source, monkeypatch):
    env_key = "k" * 16 + "0123456789abcdef0123"
    monkeypatch.setenv(KEY_ENV, env_key)
    world = build_world(make_db("sqlite"), n_cases=0)
    import_cases(world.db, world.token("coordinator"), world.study_id, source)
    stored, _, salt = _stored_case(world)
    assert stored == hmac.new(env_key.encode(), _salted(salt, SOURCE).encode(),
                              hashlib.sha256).hexdigest()
    assert not (world.db.root / "study.key").exists()


def test_key_file_location_can_be_set_outside_the_data_folder(make_db, source, monkeypatch,
                                                              tmp_path):
    elsewhere = tmp_path / "secrets" / "bcl.key"
    monkeypatch.setenv(KEY_FILE_ENV, str(elsewhere))
    world = build_world(make_db("sqlite"), n_cases=0)
    import_cases(world.db, world.token("coordinator"), world.study_id, source)
    assert elsewhere.is_file() and _mode(elsewhere) == 0o600
    assert _mode(elsewhere.parent) == 0o700
    assert not (world.db.root / "study.key").exists()


def test_a_short_environment_key_is_refused(make_db, source, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "secret")
    world = build_world(make_db("sqlite"), n_cases=0)
    with pytest.raises(StudyError, match="too short"):
        import_cases(world.db, world.token("coordinator"), world.study_id, source)


def test_missing_key_after_cases_were_imported_is_a_clear_error(make_db, source):
    world = build_world(make_db("sqlite"), n_cases=0)
    coordinator = world.token("coordinator")
    import_cases(world.db, coordinator, world.study_id, source)
    (world.db.root / "study.key").unlink()
    with pytest.raises(StudyError, match="study key was not found.*Restore the key file"):
        import_cases(world.db, coordinator, world.study_id, source)
    with pytest.raises(StudyError, match="study key was not found"):
        import_reference_labels(world.db, coordinator, world.study_id, source / "labels.csv")
    assert not (world.db.root / "study.key").exists()  # never silently replaced


def test_cases_hashed_before_the_key_are_keyed_on_first_use(make_db, source):
    world = build_world(make_db("sqlite"), n_cases=0)
    coordinator = world.token("coordinator")
    import_cases(world.db, coordinator, world.study_id, source)
    _, _, salt = _stored_case(world)
    legacy = _salted(salt, SOURCE)

    def make_legacy(session) -> None:  # the row as an older version wrote it, with no key
        session.execute(text("UPDATE study_case SET source_key_sha256 = :h, "
                             "source_key_scheme = 'sha256'"), {"h": legacy})

    world.db.run(make_legacy, write=True)
    (world.db.root / "study.key").unlink()
    assert import_reference_labels(world.db, coordinator, world.study_id,
                                   source / "labels.csv") == 1
    key = (world.db.root / "study.key").read_text().strip().encode()  # made for the old rows
    assert [lab.calls["type4"] for lab in reference_labels(world.db, coordinator,
                                                           world.study_id)] == [1]
    stored, scheme, _ = _stored_case(world)
    assert scheme == "hmac-sha256"
    assert stored == hmac.new(key, legacy.encode(), hashlib.sha256).hexdigest()


def test_migration_keeps_existing_databases_working(tmp_path):
    from bcl_core.study.migrate import upgrade

    engine = create_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    upgrade(engine, "b88a5745438b")  # the schema before 0002_privacy
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO study (id, name, description, order_seed, salt, created_at) "
            "VALUES (1, 'Old', '', 7, 'abc', '2025-01-01 00:00:00')"))
        connection.execute(text(
            "INSERT INTO study_case (id, study_id, code, source_key_sha256, content_sha256, "
            "storage_path, series, created_at) VALUES (1, 1, 'C0001', :h, :h, "
            "'study_0001/cases/C0001', 'ct,mr', '2025-01-01 00:00:00')"),
            {"h": _salted("abc", SOURCE)})
    upgrade(engine)
    with engine.connect() as connection:
        row = connection.execute(text(
            "SELECT source_key_sha256, source_key_scheme FROM study_case")).one()
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert tuple(row) == (_salted("abc", SOURCE), "sha256")
    assert revision == "0002_privacy"
    engine.dispose()


# --- item 5: owner-only files and folders ---------------------------------------------------
def test_study_files_and_folders_are_owner_only(make_db, source, tmp_path):
    old_mask = os.umask(0o022)  # the usual default: files world-readable unless set
    try:
        world = build_world(make_db("sqlite"), n_cases=0)
        import_cases(world.db, world.token("coordinator"), world.study_id, source)
    finally:
        os.umask(old_mask)
    root = world.db.root
    folders = [root, *(p for p in root.rglob("*") if p.is_dir())]
    files = [p for p in root.rglob("*") if p.is_file()]
    files += [p for p in tmp_path.glob("study.sqlite*")]  # database, WAL, shared memory
    assert len(files) >= 6 + 1 + 3 and any(p.name == "study.key" for p in files)
    assert {str(p.relative_to(tmp_path)): _mode(p) for p in folders
            if _mode(p) != 0o700} == {}
    assert {str(p.relative_to(tmp_path)): _mode(p) for p in files if _mode(p) != 0o600} == {}


def test_default_data_folder_and_database_are_owner_only(tmp_path, monkeypatch):
    from bcl_core.study import StudyDatabase

    monkeypatch.delenv("BCL_DATABASE_URL", raising=False)
    old_mask = os.umask(0o022)
    try:
        db = StudyDatabase(data_dir=tmp_path / "study_data")
        db.upgrade()
        db.dispose()
    finally:
        os.umask(old_mask)
    assert _mode(tmp_path / "study_data") == 0o700
    database_files = list((tmp_path / "study_data").glob("study.sqlite*"))
    assert database_files and {_mode(p) for p in database_files} == {0o600}


# --- item 6: leftovers of a killed import ---------------------------------------------------
def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_staging_left_by_a_killed_import_is_removed_by_the_next(make_db, source):
    from bcl_core.study.staging import _host_tag

    world = build_world(make_db("sqlite"), n_cases=0)
    staging = world.db.root / "study_0001" / "staging"
    host = _host_tag()
    dead = staging / f"{host}-{_dead_pid()}-{uuid.uuid4().hex}"
    running = staging / f"{host}-{os.getpid()}-{uuid.uuid4().hex}"  # a concurrent import
    old_unknown = staging / uuid.uuid4().hex  # named by an older version, two days old
    fresh_unknown = staging / uuid.uuid4().hex
    for folder in (dead, running, old_unknown, fresh_unknown):
        (folder / "ct").mkdir(parents=True)
        (folder / "ct" / "00000.dcm").write_bytes(b"partial de-identified file")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old_unknown, (two_days_ago, two_days_ago))
    report = import_cases(world.db, world.token("coordinator"), world.study_id, source)
    assert report.imported == ("C0001",)
    assert not dead.exists() and not old_unknown.exists()
    assert running.exists() and fresh_unknown.exists()
    shutil.rmtree(staging)


# --- item 7: git never picks up study data or secrets ---------------------------------------
@pytest.mark.parametrize("path", ["study_data/study.sqlite", "study_data/study.key",
                                  ".streamlit/secrets.toml"])
def test_gitignore_covers_study_data_and_streamlit_secrets(path):
    repo = Path(__file__).resolve().parent.parent
    if shutil.which("git") is None or not (repo / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(["git", "-C", str(repo), "check-ignore", "-q", "--no-index", path],
                            check=False)
    assert result.returncode == 0, f"{path} is not ignored by .gitignore"


# --- the command line -----------------------------------------------------------------------
def test_cli_init_creates_the_key_and_import_lists_what_was_set_aside(tmp_path, monkeypatch,
                                                                       capsys, source):
    import re

    from test_study_support import FAST_HASHER

    from bcl_core.cli import main
    from bcl_core.study import StudyDatabase

    monkeypatch.setenv("BCL_STUDY_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BCL_DATABASE_URL", raising=False)

    def fast_database() -> StudyDatabase:
        database = StudyDatabase(password_hasher=FAST_HASHER)
        database.upgrade()
        return database

    monkeypatch.setattr("bcl_core.commands.study.database_from_env", fast_database)
    assert main(["study", "init", "--coordinator", "boss"]) == 0
    out = capsys.readouterr().out
    key_file = tmp_path / "data" / "study.key"
    assert f"Study key created: {key_file}" in out and _mode(key_file) == 0o600
    otp = re.search(r"shown once\): (\S+)", out).group(1)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": otp)
    monkeypatch.setenv("BCL_STUDY_PASSWORD", "Quartz lantern orbit 7719 marsh")
    assert main(["study", "passwd", "--user", "boss"]) == 0
    assert main(["study", "create-study", "Pilot", "--user", "boss"]) == 0
    write_pdf_object(source / SOURCE / "ct" / "report.dcm")
    capsys.readouterr()
    assert main(["study", "import", "1", str(source), "--user", "boss"]) == 0
    out = capsys.readouterr().out
    assert "imported 1 case(s)" in out
    assert "set aside (not stored; only CT and MR images are): 1 Encapsulated PDF Storage" in out
    assert "report.dcm" not in out and SOURCE not in out


def test_admin_page_import_lists_what_was_set_aside(tmp_path, monkeypatch, repo_root, source):
    from streamlit.testing.v1 import AppTest
    from test_study_support import FAST_HASHER, PASSWORD

    from bcl_core.study import StudyDatabase

    monkeypatch.chdir(repo_root)
    url = f"sqlite:///{tmp_path / 'study.sqlite'}"
    monkeypatch.setenv("BCL_DATABASE_URL", url)
    monkeypatch.setenv("BCL_STUDY_DIR", str(tmp_path / "data"))
    db = StudyDatabase(url=url, data_dir=tmp_path / "data", password_hasher=FAST_HASHER)
    db.upgrade()
    build_world(db, n_cases=0)
    write_text_sr(source / SOURCE / "mr" / "note.dcm")
    app = AppTest.from_file(str(repo_root / "pages" / "study_admin.py"), default_timeout=60)
    app.run()
    app.text_input(key="study_login_username").input("coordinator")
    app.text_input(key="study_login_password").input(PASSWORD)
    app.button[0].click().run()
    app.text_input(key="import_folder").input(str(source))
    next(b for b in app.button if b.label == "Import cases").click().run()
    assert not app.exception, app.exception
    assert any("Imported 1 case(s)" in s.value for s in app.success)
    notes = [i.value for i in app.info if "Set aside" in i.value]
    assert notes == ["Set aside, not stored (only CT and MR images are): 1 Basic Text SR "
                     "Storage."]
    db.dispose()
