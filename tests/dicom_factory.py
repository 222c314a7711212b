"""Write small DICOM series with pydicom for the I/O tests, defects included on request.

Independent of ``bcl_core``: geometry is written straight from numpy vectors, so the loader is
checked against what was planted, and against SimpleITK reading the same files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    CTImageStorage,
    EnhancedCTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

AXIAL = np.eye(3)
# Sagittal as scanners write it: rows A->P, columns head->feet, slices along the normal.
SAGITTAL = np.array([[0, 0, -1], [1, 0, 0], [0, -1, 0]], float)
CORONAL = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], float)


def oblique(angle_deg: float = 25.0) -> np.ndarray:
    """An axial frame rotated about the L-R axis and then the S-I axis."""
    a = np.radians(angle_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    rz = np.array([[np.cos(a / 2), -np.sin(a / 2), 0], [np.sin(a / 2), np.cos(a / 2), 0],
                   [0, 0, 1]])
    return rz @ rx


def base_dataset(modality: str = "CT", *, series_uid: str, rows: int, columns: int,
                 description: str = "", series_number: int = 1, signed: bool = False,
                 bits_stored: int = 16, sop_class: str | None = None) -> Dataset:
    """A minimal image dataset with identifying attributes filled in (as scanners do)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class or (CTImageStorage if modality == "CT" else MRImageStorage)
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.PatientName = "DOE^JANE"
    ds.PatientID = "PID-12345"
    ds.PatientBirthDate = "19500101"
    ds.StudyDate = "20240102"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.2"
    ds.Modality = modality
    ds.SeriesDescription = description
    ds.SeriesNumber = series_number
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    return ds


def make_slice(pixels: np.ndarray, position: Sequence[float], direction: np.ndarray,
               pixel_spacing_ij: Sequence[float], *, series_uid: str, instance: int,
               modality: str = "CT", slope: float = 1.0, intercept: float = 0.0,
               sop_uid: str | None = None, **attributes: Any) -> Dataset:
    """One single-frame image; ``attributes`` override or add DICOM keywords."""
    signed = pixels.dtype.kind == "i"
    ds = base_dataset(modality, series_uid=series_uid, rows=pixels.shape[0],
                      columns=pixels.shape[1], signed=signed,
                      bits_stored=int(attributes.pop("BitsStored", 16)))
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
    ds.ImageOrientationPatient = [f"{v:.8f}" for v in
                                  np.concatenate([direction[:, 0], direction[:, 1]])]
    ds.PixelSpacing = [f"{pixel_spacing_ij[1]:.6f}", f"{pixel_spacing_ij[0]:.6f}"]
    ds.SliceThickness = attributes.pop("SliceThickness", 9.9)  # deliberately not the spacing
    ds.RescaleSlope = f"{slope:g}"
    ds.RescaleIntercept = f"{intercept:g}"
    for keyword, value in attributes.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    ds.PixelData = np.ascontiguousarray(pixels.astype("<i2" if signed else "<u2")).tobytes()
    return ds


def write_series(folder: Path, stored: np.ndarray, *, spacing: Sequence[float] = (0.8, 0.7, 1.25),
                 origin: Sequence[float] = (-100.0, -80.0, 50.0),
                 direction: np.ndarray = AXIAL, modality: str = "CT",
                 positions: np.ndarray | None = None, series_uid: str | None = None,
                 slope: float = 1.0, intercept: float = 0.0, prefix: str = "im",
                 shuffle: bool = True, per_slice: Sequence[dict[str, Any]] | None = None,
                 **attributes: Any) -> list[Path]:
    """Write ``stored[k, j, i]`` as one file per slice; returns the paths in slice order.

    Slice ``k`` sits at ``origin + k * spacing[2] * direction[:, 2]`` unless ``positions`` gives
    every slice's ImagePositionPatient. Files get shuffled names so sorting is exercised.
    """
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    if positions is None:
        steps = np.arange(stored.shape[0])[:, None] * spacing[2] * direction[:, 2][None, :]
        positions = np.asarray(origin, float)[None, :] + steps
    order = np.random.default_rng(7).permutation(len(stored)) if shuffle else range(len(stored))
    paths: list[Path] = [folder / f"{prefix}{order[k]:04d}.dcm" for k in range(len(stored))]
    for k, path in enumerate(paths):
        extra = dict(attributes)
        if per_slice is not None:
            extra.update(per_slice[k])
        ds = make_slice(stored[k], positions[k], direction, spacing[:2], series_uid=series_uid,
                        instance=k + 1, modality=modality, slope=slope, intercept=intercept,
                        **extra)
        ds.save_as(path, enforce_file_format=True)
    return paths


def enhanced_ct(stored: np.ndarray, positions: np.ndarray, *, pixel_spacing_ij=(0.6, 0.6),
                direction: np.ndarray = AXIAL, slope: float = 1.0,
                intercept: float = -1024.0) -> Dataset:
    """An enhanced (multi-frame) CT with per-frame positions in the functional groups."""
    frames, rows, columns = stored.shape
    ds = base_dataset("CT", series_uid=generate_uid(), rows=rows, columns=columns,
                      sop_class=EnhancedCTImageStorage, description="enhanced")
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.NumberOfFrames = frames
    shared = Dataset()
    orientation = Dataset()
    orientation.ImageOrientationPatient = [float(v) for v in
                                           np.concatenate([direction[:, 0], direction[:, 1]])]
    measures = Dataset()
    measures.PixelSpacing = [pixel_spacing_ij[1], pixel_spacing_ij[0]]
    measures.SliceThickness = 5.0
    transform = Dataset()
    transform.RescaleSlope = slope
    transform.RescaleIntercept = intercept
    transform.RescaleType = "HU"
    shared.PlaneOrientationSequence = DicomSequence([orientation])
    shared.PixelMeasuresSequence = DicomSequence([measures])
    shared.PixelValueTransformationSequence = DicomSequence([transform])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    per_frame = []
    for position in positions:
        item = Dataset()
        plane = Dataset()
        plane.ImagePositionPatient = [float(v) for v in position]
        item.PlanePositionSequence = DicomSequence([plane])
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    ds.PixelData = np.ascontiguousarray(stored.astype("<u2")).tobytes()
    return ds


def ramp(shape: tuple[int, int, int], seed: int = 0, high: int = 3000) -> np.ndarray:
    """Random stored values (uint16) of a given (k, j, i) shape."""
    return np.random.default_rng(seed).integers(0, high, size=shape).astype(np.uint16)
