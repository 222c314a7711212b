"""Generation 2: the organs around the thoracolumbar spine and a trunk that varies along z.

Lungs fill the thorax above the diaphragm, whose posterior costophrenic recess reaches about
the lower endplate of T12 and whose dome lies 5-8 cm higher in front; the liver lies under the
right dome, the kidneys beside the psoas at L1-L2 (the left one a little higher), and the
diaphragm crura run down in front of the upper lumbar bodies. Shapes are simple (ellipsoids,
tubes, a sloping plane) and painted as tissue labels, so CT and MRI agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from bcl_core.phantom.anatomy import Anatomy
from bcl_core.phantom.ribs import Region
from bcl_core.phantom.shapes import Array, ellipse_inside, ellipsoid_inside, segment_distance
from bcl_core.phantom.tissues import Tissue

Point = tuple[float, float, float]
#: Radius of a diaphragm crus, mm.
CRUS_RADIUS_MM = 4.5


@dataclass(frozen=True)
class Organs:
    """Where the organs of one patient lie (anatomy mm).

    Attributes
    ----------
    recess_z, dome_z:
        Height of the diaphragm at the posterior costophrenic recess and at the dome.
    spine_xy:
        The target body's centre ``(x, y)`` (the diaphragm slopes from behind it forwards).
    cavity_inset_mm:
        How far inside the trunk outline the thoracic cavity starts.
    liver, kidneys:
        Ellipsoids ``(centre, half-axes)``.
    crura:
        Tubes ``(start, end)`` of radius :data:`CRUS_RADIUS_MM`.
    """

    recess_z: float
    dome_z: float
    spine_xy: tuple[float, float]
    cavity_inset_mm: float
    liver: tuple[Point, Point]
    kidneys: tuple[tuple[Point, Point], ...]
    crura: tuple[tuple[Point, Point], ...]

    def diaphragm_z(self, x: Array, y: Array) -> Array:
        """Height of the diaphragm at ``(x, y)``: the recess behind and at the sides, the
        domes in front, either side of the midline."""
        front = np.clip((self.spine_xy[1] + 10.0 - y) / 90.0, 0.0, 1.0)
        side = np.abs(x - self.spine_xy[0])
        dome = np.clip(1.0 - ((side - 60.0) / 110.0) ** 2, 0.3, 1.0)
        return self.recess_z + (self.dome_z - self.recess_z) * front * dome


def _level_z(anatomy: Anatomy, level: str, where: float) -> float:
    """Height of a level's body: ``where`` = -0.5 its lower endplate, 0 its centre, 0.5 top."""
    v = next(v for v in anatomy.vertebrae if v.level == level)
    return float(v.center[2] + where * v.height)


def sample_organs(rng: np.random.Generator, anatomy: Anatomy) -> Anatomy:
    """Draw a patient's organs and trunk variation along ``z`` (generation 2).

    Parameters
    ----------
    rng:
        The case's ``variants`` stream.
    anatomy:
        The case's anatomy.

    Returns
    -------
    Anatomy
        A copy with ``organs`` and ``trunk_wave`` set.
    """
    target = anatomy.target
    tx, ty = target.center[0], target.center[1]
    recess = _level_z(anatomy, "T12", -0.5) + float(rng.normal(0.0, 10.0))
    dome = recess + float(rng.uniform(50.0, 80.0))
    l1l2 = (_level_z(anatomy, "L1", -0.5) + _level_z(anatomy, "L2", 0.5)) / 2
    kidneys = []
    for side, shift in ((1.0, 12.0), (-1.0, -8.0)):  # left (+x) higher than right
        centre = (tx + side * float(rng.uniform(55.0, 68.0)), ty + float(rng.uniform(0.0, 12.0)),
                  l1l2 + shift + float(rng.normal(0.0, 8.0)))
        kidneys.append((centre, (float(rng.uniform(24.0, 30.0)), float(rng.uniform(18.0, 23.0)),
                                 float(rng.uniform(48.0, 60.0)))))
    liver = ((tx - float(rng.uniform(60.0, 80.0)), ty - float(rng.uniform(50.0, 70.0)),
              dome - float(rng.uniform(55.0, 75.0))),
             (float(rng.uniform(60.0, 80.0)), float(rng.uniform(55.0, 70.0)),
              float(rng.uniform(60.0, 80.0))))
    front = ty - target.half_depth - 4.0
    crura = ((( tx + 13.0, front, recess + 10.0), (tx + 9.0, front + 2.0,
                                                  _level_z(anatomy, "L1", -0.3))),
             ((tx - 13.0, front, recess + 10.0), (tx - 9.0, front + 2.0,
                                                 _level_z(anatomy, "L2", -0.3))))
    organs = Organs(recess_z=recess, dome_z=dome, spine_xy=(tx, ty),
                    cavity_inset_mm=anatomy.fat_mm + 10.0, liver=liver,
                    kidneys=tuple(kidneys), crura=crura)  # type: ignore[arg-type]
    wave = (float(rng.uniform(0.02, 0.05)), float(rng.uniform(0.02, 0.05)),
            float(rng.uniform(180.0, 320.0)), float(rng.uniform(0.0, 2 * np.pi)))
    return replace(anatomy, organs=organs, trunk_wave=wave)


def _box(low: NDArray[np.float64] | list[float], high: NDArray[np.float64] | list[float],
         ) -> NDArray[np.float64]:
    return np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1])
                     for z in (low[2], high[2])], dtype=np.float64)


def paint_organs(anatomy: Anatomy, region_of: Callable[[NDArray[np.float64]], Region | None],
                 ) -> None:
    """Paint lungs, liver, kidneys and crura into trunk labels (in place), part by part.

    Organs replace abdominal / mediastinal soft tissue and retroperitoneal fat only, never
    muscle, subcutaneous fat or skin; the spine painted afterwards wins over them.

    Parameters
    ----------
    anatomy:
        The case's anatomy (nothing is painted without organs).
    region_of:
        Maps a part's anatomy-frame box corners to ``(labels, x, y, z)`` of the target array
        inside that box, or None (as :func:`bcl_core.phantom.ribs.paint_ribs`).
    """
    organs = anatomy.organs
    if organs is None:
        return
    cx, cy = anatomy.body_center_xy
    a0, b0 = anatomy.body_half_axes
    back_y = cy + b0
    reach = 1.1 * max(a0, b0)
    tx, ty = organs.spine_xy
    inset = organs.cavity_inset_mm

    def replaceable(labels: NDArray[np.generic]) -> NDArray[np.bool_]:
        return (labels == Tissue.SOFT) | (labels == Tissue.FAT)

    region = region_of(_box([cx - reach, back_y - 2.2 * b0, organs.recess_z],
                            [cx + reach, back_y, organs.recess_z + 600.0]))
    if region is not None:
        labels, x, y, z = region
        a, b = anatomy.trunk_half_axes(z)
        cavity = ellipse_inside(x - cx, y - (back_y - b), a - inset, b - inset)
        above = z > organs.diaphragm_z(x, y)
        mediastinum = ellipse_inside(x - tx, y - (ty - 55.0), 42.0, 70.0)
        lung = np.broadcast_to(cavity & above & ~mediastinum, labels.shape)
        labels[lung & replaceable(labels)] = Tissue.LUNG
    parts = [(organs.liver, Tissue.LIVER)] + [(k, Tissue.KIDNEY) for k in organs.kidneys]
    for (centre, axes), tissue in parts:
        c, r = np.asarray(centre), np.asarray(axes)
        region = region_of(_box(c - r, c + r))
        if region is None:
            continue
        labels, x, y, z = region
        inside = ellipsoid_inside(x - c[0], y - c[1], z - c[2], *axes)
        below = z <= organs.diaphragm_z(x, y)
        labels[np.broadcast_to(inside & below, labels.shape) & replaceable(labels)] = tissue
    for start, end in organs.crura:
        ends = np.array([start, end])
        region = region_of(_box(ends.min(axis=0) - CRUS_RADIUS_MM,
                                ends.max(axis=0) + CRUS_RADIUS_MM))
        if region is None:
            continue
        labels, x, y, z = region
        tube = segment_distance(x, y, z, np.array(start), np.array(end)) < CRUS_RADIUS_MM
        labels[np.broadcast_to(tube, labels.shape)] = Tissue.MUSCLE
