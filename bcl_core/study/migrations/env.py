"""Alembic environment of the reader-study schema (run through bcl_core.study.migrate)."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context

from bcl_core.study.models import Base, UTCDateTime


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    # Migrations store plain DateTime; the UTC handling is Python-side only.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


def _run() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


# Alembic runs this file; a plain import (e.g. doctest collection) has no context to run in.
if hasattr(context, "config"):
    _run()
