"""Versioned schema migrations of the study database (Alembic, shipped inside the package).

``upgrade(engine)`` brings any database to the newest schema. To add a migration after changing
``models.py``: ``python -m bcl_core.study.migrate revision "what changed"`` (autogenerates a
script under ``migrations/versions`` against a scratch SQLite database).
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    """An Alembic config that runs this package's migrations on ``engine``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` to ``revision`` (default: the newest)."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    logger.info("study schema at %s", revision)


def _autogenerate(message: str) -> None:  # pragma: no cover - developer tool
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{scratch}/scratch.sqlite")
        upgrade(engine)
        config = alembic_config(engine)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.revision(config, message=message, autogenerate=True)


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) != 3 or sys.argv[1] != "revision":
        sys.stderr.write('usage: python -m bcl_core.study.migrate revision "message"\n')
        sys.exit(2)
    _autogenerate(sys.argv[2])
