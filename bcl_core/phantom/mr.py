"""MRI rendering: sagittal T2-weighted series in the MR scanner's own frame of reference.

The MR frame is rotated and shifted against the CT's (an unregistered second scan); slices are
thick (4 mm), so each is the average of four 1 mm sub-slices (partial volume). Signal follows
the T2 table of :mod:`bcl_core.phantom.tissues` (bright CSF, fat, oedema and cleft fluid), times
a posterior surface-coil sensitivity and the site's gain, with Rician noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from bcl_core.errors import PhantomError
from bcl_core.phantom.grid import Grid, affine_coords
from bcl_core.phantom.paint import average_over_slice
from bcl_core.phantom.sites import COMPACT_MR_SHAPE, COMPACT_MR_SLICES, COMPACT_PIXEL_FACTOR
from bcl_core.phantom.spec import CaseSpec, case_rng
from bcl_core.phantom.tissues import MR_SEQUENCES, Tissue, mr_lookup
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


def gibbs_ringing(signal: NDArray[np.float32], k_fraction: float, axis: int) -> None:
    """Truncate k-space along ``axis`` to ``k_fraction`` of its extent (in place).

    A sharp edge then rings (overshoot about 9 % of the step, Gibbs) with a period set by
    the highest frequency kept.
    """
    n = signal.shape[axis]
    spectrum = np.fft.rfft(signal, axis=axis)
    keep = max(1, int(round(k_fraction * spectrum.shape[axis])))
    index = [slice(None)] * signal.ndim
    index[axis] = slice(keep, None)
    spectrum[tuple(index)] = 0.0
    signal[...] = np.fft.irfft(spectrum, n=n, axis=axis)


def _add_mr_artefacts(signal: NDArray[np.float32], csf_fraction: NDArray[np.float32],
                      artefacts: dict[str, Any], rng: np.random.Generator) -> None:
    """Flow voids, Gibbs ringing and ghosting (generation 2), in place, before noise.

    Phase encoding runs anterior-posterior (the columns), as usual for sagittal spine MRI.
    """
    voids = artefacts["mr_flow_voids"]
    if voids["present"]:
        field = ndimage.gaussian_filter(rng.standard_normal(signal.shape, dtype=np.float32),
                                        (0.5, 3.0, 1.5))
        field /= max(float(field.std()), 1e-6)
        dark = np.clip(field - 0.5, 0.0, 1.0) * np.float32(voids["strength"])
        signal *= 1.0 - dark * csf_fraction
    gibbs = artefacts["mr_gibbs"]
    if gibbs["present"]:
        gibbs_ringing(signal, gibbs["k_fraction"], axis=2)
    ghost = artefacts["mr_ghosting"]
    if ghost["present"]:
        signal += np.float32(ghost["amplitude"]) * np.roll(signal, signal.shape[2] // 2, axis=2)


def render_mr(spec: CaseSpec, compact: bool = False, sequence: str = "t2",
              ) -> tuple[Volume, Volume]:
    """Render a case's sagittal MRI and the target-vertebra mask on its grid.

    Parameters
    ----------
    spec:
        The case (its MR frame of reference, site protocol and generation).
    compact:
        Fewer rows, columns and slices at 1.4 times the pixel size (training sets).
    sequence:
        ``t2`` (every generation); ``stir`` or ``t1`` (generation 2's extra series, on the same
        grid, each with its own noise).

    Returns
    -------
    mr, mask:
        Signal as uint16 (modality ``MR``), and a uint8 mask (modality ``SEG``).

    Raises
    ------
    PhantomError
        For a sequence the case's generation does not make.
    """
    images, mask = render_mr_series(spec, compact, (sequence,))
    return images[sequence], mask


def render_mr_series(spec: CaseSpec, compact: bool = False,
                     sequences: tuple[str, ...] = ("t2",),
                     ) -> tuple[dict[str, Volume], Volume]:
    """Render several sagittal series of one MR session from one painting of the anatomy.

    Parameters
    ----------
    spec, compact:
        As :func:`render_mr`.
    sequences:
        Any of ``t2``, ``stir``, ``t1`` (the last two generation 2 only); each gets its own
        signal table and noise, all share the grid, the partial volume and the artefacts.

    Returns
    -------
    images, mask:
        One uint16 Volume per sequence, and the target mask.

    Raises
    ------
    PhantomError
        For a sequence the case's generation does not make.
    """
    protocol = spec.site.mr
    gen = spec.generation
    allowed = MR_SEQUENCES if gen.extra_mr_series else ("t2",)
    for sequence in sequences:
        if sequence not in allowed:
            raise PhantomError(f"generation {gen.number} makes no {sequence!r} series; choose "
                               f"one of {', '.join(allowed)}.")
    grid = mr_grid(spec, compact)
    densities = [v.density_hu for v in spec.anatomy.vertebrae]
    nuclei = [d.nucleus_signal for d in spec.anatomy.discs]
    tables = [mr_lookup(densities, nuclei, sequence, relative_oedema=gen.extra_mr_series)
              for sequence in sequences]
    if spec.artefacts:
        is_csf = np.zeros_like(tables[0])
        is_csf[Tissue.CSF] = 1.0
        tables.append(is_csf)
    hi = grid.shape[::-1]
    averages, mask_fraction = average_over_slice(spec, grid, (0, 0, 0), hi, protocol.slice_mm,
                                                 SUB_SLICES, tuple(tables))
    matrix, offset = grid.index_affine()
    _, y, _ = affine_coords(matrix, offset, (0, 0, 0), hi)
    back_y = spec.anatomy.body_center_xy[1] + spec.anatomy.body_half_axes[1]
    depth = np.maximum(back_y - y, 0.0)
    coil = (0.45 + 0.75 * np.exp(-depth / COIL_DEPTH_MM)).astype(np.float32)
    images = {}
    for sequence, signal in zip(sequences, averages, strict=False):
        sigma_px = 0.45
        for axis in (1, 2):
            ndimage.gaussian_filter1d(signal, sigma_px, axis=axis, output=signal, truncate=3.0)
        if spec.artefacts:
            _add_mr_artefacts(signal, averages[-1], spec.artefacts,
                              case_rng(spec.site, spec.seed, spec.index, "artefacts"))
        signal *= coil
        signal *= np.float32(protocol.gain)
        stream = "mr_noise" if sequence == "t2" else f"{sequence}_noise"
        rng = case_rng(spec.site, spec.seed, spec.index, stream)
        sigma = np.float32(protocol.noise * protocol.gain)
        real = signal + sigma * rng.standard_normal(grid.shape, dtype=np.float32)
        imaginary = sigma * rng.standard_normal(grid.shape, dtype=np.float32)
        magnitude = np.sqrt(real * real + imaginary * imaginary)
        images[sequence] = grid.volume(np.clip(np.rint(magnitude), 0, MR_MAX).astype(np.uint16),
                                       "MR")
    mask_out: NDArray[np.uint8] = (mask_fraction >= 0.5).astype(np.uint8)
    return images, grid.volume(mask_out, "SEG")
