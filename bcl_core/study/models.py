"""SQLAlchemy 2 models of the reader-study database.

Nothing that identifies a patient is stored: cases carry a study code, the SHA-256 of their
source folder name (so reference labels in a CSV can be matched without keeping the name) and
the content hash of their de-identified files. Times are stored as naive UTC and returned as
timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime stored as naive UTC on every backend and read back as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints stably."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TypeCallsMixin:
    """0/1 call per leakage type (NULL only where the type was not answered)."""

    type1: Mapped[int] = mapped_column(Integer)
    type2: Mapped[int] = mapped_column(Integer)
    type3: Mapped[int] = mapped_column(Integer)
    type4: Mapped[int] = mapped_column(Integer)


class Study(Base):
    __tablename__ = "study"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    order_seed: Mapped[int] = mapped_column(Integer)
    #: Random per-study salt inside the source-folder hashes (not secret: the secret is the
    #: study key outside the database, see bcl_core.study.keys; the salt keeps studies apart).
    salt: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    __tablename__ = "study_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    #: Identity at the organisation's OIDC provider (its e-mail), for single sign-on.
    external_identity: Mapped[str | None] = mapped_column(String(255), unique=True,
                                                          nullable=True)
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuthSession(Base):
    __tablename__ = "auth_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("study_user.id"), index=True)
    #: Only the SHA-256 of the bearer token is stored; the token itself lives in the browser.
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


#: How ``Case.source_key_sha256`` was made: HMAC-SHA-256 under the study key (now), or the
#: plain salted SHA-256 of databases from before migration 0002_privacy (keyed on first use).
SOURCE_KEY_SCHEME = "hmac-sha256"
LEGACY_SOURCE_KEY_SCHEME = "sha256"


class Case(Base):
    __tablename__ = "study_case"
    __table_args__ = (
        UniqueConstraint("study_id", "code"),
        UniqueConstraint("study_id", "source_key_sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    source_key_sha256: Mapped[str] = mapped_column(String(64))
    source_key_scheme: Mapped[str] = mapped_column(
        String(16), default=SOURCE_KEY_SCHEME, server_default=LEGACY_SOURCE_KEY_SCHEME)
    content_sha256: Mapped[str] = mapped_column(String(64))
    #: Folder of the de-identified copy, relative to the data root.
    storage_path: Mapped[str] = mapped_column(String(500))
    series: Mapped[str] = mapped_column(String(100))  # comma-separated sub-folders present
    #: JSON ``{"ct_point_mm", "mr_point_mm", "level"}``: which vertebra is the target (shown to
    #: readers, used by the model). Never labels or anything else from truth.json.
    target_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Assignment(Base):
    __tablename__ = "assignment"
    __table_args__ = (UniqueConstraint("study_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("study_user.id"), index=True)
    seed: Mapped[int] = mapped_column(Integer)
    #: JSON list of case ids in this reader's reading order.
    case_order: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Read(TypeCallsMixin, Base):
    """A prediction reader's answer on one case; locked on submit."""

    __tablename__ = "read"
    __table_args__ = (UniqueConstraint("case_id", "reader_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("study_case.id"), index=True)
    reader_id: Mapped[int] = mapped_column(ForeignKey("study_user.id"), index=True)
    confidence1: Mapped[int | None] = mapped_column(Integer, nullable=True)
    confidence2: Mapped[int | None] = mapped_column(Integer, nullable=True)
    confidence3: Mapped[int | None] = mapped_column(Integer, nullable=True)
    confidence4: Mapped[int | None] = mapped_column(Integer, nullable=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    time_spent_s: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked: Mapped[bool] = mapped_column(Boolean, default=True)
    amendments: Mapped[int] = mapped_column(Integer, default=0)


class ReadAmendment(Base):
    """Audit trail of an amendment: who allowed it, why, and the answer it replaced."""

    __tablename__ = "read_amendment"

    id: Mapped[int] = mapped_column(primary_key=True)
    read_id: Mapped[int] = mapped_column(ForeignKey("read.id"), index=True)
    allowed_by_id: Mapped[int] = mapped_column(ForeignKey("study_user.id"))
    reason: Mapped[str] = mapped_column(Text)
    allowed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    previous_answer: Mapped[str] = mapped_column(Text)  # JSON
    new_answer: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON, on resubmit
    amended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ReferenceRead(TypeCallsMixin, Base):
    """A reference reader's observed leakage on one case."""

    __tablename__ = "reference_read"
    __table_args__ = (UniqueConstraint("case_id", "reader_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("study_case.id"), index=True)
    reader_id: Mapped[int] = mapped_column(ForeignKey("study_user.id"), index=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReferenceLabel(TypeCallsMixin, Base):
    """The final reference label of a case: agreement, adjudication or import."""

    __tablename__ = "reference_label"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("study_case.id"), unique=True)
    source: Mapped[str] = mapped_column(String(16))  # agreement | adjudicated | imported
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("study_user.id"), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelPrediction(Base):
    __tablename__ = "model_prediction"
    __table_args__ = (UniqueConstraint("case_id", "model_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("study_case.id"), index=True)
    model_version: Mapped[str] = mapped_column(String(100))
    prob1: Mapped[float] = mapped_column(Float)
    prob2: Mapped[float] = mapped_column(Float)
    prob3: Mapped[float] = mapped_column(Float)
    prob4: Mapped[float] = mapped_column(Float)
    call1: Mapped[int] = mapped_column(Integer)
    call2: Mapped[int] = mapped_column(Integer)
    call3: Mapped[int] = mapped_column(Integer)
    call4: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(Base):
    """Who did what, when; details never hold passwords, tokens or patient data."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("study_user.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")
