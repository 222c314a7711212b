"""Voxel grids of the synthetic series and the affine maps from their indices to anatomy mm.

A series lives in its own frame of reference (its own LPS mm); ``to_anatomy`` is the rigid map
from that frame to the anatomy frame. Coordinates are produced as broadcastable arrays: an axis
that does not change a coordinate is never expanded, so an axial grid costs a slice, not a
volume, for anything that depends on ``x, y`` alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from bcl_core.volume import Volume

Array = NDArray[np.float32]


@dataclass(frozen=True)
class Grid:
    """A series' voxel grid (Volume conventions) and its placement in the anatomy frame.

    Attributes
    ----------
    shape:
        ``(nk, nj, ni)`` array shape.
    spacing, origin, direction:
        As :class:`bcl_core.volume.Volume`, in the series' own frame.
    rotation, translation:
        The series frame is ``p_series = rotation @ p_anatomy + translation``.
    """

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: NDArray[np.float64]
    rotation: NDArray[np.float64] = field(default_factory=lambda: np.eye(3))
    translation: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def volume(self, array: NDArray[np.generic], modality: str) -> Volume:
        """A :class:`Volume` of ``array`` on this grid."""
        return Volume(array, spacing=self.spacing, origin=self.origin,
                      direction=self.direction, modality=modality)

    def shifted_k(self, offset_mm: float) -> Grid:
        """The same grid moved ``offset_mm`` along its slice axis (for slice-profile sampling)."""
        origin = np.asarray(self.origin) + self.direction[:, 2] * offset_mm
        return Grid(self.shape, self.spacing, tuple(float(o) for o in origin),  # type: ignore[arg-type]
                    self.direction, self.rotation, self.translation)

    def index_affine(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(matrix, offset)`` with ``anatomy = matrix @ (i, j, k) + offset``."""
        matrix = self.rotation.T @ self.direction @ np.diag(self.spacing)
        offset = self.rotation.T @ (np.asarray(self.origin) - np.asarray(self.translation))
        return matrix, offset

    def to_series(self, point_anatomy: Sequence[float]) -> NDArray[np.float64]:
        """Anatomy-frame mm to this series' frame."""
        return self.rotation @ np.asarray(point_anatomy, float) + np.asarray(self.translation)

    def index_box(self, corners_anatomy: NDArray[np.float64], margin: int = 1,
                  ) -> tuple[tuple[int, int, int], tuple[int, int, int]] | None:
        """Index box ``(lo_ijk, hi_ijk)`` (hi exclusive) holding anatomy points; None if empty."""
        matrix, offset = self.index_affine()
        ijk = (np.asarray(corners_anatomy) - offset) @ np.linalg.inv(matrix).T
        size = np.array(self.shape[::-1])
        lo = np.clip(np.floor(ijk.min(axis=0)).astype(int) - margin, 0, size)
        hi = np.clip(np.ceil(ijk.max(axis=0)).astype(int) + 1 + margin, 0, size)
        if np.any(hi <= lo):
            return None
        return tuple(int(v) for v in lo), tuple(int(v) for v in hi)  # type: ignore[return-value]


def affine_coords(matrix: NDArray[np.float64], offset: NDArray[np.float64],
                  lo: Sequence[int], hi: Sequence[int]) -> tuple[Array, Array, Array]:
    """Coordinates ``matrix @ (i, j, k) + offset`` over an index box, as broadcast arrays.

    Each output has shape broadcastable to ``(nk, nj, ni)`` of the box; terms whose coefficient
    is zero are skipped, so the arrays stay small for axis-aligned grids.
    """
    axes = [np.arange(lo[a], hi[a], dtype=np.float32) for a in range(3)]
    shapes = [(1, 1, -1), (1, -1, 1), (-1, 1, 1)]
    out = []
    for row in range(3):
        value: Array = np.full((1, 1, 1), offset[row], dtype=np.float32)
        for a in range(3):
            coefficient = float(matrix[row, a])
            if abs(coefficient) > 1e-9:
                value = value + np.float32(coefficient) * axes[a].reshape(shapes[a])
        out.append(value)
    return out[0], out[1], out[2]


def local_box_corners(center: Sequence[float], rotation: NDArray[np.float64],
                      low: Sequence[float], high: Sequence[float]) -> NDArray[np.float64]:
    """Anatomy mm of the 8 corners of a box given in a local frame."""
    corners = np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1])
                        for z in (low[2], high[2])], dtype=np.float64)
    return corners @ rotation.T + np.asarray(center)
