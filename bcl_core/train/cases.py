"""Cases of a ``bcl synth`` folder: series, target masks and click points (no torch here).

Layout (see DESIGN.md, "Public contracts")::

    DIR/<case_id>/ct/*.dcm, DIR/<case_id>/mr/*.dcm, DIR/<case_id>/truth.json,
    DIR/<case_id>/ct_mask.nii.gz, DIR/<case_id>/mr_mask.nii.gz
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bcl_core.errors import InputError
from bcl_core.io.nifti import read_nifti
from bcl_core.volume import Volume, from_sitk

logger = logging.getLogger(__name__)

#: Per modality: series sub-folder, mask file and truth.json key of the click point.
MODALITY_FILES = {
    "ct": ("ct", "ct_mask.nii.gz", "ct_point_mm"),
    "mr": ("mr", "mr_mask.nii.gz", "mr_point_mm"),
}


@dataclass(frozen=True)
class SegCase:
    """One case of one modality: image, whole-target-vertebra mask, body-centre point (LPS mm)."""

    case_id: str
    image: Volume
    mask: Volume
    point_mm: NDArray[np.float64]


def read_series(path: str | Path) -> Volume:
    """Read one DICOM series as a :class:`Volume` (HU for CT).

    Uses ``bcl_core.io.load_volume`` (the project's DICOM loader); falls back to SimpleITK's
    series reader where that loader is not installed.

    Raises
    ------
    InputError
        If no readable series is found.
    """
    try:
        from bcl_core.io import load_volume  # type: ignore[attr-defined]
    except ImportError:
        load_volume = None
    if load_volume is not None:
        return load_volume(path)  # type: ignore[no-any-return]
    import SimpleITK as sitk

    folder = Path(path)
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)) if folder.is_dir() else ()
    if not files:
        raise InputError(f"No DICOM series found in {folder}.")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    image = reader.Execute()
    first = sitk.ReadImage(files[0])
    modality = first.GetMetaData("0008|0060").strip() if first.HasMetaDataKey("0008|0060") else "OT"
    return from_sitk(image, modality=modality)


def case_dirs(root: str | Path) -> list[Path]:
    """Case folders (those holding a ``truth.json``) under a ``bcl synth`` folder, sorted."""
    base = Path(root)
    if not base.is_dir():
        raise InputError(f"Data folder not found: {base}. Generate one with `bcl synth`.")
    found = sorted(p.parent for p in base.glob("*/truth.json"))
    if not found:
        raise InputError(f"No cases (*/truth.json) in {base}; generate them with `bcl synth`.")
    return found


def read_truth(case_dir: Path) -> dict[str, object]:
    """The case's ``truth.json``."""
    return dict(json.loads((case_dir / "truth.json").read_text(encoding="utf-8")))


def load_seg_case(case_dir: str | Path, modality: str) -> SegCase:
    """Load one case's series, target mask and click point for ``modality`` (``ct``/``mr``)."""
    folder = Path(case_dir)
    series_dir, mask_name, point_key = MODALITY_FILES[modality]
    truth = read_truth(folder)
    image = read_series(folder / series_dir)
    mask = read_nifti(folder / mask_name, modality="SEG")
    point = np.asarray(truth[point_key], dtype=float)
    return SegCase(case_id=folder.name, image=image, mask=mask, point_mm=point)
