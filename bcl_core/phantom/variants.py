"""Generation 2: normal anatomy at every level and common variants at levels other than the target.

In generation 1 only the target had a basivertebral foramen, its vein and intraosseous venous
channels: a model could find the target by looking for them. Here every vertebra draws them from
the same distributions as the target's features (:mod:`bcl_core.phantom.features`), and the
levels around it carry the variants a spine CT / MRI of an older patient commonly shows:
vertebral haemangioma, Schmorl nodes, Modic endplate changes, disc vacuum phenomenon, cement of an
earlier augmentation and pedicle screws. None of them changes the target's features, the oracle
or the labels.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from bcl_core.phantom.anatomy import Anatomy, Vertebra
from bcl_core.phantom.features import (
    RiskFeatures,
    sample_foramen_mm,
    sample_segmental_vein_mm,
    sample_vein_channel_count,
)
from bcl_core.phantom.fracture import FractureGeometry, sample_channels

#: Probability that a patient shows each variant at one of the levels near the target.
VARIANT_P: dict[str, float] = {
    "haemangioma": 0.11, "schmorl": 0.4, "modic": 0.25, "disc_vacuum": 0.3, "cement": 0.1,
    "screw": 0.03,
}
#: Variants are placed within this many levels of the target (where the images reach).
VARIANT_REACH_LEVELS = 3

Variant = tuple[str, tuple[float, float, float], tuple[float, float, float]]


def _other_level(rng: np.random.Generator, anatomy: Anatomy, min_distance: int = 1) -> int:
    """Index of a vertebra within reach of the target but at least ``min_distance`` away."""
    t = anatomy.target_index
    last = len(anatomy.vertebrae) - 2  # not S1
    choices = [n for n in range(max(0, t - VARIANT_REACH_LEVELS),
                                min(last, t + VARIANT_REACH_LEVELS) + 1)
               if abs(n - t) >= min_distance]
    return int(choices[int(rng.integers(len(choices)))])


def _body_variants(rng: np.random.Generator, anatomy: Anatomy) -> dict[int, list[Variant]]:
    """Variant ellipsoids per vertebra index (local frame of that vertebra)."""
    out: dict[int, list[Variant]] = {}

    def add(n: int, variant: Variant) -> None:
        out.setdefault(n, []).append(variant)

    verts = anatomy.vertebrae
    if rng.random() < VARIANT_P["haemangioma"]:
        n = _other_level(rng, anatomy)
        v, r = verts[n], float(rng.uniform(4.0, 9.0))
        add(n, ("haemangioma", (float(rng.uniform(-0.4, 0.4)) * v.half_width,
                                float(rng.uniform(-0.4, 0.2)) * v.half_depth,
                                float(rng.uniform(-0.2, 0.2)) * v.height), (r, r, 1.1 * r)))
    if rng.random() < VARIANT_P["schmorl"]:
        n = _other_level(rng, anatomy)
        v, r = verts[n], float(rng.uniform(2.5, 5.0))
        side = 1.0 if rng.random() < 0.5 else -1.0
        add(n, ("schmorl", (float(rng.uniform(-0.3, 0.3)) * v.half_width,
                            float(rng.uniform(-0.3, 0.3)) * v.half_depth,
                            side * (v.height / 2 - 1.0)), (r, r, 0.8 * r)))
    if rng.random() < VARIANT_P["modic"]:
        # Both endplates of one disc (the bottom of vertebra n, the top of n + 1), away from
        # the target.
        t = anatomy.target_index
        discs = [d for d in range(max(0, t - VARIANT_REACH_LEVELS),
                                  min(len(verts) - 2, t + VARIANT_REACH_LEVELS) + 1)
                 if t not in (d, d + 1)]
        n = discs[int(rng.integers(len(discs)))]
        kind = "modic1" if rng.random() < 0.3 else "modic2"
        depth = float(rng.uniform(3.0, 6.0))
        for m, side in ((n, -1.0), (n + 1, 1.0)):
            v = verts[m]
            add(m, (kind, (0.0, -0.1 * v.half_depth, side * (v.height / 2 - depth / 2)),
                    (0.75 * v.half_width, 0.75 * v.half_depth, depth)))
    if rng.random() < VARIANT_P["cement"]:
        n = _other_level(rng, anatomy, min_distance=1)
        v = verts[n]
        add(n, ("cement", (float(rng.normal(0.0, 2.0)), -0.1 * v.half_depth, 0.0),
                (0.5 * v.half_width, 0.45 * v.half_depth, 0.32 * v.height)))
    if rng.random() < VARIANT_P["screw"]:
        n = _other_level(rng, anatomy, min_distance=2)
        v = verts[n]
        for side in (-1.0, 1.0):
            add(n, ("screw", (side * (v.canal_half_width + v.pedicle_half_width) * 0.7,
                              0.35 * v.half_depth, 0.12 * v.height),
                    (2.8, 1.15 * v.half_depth, 2.8)))
    return out


def add_normal_anatomy(rng: np.random.Generator, anatomy: Anatomy, features: RiskFeatures,
                       fracture: FractureGeometry) -> Anatomy:
    """Give every vertebra its basivertebral anatomy and add variants at other levels.

    Parameters
    ----------
    rng:
        The case's ``variants`` stream.
    anatomy:
        The case's anatomy (generation 2).
    features, fracture:
        The target's features and geometry: the target keeps its own foramen and channels
        (painted with its fracture), the others draw theirs from the same distributions.

    Returns
    -------
    Anatomy
        A copy with the vertebrae's ``foramen_mm``, ``foramen_h``, ``channels`` and ``variants``
        and the discs' ``vacuum_mm`` filled in.
    """
    del features, fracture  # the target's own veins stay in its fracture geometry
    variants = _body_variants(rng, anatomy)
    vertebrae: list[Vertebra] = []
    for n, v in enumerate(anatomy.vertebrae):
        foramen = sample_foramen_mm(rng)
        count = sample_vein_channel_count(rng)
        segmental = sample_segmental_vein_mm(rng)
        foramen_h = float(rng.uniform(-2.0, 2.0))
        if n == anatomy.target_index:
            vertebrae.append(replace(v, variants=tuple(variants.get(n, ()))))
            continue
        channels = sample_channels(rng, v, count, segmental, v.height / 2, -v.height / 2)
        vertebrae.append(replace(v, foramen_mm=foramen, foramen_h=foramen_h, channels=channels,
                                 variants=tuple(variants.get(n, ()))))
    discs = list(anatomy.discs)
    if rng.random() < VARIANT_P["disc_vacuum"]:
        n = _other_level(rng, anatomy)
        n = min(n, len(discs) - 1)
        discs[n] = replace(discs[n], vacuum_mm=float(rng.uniform(3.0, 8.0)))
    return replace(anatomy, vertebrae=tuple(vertebrae), discs=tuple(discs))


def variant_summary(anatomy: Anatomy) -> list[dict[str, Any]]:
    """The variants of a case for ``truth.json``: ``[{"kind", "level"}]`` (discs as ``L1-L2``)."""
    out: list[dict[str, Any]] = [{"kind": kind, "level": v.level} for v in anatomy.vertebrae
           for kind, _c, _a in v.variants]
    names = [v.level for v in anatomy.vertebrae]
    out += [{"kind": "disc_vacuum", "level": f"{names[n]}-{names[n + 1]}",
             "size_mm": round(d.vacuum_mm, 2)}
            for n, d in enumerate(anatomy.discs) if d.vacuum_mm > 0]
    return out
