"""A case for prediction: the axial CT and the sagittal T2 MRI picked from one input."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bcl_core.errors import InputError
from bcl_core.io import DicomScan, SeriesInfo, open_input, read_series, scan_files
from bcl_core.io.dicom_reader import no_images_error
from bcl_core.io.sources import InputSource
from bcl_core.volume import Volume

logger = logging.getLogger(__name__)

#: Series roles a prediction needs, with the words used in messages.
REQUIRED_ROLES = {"ct_axial": "an axial CT", "mr_sagittal": "a sagittal T2 MRI"}


@dataclass(frozen=True)
class CaseSeries:
    """The two series of a case and the scan they were picked from."""

    ct: Volume
    mr: Volume
    scan: DicomScan


def pick_series(scan: DicomScan, role: str) -> SeriesInfo:
    """The first series fit for prediction in ``role`` (``ct_axial`` or ``mr_sagittal``).

    Raises
    ------
    InputError
        If none is fit; the message lists what was found and why each was not used.
    """
    fit = [info for info in scan.series if info.role == role and info.fit_for_prediction]
    if fit:
        return fit[0]
    found = "; ".join(f"{info.label}: {info.unfit_reason or 'another role'}"
                      for info in scan.series) or "no image series"
    raise InputError(f"This case has no {REQUIRED_ROLES[role]} fit for prediction (found: "
                     f"{found}). Add the series to the folder or zip.")


def load_case(source: InputSource) -> CaseSeries:
    """Load the axial CT and sagittal T2 MRI of a case folder, file list, uploads or zip.

    Raises
    ------
    NoImagesError
        If the input holds no DICOM image.
    InputError, SeriesError
        If a needed series is missing, unfit or cannot be decoded.
    """
    with open_input(source) as files:
        scan = scan_files(files)
        if not scan.series:
            raise no_images_error(scan, "the case")
        ct_info = pick_series(scan, "ct_axial")
        mr_info = pick_series(scan, "mr_sagittal")
        ct, mr = read_series(ct_info), read_series(mr_info)
    logger.info("case loaded: CT %s, MR %s", ct, mr)
    return CaseSeries(ct=ct, mr=mr, scan=scan)
