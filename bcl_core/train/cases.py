"""Cases of a ``bcl synth`` folder for training: series, target masks and click points.

No torch here. Every file of a case folder is read by :mod:`bcl_core.io.case_folder` (the one
reader of ``ct/``, ``mr/``, ``truth.json`` and the masks); this module only pairs a series with
its mask and click point per modality.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bcl_core.io.case_folder import (
    CASE_ROLES,
    CaseRole,
    case_dirs,
    read_case_mask,
    read_case_series,
)
from bcl_core.io.case_folder import read_truth as read_case_truth
from bcl_core.io.dicom_reader import load_volume as read_series
from bcl_core.volume import Volume

logger = logging.getLogger(__name__)

__all__ = ["SegCase", "case_dirs", "load_seg_case", "read_series", "read_truth"]


@dataclass(frozen=True)
class SegCase:
    """One case of one modality: image, whole-target-vertebra mask, body-centre point (LPS mm)."""

    case_id: str
    image: Volume
    mask: Volume
    point_mm: NDArray[np.float64]


def read_truth(case_dir: str | Path) -> dict[str, Any]:
    """The case's whole ``truth.json`` (checked by :func:`bcl_core.io.case_folder.read_truth`).

    Kept for the fusion data builder, which reads labels, oracle and features by key; new code
    uses the typed :class:`bcl_core.io.case_folder.CaseTruth` directly.

    Raises
    ------
    InputError
        If the file is missing, unreadable or lacks usable target points.
    """
    return dict(read_case_truth(case_dir).document)


def load_seg_case(case_dir: str | Path, modality: str) -> SegCase:
    """Load one case's series, target mask and click point for ``modality`` (``ct``/``mr``).

    Raises
    ------
    InputError
        If ``modality`` is not ``ct`` or ``mr``, or a file of the case is missing or unusable
        (series through the project's DICOM checks).
    """
    if modality not in CASE_ROLES:
        from bcl_core.errors import InputError

        raise InputError(f"Unknown modality {modality!r}; use one of {', '.join(CASE_ROLES)}.")
    role: CaseRole = modality  # type: ignore[assignment]
    folder = Path(case_dir)
    truth = read_case_truth(folder)
    return SegCase(case_id=folder.name, image=read_case_series(folder, role),
                   mask=read_case_mask(folder, role),
                   point_mm=np.asarray(truth.point_mm(role), dtype=float))
