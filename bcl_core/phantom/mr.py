"""MRI rendering: sagittal T2-weighted series in the MR scanner's own frame of reference.

The MR frame is rotated and shifted against the CT's (an unregistered second scan); slices are
thick (4 mm), so each is the average of four 1 mm sub-slices (partial volume). Signal follows
the T2 table of :mod:`bcl_core.phantom.tissues` (bright CSF, fat, oedema and cleft fluid), times
a posterior surface-coil sensitivity and the site's gain, with Rician noise.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from bcl_core.phantom.grid import Grid, affine_coords
from bcl_core.phantom.paint import average_over_slice
from bcl_core.phantom.sites import COMPACT_MR_SHAPE, COMPACT_MR_SLICES, COMPACT_PIXEL_FACTOR
from bcl_core.phantom.spec import CaseSpec, case_rng
from bcl_core.phantom.tissues import mr_lookup
from bcl_core.volume import Volume

#: Sub-slices averaged across a slice's thickness.
SUB_SLICES = 4
#: Sagittal orientation in the scanner frame: columns run posterior, rows inferior.
SAGITTAL = np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
#: Depth (mm) over which the posterior spine coil's sensitivity falls off.
COIL_DEPTH_MM = 110.0
MR_MAX = 65535


def mr_grid(spec: CaseSpec, compact: bool) -> Grid:
    """The sagittal MR grid of a case, in the MR frame of reference."""
    protocol = spec.site.mr
    if compact:
        rows, columns = COMPACT_MR_SHAPE
        n_slices = COMPACT_MR_SLICES
        pixel = protocol.pixel_mm * COMPACT_PIXEL_FACTOR
    else:
        rows, columns, n_slices = protocol.rows, protocol.columns, protocol.n_slices
        pixel = protocol.pixel_mm
    spacing = (pixel, pixel, protocol.slice_mm + protocol.slice_gap_mm)
    direction = spec.mr_obliquity @ SAGITTAL
    # Centre: behind the body centre (the canal mid-FOV), in the target's midsagittal plane.
    target = spec.anatomy.target
    center_anatomy = target.to_anatomy(np.array([[0.0, 0.5 * target.half_depth + 12.0,
                                                  spec.body_centroid_local[2]]]))[0]
    center = spec.mr_rotation @ center_anatomy + spec.mr_translation
    jitter = spec.fov_jitter * (0.4 if compact else 1.0)
    center = center + direction @ np.array([jitter[0], jitter[2], jitter[1] / 4])
    size = np.array([columns, rows, n_slices], dtype=float)
    origin = center - direction @ ((size - 1) / 2 * np.asarray(spacing))
    return Grid((n_slices, rows, columns), spacing, tuple(float(o) for o in origin),  # type: ignore[arg-type]
                direction, spec.mr_rotation, tuple(float(t) for t in spec.mr_translation))  # type: ignore[arg-type]


def render_mr(spec: CaseSpec, compact: bool = False) -> tuple[Volume, Volume]:
    """Render a case's sagittal T2 MRI and the target-vertebra mask on its grid.

    Returns
    -------
    mr, mask:
        Signal as uint16 (modality ``MR``), and a uint8 mask (modality ``SEG``).
    """
    protocol = spec.site.mr
    grid = mr_grid(spec, compact)
    densities = [v.density_hu for v in spec.anatomy.vertebrae]
    lut = mr_lookup(densities, [d.nucleus_signal for d in spec.anatomy.discs])
    hi = grid.shape[::-1]
    (signal,), mask_fraction = average_over_slice(spec, grid, (0, 0, 0), hi, protocol.slice_mm,
                                                  SUB_SLICES, (lut,))
    sigma_px = 0.45
    for axis in (1, 2):
        ndimage.gaussian_filter1d(signal, sigma_px, axis=axis, output=signal, truncate=3.0)

    matrix, offset = grid.index_affine()
    _, y, _ = affine_coords(matrix, offset, (0, 0, 0), hi)
    back_y = spec.anatomy.body_center_xy[1] + spec.anatomy.body_half_axes[1]
    depth = np.maximum(back_y - y, 0.0)
    signal *= (0.45 + 0.75 * np.exp(-depth / COIL_DEPTH_MM)).astype(np.float32)
    signal *= np.float32(protocol.gain)

    rng = case_rng(spec.site, spec.seed, spec.index, "mr_noise")
    sigma = np.float32(protocol.noise * protocol.gain)
    real = signal + sigma * rng.standard_normal(grid.shape, dtype=np.float32)
    imaginary = sigma * rng.standard_normal(grid.shape, dtype=np.float32)
    magnitude = np.sqrt(real * real + imaginary * imaginary)
    image = np.clip(np.rint(magnitude), 0, MR_MAX).astype(np.uint16)
    mask_out: NDArray[np.uint8] = (mask_fraction >= 0.5).astype(np.uint8)
    return grid.volume(image, "MR"), grid.volume(mask_out, "SEG")
