"""Approximate signed distances of the simple shapes the anatomy is built from.

Negative inside, positive outside, in mm; exact on the surface and close to it, which is all the
shells (cortex, skin) need. Arrays in, arrays out (float32 stays float32).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]


def ellipse_sdf(x: Array, y: Array, half_x: float | Array, half_y: float | Array) -> Array:
    """Signed distance to an axis-aligned ellipse centred at the origin (first order).

    Examples
    --------
    >>> round(float(ellipse_sdf(np.array(12.0), np.array(0.0), 10.0, 5.0)), 6)
    2.0
    """
    r = np.sqrt((x / half_x) ** 2 + (y / half_y) ** 2)
    grad = np.sqrt((x / half_x**2) ** 2 + (y / half_y**2) ** 2) / np.maximum(r, 1e-6)
    return (r - 1.0) / np.maximum(grad, 1e-3)


def ellipse_inside(x: Array, y: Array, half_x: float | Array, half_y: float | Array,
                   ) -> NDArray[np.bool_]:
    """Whether points lie inside an axis-aligned ellipse centred at the origin (cheap test).

    Examples
    --------
    >>> ellipse_inside(np.array([0.0, 3.0]), np.array([1.9, 0.0]), 2.0, 2.0).tolist()
    [True, False]
    """
    return (x / half_x) ** 2 + (y / half_y) ** 2 <= 1.0


def slab_sdf(x: Array, low: float | Array, high: float | Array) -> Array:
    """Signed distance to the slab ``low <= x <= high``."""
    return np.maximum(low - x, x - high)


def ellipsoid_inside(x: Array, y: Array, z: Array, half_x: float, half_y: float,
                     half_z: float) -> NDArray[np.bool_]:
    """Whether points lie inside an axis-aligned ellipsoid centred at the origin."""
    return (x / half_x) ** 2 + (y / half_y) ** 2 + (z / half_z) ** 2 <= 1.0


def segment_distance(x: Array, y: Array, z: Array, start: NDArray[np.float64],
                     end: NDArray[np.float64]) -> Array:
    """Distance of points to the line segment ``start``-``end`` (a tube is ``distance < r``)."""
    axis = end - start
    length2 = float(axis @ axis)
    t = ((x - start[0]) * axis[0] + (y - start[1]) * axis[1] + (z - start[2]) * axis[2])
    t = np.clip(t / max(length2, 1e-9), 0.0, 1.0)
    dx = x - (start[0] + t * axis[0])
    dy = y - (start[1] + t * axis[1])
    dz = z - (start[2] + t * axis[2])
    return np.sqrt(dx * dx + dy * dy + dz * dz)
