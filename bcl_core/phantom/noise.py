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


class FbpNoise:
    """CT noise as filtered back projection makes it (generation 2).

    Each slice is fresh white noise filtered in the frequency domain so that its noise power
    spectrum is the ramp ``|f|`` rolled off by the reconstruction kernel,
    ``NPS(f) ~ f exp(-(f / f_c)^4)``, peaking at ``f_peak = f_c / 4^(1/4)`` (Kijewski and Judy
    1987); consecutive slices share part of their white noise (overlapping reconstructions), so
    only adjacent slices correlate.

    Parameters
    ----------
    rng:
        Generator (the case's noise stream).
    shape:
        ``(rows, columns)`` of the slices.
    pixel_mm:
        In-plane pixel size (sets the frequency axis).
    peak_per_mm:
        Spatial frequency (mm^-1) where the noise power peaks.
    adjacent_correlation:
        Correlation between neighbouring slices (0 to 0.5).
    """

    def __init__(self, rng: np.random.Generator, shape: tuple[int, int], pixel_mm: float,
                 peak_per_mm: float, adjacent_correlation: float) -> None:
        self._rng = rng
        self._shape = shape
        fy = np.fft.fftfreq(shape[0], d=pixel_mm)[:, None]
        fx = np.fft.rfftfreq(shape[1], d=pixel_mm)[None, :]
        f = np.sqrt(fx * fx + fy * fy)
        cutoff = peak_per_mm * 4.0 ** 0.25
        power = f * np.exp(-((f / cutoff) ** 4))
        # Unit variance: the rfft half-plane counts twice except its DC / Nyquist columns.
        weights = np.full(power.shape, 2.0)
        weights[:, 0] = 1.0
        if shape[1] % 2 == 0:
            weights[:, -1] = 1.0
        self._amplitude = np.sqrt(power / ((weights * power).sum() / (shape[0] * shape[1])))
        # n_k = (w_k + a w_(k-1)) / sqrt(1 + a^2) has lag-1 correlation a / (1 + a^2).
        rho = float(np.clip(adjacent_correlation, 0.0, 0.49))
        self._mix = (1.0 - np.sqrt(max(1.0 - 4.0 * rho * rho, 0.0))) / (2.0 * rho) if rho else 0.0
        self._previous = rng.standard_normal(shape, dtype=np.float32)

    def slices(self, count: int) -> NDArray[np.float32]:
        """The next ``count`` noise slices (unit variance), shape ``(count, rows, columns)``."""
        out = np.empty((count, *self._shape), dtype=np.float32)
        norm = np.float32(1.0 / np.sqrt(1.0 + self._mix ** 2))
        for n in range(count):
            white = self._rng.standard_normal(self._shape, dtype=np.float32)
            mixed = (white + np.float32(self._mix) * self._previous) * norm
            self._previous = white
            out[n] = np.fft.irfft2(np.fft.rfft2(mixed) * self._amplitude, s=self._shape)
        return out


def vertical_texture(rng: np.random.Generator, shape: tuple[int, int, int],
                     spacing_mm: tuple[float, float, float], in_plane_mm: float,
                     along_z_mm: float) -> NDArray[np.float32]:
    """Unit-variance trabecular texture elongated along ``z`` (vertical trabeculae).

    Parameters
    ----------
    rng:
        Generator.
    shape:
        ``(slices, rows, columns)``.
    spacing_mm:
        ``(column, row, slice)`` spacing, as :class:`bcl_core.volume.Volume`.
    in_plane_mm, along_z_mm:
        Gaussian correlation lengths (sigma) in-plane and along ``z``.
    """
    field = rng.standard_normal(shape, dtype=np.float32)
    sigmas = (along_z_mm / spacing_mm[2], in_plane_mm / spacing_mm[1],
              in_plane_mm / spacing_mm[0])
    ndimage.gaussian_filter(field, sigmas, output=field, mode="wrap", truncate=3.0)
    field /= max(float(field.std()), 1e-6)
    return field
