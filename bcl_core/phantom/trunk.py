"""The trunk around the spine: outline, fat, muscles, vessels and the spinal canal's contents.

Two kinds of structure, painted as tissue labels:

* :func:`paint_trunk` depends on ``(x, y)`` only (the same on every axial slice): skin,
  subcutaneous fat, abdominal soft tissue with bowel gas and fat, retroperitoneal fat, the back
  muscles and the CT table.
* :func:`paint_spinal_column` follows the spine's centreline: the canal (epidural fat, dural sac
  with CSF, cord above the conus), ligamentum flavum, aorta, inferior vena cava and psoas.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from bcl_core.phantom.anatomy import Anatomy
from bcl_core.phantom.shapes import Array, ellipse_inside, ellipse_sdf
from bcl_core.phantom.tissues import Tissue


def paint_trunk(labels: NDArray[np.uint8], x: Array, y: Array, anatomy: Anatomy,
                z: Array | None = None) -> None:
    """Paint the trunk into ``labels`` (in place) at anatomy ``(x, y)``.

    Without ``z`` (generation 1) the trunk is the same on every axial slice; with ``z`` its
    outline follows :meth:`Anatomy.trunk_half_axes`, the back staying on the table. Bowel gas
    and fat pockets vary along ``z``: :func:`paint_blobs` adds them.
    """
    cx, cy = anatomy.body_center_xy
    half_a, half_b = anatomy.body_half_axes
    target = anatomy.target
    tx, ty = target.center[0], target.center[1]
    back_skin_y = cy + half_b
    shape = labels.shape

    def put(where: NDArray[np.bool_], tissue: Tissue) -> None:
        labels[np.broadcast_to(where, shape)] = tissue

    if z is None:
        dx, dy = x - cx, y - cy

        def shell(inset_mm: float) -> NDArray[np.bool_]:
            return ellipse_inside(dx, dy, half_a - inset_mm, half_b - inset_mm)
    else:
        half_a, half_b = anatomy.trunk_half_axes(z)  # type: ignore[assignment]
        dx, dy = x - cx, y - (back_skin_y - half_b)
        depth = ellipse_sdf(dx, dy, half_a, half_b)  # one evaluation serves every shell

        def shell(inset_mm: float) -> NDArray[np.bool_]:
            return depth <= -inset_mm

    table_y = back_skin_y + 1.0 + (x - cx) ** 2 / 4000.0
    table = (y > table_y) & (y < table_y + 3.0) & (np.abs(x - cx) < 230)
    labels[...] = Tissue.AIR
    put((y >= table_y + 3.0) & (y < table_y + 16.0) & (np.abs(x - cx) < 225),
        Tissue.TABLE_FOAM)
    put(table, Tissue.TABLE)
    fat = anatomy.fat_mm
    put(shell(0.0), Tissue.SKIN)
    put(shell(2.0), Tissue.FAT)
    fascia = shell(fat)
    put(fascia, Tissue.SOFT)
    # Abdominal wall muscles in front and at the sides.
    put(fascia & ~shell(fat + 9.0) & (dy < 0.3 * half_b), Tissue.MUSCLE)
    retro = fascia & ellipse_inside(x - tx, y - ty, 75.0, 42.0)
    put(retro, Tissue.FAT)
    # Erector spinae either side of the spinous processes, inside the fascia.
    back_w = target.canal_center_w
    for sign in (-1.0, 1.0):
        muscle = fascia & ellipse_inside(x - (tx + sign * 30.0), y - (ty + back_w + 32.0),
                                         25.0, 26.0) & (sign * (x - tx) > 2.0)
        put(muscle, Tissue.MUSCLE)
        lateral = fascia & ellipse_inside(x - (tx + sign * 62.0), y - (ty + back_w + 14.0),
                                          16.0, 22.0)
        put(lateral, Tissue.MUSCLE)


def paint_blobs(labels: NDArray[np.uint8], x: Array, y: Array, z: Array,
                anatomy: Anatomy) -> None:
    """Paint bowel gas and fat pockets (ellipsoids inside the abdomen) in place."""
    for blob in anatomy.blobs:
        paint_blob(labels, x, y, z, anatomy, blob)


def blob_corners(anatomy: Anatomy, blob: tuple[Any, ...]) -> NDArray[np.float64]:
    """Anatomy-frame corners of a blob's bounding box."""
    cx, cy = anatomy.body_center_xy
    bx, by, bz, rx, ry, rz = (float(v) for v in blob[:6])
    return np.array([[cx + bx + sx * rx, cy + by + sy * ry, bz + sz * rz]
                     for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])


def paint_blob(labels: NDArray[Any], x: Array, y: Array, z: Array, anatomy: Anatomy,
               blob: tuple[Any, ...], value: float | None = None) -> None:
    """Paint one blob into ``labels`` in place.

    Without ``value`` the array holds tissue labels and the blob replaces soft tissue only;
    with ``value`` (e.g. HU on a CT slab already holding the trunk) it is written as given.
    """
    cx, cy = anatomy.body_center_xy
    bx, by, bz, rx, ry, rz, kind = blob
    inside = ((x - cx - bx) / rx) ** 2 + ((y - cy - by) / ry) ** 2 + ((z - bz) / rz) ** 2 <= 1.0
    if value is None:
        labels[inside & (labels == Tissue.SOFT)] = Tissue.BOWEL_GAS if kind == "gas" else (
            Tissue.FAT)
    else:
        labels[np.broadcast_to(inside, labels.shape)] = value


def paint_spinal_column(labels: NDArray[np.uint8], x: Array, y: Array, z: Array,
                        anatomy: Anatomy) -> None:
    """Paint the canal contents, vessels and psoas that follow the spine (in place).

    ``x, y, z`` are anatomy mm of the points (broadcastable to ``labels``).
    """
    line = anatomy.centerline(z)
    u, w = x - line["x"], y - line["y"]
    half_width, half_depth = line["half_width"], line["half_depth"]
    canal_a, canal_b = line["canal_half_width"], line["canal_half_depth"]
    wc = w - line["canal_w"]
    labels[ellipse_inside(u, wc, canal_a + 3.0, canal_b + 3.0) & (wc > -0.2 * canal_b)] = (
        Tissue.LIGAMENT)
    labels[ellipse_inside(u, wc, canal_a, canal_b)] = Tissue.EPIDURAL_FAT
    sac = ellipse_inside(u, wc + 0.08 * canal_b, 0.86 * canal_a, 0.8 * canal_b)
    labels[sac] = Tissue.CSF
    taper = np.clip((z - anatomy.conus_z) / 25.0, 0.0, 1.0)
    cord = ellipse_inside(u, wc + 0.1 * canal_b, 4.6 * taper + 1e-3, 3.6 * taper + 1e-3)
    labels[sac & cord & (taper > 0.15)] = Tissue.CORD

    aorta = ellipse_inside(u - (0.35 * half_width + 10.0), w + half_depth + 13.0, 11.5, 11.5)
    labels[aorta] = Tissue.BLOOD
    ivc = ellipse_inside(u + (0.55 * half_width + 14.0), w + half_depth + 8.0, 11.0, 7.5)
    labels[ivc] = Tissue.VEIN

    # Psoas: arises at T12/L1 and thickens caudally.
    verts = anatomy.vertebrae
    start = next((v.center[2] - v.height / 2 for v in verts if v.level == "T12"), None)
    if start is None:
        start = verts[0].center[2] + 30.0 if verts[0].level.startswith("L") else -np.inf
    grow = np.clip((start - z) / 70.0, 0.0, 1.0)
    radius = 4.0 + 15.0 * grow
    for sign in (-1.0, 1.0):
        psoas = ellipse_inside(u - sign * (half_width + 3.0 + radius), w + 0.15 * half_depth,
                               radius, 0.85 * radius)
        labels[psoas & (grow > 0)] = Tissue.MUSCLE
