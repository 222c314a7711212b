"""Engine and transactions of the reader-study database.

SQLite is the default: one file under the data folder, in WAL mode (readers never block the
writer), with a busy timeout, and every write transaction opened with ``BEGIN IMMEDIATE`` so the
write lock is taken up front instead of on the first write, where SQLite could otherwise fail
with "database is locked" without waiting. ``BCL_DATABASE_URL`` points the study at PostgreSQL
instead (``postgresql+psycopg://user@host/db``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from argon2 import PasswordHasher
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bcl_core.errors import StudyError
from bcl_core.io.private_files import create_private_file, make_private_dir, restrict
from bcl_core.study.constants import SESSION_TTL

logger = logging.getLogger(__name__)

T = TypeVar("T")

DATABASE_URL_ENV = "BCL_DATABASE_URL"
DATA_DIR_ENV = "BCL_STUDY_DIR"
DEFAULT_DATA_DIR = Path("study_data")
SQLITE_FILENAME = "study.sqlite"
#: How long a SQLite writer waits for the lock before giving up (ms).
SQLITE_BUSY_TIMEOUT_MS = 60_000
#: Attempts of a write transaction that met a lock or serialisation failure.
WRITE_ATTEMPTS = 5

_WRITE_OPTION = "bcl_write"


def resolve_location(url: str | None = None, data_dir: str | Path | None = None
                     ) -> tuple[str | None, Path]:
    """Where the study lives: the one rule the app, ``bcl study`` and ``bcl demo`` all follow.

    Parameters
    ----------
    url
        Database URL; ``None`` uses ``BCL_DATABASE_URL``.
    data_dir
        Data folder; ``None`` uses ``BCL_STUDY_DIR``, else ``./study_data``.

    Returns
    -------
    tuple
        ``(url or None, data folder)``. ``None`` means the SQLite file in the data folder. The
        folder is made absolute against the current folder, so a process started elsewhere
        (``bcl demo`` serves the app from the repository) can be handed the same one.
    """
    folder = Path(data_dir or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)
    return (url or os.environ.get(DATABASE_URL_ENV) or None), folder.absolute()


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _make_sqlite_file_private(url: str) -> None:
    """Create the SQLite file owner-only (0600) before SQLite does: SQLite gives its WAL and
    shared-memory files the database file's mode. Files of older versions are restricted."""
    if not _is_sqlite(url):
        return
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.exists():
        make_private_dir(path.parent)
    create_private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        if Path(f"{path}{suffix}").exists():
            restrict(f"{path}{suffix}")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode survives a crash of the process; only a power cut can lose the
        # last commits.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _is_retryable(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return any(
        marker in text
        for marker in ("database is locked", "database is busy", "could not serialize",
                       "deadlock detected")
    )


@dataclass
class StudyDatabase:
    """The study database: engine, sessions and settings shared by every service function.

    Parameters
    ----------
    url:
        SQLAlchemy URL. ``None`` uses ``BCL_DATABASE_URL`` or a SQLite file in ``data_dir``.
    data_dir:
        Root folder of the de-identified case copies (and of the SQLite file by default).
        ``None`` uses ``BCL_STUDY_DIR`` or ``./study_data``.
    password_hasher:
        argon2 hasher; tests pass a cheap one.
    session_ttl:
        Lifetime of a login session.

    Examples
    --------
    >>> db = StudyDatabase("sqlite://")   # in memory, for a quick look
    >>> db.dialect
    'sqlite'
    """

    url: str | None = None
    data_dir: Path | None = None
    password_hasher: PasswordHasher = field(default_factory=PasswordHasher)
    session_ttl: timedelta = SESSION_TTL
    engine_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        url, self.data_dir = resolve_location(self.url, self.data_dir)
        if not url:
            make_private_dir(self.data_dir)
            url = f"sqlite:///{(self.data_dir / SQLITE_FILENAME).resolve()}"
        self.url = url
        _make_sqlite_file_private(url)
        options: dict[str, Any] = {"pool_pre_ping": not _is_sqlite(url)}
        options.update(self.engine_options)
        self.engine = create_engine(url, **options)
        if _is_sqlite(url):
            _configure_sqlite(self.engine)
        self._write_engine = self.engine.execution_options(**{_WRITE_OPTION: True})
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(self._write_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @property
    def root(self) -> Path:
        """The data folder, as a resolved path."""
        assert self.data_dir is not None
        return self.data_dir

    def upgrade(self) -> None:
        """Create or migrate the schema to the newest version (idempotent)."""
        from bcl_core.study.migrate import upgrade

        upgrade(self.engine)

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reading; closed (its transaction rolled back) at the end.

        Objects loaded in it stay readable afterwards, detached.
        """
        with self._read_sessions() as session:
            yield session

    def run(self, work: Callable[[Session], T], write: bool) -> T:
        """Run ``work(session)`` in one transaction and return its result.

        Write transactions take the write lock up front (SQLite ``BEGIN IMMEDIATE``), commit
        at the end, and are retried when the database reports a lock or serialisation failure,
        so such failures never reach a user unless they persist.

        Raises
        ------
        StudyError
            If the database stays locked through every attempt.
        """
        if not write:
            with self.read_session() as session:
                return work(session)
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self._write_sessions.begin() as session:
                    return work(session)
            except OperationalError as exc:
                if not _is_retryable(exc) or attempt == WRITE_ATTEMPTS:
                    if _is_retryable(exc):
                        raise StudyError(
                            "The study database is busy; please submit again in a moment."
                        ) from exc
                    raise StudyError(
                        f"The study database cannot be reached ({type(exc.orig).__name__}); "
                        "check BCL_DATABASE_URL or the data folder."
                    ) from exc
                logger.info("write transaction retried after a lock (attempt %d)", attempt)
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def describe_location(database: StudyDatabase) -> str:
    """Which database ``database`` is, in words for the admin page (password hidden).

    Examples
    --------
    >>> describe_location(StudyDatabase("postgresql+psycopg://u:secret@db.example/study"))
    'PostgreSQL postgresql+psycopg://u:***@db.example/study'
    """
    if database.dialect == "sqlite":
        return f"SQLite file {database.engine.url.database or '(in memory)'}"
    return f"PostgreSQL {database.engine.url.render_as_string(hide_password=True)}"


def database_from_env() -> StudyDatabase:
    """The study database configured by ``BCL_DATABASE_URL`` / ``BCL_STUDY_DIR``, migrated."""
    database = StudyDatabase()
    database.upgrade()
    return database
