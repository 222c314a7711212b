"""Latent leakage-risk features of the target vertebra and how a population draws them.

Each feature is planted in the images by the renderers, some clearest in CT (cortical defects,
posterior-wall breach, basivertebral foramen width, vein channels, bone density), some only in
MRI (oedema extent; cleft fluid is much brighter on T2 than its faint CT trace), so a model that
fuses both modalities can beat either alone. Sampling here never renders anything: the label
model (:mod:`bcl_core.phantom.oracle`) works on these numbers alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

FractureType = Literal["wedge", "biconcave", "crush"]
WallSite = Literal["none", "left", "right", "anterior"]
EndplateSide = Literal["none", "superior", "inferior"]

FRACTURE_TYPES: tuple[FractureType, ...] = ("wedge", "biconcave", "crush")
FRACTURE_TYPE_P = (0.5, 0.3, 0.2)
#: Height-loss range (fraction of the vertebral body height) per fracture type.
HEIGHT_LOSS_RANGE: dict[str, tuple[float, float]] = {
    "wedge": (0.15, 0.5), "biconcave": (0.15, 0.45), "crush": (0.3, 0.6),
}
#: Generation 2: every fracture loses at least 20 % somewhere (Genant grade >= 1; Genant et al.
#: 1993), and a biconcave one at least 20 % at mid-height.
HEIGHT_LOSS_RANGE_GENANT: dict[str, tuple[float, float]] = {
    "wedge": (0.2, 0.5), "biconcave": (0.2, 0.45), "crush": (0.3, 0.6),
}
#: Population mean and SD of osteoporotic cancellous bone density (internal site), HU.
BONE_DENSITY_MEAN_HU = 85.0
BONE_DENSITY_SD_HU = 25.0


@dataclass(frozen=True)
class RiskFeatures:
    """The latent features of one fractured target vertebra.

    Attributes
    ----------
    fracture_type:
        ``wedge`` (anterior height loss), ``biconcave`` (central loss of both endplates) or
        ``crush`` (whole-body loss).
    height_loss:
        Fraction of the body height lost (0.15-0.6).
    oedema_extent:
        Fraction of the body height with marrow oedema (bright on T2; invisible on CT).
    cleft_mm:
        Diameter of a fluid-filled intravertebral cleft, 0 when there is none.
    endplate_disruption_mm:
        Width of the gap in the fractured endplate, 0 when the endplate is intact.
    endplate_side:
        Which endplate is disrupted.
    wall_defect_mm, wall_defect_site:
        Diameter and site of a cortical defect of the lateral or anterior wall (0 / ``none``).
    posterior_breach_mm:
        Diameter of a posterior-wall breach, 0 when the wall is intact.
    retropulsion_mm:
        How far a posterior-wall fragment is pushed into the canal (0 without a breach).
    basivertebral_foramen_mm:
        Width of the basivertebral foramen in the posterior wall.
    vein_channels:
        Number of intraosseous venous channels opening through the lateral / anterior cortex.
    segmental_vein_mm:
        Diameter of the segmental veins around the vertebral body waist.
    bone_density_hu:
        Mean HU of the cancellous bone (osteoporotic: low).
    """

    fracture_type: FractureType
    height_loss: float
    oedema_extent: float
    cleft_mm: float
    endplate_disruption_mm: float
    endplate_side: EndplateSide
    wall_defect_mm: float
    wall_defect_site: WallSite
    posterior_breach_mm: float
    retropulsion_mm: float
    basivertebral_foramen_mm: float
    vein_channels: int
    segmental_vein_mm: float
    bone_density_hu: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary (floats rounded to 0.01)."""
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def sample_foramen_mm(rng: np.random.Generator) -> float:
    """Width of a basivertebral foramen (mm): log-normal about 3.5 mm, 2-8 mm."""
    return float(np.clip(rng.lognormal(np.log(3.5), 0.3), 2.0, 8.0))


def sample_vein_channel_count(rng: np.random.Generator) -> int:
    """Number of intraosseous venous channels of a body: Poisson(1.4), at most 4."""
    return int(min(4, rng.poisson(1.4)))


def sample_segmental_vein_mm(rng: np.random.Generator) -> float:
    """Diameter of a body's segmental veins, mm (uniform 2-6)."""
    return float(rng.uniform(2.0, 6.0))


def sample_features(rng: np.random.Generator, density_shift_hu: float = 0.0,
                    genant_graded: bool = False) -> RiskFeatures:
    """Draw the features of one patient's fracture.

    Parameters
    ----------
    rng:
        The case's feature stream.
    density_shift_hu:
        Population shift of bone density (a site's older population is lower).
    genant_graded:
        Draw height loss from :data:`HEIGHT_LOSS_RANGE_GENANT` (generation 2) instead of
        :data:`HEIGHT_LOSS_RANGE`; the same number of random draws either way.

    Returns
    -------
    RiskFeatures
        Features with the correlations seen clinically: severe and crush fractures more often
        break the walls and endplates, and clefts go with severe collapse.
    """
    fracture_type: FractureType = FRACTURE_TYPES[int(rng.choice(3, p=FRACTURE_TYPE_P))]
    low, high = (HEIGHT_LOSS_RANGE_GENANT if genant_graded else HEIGHT_LOSS_RANGE)[fracture_type]
    height_loss = float(rng.uniform(low, high))
    severity = (height_loss - 0.15) / 0.45  # 0..1
    oedema_extent = float(0.2 + 0.8 * rng.beta(2.0, 2.0))

    cleft_mm = float(rng.uniform(6.0, 14.0)) if rng.random() < 0.12 + 0.3 * severity else 0.0

    endplate_p = 0.35 + 0.3 * severity + (0.1 if fracture_type == "biconcave" else 0.0)
    if rng.random() < endplate_p:
        endplate_mm = float(rng.uniform(3.0, 15.0))
        endplate_side: EndplateSide = "superior" if rng.random() < 0.75 else "inferior"
    else:
        endplate_mm, endplate_side = 0.0, "none"

    wall_p = 0.22 + 0.25 * severity + (0.1 if fracture_type == "crush" else 0.0)
    if rng.random() < wall_p:
        wall_mm = float(rng.uniform(3.0, 10.0))
        wall_site: WallSite = ("left", "right", "anterior")[int(rng.integers(3))]
    else:
        wall_mm, wall_site = 0.0, "none"

    breach_p = 0.05 + 0.08 * severity + (0.05 if fracture_type == "crush" else 0.0)
    if rng.random() < breach_p:
        breach_mm = float(rng.uniform(4.0, 9.0))
        retropulsion_mm = float(rng.uniform(0.5, 4.0))
    else:
        breach_mm = retropulsion_mm = 0.0

    foramen_mm = sample_foramen_mm(rng)
    vein_channels = sample_vein_channel_count(rng)
    segmental_mm = sample_segmental_vein_mm(rng)
    density = float(np.clip(rng.normal(BONE_DENSITY_MEAN_HU + density_shift_hu,
                                       BONE_DENSITY_SD_HU), 25.0, 170.0))
    return RiskFeatures(
        fracture_type=fracture_type,
        height_loss=height_loss,
        oedema_extent=oedema_extent,
        cleft_mm=cleft_mm,
        endplate_disruption_mm=endplate_mm,
        endplate_side=endplate_side,
        wall_defect_mm=wall_mm,
        wall_defect_site=wall_site,
        posterior_breach_mm=breach_mm,
        retropulsion_mm=retropulsion_mm,
        basivertebral_foramen_mm=foramen_mm,
        vein_channels=vein_channels,
        segmental_vein_mm=segmental_mm,
        bone_density_hu=density,
    )
