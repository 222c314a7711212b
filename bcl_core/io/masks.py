"""Vertebra masks given from outside (an edited or approved outline) for a series.

:func:`read_mask` is the one place a mask file becomes a mask of a series: it reads the file,
checks that it lies on the series' own voxel grid and is not empty, and refuses it otherwise
with a message that says what to do. :func:`check_mask` does the same checks on a mask already
in memory (the outline the surgeon approved in the app). NIfTI for now; DICOM SEG will be read
here too.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from bcl_core.errors import InputError
from bcl_core.volume import Volume

#: How far a mask's grid may sit from its series' (mm; NIfTI stores geometry as float32).
GRID_TOLERANCE_MM = 0.01
#: How far a mask's axis directions may differ from its series' (cosines).
DIRECTION_TOLERANCE = 1e-4
#: File endings :func:`read_mask` reads.
MASK_SUFFIXES: tuple[str, ...] = (".nii", ".nii.gz")


def _grid_difference(mask: Volume, series: Volume) -> str | None:
    """What differs between the two grids, in words, or ``None`` when they match."""
    if mask.array.shape != series.array.shape:
        return (f"its size {mask.size_ijk} is not the series' {series.size_ijk} "
                "(columns, rows, slices)")
    if not np.allclose(mask.spacing, series.spacing, atol=GRID_TOLERANCE_MM):
        return (f"its voxel spacing {tuple(round(s, 3) for s in mask.spacing)} mm is not the "
                f"series' {tuple(round(s, 3) for s in series.spacing)} mm")
    if not np.allclose(mask.direction, series.direction, atol=DIRECTION_TOLERANCE):
        return "its axes point in other directions than the series'"
    if not np.allclose(mask.origin, series.origin, atol=GRID_TOLERANCE_MM):
        shift = float(np.linalg.norm(np.subtract(mask.origin, series.origin)))
        return f"it is shifted {shift:.2f} mm from the series"
    return None


def check_mask(mask: Volume, series: Volume, what: str) -> Volume:
    """``mask`` as a ``uint8`` 0/1 mask of ``series``, after checking it belongs there.

    Parameters
    ----------
    mask:
        A mask (any integer or float values; non-zero is inside).
    series:
        The series it must outline (same voxel grid).
    what:
        How to name the mask in messages (``"the CT mask"``, ``"ct_mask.nii.gz"``).

    Returns
    -------
    Volume
        The mask on ``series``' exact grid, modality ``"SEG"``, metadata ``volume_ml``.

    Raises
    ------
    InputError
        If the mask is not on the series' voxel grid or is empty.
    """
    difference = _grid_difference(mask, series)
    if difference is not None:
        raise InputError(f"{what} does not fit the {series.modality} series: {difference}. "
                         "Use a mask made on this series (for example by `bcl segment`).")
    inside = np.asarray(mask.array) != 0
    if not inside.any():
        raise InputError(f"{what} is empty (no voxel marked); outline the target vertebra "
                         "again or leave the mask out to segment it from the point.")
    volume_ml = float(inside.sum()) * float(np.prod(series.spacing)) / 1000.0
    metadata = {**mask.metadata, "volume_ml": volume_ml}
    return Volume(inside.astype(np.uint8), spacing=series.spacing, origin=series.origin,
                  direction=series.direction, modality="SEG", metadata=metadata)


def read_mask(path: str | Path, series: Volume) -> Volume:
    """Read a mask file of ``series`` (NIfTI) and check it with :func:`check_mask`.

    Parameters
    ----------
    path:
        ``.nii`` or ``.nii.gz`` file.
    series:
        The series the mask outlines.

    Returns
    -------
    Volume
        As :func:`check_mask`; metadata gains ``source: "file"``.

    Raises
    ------
    InputError
        If the file is missing, of another format, unreadable, not on the series' grid or
        empty.
    """
    from bcl_core.io.nifti import read_nifti

    source = Path(path)
    if not source.name.lower().endswith(MASK_SUFFIXES):
        raise InputError(f"{source.name}: a mask must be a NIfTI file ending in "
                         f"{' or '.join(MASK_SUFFIXES)}.")
    mask = read_nifti(source, modality="SEG")
    checked = check_mask(mask, series, source.name)
    return replace(checked, metadata={**checked.metadata, "source": "file"})
