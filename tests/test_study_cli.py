"""``bcl study`` end to end on a SQLite file, and the database settings behind it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event
from test_study_support import FAST_HASHER, write_case

from bcl_core.cli import main
from bcl_core.study import StudyDatabase
from bcl_core.study.migrate import upgrade


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("BCL_STUDY_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BCL_DATABASE_URL", raising=False)

    def fast_database() -> StudyDatabase:  # the CLI's database, with cheap argon2 parameters
        database = StudyDatabase(password_hasher=FAST_HASHER)
        database.upgrade()
        return database

    monkeypatch.setattr("bcl_core.commands.study.database_from_env", fast_database)
    return tmp_path


def _otp(text: str) -> str:
    return re.search(r"shown once\): (\S+)", text).group(1)


def test_cli_init_import_users_assign_export(env, capsys, monkeypatch):
    assert main(["study", "init", "--coordinator", "boss"]) == 0
    otp = _otp(capsys.readouterr().out)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": otp)
    monkeypatch.setenv("BCL_STUDY_PASSWORD", "a long new password")
    assert main(["study", "passwd", "--user", "boss"]) == 0
    for n in range(2):
        write_case(env / "incoming", f"case_{n:03d}", seed=n)
    (env / "incoming" / "labels.csv").write_text(
        "case_id,type1,type2,type3,type4\ncase_000,1,0,0,0\ncase_001,0,1,0,0\n")
    assert main(["study", "create-study", "Pilot", "--user", "boss", "--seed", "3"]) == 0
    assert main(["study", "import", "1", str(env / "incoming"), "--user", "boss",
                 "--labels", str(env / "incoming" / "labels.csv")]) == 0
    assert main(["study", "add-user", "ann", "--role", "reader", "--user", "boss"]) == 0
    assert main(["study", "add-user", "bob", "--role", "adjudicator", "--user", "boss",
                 "--sso-email", "bob@hospital.example"]) == 0
    assert main(["study", "assign", "1", "ann", "--user", "boss"]) == 0
    assert main(["study", "progress", "1", "--user", "boss"]) == 0
    out = capsys.readouterr().out
    assert "imported 2 case(s)" in out and "2 reference label(s) set" in out
    assert "ann: 2 case(s)" in out and "ann\treader\t0/2" in out
    assert "bob (adjudicator) signs in with the organisation login" in out
    assert main(["study", "export", "1", "--out", str(env / "export"), "--user", "boss"]) == 0
    assert (env / "export" / "labels.csv").read_text().count("\n") == 3
    assert (env / "export" / "reads.csv").read_text().startswith("reader_id,case_id,type")


def test_cli_errors_are_one_line(env, capsys, monkeypatch):
    main(["study", "init", "--coordinator", "boss"])
    capsys.readouterr()
    monkeypatch.setenv("BCL_STUDY_PASSWORD", "wrong password")
    assert main(["study", "progress", "1", "--user", "boss"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Wrong username or password") and err.count("\n") == 1
    assert main(["study", "init", "--coordinator", "other"]) == 2
    assert "Accounts exist already" in capsys.readouterr().err


def test_sqlite_settings_wal_busy_timeout_and_immediate_writes(tmp_path):
    db = StudyDatabase(url=f"sqlite:///{tmp_path / 's.sqlite'}", data_dir=tmp_path)
    db.upgrade()
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute",
                 lambda conn, cursor, sql, *rest: statements.append(sql))
    from sqlalchemy import text

    pragmas = db.run(lambda s: (s.execute(text("PRAGMA journal_mode")).scalar(),
                                s.execute(text("PRAGMA busy_timeout")).scalar()), write=False)
    assert pragmas == ("wal", 60000)
    statements.clear()
    db.run(lambda s: s.execute(text("SELECT 1")), write=True)
    assert statements[0] == "BEGIN IMMEDIATE"
    statements.clear()
    db.run(lambda s: s.execute(text("SELECT 1")), write=False)
    assert statements[0] == "BEGIN"


def test_migrations_match_the_models_and_rerun_cleanly(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from bcl_core.study.models import Base

    db = StudyDatabase(url=f"sqlite:///{tmp_path / 'm.sqlite'}", data_dir=tmp_path)
    upgrade(db.engine)
    upgrade(db.engine)  # idempotent
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == [], "models changed without a migration: python -m bcl_core.study.migrate"
