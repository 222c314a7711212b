"""Painting a vertebra and a disc into a block of tissue labels, in their local coordinates.

A vertebra is the union of simple implicit shapes: an elliptic-cylinder body with a flat,
slightly concave posterior wall and concave endplates (lowered by a fracture), pedicles, a
neural arch (laminae), spinous and transverse processes and articular processes. Bone within
``cortex_mm`` of the surface is cortex; the inside is cancellous bone.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from bcl_core.phantom.anatomy import Disc, Vertebra, fracture_endplates, waist_factor
from bcl_core.phantom.features import RiskFeatures
from bcl_core.phantom.fracture import (
    FractureGeometry,
    paint_basivertebral,
    paint_fracture,
    posterior_wall_w,
)
from bcl_core.phantom.generation import DEFAULT_GENERATION, GENERATIONS, Generation
from bcl_core.phantom.shapes import Array, ellipse_sdf, ellipsoid_inside, slab_sdf
from bcl_core.phantom.tissues import CANCELLOUS_BASE, NUCLEUS_BASE, POSTERIOR_BASE, Tissue

#: Diameter of the segmental veins of vertebrae other than the target, mm.
DEFAULT_SEGMENTAL_VEIN_MM = 3.0
#: Radius of the rounded rim between endplate and wall, mm.
BODY_RIM_MM = 2.5
#: Tissue painted for each kind of normal variant in a body (:mod:`bcl_core.phantom.variants`).
VARIANT_TISSUE: dict[str, Tissue] = {
    "haemangioma": Tissue.HAEMANGIOMA, "schmorl": Tissue.ANNULUS, "modic1": Tissue.MODIC1,
    "modic2": Tissue.MODIC2, "cement": Tissue.CEMENT, "screw": Tissue.METAL,
}


def posterior_elements_sdf(v: Vertebra, u: Array, w: Array, h: Array) -> Array:
    """Signed distance (approximate) to the union of pedicles, arch and processes."""
    ca, cb = v.canal_half_width, v.canal_half_depth
    pw, ph = v.pedicle_half_width, v.pedicle_half_height
    wc = v.canal_center_w
    height = v.height
    au = np.abs(u)
    # Pedicles: from the back of the body to the arch, in the upper half of the body.
    ped_u = ca + pw
    pedicle = np.maximum(ellipse_sdf(au - ped_u, h - 0.12 * height, pw, ph),
                         slab_sdf(w, 0.4 * v.half_depth, wc + 0.4 * cb))
    # Neural arch: a ring behind and beside the canal whose laminae slope caudally.
    arch_h = h - (0.05 * height - 0.25 * (w - wc))
    ring = np.maximum(ellipse_sdf(u, w - wc, ca + 1.9 * pw, cb + 5.5),
                      -ellipse_sdf(u, w - wc, ca, cb))
    arch = np.maximum(np.maximum(ring, wc - 0.2 * cb - w), np.abs(arch_h) - 0.36 * height)
    # Spinous process: long and sloping in the thorax, short and tall (hatchet) in the loins.
    sp_start = wc + cb + 2.0
    if v.lumbar:
        sp_len, sp_slope, sp_half_u, sp_half_h = 27.0, 0.15, 3.2, 8.0
    else:
        sp_len, sp_slope, sp_half_u, sp_half_h = 32.0, 0.7, 2.6, 4.5
    sp_line = h + 0.05 * height + sp_slope * (w - sp_start)
    # Narrow neck, broader rounded tip.
    along = np.clip((w - sp_start) / sp_len, 0.0, 1.0)
    sp_profile = sp_half_h * (0.65 + 0.35 * np.sin(np.pi * np.minimum(along * 1.3, 1.0)))
    spinous = np.maximum(np.maximum(au - sp_half_u * (0.8 + 0.4 * along),
                                    np.abs(sp_line) - sp_profile),
                         slab_sdf(w, sp_start - 4.0, sp_start + sp_len))
    # Transverse processes: long and posterolateral (thoracic) or thin and lateral (lumbar).
    if v.lumbar:
        tp_len, tp_back, tp_hw, tp_hh, tp_h = 26.0, -0.05, 3.0, 5.5, 0.05
    else:
        tp_len, tp_back, tp_hw, tp_hh, tp_h = 22.0, 0.45, 4.5, 5.0, 0.15
    tp_w = wc + tp_back * (au - ca)
    transverse = np.maximum(ellipse_sdf(w - tp_w, h - tp_h * height, tp_hw, tp_hh),
                            slab_sdf(au, ca + pw, ca + 2 * pw + tp_len))
    # Articular processes: superior pair up into the facet joint above, inferior pair down.
    superior = np.maximum(ellipse_sdf(au - (ca + pw), w - (wc + 1.0), 4.0, 5.0),
                          slab_sdf(h, 0.15 * height, 0.5 * height + 6.0))
    inferior = np.maximum(ellipse_sdf(au - (ca + pw - 2.5), w - (wc + cb + 2.0), 4.0, 4.5),
                          slab_sdf(h, -0.5 * height - 6.0, -0.05 * height))
    out = np.minimum(pedicle, arch)
    for part in (spinous, transverse, superior, inferior):
        out = np.minimum(out, part)
    # Nothing of the arch enters the canal.
    return np.maximum(out, -ellipse_sdf(u, w - wc, ca, cb))


def paint_posterior_elements(labels: NDArray[np.uint8], u: Array, w: Array, h: Array,
                             v: Vertebra, index: int) -> NDArray[np.bool_]:
    """Paint a vertebra's pedicles, arch and processes into ``labels`` (in place).

    Parameters
    ----------
    labels:
        Tissue labels of a block of points.
    u, w, h:
        The block's points in the vertebra's local frame (same shape as ``labels``).
    v:
        The vertebra.
    index:
        Its position in the anatomy (selects its bone label).

    Returns
    -------
    numpy.ndarray
        Where the block is posterior-element bone.
    """
    posterior = posterior_elements_sdf(v, u, w, h)
    bone = posterior <= 0
    labels[bone] = POSTERIOR_BASE + index
    labels[bone & (posterior > -1.3 * v.cortex_mm)] = Tissue.CORTEX
    return bone


def paint_body(labels: NDArray[np.uint8], u: Array, w: Array, h: Array, v: Vertebra,
               index: int, features: RiskFeatures | None = None,
               geometry: FractureGeometry | None = None,
               generation: Generation = GENERATIONS[DEFAULT_GENERATION]) -> NDArray[np.bool_]:
    """Paint a vertebral body, its veins, variants and (target only) its fracture, in place.

    Parameters are as :func:`paint_posterior_elements`; ``features`` and ``geometry`` describe
    the fracture of the target vertebra and are ``None`` for the others; ``generation`` shapes
    the fracture's endplates.

    Returns
    -------
    numpy.ndarray
        Where the block is this vertebra's body (or a fragment pushed out of it).
    """
    a, b = v.half_width, v.half_depth
    # Segmental veins hug the waist of the body laterally (painted first: bone wins).
    seg_mm = features.segmental_vein_mm if features is not None else DEFAULT_SEGMENTAL_VEIN_MM
    seg_r = seg_mm / 2
    ring = np.abs(ellipse_sdf(u, w, a, b) - (1.5 + seg_r))
    veins = (ring < seg_r) & (np.abs(h) < seg_r * 1.3) & (np.abs(u) > 0.45 * a) & (w < 0.7 * b)
    labels[veins] = Tissue.VEIN

    top, bottom = fracture_endplates(features, v.height, u, w, a, b, v.wedge_ratio, generation)
    waist = waist_factor(h, v.height)
    side = np.minimum(-ellipse_sdf(u, w, a * waist, b * waist), posterior_wall_w(u, v) - w)
    depth_top, depth_bottom = top - h, h - bottom
    vertical = np.minimum(depth_top, depth_bottom)
    # Rounded rims where the endplates meet the walls.
    depth = BODY_RIM_MM - np.hypot(np.maximum(BODY_RIM_MM - side, 0.0),
                                   np.maximum(BODY_RIM_MM - vertical, 0.0))
    depth = np.where((side > BODY_RIM_MM) | (vertical > BODY_RIM_MM),
                     np.minimum(side, vertical), depth)
    body = depth >= 0
    cortex = body & (depth < v.cortex_mm)
    labels[body] = CANCELLOUS_BASE + index
    labels[cortex] = Tissue.CORTEX
    if v.foramen_mm > 0:
        paint_basivertebral(labels, body, u, w, h, v, v.foramen_mm, v.foramen_h, v.channels)
    for kind, center, axes in v.variants:
        inside = ellipsoid_inside(u - center[0], w - center[1], h - center[2], *axes)
        # Screws run on through the pedicle: not limited to the body.
        labels[inside if kind == "screw" else body & inside] = VARIANT_TISSUE[kind]
    if features is not None and geometry is not None:
        body = body | paint_fracture(labels, body, cortex, depth_top, depth_bottom, u, w, h, v,
                                     features, geometry)
    return body


def body_box(v: Vertebra) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Local box ``(low, high)`` holding the body, its segmental veins and any fragment."""
    reach = 1.5 + 2 * 3.5 + 1.0  # the widest segmental vein ring
    return ((-v.half_width - reach, -v.half_depth - reach, -v.height / 2 - 3.0),
            (v.half_width + reach, v.half_depth + 8.0, v.height / 2 + 3.0))


def posterior_box(v: Vertebra) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Local box ``(low, high)`` holding the pedicles, arch and processes."""
    back = v.canal_center_w + v.canal_half_depth + 46.0
    return ((-56.0, 0.35 * v.half_depth, -v.height / 2 - 15.0), (56.0, back, v.height / 2 + 15.0))


def paint_disc(labels: NDArray[np.uint8], u: Array, w: Array, h: Array, disc: Disc,
               index: int) -> None:
    """Paint a disc (annulus with a posteriorly placed nucleus) into ``labels`` in place."""
    inside = (ellipse_sdf(u, w, disc.half_width, disc.half_depth) <= 0) & (
        np.abs(h) <= disc.half_height)
    labels[inside] = Tissue.ANNULUS
    nucleus = ellipsoid_inside(u, w + 0.1 * disc.half_depth, h, 0.55 * disc.half_width,
                               0.5 * disc.half_depth, max(1.0, 0.7 * disc.nominal_half_height))
    labels[inside & nucleus] = NUCLEUS_BASE + index
    if disc.vacuum_mm > 0:
        gas = ellipsoid_inside(u, w + 0.1 * disc.half_depth, h, disc.vacuum_mm,
                               0.6 * disc.vacuum_mm, max(0.8, 0.5 * disc.nominal_half_height))
        labels[inside & gas] = Tissue.DISC_GAS
