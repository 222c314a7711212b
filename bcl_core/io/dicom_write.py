"""Write a :class:`~bcl_core.volume.Volume` as a DICOM series (one file per slice).

Used by the synthetic-case generator and by tests that need real DICOM on disk. The files are
plain Explicit VR Little Endian CT or MR Image Storage objects that other readers (SimpleITK,
dcm2niix, OHIF) accept; the geometry comes from the Volume alone:

* ImageOrientationPatient = direction columns ``i`` (along a row) and ``j`` (down a column);
* ImagePositionPatient of slice ``k`` = ``index_to_mm((0, 0, k))``;
* PixelSpacing = ``[spacing_j, spacing_i]`` (row spacing first, as DICOM orders it).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
)

from bcl_core.errors import InputError
from bcl_core.volume import Volume

logger = logging.getLogger(__name__)

#: UID root for objects this project makes (a 2.25 UUID-derived root needs no registration).
UID_ROOT = "2.25."
#: CT pixels are stored as int16 with this intercept (HU = stored * 1 + intercept).
CT_RESCALE_INTERCEPT = -1024.0
CT_RESCALE_SLOPE = 1.0
SOP_CLASS_BY_MODALITY = {"CT": CTImageStorage, "MR": MRImageStorage}


@dataclass(frozen=True)
class SyntheticPatient:
    """Invented patient identity written into synthetic series (clearly marked synthetic)."""

    patient_id: str
    patient_name: str
    birth_date: str = "19500101"
    sex: str = "O"
    study_date: str = "20260101"


def make_uid(*parts: object) -> str:
    """A deterministic DICOM UID from ``parts`` (same parts, same UID).

    Examples
    --------
    >>> make_uid("case", 1) == make_uid("case", 1)
    True
    >>> make_uid("case", 1).startswith("2.25.")
    True
    """
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return UID_ROOT + str(int.from_bytes(digest[:16], "big"))


def _ds_number(value: float) -> str:
    """Format a float for a DS (decimal string) element: at most 16 characters."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    if len(text) > 16:
        text = f"{value:.8g}"
    return "0" if text in ("-0", "") else text


def _stored_pixels(volume: Volume) -> tuple[NDArray[Any], float, float, int]:
    """Stored integer pixels with (slope, intercept, pixel representation)."""
    values = np.asarray(volume.array)
    if volume.modality == "CT":
        stored = np.rint((values - CT_RESCALE_INTERCEPT) / CT_RESCALE_SLOPE)
        stored = np.clip(stored, np.iinfo(np.int16).min, np.iinfo(np.int16).max).astype(np.int16)
        return stored, CT_RESCALE_SLOPE, CT_RESCALE_INTERCEPT, 1
    stored = np.clip(np.rint(values), 0, np.iinfo(np.uint16).max).astype(np.uint16)
    return stored, 1.0, 0.0, 0


def write_series(
    volume: Volume,
    out_dir: str | Path,
    *,
    patient: SyntheticPatient,
    series_description: str,
    series_number: int,
    study_uid: str,
    series_uid: str,
    frame_of_reference_uid: str,
    window_presets: Sequence[tuple[float, float]] = (),
    extra_tags: Mapping[str, Any] | None = None,
    uid_seed: str,
) -> list[Path]:
    """Write ``volume`` as a CT or MR DICOM series, one ``IMxxxxx.dcm`` file per slice.

    Parameters
    ----------
    volume:
        The image; ``volume.modality`` must be ``"CT"`` (values in HU) or ``"MR"``
        (non-negative signal). Slices run along the volume's ``k`` axis.
    out_dir:
        Folder to write into (created if missing).
    patient:
        Invented identity (synthetic cases only).
    series_description, series_number, study_uid, series_uid, frame_of_reference_uid:
        Series-level tags.
    window_presets:
        ``(center, width)`` pairs written as WindowCenter / WindowWidth.
    extra_tags:
        Further attributes by pydicom keyword (e.g. ``{"SliceThickness": 3.0,
        "Manufacturer": "SYNTHETIC"}``); they override the defaults.
    uid_seed:
        Seed for the SOP Instance UIDs, so the same seed writes the same files.

    Returns
    -------
    list of Path
        The files written, in slice order.

    Raises
    ------
    InputError
        If the modality is neither CT nor MR.
    """
    if volume.modality not in SOP_CLASS_BY_MODALITY:
        raise InputError(f"Only CT and MR series can be written, not {volume.modality!r}.")
    # DICOM readers stack slices along row x column: write a right-handed grid.
    volume = volume.right_handed()
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stored, slope, intercept, pixel_representation = _stored_pixels(volume)
    sop_class = SOP_CLASS_BY_MODALITY[volume.modality]
    spacing_i, spacing_j, spacing_k = volume.spacing
    orientation = [*volume.direction[:, 0], *volume.direction[:, 1]]
    rows, columns = stored.shape[1], stored.shape[2]

    template = FileDataset("", {}, preamble=b"\0" * 128)
    template.SOPClassUID = sop_class
    template.Modality = volume.modality
    template.PatientName = patient.patient_name
    template.PatientID = patient.patient_id
    template.PatientBirthDate = patient.birth_date
    template.PatientSex = patient.sex
    template.PatientIdentityRemoved = "NO"
    template.StudyDate = patient.study_date
    template.SeriesDate = patient.study_date
    template.StudyTime = "120000"
    template.StudyInstanceUID = study_uid
    template.SeriesInstanceUID = series_uid
    template.FrameOfReferenceUID = frame_of_reference_uid
    template.StudyID = "1"
    template.AccessionNumber = ""
    template.ReferringPhysicianName = ""
    template.SeriesNumber = int(series_number)
    template.SeriesDescription = series_description
    template.Manufacturer = "BCL Predict synthetic generator"
    template.BodyPartExamined = "SPINE"
    template.PatientPosition = "HFS"
    template.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL" if volume.plane == "axial" else "OTHER"]
    template.ImageOrientationPatient = [_ds_number(float(v)) for v in orientation]
    template.PixelSpacing = [_ds_number(spacing_j), _ds_number(spacing_i)]
    template.SliceThickness = _ds_number(spacing_k)
    template.Rows = rows
    template.Columns = columns
    template.SamplesPerPixel = 1
    template.PhotometricInterpretation = "MONOCHROME2"
    template.BitsAllocated = 16
    template.BitsStored = 16
    template.HighBit = 15
    template.PixelRepresentation = pixel_representation
    template.RescaleIntercept = _ds_number(intercept)
    template.RescaleSlope = _ds_number(slope)
    if volume.modality == "CT":
        template.RescaleType = "HU"
        template.KVP = "120"
    if window_presets:
        template.WindowCenter = [_ds_number(c) for c, _ in window_presets]
        template.WindowWidth = [_ds_number(w) for _, w in window_presets]
    for keyword, value in (extra_tags or {}).items():
        setattr(template, keyword, value)

    paths: list[Path] = []
    for k in range(stored.shape[0]):
        sop_uid = UID(make_uid(uid_seed, series_uid, k))
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        template.file_meta = meta
        template.SOPInstanceUID = sop_uid
        template.InstanceNumber = k + 1
        position = volume.index_to_mm((0.0, 0.0, float(k)))
        template.ImagePositionPatient = [_ds_number(float(v)) for v in position]
        template.SliceLocation = _ds_number(float(position @ volume.slice_normal))
        template.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        path = folder / f"IM{k + 1:05d}.dcm"
        template.save_as(path, enforce_file_format=True)
        paths.append(path)
    logger.info("wrote %d %s slices to %s", len(paths), volume.modality, folder)
    return paths
