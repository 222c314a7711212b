"""Tissue classes painted by the renderers, and their CT / T2 MRI appearance.

Shapes are painted as tissue labels first; each modality then maps labels to intensities with a
lookup table, so one geometry drives both CT and MRI. Cancellous bone and disc nuclei get one
label per vertebra / disc, so each can carry its own density or hydration.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numpy.typing import NDArray


class Tissue(IntEnum):
    """Tissue labels (uint8). Labels from :data:`CANCELLOUS_BASE` on are per-structure."""

    BACKGROUND = 0  # not painted by the spine renderer: take the trunk background
    AIR = 1
    FAT = 2
    SKIN = 3
    MUSCLE = 4
    SOFT = 5  # abdominal / mediastinal soft tissue
    BLOOD = 6  # aorta (flow void on MRI)
    VEIN = 7  # IVC, segmental and basivertebral veins, intraosseous venous channels
    CSF = 8
    CORD = 9
    EPIDURAL_FAT = 10
    ANNULUS = 11
    CORTEX = 12
    OEDEMA = 13
    CLEFT = 14
    IMPACTION = 15  # sclerotic impaction band under the fractured endplate
    FRACTURE_GAP = 16  # haematoma / soft tissue filling a cortical defect
    TABLE = 17
    TABLE_FOAM = 18
    BOWEL_GAS = 19
    LIGAMENT = 20
    RIB_MARROW = 21


#: Label of vertebra ``n``'s body cancellous bone is ``CANCELLOUS_BASE + n``.
CANCELLOUS_BASE = 32
#: Label of vertebra ``n``'s posterior-element cancellous bone is ``POSTERIOR_BASE + n``.
POSTERIOR_BASE = 48
#: Label of disc ``n``'s nucleus is ``NUCLEUS_BASE + n``.
NUCLEUS_BASE = 64
N_LABELS = 80
MAX_VERTEBRAE = 16

#: CT Hounsfield units of the fixed tissues.
CT_HU: dict[Tissue, float] = {
    Tissue.AIR: -1000.0, Tissue.FAT: -95.0, Tissue.SKIN: 45.0, Tissue.MUSCLE: 52.0,
    Tissue.SOFT: 38.0, Tissue.BLOOD: 42.0, Tissue.VEIN: 36.0, Tissue.CSF: 8.0,
    Tissue.CORD: 32.0, Tissue.EPIDURAL_FAT: -85.0, Tissue.ANNULUS: 95.0, Tissue.CORTEX: 560.0,
    Tissue.CLEFT: 35.0, Tissue.FRACTURE_GAP: 50.0, Tissue.TABLE: 300.0,
    Tissue.TABLE_FOAM: -760.0, Tissue.BOWEL_GAS: -930.0, Tissue.LIGAMENT: 62.0,
    Tissue.RIB_MARROW: 170.0,
}
#: Relative T2 signal (CSF = 1) of the fixed tissues (fast spin echo, no fat saturation).
MR_T2: dict[Tissue, float] = {
    Tissue.AIR: 0.0, Tissue.FAT: 0.78, Tissue.SKIN: 0.3, Tissue.MUSCLE: 0.16,
    Tissue.SOFT: 0.3, Tissue.BLOOD: 0.04, Tissue.VEIN: 0.5, Tissue.CSF: 1.0, Tissue.CORD: 0.33,
    Tissue.EPIDURAL_FAT: 0.74, Tissue.ANNULUS: 0.1, Tissue.CORTEX: 0.02, Tissue.OEDEMA: 0.86,
    Tissue.CLEFT: 0.97, Tissue.IMPACTION: 0.12, Tissue.FRACTURE_GAP: 0.62, Tissue.TABLE: 0.0,
    Tissue.TABLE_FOAM: 0.0, Tissue.BOWEL_GAS: 0.0, Tissue.LIGAMENT: 0.08,
    Tissue.RIB_MARROW: 0.45,
}

def ct_lookup(densities_hu: list[float], target_index: int) -> NDArray[np.float32]:
    """Label -> HU table for one patient.

    Parameters
    ----------
    densities_hu:
        Cancellous HU of each vertebra, top to bottom.
    target_index:
        The fractured vertebra (its oedema and impaction take its density).
    """
    lut = np.zeros(N_LABELS, dtype=np.float32)
    for tissue, hu in CT_HU.items():
        lut[tissue] = hu
    for n, density in enumerate(densities_hu):
        lut[CANCELLOUS_BASE + n] = density
        lut[POSTERIOR_BASE + n] = density + 90.0  # posterior elements are denser
    target_density = densities_hu[target_index]
    lut[Tissue.OEDEMA] = target_density + 4.0  # oedema is invisible on CT
    lut[Tissue.IMPACTION] = target_density + 160.0
    for n in range(N_LABELS - NUCLEUS_BASE):
        lut[NUCLEUS_BASE + n] = 78.0
    return lut


def mr_lookup(densities_hu: list[float], nucleus_signals: list[float]) -> NDArray[np.float32]:
    """Label -> relative T2 signal table for one patient.

    Osteoporotic marrow is fatty, so lower bone density reads slightly brighter on T2.
    """
    lut = np.zeros(N_LABELS, dtype=np.float32)
    for tissue, signal in MR_T2.items():
        lut[tissue] = signal
    for n, density in enumerate(densities_hu):
        lut[CANCELLOUS_BASE + n] = 0.5 + 0.0015 * (85.0 - density)
        lut[POSTERIOR_BASE + n] = 0.45
    for n, signal in enumerate(nucleus_signals):
        lut[NUCLEUS_BASE + n] = signal
    return lut
