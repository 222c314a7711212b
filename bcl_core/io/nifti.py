"""NIfTI reading and writing through SimpleITK (LPS <-> RAS handled by ITK)."""

from __future__ import annotations

from pathlib import Path

from bcl_core.errors import InputError
from bcl_core.volume import Volume, from_sitk, to_sitk


def write_nifti(volume: Volume, path: str | Path) -> Path:
    """Write a volume (image or mask) as NIfTI; ``.nii.gz`` compresses.

    The file keeps the volume's grid, so a mask written here overlays its series exactly.
    """
    import SimpleITK as sitk

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(to_sitk(volume), str(out), useCompression=out.name.endswith(".gz"))
    return out


def read_nifti(path: str | Path, modality: str = "OT") -> Volume:
    """Read a 3D NIfTI file as a :class:`Volume` in LPS mm.

    Raises
    ------
    InputError
        If the file is missing or not a readable 3D NIfTI image.
    """
    import SimpleITK as sitk

    source = Path(path)
    if not source.is_file():
        raise InputError(f"NIfTI file not found: {source}.")
    try:
        image = sitk.ReadImage(str(source))
    except RuntimeError as exc:
        raise InputError(f"{source.name} is not a readable NIfTI image.") from exc
    if image.GetDimension() != 3:
        raise InputError(f"{source.name} is {image.GetDimension()}D; a 3D image is needed.")
    return from_sitk(image, modality=modality)
