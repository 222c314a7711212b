"""Correlated image noise from a small bank of pre-filtered fields.

Filtering fresh white noise for every slice of a 512x512x250 series is the slowest part of CT
simulation; instead a few fields are filtered once and each slice takes a window at a random
offset. The result has the same local statistics (variance, correlation length) and is
deterministic for a given generator.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

BANK_SIZE = 6
BANK_PAD = 64


class NoiseBank:
    """Unit-variance Gaussian noise with an in-plane correlation ``sigma_px``.

    Parameters
    ----------
    rng:
        Generator (the case's noise stream).
    shape:
        ``(rows, columns)`` of the slices to serve.
    sigma_px:
        Gaussian correlation length in pixels (0 for white noise).
    """

    def __init__(self, rng: np.random.Generator, shape: tuple[int, int], sigma_px: float) -> None:
        self._rng = rng
        self._shape = shape
        fields = rng.standard_normal((BANK_SIZE, shape[0] + BANK_PAD, shape[1] + BANK_PAD),
                                     dtype=np.float32)
        if sigma_px > 0:
            fields = ndimage.gaussian_filter(fields, (0, sigma_px, sigma_px), mode="wrap")
            fields /= fields.std()
        self._fields = fields

    def slices(self, count: int) -> NDArray[np.float32]:
        """``count`` noise slices, shape ``(count, rows, columns)``."""
        rows, cols = self._shape
        picks = self._rng.integers(0, [BANK_SIZE, BANK_PAD + 1, BANK_PAD + 1], size=(count, 3))
        out = np.empty((count, rows, cols), dtype=np.float32)
        for n, (b, oy, ox) in enumerate(picks):
            field = self._fields[b, oy:oy + rows, ox:ox + cols]
            out[n] = field if n % 2 == 0 else field[::-1, ::-1]
        return out
