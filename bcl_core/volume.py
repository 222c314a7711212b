"""A 3D image with its patient geometry.

Conventions (the same as SimpleITK / ITK, so either can check the other):

* ``array`` is indexed ``array[k, j, i]``: ``k`` the slice, ``j`` the row, ``i`` the column.
* ``spacing``, ``origin`` and the columns of ``direction`` are given in ``(i, j, k)`` order.
* Patient coordinates are DICOM LPS millimetres: +x towards the patient's left, +y posterior,
  +z superior (head).
* ``origin`` is the LPS position of the centre of voxel ``(i, j, k) = (0, 0, 0)``; column ``c`` of
  ``direction`` is the unit LPS vector along index axis ``c``.

So a continuous index ``ijk`` maps to ``origin + direction @ (spacing * ijk)``.

Everything downstream of loading speaks patient millimetres, never raw indices.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bcl_core.errors import GeometryError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import SimpleITK as sitk

logger = logging.getLogger(__name__)

Plane = Literal["axial", "sagittal", "coronal", "oblique"]

#: Largest angle (degrees) between a slice normal and a patient axis still called that plane.
PLANE_TOLERANCE_DEG = 10.0
#: Tolerance on |D^T D - I| for a direction matrix to count as orthonormal.
ORTHONORMAL_TOLERANCE = 1e-4


def _as_vector3(values: ArrayLike, name: str) -> NDArray[np.float64]:
    vector = np.asarray(values, dtype=np.float64).reshape(-1)
    if vector.shape != (3,) or not np.all(np.isfinite(vector)):
        raise GeometryError(f"{name} must be three finite numbers, got {values!r}.")
    return vector


@dataclass(frozen=True, eq=False)
class Volume:
    """Voxel array plus geometry in LPS patient millimetres.

    Parameters
    ----------
    array:
        3D array indexed ``[k, j, i]`` (slice, row, column). For CT these are Hounsfield units.
    spacing:
        Voxel size in mm along ``(i, j, k)``; all positive.
    origin:
        LPS mm of the centre of voxel ``(0, 0, 0)``.
    direction:
        3x3 orthonormal matrix; column ``c`` is the LPS unit vector of index axis ``c``.
    modality:
        DICOM modality (``"CT"``, ``"MR"``, ...) or ``"SEG"`` for masks.
    metadata:
        Non-identifying series facts (series description, manufacturer, rescale, ...). Never
        patient names, IDs, dates of birth or anything else that identifies a person.

    Raises
    ------
    GeometryError
        If the array is not 3D or the geometry is inconsistent.

    Examples
    --------
    >>> import numpy as np
    >>> v = Volume(np.zeros((2, 3, 4)), spacing=(0.5, 0.5, 2.0))
    >>> v.index_to_mm([1, 2, 1]).tolist()
    [0.5, 1.0, 2.0]
    """

    array: NDArray[Any]
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: NDArray[np.float64] = field(default_factory=lambda: np.eye(3))
    modality: str = "OT"
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        array = np.asarray(self.array)
        if array.ndim != 3:
            raise GeometryError(f"A volume needs a 3D array, got shape {array.shape}.")
        if min(array.shape) < 1:
            raise GeometryError(f"A volume cannot be empty, got shape {array.shape}.")
        spacing = _as_vector3(self.spacing, "spacing")
        if np.any(spacing <= 0):
            raise GeometryError(f"Voxel spacing must be positive, got {tuple(spacing)} mm.")
        origin = _as_vector3(self.origin, "origin")
        direction = np.asarray(self.direction, dtype=np.float64)
        if direction.shape != (3, 3) or not np.all(np.isfinite(direction)):
            raise GeometryError(f"direction must be a finite 3x3 matrix, got {direction!r}.")
        if np.abs(direction.T @ direction - np.eye(3)).max() > ORTHONORMAL_TOLERANCE:
            raise GeometryError("direction cosines are not orthonormal; the geometry is corrupt.")
        object.__setattr__(self, "array", array)
        object.__setattr__(self, "spacing", tuple(float(s) for s in spacing))
        object.__setattr__(self, "origin", tuple(float(o) for o in origin))
        direction = direction.copy()
        direction.setflags(write=False)
        object.__setattr__(self, "direction", direction)
        object.__setattr__(self, "metadata", dict(self.metadata))

    # --- shape -----------------------------------------------------------------------------
    @property
    def size_ijk(self) -> tuple[int, int, int]:
        """Number of voxels along ``(i, j, k)`` (columns, rows, slices)."""
        nk, nj, ni = self.array.shape
        return (int(ni), int(nj), int(nk))

    @property
    def n_slices(self) -> int:
        """Number of slices (length of the ``k`` axis)."""
        return int(self.array.shape[0])

    # --- transforms ------------------------------------------------------------------------
    @property
    def affine(self) -> NDArray[np.float64]:
        """4x4 matrix mapping homogeneous ``(i, j, k, 1)`` to LPS ``(x, y, z, 1)`` mm."""
        matrix = np.eye(4)
        matrix[:3, :3] = self.direction @ np.diag(self.spacing)
        matrix[:3, 3] = self.origin
        return matrix

    def index_to_mm(self, ijk: ArrayLike) -> NDArray[np.float64]:
        """Map continuous ``(i, j, k)`` indices (shape ``(3,)`` or ``(n, 3)``) to LPS mm."""
        points = np.asarray(ijk, dtype=np.float64)
        scaled = points * np.asarray(self.spacing)
        return scaled @ self.direction.T + np.asarray(self.origin)

    def mm_to_index(self, point_mm: ArrayLike) -> NDArray[np.float64]:
        """Map LPS mm points (shape ``(3,)`` or ``(n, 3)``) to continuous ``(i, j, k)`` indices."""
        points = np.asarray(point_mm, dtype=np.float64) - np.asarray(self.origin)
        # direction is orthonormal: its inverse is its transpose.
        return (points @ self.direction) / np.asarray(self.spacing)

    def contains_mm(self, point_mm: ArrayLike, margin_voxels: float = 0.5) -> bool:
        """Whether an LPS point lies inside the volume's voxel grid (within half a voxel)."""
        ijk = self.mm_to_index(point_mm)
        upper = np.asarray(self.size_ijk, dtype=np.float64) - 1 + margin_voxels
        return bool(np.all(ijk >= -margin_voxels) and np.all(ijk <= upper))

    def nearest_voxel(self, point_mm: ArrayLike) -> tuple[int, int, int]:
        """Array index ``(k, j, i)`` of the voxel nearest an LPS point, clipped to the grid."""
        ijk = np.rint(self.mm_to_index(point_mm)).astype(int)
        ijk = np.clip(ijk, 0, np.asarray(self.size_ijk) - 1)
        return (int(ijk[2]), int(ijk[1]), int(ijk[0]))

    @property
    def center_mm(self) -> NDArray[np.float64]:
        """LPS mm of the centre of the voxel grid."""
        return self.index_to_mm((np.asarray(self.size_ijk, dtype=np.float64) - 1) / 2)

    def corners_mm(self) -> NDArray[np.float64]:
        """LPS mm of the eight corner voxel centres, shape ``(8, 3)``."""
        last = np.asarray(self.size_ijk, dtype=np.float64) - 1
        corners = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], float)
        return self.index_to_mm(corners * last)

    # --- orientation -----------------------------------------------------------------------
    @property
    def slice_normal(self) -> NDArray[np.float64]:
        """Unit LPS vector of the slice (``k``) axis."""
        return np.asarray(self.direction[:, 2])

    @property
    def plane(self) -> Plane:
        """Acquisition plane from the slice normal: axial, sagittal, coronal or oblique."""
        return plane_of_normal(self.slice_normal)

    # --- copies ----------------------------------------------------------------------------
    def with_array(self, array: NDArray[Any], modality: str | None = None) -> Volume:
        """A volume on the same grid with another array (e.g. a mask or a heat map)."""
        if np.asarray(array).shape != self.array.shape:
            raise GeometryError(
                f"array shape {np.asarray(array).shape} does not match the grid {self.array.shape}."
            )
        return replace(self, array=array, modality=modality or self.modality)

    def right_handed(self) -> Volume:
        """The same image on a right-handed grid (slice axis = row x column, as DICOM stacks).

        A left-handed volume (``det(direction) < 0``) gets its slice order reversed, so that a
        DICOM reader, which sorts slices along the normal ``row x column``, reads it back with
        the same voxel positions. Right-handed volumes are returned unchanged.
        """
        if np.linalg.det(self.direction) > 0:
            return self
        direction = np.array(self.direction)
        direction[:, 2] *= -1
        last = self.index_to_mm((0.0, 0.0, float(self.n_slices - 1)))
        return replace(self, array=self.array[::-1], origin=tuple(last), direction=direction)

    def same_grid(self, other: Volume, tolerance_mm: float = 1e-3) -> bool:
        """Whether ``other`` has the same voxel grid (shape, spacing, origin, direction)."""
        return (
            self.array.shape == other.array.shape
            and np.allclose(self.spacing, other.spacing, atol=tolerance_mm)
            and np.allclose(self.origin, other.origin, atol=tolerance_mm)
            and np.allclose(self.direction, other.direction, atol=1e-6)
        )

    def __repr__(self) -> str:
        return (
            f"Volume({self.modality}, size_ijk={self.size_ijk}, spacing="
            f"({', '.join(f'{s:.3g}' for s in self.spacing)}) mm, plane={self.plane})"
        )


def plane_of_normal(normal: ArrayLike, tolerance_deg: float = PLANE_TOLERANCE_DEG) -> Plane:
    """Classify a slice normal (LPS) as axial, sagittal, coronal or oblique.

    Examples
    --------
    >>> plane_of_normal([0, 0, 1])
    'axial'
    >>> plane_of_normal([1, 0, 0])
    'sagittal'
    """
    vector = np.abs(_as_vector3(normal, "normal"))
    vector = vector / np.linalg.norm(vector)
    axis = int(np.argmax(vector))
    if np.degrees(np.arccos(min(1.0, vector[axis]))) > tolerance_deg:
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]  # type: ignore[return-value]


# --- resampling ----------------------------------------------------------------------------
def resample(
    volume: Volume,
    size_ijk: Sequence[int],
    spacing: Sequence[float],
    origin: Sequence[float],
    direction: ArrayLike | None = None,
    order: int = 1,
    fill_value: float | None = None,
    dtype: np.dtype[Any] | type | None = None,
) -> Volume:
    """Resample ``volume`` onto another grid given in LPS mm.

    Parameters
    ----------
    volume:
        Source volume.
    size_ijk, spacing, origin, direction:
        Target grid, with the same conventions as :class:`Volume`. ``direction`` defaults to the
        source's.
    order:
        Interpolation order: 0 nearest (masks, labels), 1 linear (images), 3 cubic.
    fill_value:
        Value outside the source; defaults to the source minimum (air for CT).
    dtype:
        Output dtype; defaults to the source dtype for ``order == 0`` and float32 otherwise.

    Returns
    -------
    Volume
        The resampled volume with the source's modality and metadata.
    """
    from scipy import ndimage

    target_direction = volume.direction if direction is None else np.asarray(direction, float)
    target = Volume(
        np.zeros(tuple(int(n) for n in size_ijk)[::-1], dtype=np.uint8),
        spacing=tuple(spacing),  # type: ignore[arg-type]
        origin=tuple(origin),  # type: ignore[arg-type]
        direction=target_direction,
    )
    # Map target index -> source continuous index as one affine: src = A @ tgt + b.
    to_source = np.linalg.inv(volume.affine) @ target.affine
    # scipy works on the array's (k, j, i) axes: permute the affine accordingly.
    perm = np.array([2, 1, 0])
    matrix = to_source[:3, :3][np.ix_(perm, perm)]
    offset = to_source[:3, 3][perm]
    source = volume.array
    if fill_value is None:
        fill_value = float(source.min())
    out_dtype = np.dtype(dtype) if dtype is not None else (
        source.dtype if order == 0 else np.dtype(np.float32)
    )
    work = source if source.dtype.kind == "f" else source.astype(np.float32)
    out = ndimage.affine_transform(
        work,
        matrix,
        offset=offset,
        output_shape=target.array.shape,
        order=order,
        mode="constant",
        cval=float(fill_value),
        prefilter=order > 1,
    )
    if out_dtype.kind in "iub":
        out = np.rint(out)
    return replace(target, array=out.astype(out_dtype, copy=False), modality=volume.modality,
                   metadata=volume.metadata)


def resample_like(volume: Volume, reference: Volume, order: int = 1,
                  fill_value: float | None = None) -> Volume:
    """Resample ``volume`` onto ``reference``'s grid (e.g. a mask onto its image)."""
    return resample(volume, reference.size_ijk, reference.spacing, reference.origin,
                    reference.direction, order=order, fill_value=fill_value)


def resample_to_spacing(volume: Volume, spacing: Sequence[float], order: int = 1,
                        fill_value: float | None = None) -> Volume:
    """Resample to a new voxel size, keeping orientation and physical extent."""
    new_spacing = np.asarray(_as_vector3(spacing, "spacing"))
    if np.any(new_spacing <= 0):
        raise GeometryError(f"Target spacing must be positive, got {tuple(new_spacing)} mm.")
    extent = (np.asarray(volume.size_ijk) - 1) * np.asarray(volume.spacing)
    size = np.maximum(1, np.floor(extent / new_spacing + 1e-6).astype(int) + 1)
    return resample(volume, size, tuple(float(s) for s in new_spacing), volume.origin,
                    volume.direction, order=order, fill_value=fill_value)


# --- SimpleITK bridge ----------------------------------------------------------------------
def to_sitk(volume: Volume) -> sitk.Image:
    """Convert to a SimpleITK image (same voxel order and geometry)."""
    import SimpleITK as sitk

    array = volume.array
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(volume.spacing)
    image.SetOrigin(volume.origin)
    image.SetDirection(tuple(float(x) for x in volume.direction.reshape(-1)))
    return image


def from_sitk(image: sitk.Image, modality: str = "OT",
              metadata: Mapping[str, Any] | None = None) -> Volume:
    """Convert a 3D SimpleITK image to a :class:`Volume`."""
    import SimpleITK as sitk

    if image.GetDimension() != 3:
        raise GeometryError(f"Expected a 3D image, got {image.GetDimension()}D.")
    return Volume(
        sitk.GetArrayFromImage(image),
        spacing=image.GetSpacing(),
        origin=image.GetOrigin(),
        direction=np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3),
        modality=modality,
        metadata=metadata or {},
    )
