"""Plain, detached results of the service functions (never ORM objects)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bcl_core.study.constants import Role


@dataclass(frozen=True)
class Actor:
    """The signed-in user on whose behalf a service function runs."""

    user_id: int
    username: str
    role: Role


@dataclass(frozen=True)
class LoginResult:
    """A new login session. ``token`` is a bearer secret: keep it in the browser session only."""

    token: str
    username: str
    role: Role
    must_change_password: bool
    expires_at: datetime


@dataclass(frozen=True)
class NewUser:
    """A created account with its one-time password (shown once, never stored in clear)."""

    user_id: int
    username: str
    role: Role
    one_time_password: str


@dataclass(frozen=True)
class UserInfo:
    user_id: int
    username: str
    role: Role
    active: bool
    locked: bool
    must_change_password: bool
    external_identity: str | None = None


@dataclass(frozen=True)
class StudyInfo:
    study_id: int
    name: str
    description: str
    n_cases: int


@dataclass(frozen=True)
class CaseInfo:
    case_id: int
    code: str
    content_sha256: str
    series: tuple[str, ...]


@dataclass(frozen=True)
class ImportReport:
    imported: tuple[str, ...]  # new case codes
    skipped_duplicates: int
    #: Files not stored, counted by reason (SOP class name such as "Encapsulated PDF
    #: Storage", or "not DICOM"); never file names.
    set_aside: tuple[tuple[str, int], ...] = ()

    def set_aside_summary(self) -> str:
        """E.g. ``'1 Encapsulated PDF Storage, 2 not DICOM'``; empty when nothing was set aside."""
        return ", ".join(f"{count} {reason}" for reason, count in self.set_aside)


@dataclass(frozen=True)
class CaseTarget:
    """The target vertebra of a case: its level and its body centre in each series (LPS mm)."""

    ct_point_mm: tuple[float, float, float]
    mr_point_mm: tuple[float, float, float]
    level: str


@dataclass(frozen=True)
class CaseToRead:
    """The next case of a reader: where its de-identified series lie, and their place in line."""

    study_id: int
    case_id: int
    code: str
    position: int  # 1-based place in this reader's order
    total: int
    series_dirs: dict[str, Path]
    amendment: bool  # True when re-answering an unlocked read
    target: CaseTarget | None = None


@dataclass(frozen=True)
class Progress:
    username: str
    role: Role
    done: int
    total: int


@dataclass(frozen=True)
class ReadAnswer:
    """One reader's answer on one case."""

    read_id: int
    case_code: str
    calls: dict[str, int]
    confidences: dict[str, int | None]
    comment: str
    time_spent_s: float
    submitted_at: datetime
    locked: bool


@dataclass(frozen=True)
class Disagreement:
    """A case whose two reference reads differ, with both answers, for the adjudicator."""

    case_id: int
    code: str
    reads: tuple[tuple[str, dict[str, int], str], ...]  # (username, calls, comment)
    series_dirs: dict[str, Path]
    target: CaseTarget | None = None


@dataclass(frozen=True)
class LabelInfo:
    case_code: str
    calls: dict[str, int]
    source: str
    decided_by: str | None
    note: str
