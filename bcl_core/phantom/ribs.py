"""Ribs of the thoracic vertebrae: neck from the costovertebral joint to the tubercle, then a
shaft that curves along the inside of the chest wall and descends towards the front.

Each rib is a flattened tube: a neck of two straight capsules, then a shaft on an elliptical arc
(in the axial plane, about the trunk centre) whose height drops linearly along the arc. The
same inside test serves every grid (CT slabs, the CT spine box, the MRI), so CT and MRI agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bcl_core.phantom.shapes import Array, segment_distance

#: Half-thickness (radial) and half-height of a rib shaft's cross-section, mm.
SHAFT_HALF_THICKNESS_MM = 3.5
SHAFT_HALF_HEIGHT_MM = 6.5
NECK_RADIUS_MM = 4.0
#: Cortical shell of a rib, as a fraction of its half-axes.
RIB_CORTEX_FRACTION = 0.6


@dataclass(frozen=True)
class Rib:
    """One rib in the anatomy frame.

    Attributes
    ----------
    side:
        +1 for the patient's left, -1 for the right.
    joint, tubercle, angle:
        Costovertebral joint, tubercle and the start of the shaft (mm).
    center_xy, half_axes:
        The shaft's elliptical arc in the axial plane.
    phi_start, phi_end:
        Arc angles (radians, mirrored so that the rib runs on the +x side; positive is
        posterior) where the shaft starts and ends.
    drop_mm:
        How far the shaft descends from its start to its end.
    """

    side: float
    joint: tuple[float, float, float]
    tubercle: tuple[float, float, float]
    angle: tuple[float, float, float]
    center_xy: tuple[float, float]
    half_axes: tuple[float, float]
    phi_start: float
    phi_end: float
    drop_mm: float

    def shaft_corners(self, z_low: float = -np.inf, z_high: float = np.inf,
                      ) -> NDArray[np.float64] | None:
        """Anatomy-frame corners of a box holding the shaft's part between two heights.

        Returns None when no part of the shaft lies between ``z_low`` and ``z_high``.
        """
        pad = SHAFT_HALF_HEIGHT_MM + 2.0
        # The shaft's height falls linearly along the arc: keep the stretch in range.
        t_low = (self.angle[2] - (z_high + pad)) / self.drop_mm
        t_high = (self.angle[2] - (z_low - pad)) / self.drop_mm
        t_low, t_high = max(t_low, 0.0), min(t_high, 1.0)
        points = []
        if t_low <= t_high:
            phis = self.phi_start - np.linspace(t_low, t_high, 16) * (
                self.phi_start - self.phi_end)
            cx, cy = self.center_xy
            a, b = self.half_axes
            zs = self.angle[2] - self.drop_mm * np.linspace(t_low, t_high, 16)
            points.append(np.stack([cx + self.side * a * np.cos(phis), cy + b * np.sin(phis),
                                    zs], axis=1))
        if not points:
            return None
        stacked = np.concatenate(points)
        low = np.maximum(stacked.min(axis=0) - pad, [-np.inf, -np.inf, z_low - pad])
        high = np.minimum(stacked.max(axis=0) + pad, [np.inf, np.inf, z_high + pad])
        return _box_corners(low, high)

    def neck_corners(self) -> NDArray[np.float64]:
        """Anatomy-frame corners of a box holding the neck (joint to shaft)."""
        neck = np.array([self.joint, self.tubercle, self.angle])
        return _box_corners(neck.min(axis=0) - NECK_RADIUS_MM - 1.0,
                            neck.max(axis=0) + NECK_RADIUS_MM + 1.0)


def _box_corners(low: NDArray[np.float64], high: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1])
                     for z in (low[2], high[2])])


def shaft_bone(rib: Rib, x: Array, y: Array, z: Array,
               ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Where points are the rib shaft's bone, and where that bone is cortex."""
    cx, cy = rib.center_xy
    a, b = rib.half_axes
    dx = rib.side * (x - cx) / a
    dy = (y - cy) / b
    r = np.sqrt(dx * dx + dy * dy)
    phi = np.arctan2(dy, dx)
    t = (rib.phi_start - phi) / (rib.phi_start - rib.phi_end)
    local_radius = a * b / np.sqrt((b * dx) ** 2 + (a * dy) ** 2 + 1e-9) * r
    radial = (r - 1.0) * local_radius / SHAFT_HALF_THICKNESS_MM
    vertical = (z - (rib.angle[2] - rib.drop_mm * t)) / SHAFT_HALF_HEIGHT_MM
    r2 = radial * radial + vertical * vertical
    bone = (t >= 0.0) & (t <= 1.0) & (r2 <= 1.0)
    return bone, bone & (r2 > RIB_CORTEX_FRACTION**2)


def neck_bone(rib: Rib, x: Array, y: Array, z: Array,
              ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Where points are the rib neck's bone, and where that bone is cortex."""
    distance = np.minimum(
        segment_distance(x, y, z, np.array(rib.joint), np.array(rib.tubercle)),
        segment_distance(x, y, z, np.array(rib.tubercle), np.array(rib.angle)))
    bone = distance <= NECK_RADIUS_MM
    return bone, bone & (distance > NECK_RADIUS_MM * RIB_CORTEX_FRACTION)


Region = tuple[NDArray[np.generic], Array, Array, Array]


def paint_ribs(ribs: Sequence[Rib], z_range: tuple[float, float],
               region_of: Callable[[NDArray[np.float64]], Region | None],
               marrow_value: float, cortex_value: float) -> None:
    """Paint ribs part by part, each only inside its own box.

    Parameters
    ----------
    ribs:
        The ribs.
    z_range:
        Anatomy heights the target covers (bounds the shafts' boxes).
    region_of:
        Maps a part's anatomy-frame box corners to ``(array, x, y, z)``: the writable part of
        the target array inside that box and the anatomy coordinates of its points; None when
        the box misses the target.
    marrow_value, cortex_value:
        What to write for rib marrow and cortex (tissue labels or HU).
    """
    for rib in ribs:
        for corners, inside in ((rib.shaft_corners(*z_range), shaft_bone),
                                (rib.neck_corners(), neck_bone)):
            region = None if corners is None else region_of(corners)
            if region is None:
                continue
            part, x, y, z = region
            bone, cortex = inside(rib, x, y, z)
            part[np.broadcast_to(bone, part.shape)] = marrow_value
            part[np.broadcast_to(cortex, part.shape)] = cortex_value
