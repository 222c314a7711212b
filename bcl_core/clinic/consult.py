"""The consult page's logic: load a case, pick its series, mark the vertebra, predict.

The Streamlit page (``pages/consult.py``) only shows and asks; every decision lives here:

* :func:`~bcl_core.predict.case.load_case` (the product's one case loader, the same as ``bcl predict``
  uses) scans an upload (files, a folder, a zip) or a folder, chooses the axial CT and the
  sagittal T2 MRI (:func:`~bcl_core.predict.case.select_series`), reads them, and says in plain words
  what is missing (:attr:`~bcl_core.predict.case.LoadedCase.missing_message`);
* :class:`ConsultCase` is the per-session state of one consult (the case, the marked points,
  the outlines, the result); it lives in the user's session only, never in a shared cache;
* :func:`mark_point` segments the vertebra at a click at once, so the outline shows before the
  prediction, and turns a click off the vertebra into a message;
* :func:`run_prediction` calls :func:`bcl_core.predict.pipeline.predict_case` with the outlines the
  surgeon saw (they are not segmented again) and per-stage progress.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from bcl_core.errors import BCLError, PipelineError, SegmentationError

# The case loader and its types are the product's one (bcl_core.predict.case); the page reaches them
# through this module.
from bcl_core.predict.case import ROLE_NAMES as ROLE_NAMES
from bcl_core.predict.case import ROLES as ROLES
from bcl_core.predict.case import LoadedCase as LoadedCase
from bcl_core.predict.case import Role as Role
from bcl_core.predict.case import SeriesRow as SeriesRow
from bcl_core.predict.case import load_case as load_case

if TYPE_CHECKING:  # the heavy modules load on first use: the page's first view stays fast
    from bcl_core.clinic.viewer import ViewPlane
    from bcl_core.predict.pipeline import PipelineModels, PredictionResult
    from bcl_core.volume import Volume

logger = logging.getLogger(__name__)

#: Plain names of the pipeline's stages, in the order they run (``loading`` is the models).
STAGE_LABELS: Mapping[str, str] = {
    "loading": "Loading the models",
    "segmentation_ct": "Segmenting the vertebra on CT",
    "segmentation_mr": "Segmenting the vertebra on MRI",
    "roi": "Cropping the region around the vertebra",
    "classification": "Estimating the leakage risk",
    "gradcam": "Computing the heat maps",
}


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

    def release(self) -> None:
        """Drop the decoded volumes, outlines and result, freeing their memory.

        :func:`~bcl_core.predict.case.load_case` calls it (``replacing=``) before another case is
        decoded into the same session; the consult is then empty (as before any load) until the
        new case replaces it.
        """
        self.case = None
        self.result = None
        self.marks = {role: Marking() for role in ROLES}
        self.click_tokens = {}


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
    from bcl_core.predict.segment import segment_vertebra

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


def slice_positions(volume: Volume, point_mm: ArrayLike, planes: Sequence[ViewPlane]
                    ) -> dict[ViewPlane, float]:
    """Per display plane, the position (mm) of the slice through ``point_mm``.

    Used to move the viewers to a marked point (a typed point, or the demo's), so that the
    outline drawn there is in view.
    """
    from bcl_core.clinic.viewer import slice_geometry

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
    """Predict from the marked points and the outlines shown; stores and returns the result.

    The model gets the masks the surgeon saw (:attr:`Marking.mask`), not a second segmentation.
    ``progress`` is called with each stage's key (see :data:`STAGE_LABELS`) as it starts; the
    result's ``timings_s`` gains ``loading`` (the time to get the models).

    Raises
    ------
    PipelineError
        If the case or the points are not ready.
    ModelError, SegmentationError
        As :func:`bcl_core.predict.pipeline.predict_case`.
    """
    from bcl_core.predict.pipeline import PipelineModels, predict_case

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
                          points["mr"], ct_mask=consult.marks["ct"].mask,
                          mr_mask=consult.marks["mr"].mask, models=loaded, progress=notify)
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
