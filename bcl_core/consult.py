"""The consult page's logic: load a case, pick its series, mark the vertebra, predict.

The Streamlit page (``pages/consult.py``) only shows and asks; every decision lives here:

* :func:`load_case` scans an upload (files, a folder, a zip) or a folder, pre-selects the axial
  CT and the sagittal T2 MRI (:func:`preselect`), reads them, and says in plain words what is
  missing (:attr:`LoadedCase.missing_message`);
* :class:`ConsultCase` is the per-session state of one consult (the case, the marked points,
  the outlines, the result); it lives in the user's session only, never in a shared cache;
* :func:`mark_point` segments the vertebra at a click at once, so the outline shows before the
  prediction, and turns a click off the vertebra into a message;
* :func:`run_prediction` calls :func:`bcl_core.pipeline.predict_case` with per-stage progress.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from bcl_core.errors import BCLError, PipelineError, SegmentationError

if TYPE_CHECKING:  # the heavy modules load on first use: the page's first view stays fast
    from bcl_core.io import SeriesInfo
    from bcl_core.io.sources import InputSource
    from bcl_core.pipeline import PipelineModels, PredictionResult
    from bcl_core.volume import Volume

logger = logging.getLogger(__name__)

Role = Literal["ct", "mr"]
ROLES: tuple[Role, ...] = ("ct", "mr")
ROLE_NAMES: Mapping[Role, str] = {"ct": "axial CT", "mr": "sagittal T2 MRI"}

#: Plain names of the pipeline's stages, in the order they run (``loading`` is the models).
STAGE_LABELS: Mapping[str, str] = {
    "loading": "Loading the models",
    "segmentation_ct": "Segmenting the vertebra on CT",
    "segmentation_mr": "Segmenting the vertebra on MRI",
    "roi": "Cropping the region around the vertebra",
    "classification": "Estimating the leakage risk",
    "gradcam": "Computing the heat maps",
}


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
        use = {"ct_axial": "CT (axial)", "mr_sagittal": "MRI (sagittal)"}.get(info.role, "-")
        return cls(index=info.index, label=info.label, modality=info.modality,
                   plane=info.plane or "-", size=f"{info.columns}x{info.rows}",
                   spacing_mm=spacing, slices=info.n_slices, use=use,
                   fit=info.fit_for_prediction, notes="; ".join(notes))


def preselect(series: Sequence[SeriesInfo]) -> dict[Role, int | None]:
    """Indices of the series to use: the axial CT and the sagittal T2 MRI.

    Among several fit candidates the one with the most slices wins (the thin-slice
    reconstruction of a CT, the full sagittal stack of an MRI); an MRI of unknown weighting
    comes after an explicit T2.

    Examples
    --------
    A case with a scout, an axial CT and a sagittal T2 gives ``{'ct': 1, 'mr': 2}``.
    """
    def best(role: str, rank: Callable[[SeriesInfo], tuple[Any, ...]]) -> int | None:
        candidates = [s for s in series if s.role == role and s.fit_for_prediction]
        return max(candidates, key=rank).index if candidates else None

    return {
        "ct": best("ct_axial", lambda s: (s.n_slices, -s.index)),
        "mr": best("mr_sagittal", lambda s: (s.weighting == "T2", s.n_slices, -s.index)),
    }


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
        return (f"{start} ({found}), but no {' and no '.join(missing)} fit for prediction. "
                "A prediction needs the preoperative axial CT and the sagittal T2 MRI of the "
                "same patient: add the missing series to the upload (one zip or folder with "
                "both), or choose another series below if one was passed over.")


def load_case(source: InputSource, choices: Mapping[Role, int | None] | None = None,
              replacing: ConsultCase | None = None) -> LoadedCase:
    """Scan ``source`` and read the CT and MRI series (pre-selected unless ``choices`` given).

    Parameters
    ----------
    source:
        Uploads, a ``(name, bytes)`` list, a folder or a zip (see
        :func:`bcl_core.io.open_input`).
    choices:
        Series index per role to read instead of the pre-selection.
    replacing:
        The session's current consult: once the new input has been scanned (and before any
        series is decoded) its volumes, outlines and result are released (:func:`release_case`),
        so a session never holds two decoded volumes of one modality. A refused input (a bad
        zip, no images) leaves it untouched.

    Returns
    -------
    LoadedCase
        Even when a series is missing (then :attr:`LoadedCase.missing_message` says so).

    Raises
    ------
    NoImagesError
        If no DICOM image series is in the input.
    UnsafeArchiveError, InputError
        If a zip is refused or the input cannot be read.
    SeriesError
        If a chosen series cannot be decoded.
    """
    from bcl_core.io import open_input, read_series, scan_files
    from bcl_core.io.dicom_reader import no_images_error

    with open_input(source) as files:
        scan = scan_files(files)
        if not scan.series:
            raise no_images_error(scan, "the upload")
        picked: dict[Role, int | None] = dict(preselect(scan.series))
        if choices:
            picked.update({role: index for role, index in choices.items()
                           if index is not None and 0 <= index < len(scan.series)})
        if replacing is not None:
            release_case(replacing)
        volumes: dict[Role, Volume] = {}
        for role in ROLES:
            index = picked[role]
            if index is not None:
                volumes[role] = read_series(scan.series[index])
        rows = [SeriesRow.from_info(info) for info in scan.series]
    logger.info("case loaded: %d series, CT %s, MRI %s", len(rows), picked["ct"], picked["mr"])
    return LoadedCase(rows=rows, skipped=scan.skipped_summary(), choices=picked, volumes=volumes)


@dataclass
class Marking:
    """The surgeon's mark on one series: the point, the outline found there, or why not."""

    point_mm: tuple[float, float, float] | None = None
    mask: Volume | None = None
    message: str | None = None


@dataclass
class ConsultCase:
    """One consult's state, kept in the user's session only.

    Attributes
    ----------
    case:
        The loaded series (``None`` before a case is loaded).
    source_name:
        What the case came from, for the page (``'demo case'``, ``'upload (3 files)'``).
    marks:
        The marked point and outline per role.
    result:
        The last prediction, cleared whenever a mark changes.
    click_tokens:
        The last click handled per viewer (see :func:`is_new_click`).
    """

    case: LoadedCase | None = None
    source_name: str = ""
    marks: dict[Role, Marking] = field(default_factory=lambda: {r: Marking() for r in ROLES})
    result: PredictionResult | None = None
    click_tokens: dict[str, Any] = field(default_factory=dict)

    @property
    def points_ready(self) -> bool:
        """Both vertebrae are marked and outlined."""
        return all(self.marks[r].mask is not None for r in ROLES)

    def points(self) -> dict[Role, tuple[float, float, float] | None]:
        """The marked points per role."""
        return {role: self.marks[role].point_mm for role in ROLES}


def release_case(consult: ConsultCase) -> None:
    """Drop the consult's decoded volumes, outlines and result, freeing their memory.

    Called before another case is decoded into the same session; the consult is then empty
    (as before any load) until the new case replaces it.
    """
    consult.case = None
    consult.result = None
    consult.marks = {role: Marking() for role in ROLES}
    consult.click_tokens = {}


def new_consult(case: LoadedCase, source_name: str) -> ConsultCase:
    """A fresh consult for a newly loaded case (marks and result start empty)."""
    return ConsultCase(case=case, source_name=source_name)


def is_new_click(consult: ConsultCase, viewer_key: str, click: Mapping[str, Any] | None) -> bool:
    """Whether ``click`` (the click component's value) is one not handled yet; records it.

    The click component reports its last click again on every rerun (and after the slice
    changes): only a click with a new time stamp is a new mark.
    """
    if not click:
        return False
    token = (click.get("unix_time"), click.get("x"), click.get("y"))
    if consult.click_tokens.get(viewer_key) == token:
        return False
    consult.click_tokens[viewer_key] = token
    return True


def mark_point(consult: ConsultCase, role: Role, point_mm: ArrayLike,
               model: Any | None = None) -> Marking:
    """Mark the target vertebra on one series and outline it at once.

    A re-mark replaces the previous outline; any earlier prediction is cleared (it was made
    from other points). A point off the vertebra keeps the point, drops the outline and stores
    the reason in :attr:`Marking.message`.

    Parameters
    ----------
    consult:
        The session's consult (its case must be loaded).
    role:
        ``"ct"`` or ``"mr"``.
    point_mm:
        LPS mm of the click in that series' frame.
    model:
        Segmentation model; defaults to the shipped one for the modality.

    Raises
    ------
    ModelError
        If no segmentation model is installed.
    """
    from bcl_core.segment import segment_vertebra

    if consult.case is None or role not in consult.case.volumes:
        raise SegmentationError(f"Load a case with a {ROLE_NAMES[role]} before marking it.")
    point = tuple(float(v) for v in np.asarray(point_mm, dtype=float).reshape(3))
    consult.result = None
    try:
        mask = segment_vertebra(consult.case.volumes[role], point, model)
    except SegmentationError as exc:
        marking = Marking(point_mm=point, mask=None, message=str(exc))  # type: ignore[arg-type]
    else:
        marking = Marking(point_mm=point, mask=mask, message=None)  # type: ignore[arg-type]
    consult.marks[role] = marking
    return marking


def slice_positions(volume: Volume, point_mm: ArrayLike, planes: Sequence[str]
                    ) -> dict[str, float]:
    """Per display plane, the position (mm) of the slice through ``point_mm``.

    Used to move the viewers to a marked point (a typed point, or the demo's), so that the
    outline drawn there is in view.
    """
    from bcl_core.viewer import slice_geometry

    point = np.asarray(point_mm, dtype=float).reshape(3)
    normal_axis = {"axial": 2, "sagittal": 0, "coronal": 1}
    positions = {}
    for plane in planes:
        geometry = slice_geometry(volume, plane)  # type: ignore[arg-type]
        positions[plane] = float(geometry.position_mm(
            geometry.index_at(float(point[normal_axis[plane]]))))
    return positions


def run_prediction(consult: ConsultCase, progress: Callable[[str], None] | None = None,
                   models: PipelineModels | None = None) -> PredictionResult:
    """Predict from the marked points; stores and returns the result.

    ``progress`` is called with each stage's key (see :data:`STAGE_LABELS`) as it starts; the
    result's ``timings_s`` gains ``loading`` (the time to get the models).

    Raises
    ------
    PipelineError
        If the case or the points are not ready.
    ModelError, SegmentationError
        As :func:`bcl_core.pipeline.predict_case`.
    """
    from bcl_core.pipeline import PipelineModels, predict_case

    if consult.case is None or not consult.case.ready:
        raise PipelineError("Load a case with both the CT and the MRI first.")
    points = consult.points()
    if not consult.points_ready or points["ct"] is None or points["mr"] is None:
        raise PipelineError("Mark the fractured vertebra on both the CT and the MRI first "
                            "(its outline must show on each).")
    notify = progress or (lambda stage: None)
    notify("loading")
    start = time.perf_counter()
    loaded = models or PipelineModels.load()
    loading_s = time.perf_counter() - start
    result = predict_case(consult.case.volumes["ct"], consult.case.volumes["mr"], points["ct"],
                          points["mr"], models=loaded, progress=notify)
    timings = {"loading": loading_s, **result.timings_s}
    timings["total"] = result.timings_s.get("total", 0.0) + loading_s
    consult.result = replace(result, timings_s=timings)
    return consult.result


def user_message(error: BaseException) -> str:
    """The message to show a clinician for an error raised while handling a case.

    :class:`BCLError` messages are written for users; memory exhaustion gets its own advice;
    anything else is a bug, reported without internals.
    """
    if isinstance(error, BCLError):
        return str(error)
    if isinstance(error, MemoryError):
        return ("The case is too large for this computer's memory. Upload only the CT and MRI "
                "series needed (not the whole study), or use a computer with more memory.")
    return ("Something went wrong while handling this case. The details were logged for the "
            "maintainers; try again, or try another export of the case.")
