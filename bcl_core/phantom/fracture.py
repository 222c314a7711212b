"""Where the target vertebra's fracture features sit, and painting them into its body.

The positions are drawn once per case (from the anatomy stream) in the target's local frame
``(u, w, h)``; :func:`paint_fracture` then plants them in any grid's labels, so CT and MRI show
the same fracture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bcl_core.phantom.anatomy import Vertebra, fracture_endplates, waist_factor
from bcl_core.phantom.features import RiskFeatures
from bcl_core.phantom.generation import DEFAULT_GENERATION, GENERATIONS, Generation
from bcl_core.phantom.shapes import Array, ellipsoid_inside, segment_distance
from bcl_core.phantom.tissues import Tissue

Point = tuple[float, float, float]


@dataclass(frozen=True)
class FractureGeometry:
    """Local positions of the target's features (mm, target frame; see module doc).

    Attributes
    ----------
    top_center, bottom_center:
        Local ``h`` of the (fractured) superior and inferior endplates at the body centre.
    wall_defect_center:
        Centre of the lateral / anterior cortical defect, or ``None``.
    endplate_gap_center:
        Centre of the endplate disruption (on the endplate), or ``None``.
    cleft_center, cleft_half_axes:
        Intravertebral cleft ellipsoid, or ``None``.
    breach_center:
        Centre of the posterior-wall breach, or ``None``.
    foramen_h:
        Local ``h`` of the basivertebral foramen.
    channels:
        Intraosseous venous channels as ``(start, end, radius)`` segments.
    cleft_gas:
        The cleft holds gas on CT (vacuum cleft; fluid on MRI, the "fluid sign"); generation 2.
    fracture_line:
        A fracture line through the cancellous bone as ``(point, unit normal)`` of its plane,
        or ``None`` (generation 2).
    """

    top_center: float
    bottom_center: float
    wall_defect_center: Point | None
    endplate_gap_center: Point | None
    cleft_center: Point | None
    cleft_half_axes: Point | None
    breach_center: Point | None
    foramen_h: float
    channels: tuple[tuple[Point, Point, float], ...]
    cleft_gas: bool = False
    fracture_line: tuple[Point, Point] | None = None


def posterior_wall_w(u: Array | float, v: Vertebra) -> Array | float:
    """Local ``w`` of the posterior body wall: flat, slightly concave in the middle."""
    a, b = v.half_width, v.half_depth
    return 0.8 * b - 0.08 * b * np.maximum(0.0, 1.0 - (np.asarray(u) / (0.6 * a)) ** 2)


#: Generation 2: probability that a cleft holds gas on CT (otherwise fluid), and that a fracture
#: line crosses the cancellous bone (rising with severity).
CLEFT_GAS_P = 0.5
FRACTURE_LINE_P = (0.5, 0.4)


def sample_channels(rng: np.random.Generator, v: Vertebra, count: int, segmental_vein_mm: float,
                    top_c: float, bottom_c: float) -> tuple[tuple[Point, Point, float], ...]:
    """Intraosseous venous channels from the lateral / anterior cortex into a body.

    Parameters
    ----------
    rng:
        The stream to draw from.
    v:
        The vertebra.
    count:
        How many channels.
    segmental_vein_mm:
        Calibre of the segmental veins (the channels' radius follows it).
    top_c, bottom_c:
        Local ``h`` of the endplates at the body centre.

    Returns
    -------
    tuple
        ``(start, end, radius)`` segments in the vertebra's local frame.
    """
    a, b = v.half_width, v.half_depth
    channels: list[tuple[Point, Point, float]] = []
    seg_radius = 0.5 + segmental_vein_mm / 8.0
    for _ in range(count):
        angle = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.25, 0.9) * np.pi)
        inset = min(4.0, (top_c - bottom_c) / 4)
        h = float(rng.uniform(bottom_c + inset, top_c - inset))
        waist = float(waist_factor(h, v.height))
        surface = np.array([a * waist * np.sin(angle), -b * waist * np.cos(angle), h])
        inward = -surface[:2] / np.linalg.norm(surface[:2])
        end = surface + np.array([*(inward * rng.uniform(8.0, 13.0)), 0.0])
        start = surface - np.array([*(inward * 1.5), 0.0])
        channels.append(((float(start[0]), float(start[1]), float(start[2])),
                         (float(end[0]), float(end[1]), float(end[2])), float(seg_radius)))
    return tuple(channels)


def sample_fracture_geometry(rng: np.random.Generator, v: Vertebra, features: RiskFeatures,
                             generation: Generation = GENERATIONS[DEFAULT_GENERATION],
                             ) -> FractureGeometry:
    """Place the target's features on its body.

    Parameters
    ----------
    rng:
        The case's anatomy stream.
    v:
        The target vertebra.
    features:
        Which features exist and their sizes.
    generation:
        Generation 2 adds gas clefts and fracture lines (drawn after everything generation 1
        draws).

    Returns
    -------
    FractureGeometry
        Where each feature sits in the target's local frame.
    """
    a, b = v.half_width, v.half_depth
    top, bottom = fracture_endplates(features, v.height, np.zeros(1), np.zeros(1), a, b,
                                     v.wedge_ratio, generation)
    top_c, bottom_c = float(top[0]), float(bottom[0])
    mid = (top_c + bottom_c) / 2

    wall = None
    if features.wall_defect_mm > 0:
        h = float(rng.uniform(mid - 0.25 * (top_c - bottom_c), top_c - 2.0))
        waist = float(waist_factor(h, v.height))
        if features.wall_defect_site == "anterior":
            u_off = float(rng.uniform(-0.3, 0.3)) * a * waist
            wall = (u_off, -b * waist * float(np.sqrt(max(0.0, 1 - (u_off / (a * waist)) ** 2))),
                    h)
        else:
            sign = 1.0 if features.wall_defect_site == "left" else -1.0
            w_off = float(rng.uniform(-0.4, 0.2)) * b * waist
            wall = (sign * a * waist * float(np.sqrt(max(0.0, 1 - (w_off / (b * waist)) ** 2))),
                    w_off, h)

    gap = None
    if features.endplate_disruption_mm > 0:
        u_g, w_g = float(rng.uniform(-0.4, 0.4)) * a, float(rng.uniform(-0.5, 0.3)) * b
        t, bt = fracture_endplates(features, v.height, np.array([u_g]), np.array([w_g]), a, b,
                                   v.wedge_ratio, generation)
        h_g = float(t[0]) if features.endplate_side == "superior" else float(bt[0])
        gap = (u_g, w_g, h_g)

    cleft = axes = None
    if features.cleft_mm > 0:
        half = features.cleft_mm / 2
        cleft = (float(rng.uniform(-0.2, 0.2)) * a, -0.15 * b,
                 top_c - max(2.5, 0.3 * (top_c - bottom_c)))
        axes = (half, 0.8 * half, max(1.8, half / 2.2))

    breach = None
    if features.posterior_breach_mm > 0:
        breach = (float(rng.uniform(-0.25, 0.25)) * a, float(posterior_wall_w(0.0, v)),
                  top_c - features.posterior_breach_mm / 2 - 1.0)

    channels = sample_channels(rng, v, features.vein_channels, features.segmental_vein_mm,
                               top_c, bottom_c)
    foramen_h = float(mid + rng.uniform(-2.0, 2.0))
    cleft_gas = False
    line = None
    if generation.realistic_fractures:
        cleft_gas = cleft is not None and bool(rng.random() < CLEFT_GAS_P)
        severity = (features.height_loss - 0.15) / 0.45
        if rng.random() < FRACTURE_LINE_P[0] + FRACTURE_LINE_P[1] * severity:
            tilt = float(rng.uniform(-0.6, 0.6))
            normal = np.array([float(rng.normal(0.0, 0.2)), np.sin(tilt), np.cos(tilt)])
            normal /= np.linalg.norm(normal)
            span = top_c - bottom_c
            point = (0.0, 0.0, float(rng.uniform(bottom_c + 0.4 * span, top_c - 0.2 * span)))
            line = (point, tuple(float(x) for x in normal))
    return FractureGeometry(
        top_center=top_c, bottom_center=bottom_c, wall_defect_center=wall,
        endplate_gap_center=gap, cleft_center=cleft, cleft_half_axes=axes,
        breach_center=breach, foramen_h=foramen_h, channels=channels, cleft_gas=cleft_gas,
        fracture_line=line,  # type: ignore[arg-type]
    )


#: Half-thickness of a fracture line, mm.
FRACTURE_LINE_HALF_MM = 0.5


def paint_basivertebral(labels: NDArray[np.uint8], body: NDArray[np.bool_], u: Array, w: Array,
                        h: Array, v: Vertebra, foramen_mm: float, foramen_h: float,
                        channels: tuple[tuple[Point, Point, float], ...]) -> None:
    """Paint the basivertebral foramen, its vein into the body and intraosseous channels.

    Parameters
    ----------
    labels, body:
        The block's labels (changed in place) and where it is this vertebral body.
    u, w, h:
        Local coordinates of the block's points.
    v:
        The vertebra.
    foramen_mm, foramen_h:
        Width and local height of the foramen in the posterior wall.
    channels:
        ``(start, end, radius)`` venous channels.
    """
    post = posterior_wall_w(u, v)
    opening = (body & (w > post - 3.0) & (np.abs(u) < foramen_mm / 2)
               & (np.abs(h - foramen_h) < foramen_mm * 0.6))
    labels[opening] = Tissue.VEIN
    vein = segment_distance(
        u, w, h, np.array([0.0, float(posterior_wall_w(0.0, v)), foramen_h]),
        np.array([0.0, 0.1 * v.half_depth, foramen_h]))
    labels[body & (vein < max(1.0, foramen_mm * 0.3))] = Tissue.VEIN
    for start, end, radius in channels:
        tube = segment_distance(u, w, h, np.array(start), np.array(end)) < radius
        labels[body & tube] = Tissue.VEIN


def paint_fracture(labels: NDArray[np.uint8], body: NDArray[np.bool_], cortex: NDArray[np.bool_],
                   depth_top: Array, depth_bottom: Array, u: Array, w: Array, h: Array,
                   v: Vertebra, features: RiskFeatures, geometry: FractureGeometry,
                   ) -> NDArray[np.bool_]:
    """Paint the target's fracture features into ``labels`` (in place).

    Parameters
    ----------
    labels:
        Labels of the block, already holding the intact target.
    body, cortex:
        Where the block is vertebral body / its cortical shell.
    depth_top, depth_bottom:
        Depth (mm) below the superior / above the inferior endplate.
    u, w, h:
        Local coordinates of the block's points.

    Returns
    -------
    numpy.ndarray
        Where a retropulsed posterior-wall fragment lies (outside the body; part of the vertebra).
    """
    cancellous = body & ~cortex
    span = max(geometry.top_center - geometry.bottom_center, 1.0)
    # Marrow oedema spreads from the fractured endplate(s) over oedema_extent of the height.
    extent_mm = features.oedema_extent * span
    ripple = 1.5 * np.sin(u * 0.35) * np.cos(w * 0.3)
    from_top = depth_top + ripple
    if features.fracture_type == "wedge" or features.endplate_side == "superior":
        oedema = from_top < extent_mm
    elif features.endplate_side == "inferior":
        oedema = depth_bottom + ripple < extent_mm
    else:
        oedema = (from_top < extent_mm * 0.6) | (depth_bottom + ripple < extent_mm * 0.6)
    labels[cancellous & oedema] = Tissue.OEDEMA
    impaction_depth = depth_bottom if features.endplate_side == "inferior" else depth_top
    labels[cancellous & (impaction_depth < v.cortex_mm + 2.5)] = Tissue.IMPACTION

    paint_basivertebral(labels, body, u, w, h, v, features.basivertebral_foramen_mm,
                        geometry.foramen_h, geometry.channels)

    if geometry.fracture_line is not None:
        point, normal = (np.array(x) for x in geometry.fracture_line)
        across = ((u - point[0]) * normal[0] + (w - point[1]) * normal[1]
                  + (h - point[2]) * normal[2])
        labels[cancellous & (np.abs(across) < FRACTURE_LINE_HALF_MM)] = Tissue.FRACTURE_GAP

    if geometry.cleft_center is not None and geometry.cleft_half_axes is not None:
        c = geometry.cleft_center
        inside = ellipsoid_inside(u - c[0], w - c[1], h - c[2], *geometry.cleft_half_axes)
        labels[body & inside] = Tissue.CLEFT_GAS if geometry.cleft_gas else Tissue.CLEFT

    if geometry.endplate_gap_center is not None:
        c = geometry.endplate_gap_center
        radius = features.endplate_disruption_mm / 2
        near = ((u - c[0]) ** 2 + (w - c[1]) ** 2 < radius**2) & (np.abs(h - c[2]) < 3.0)
        labels[body & near] = Tissue.FRACTURE_GAP

    if geometry.wall_defect_center is not None:
        c = geometry.wall_defect_center
        radius = features.wall_defect_mm / 2
        near = (u - c[0]) ** 2 + (w - c[1]) ** 2 + (h - c[2]) ** 2 < radius**2
        labels[cortex & near] = Tissue.FRACTURE_GAP

    fragment = np.zeros(labels.shape, dtype=bool)
    post = posterior_wall_w(u, v)
    if geometry.breach_center is not None:
        c = geometry.breach_center
        radius = features.posterior_breach_mm / 2
        near = (u - c[0]) ** 2 + (h - c[2]) ** 2 < radius**2
        labels[body & near & (w > post - 2.5)] = Tissue.FRACTURE_GAP
        shift = features.retropulsion_mm
        fragment = (near & (w > post + shift - 0.5) & (w < post + shift + 2.0))
        labels[fragment] = Tissue.CORTEX
    return fragment
