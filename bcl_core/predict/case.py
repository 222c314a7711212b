"""A case for prediction: the axial CT and the sagittal T2 MRI chosen from one input.

The one case loader of the product: ``bcl predict``, the Consult page and the benchmarks all
call :func:`load_case`, so the same upload always gives the same two series (and so the same
probabilities). Series choice (:func:`select_series`), the rule written down once:

* only series the scan found fit for prediction in the role (``ct_axial``, ``mr_sagittal``);
* among several, the one with the most slices (the thin-slice reconstruction of a CT, the full
  sagittal stack of an MRI);
* for the MRI, an explicit T2 before one of unknown weighting, whatever their slice counts;
* on a tie, the series listed first.

Heavy modules (DICOM decoding) load on first use, so importing this module stays cheap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from bcl_core.errors import InputError

if TYPE_CHECKING:
    from bcl_core.io import SeriesInfo
    from bcl_core.io.sources import InputSource
    from bcl_core.volume import Volume

logger = logging.getLogger(__name__)

Role = Literal["ct", "mr"]
ROLES: tuple[Role, ...] = ("ct", "mr")
#: Plain names of the two series, for messages.
ROLE_NAMES: Mapping[Role, str] = {"ct": "axial CT", "mr": "sagittal T2 MRI"}
#: The scan's role (:attr:`bcl_core.io.SeriesInfo.role`) each series must have.
SCAN_ROLES: Mapping[Role, str] = {"ct": "ct_axial", "mr": "mr_sagittal"}
#: The words the series table uses for what a series serves as.
_USE_WORDS = {"ct_axial": "CT (axial)", "mr_sagittal": "MRI (sagittal)"}


def _ct_rank(info: SeriesInfo) -> tuple[Any, ...]:
    return (info.n_slices, -info.index)


def _mr_rank(info: SeriesInfo) -> tuple[Any, ...]:
    return (info.weighting == "T2", info.n_slices, -info.index)


_RANKS: Mapping[Role, Callable[[SeriesInfo], tuple[Any, ...]]] = {"ct": _ct_rank, "mr": _mr_rank}


def select_series(series: Sequence[SeriesInfo]) -> dict[Role, int | None]:
    """Index of the series to use per role (``None`` where none is fit); see the module notes.

    Parameters
    ----------
    series:
        The scanned series (:attr:`bcl_core.io.DicomScan.series`).

    Returns
    -------
    dict
        ``{"ct": index or None, "mr": index or None}``.

    Examples
    --------
    A case with a scout, an axial CT and a sagittal T2 gives ``{'ct': 1, 'mr': 2}``.
    """
    picked: dict[Role, int | None] = {}
    for role in ROLES:
        candidates = [s for s in series if s.role == SCAN_ROLES[role] and s.fit_for_prediction]
        picked[role] = max(candidates, key=_RANKS[role]).index if candidates else None
    return picked


@dataclass(frozen=True)
class SeriesRow:
    """One line of the "what was found" table (no identifying data)."""

    index: int
    label: str
    modality: str
    plane: str
    size: str
    spacing_mm: str
    slices: int
    use: str
    fit: bool
    notes: str

    @classmethod
    def from_info(cls, info: SeriesInfo) -> SeriesRow:
        """Summarise a scanned series."""
        spacing = "x".join(f"{s:.3g}" for s in info.spacing) if info.spacing else "-"
        notes = [p.message for p in info.problems]
        if info.unfit_reason and info.unfit_reason not in notes:
            notes.insert(0, info.unfit_reason)
        return cls(index=info.index, label=info.label, modality=info.modality,
                   plane=info.plane or "-", size=f"{info.columns}x{info.rows}",
                   spacing_mm=spacing, slices=info.n_slices, use=_USE_WORDS.get(info.role, "-"),
                   fit=info.fit_for_prediction, notes="; ".join(notes))


@dataclass
class LoadedCase:
    """A scanned input and the two series read from it.

    Attributes
    ----------
    rows:
        Every image series found, for the table.
    skipped:
        Plain summary of files set aside (``'3 not DICOM'``), empty when none.
    choices:
        Series index per role (``None`` when no fit series was found).
    volumes:
        The series read, per role.
    """

    rows: list[SeriesRow]
    skipped: str
    choices: dict[Role, int | None]
    volumes: dict[Role, Volume] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        """Both series are there."""
        return all(role in self.volumes for role in ROLES)

    @property
    def missing_message(self) -> str | None:
        """What is missing for a prediction, in words a clinician can act on; ``None`` if ready.
        """
        missing = [ROLE_NAMES[role] for role in ROLES if role not in self.volumes]
        if not missing:
            return None
        found = ", ".join(f"{row.modality} {row.plane}" for row in self.rows) or "nothing"
        if len(self.rows) == 1:
            start = "Only one image series was found"
        else:
            start = f"{len(self.rows)} image series were found"
        reasons = "; ".join(f"{row.label}: {row.notes}" for row in self.rows
                            if not row.fit and row.notes)
        why = f" Passed over: {reasons}." if reasons else ""
        return (f"{start} ({found}), but no {' and no '.join(missing)} fit for prediction.{why} "
                "A prediction needs the preoperative axial CT and the sagittal T2 MRI of the "
                "same patient: add the missing series to the input (one zip or folder with "
                "both), or choose another series if one was passed over.")

    def series(self, role: Role) -> Volume:
        """The series read for ``role``.

        Raises
        ------
        InputError
            If that series is missing (the message says what was found and what to add).
        """
        volume = self.volumes.get(role)
        if volume is None:
            raise InputError(self.missing_message or f"No {ROLE_NAMES[role]} was read.")
        return volume

    @property
    def ct(self) -> Volume:
        """The axial CT (:class:`InputError` if missing)."""
        return self.series("ct")

    @property
    def mr(self) -> Volume:
        """The sagittal T2 MRI (:class:`InputError` if missing)."""
        return self.series("mr")


class Releasable(Protocol):
    """Something holding decoded series that can let them go (the app's consult)."""

    def release(self) -> None:
        """Drop the decoded series."""


def load_case(source: InputSource, choices: Mapping[Role, int | None] | None = None, *,
              replacing: Releasable | None = None) -> LoadedCase:
    """Scan ``source`` and read its CT and MRI (chosen by :func:`select_series` unless given).

    Parameters
    ----------
    source:
        A case folder, a zip, a file list, uploads or ``(name, bytes)`` pairs (see
        :func:`bcl_core.io.open_input`).
    choices:
        Series index per role to read instead of the rule's choice (an index outside the scan
        is ignored).
    replacing:
        What the new case replaces (the app's consult): released once the input has been
        scanned and before any series is decoded, so a session never holds two decoded
        volumes of one modality. A refused input (a bad zip, no images) leaves it untouched.

    Returns
    -------
    LoadedCase
        Even when a series is missing (:attr:`LoadedCase.missing_message` says so;
        :attr:`LoadedCase.ct` / :attr:`LoadedCase.mr` raise it as an :class:`InputError`).

    Raises
    ------
    NoImagesError
        If no DICOM image series is in the input.
    UnsafeArchiveError, InputError
        If a zip is refused or the input cannot be read.
    SeriesError
        If a chosen series cannot be decoded.
    """
    # Looked up at call time: the module stays light, and tests can watch the decoding.
    from bcl_core import io
    from bcl_core.io.dicom_reader import no_images_error

    with io.open_input(source) as files:
        scan = io.scan_files(files)
        if not scan.series:
            raise no_images_error(scan, "the input")
        picked = select_series(scan.series)
        if choices:
            picked.update({role: index for role, index in choices.items()
                           if index is not None and 0 <= index < len(scan.series)})
        if replacing is not None:
            replacing.release()
        volumes: dict[Role, Volume] = {}
        for role in ROLES:
            index = picked[role]
            if index is not None:
                volumes[role] = io.read_series(scan.series[index])
        rows = [SeriesRow.from_info(info) for info in scan.series]
    logger.info("case loaded: %d series, CT #%s, MRI #%s", len(rows), picked["ct"], picked["mr"])
    return LoadedCase(rows=rows, skipped=scan.skipped_summary(), choices=picked, volumes=volumes)
