"""Image input and output: DICOM series, NIfTI, safe zips, de-identification.

The public entry points:

* :func:`load_volume`: the single image series of a folder, file list, uploads or zip.
* :func:`inspect_input`: every series found, with problems and fitness for prediction.
* :func:`open_input`, :func:`scan_files`, :func:`read_series`: the same steps one by one
  (the app keeps the scan and reads the series the user picks).
"""

from __future__ import annotations

from bcl_core.io.dicom_reader import DicomScan, inspect_input, load_volume, read_series, scan_files
from bcl_core.io.dicom_series import Problem, SeriesInfo
from bcl_core.io.sources import FileRef, open_input

__all__ = [
    "DicomScan",
    "FileRef",
    "Problem",
    "SeriesInfo",
    "inspect_input",
    "load_volume",
    "open_input",
    "read_series",
    "scan_files",
]
