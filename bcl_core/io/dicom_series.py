"""Group slice headers into series, check their geometry, decide repair or refusal, classify.

Each problem the checks find gets one of three outcomes, in the spirit of dcm2niix:

========================  ========  ==========================================================
problem                   outcome   what happens
========================  ========  ==========================================================
mixed sizes/orientations  repaired  one SeriesInstanceUID is split into one series per
                                    orientation, matrix size, pixel spacing and echo
duplicate copies          repaired  the same instance (same SOPInstanceUID) found twice is
                                    read once
duplicate positions       refused   different images at one position (repeated runs, time
                                    points): the volume would be ambiguous
missing slices            refused   a gap that is a whole number of slice steps: the series
                                    is incomplete and must be sent again
non-uniform spacing       repaired  resampled by linear interpolation to the median spacing
                                    when no step exceeds twice that spacing
wide gap                  refused   a step over twice the spacing (not a whole multiple):
                                    slices are missing; nothing is made up to fill it
gantry tilt               repaired  each slice shifted within its plane to an upright grid
missing geometry tags     refused   slices cannot be placed in 3D
implausible position      refused   a slice more than 10 m from the origin (corrupt header)
pixel data size           refused   more uncompressed pixel data than Rows x Columns state
too large                 refused   decoded size over ``BCL_MAX_SERIES_SIZE``, from headers
colour images             refused   screenshots / secondary captures, not measurements
single slice              note      readable, listed, not offered for prediction
========================  ========  ==========================================================

Slice spacing always comes from ImagePositionPatient along the slice normal, never from
SliceThickness (which is the reconstructed thickness, not the distance between slices).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from bcl_core.io.descriptors import clean_description
from bcl_core.io.dicom_headers import SliceHeader
from bcl_core.io.limits import MAX_SERIES_SIZE_ENV, series_size_limit
from bcl_core.volume import Plane, plane_of_normal

logger = logging.getLogger(__name__)

Outcome = Literal["repaired", "refused", "note"]
Role = Literal["ct_axial", "mr_sagittal", "other"]

#: Two slices closer than this along the normal (mm) sit at the same position.
DUPLICATE_TOLERANCE_MM = 0.01
#: Relative tolerance on slice steps before spacing counts as non-uniform.
SPACING_RELATIVE_TOLERANCE = 0.02
#: Absolute floor of that tolerance (mm): positions are written with limited decimals.
SPACING_ABSOLUTE_TOLERANCE_MM = 0.01
#: In-plane offset between slices (in pixels) above which a stack counts as tilted.
TILT_TOLERANCE_PIXELS = 0.05
#: Largest slice step, as a multiple of the series' usual spacing, that is still repaired by
#: interpolation; a wider gap means slices are missing and nothing is made up to fill it.
MAX_INTERPOLATED_STEP = 2.0
#: Farthest a slice may lie from the scanner's origin (mm) before its position is taken as
#: corrupt: a patient table moves about 2 m, so 10 m is generous.
MAX_POSITION_MM = 10_000.0
#: Fewest slices a series needs to be offered for prediction, per role.
MIN_SLICES_FOR_PREDICTION: dict[str, int] = {"ct_axial": 10, "mr_sagittal": 5}


@dataclass(frozen=True)
class Problem:
    """One finding about a series: what it is, what was done, and what to do next.

    Parameters
    ----------
    code:
        Stable identifier (``missing_slices``, ``gantry_tilt``, ...), for tests and the app.
    message:
        Plain-language explanation for a clinician.
    outcome:
        ``"repaired"`` (the loader fixed it and says how), ``"refused"`` (the series cannot be
        used; the message says what to do) or ``"note"`` (readable, with a caveat).
    """

    code: str
    message: str
    outcome: Outcome

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return {"code": self.code, "outcome": self.outcome, "message": self.message}


@dataclass(frozen=True, eq=False)
class SeriesGeometry:
    """How the sorted slices map onto a regular voxel grid.

    ``positions_mm`` are the slices' distances along the normal; ``target_positions_mm`` the
    grid's (equal to them unless spacing was repaired). ``in_plane_shift_ij`` is each slice's
    offset within its plane in pixels, non-zero only for a tilted stack.
    """

    origin: NDArray[np.float64]
    direction: NDArray[np.float64]
    spacing: tuple[float, float, float]
    positions_mm: NDArray[np.float64]
    target_positions_mm: NDArray[np.float64]
    in_plane_shift_ij: NDArray[np.float64] | None

    @property
    def needs_slice_resampling(self) -> bool:
        """Whether slices must be interpolated onto a uniform grid."""
        return not (len(self.positions_mm) == len(self.target_positions_mm)
                    and np.allclose(self.positions_mm, self.target_positions_mm, atol=1e-6))


@dataclass(eq=False)
class SeriesInfo:
    """One image series found in an input: what it is, its problems, whether it can be used.

    Identifying data (names, IDs, dates, UIDs) is never part of it: ``key`` is a short hash.
    """

    index: int
    key: str
    modality: str
    description: str
    series_number: int | None
    plane: Plane | None
    rows: int
    columns: int
    n_slices: int
    n_files: int
    spacing: tuple[float, float, float] | None
    role: Role
    weighting: str | None
    transfer_syntaxes: str
    problems: list[Problem] = field(default_factory=list)
    slices: tuple[SliceHeader, ...] = field(default=(), repr=False)
    geometry: SeriesGeometry | None = field(default=None, repr=False)
    decoded: bool | None = None

    @property
    def refused(self) -> bool:
        """Whether a problem makes the series unusable."""
        return any(problem.outcome == "refused" for problem in self.problems)

    @property
    def label(self) -> str:
        """Short human name, e.g. ``'#3 T2_TSE_SAG (MR, 15 slices)'``."""
        number = f"#{self.series_number} " if self.series_number is not None else ""
        description = self.description or "no description"
        return f"{number}{description} ({self.modality}, {self.n_slices} slices)"

    @property
    def unfit_reason(self) -> str | None:
        """Why the series is not offered for prediction, or ``None`` when it is."""
        if self.refused:
            return next(p.message for p in self.problems if p.outcome == "refused")
        if self.decoded is False:
            return "its image data could not be decoded"
        if self.role == "other":
            return ("only axial CT and sagittal MRI serve for prediction; this is "
                    f"{self.modality} {self.plane or 'without geometry'}")
        if self.role == "mr_sagittal" and self.weighting not in (None, "T2"):
            return f"the MRI is {self.weighting}-weighted; the model needs sagittal T2"
        minimum = MIN_SLICES_FOR_PREDICTION[self.role]
        if self.n_slices < minimum:
            return f"only {self.n_slices} slice(s); at least {minimum} are needed"
        return None

    @property
    def fit_for_prediction(self) -> bool:
        """Whether the series can serve as the CT or MRI input of a prediction."""
        return self.unfit_reason is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no identifying data)."""
        return {
            "index": self.index,
            "key": self.key,
            "series_number": self.series_number,
            "description": self.description,
            "modality": self.modality,
            "plane": self.plane,
            "role": self.role,
            "weighting": self.weighting,
            "size": [self.columns, self.rows, self.n_slices],
            "spacing_mm": list(self.spacing) if self.spacing else None,
            "n_files": self.n_files,
            "transfer_syntaxes": self.transfer_syntaxes,
            "decoded": self.decoded,
            "fit_for_prediction": self.fit_for_prediction,
            "unfit_reason": self.unfit_reason,
            "problems": [problem.to_dict() for problem in self.problems],
        }


# --- grouping ------------------------------------------------------------------------------
def _subgroup_key(header: SliceHeader) -> tuple[Any, ...]:
    orientation = (None if header.row_cosine is None or header.column_cosine is None else
                   tuple(np.round(np.concatenate([header.row_cosine, header.column_cosine]), 3)
                         + 0.0))
    spacing = (None if header.pixel_spacing_ij is None
               else tuple(round(s, 4) for s in header.pixel_spacing_ij))
    return (orientation, header.rows, header.columns, spacing, header.echo_number,
            header.samples_per_pixel)


def _describe_split(keys: Sequence[tuple[Any, ...]]) -> str:
    sizes = sorted({f"{key[2]}x{key[1]}" for key in keys})
    parts = []
    if len(sizes) > 1:
        parts.append(f"matrix sizes {', '.join(sizes)}")
    if len({key[0] for key in keys}) > 1:
        parts.append("orientations")
    if len({key[3] for key in keys}) > 1:
        parts.append("pixel spacings")
    if len({key[4] for key in keys}) > 1:
        parts.append("echoes")
    return " and ".join(parts) or "image kinds"


def group_headers(headers: Iterable[SliceHeader]) -> list[tuple[list[SliceHeader], Problem | None]]:
    """Group by SeriesInstanceUID, then split a UID that mixes orientations, sizes or echoes.

    Returns
    -------
    list of (headers, problem)
        One entry per series; ``problem`` reports a split (``None`` when there was none).
    """
    by_uid: dict[str, list[SliceHeader]] = defaultdict(list)
    for header in headers:
        # A file without a series UID is a series of its own.
        by_uid[header.series_uid or f"file:{header.file.name}"].append(header)
    groups: list[tuple[list[SliceHeader], Problem | None]] = []
    for uid_headers in by_uid.values():
        parts: dict[tuple[Any, ...], list[SliceHeader]] = defaultdict(list)
        for header in uid_headers:
            parts[_subgroup_key(header)].append(header)
        problem = None
        if len(parts) > 1:
            problem = Problem(
                "mixed_series",
                f"one series mixed {_describe_split(list(parts))}; it was split into "
                f"{len(parts)} series, each listed on its own",
                "repaired",
            )
        groups.extend((part, problem) for part in parts.values())
    return groups


# --- geometry checks -----------------------------------------------------------------------
def _cluster_duplicates(slices: list[SliceHeader], distances: NDArray[np.float64]
                        ) -> tuple[list[SliceHeader], NDArray[np.float64], Problem | None]:
    """Drop repeated copies of one instance; refuse different images at one position."""
    kept: list[SliceHeader] = []
    kept_distances: list[float] = []
    dropped = 0
    clashes = 0
    for header, distance in zip(slices, distances, strict=True):
        if kept and abs(distance - kept_distances[-1]) < DUPLICATE_TOLERANCE_MM:
            if header.sop_uid and header.sop_uid == kept[-1].sop_uid \
                    and header.frame == kept[-1].frame:
                dropped += 1
                continue
            clashes += 1
            continue
        kept.append(header)
        kept_distances.append(float(distance))
    if clashes:
        return kept, np.asarray(kept_distances), Problem(
            "duplicate_positions",
            f"{clashes} image(s) share a slice position with a different image (a repeated "
            "acquisition or several time points in one series), so the volume is ambiguous; "
            "export a single acquisition as its own series",
            "refused",
        )
    if dropped:
        return kept, np.asarray(kept_distances), Problem(
            "duplicate_copies",
            f"{dropped} duplicate copies of the same image were found and read once",
            "repaired",
        )
    return kept, np.asarray(kept_distances), None


def _gap_problem(steps: NDArray[np.float64], step: float, wide: NDArray[np.bool_]) -> Problem:
    """Refusal for slice steps wider than :data:`MAX_INTERPOLATED_STEP` times the spacing."""
    first_gap = int(np.flatnonzero(wide)[0])
    start_mm = float(np.sum(steps[:first_gap]))
    others = int(np.sum(wide)) - 1
    more = f" and {others} more such gap(s)" if others else ""
    return Problem(
        "slice_gap",
        f"there is a gap of {steps[first_gap]:.2f} mm between slices {first_gap + 1} and "
        f"{first_gap + 2} ({start_mm:.2f} mm from the first slice){more}, more than "
        f"{MAX_INTERPOLATED_STEP:g} times the usual {step:.2f} mm spacing, so slices are "
        "missing; the gap is not filled in by interpolation. Send the complete series again "
        "from the scanner or PACS",
        "refused",
    )


def _spacing_problem(steps: NDArray[np.float64]) -> tuple[float, NDArray[np.float64] | None,
                                                          Problem | None]:
    """Check slice steps; returns (spacing, target positions relative to the first, problem)."""
    step = float(np.median(steps))
    tolerance = max(SPACING_ABSOLUTE_TOLERANCE_MM, SPACING_RELATIVE_TOLERANCE * step)
    irregular = np.abs(steps - step) > tolerance
    if not np.any(irregular):
        return float(np.sum(steps) / len(steps)), None, None
    multiples = steps / step
    whole = np.rint(multiples)
    is_gap = (np.abs(multiples - whole) * step <= tolerance) & (whole >= 2)
    if np.all(is_gap[irregular]):
        missing = int(np.sum(whole[irregular] - 1))
        first_gap = int(np.flatnonzero(irregular)[0])
        return step, None, Problem(
            "missing_slices",
            f"{missing} slice(s) are missing (the first gap is after slice {first_gap + 1}: "
            f"{steps[first_gap]:.2f} mm instead of {step:.2f} mm); the series is incomplete. "
            "Send the complete series again from the scanner or PACS",
            "refused",
        )
    wide = steps > MAX_INTERPOLATED_STEP * step + tolerance
    if np.any(wide):
        return step, None, _gap_problem(steps, step, wide)
    extent = float(np.sum(steps))
    n_target = int(np.floor(extent / step + 1e-6)) + 1
    targets = np.arange(n_target, dtype=np.float64) * step
    return step, targets, Problem(
        "non_uniform_spacing",
        f"the distance between slices varies from {steps.min():.2f} to {steps.max():.2f} mm; "
        f"the slices were resampled by linear interpolation to a uniform {step:.2f} mm "
        f"({n_target} slices)",
        "repaired",
    )


def _implausible_position_problem(slices: Sequence[SliceHeader]) -> Problem | None:
    """Refusal for positions too far from the scanner's origin to be real (corrupt headers)."""
    farthest = max(float(np.max(np.abs(header.position))) for header in slices
                   if header.position is not None)
    if farthest <= MAX_POSITION_MM:
        return None
    n_bad = sum(1 for header in slices if header.position is not None
                and float(np.max(np.abs(header.position))) > MAX_POSITION_MM)
    return Problem(
        "implausible_position",
        f"{n_bad} of {len(slices)} images state a position {farthest:.3g} mm from the "
        f"scanner's origin (ImagePositionPatient), more than the {MAX_POSITION_MM / 1000:g} m "
        "any scan can lie; the header is corrupt, so the slices cannot be placed. Export the "
        "series again from the scanner or PACS",
        "refused",
    )


def _pixel_data_problem(slices: Sequence[SliceHeader]) -> Problem | None:
    """Refusal for images holding more pixel data than their Rows x Columns declare."""
    excesses = [reason for header in slices if header.pixel_data_length is not None
                and (reason := header.pixel_data_excess(header.pixel_data_length)) is not None]
    if not excesses:
        return None
    return Problem(
        "pixel_data_size",
        f"{len(excesses)} image(s) hold more image data than their header's Rows and Columns "
        f"state ({excesses[0]}), so the matrix size in the header is wrong and the image would "
        "be read wrongly; export the series again from the scanner or PACS",
        "refused",
    )


def _size_problem(columns: int, rows: int, n_slices: int) -> Problem | None:
    """Refusal for a series larger, once decoded, than :func:`series_size_limit` allows."""
    limit = series_size_limit()
    excess = limit.excess(columns, rows, n_slices)
    if excess is None:
        return None
    gib = columns * rows * n_slices * 2 / 1024**3
    return Problem(
        "too_large",
        f"the series would take {gib:.2f} GiB of memory once decoded ({columns} x {rows} "
        f"pixels x {n_slices} slices at 16 bits): {excess}, more than the limit of "
        f"{limit.describe()} that covers the largest spine CT. It was not decoded; check that "
        "this is the CT or MRI series of the patient (the header may be wrong), or raise the "
        f"limit with {MAX_SERIES_SIZE_ENV} if such series are genuine",
        "refused",
    )


def _tilt_problem(positions: NDArray[np.float64], distances: NDArray[np.float64],
                  first: SliceHeader) -> tuple[NDArray[np.float64] | None, Problem | None]:
    """In-plane offsets of the slices (gantry tilt), in pixels along (i, j)."""
    assert first.row_cosine is not None and first.column_cosine is not None
    assert first.pixel_spacing_ij is not None
    normal = np.cross(first.row_cosine, first.column_cosine)
    relative = positions - positions[0]
    in_plane = relative - np.outer(relative @ normal, normal)
    shift_ij = np.stack([in_plane @ first.row_cosine / first.pixel_spacing_ij[0],
                         in_plane @ first.column_cosine / first.pixel_spacing_ij[1]], axis=1)
    if np.abs(shift_ij).max() <= TILT_TOLERANCE_PIXELS:
        return None, None
    extent = float(distances[-1] - distances[0])
    angle = float(np.degrees(np.arctan2(np.linalg.norm(in_plane[-1]), extent)))
    return shift_ij, Problem(
        "gantry_tilt",
        f"the slices are offset within their plane (gantry tilt of about {angle:.1f} degrees); "
        "each slice was shifted to build an upright volume, as dcm2niix does",
        "repaired",
    )


def plan_geometry(slices: Sequence[SliceHeader]) -> tuple[list[SliceHeader], SeriesGeometry | None,
                                                          list[Problem]]:
    """Sort slices along their normal and check spacing, duplicates, gaps and tilt.

    Returns
    -------
    (sorted slices, geometry or None, problems)
        ``geometry`` is ``None`` when a problem refuses the series.
    """
    slices = list(slices)
    problems: list[Problem] = []
    if any(header.samples_per_pixel != 1 for header in slices):
        problems.append(Problem(
            "colour_images",
            "the images are in colour (screenshots or secondary captures), not the scanner's "
            "grey-scale images; export the original CT or MRI series",
            "refused",
        ))
    lacking = [header for header in slices if not header.has_geometry]
    if lacking:
        problems.append(Problem(
            "missing_geometry",
            f"{len(lacking)} of {len(slices)} images lack the position, orientation or pixel "
            "spacing tags (ImagePositionPatient, ImageOrientationPatient, PixelSpacing), so the "
            "slices cannot be placed in 3D; export the original series from the scanner or "
            "PACS, not screenshots or anonymised copies that dropped these tags",
            "refused",
        ))
        slices.sort(key=lambda h: (h.instance_number or 0, h.frame))
        return slices, None, problems
    first = slices[0]
    assert first.row_cosine is not None and first.column_cosine is not None
    assert first.pixel_spacing_ij is not None
    if abs(float(first.row_cosine @ first.column_cosine)) > 1e-3:
        problems.append(Problem(
            "corrupt_orientation",
            "the ImageOrientationPatient tag is not two perpendicular directions; the header is "
            "corrupt; export the series again",
            "refused",
        ))
        return slices, None, problems
    implausible = _implausible_position_problem(slices)
    if implausible is not None:
        problems.append(implausible)
        return slices, None, problems
    normal = np.cross(first.row_cosine, first.column_cosine)
    normal /= np.linalg.norm(normal)
    positions = np.stack([header.position for header in slices])  # type: ignore[misc]
    distances = positions @ normal
    order = sorted(range(len(slices)), key=lambda n: (distances[n], slices[n].instance_number or 0))
    slices = [slices[n] for n in order]
    slices, distances, duplicate = _cluster_duplicates(slices, distances[order])
    if duplicate is not None:
        problems.append(duplicate)
        if duplicate.outcome == "refused":
            return slices, None, problems
    positions = np.stack([header.position for header in slices])  # type: ignore[misc]
    targets: NDArray[np.float64] | None = None
    if len(slices) == 1:
        step = first.slice_thickness or 1.0
        problems.append(Problem("single_slice", "a single slice, not a 3D series", "note"))
        shift_ij = None
    else:
        step, targets, spacing = _spacing_problem(np.diff(distances))
        if spacing is not None:
            problems.append(spacing)
            if spacing.outcome == "refused":
                return slices, None, problems
        shift_ij, tilt = _tilt_problem(positions, distances, first)
        if tilt is not None:
            problems.append(tilt)
    relative = distances - distances[0]
    geometry = SeriesGeometry(
        origin=positions[0],
        direction=np.column_stack([first.row_cosine, first.column_cosine, normal]),
        spacing=(first.pixel_spacing_ij[0], first.pixel_spacing_ij[1], float(step)),
        positions_mm=relative,
        target_positions_mm=relative if targets is None else targets,
        in_plane_shift_ij=shift_ij,
    )
    return slices, geometry, problems


# --- classification ------------------------------------------------------------------------
_T2 = re.compile(r"t2(?!\*|_?star)|\bhaste\b|\bssfse\b|\bfrfse\b", re.IGNORECASE)
_T1 = re.compile(r"t1|\bmprage\b", re.IGNORECASE)
_STIR = re.compile(r"stir|\btirm\b", re.IGNORECASE)
_T2_STAR = re.compile(r"t2\*|t2_?star|\bswi\b|\bmedic\b", re.IGNORECASE)


def mr_weighting(first: SliceHeader) -> str | None:
    """MR weighting from the series description, else from TE / TR / TI; ``None`` if unclear.

    Examples: ``"T2"``, ``"T1"``, ``"STIR"``, ``"T2*"``.
    """
    text = " ".join([first.series_description, first.sequence_name])
    for pattern, name in ((_STIR, "STIR"), (_T2_STAR, "T2*"), (_T2, "T2"), (_T1, "T1")):
        if pattern.search(text):
            return name
    echo, repetition = first.echo_time_ms, first.repetition_time_ms
    if first.inversion_time_ms and 100 <= first.inversion_time_ms <= 250:
        return "STIR"
    if echo is not None and repetition is not None:
        if echo >= 60 and repetition >= 1500:
            return "T2"
        if echo <= 30 and repetition <= 1000:
            return "T1"
    return None


def classify(modality: str, plane: Plane | None, first: SliceHeader) -> tuple[Role, str | None]:
    """Role of a series for prediction: axial CT, sagittal MRI (with weighting), or other."""
    if modality == "CT" and plane == "axial":
        return "ct_axial", None
    if modality == "MR":
        weighting = mr_weighting(first)
        return ("mr_sagittal" if plane == "sagittal" else "other"), weighting
    return "other", None


def _key(slices: Sequence[SliceHeader], index: int) -> str:
    digest = hashlib.sha256(f"{slices[0].series_uid}|{index}".encode())
    return digest.hexdigest()[:10]


def assess_series(index: int, slices: Sequence[SliceHeader],
                  split: Problem | None = None) -> SeriesInfo:
    """Check and classify one group of headers (one series)."""
    ordered, geometry, problems = plan_geometry(slices)
    first = ordered[0]
    n_slices = len(geometry.target_positions_mm) if geometry is not None else len(ordered)
    # Checked from the headers alone, before any pixel data is read.
    for found in (_pixel_data_problem(ordered), _size_problem(first.columns, first.rows,
                                                              n_slices)):
        if found is not None:
            problems.insert(0, found)
    if split is not None:
        problems.insert(0, split)
    normal = first.normal
    plane = plane_of_normal(normal) if normal is not None and first.has_geometry else None
    role, weighting = classify(first.modality, plane, first)
    info = SeriesInfo(
        index=index,
        key=_key(ordered, index),
        modality=first.modality,
        description=clean_description(first.series_description),  # no ward or date on screen
        series_number=first.series_number,
        plane=plane,
        rows=first.rows,
        columns=first.columns,
        n_slices=n_slices,
        n_files=len({header.file.name for header in ordered}),
        spacing=geometry.spacing if geometry is not None else None,
        role=role,
        weighting=weighting,
        transfer_syntaxes=", ".join(sorted({h.transfer_syntax.name for h in ordered})),
        problems=problems,
        slices=tuple(ordered),
        geometry=geometry,
    )
    if role == "mr_sagittal" and weighting is None:
        info.problems.append(Problem(
            "weighting_unknown",
            "the MRI weighting is not stated in the header; check that this is the sagittal T2",
            "note",
        ))
    return info
