"""Training patches for the click-guided segmentation model (numpy; no torch here).

Each case is resampled once into a *region*: the canonical patch grid around the body centre,
larger than the patch by a margin, so that click jitter (and clicks beside the vertebra, which
must give an empty mask) become plain crops of the cached arrays. The patch a sample uses is
exactly what inference would build for that click: the same grid rule, the same normalisation,
the same guidance encoding (:mod:`bcl_core.predict.preprocess`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from bcl_core.predict.preprocess import (
    crop_to_cover,
    extract_patch,
    guidance_channel,
    normalise_intensity,
    pad_edges,
    patch_template,
    slice_array_axis,
)
from bcl_core.predict.sidecar import InputSpec
from bcl_core.train.augment import (
    AugmentConfig,
    augment_normalised,
    augment_raw,
    flip_left_right,
)
from bcl_core.train.cases import SegCase
from bcl_core.volume import Volume, resample


@dataclass(frozen=True)
class SamplingConfig:
    """Where clicks fall: jitter inside the body, and clicks beside the vertebra."""

    margin_voxels: int = 20
    jitter_mm: float = 9.0
    negative_fraction: float = 0.12
    negative_distance_mm: tuple[float, float] = (18.0, 30.0)
    negative_clearance_mm: float = 4.0
    #: Train on the mask's partial-volume fraction on the patch grid (True) or on that fraction
    #: thresholded at 0.5. A binary target at 1.75-2 mm caps the Dice of the mask drawn back on
    #: the series grid at about 0.96 (CT) / 0.95 (MRI), a soft one at 0.99: the network can
    #: only place the boundary between patch voxels if its target says where it lies.
    soft_targets: bool = True


@dataclass(frozen=True)
class SegRegion:
    """A case cached on the canonical grid around its body centre (raw intensities)."""

    case_id: str
    grid: Volume
    image: NDArray[np.float16]
    mask: NDArray[np.uint8]
    #: Training target: the mask's fraction in each voxel in 1/255 steps (binary if not soft).
    target: NDArray[np.uint8]
    clear_of_mask: NDArray[np.bool_]
    point_mm: NDArray[np.float64]
    slice_axis: int
    volume_ml: float


def mask_volume_ml(mask: Volume) -> float:
    """Volume of a binary mask in millilitres."""
    return float(np.count_nonzero(mask.array)) * float(np.prod(mask.spacing)) / 1000.0


def build_region(case: SegCase, spec: InputSpec, sampling: SamplingConfig) -> SegRegion:
    """Resample a case's image and mask onto the cached region grid (float16: memory)."""
    margin_voxels = sampling.margin_voxels
    size = tuple(n + 2 * margin_voxels for n in spec.size_ijk)
    patch = extract_patch(case.image, case.point_mm, spec, size_ijk=size)
    grid = patch_template(case.point_mm, spec, size_ijk=size)
    mask_crop = crop_to_cover(case.mask, grid)
    if mask_crop is None:
        fraction = np.zeros(grid.array.shape, np.float32)
    else:
        fraction = resample(pad_edges(replace(mask_crop,
                                              array=mask_crop.array.astype(np.float32))),
                            grid.size_ijk, grid.spacing, grid.origin, grid.direction, order=1,
                            fill_value=0.0).array
    mask = (fraction >= 0.5).astype(np.uint8)
    target = np.rint(255.0 * np.clip(fraction, 0.0, 1.0)).astype(np.uint8) \
        if sampling.soft_targets else mask * np.uint8(255)
    distance = ndimage.distance_transform_edt(mask == 0, sampling=grid.spacing[::-1])
    return SegRegion(
        case_id=case.case_id,
        grid=grid,
        image=patch.array.astype(np.float16),
        mask=mask,
        target=target,
        clear_of_mask=distance > sampling.negative_clearance_mm,
        point_mm=np.asarray(case.point_mm, float),
        slice_axis=slice_array_axis(case.image),
        volume_ml=mask_volume_ml(case.mask),
    )


def _voxel(region: SegRegion, point_mm: NDArray[np.float64]) -> tuple[int, int, int]:
    return region.grid.nearest_voxel(point_mm)


def _positive_click(region: SegRegion, sampling: SamplingConfig,
                    rng: np.random.Generator) -> NDArray[np.float64]:
    for _ in range(20):
        offset = rng.normal(size=3)
        offset *= sampling.jitter_mm * rng.random() ** (1 / 3) / np.linalg.norm(offset)
        candidate = region.point_mm + offset
        if region.mask[_voxel(region, candidate)]:
            return candidate
    return region.point_mm.copy()


def _negative_click(region: SegRegion, sampling: SamplingConfig,
                    rng: np.random.Generator) -> NDArray[np.float64] | None:
    """A click anterior or lateral to the vertebra, clear of it (same axial level)."""
    reach_mm = sampling.margin_voxels * np.asarray(region.grid.spacing)
    for _ in range(20):
        angle = np.radians(rng.uniform(-100, 100))
        distance = rng.uniform(*sampling.negative_distance_mm)
        offset = np.array([np.sin(angle) * distance, -np.cos(angle) * distance,
                           rng.uniform(-4, 4)])
        candidate = region.point_mm + offset
        if np.all(np.abs(offset) <= reach_mm) and region.clear_of_mask[_voxel(region, candidate)]:
            return candidate
    return None


def sample_patch(region: SegRegion, spec: InputSpec, sigma_mm: float, rng: np.random.Generator,
                 sampling: SamplingConfig, augment: AugmentConfig | None,
                 modality: str) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """One ``(input (2, k, j, i), target (1, k, j, i))`` training pair.

    ``augment=None`` gives the plain validation pair: the click at the body centre.
    """
    click = region.point_mm.copy()
    empty_target = False
    if augment is not None:
        negative = None
        if rng.random() < sampling.negative_fraction:
            negative = _negative_click(region, sampling, rng)
        if negative is not None:
            click, empty_target = negative, True
        else:
            click = _positive_click(region, sampling, rng)
    # Crop the patch whose grid inference would build for this click (to the nearest voxel).
    shift = np.rint((click - region.point_mm) / np.asarray(spec.spacing_mm)).astype(int)
    start = np.clip(sampling.margin_voxels + shift, 0, 2 * sampling.margin_voxels)
    (si, sj, sk), (ni, nj, nk) = start, spec.size_ijk
    crop = (slice(sk, sk + nk), slice(sj, sj + nj), slice(si, si + ni))
    raw = region.image[crop].astype(np.float32)
    target = np.zeros(raw.shape, np.float32) if empty_target else \
        region.target[crop].astype(np.float32) / np.float32(255.0)
    grid = replace(region.grid, array=np.zeros(raw.shape, np.uint8),
                   origin=tuple(region.grid.index_to_mm(start)))
    if augment is not None:
        raw = augment_raw(raw, region.slice_axis, modality, augment, rng,
                          slice_voxel_mm=spec.spacing_mm[2 - region.slice_axis])
    image = normalise_intensity(raw, spec.normalisation)
    if augment is not None:
        image = augment_normalised(image, modality, augment, rng)
    guidance = guidance_channel(grid, click, sigma_mm)
    if augment is not None:
        image, guidance, target = flip_left_right([image, guidance, target], rng,
                                                  augment.flip_lr_p)
    return np.stack([image, guidance]).astype(np.float32), target[None].astype(np.float32)
