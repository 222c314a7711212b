"""How large a series may be once decoded: the one setting behind every size check.

The decoded size of a series is known from its headers (Rows x Columns x slices) before any
pixel data is read, so a small archive whose headers declare gigabytes of images is refused
without decoding it. The limit is sized for the largest real spine CT (a 1024 x 1024 matrix,
2,000 slices) and can be changed with one environment variable, ``BCL_MAX_SERIES_SIZE``
(``COLUMNSxROWSxSLICES``; see ``docs/dicom_io.md``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from bcl_core.errors import InputLimitError

#: Environment variable that sets the largest decoded series, ``COLUMNSxROWSxSLICES``.
MAX_SERIES_SIZE_ENV = "BCL_MAX_SERIES_SIZE"
#: Default: the largest real spine CT (1024 x 1024 matrix, 2,000 slices).
DEFAULT_MAX_SERIES_SIZE = (1024, 1024, 2000)
#: Folders below the given one that a search goes down (a PACS export uses about 5).
MAX_FOLDER_DEPTH = 32

_SIZE_PATTERN = re.compile(r"^\s*(\d+)\s*[xX*]\s*(\d+)\s*[xX*]\s*(\d+)\s*$")


@dataclass(frozen=True)
class SeriesSizeLimit:
    """The largest series the loader decodes.

    Parameters
    ----------
    columns, rows:
        The in-plane matrix; a slice may hold at most ``columns * rows`` pixels (so a
        2048 x 512 matrix passes a 1024 x 1024 limit).
    slices:
        The most slices (frames) in one series.
    """

    columns: int
    rows: int
    slices: int

    @property
    def max_slice_pixels(self) -> int:
        """Most pixels in one slice."""
        return self.columns * self.rows

    @property
    def max_series_voxels(self) -> int:
        """Most voxels in one series."""
        return self.max_slice_pixels * self.slices

    def describe(self) -> str:
        """E.g. ``'1024 x 1024 pixels per slice and 2000 slices'``."""
        return f"{self.columns} x {self.rows} pixels per slice and {self.slices} slices"

    def excess(self, columns: int, rows: int, slices: int) -> str | None:
        """Why a series of this size is over the limit, or ``None`` when it is within it."""
        if columns * rows > self.max_slice_pixels:
            return f"each slice has {columns} x {rows} pixels"
        if slices > self.slices:
            return f"it has {slices} slices"
        return None


def series_size_limit() -> SeriesSizeLimit:
    """The limit in force: ``BCL_MAX_SERIES_SIZE`` when set, else the default.

    Returns
    -------
    SeriesSizeLimit

    Raises
    ------
    InputLimitError
        If the variable is set but is not three positive whole numbers like ``1024x1024x2000``.

    Examples
    --------
    >>> series_size_limit().describe()  # doctest: +SKIP
    '1024 x 1024 pixels per slice and 2000 slices'
    """
    text = os.environ.get(MAX_SERIES_SIZE_ENV, "").strip()
    if not text:
        return SeriesSizeLimit(*DEFAULT_MAX_SERIES_SIZE)
    match = _SIZE_PATTERN.match(text)
    if match is None or min(int(group) for group in match.groups()) < 1:
        raise InputLimitError(
            f"{MAX_SERIES_SIZE_ENV}={text!r} is not a size like 1024x1024x2000 (columns x rows x "
            "slices, whole numbers above 0); correct it or unset it to use the default."
        )
    columns, rows, slices = (int(group) for group in match.groups())
    return SeriesSizeLimit(columns, rows, slices)
