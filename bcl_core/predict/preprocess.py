"""Model-input preparation: patch grids in patient mm, resampling, intensity, click guidance.

Every model input is a patch on a grid in the canonical LPS orientation (identity direction),
whatever the series' acquisition plane, so one model sees axial CT and sagittal MRI the same
way up. The patch is centred at the click plus the sidecar's ``offset_mm`` and sampled at the
sidecar's ``spacing_mm`` and ``size_ijk``. Training builds its patches with these same functions,
so training and inference cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TypeVar, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bcl_core.errors import SegmentationError
from bcl_core.predict.sidecar import InputSpec, Normalisation
from bcl_core.volume import Volume, resample

#: Percentile-normalised values are clipped to this range (keeps bright outliers bounded).
PERCENTILE_CLIP = (-0.5, 1.5)

_ScalarT = TypeVar("_ScalarT", bound=np.generic)


def slice_array_axis(volume: Volume) -> int:
    """Array axis (0=k/z, 1=j/y, 2=i/x) of a canonical (identity-direction) grid that runs along
    ``volume``'s slice normal."""
    return 2 - int(np.argmax(np.abs(volume.slice_normal)))


def normalise_intensity(array: ArrayLike, normalisation: Normalisation) -> NDArray[np.float32]:
    """Scale intensities as the sidecar says.

    Parameters
    ----------
    array:
        Raw values (HU for CT, scanner units for MRI).
    normalisation:
        ``window``: clip to ``[low, high]`` then map to ``[0, 1]``. ``percentile``: map the
        array's own ``low``-th and ``high``-th percentiles to 0 and 1, clip to
        :data:`PERCENTILE_CLIP`.

    Examples
    --------
    >>> from bcl_core.predict.sidecar import Normalisation
    >>> normalise_intensity([-1000.0, 0.0, 500.0], Normalisation("window", -500, 500)).tolist()
    [0.0, 0.5, 1.0]
    """
    values = np.asarray(array, dtype=np.float32)
    if normalisation.kind == "window":
        low, high = normalisation.low, normalisation.high
        return ((np.clip(values, low, high) - low) / (high - low)).astype(np.float32)
    low, high = np.percentile(values, [normalisation.low, normalisation.high])
    scale = float(high - low) if high > low else 1.0
    scaled = (values - np.float32(low)) / np.float32(scale)
    return np.clip(scaled, *PERCENTILE_CLIP).astype(np.float32)


def patch_template(point_mm: ArrayLike, spec: InputSpec,
                   size_ijk: Sequence[int] | None = None) -> Volume:
    """An empty patch grid (identity direction) centred at ``point_mm + spec.offset_mm``.

    ``size_ijk`` overrides the spec's size (training caches a larger region around a case).
    """
    size = np.asarray(size_ijk if size_ijk is not None else spec.size_ijk, dtype=int)
    spacing = np.asarray(spec.spacing_mm, dtype=float)
    centre = np.asarray(point_mm, dtype=float) + np.asarray(spec.offset_mm, dtype=float)
    origin = centre - (size - 1) / 2 * spacing
    return Volume(np.zeros(tuple(size[::-1]), dtype=np.uint8), spacing=tuple(spacing),
                  origin=tuple(origin))


def crop_to_cover(volume: Volume, grid: Volume, pad_voxels: int = 2) -> Volume | None:
    """The part of ``volume`` that covers ``grid``'s extent (a view, no copy), or None.

    Resampling a 64^3 patch from a full 512x512 CT touches a few percent of it; cropping first
    keeps the cost of type conversion proportional to the patch, not the series.
    """
    # The grid's outer extent: its corner voxels' far edges, half a voxel beyond their centres.
    last = np.asarray(grid.size_ijk, dtype=np.float64) - 0.5
    edges = np.array([[a, b, c] for a in (-0.5, last[0]) for b in (-0.5, last[1])
                      for c in (-0.5, last[2])])
    corners = volume.mm_to_index(grid.index_to_mm(edges))
    lower = np.floor(corners.min(axis=0)).astype(int) - pad_voxels
    upper = np.ceil(corners.max(axis=0)).astype(int) + pad_voxels
    size = np.asarray(volume.size_ijk)
    lower = np.clip(lower, 0, size - 1)
    upper = np.clip(upper, 0, size - 1)
    if np.any(corners.max(axis=0) < -0.5) or np.any(corners.min(axis=0) > size - 0.5):
        return None
    sub = volume.array[lower[2]:upper[2] + 1, lower[1]:upper[1] + 1, lower[0]:upper[0] + 1]
    return replace(volume, array=sub, origin=tuple(volume.index_to_mm(lower)))


def pad_edges(volume: Volume, voxels: int = 1) -> Volume:
    """``volume`` grown by ``voxels`` on every side, repeating its edge values.

    Interpolation treats points beyond the outermost voxel *centres* as outside the image, so a
    sagittal MRI slab of 4 mm slices would lose 2 mm on each side; the series' edge voxels
    stand for their whole extent, so they are repeated once before resampling.
    """
    padded = np.pad(volume.array, voxels, mode="edge")
    origin = volume.index_to_mm([-voxels, -voxels, -voxels])
    return replace(volume, array=padded, origin=tuple(origin))


def fill_value_for(region: NDArray[np.generic], normalisation: Normalisation) -> float:
    """Value for patch voxels outside the series: the window floor, or the region's minimum."""
    if normalisation.kind == "window":
        return float(normalisation.low)
    return float(region.min())


def extract_patch(volume: Volume, point_mm: ArrayLike, spec: InputSpec, order: int = 1,
                  size_ijk: Sequence[int] | None = None) -> Volume:
    """Resample ``volume`` onto the patch grid around ``point_mm`` (raw intensities).

    Raises
    ------
    SegmentationError
        If the patch does not overlap the series at all.
    """
    grid = patch_template(point_mm, spec, size_ijk)
    region = crop_to_cover(volume, grid)
    if region is None:
        raise SegmentationError("The marked point is outside the image; mark a point on the "
                                "target vertebra.")
    fill = fill_value_for(region.array, spec.normalisation) if order > 0 else 0.0
    return resample(pad_edges(region), grid.size_ijk, grid.spacing, grid.origin, grid.direction,
                    order=order, fill_value=fill)


def guidance_channel(grid: Volume, point_mm: ArrayLike, sigma_mm: float) -> NDArray[np.float32]:
    """Gaussian blob (peak 1) at ``point_mm`` on ``grid``: the click's guidance channel.

    As MONAI Label's DeepGrow/DeepEdit encode clicks. The direction matrix is orthonormal, so
    the distance in mm is separable along the grid's index axes.
    """
    centre_ijk = grid.mm_to_index(point_mm)
    factors = []
    for axis, (n, spacing) in enumerate(zip(grid.size_ijk, grid.spacing, strict=True)):
        offsets_mm = (np.arange(n) - centre_ijk[axis]) * spacing
        factors.append(np.exp(-0.5 * (offsets_mm / sigma_mm) ** 2).astype(np.float32))
    gi, gj, gk = factors
    return (gk[:, None, None] * gj[None, :, None] * gi[None, None, :]).astype(np.float32)


def model_input(patch: Volume, point_mm: ArrayLike, spec: InputSpec,
                sigma_mm: float) -> NDArray[np.float32]:
    """Stack the normalised patch and the click guidance as a ``(1, 2, k, j, i)`` batch."""
    image = normalise_intensity(patch.array, spec.normalisation)
    guidance = guidance_channel(patch, point_mm, sigma_mm)
    return np.stack([image, guidance])[None].astype(np.float32)


def resample_onto_region(source: Volume, reference: Volume, order: int = 1,
                         fill_value: float = 0.0) -> Volume | None:
    """Resample ``source`` (e.g. a patch map) onto the part of ``reference``'s grid it covers.

    Returns a volume on a sub-grid of ``reference`` (same spacing and direction), or None if
    ``source`` lies outside ``reference``. Use :func:`paste_into` to place it on the full grid;
    working on the covered part only keeps full-size series fast.
    """
    region = crop_to_cover(reference, source, pad_voxels=0)
    if region is None:
        return None
    return resample(source, region.size_ijk, region.spacing, region.origin, region.direction,
                    order=order, fill_value=fill_value)


@overload
def paste_into(region: Volume, reference: Volume) -> NDArray[np.float32]: ...


@overload
def paste_into(region: Volume, reference: Volume, dtype: type[_ScalarT]) -> NDArray[_ScalarT]: ...


def paste_into(region: Volume, reference: Volume, dtype: type[np.generic] = np.float32
               ) -> NDArray[np.generic]:
    """A full-size array on ``reference``'s grid holding ``region`` (zeros elsewhere).

    ``region`` must be a sub-grid of ``reference`` (as :func:`resample_onto_region` returns).
    """
    out = np.zeros(reference.array.shape, dtype=dtype)
    start = np.rint(reference.mm_to_index(region.origin)).astype(int)
    nk, nj, ni = region.array.shape
    out[start[2]:start[2] + nk, start[1]:start[1] + nj, start[0]:start[0] + ni] = region.array
    return out
