"""Region of interest around the segmented vertebra, for the leakage classifier.

1. :func:`mask_box`: the box (axis-aligned in LPS mm) around the mask's contours, traced slice by
   slice in the reading plane (axial for CT, sagittal for MRI), as the protocol draws it.
2. :meth:`Box.expanded`: plus a margin in mm (sidecar ``roi.margin_mm``) that keeps the spinal
   canal and the paravertebral vessels, where cement leaks.
3. :func:`crop_roi`: the box resampled onto the classifier's input grid, as a :class:`RoiCrop`
   whose ``volume`` carries its own geometry, so anything computed on the crop (a Grad-CAM map)
   maps back onto the original voxels (:meth:`RoiCrop.to_original`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from bcl_core.errors import GeometryError, SegmentationError
from bcl_core.predict.preprocess import crop_to_cover, paste_into, resample_onto_region
from bcl_core.predict.sidecar import ROI_CENTRES, RoiSpec
from bcl_core.volume import Volume, resample

#: LPS axis normal to each reading plane.
PLANE_NORMAL_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in LPS mm (``lower_mm`` <= ``upper_mm`` on each of x, y, z)."""

    lower_mm: NDArray[np.float64]
    upper_mm: NDArray[np.float64]

    @property
    def size_mm(self) -> NDArray[np.float64]:
        """Edge lengths along LPS x, y, z."""
        return np.asarray(self.upper_mm - self.lower_mm)

    @property
    def centre_mm(self) -> NDArray[np.float64]:
        """Centre in LPS mm."""
        return np.asarray((self.upper_mm + self.lower_mm) / 2)

    def expanded(self, margin_mm: ArrayLike) -> Box:
        """The box grown by ``margin_mm`` (one number, or one per LPS axis) on every side."""
        margin = np.broadcast_to(np.asarray(margin_mm, dtype=float), (3,))
        if np.any(margin < 0):
            raise GeometryError(f"A box margin cannot be negative, got {margin.tolist()} mm.")
        return Box(self.lower_mm - margin, self.upper_mm + margin)


def _slice_axis_of_plane(volume: Volume, plane: str) -> int:
    """Array axis (0=k, 1=j, 2=i) of the volume whose direction is closest to the plane normal."""
    if plane not in PLANE_NORMAL_AXIS:
        raise GeometryError(f"Unknown plane {plane!r}; use one of {sorted(PLANE_NORMAL_AXIS)}.")
    alignment = np.abs(volume.direction[PLANE_NORMAL_AXIS[plane], :])  # per index axis i, j, k
    return 2 - int(np.argmax(alignment))


def _mask_voxels(mask: Volume) -> NDArray[np.bool_]:
    """The mask as booleans; :class:`SegmentationError` when it is empty."""
    inside = np.asarray(mask.array) > 0
    if not inside.any():
        raise SegmentationError("The vertebra mask is empty; segment the vertebra first.")
    return inside


def _extent(values: NDArray[np.generic], axis: int) -> tuple[int, int] | None:
    """First and last index along ``axis`` where ``values`` has a non-zero voxel."""
    other = tuple(a for a in range(values.ndim) if a != axis)
    hits = np.flatnonzero(np.any(values, axis=other))
    return (int(hits[0]), int(hits[-1])) if hits.size else None


def crop_to_mask(mask: Volume, pad_voxels: int = 0) -> Volume:
    """The bounding block of ``mask``'s non-zero voxels, ``pad_voxels`` wider (a view, no copy).

    A vertebra fills well under 1 % of a full-size CT; tracing its contours and finding its body
    on this block instead of the whole grid gives the same box and centre (everything outside
    the block is empty, which is what the steps assume beyond an array's edge) at a fraction of
    the cost.

    Raises
    ------
    SegmentationError
        If the mask is empty.
    """
    values = np.asarray(mask.array)
    slices = _extent(values, 0)
    if slices is None:
        raise SegmentationError("The vertebra mask is empty; segment the vertebra first.")
    block = values[slices[0]:slices[1] + 1]  # the slab of slices first: one pass over the grid
    rows, columns = _extent(block, 1), _extent(block, 2)
    assert rows is not None and columns is not None  # the slab holds a non-zero voxel
    lower = np.maximum(np.array([columns[0], rows[0], slices[0]]) - pad_voxels, 0)
    upper = np.minimum(np.array([columns[1], rows[1], slices[1]]) + pad_voxels,
                       np.asarray(mask.size_ijk) - 1)
    sub = values[lower[2]:upper[2] + 1, lower[1]:upper[1] + 1, lower[0]:upper[0] + 1]
    return replace(mask, array=sub, origin=tuple(mask.index_to_mm(lower.astype(float))))


def mask_box(mask: Volume, plane: str = "axial") -> Box:
    """Box around the mask's contours traced in each slice of ``plane``.

    Parameters
    ----------
    mask:
        Binary mask on any grid.
    plane:
        ``"axial"`` (CT) or ``"sagittal"`` (MRI): the plane the contours are traced in.

    Raises
    ------
    SegmentationError
        If the mask is empty.
    """
    mask = crop_to_mask(mask)
    inside = _mask_voxels(mask)
    # 2D erosion within each slice of the plane: structuring element flat along the slice axis.
    structure = np.expand_dims(ndimage.generate_binary_structure(2, 1),
                               axis=_slice_axis_of_plane(mask, plane))
    contour = inside & ~ndimage.binary_erosion(inside, structure=structure, border_value=0)
    kk, jj, ii = np.nonzero(contour)
    points = mask.index_to_mm(np.stack([ii, jj, kk], axis=1).astype(float))
    # Each voxel reaches half a voxel beyond its centre, along each of its axes.
    half_extent = np.abs(mask.direction) @ (np.asarray(mask.spacing) / 2)
    return Box(points.min(axis=0) - half_extent, points.max(axis=0) + half_extent)


def mask_body_centre(mask: Volume, core_fraction: float = 0.8) -> NDArray[np.float64]:
    """The centre of the mask's thickest part (the vertebral body) in LPS mm.

    The body is the only part of a vertebra thicker than a few millimetres (pedicles, laminae
    and processes are thin), so the voxels deepest inside the mask (distance to its surface,
    in mm, at least ``core_fraction`` of the maximum) lie on the body's mid-plane, and their
    centroid is the body's centre: independent of where the user clicked and of how much of the
    posterior elements the mask holds.

    Raises
    ------
    SegmentationError
        If the mask is empty.
    """
    mask = crop_to_mask(mask)
    # One layer of outside around the mask's bounding block: the surface the depth is measured to.
    sub = np.pad(_mask_voxels(mask), 1)
    depth = ndimage.distance_transform_edt(sub, sampling=np.asarray(mask.spacing)[::-1])
    core = depth >= core_fraction * depth.max()
    kji = np.asarray(ndimage.center_of_mass(core), dtype=float) - 1.0
    return np.asarray(mask.index_to_mm(kji[::-1]), dtype=float)


def roi_box(mask: Volume, roi: RoiSpec) -> Box:
    """The classifier's box: :func:`mask_box` in the sidecar's plane plus its margin.

    With ``roi.centre == "body"`` the box keeps its size but is moved to be centred on the
    vertebral body (:func:`mask_body_centre`), so the classifier grid is centred there.
    """
    mask = crop_to_mask(mask)  # once here, so both steps below work on the small block
    box = mask_box(mask, roi.plane).expanded(roi.margin_mm)
    if roi.centre == "box":
        return box
    if roi.centre != "body":
        raise GeometryError(f"Unknown ROI centre {roi.centre!r}; use one of {ROI_CENTRES}.")
    half = box.size_mm / 2
    centre = mask_body_centre(mask)
    return Box(centre - half, centre + half)


@dataclass(frozen=True)
class RoiCrop:
    """The ROI resampled onto the classifier grid, with its geometry (identity direction)."""

    volume: Volume
    box: Box

    def to_original_index(self, ijk: ArrayLike, original: Volume) -> NDArray[np.float64]:
        """Continuous ``(i, j, k)`` in ``original`` of crop indices ``ijk`` (``(3,)``/``(n, 3)``)."""
        return original.mm_to_index(self.volume.index_to_mm(ijk))

    def to_original(self, values: NDArray[np.generic], original: Volume, order: int = 1
                    ) -> Volume:
        """Map an array on the crop grid (e.g. a Grad-CAM map) onto the original series' grid.

        Voxels outside the crop get 0. Returns a float32 volume on ``original``'s grid.
        """
        on_crop = self.volume.with_array(np.asarray(values, dtype=np.float32))
        region = resample_onto_region(on_crop, original, order=order, fill_value=0.0)
        if region is None:
            return original.with_array(np.zeros(original.array.shape, np.float32), "OT")
        return original.with_array(paste_into(region, original), "OT")


def _reaches_outside(grid: Volume, region: Volume, tolerance: float = 1e-6) -> bool:
    """Whether any voxel centre of ``grid`` lies outside ``region``'s voxel centres (where
    interpolation would read the fill value)."""
    last = np.asarray(grid.size_ijk, dtype=np.float64) - 1.0
    corners = np.array([[a, b, c] for a in (0.0, last[0]) for b in (0.0, last[1])
                        for c in (0.0, last[2])])
    inside = region.mm_to_index(grid.index_to_mm(corners))
    upper = np.asarray(region.size_ijk, dtype=np.float64) - 1.0
    return bool(np.any(inside < tolerance) or np.any(inside > upper - tolerance))


def crop_roi(volume: Volume, box: Box, size_ijk: Sequence[int],
             spacing_mm: Sequence[float] | None = None, order: int = 1) -> RoiCrop:
    """Crop ``box`` out of ``volume`` and resample it onto a ``size_ijk`` grid.

    Parameters
    ----------
    volume:
        The original series.
    box:
        ROI in LPS mm (e.g. from :func:`roi_box`).
    size_ijk:
        The classifier's input grid size.
    spacing_mm:
        Fixed voxel size (mm); by default the smallest isotropic spacing that fits the whole box,
        keeping anatomy's proportions.
    order:
        Interpolation order (1 for images, 0 for masks).

    Returns
    -------
    RoiCrop
        The crop (centred on the box, identity direction) and the box.
    """
    size = np.asarray(size_ijk, dtype=int)
    if size.shape != (3,) or np.any(size < 1):
        raise GeometryError(f"The classifier grid needs three positive sizes, got {size_ijk!r}.")
    if spacing_mm is None:
        spacing = np.full(3, float(np.max(box.size_mm / size)))
    else:
        spacing = np.asarray(spacing_mm, dtype=float)
    origin = box.centre_mm - (size - 1) / 2 * spacing
    template = Volume(np.zeros(tuple(size[::-1]), np.uint8), spacing=tuple(spacing),
                      origin=tuple(origin))
    region = crop_to_cover(volume, template)
    if region is None:
        raise GeometryError("The region of interest lies outside the image.")
    # The series' minimum fills what lies outside it; a grid wholly inside never samples it, and
    # finding the minimum of a full-size CT costs as much as the rest of the crop.
    fill = float(np.min(volume.array)) if order > 0 and _reaches_outside(template, region) else 0.0
    cropped = resample(region, template.size_ijk, template.spacing, template.origin,
                       template.direction, order=order, fill_value=fill)
    return RoiCrop(volume=cropped, box=box)
