"""Find the image series in an input and read one of them as a :class:`~bcl_core.volume.Volume`.

Two passes: every file's header is read first (no pixel data) to discover, sort and check the
series; pixel data is decoded only for the series asked for.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom.errors import InvalidDicomError

from bcl_core.errors import AmbiguousSeriesError, NoImagesError, SeriesError
from bcl_core.io.dicom_headers import NotAnImage, SliceHeader, TooManyFrames, read_headers
from bcl_core.io.dicom_pixels import apply_modality_transform, check_decodes, read_stored_values
from bcl_core.io.dicom_series import (
    Problem,
    SeriesGeometry,
    SeriesInfo,
    assess_series,
    group_headers,
)
from bcl_core.io.limits import MAX_SERIES_SIZE_ENV, series_size_limit
from bcl_core.io.sources import FileRef, InputSource, open_input
from bcl_core.volume import Volume

logger = logging.getLogger(__name__)


#: Reason given for a file whose header cannot be read to the end.
DAMAGED = "damaged or truncated DICOM file"
#: Reason given for a file declaring more frames than a series may have.
TOO_MANY_FRAMES = f"image declaring more frames than the size limit ({MAX_SERIES_SIZE_ENV})"


@dataclass
class DicomScan:
    """Everything found in an input: the image series and the files that were set aside.

    ``skipped`` pairs a file name with the reason it was not used (not DICOM, no image,
    damaged header).
    """

    series: list[SeriesInfo]
    n_files: int
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def skipped_summary(self) -> str:
        """E.g. ``'3 not DICOM, 1 DICOM without an image'``; empty when nothing was skipped."""
        counts = Counter(reason for _, reason in self.skipped)
        return ", ".join(f"{count} {reason}" for reason, count in sorted(counts.items()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "n_files": self.n_files,
            "skipped": [{"file": name, "reason": reason} for name, reason in self.skipped],
            "series": [info.to_dict() for info in self.series],
        }


def scan_files(files: list[FileRef]) -> DicomScan:
    """Read every file's header and assemble the series found.

    Files that are not DICOM, hold no image (reports, DICOMDIR), declare more frames than a
    series may have, or have damaged headers are listed in :attr:`DicomScan.skipped`, never
    raised.

    Raises
    ------
    InputLimitError
        If the ``BCL_MAX_SERIES_SIZE`` setting is malformed.
    """
    max_frames = series_size_limit().slices  # read once: a bad setting is reported here
    headers: list[SliceHeader] = []
    skipped: list[tuple[str, str]] = []
    for file in files:
        try:
            headers.extend(read_headers(file, max_frames))
        except InvalidDicomError:
            skipped.append((file.name, "not DICOM"))
        except NotAnImage:
            skipped.append((file.name, "DICOM without an image"))
        except TooManyFrames:
            skipped.append((file.name, TOO_MANY_FRAMES))
        except Exception:  # noqa: BLE001 - pydicom raises many types on damaged headers
            # TruncatedFile lands here too.
            logger.debug("damaged DICOM header (%s)", DAMAGED, exc_info=True)
            skipped.append((file.name, DAMAGED))
    series = [assess_series(index, group, split)
              for index, (group, split) in enumerate(group_headers(headers))]
    series.sort(key=lambda s: (s.series_number if s.series_number is not None else 1 << 30,
                               s.description, s.index))
    for index, info in enumerate(series):
        info.index = index
    logger.info("%d files: %d image series, %d skipped", len(files), len(series), len(skipped))
    return DicomScan(series=series, n_files=len(files), skipped=skipped)


def _shift_in_plane(values: NDArray[Any], shift_ij: NDArray[np.float64],
                    fill: float) -> NDArray[np.float32]:
    from scipy import ndimage

    out = np.empty(values.shape, dtype=np.float32)
    for index, (shift_i, shift_j) in enumerate(shift_ij):
        # Slice k's pixel (i, j) lies at (i + shift_i, j + shift_j) of the first slice's grid.
        out[index] = ndimage.shift(values[index].astype(np.float32), (shift_j, shift_i),
                                   order=1, mode="constant", cval=fill)
    return out


def _interpolate_slices(values: NDArray[Any], positions: NDArray[np.float64],
                        targets: NDArray[np.float64]) -> NDArray[np.float32]:
    upper = np.clip(np.searchsorted(positions, targets, side="right"), 1, len(positions) - 1)
    lower = upper - 1
    fraction = (targets - positions[lower]) / (positions[upper] - positions[lower])
    weight = np.clip(fraction, 0.0, 1.0).astype(np.float32)[:, None, None]
    return (values[lower].astype(np.float32) * (1 - weight)
            + values[upper].astype(np.float32) * weight)


def regularise(values: NDArray[Any], geometry: SeriesGeometry) -> NDArray[Any]:
    """Apply the repairs the geometry plan asks for (tilt shift, uniform slice spacing)."""
    dtype = values.dtype
    changed = False
    if geometry.in_plane_shift_ij is not None:
        values = _shift_in_plane(values, geometry.in_plane_shift_ij, float(values.min()))
        changed = True
    if geometry.needs_slice_resampling:
        values = _interpolate_slices(values, geometry.positions_mm, geometry.target_positions_mm)
        changed = True
    if changed and dtype.kind in "iu":
        values = np.rint(values).astype(dtype)
    return values


def _metadata(info: SeriesInfo) -> dict[str, Any]:
    first = info.slices[0]
    return {
        "source": "DICOM",
        "series_description": info.description,
        "series_number": info.series_number,
        "manufacturer": first.manufacturer,
        "role": info.role,
        "weighting": info.weighting,
        "slice_thickness_mm": first.slice_thickness,
        "echo_time_ms": first.echo_time_ms,
        "repetition_time_ms": first.repetition_time_ms,
        "transfer_syntaxes": info.transfer_syntaxes,
        "repairs": [p.message for p in info.problems if p.outcome == "repaired"],
        "notes": [p.message for p in info.problems if p.outcome == "note"],
    }


def _refuse_if_unusable(info: SeriesInfo) -> None:
    """Raise :class:`SeriesError` with the first refusal when the series cannot be used."""
    if info.refused or info.geometry is None:
        reason = next((p.message for p in info.problems if p.outcome == "refused"),
                      "its geometry is unusable")
        raise SeriesError(f"Series {info.label} cannot be used: {reason}.")


def read_series(info: SeriesInfo) -> Volume:
    """Decode one series found by :func:`scan_files` (its files must still be open).

    Raises
    ------
    SeriesError
        If the series was refused (the message says why and what to do) or cannot be decoded.
    """
    _refuse_if_unusable(info)
    try:
        stored = read_stored_values(info.slices)
        values = apply_modality_transform(stored, info.slices)
    except SeriesError as exc:
        info.decoded = False
        raise SeriesError(f"Series {info.label}: {exc}") from exc
    assert info.geometry is not None
    values = regularise(values, info.geometry)
    info.decoded = True
    geometry = info.geometry
    return Volume(values, spacing=geometry.spacing, origin=tuple(geometry.origin),
                  direction=geometry.direction, modality=info.modality, metadata=_metadata(info))


def no_images_error(scan: DicomScan, label: str) -> NoImagesError:
    """The error for an input without a single image series, saying what was there instead."""
    if scan.n_files == 0:
        return NoImagesError(f"{label} holds no files; choose the folder or zip with the CT or "
                             "MRI series.")
    return NoImagesError(
        f"No DICOM images found in {label}: {scan.n_files} file(s) looked at "
        f"({scan.skipped_summary()}). Choose the folder or zip exported from PACS that holds "
        "the CT or MRI series."
    )


def _input_label(source: InputSource) -> str:
    if isinstance(source, str | bytes) or hasattr(source, "__fspath__"):
        return str(source)
    return "the input"


def load_volume(source: InputSource, series: int | None = None) -> Volume:
    """Read the single image series of a folder, file, file list, upload list or zip.

    Parameters
    ----------
    source:
        Anything :func:`~bcl_core.io.sources.open_input` accepts.
    series:
        Index (as listed by ``bcl inspect``) of the series to read when there are several.

    Returns
    -------
    Volume
        Stored values after rescale (Hounsfield units for CT), spacing in mm, LPS geometry;
        ``metadata['repairs']`` lists what the loader fixed.

    Raises
    ------
    NoImagesError
        If the input holds no DICOM image.
    AmbiguousSeriesError
        If it holds several series and ``series`` is not given (the message names them).
    SeriesError
        If the series is refused or cannot be decoded.

    Examples
    --------
    >>> volume = load_volume("case_001/ct")  # doctest: +SKIP
    >>> volume.spacing  # doctest: +SKIP
    (0.7, 0.7, 1.25)
    """
    with open_input(source) as files:
        scan = scan_files(files)
        if not scan.series:
            raise no_images_error(scan, _input_label(source))
        if series is None:
            if len(scan.series) > 1:
                names = "; ".join(f"[{info.index}] {info.label}" for info in scan.series)
                raise AmbiguousSeriesError(
                    f"{_input_label(source)} holds {len(scan.series)} image series ({names}); "
                    "choose one, or give a folder with a single series."
                )
            return _read_with_hint(scan, scan.series[0])
        if not 0 <= series < len(scan.series):
            raise AmbiguousSeriesError(
                f"There is no series [{series}]; {_input_label(source)} holds "
                f"{len(scan.series)} (numbered from 0)."
            )
        return _read_with_hint(scan, scan.series[series])


def _read_with_hint(scan: DicomScan, info: SeriesInfo) -> Volume:
    """:func:`read_series`, naming damaged files set aside when the series is refused."""
    try:
        return read_series(info)
    except SeriesError as exc:
        damaged = [name for name, reason in scan.skipped if reason == DAMAGED]
        if not damaged:
            raise
        shown = ", ".join(damaged[:3]) + (" ..." if len(damaged) > 3 else "")
        raise SeriesError(f"{exc} {len(damaged)} damaged file(s) were set aside: {shown}.") \
            from exc


def check_series(info: SeriesInfo) -> None:
    """Decode every image of a series without keeping them; sets :attr:`SeriesInfo.decoded`.

    Memory stays at one file's images, so a large series is checked without holding its volume.

    Raises
    ------
    SeriesError
        If the series was refused or an image cannot be decoded.
    """
    _refuse_if_unusable(info)
    try:
        check_decodes(info.slices)
    except SeriesError as exc:
        info.decoded = False
        raise SeriesError(f"Series {info.label}: {exc}") from exc
    info.decoded = True


def inspect_input(source: InputSource) -> DicomScan:
    """Scan an input and check that every series decodes; sets :attr:`SeriesInfo.decoded`.

    Series are decoded one file at a time and not kept, so memory does not grow with their size.

    Raises
    ------
    NoImagesError
        If no image series is found at all.
    """
    with open_input(source) as files:
        scan = scan_files(files)
        if not scan.series:
            raise no_images_error(scan, _input_label(source))
        for info in scan.series:
            if info.refused:
                continue
            try:
                check_series(info)
            except SeriesError as exc:
                logger.info("series [%d] does not decode", info.index)
                info.decoded = False
                cause = exc.__cause__ if isinstance(exc.__cause__, SeriesError) else exc
                info.problems.append(Problem("decode_failed", str(cause).rstrip("."),
                                             "refused"))
    return scan

