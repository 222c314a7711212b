"""Read DICOM headers (never pixel data) into one :class:`SliceHeader` per image frame.

Headers are read with ``stop_before_pixels``, so scanning a folder of hundreds of files is cheap.
For uncompressed little-endian files the byte offset of the pixel data element is kept, so the
decoder can read the pixels straight into the output array without parsing the file again.
Enhanced (multi-frame) objects give one header per frame, with the frame's own position,
orientation, pixel spacing and rescale from the functional groups.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom import dcmread
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from bcl_core.io.limits import series_size_limit
from bcl_core.io.quiet import quiet_pydicom
from bcl_core.io.sources import FileRef

logger = logging.getLogger(__name__)

#: Transfer syntaxes whose pixel data the fast path reads as raw little-endian bytes.
NATIVE_LITTLE_ENDIAN = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian})

PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"
#: Explicit-VR value representations with a 2-byte reserved field and a 4-byte length.
_LONG_LENGTH_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN", b"UT", b"SQ", b"UC", b"UR"}
#: The value length that marks encapsulated (compressed) pixel data.
UNDEFINED_LENGTH = 0xFFFFFFFF
#: Header values longer than this (bytes) are skipped while scanning instead of read.
HEADER_DEFER_BYTES = 1024**2
#: Bytes to read at the pixel data element to know its value length.
PIXEL_ELEMENT_HEADER_BYTES = 12


def parse_pixel_element(element: bytes, transfer_syntax: UID) -> tuple[int, int] | None:
    """Value length and header size of a little-endian pixel data element starting ``element``.

    Parameters
    ----------
    element:
        At least the first 12 bytes at the element (fewer if the file ends there).
    transfer_syntax:
        The file's transfer syntax (implicit VR has no VR field).

    Returns
    -------
    (value length, header bytes) or None
        ``None`` when ``element`` is not a complete (7FE0,0010) element header. The length is
        :data:`UNDEFINED_LENGTH` for encapsulated data.
    """
    if len(element) < 8 or element[:4] != PIXEL_DATA_TAG:
        return None
    if transfer_syntax == ImplicitVRLittleEndian:
        return struct.unpack("<I", element[4:8])[0], 8  # no VR: tag, then a 4-byte length
    if element[4:6] in _LONG_LENGTH_VRS:
        if len(element) < 12:
            return None
        return struct.unpack("<I", element[8:12])[0], 12
    return struct.unpack("<H", element[6:8])[0], 8


@dataclass(frozen=True, eq=False)
class SliceHeader:
    """What the loader needs to know about one image frame, read from the header alone.

    Geometry fields are ``None`` when the file lacks them; the series checks report that.
    ``row_cosine`` is the LPS direction along a row (increasing column index ``i``),
    ``column_cosine`` the direction down a column (increasing row index ``j``).
    ``pixel_spacing_ij`` is the spacing along ``(i, j)``, i.e. DICOM PixelSpacing reversed.
    """

    file: FileRef
    frame: int
    n_frames: int
    series_uid: str
    sop_uid: str
    modality: str
    series_description: str
    series_number: int | None
    instance_number: int | None
    echo_number: int | None
    rows: int
    columns: int
    position: NDArray[np.float64] | None
    row_cosine: NDArray[np.float64] | None
    column_cosine: NDArray[np.float64] | None
    pixel_spacing_ij: tuple[float, float] | None
    slice_thickness: float | None
    rescale_slope: float
    rescale_intercept: float
    photometric: str
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_signed: bool
    transfer_syntax: UID
    pixel_offset: int | None
    image_type: tuple[str, ...]
    scanning_sequence: str
    sequence_name: str
    echo_time_ms: float | None
    repetition_time_ms: float | None
    inversion_time_ms: float | None
    manufacturer: str
    gantry_tilt_deg: float | None
    pixel_data_length: int | None = None

    @property
    def expected_pixel_bytes(self) -> int:
        """Bytes of uncompressed pixel data that Rows x Columns x frames x bits make (unpadded)."""
        bits = self.rows * self.columns * self.n_frames * self.samples_per_pixel \
            * self.bits_allocated
        return (bits + 7) // 8

    def pixel_data_excess(self, length: int) -> str | None:
        """Why ``length`` bytes of uncompressed pixel data do not fit this header, else ``None``.

        More data than Rows x Columns x frames states means the declared matrix is wrong (the
        image would be read with the wrong row length); one padding byte is allowed.
        """
        expected = self.expected_pixel_bytes
        if length <= expected + (expected % 2):
            return None
        return (f"{self.file.name} holds {length} bytes of image data, but its header "
                f"({self.columns} x {self.rows} pixels, {self.n_frames} frame(s), "
                f"{self.bits_allocated} bits) accounts for {expected}")

    @property
    def normal(self) -> NDArray[np.float64] | None:
        """Slice normal (row x column cosine), or ``None`` without orientation."""
        if self.row_cosine is None or self.column_cosine is None:
            return None
        return np.cross(self.row_cosine, self.column_cosine)

    @property
    def has_geometry(self) -> bool:
        """Whether position, orientation and pixel spacing are all present."""
        return (self.position is not None and self.row_cosine is not None
                and self.pixel_spacing_ij is not None)

    @property
    def fast_readable(self) -> bool:
        """Whether the pixels can be read as raw little-endian bytes at ``pixel_offset``."""
        return (self.pixel_offset is not None
                and self.transfer_syntax in NATIVE_LITTLE_ENDIAN
                and self.samples_per_pixel == 1
                and self.bits_allocated in (8, 16, 32)
                and (not self.pixel_signed or self.bits_stored == self.bits_allocated))


class NotAnImage(Exception):
    """Internal: the file is DICOM but holds no image (report, DICOMDIR, structure set)."""


class TruncatedFile(Exception):
    """Internal: an image file ends before its pixel data."""


class TooManyFrames(Exception):
    """Internal: one file declares more frames than a whole series may have."""


# --- small tag readers ---------------------------------------------------------------------
#: Value representations whose raw bytes are plain ASCII text (numbers as text, codes, UIDs):
#: parsed straight from the raw element, which is several times faster than pydicom's
#: conversion and matters when a folder holds thousands of slices.
_ASCII_VRS = frozenset({"DS", "IS", "CS", "UI"})


def _ascii_parts(ds: Dataset, keyword: str) -> list[str] | None:
    """The values of an ASCII-valued element as stripped strings, or ``None`` if absent."""
    tag = tag_for_keyword(keyword)
    if tag is None or tag not in ds:
        return None
    raw = ds.get_item(tag)
    value = getattr(raw, "value", None)
    if isinstance(value, bytes) and dictionary_VR(tag) in _ASCII_VRS:
        text = value.decode("ascii", "replace").strip(" \x00")
        return [part.strip(" \x00") for part in text.split("\\")] if text else []
    value = ds[tag].value
    if value is None:
        return []
    if isinstance(value, list | tuple | MultiValue):
        return [str(v).strip() for v in value]
    return [str(value).strip()]


def _text(ds: Dataset, keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    if tag is not None and dictionary_VR(tag) in _ASCII_VRS:
        parts = _ascii_parts(ds, keyword)
        return "\\".join(parts) if parts else ""
    value = ds.get(keyword, "")  # text that may use the dataset's character set
    if value is None:
        return ""
    if isinstance(value, list | tuple | MultiValue):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _number(ds: Dataset | None, keyword: str) -> float | None:
    if ds is None:
        return None
    parts = _ascii_parts(ds, keyword)
    if not parts:
        return None
    try:
        number = float(parts[0])
    except ValueError:
        return None
    return number if np.isfinite(number) else None


def _integer(ds: Dataset, keyword: str) -> int | None:
    number = _number(ds, keyword)
    return None if number is None else int(number)


def _vector(ds: Dataset | None, keyword: str, length: int) -> NDArray[np.float64] | None:
    if ds is None:
        return None
    parts = _ascii_parts(ds, keyword)
    if parts is None or len(parts) != length:
        return None
    try:
        values = np.asarray([float(v) for v in parts], dtype=np.float64)
    except ValueError:
        return None
    return values if np.all(np.isfinite(values)) else None


def _first_item(ds: Dataset | None, keyword: str) -> Dataset | None:
    if ds is None:
        return None
    sequence = ds.get(keyword)
    if not sequence:
        return None
    return sequence[0]  # type: ignore[no-any-return]


def _functional(shared: Dataset | None, per_frame: Dataset | None, keyword: str) -> Dataset | None:
    """A functional-group macro item, per-frame first, then shared."""
    return _first_item(per_frame, keyword) or _first_item(shared, keyword)


def _orientation(values: NDArray[np.float64] | None) -> tuple[
        NDArray[np.float64] | None, NDArray[np.float64] | None]:
    if values is None:
        return None, None
    row, column = values[:3], values[3:]
    if min(np.linalg.norm(row), np.linalg.norm(column)) < 1e-6:
        return None, None
    return row / np.linalg.norm(row), column / np.linalg.norm(column)


def _spacing_ij(values: NDArray[np.float64] | None) -> tuple[float, float] | None:
    if values is None or np.any(values <= 0):
        return None
    # DICOM PixelSpacing is (row spacing, column spacing) = spacing along (j, i).
    return float(values[1]), float(values[0])


def _frame_geometry(ds: Dataset, frame: int, n_frames: int) -> dict[str, Any]:
    """Position, orientation, spacing and rescale of one frame."""
    shared = _first_item(ds, "SharedFunctionalGroupsSequence")
    per_frames = ds.get("PerFrameFunctionalGroupsSequence")
    per_frame = per_frames[frame] if per_frames and frame < len(per_frames) else None
    enhanced = shared is not None or per_frame is not None

    position = _vector(ds, "ImagePositionPatient", 3)
    orientation = _vector(ds, "ImageOrientationPatient", 6)
    spacing = _vector(ds, "PixelSpacing", 2)
    thickness = _number(ds, "SliceThickness")
    slope, intercept = _number(ds, "RescaleSlope"), _number(ds, "RescaleIntercept")
    if enhanced:
        position = _vector(_functional(shared, per_frame, "PlanePositionSequence"),
                           "ImagePositionPatient", 3)
        orientation = _vector(_functional(shared, per_frame, "PlaneOrientationSequence"),
                              "ImageOrientationPatient", 6)
        measures = _functional(shared, per_frame, "PixelMeasuresSequence")
        spacing = _vector(measures, "PixelSpacing", 2)
        thickness = _number(measures, "SliceThickness") if measures is not None else None
        transform = _functional(shared, per_frame, "PixelValueTransformationSequence")
        if transform is not None:
            slope = _number(transform, "RescaleSlope")
            intercept = _number(transform, "RescaleIntercept")
    elif n_frames > 1 and position is not None:
        # Legacy multi-frame (e.g. RT dose): frames stacked along the normal at given offsets.
        offsets = _vector(ds, "GridFrameOffsetVector", n_frames)
        row, column = _orientation(orientation)
        if offsets is not None and row is not None and column is not None:
            position = position + offsets[frame] * np.cross(row, column)
        else:
            position = None
    row, column = _orientation(orientation)
    return {
        "position": position,
        "row_cosine": row,
        "column_cosine": column,
        "pixel_spacing_ij": _spacing_ij(spacing),
        "slice_thickness": thickness,
        "rescale_slope": 1.0 if slope is None or slope == 0 else slope,
        "rescale_intercept": 0.0 if intercept is None else intercept,
    }


def _mr_timing(ds: Dataset) -> dict[str, float | None]:
    """TE / TR / TI, from the top level or, in enhanced MR, the shared functional groups."""
    echo = _number(ds, "EchoTime")
    repetition = _number(ds, "RepetitionTime")
    inversion = _number(ds, "InversionTime")
    shared = _first_item(ds, "SharedFunctionalGroupsSequence")
    echo_item = _first_item(shared, "MREchoSequence")
    timing_item = _first_item(shared, "MRTimingAndRelatedParametersSequence")
    if echo is None and echo_item is not None:
        echo = _number(echo_item, "EffectiveEchoTime")
    if repetition is None and timing_item is not None:
        repetition = _number(timing_item, "RepetitionTime")
    return {"echo_time_ms": echo, "repetition_time_ms": repetition,
            "inversion_time_ms": inversion}


def _transfer_syntax(ds: Dataset) -> UID:
    """The file's transfer syntax; for files without meta information, the encoding found."""
    file_meta = getattr(ds, "file_meta", None)
    declared = file_meta.get("TransferSyntaxUID") if file_meta is not None else None
    if declared:
        return UID(str(declared))
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if little is False:
        return ExplicitVRBigEndian
    return ExplicitVRLittleEndian if implicit is False else ImplicitVRLittleEndian


def headers_from_dataset(ds: Dataset, file: FileRef, pixel_offset: int | None,
                         pixel_data_length: int | None = None,
                         max_frames: int | None = None) -> list[SliceHeader]:
    """One :class:`SliceHeader` per frame of a dataset read without its pixel data.

    ``pixel_data_length`` is the value length of an uncompressed pixel data element, when the
    reader saw it (``None`` otherwise). ``max_frames`` defaults to the slices of
    :func:`~bcl_core.io.limits.series_size_limit`.

    Raises
    ------
    NotAnImage
        If the dataset is not an image (no Rows / Columns).
    TooManyFrames
        If it declares more frames than a series may have (see
        :func:`~bcl_core.io.limits.series_size_limit`).
    """
    rows, columns = _integer(ds, "Rows"), _integer(ds, "Columns")
    if not rows or not columns:
        raise NotAnImage(file.name)
    n_frames = max(1, _integer(ds, "NumberOfFrames") or 1)
    if n_frames > (series_size_limit().slices if max_frames is None else max_frames):
        # Checked before one header per frame is made: a tiny file can declare 10**9 frames.
        raise TooManyFrames(file.name)
    transfer_syntax = _transfer_syntax(ds)
    bits_allocated = _integer(ds, "BitsAllocated") or 16
    common: dict[str, Any] = {
        "file": file,
        "n_frames": n_frames,
        "series_uid": _text(ds, "SeriesInstanceUID"),
        "sop_uid": _text(ds, "SOPInstanceUID"),
        "modality": _text(ds, "Modality").upper() or "OT",
        "series_description": _text(ds, "SeriesDescription"),
        "series_number": _integer(ds, "SeriesNumber"),
        "instance_number": _integer(ds, "InstanceNumber"),
        "echo_number": _integer(ds, "EchoNumbers"),
        "rows": rows,
        "columns": columns,
        "photometric": _text(ds, "PhotometricInterpretation").upper() or "MONOCHROME2",
        "samples_per_pixel": _integer(ds, "SamplesPerPixel") or 1,
        "bits_allocated": bits_allocated,
        "bits_stored": _integer(ds, "BitsStored") or bits_allocated,
        "pixel_signed": _integer(ds, "PixelRepresentation") == 1,
        "transfer_syntax": transfer_syntax,
        "pixel_offset": pixel_offset,
        "image_type": tuple(part.upper() for part in _text(ds, "ImageType").split("\\") if part),
        "scanning_sequence": _text(ds, "ScanningSequence"),
        "sequence_name": _text(ds, "SequenceName") or _text(ds, "PulseSequenceName"),
        "manufacturer": _text(ds, "Manufacturer"),
        "gantry_tilt_deg": _number(ds, "GantryDetectorTilt"),
        "pixel_data_length": pixel_data_length,
        **_mr_timing(ds),
    }
    return [SliceHeader(frame=frame, **common, **_frame_geometry(ds, frame, n_frames))
            for frame in range(n_frames)]


def read_headers(file: FileRef, max_frames: int | None = None) -> list[SliceHeader]:
    """Read one file's header and return a header per image frame (see :func:`_read_headers`).

    ``max_frames``: most frames one file may declare (see :func:`headers_from_dataset`).

    Raises
    ------
    InvalidDicomError, NotAnImage, TruncatedFile, TooManyFrames
        As :func:`_read_headers`.
    """
    with quiet_pydicom():
        return _read_headers(file, max_frames)


def _read_headers(file: FileRef, max_frames: int | None) -> list[SliceHeader]:
    """Read one file's header and return a header per image frame.

    Raises
    ------
    InvalidDicomError
        If the file is not DICOM.
    NotAnImage
        If it is DICOM but holds no image.
    TruncatedFile
        If an image file ends before its pixel data.
    """
    with file.open() as stream:
        preamble = stream.read(132)
        stream.seek(0)
        # Files without the 128-byte preamble (old ACR-NEMA style) are read with force only
        # when they start like a DICOM group-0008 element, so text files are not misread.
        force = preamble[128:132] != b"DICM" and preamble[:2] in (b"\x08\x00", b"\x02\x00")
        if preamble[128:132] != b"DICM" and not force:
            raise InvalidDicomError(f"{file.name} is not a DICOM file")
        # Values over HEADER_DEFER_BYTES are skipped, not read: a 1 GiB private element in a
        # small zip must not land in memory (the tags used here are all short).
        ds = dcmread(stream, stop_before_pixels=True, force=force, defer_size=HEADER_DEFER_BYTES)
        offset = stream.tell()
        element = stream.read(PIXEL_ELEMENT_HEADER_BYTES)
        at_end = not element
    if force and "SOPClassUID" not in ds and "Rows" not in ds:
        raise InvalidDicomError(f"{file.name} is not a DICOM file")
    meta = getattr(ds, "file_meta", None) or {}
    sop_class = UID(str(ds.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID", "")))
    syntax = _transfer_syntax(ds)
    # A deflated file is inflated whole, so its stream always ends up at the end.
    if at_end and syntax != DeflatedExplicitVRLittleEndian \
            and ("Rows" in ds or "Image" in sop_class.name):
        # The header ran to the end of the file without reaching any pixel data.
        raise TruncatedFile(file.name)
    parsed = parse_pixel_element(element, syntax) if syntax in NATIVE_LITTLE_ENDIAN else None
    length = parsed[0] if parsed is not None and parsed[0] != UNDEFINED_LENGTH else None
    return headers_from_dataset(ds, file, offset, length, max_frames)


def summarize_transfer_syntaxes(headers: Sequence[SliceHeader]) -> str:
    """Human-readable names of the transfer syntaxes used, e.g. ``"JPEG 2000 Image Compression"``."""
    names = sorted({header.transfer_syntax.name for header in headers})
    return ", ".join(names)
