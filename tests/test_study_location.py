"""One study database for `bcl study`, `bcl demo` and the app, and the admin page names it."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_study_support import FAST_HASHER, PASSWORD, build_world

from bcl_core.study import StudyDatabase
from bcl_core.study.db import describe_location, resolve_location

REPO = Path(__file__).resolve().parent.parent
ADMIN_PAGE = str(REPO / "pages" / "study_admin.py")


def test_default_location_is_study_data_in_the_current_folder(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    monkeypatch.delenv("BCL_STUDY_DIR", raising=False)
    monkeypatch.delenv("BCL_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_location() == (None, tmp_path / "study_data")
    monkeypatch.setenv("BCL_STUDY_DIR", "elsewhere")  # relative: against the current folder
    assert resolve_location() == (None, tmp_path / "elsewhere")
    database = StudyDatabase()
    try:
        assert database.root == tmp_path / "elsewhere"
        assert describe_location(database) == f"SQLite file {tmp_path / 'elsewhere' / 'study.sqlite'}"
    finally:
        database.dispose()


def test_postgres_location_hides_the_password() -> None:
    database = StudyDatabase("postgresql+psycopg://coordinator:s3cret@db.example:5432/study")
    try:
        text = describe_location(database)
    finally:
        database.dispose()
    assert "s3cret" not in text and "db.example:5432/study" in text


def test_admin_page_names_the_database_it_uses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                repo_root: Path) -> None:
    monkeypatch.chdir(repo_root)
    monkeypatch.delenv("BCL_DATABASE_URL", raising=False)
    data = tmp_path / "study files"
    monkeypatch.setenv("BCL_STUDY_DIR", str(data))
    database = StudyDatabase(data_dir=data, password_hasher=FAST_HASHER)
    database.upgrade()
    build_world(database, n_cases=0)
    try:
        app = AppTest.from_file(ADMIN_PAGE, default_timeout=60)
        app.run()
        assert not any("Study database" in c.value for c in app.caption)  # not before login
        app.text_input(key="study_login_username").input("coordinator")
        app.text_input(key="study_login_password").input(PASSWORD)
        app.button[0].click().run()
        assert not app.exception, app.exception
        expected = f"Study database: SQLite file {data / 'study.sqlite'}"
        assert expected in [c.value for c in app.caption]
    finally:
        database.dispose()
