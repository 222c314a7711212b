"""CT rendering: axial Hounsfield-unit series with scanner blur and noise.

Labels are mapped to HU, cancellous bone gets a trabecular texture, the in-plane reconstruction
kernel and the slice profile blur the result (each slice averages sub-slices
``Generation.ct_sub_slice_mm`` apart: 1.25 mm in generation 1, 0.42 mm in generation 2), and
noise is added. Only a box around the spine is painted in 3D; in generation 1 the trunk outside
it is the same on every slice and is computed once, in generation 2 it is painted per slab with
its organs (:mod:`bcl_core.phantom.organs`), and artefacts (:mod:`bcl_core.phantom.artefacts`)
and FBP-shaped noise (:class:`bcl_core.phantom.noise.FbpNoise`) are added.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from bcl_core.phantom.artefacts import cupping, streaks
from bcl_core.phantom.grid import Grid, affine_coords
from bcl_core.phantom.noise import FbpNoise, NoiseBank, vertical_texture
from bcl_core.phantom.organs import paint_organs
from bcl_core.phantom.paint import average_over_slice, spine_region_corners
from bcl_core.phantom.ribs import Region, paint_ribs
from bcl_core.phantom.sites import (
    COMPACT_CT_HALF_EXTENT_MM,
    COMPACT_CT_MATRIX,
    COMPACT_PIXEL_FACTOR,
)
from bcl_core.phantom.spec import CaseSpec, case_rng
from bcl_core.phantom.tissues import CANCELLOUS_BASE, MAX_VERTEBRAE, Tissue, ct_lookup
from bcl_core.phantom.trunk import blob_corners, paint_blob, paint_trunk
from bcl_core.volume import Volume

HU_MIN, HU_MAX = -1024, 3071
TRABECULAR_HU = 28.0
CHUNK_SLICES = 24
#: A full-size CT covers the segment plus this margin at each end, and at least the coverage
#: below (a spine CT is planned over several levels, not cut at the segment's endplates).
FULL_CT_MARGIN_MM = 15.0
FULL_CT_MIN_COVERAGE_MM = 200.0
#: Generation 2 trabecular texture: Gaussian correlation lengths in-plane and along z (vertical
#: trabeculae are the load-bearing ones, so texture runs along the body's long axis).
TEXTURE_IN_PLANE_MM = 0.5
TEXTURE_ALONG_Z_MM = 2.0
#: Generation 2 noise: effective attenuation of the path-length scaling (about half of water's
#: 0.019 /mm at 70 keV: automatic exposure control makes up the rest) and the trunk path length
#: (mean of its lateral and AP diameters, mm) at which a site's ``noise_hu`` holds.
NOISE_MU_PER_MM = 0.01
NOISE_REFERENCE_PATH_MM = 265.0


def ct_grid(spec: CaseSpec, compact: bool) -> Grid:
    """The axial CT grid of a case (the anatomy frame is the CT frame)."""
    protocol = spec.site.ct
    target = spec.anatomy.target
    if compact:
        matrix = COMPACT_CT_MATRIX
        pixel = protocol.pixel_mm * COMPACT_PIXEL_FACTOR
        center_xy = np.array([target.center[0], target.center[1] + 22.0])
        z_low = spec.target_center_ct[2] - COMPACT_CT_HALF_EXTENT_MM + spec.fov_jitter[2] / 2
        z_high = z_low + 2 * COMPACT_CT_HALF_EXTENT_MM
    else:
        matrix = protocol.matrix
        pixel = protocol.pixel_mm
        center_xy = np.array([0.0, 0.0]) + spec.fov_jitter[:2]
        z_low, z_high = spec.anatomy.segment_z_range()
        z_low -= FULL_CT_MARGIN_MM
        z_high += FULL_CT_MARGIN_MM
        missing = FULL_CT_MIN_COVERAGE_MM - (z_high - z_low)
        if missing > 0:
            z_low -= missing / 2
            z_high += missing / 2
    center_xy = center_xy + spec.fov_jitter[:2] / 2
    n_slices = int(np.ceil((z_high - z_low) / protocol.slice_mm)) + 1
    half = (matrix - 1) / 2 * pixel
    origin = (float(center_xy[0] - half), float(center_xy[1] - half), float(z_low))
    return Grid((n_slices, matrix, matrix), (pixel, pixel, protocol.slice_mm), origin,
                np.eye(3))


def _spine_box(spec: CaseSpec, grid: Grid) -> tuple[list[int], list[int]]:
    box = grid.index_box(spine_region_corners(spec), margin=4)
    size = list(grid.shape[::-1])
    if box is None:
        return [0, 0, 0], size
    lo, hi = list(box[0]), list(box[1])
    lo[2], hi[2] = 0, size[2]  # every slice: the trunk is painted once per slice anyway
    return lo, hi


def _blur(array: NDArray[np.float32], sigmas_px: tuple[float, float, float]) -> None:
    for axis, sigma in enumerate(sigmas_px):
        if sigma > 0.05 and array.shape[axis] > 1:
            ndimage.gaussian_filter1d(array, sigma, axis=axis, output=array, mode="nearest",
                                      truncate=3.0)


def _paint_trunk_extras_hu(slab: NDArray[np.float32], k0: int, spec: CaseSpec, grid: Grid,
                    lut: NDArray[np.float32]) -> None:
    """Paint gas and fat pockets and the ribs into a slab of trunk HU (slices from ``k0``)."""
    matrix, offset = grid.index_affine()
    # The CT grid is axial in the anatomy frame: slice k sits at origin_z + k * spacing_z.
    z_low = float(grid.origin[2] + grid.spacing[2] * (k0 - 0.5))
    z_high = float(z_low + grid.spacing[2] * slab.shape[0])

    def region_of(corners: NDArray[np.float64]) -> Region | None:
        box = grid.index_box(corners)
        if box is None:
            return None
        lo, hi = list(box[0]), list(box[1])
        lo[2], hi[2] = max(lo[2], k0), min(hi[2], k0 + slab.shape[0])
        if hi[2] <= lo[2]:
            return None
        x, y, z = affine_coords(matrix, offset, lo, hi)
        return slab[lo[2] - k0:hi[2] - k0, lo[1]:hi[1], lo[0]:hi[0]], x, y, z

    for blob in spec.anatomy.blobs:
        region = region_of(blob_corners(spec.anatomy, blob))
        if region is not None:
            tissue = Tissue.BOWEL_GAS if blob[-1] == "gas" else Tissue.FAT
            paint_blob(*region, spec.anatomy, blob, value=float(lut[tissue]))
    paint_ribs(spec.anatomy.ribs, (z_low, z_high), region_of, float(lut[Tissue.RIB_MARROW]),
               float(lut[Tissue.CORTEX]))


def trunk_slab_labels(spec: CaseSpec, grid: Grid, k0: int, k1: int) -> NDArray[np.uint8]:
    """Trunk, organs, bowel gas / fat pockets and ribs of slices ``k0:k1`` as tissue labels.

    Generation 2 (cases with organs): the trunk varies along ``z``, and gas is painted over soft
    tissue only.

    Parameters
    ----------
    spec:
        The case.
    grid:
        Its CT grid.
    k0, k1:
        The slices (``k1`` exclusive).

    Returns
    -------
    numpy.ndarray
        uint8 labels shaped ``(k1 - k0, rows, columns)``.
    """
    matrix, offset = grid.index_affine()
    nj, ni = grid.shape[1:]
    x, y, z = affine_coords(matrix, offset, (0, 0, k0), (ni, nj, k1))
    labels = np.empty((k1 - k0, nj, ni), dtype=np.uint8)
    paint_trunk(labels, x, y, spec.anatomy, z)

    def region_of(corners: NDArray[np.float64]) -> Region | None:
        box = grid.index_box(corners)
        if box is None:
            return None
        lo, hi = list(box[0]), list(box[1])
        lo[2], hi[2] = max(lo[2], k0), min(hi[2], k1)
        if hi[2] <= lo[2]:
            return None
        xr, yr, zr = affine_coords(matrix, offset, lo, hi)
        return labels[lo[2] - k0:hi[2] - k0, lo[1]:hi[1], lo[0]:hi[0]], xr, yr, zr

    paint_organs(spec.anatomy, region_of)
    for blob in spec.anatomy.blobs:
        region = region_of(blob_corners(spec.anatomy, blob))
        if region is not None:
            paint_blob(*region, spec.anatomy, blob)  # type: ignore[arg-type]
    z_low = float(grid.origin[2] + grid.spacing[2] * (k0 - 0.5))
    paint_ribs(spec.anatomy.ribs, (z_low, z_low + grid.spacing[2] * (k1 - k0)), region_of,
               Tissue.RIB_MARROW, Tissue.CORTEX)
    return labels


def noise_scale(spec: CaseSpec, z_mm: NDArray[np.floating]) -> NDArray[np.float32]:
    """Generation 2: noise SD relative to the site's ``noise_hu`` at heights ``z_mm``.

    Quantum noise variance grows as ``exp(mu L)`` with the path length ``L`` through the trunk,
    so the SD grows as ``exp(mu (L - L_ref) / 2)``; ``L`` is the mean of the trunk's lateral and
    AP diameters at that height.
    """
    half_a, half_b = spec.anatomy.trunk_half_axes(np.asarray(z_mm, dtype=np.float64))
    path = np.asarray(half_a) + np.asarray(half_b)
    return np.exp(NOISE_MU_PER_MM * (path - NOISE_REFERENCE_PATH_MM) / 2).astype(np.float32)


def _add_ct_artefacts(slab: NDArray[np.float32], z_mm: NDArray[np.floating], spec: CaseSpec,
                      grid: Grid) -> None:
    """Add beam-hardening cupping and streaks from dense objects to a slab (in place)."""
    matrix, offset = grid.index_affine()
    nj, ni = slab.shape[1:]
    x, y, _ = affine_coords(matrix, offset, (0, 0, 0), (ni, nj, 1))
    artefacts = spec.artefacts
    anatomy = spec.anatomy
    back_y = anatomy.body_center_xy[1] + anatomy.body_half_axes[1]
    for n, z in enumerate(z_mm):
        half_a, half_b = anatomy.trunk_half_axes(float(z))
        centre = (anatomy.body_center_xy[0], back_y - float(half_b))
        slab[n] += cupping(x, y, centre, (float(half_a), float(half_b)),
                           artefacts["ct_cupping_hu"])[0]
        streak = streaks(x, y, float(z), artefacts["ct_streaks"])
        if streak is not None:
            slab[n] += streak[0]


def render_ct(spec: CaseSpec, compact: bool = False, noise: bool = True,
              ) -> tuple[Volume, Volume]:
    """Render a case's CT and the target-vertebra mask on its grid.

    Parameters
    ----------
    spec:
        The case.
    compact:
        Small field of view (training sets).
    noise:
        Add the scanner's noise (off only to measure the noise or texture alone).

    Returns
    -------
    ct, mask:
        HU as int16 (modality ``CT``), and a uint8 mask (modality ``SEG``).
    """
    protocol = spec.site.ct
    gen = spec.generation
    grid = ct_grid(spec, compact)
    nk, nj, ni = grid.shape
    densities = [v.density_hu for v in spec.anatomy.vertebrae]
    lut = ct_lookup(densities, spec.anatomy.target_index, gen.cortex_hu)
    rng = case_rng(spec.site, spec.seed, spec.index, "ct_noise")
    pixel = grid.spacing[0]
    psf_px = protocol.psf_sigma_mm / pixel

    # Generation 1: the trunk, identical on every slice: one blurred 2D slice.
    matrix, offset = grid.index_affine()
    x, y, _ = affine_coords(matrix, offset, (0, 0, 0), (ni, nj, 1))
    trunk = np.zeros(np.broadcast_shapes(x.shape, y.shape), dtype=np.uint8)
    if spec.anatomy.organs is None:
        paint_trunk(trunk, x, y, spec.anatomy)
    trunk_hu = lut[trunk]
    _blur(trunk_hu, (0.0, psf_px, psf_px))

    lo, hi = _spine_box(spec, grid)
    n_sub = max(1, int(round(protocol.slice_mm / gen.ct_sub_slice_mm)))
    spongy = np.zeros(256, dtype=np.float32)
    spongy[CANCELLOUS_BASE:CANCELLOUS_BASE + MAX_VERTEBRAE] = 1.0
    spongy[[Tissue.OEDEMA, Tissue.IMPACTION]] = 1.0
    (region_hu, spongy_fraction), mask_fraction = average_over_slice(
        spec, grid, lo, hi, protocol.slice_mm, n_sub, (lut, spongy))
    if gen.vertical_texture:
        texture_field = vertical_texture(rng, region_hu.shape, grid.spacing,
                                         TEXTURE_IN_PLANE_MM, TEXTURE_ALONG_Z_MM)
    else:
        texture_field = NoiseBank(rng, region_hu.shape[1:], sigma_px=0.9 / pixel).slices(
            region_hu.shape[0])
    region_hu += TRABECULAR_HU * spongy_fraction * texture_field
    del texture_field
    z_sigma = 0.42 if n_sub == 1 else 0.0  # thick slices: the sub-slice average is the profile
    _blur(region_hu, (z_sigma, psf_px, psf_px))

    noise_source: FbpNoise | NoiseBank
    if gen.fbp_noise:
        noise_source = FbpNoise(rng, (nj, ni), pixel, protocol.nps_peak_per_mm,
                                protocol.adjacent_slice_correlation)
    else:
        noise_source = NoiseBank(rng, (nj, ni), sigma_px=0.6)
    slice_z = grid.origin[2] + grid.spacing[2] * np.arange(nk)
    image = np.empty(grid.shape, dtype=np.int16)
    for k0 in range(0, nk, CHUNK_SLICES):
        k1 = min(nk, k0 + CHUNK_SLICES)
        slab = np.empty((k1 - k0, nj, ni), dtype=np.float32)
        if spec.anatomy.organs is None:
            slab[...] = trunk_hu
            _paint_trunk_extras_hu(slab, k0, spec, grid, lut)
        else:
            slab[...] = lut[trunk_slab_labels(spec, grid, k0, k1)]
            _blur(slab, (0.0, psf_px, psf_px))
        slab[:, lo[1]:hi[1], lo[0]:hi[0]] = region_hu[k0:k1]
        if spec.artefacts:
            _add_ct_artefacts(slab, slice_z[k0:k1], spec, grid)
        if noise and gen.fbp_noise:
            scale = protocol.noise_hu * noise_scale(spec, slice_z[k0:k1])
            slab += scale[:, None, None] * noise_source.slices(k1 - k0)
        elif noise:
            slab += protocol.noise_hu * noise_source.slices(k1 - k0)
        np.clip(np.rint(slab, out=slab), HU_MIN, HU_MAX, out=slab)
        image[k0:k1] = slab
    mask_full = np.zeros(grid.shape, dtype=np.uint8)
    mask_full[:, lo[1]:hi[1], lo[0]:hi[0]] = mask_fraction >= 0.5
    return grid.volume(image, "CT"), grid.volume(mask_full, "SEG")

