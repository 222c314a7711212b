"""Augmentations that carry an internal-site model to other scanners (numpy, patch-level).

What differs between sites (DESIGN.md, "Sites"): slice thickness (CT 1.25 vs 3.75 mm),
in-plane resolution (MRI 320x256 vs 384x326), noise, and intensity scaling. Each is simulated on
the raw (un-normalised) patch, before the sidecar's normalisation, so the model sees what
inference will feed it from such a scanner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

_ScalarT = TypeVar("_ScalarT", bound=np.generic)


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of each augmentation; probabilities are per patch."""

    slice_blur_voxels: float = 1.2
    slice_blur_p: float = 0.7
    #: Probability of re-acquiring the patch through thick slices (:func:`thick_slice_operator`)
    #: instead of the Gaussian slice blur; 0 keeps the blur alone (the recipe of the MRI model).
    thick_slice_p: float = 0.0
    #: Range of the simulated slice thickness (contiguous slices), mm.
    thick_slice_mm: tuple[float, float] = (2.0, 5.0)
    inplane_blur_voxels: float = 0.6
    inplane_blur_p: float = 0.3
    noise_fraction: float = 0.04
    intensity_scale: float = 0.1
    intensity_shift_fraction: float = 0.03
    mr_gamma: float = 0.3
    flip_lr_p: float = 0.5


def thick_slice_operator(n_voxels: int, voxel_mm: float, thickness_mm: float,
                         phase_mm: float) -> NDArray[np.float64]:
    """Linear map that re-acquires a 1-D profile through thick slices, then resamples it back.

    What a thick-slice series looks like once inference has resampled it onto the patch grid:
    each slice averages the signal over its thickness (slices contiguous, the first centred
    ``phase_mm`` from voxel 0's centre, the rest every ``thickness_mm`` both ways), and every
    patch voxel is the linear interpolation between the two nearest slice centres (the nearest
    slice beyond the outermost ones). A Gaussian blur of the same width misses the piecewise-
    linear staircase that the slice positions leave in the profile.

    Parameters
    ----------
    n_voxels, voxel_mm:
        Length and voxel size of the profile (the patch's slice axis).
    thickness_mm:
        Simulated slice thickness and spacing.
    phase_mm:
        Offset of one slice centre from voxel 0's centre.

    Returns
    -------
    ndarray
        ``(n_voxels, n_voxels)`` matrix ``M``: the re-acquired profile is ``M @ profile``.
    """
    positions = np.arange(n_voxels, dtype=np.float64) * voxel_mm
    first = phase_mm - thickness_mm * np.ceil(phase_mm / thickness_mm)
    centres = np.arange(first, positions[-1] + thickness_mm, thickness_mm, dtype=np.float64)
    # Slice averages: the linearly interpolated profile at sub-positions across each slice.
    n_sub = max(4, int(np.ceil(4 * thickness_mm / voxel_mm)))
    offsets = ((np.arange(n_sub) + 0.5) / n_sub - 0.5) * thickness_mm
    samples = (centres[:, None] + offsets[None, :]).ravel()
    acquire = _interpolation_matrix(positions, samples).reshape(centres.size, n_sub, n_voxels)
    return _interpolation_matrix(centres, positions) @ acquire.mean(axis=1)


def _interpolation_matrix(nodes: NDArray[np.float64], points: NDArray[np.float64]
                          ) -> NDArray[np.float64]:
    """``(len(points), len(nodes))`` weights of :func:`numpy.interp` (clamped at the ends)."""
    return np.stack([np.interp(points, nodes, column) for column in np.eye(nodes.size)], axis=1)


def augment_raw(patch: NDArray[np.float32], slice_axis: int, modality: str,
                config: AugmentConfig, rng: np.random.Generator,
                slice_voxel_mm: float = 1.0) -> NDArray[np.float32]:
    """Intensity scaling, thick slices or slice blur, resolution blur and noise on a raw patch.

    Parameters
    ----------
    patch:
        Raw intensities on the canonical patch grid, ``(k, j, i)``.
    slice_axis:
        Array axis of the series' slice direction (thickness is simulated along it).
    slice_voxel_mm:
        The patch's voxel size along ``slice_axis`` (thick slices are simulated in mm).
    modality:
        ``"ct"`` or ``"mr"``.
    config:
        Ranges.
    rng:
        Random generator (seeded by the training loop).
    """
    out = patch.astype(np.float32, copy=True)
    spread = float(np.percentile(out, 99) - np.percentile(out, 1)) or 1.0
    scale = 1.0 + rng.uniform(-config.intensity_scale, config.intensity_scale)
    if modality == "mr":
        scale *= float(np.exp(rng.uniform(-0.5, 0.5)))  # MRI units are arbitrary per scanner
    out = out * np.float32(scale) + np.float32(
        rng.uniform(-1, 1) * config.intensity_shift_fraction * spread)
    if rng.random() < config.thick_slice_p:
        operator = thick_slice_operator(out.shape[slice_axis], slice_voxel_mm,
                                        rng.uniform(*config.thick_slice_mm),
                                        rng.uniform(0.0, config.thick_slice_mm[1]))
        out = np.moveaxis(np.tensordot(operator, out, axes=([1], [slice_axis])), 0,
                          slice_axis).astype(np.float32)
    elif rng.random() < config.slice_blur_p:
        sigma = rng.uniform(0.2, config.slice_blur_voxels)
        out = ndimage.gaussian_filter1d(out, sigma, axis=slice_axis, mode="nearest")
    if rng.random() < config.inplane_blur_p:
        sigma = rng.uniform(0.1, config.inplane_blur_voxels)
        for axis in range(3):
            if axis != slice_axis:
                out = ndimage.gaussian_filter1d(out, sigma, axis=axis, mode="nearest")
    noise_sd = rng.uniform(0, config.noise_fraction) * spread * abs(scale)
    out += rng.normal(0.0, noise_sd, out.shape).astype(np.float32)
    return out


def augment_normalised(image: NDArray[np.float32], modality: str, config: AugmentConfig,
                       rng: np.random.Generator) -> NDArray[np.float32]:
    """Contrast changes after normalisation (MRI gamma: other sequences' weighting)."""
    if modality != "mr" or rng.random() < 0.5:
        return image
    gamma = float(np.exp(rng.uniform(-config.mr_gamma, config.mr_gamma)))
    positive = np.clip(image, 0, None)
    return (np.sign(image) * positive ** gamma + np.minimum(image, 0)).astype(np.float32)


def flip_left_right(arrays: list[NDArray[_ScalarT]], rng: np.random.Generator,
                    probability: float) -> list[NDArray[_ScalarT]]:
    """Mirror every array along the LPS x axis (array axis 2) together, with ``probability``.

    The spine is left-right symmetric; the patch grid is centred on the click in x, so a mirrored
    patch is still a valid (image, guidance, mask) triple.
    """
    if rng.random() >= probability:
        return arrays
    return [np.ascontiguousarray(a[..., ::-1]) for a in arrays]
