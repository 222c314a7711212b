"""Patient anatomy: a thoracolumbar segment of vertebrae, discs and the centreline they follow.

Everything is in the *anatomy frame*: LPS millimetres of the patient on the CT table (the CT
series' own frame). Each vertebra carries a local frame ``(u, w, h)``: ``u`` towards the
patient's left, ``w`` posterior, ``h`` superior, centred on the vertebral body; shapes are
written in these local coordinates (see :mod:`bcl_core.phantom.vertebra`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from bcl_core.errors import PhantomError
from bcl_core.phantom.features import RiskFeatures
from bcl_core.phantom.generation import DEFAULT_GENERATION, GENERATIONS, Generation
from bcl_core.phantom.ribs import Rib

if TYPE_CHECKING:
    from bcl_core.phantom.organs import Organs

#: Levels the generator models, top to bottom.
LEVEL_NAMES: tuple[str, ...] = ("T5", "T6", "T7", "T8", "T9", "T10", "T11", "T12", "L1", "L2",
                                 "L3", "L4", "L5", "S1")
#: Levels a target (fractured) vertebra is drawn from: the thoracolumbar junction.
TARGET_LEVELS: tuple[str, ...] = ("T10", "T11", "T12", "L1", "L2", "L3")
#: Relative frequency of target levels (OVCF cluster at T12-L1).
TARGET_LEVEL_P: tuple[float, ...] = (0.08, 0.15, 0.27, 0.25, 0.15, 0.10)

# Adult reference sizes (mm) per level: body half-width a, half-depth b, body height, height of
# the disc below, canal half-width / half-depth, pedicle half-width / half-height.
_SIZES: dict[str, tuple[float, ...]] = {
    "T5": (13.5, 12.0, 17.5, 4.0, 7.5, 7.0, 2.8, 6.0),
    "T6": (14.0, 12.3, 18.0, 4.0, 7.5, 7.0, 3.0, 6.0),
    "T7": (14.8, 12.6, 18.8, 4.2, 7.8, 7.3, 3.1, 6.2),
    "T8": (15.5, 13.0, 19.5, 4.5, 8.0, 7.5, 3.3, 6.5),
    "T9": (16.0, 13.5, 20.5, 5.0, 8.0, 7.5, 3.5, 6.8),
    "T10": (17.0, 14.0, 21.5, 5.5, 8.5, 7.5, 3.7, 7.0),
    "T11": (18.0, 14.5, 22.5, 6.0, 9.0, 8.0, 4.0, 7.5),
    "T12": (19.5, 15.0, 24.0, 7.0, 10.0, 8.0, 4.0, 8.0),
    "L1": (21.0, 15.5, 25.0, 8.0, 11.0, 8.5, 4.2, 8.0),
    "L2": (22.0, 16.0, 26.0, 9.0, 11.5, 8.5, 4.6, 8.0),
    "L3": (23.0, 16.5, 26.5, 9.5, 12.0, 8.5, 5.2, 8.0),
    "L4": (24.0, 17.0, 26.5, 10.0, 12.0, 9.0, 6.0, 8.0),
    "L5": (25.0, 17.0, 26.0, 10.0, 12.5, 9.0, 7.0, 8.0),
    # The first sacral body, drawn like a large lumbar one: it only fills the MRI's lower edge.
    "S1": (25.0, 17.5, 27.0, 4.0, 12.0, 8.0, 7.0, 8.0),
}

# Generation 2: sagittal shape by level. Kyphotic angle (deg, lordotic negative) of the disc
# below each level, mean and SD; and the intact body's anterior / posterior height ratio, mean
# and SD. Thoracic kyphosis T5-T12 about 40 degrees (Fon et al. 1980), a nearly straight
# thoracolumbar junction T10-L2 (Bernhardt and Bridwell 1989), lumbar lordosis growing
# caudally to a lordotic L5-S1 of 10-25 degrees, thoracic bodies wedged 0.90-0.97.
DISC_ANGLE_DEG: dict[str, tuple[float, float]] = {
    "T5": (3.5, 1.2), "T6": (3.5, 1.2), "T7": (3.5, 1.2), "T8": (3.5, 1.2), "T9": (2.5, 1.2),
    "T10": (-0.5, 0.6), "T11": (-2.0, 0.6), "T12": (-3.0, 0.6), "L1": (-5.0, 0.6),
    "L2": (-6.0, 1.5), "L3": (-9.0, 2.0), "L4": (-12.0, 2.5), "L5": (-17.5, 1.8),
}
BODY_WEDGE_RATIO: dict[str, tuple[float, float]] = {
    "T5": (0.92, 0.015), "T6": (0.92, 0.015), "T7": (0.92, 0.015), "T8": (0.92, 0.015),
    "T9": (0.925, 0.015), "T10": (0.925, 0.008), "T11": (0.93, 0.008), "T12": (0.935, 0.008),
    "L1": (0.94, 0.008), "L2": (0.99, 0.01), "L3": (1.0, 0.01), "L4": (1.03, 0.015),
    "L5": (1.08, 0.02), "S1": (1.0, 0.0),
}
#: Generation 2 wedge ratios are kept inside this range wherever the table is below 1.
THORACIC_WEDGE_RANGE = (0.90, 0.945)
#: Midsagittal depth of the body model (anterior wall to the concave posterior wall) in units of
#: its half-depth ``b``: ``b`` at the front plus ``0.8 b - 0.08 b`` behind (posterior_wall_w).
MIDSAGITTAL_DEPTH_PER_HALF_DEPTH = 1.72


def rotation_xyz(theta_deg: float, phi_deg: float, psi_deg: float) -> NDArray[np.float64]:
    """Rotation ``Ry(phi) @ Rx(theta) @ Rz(psi)``; columns are the rotated ``x, y, z`` axes.

    ``theta`` tilts the superior axis anteriorly (sagittal), ``phi`` towards the patient's left
    (coronal), ``psi`` turns the vertebra about its own superior axis.
    """
    t, p, s = np.radians([theta_deg, phi_deg, psi_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
    ry = np.array([[np.cos(p), 0, np.sin(p)], [0, 1, 0], [-np.sin(p), 0, np.cos(p)]])
    rz = np.array([[np.cos(s), -np.sin(s), 0], [np.sin(s), np.cos(s), 0], [0, 0, 1]])
    return ry @ rx @ rz


@dataclass(frozen=True)
class Vertebra:
    """One vertebra in the anatomy frame.

    Attributes
    ----------
    level:
        Level name (``"L1"``...).
    center:
        Anatomy-frame mm of the centre of the (unfractured) body box.
    rotation:
        3x3 matrix whose columns are the local ``u`` (left), ``w`` (posterior), ``h`` (superior)
        axes in the anatomy frame.
    half_width, half_depth, height:
        Body half-width (``u``), half-depth (``w``) and height (``h``), mm.
    canal_half_width, canal_half_depth:
        Spinal canal semi-axes, mm.
    pedicle_half_width, pedicle_half_height:
        Pedicle semi-axes, mm.
    lumbar:
        Whether the vertebra is lumbar (shapes of its processes differ).
    density_hu:
        Mean HU of its cancellous bone.
    cortex_mm:
        Cortical shell thickness.
    wedge_ratio:
        Anterior / posterior height of the intact body (1 in generation 1).
    foramen_mm, foramen_h, channels:
        Basivertebral foramen width and local height, and intraosseous venous channels
        ``(start, end, radius)``, of a vertebra other than the target (generation 2; the
        target's are in its :class:`~bcl_core.phantom.fracture.FractureGeometry`).
    variants:
        Normal variants in the body: ``(kind, local centre, half-axes)`` ellipsoids
        (:mod:`bcl_core.phantom.variants`).
    """

    level: str
    center: tuple[float, float, float]
    rotation: NDArray[np.float64]
    half_width: float
    half_depth: float
    height: float
    canal_half_width: float
    canal_half_depth: float
    pedicle_half_width: float
    pedicle_half_height: float
    lumbar: bool
    density_hu: float
    cortex_mm: float
    wedge_ratio: float = 1.0
    foramen_mm: float = 0.0
    foramen_h: float = 0.0
    channels: tuple[tuple[tuple[float, float, float], tuple[float, float, float], float], ...] = ()
    variants: tuple[tuple[str, tuple[float, float, float], tuple[float, float, float]], ...] = ()

    @property
    def canal_center_w(self) -> float:
        """Local ``w`` of the canal's centre (behind the posterior wall)."""
        return 0.8 * self.half_depth + 1.5 + self.canal_half_depth

    def to_local(self, points: NDArray[np.float64]) -> NDArray[np.float64]:
        """Anatomy-frame points ``(n, 3)`` to local ``(u, w, h)``."""
        return (np.asarray(points) - np.asarray(self.center)) @ self.rotation

    def to_anatomy(self, local: NDArray[np.float64]) -> NDArray[np.float64]:
        """Local ``(u, w, h)`` points ``(n, 3)`` to the anatomy frame."""
        return np.asarray(local) @ self.rotation.T + np.asarray(self.center)

    @property
    def reach_mm(self) -> float:
        """Radius of a sphere about the centre that holds the whole vertebra."""
        return float(np.hypot(self.canal_center_w + self.canal_half_depth + 45.0,
                              self.height / 2 + 14.0))


@dataclass(frozen=True)
class Disc:
    """One intervertebral disc: an elliptic cylinder between two endplates."""

    center: tuple[float, float, float]
    rotation: NDArray[np.float64]
    half_width: float
    half_depth: float
    half_height: float
    nominal_half_height: float
    nucleus_signal: float
    vacuum_mm: float = 0.0


@dataclass(frozen=True)
class Anatomy:
    """A patient's spine segment and body habitus in the anatomy frame.

    Attributes
    ----------
    vertebrae:
        Top to bottom; ``vertebrae[target_index]`` is fractured.
    discs:
        Between consecutive vertebrae, top to bottom.
    segment_levels:
        The 4-6 levels the CT is meant to cover (the others only fill the edges).
    body_half_axes:
        Trunk outline semi-axes (lateral, AP), mm.
    body_center_xy:
        Trunk outline centre, anatomy mm.
    fat_mm:
        Subcutaneous fat thickness.
    conus_z:
        Anatomy ``z`` below which the cord has ended (cauda equina: CSF only).
    ribs:
        The thoracic vertebrae's ribs.
    trunk_wave:
        Variation of the trunk outline along ``z`` (generation 2; see :meth:`trunk_half_axes`).
    organs:
        Lungs, diaphragm, liver, kidneys and crura (:class:`bcl_core.phantom.organs.Organs`,
        generation 2), or ``None``.
    blobs:
        Abdominal bowel gas and fat pockets (ellipsoids): ``(x, y, z, half_x, half_y, half_z,
        "gas" | "fat")`` with ``x, y`` relative to the trunk outline centre.
    """

    vertebrae: tuple[Vertebra, ...]
    discs: tuple[Disc, ...]
    target_index: int
    segment_levels: tuple[str, ...]
    body_half_axes: tuple[float, float]
    body_center_xy: tuple[float, float]
    fat_mm: float
    conus_z: float
    blobs: tuple[tuple[float, float, float, float, float, float, str], ...] = ()
    ribs: tuple[Rib, ...] = ()
    trunk_wave: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 0.0)
    organs: Organs | None = None

    def trunk_half_axes(self, z: NDArray[np.floating] | float,
                        ) -> tuple[NDArray[np.floating] | float, NDArray[np.floating] | float]:
        """Trunk outline semi-axes at heights ``z`` (constant in generation 1).

        Generation 2 lets them vary smoothly along ``z`` (``trunk_wave``: relative amplitudes
        of the lateral and AP axes, period in mm, phase).
        """
        amp_a, amp_b, period, phase = self.trunk_wave
        a, b = self.body_half_axes
        if amp_a == 0.0 and amp_b == 0.0:
            return a, b
        angle = 2.0 * np.pi * np.asarray(z) / period + phase
        return a * (1.0 + amp_a * np.sin(angle)), b * (1.0 + amp_b * np.sin(angle + 0.7))

    @property
    def target(self) -> Vertebra:
        """The fractured vertebra."""
        return self.vertebrae[self.target_index]

    def segment_z_range(self) -> tuple[float, float]:
        """Anatomy ``z`` from the bottom of the lowest to the top of the highest segment body."""
        zs = [v.center[2] for v in self.vertebrae if v.level in self.segment_levels]
        heights = [v.height for v in self.vertebrae if v.level in self.segment_levels]
        return (min(zs) - max(heights) / 2, max(zs) + max(heights) / 2)

    def centerline(self, z: NDArray[np.floating]) -> dict[str, NDArray[np.floating]]:
        """The spine's cross-section at heights ``z``, interpolated between vertebrae.

        Returns
        -------
        dict
            ``x``, ``y`` (body centre), ``half_width``, ``half_depth``, ``canal_w`` (canal
            centre behind the body centre), ``canal_half_width``, ``canal_half_depth``; arrays
            shaped like ``z``.
        """
        verts = self.vertebrae[::-1]  # ascending z
        zs = np.array([v.center[2] for v in verts])
        table = {
            "x": [v.center[0] for v in verts], "y": [v.center[1] for v in verts],
            "half_width": [v.half_width for v in verts],
            "half_depth": [v.half_depth for v in verts],
            "canal_w": [v.canal_center_w for v in verts],
            "canal_half_width": [v.canal_half_width for v in verts],
            "canal_half_depth": [v.canal_half_depth for v in verts],
        }
        return {name: np.interp(z, zs, values).astype(np.float32)
                for name, values in table.items()}


def waist_factor(h: NDArray[np.floating] | float, height: float) -> NDArray[np.floating]:
    """Scale of the body outline at local height ``h``: narrower at mid-height (a waist)."""
    return 0.93 + 0.07 * np.minimum((2.0 * np.asarray(h) / height) ** 2, 1.0)


def fracture_endplates(features: RiskFeatures | None, height: float, u: NDArray[np.floating],
                       w: NDArray[np.floating], half_width: float, half_depth: float,
                       wedge_ratio: float = 1.0,
                       generation: Generation = GENERATIONS[DEFAULT_GENERATION],
                       ) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
    """Local ``h`` of the superior and inferior endplates of a body at ``(u, w)``.

    A normal endplate is gently concave (1 mm). A normally wedged body (``wedge_ratio`` < 1)
    is shorter in front: both endplates close in linearly from the posterior wall (at
    ``w = 0.8 half_depth``) to the anterior rim, where the height is ``wedge_ratio`` times the
    posterior one. A fracture lowers the superior endplate (and raises the inferior one) by
    ``height * height_loss * s(u, w)``, where the profile ``s`` is anterior for a wedge, central
    for a biconcave (generation 2: zero at the rim, so both margins are spared) and nearly
    uniform for a crush fracture.
    """
    if generation.realistic_fractures:
        # The rim (ring apophysis) runs along the posterior wall too, not only at w = b.
        depth = np.where(w > 0, 0.72 * half_depth, half_depth)
        rho2 = np.minimum((u / half_width) ** 2 + (w / depth) ** 2, 1.0)
    else:
        rho2 = np.minimum((u / half_width) ** 2 + (w / half_depth) ** 2, 1.0)
    concavity = 1.0 * (1.0 - rho2)
    top = height / 2 - concavity
    bottom = -height / 2 + concavity
    if wedge_ratio != 1.0:
        closing = (1.0 - wedge_ratio) * height / 2 * (0.8 * half_depth - w) / (1.8 * half_depth)
        top, bottom = top - closing, bottom + closing
    if features is None:
        return top, bottom
    loss = height * features.height_loss
    if features.fracture_type == "wedge":
        profile = np.clip((1.0 - w / half_depth) / 2.0, 0.0, 1.0)
        return top - loss * profile * 0.8, bottom + loss * profile * 0.2
    if features.fracture_type == "biconcave":
        profile = ((1.0 - rho2) ** 1.5 if generation.realistic_fractures
                   else 0.3 + 0.9 * (1.0 - rho2))
        return top - loss * profile * 0.5, bottom + loss * profile * 0.5
    profile = 0.85 + 0.3 * (1.0 - rho2)
    return top - loss * profile * 0.6, bottom + loss * profile * 0.4


#: Share of a wedge fracture's angle by which the segment above it tilts (the discs next to the
#: fracture take up the rest).
FRACTURE_TILT_SHARE = 0.6


def fracture_tilt_deg(features: RiskFeatures, height: float, half_depth: float) -> float:
    """Tilt (deg) the segment above a wedge fracture takes; 0 for other fracture types."""
    if features.fracture_type != "wedge":
        return 0.0
    return FRACTURE_TILT_SHARE * float(np.degrees(np.arctan(
        0.8 * height * features.height_loss / (2 * half_depth))))


def table_size(level: str) -> tuple[float, ...]:
    """The adult reference sizes of a level (mm), before the patient's scale: body half-width,
    half-depth, height, disc below, canal half-width / half-depth, pedicle half-width /
    half-height."""
    return _SIZES[level]


Tilts = tuple[list[float], list[float], list[float], list[float]]


def _tilts_by_distance(rng: np.random.Generator, names: tuple[str, ...], target_pos: int,
                       wedge: float) -> Tilts:
    """Generation 1: sagittal tilt grows with the distance from the target (no body wedging).

    Its lumbosacral step has the wrong sign below the target (kept: generation 1 is frozen).
    """
    # Sagittal tilt per level (deg): gentle thoracic kyphosis, lumbar lordosis; mild scoliosis.
    kyphosis = float(rng.normal(1.5, 0.8))
    lordosis = float(rng.normal(-1.5, 1.0))
    coronal_step = float(rng.normal(0.0, 0.8))
    thetas, phis, psis = [], [], []
    for pos, name in enumerate(names):
        steps = pos - target_pos  # negative above the target
        step_angle = kyphosis if name.startswith("T") else lordosis
        if name == "S1":
            step_angle = lordosis + 4.0 * np.sign(steps)  # the lumbosacral angle
        theta = -steps * step_angle + float(rng.normal(0.0, 0.8))
        if pos < target_pos:
            theta += wedge
        elif pos == target_pos:
            theta += wedge / 2
        thetas.append(theta)
        phis.append(-steps * coronal_step + float(rng.normal(0.0, 0.8)))
        psis.append(float(rng.normal(0.0, 2.0)))
    return thetas, phis, psis, [1.0] * len(names)


def body_wedge_angle_deg(wedge_ratio: float, height: float, half_depth: float) -> float:
    """Angle (deg) between the endplates of a body with anterior / posterior ratio given.

    The endplates close by ``(1 - ratio) * height`` in all over the ``1.8 half_depth`` from the
    posterior wall to the anterior rim (:func:`fracture_endplates`).
    """
    return float(np.degrees(np.arctan((1.0 - wedge_ratio) * height / (1.8 * half_depth))))


def _tilts_by_level(rng: np.random.Generator, names: tuple[str, ...], target_pos: int,
                    wedge: float, sizes: dict[str, NDArray[np.float64]]) -> Tilts:
    """Generation 2: disc angles and body wedging from per-level tables, whatever the target.

    The tilt of vertebra ``p`` follows from the one below: ``theta_p = theta_(p+1) + alpha_p / 2
    + alpha_(p+1) / 2 + disc_p`` (``alpha`` the body wedge angles, ``disc_p`` the kyphotic angle
    of the disc below ``p``); the whole spine is then turned so that the target lies nearly
    axial, and the segment above a wedge fracture tilts with it as in generation 1.
    """
    ratios = []
    for name in names:
        mean, sd = BODY_WEDGE_RATIO[name]
        ratio = float(rng.normal(mean, sd))
        if mean < 1.0:
            ratio = float(np.clip(ratio, *THORACIC_WEDGE_RANGE))
        ratios.append(ratio)
    alphas = [body_wedge_angle_deg(r, sizes[n][2], sizes[n][1])
              for r, n in zip(ratios, names, strict=True)]
    discs = [float(rng.normal(*DISC_ANGLE_DEG[n])) for n in names[:-1]]
    relative = [0.0] * len(names)
    for pos in range(len(names) - 2, -1, -1):
        relative[pos] = (relative[pos + 1] + alphas[pos + 1] / 2 + alphas[pos] / 2
                         + discs[pos])
    offset = float(rng.normal(0.0, 2.0)) - relative[target_pos]
    coronal_step = float(rng.normal(0.0, 0.8))
    reference = LEVEL_NAMES.index("L1")
    thetas, phis, psis = [], [], []
    for pos in range(len(names)):
        theta = relative[pos] + offset
        if pos < target_pos:
            theta += wedge
        elif pos == target_pos:
            theta += wedge / 2
        thetas.append(theta)
        phis.append(-(pos - reference) * coronal_step + float(rng.normal(0.0, 0.8)))
        psis.append(float(rng.normal(0.0, 2.0)))
    return thetas, phis, psis, ratios


def compaction_hu(features: RiskFeatures) -> float:
    """HU the fractured body's cancellous bone gains by compaction (generation 2).

    Half the bone of the lost height stays in the body, packed into what remains:
    ``density * loss / (1 - loss) / 2``.
    """
    loss = features.height_loss
    return float(features.bone_density_hu * loss / (1.0 - loss) / 2.0)


def sample_anatomy(rng: np.random.Generator, target_level: str, features: RiskFeatures,
                   generation: Generation = GENERATIONS[DEFAULT_GENERATION]) -> Anatomy:
    """Draw a patient's spine segment around a fractured target level.

    Parameters
    ----------
    rng:
        The case's anatomy stream.
    target_level:
        One of :data:`TARGET_LEVELS`.
    features:
        The target's fracture (its height loss shortens and, for a wedge, angulates the spine).
    generation:
        Which curvature model, body depth and target density to use.

    Returns
    -------
    Anatomy
        The spine, discs, trunk and ribs.

    Raises
    ------
    PhantomError
        If ``target_level`` is not a level a target can be drawn at.
    """
    if target_level not in TARGET_LEVELS:
        raise PhantomError(f"target level {target_level!r} is not one of {TARGET_LEVELS}.")
    t_idx = LEVEL_NAMES.index(target_level)
    n_segment = int(rng.integers(4, 7))
    above = int(rng.integers(1, n_segment - 1))
    first = max(0, t_idx - above)
    last = min(LEVEL_NAMES.index("L5"), first + n_segment - 1)
    first = max(0, last - n_segment + 1)
    segment = LEVEL_NAMES[first:last + 1]
    # Every level is modelled: the CT (segment plus margins) cuts through its neighbours the way
    # a real scan does, and the taller MRI field of view shows the levels beyond.
    names = LEVEL_NAMES
    target_pos = names.index(target_level)

    scale = float(np.clip(rng.normal(1.0, 0.06), 0.85, 1.15))
    density_sd = 8.0
    depth_scale = 2.0 / MIDSAGITTAL_DEPTH_PER_HALF_DEPTH if generation.body_depth_as_table else 1.0
    sizes = {n: np.array(_SIZES[n]) * scale * np.array([1.0, depth_scale, 1, 1, 1, 1, 1, 1])
             for n in names}
    wedge = fracture_tilt_deg(features, sizes[target_level][2], sizes[target_level][1])
    if generation.curvature_by_level:
        thetas, phis, psis, ratios = _tilts_by_level(rng, names, target_pos, wedge, sizes)
    else:
        thetas, phis, psis, ratios = _tilts_by_distance(rng, names, target_pos, wedge)

    rotations = [rotation_xyz(t, p, s) for t, p, s in zip(thetas, phis, psis, strict=True)]
    target_center = np.array([rng.normal(0.0, 4.0), rng.normal(40.0, 8.0),
                              rng.uniform(-420.0, -260.0)])
    # Endplate offsets of the target along its own h axis (at the body centre).
    t_top, t_bottom = fracture_endplates(features, sizes[target_level][2], np.zeros(1),
                                         np.zeros(1), 1.0, 1.0, ratios[target_pos], generation)
    centers: dict[int, NDArray[np.float64]] = {target_pos: target_center}
    tops = {target_pos: float(t_top[0])}
    bottoms = {target_pos: float(t_bottom[0])}
    for pos in range(target_pos - 1, -1, -1):  # upwards
        below = pos + 1
        disc_h = sizes[names[pos]][3]
        up_below, up_here = rotations[below][:, 2], rotations[pos][:, 2]
        half = sizes[names[pos]][2] / 2
        centers[pos] = (centers[below] + up_below * tops[below]
                        + (up_below + up_here) / 2 * disc_h + up_here * half)
        tops[pos], bottoms[pos] = half, -half
    for pos in range(target_pos + 1, len(names)):  # downwards
        above_pos = pos - 1
        disc_h = sizes[names[above_pos]][3]
        up_above, up_here = rotations[above_pos][:, 2], rotations[pos][:, 2]
        half = sizes[names[pos]][2] / 2
        centers[pos] = (centers[above_pos] + up_above * bottoms[above_pos]
                        - (up_above + up_here) / 2 * disc_h - up_here * half)
        tops[pos], bottoms[pos] = half, -half

    vertebrae = []
    for pos, name in enumerate(names):
        a, b, height, _disc, ca, cb, pw, ph = sizes[name]
        if generation.realistic_fractures:
            density = features.bone_density_hu + (
                compaction_hu(features) if pos == target_pos
                else float(rng.normal(0.0, density_sd)))
        else:
            density = (features.bone_density_hu if pos == target_pos
                       else features.bone_density_hu + float(rng.normal(5.0, density_sd)))
        vertebrae.append(Vertebra(
            level=name, center=tuple(float(c) for c in centers[pos]),  # type: ignore[arg-type]
            rotation=rotations[pos], half_width=float(a), half_depth=float(b),
            height=float(height), canal_half_width=float(ca), canal_half_depth=float(cb),
            pedicle_half_width=float(pw), pedicle_half_height=float(ph),
            lumbar=not name.startswith("T"), density_hu=float(density),
            cortex_mm=float(rng.uniform(0.8, 1.2)), wedge_ratio=ratios[pos],
        ))

    discs = []
    for pos in range(len(names) - 1):
        upper, lower = vertebrae[pos], vertebrae[pos + 1]
        p_bottom_upper = np.asarray(upper.center) + upper.rotation[:, 2] * bottoms[pos]
        p_top_lower = np.asarray(lower.center) + lower.rotation[:, 2] * tops[pos + 1]
        gap = p_bottom_upper - p_top_lower
        rot = rotation_xyz((thetas[pos] + thetas[pos + 1]) / 2, (phis[pos] + phis[pos + 1]) / 2,
                           (psis[pos] + psis[pos + 1]) / 2)
        tilt = abs(thetas[pos] - thetas[pos + 1])
        touches_target = target_pos in (pos, pos + 1)
        discs.append(Disc(
            center=tuple(float(c) for c in (p_bottom_upper + p_top_lower) / 2),  # type: ignore[arg-type]
            rotation=rot,
            half_width=(upper.half_width + lower.half_width) / 2 * 1.02,
            half_depth=(upper.half_depth + lower.half_depth) / 2 * 1.02,
            # Overlap the endplates generously: bone is painted over the disc, so the disc
            # fills every gap up to the (possibly fractured, concave or tilted) endplate.
            half_height=float(np.linalg.norm(gap) / 2 + 2.0 + np.tan(np.radians(tilt))
                              * lower.half_depth
                              + (features.height_loss * 12.0 if touches_target else 0.0)),
            nominal_half_height=float(np.linalg.norm(gap) / 2),
            nucleus_signal=float(rng.uniform(0.3, 0.8)),
        ))

    target = vertebrae[target_pos]
    body_a = float(rng.uniform(135.0, 175.0))
    body_b = float(rng.uniform(95.0, 125.0))
    fat_mm = float(rng.uniform(8.0, 30.0))
    # Skin of the back behind the body centre: posterior elements, back muscles, then fat.
    back_to_body_center = 62.0 + fat_mm + float(rng.uniform(0.0, 10.0))
    body_center_y = target.center[1] + back_to_body_center - body_b
    blobs = []
    for _ in range(int(rng.integers(6, 14))):  # bowel gas and mesenteric fat in the abdomen
        angle = float(rng.uniform(-2.4, -0.7))
        radius = float(rng.uniform(0.3, 0.75))
        blobs.append((float(body_a * radius * np.cos(angle)),
                      float(body_b * radius * np.sin(angle)),
                      float(target_center[2] + rng.uniform(-130.0, 130.0)),
                      float(rng.uniform(8, 25)), float(rng.uniform(6, 18)),
                      float(rng.uniform(10, 40)), "gas" if rng.random() < 0.5 else "fat"))
    conus_level = ("T12", "L1", "L2")[int(rng.choice(3, p=(0.2, 0.55, 0.25)))]
    conus_v = next((v for v in vertebrae if v.level == conus_level), None)
    conus_z = conus_v.center[2] if conus_v is not None else vertebrae[-1].center[2] - 40
    body_center_xy = (float(target.center[0] + rng.normal(0, 3)), float(body_center_y))
    ribs = tuple(rib for v in vertebrae if v.level.startswith("T")
                 for rib in place_ribs(v, body_center_xy, (body_a - fat_mm - 9.0,
                                                           body_b - fat_mm - 9.0)))
    return Anatomy(
        vertebrae=tuple(vertebrae), discs=tuple(discs), target_index=target_pos,
        segment_levels=tuple(segment), body_half_axes=(body_a, body_b),
        body_center_xy=body_center_xy, fat_mm=fat_mm, conus_z=float(conus_z),
        blobs=tuple(blobs), ribs=ribs,
    )


#: Where each thoracic rib's shaft ends (arc angle, deg; 0 is lateral, negative anterior) and
#: how far it descends: the lower ribs are short ("floating") and flatter.
RIB_ENDS: dict[str, tuple[float, float]] = {
    "T11": (5.0, 30.0), "T12": (35.0, 18.0),
}
RIB_END_DEFAULT = (-40.0, 55.0)


def place_ribs(v: Vertebra, trunk_center: tuple[float, float],
               arc_half_axes: tuple[float, float]) -> tuple[Rib, Rib]:
    """The left and right ribs of thoracic vertebra ``v`` (deterministic from its geometry)."""
    end_deg, drop = RIB_ENDS.get(v.level, RIB_END_DEFAULT)
    ribs = []
    a_arc, b_arc = arc_half_axes
    for side in (1.0, -1.0):
        joint = v.to_anatomy(np.array([[side * 0.8 * v.half_width, 0.55 * v.half_depth,
                                        0.3 * v.height]]))[0]
        tubercle = v.to_anatomy(np.array([[side * (v.canal_half_width + 2 * v.pedicle_half_width
                                                   + 16.0),
                                           v.canal_center_w + 6.0, 0.1 * v.height]]))[0]
        # The shaft starts at the rib's angle, lateral to the back muscles and a little
        # behind the tubercle, where the arc along the chest wall begins.
        phi_start = float(np.arcsin(np.clip((tubercle[1] + 6.0 - trunk_center[1]) / b_arc,
                                            0.3, 0.95)))
        angle = (trunk_center[0] + side * a_arc * np.cos(phi_start),
                 trunk_center[1] + b_arc * np.sin(phi_start), float(tubercle[2] - 4.0))
        ribs.append(Rib(
            side=side, joint=tuple(float(c) for c in joint),  # type: ignore[arg-type]
            tubercle=tuple(float(c) for c in tubercle),  # type: ignore[arg-type]
            angle=angle, center_xy=trunk_center, half_axes=(a_arc, b_arc),
            phi_start=phi_start, phi_end=float(np.radians(end_deg)), drop_mm=drop,
        ))
    return ribs[0], ribs[1]
