"""Generation 2: scanner artefacts, drawn per case and recorded in ``truth.json``.

CT: beam hardening (cupping: the trunk's centre reads low) and streaks radiating from dense
objects (cement of an earlier augmentation, pedicle screws). MRI: Gibbs ringing (k-space
truncated along the phase-encoding direction), ghosting (a faint copy shifted by half the field
of view along the phase-encoding direction) and CSF flow voids. Each artefact's presence and
strength is drawn from the case's ``artefacts`` stream, so it is known and reproducible.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from bcl_core.phantom.anatomy import Anatomy
from bcl_core.phantom.sites import SiteProfile

#: Streak strength (HU at the source) by kind of dense object.
STREAK_HU: dict[str, tuple[float, float]] = {"cement": (80.0, 200.0), "screw": (300.0, 700.0)}
#: How far (mm) streaks reach before falling to 1/e.
STREAK_REACH_MM = 120.0
N_STREAKS = 14


def sample_artefacts(rng: np.random.Generator, site: SiteProfile, anatomy: Anatomy,
                     ) -> dict[str, Any]:
    """Draw which artefacts a case has and how strong they are.

    Parameters
    ----------
    rng:
        The case's ``artefacts`` stream.
    site:
        The site (the external 3 T scanner ghosts a little more).
    anatomy:
        The case's anatomy (its dense objects cause streaks).

    Returns
    -------
    dict
        JSON-ready: ``ct_cupping_hu``, ``ct_streaks`` (one per dense object: ``source``,
        ``level``, ``strength_hu``, anatomy ``center_mm``, ``half_height_mm``), ``mr_gibbs``
        (``present``, ``k_fraction`` kept), ``mr_ghosting`` (``present``, ``amplitude``),
        ``mr_flow_voids`` (``present``, ``strength``).
    """
    streaks: list[dict[str, Any]] = []
    for v in anatomy.vertebrae:
        for kind, center, axes in v.variants:
            if kind in STREAK_HU and not any(s["level"] == v.level and s["source"] == kind
                                             for s in streaks):
                centre = v.to_anatomy(np.array([[0.0, center[1], center[2]]]))[0]
                streaks.append({
                    "source": kind, "level": v.level,
                    "strength_hu": round(float(rng.uniform(*STREAK_HU[kind])), 1),
                    "center_mm": [round(float(c), 2) for c in centre],
                    "half_height_mm": round(float(axes[2] + 2.0), 2),
                    "phase": round(float(rng.uniform(0.0, np.pi)), 4),
                })
    ghost_p = 0.6 if site.name == "external" else 0.45
    ghost = bool(rng.random() < ghost_p)
    return {
        "ct_cupping_hu": round(float(rng.uniform(6.0, 20.0)), 2),
        "ct_streaks": streaks,
        "mr_gibbs": {"present": True, "k_fraction": round(float(rng.uniform(0.55, 0.8)), 3)},
        "mr_ghosting": {"present": ghost,
                        "amplitude": round(float(rng.uniform(0.02, 0.06)), 3) if ghost else 0.0},
        "mr_flow_voids": {"present": bool(rng.random() < 0.7),
                          "strength": round(float(rng.uniform(0.3, 0.7)), 3)},
    }


def cupping(x: NDArray[np.floating], y: NDArray[np.floating], center_xy: tuple[float, float],
            half_axes: tuple[float, float], depth_hu: float) -> NDArray[np.float32]:
    """Beam-hardening cupping (HU to add): ``-depth`` at the trunk's centre, 0 at its edge."""
    r2 = ((x - center_xy[0]) / half_axes[0]) ** 2 + ((y - center_xy[1]) / half_axes[1]) ** 2
    return (-depth_hu * np.clip(1.0 - r2, 0.0, 1.0)).astype(np.float32)


def streaks(x: NDArray[np.floating], y: NDArray[np.floating], z: float,
            streak_list: list[dict[str, Any]]) -> NDArray[np.float32] | None:
    """Streaks (HU to add) on one axial slice at height ``z``; None when no source reaches it.

    Each source sends :data:`N_STREAKS` thin lines through its centre, alternately bright and
    dark, fading with distance.
    """
    out: NDArray[np.float32] | None = None
    for s in streak_list:
        cx, cy, cz = s["center_mm"]
        along_z = abs(z - cz) / s["half_height_mm"]
        if along_z > 1.0:
            continue
        dx, dy = x - cx, y - cy
        r = np.sqrt(dx * dx + dy * dy)
        pattern = np.zeros(np.broadcast_shapes(dx.shape, dy.shape), dtype=np.float32)
        for n in range(N_STREAKS):
            angle = s["phase"] + np.pi * n / N_STREAKS
            across = np.abs(-dx * np.sin(angle) + dy * np.cos(angle))
            sign = 1.0 if n % 2 == 0 else -1.0
            pattern += np.float32(sign) * np.exp(-(across / 1.2) ** 2).astype(np.float32)
        pattern *= (s["strength_hu"] * (1.0 - along_z ** 2)
                    * np.exp(-r / STREAK_REACH_MM)).astype(np.float32)
        out = pattern if out is None else out + pattern
    return out
