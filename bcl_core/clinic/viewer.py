"""Slice rendering for the viewers (reader study and consult): pure numpy, no GUI toolkit.

A slice is taken along the volume's index axis closest to the requested patient plane (no
resampling across slices, so what a reader sees is what the scanner stored), oriented in the
radiological display convention, with square display pixels:

* axial: anterior at the top, the patient's right on the viewer's left;
* sagittal: superior at the top, anterior on the left;
* coronal: superior at the top, the patient's right on the viewer's left.

Positions are LPS patient millimetres along the plane's normal (x for sagittal, y for coronal,
z for axial), so a slider speaks mm and a click maps back to a patient point
(:meth:`RenderedSlice.pixel_to_mm`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bcl_core.errors import GeometryError
from bcl_core.volume import Volume

logger = logging.getLogger(__name__)

ViewPlane = Literal["axial", "sagittal", "coronal"]
VIEW_PLANES: tuple[ViewPlane, ...] = ("axial", "sagittal", "coronal")

#: Patient axis (0 x, 1 y, 2 z) normal to each plane, and the display axes as
#: (patient axis, sign): the direction a display row / column index grows in.
_NORMAL_AXIS = {"axial": 2, "sagittal": 0, "coronal": 1}
_ROW_AXIS = {"axial": (1, 1), "sagittal": (2, -1), "coronal": (2, -1)}
_COL_AXIS = {"axial": (0, 1), "sagittal": (1, 1), "coronal": (0, 1)}

MASK_OUTLINE_RGB = (255, 220, 0)
POINT_RGB = (0, 255, 255)


@dataclass(frozen=True)
class Window:
    """A display window: ``width`` and ``level`` (centre) in the image's units (HU for CT)."""

    width: float
    level: float

    def __post_init__(self) -> None:
        if not np.isfinite(self.width) or self.width <= 0 or not np.isfinite(self.level):
            raise ValueError(f"a window needs a positive width, got W{self.width} L{self.level}")


#: Standard CT presets; ``auto`` (percentiles of the image) is what MRI uses.
WINDOW_PRESETS: dict[str, Window] = {
    "bone": Window(2000.0, 500.0),
    "soft tissue": Window(400.0, 40.0),
}
AUTO = "auto"


def auto_window(values: ArrayLike, low_percentile: float = 1.0,
                high_percentile: float = 99.0) -> Window:
    """A window spanning the ``low``-``high`` percentiles of ``values`` (MRI has no units).

    Examples
    --------
    >>> auto_window(range(101), 0, 100)
    Window(width=100.0, level=50.0)
    """
    array = np.asarray(values)
    # Sample before converting: a full-size CT as float64 costs ~0.5 s and 700 MB per call.
    sample = array.reshape(-1)[:: max(1, array.size // 200_000)].astype(np.float64)
    low, high = np.percentile(sample, [low_percentile, high_percentile])
    width = max(float(high - low), 1e-6)
    return Window(width, float(low + high) / 2)


def default_window(volume: Volume) -> tuple[str, Window]:
    """The preset a series opens with: bone for CT, auto otherwise."""
    if volume.modality == "CT":
        return "bone", WINDOW_PRESETS["bone"]
    return AUTO, auto_window(volume.array)


def apply_window(values: NDArray[Any], window: Window) -> NDArray[np.uint8]:
    """Map values to 0-255 grey through a window (values outside it saturate).

    Examples
    --------
    >>> apply_window(np.array([-1000.0, 40.0, 240.0, 3000.0]), Window(400, 40)).tolist()
    [0, 128, 255, 255]
    """
    low = window.level - window.width / 2
    scaled = (np.asarray(values, dtype=np.float32) - np.float32(low)) * np.float32(
        255.0 / window.width)
    return np.clip(scaled + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class SliceGeometry:
    """How display pixels of one plane map to the volume's index axes."""

    plane: ViewPlane
    slice_axis: int  # index axis (0 i, 1 j, 2 k) the slice is taken along
    row_axis: int
    col_axis: int
    n_slices: int
    step_mm: float  # signed mm along the normal per slice index
    centre_mm: float  # normal coordinate of the middle slice

    def position_mm(self, index: int) -> float:
        """Normal coordinate (mm) of slice ``index``."""
        return self.centre_mm + self.step_mm * (index - (self.n_slices - 1) / 2)

    def index_at(self, position_mm: float) -> int:
        """Slice index nearest ``position_mm`` (clipped to the volume)."""
        index = round((position_mm - self.centre_mm) / self.step_mm + (self.n_slices - 1) / 2)
        return int(np.clip(index, 0, self.n_slices - 1))

    @property
    def range_mm(self) -> tuple[float, float]:
        """Lowest and highest slice position in mm."""
        ends = (self.position_mm(0), self.position_mm(self.n_slices - 1))
        return (min(ends), max(ends))


def _dominant(direction: NDArray[np.float64], index_axis: int) -> tuple[int, int]:
    column = direction[:, index_axis]
    patient_axis = int(np.argmax(np.abs(column)))
    return patient_axis, 1 if column[patient_axis] > 0 else -1


def slice_geometry(volume: Volume, plane: ViewPlane) -> SliceGeometry:
    """The index axes behind a display plane of ``volume``.

    Raises
    ------
    GeometryError
        If the plane is unknown or the volume's axes are too oblique to tell planes apart.
    """
    if plane not in _NORMAL_AXIS:
        raise GeometryError(f"Unknown view plane {plane!r}; use one of {', '.join(VIEW_PLANES)}.")
    owners = {_dominant(volume.direction, a)[0]: a for a in range(3)}
    if len(owners) != 3:
        raise GeometryError("The series is too oblique to show as axial/sagittal/coronal.")
    slice_axis = owners[_NORMAL_AXIS[plane]]
    sign = _dominant(volume.direction, slice_axis)[1]
    size = volume.size_ijk[slice_axis]
    return SliceGeometry(
        plane=plane, slice_axis=slice_axis, row_axis=owners[_ROW_AXIS[plane][0]],
        col_axis=owners[_COL_AXIS[plane][0]], n_slices=size,
        step_mm=sign * volume.spacing[slice_axis],
        centre_mm=float(volume.center_mm[_NORMAL_AXIS[plane]]))


def _display_indices(volume: Volume, geometry: SliceGeometry, which: str) -> NDArray[np.intp]:
    """Source indices along the row (or column) index axis for each display row (column).

    Display pixels are square, of the finer of the two in-plane spacings; each display pixel
    takes its nearest source voxel, in the display direction.
    """
    axis = geometry.row_axis if which == "row" else geometry.col_axis
    desired = (_ROW_AXIS if which == "row" else _COL_AXIS)[geometry.plane][1]
    pixel = min(volume.spacing[geometry.row_axis], volume.spacing[geometry.col_axis])
    count = volume.size_ijk[axis]
    n_out = max(1, round(count * volume.spacing[axis] / pixel))
    source = np.minimum(((np.arange(n_out) + 0.5) * pixel / volume.spacing[axis]).astype(np.intp),
                        count - 1)
    if _dominant(volume.direction, axis)[1] != desired:
        source = count - 1 - source
    return source


def _plane_array(array: NDArray[Any], geometry: SliceGeometry, index: int,
                 rows: NDArray[np.intp], cols: NDArray[np.intp]) -> NDArray[Any]:
    """The display-oriented 2D slice of an ``[k, j, i]`` array."""
    numpy_axis = {0: 2, 1: 1, 2: 0}  # index axis -> numpy axis of array[k, j, i]
    plane = np.take(array, index, axis=numpy_axis[geometry.slice_axis])
    # After taking, the remaining numpy axes are the two other index axes, higher axis first.
    remaining = sorted((geometry.row_axis, geometry.col_axis), reverse=True)
    if remaining[0] != geometry.row_axis:
        plane = plane.T
    return plane[np.ix_(rows, cols)]


@dataclass(frozen=True)
class RenderedSlice:
    """An RGB slice ready to show, with what is needed to map a click back to the patient."""

    rgb: NDArray[np.uint8]  # (rows, columns, 3)
    plane: ViewPlane
    index: int
    position_mm: float
    pixel_mm: float  # size of a (square) display pixel
    geometry: SliceGeometry
    source_rows: NDArray[np.intp]
    source_cols: NDArray[np.intp]
    volume_affine: NDArray[np.float64]

    def pixel_to_mm(self, row: float, column: float) -> NDArray[np.float64]:
        """LPS mm of the voxel shown at display pixel ``(row, column)``."""
        r = int(np.clip(round(row), 0, len(self.source_rows) - 1))
        c = int(np.clip(round(column), 0, len(self.source_cols) - 1))
        ijk = np.zeros(4)
        ijk[self.geometry.slice_axis] = self.index
        ijk[self.geometry.row_axis] = self.source_rows[r]
        ijk[self.geometry.col_axis] = self.source_cols[c]
        ijk[3] = 1.0
        return (self.volume_affine @ ijk)[:3]


def _outline(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Pixels of a mask with a 4-neighbour outside it."""
    padded = np.pad(mask, 1, constant_values=False)
    interior = (padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    return mask & ~interior


def heat_colours(values: NDArray[np.float32]) -> NDArray[np.float32]:
    """A blue-cyan-yellow-red ramp for values in [0, 1], shape ``(..., 3)`` in 0-255."""
    v = np.clip(values, 0.0, 1.0)[..., None]
    stops = np.array([0.0, 1 / 3, 2 / 3, 1.0], np.float32)
    colours = np.array([[0, 0, 255], [0, 255, 255], [255, 255, 0], [255, 0, 0]], np.float32)
    return np.stack([np.interp(v[..., 0], stops, colours[:, c]) for c in range(3)], axis=-1)


def _check_grid(volume: Volume, other: Volume, name: str) -> None:
    if not volume.same_grid(other):
        raise GeometryError(f"The {name} is not on the image's voxel grid; resample it first.")


def block_offset(volume: Volume, block: Volume, tolerance_mm: float = 1e-3
                 ) -> NDArray[np.intp] | None:
    """Index ``(i, j, k)`` of ``block``'s first voxel in ``volume``, if it is a sub-grid of it.

    A block is a sub-grid when it has the same spacing and direction and its origin lies on one
    of ``volume``'s voxels (as :func:`bcl_core.predict.preprocess.resample_onto_region` returns, e.g.
    Grad-CAM maps); ``None`` otherwise.
    """
    if not (np.allclose(block.spacing, volume.spacing, atol=tolerance_mm)
            and np.allclose(block.direction, volume.direction, atol=1e-6)):
        return None
    start = volume.mm_to_index(block.origin)
    rounded = np.rint(start)
    if np.any(np.abs((start - rounded) * np.asarray(volume.spacing)) > tolerance_mm):
        return None
    return rounded.astype(np.intp)


def _heat_plane(volume: Volume, heatmap: Volume, geometry: SliceGeometry, index: int,
                rows: NDArray[np.intp], cols: NDArray[np.intp]) -> NDArray[np.float32]:
    """The display slice of a heat map on the image's grid or on a block (sub-grid) of it."""
    if volume.same_grid(heatmap):
        return _plane_array(heatmap.array, geometry, index, rows, cols).astype(np.float32)
    offset = block_offset(volume, heatmap)
    if offset is None:
        raise GeometryError("The heat map is not on the image's voxel grid or a block of it; "
                            "resample it first.")
    size = heatmap.size_ijk
    out = np.zeros((len(rows), len(cols)), np.float32)
    local = index - offset[geometry.slice_axis]
    if not 0 <= local < size[geometry.slice_axis]:
        return out
    local_rows = rows - offset[geometry.row_axis]
    local_cols = cols - offset[geometry.col_axis]
    keep_rows = np.nonzero((local_rows >= 0) & (local_rows < size[geometry.row_axis]))[0]
    keep_cols = np.nonzero((local_cols >= 0) & (local_cols < size[geometry.col_axis]))[0]
    if keep_rows.size and keep_cols.size:
        block = _plane_array(heatmap.array, geometry, int(local), local_rows[keep_rows],
                             local_cols[keep_cols])
        out[np.ix_(keep_rows, keep_cols)] = block
    return out


def render_slice(
    volume: Volume,
    plane: ViewPlane,
    position_mm: float | None = None,
    window: Window | None = None,
    *,
    mask: Volume | None = None,
    heatmap: Volume | None = None,
    heat_opacity: float = 0.45,
    point_mm: ArrayLike | None = None,
) -> RenderedSlice:
    """Render one slice of ``volume`` as uint8 RGB.

    Parameters
    ----------
    volume:
        The image.
    plane:
        ``"axial"``, ``"sagittal"`` or ``"coronal"``.
    position_mm:
        LPS coordinate along the plane normal; the nearest slice is shown (default: middle).
    window:
        Display window; default bone for CT, percentiles otherwise.
    mask:
        A mask on the same grid, drawn as an outline.
    heatmap:
        Values in [0, 1] on the same grid or on a block of it (e.g. Grad-CAM maps from
        :mod:`bcl_core.predict.gradcam`), blended in colour where above 0.05.
    heat_opacity:
        Opacity of the heat map at its maximum.
    point_mm:
        An LPS point drawn as a small cross when it lies within half a slice of this one.

    Raises
    ------
    GeometryError
        For an unknown plane, or a mask or heat map on another grid.
    """
    geometry = slice_geometry(volume, plane)
    index = geometry.n_slices // 2 if position_mm is None else geometry.index_at(position_mm)
    rows = _display_indices(volume, geometry, "row")
    cols = _display_indices(volume, geometry, "col")
    if window is None:
        window = default_window(volume)[1]
    grey = apply_window(_plane_array(volume.array, geometry, index, rows, cols), window)
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    if heatmap is not None:
        heat = _heat_plane(volume, heatmap, geometry, index, rows, cols)
        alpha = (np.clip(heat, 0, 1) * heat_opacity * (heat > 0.05))[..., None]
        rgb = (rgb * (1 - alpha) + heat_colours(heat) * alpha + 0.5).astype(np.uint8)
    if mask is not None:
        _check_grid(volume, mask, "mask")
        outline = _outline(_plane_array(mask.array, geometry, index, rows, cols) > 0)
        rgb[outline] = MASK_OUTLINE_RGB
    rendered = RenderedSlice(rgb, plane, index, geometry.position_mm(index),
                             min(volume.spacing[geometry.row_axis],
                                 volume.spacing[geometry.col_axis]),
                             geometry, rows, cols, volume.affine)
    if point_mm is not None:
        _draw_point(rendered, volume, point_mm)
    return rendered


def _draw_point(rendered: RenderedSlice, volume: Volume, point_mm: ArrayLike) -> None:
    ijk = volume.mm_to_index(point_mm)
    geometry = rendered.geometry
    if abs(ijk[geometry.slice_axis] - rendered.index) > 0.5:
        return
    row = int(np.argmin(np.abs(rendered.source_rows - ijk[geometry.row_axis])))
    col = int(np.argmin(np.abs(rendered.source_cols - ijk[geometry.col_axis])))
    arm = max(2, min(rendered.rgb.shape[:2]) // 40)
    rgb = rendered.rgb
    rgb[max(0, row - arm): row + arm + 1, col] = POINT_RGB
    rgb[row, max(0, col - arm): col + arm + 1] = POINT_RGB
