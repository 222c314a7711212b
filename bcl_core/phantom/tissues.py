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
    # Generation 2 (issue 23): gas clefts, normal variants at other levels, organs.
    CLEFT_GAS = 22  # vacuum cleft: gas on CT, fluid on MRI (the "fluid sign")
    HAEMANGIOMA = 23
    MODIC1 = 24  # oedema-like endplate marrow change
    MODIC2 = 25  # fatty endplate marrow change
    CEMENT = 26  # PMMA from an earlier augmentation
    METAL = 27  # pedicle screws
    DISC_GAS = 28  # vacuum phenomenon in a degenerated disc
    LUNG = 29
    LIVER = 30
    KIDNEY = 31


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
    Tissue.RIB_MARROW: 170.0, Tissue.CLEFT_GAS: -850.0, Tissue.HAEMANGIOMA: -10.0,
    Tissue.MODIC1: 150.0, Tissue.MODIC2: 20.0, Tissue.CEMENT: 2500.0, Tissue.METAL: 3071.0,
    Tissue.DISC_GAS: -900.0, Tissue.LUNG: -850.0, Tissue.LIVER: 58.0, Tissue.KIDNEY: 32.0,
}
#: Relative T2 signal (CSF = 1) of the fixed tissues (fast spin echo, no fat saturation).
MR_T2: dict[Tissue, float] = {
    Tissue.AIR: 0.0, Tissue.FAT: 0.78, Tissue.SKIN: 0.3, Tissue.MUSCLE: 0.16,
    Tissue.SOFT: 0.3, Tissue.BLOOD: 0.04, Tissue.VEIN: 0.5, Tissue.CSF: 1.0, Tissue.CORD: 0.33,
    Tissue.EPIDURAL_FAT: 0.74, Tissue.ANNULUS: 0.1, Tissue.CORTEX: 0.02, Tissue.OEDEMA: 0.86,
    Tissue.CLEFT: 0.97, Tissue.IMPACTION: 0.12, Tissue.FRACTURE_GAP: 0.62, Tissue.TABLE: 0.0,
    Tissue.TABLE_FOAM: 0.0, Tissue.BOWEL_GAS: 0.0, Tissue.LIGAMENT: 0.08,
    Tissue.RIB_MARROW: 0.45, Tissue.CLEFT_GAS: 0.97, Tissue.HAEMANGIOMA: 0.8,
    Tissue.MODIC1: 0.75, Tissue.MODIC2: 0.7, Tissue.CEMENT: 0.02, Tissue.METAL: 0.0,
    Tissue.DISC_GAS: 0.0, Tissue.LUNG: 0.02, Tissue.LIVER: 0.2, Tissue.KIDNEY: 0.55,
}
#: Generation 2: (STIR, T1) signal of the fixed tissues; STIR is fat suppressed (CSF = 1), T1
#: has fat = 1. Tissues left out read 0 (air, table, gas, metal).
_STIR_T1: dict[Tissue, tuple[float, float]] = {
    Tissue.FAT: (0.06, 1.0), Tissue.SKIN: (0.2, 0.5), Tissue.MUSCLE: (0.12, 0.38),
    Tissue.SOFT: (0.25, 0.45), Tissue.BLOOD: (0.03, 0.05), Tissue.VEIN: (0.45, 0.3),
    Tissue.CSF: (1.0, 0.12), Tissue.CORD: (0.35, 0.45), Tissue.EPIDURAL_FAT: (0.06, 0.95),
    Tissue.ANNULUS: (0.08, 0.3), Tissue.CORTEX: (0.02, 0.02), Tissue.CLEFT: (0.95, 0.15),
    Tissue.IMPACTION: (0.1, 0.1), Tissue.FRACTURE_GAP: (0.6, 0.3), Tissue.LIGAMENT: (0.06, 0.2),
    Tissue.RIB_MARROW: (0.12, 0.75), Tissue.CLEFT_GAS: (0.95, 0.15),
    Tissue.HAEMANGIOMA: (0.5, 0.9), Tissue.MODIC1: (0.5, 0.3), Tissue.MODIC2: (0.08, 0.95),
    Tissue.CEMENT: (0.02, 0.02), Tissue.LUNG: (0.02, 0.02), Tissue.LIVER: (0.15, 0.55),
    Tissue.KIDNEY: (0.5, 0.35),
}
MR_STIR: dict[Tissue, float] = {tissue: stir for tissue, (stir, _t1) in _STIR_T1.items()}
MR_T1: dict[Tissue, float] = {tissue: t1 for tissue, (_stir, t1) in _STIR_T1.items()}
#: Generation 2: oedema signal as a multiple of the patient's normal marrow, per sequence
#: (plain T2 only slightly brighter; STIR several times brighter; T1 darker).
OEDEMA_TO_MARROW: dict[str, float] = {"t2": 1.15, "stir": 3.5, "t1": 0.45}
MR_SEQUENCES: tuple[str, ...] = ("t2", "stir", "t1")

def ct_lookup(densities_hu: list[float], target_index: int,
              cortex_hu: float = CT_HU[Tissue.CORTEX]) -> NDArray[np.float32]:
    """Label -> HU table for one patient.

    Parameters
    ----------
    densities_hu:
        Cancellous HU of each vertebra, top to bottom.
    target_index:
        The fractured vertebra (its oedema and impaction take its density).
    cortex_hu:
        HU of cortical bone (the generation's).

    Returns
    -------
    numpy.ndarray
        HU per label.
    """
    lut = np.zeros(N_LABELS, dtype=np.float32)
    for tissue, hu in CT_HU.items():
        lut[tissue] = hu
    lut[Tissue.CORTEX] = cortex_hu
    for n, density in enumerate(densities_hu):
        lut[CANCELLOUS_BASE + n] = density
        lut[POSTERIOR_BASE + n] = density + 90.0  # posterior elements are denser
    target_density = densities_hu[target_index]
    lut[Tissue.OEDEMA] = target_density + 4.0  # oedema is invisible on CT
    lut[Tissue.IMPACTION] = target_density + 160.0
    for n in range(N_LABELS - NUCLEUS_BASE):
        lut[NUCLEUS_BASE + n] = 78.0
    return lut


#: Per sequence: marrow signal at 85 HU, its change per HU less dense (fattier marrow), and the
#: posterior elements' marrow signal.
_MARROW: dict[str, tuple[float, float, float]] = {
    "t2": (0.5, 0.0015, 0.45), "stir": (0.15, -0.0004, 0.12), "t1": (0.7, 0.002, 0.7),
}


def mr_lookup(densities_hu: list[float], nucleus_signals: list[float], sequence: str = "t2",
              relative_oedema: bool = False) -> NDArray[np.float32]:
    """Label -> relative MR signal table for one patient.

    Osteoporotic marrow is fatty, so lower bone density reads slightly brighter on T2 and T1
    and darker on STIR.

    Parameters
    ----------
    densities_hu:
        Cancellous HU of each vertebra, top to bottom.
    nucleus_signals:
        T2 signal of each disc nucleus (hydration).
    sequence:
        ``t2``, ``stir`` or ``t1`` (the last two are generation 2's).
    relative_oedema:
        Oedema as :data:`OEDEMA_TO_MARROW` times the patient's median marrow signal
        (generation 2); otherwise the fixed T2 table value (generation 1).

    Returns
    -------
    numpy.ndarray
        Signal per label.
    """
    table = {"t2": MR_T2, "stir": MR_STIR, "t1": MR_T1}[sequence]
    lut = np.zeros(N_LABELS, dtype=np.float32)
    for tissue, signal in table.items():
        lut[tissue] = signal
    base, per_hu, posterior = _MARROW[sequence]
    for n, density in enumerate(densities_hu):
        lut[CANCELLOUS_BASE + n] = base + per_hu * (85.0 - density)
        lut[POSTERIOR_BASE + n] = posterior
    if relative_oedema:
        marrow = float(np.median(lut[CANCELLOUS_BASE:CANCELLOUS_BASE + len(densities_hu)]))
        lut[Tissue.OEDEMA] = OEDEMA_TO_MARROW[sequence] * marrow
    for n, signal in enumerate(nucleus_signals):
        lut[NUCLEUS_BASE + n] = signal if sequence != "t1" else 0.35
    return lut
