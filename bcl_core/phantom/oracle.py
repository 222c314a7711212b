"""The oracle: per-type leakage probabilities from the latent features, and label draws.

Each type has a logistic model on standardised features (the formulas are in
``docs/phantom.md``). Labels are Bernoulli draws from these probabilities, so the probabilities
are the best any model can do: their AUROC on a test set is the ceiling a model can reach.
Everything here is a function of :class:`~bcl_core.phantom.features.RiskFeatures` only, never of
the rendered images.
"""

from __future__ import annotations

import math

import numpy as np

from bcl_core.leakage import LEAKAGE_TYPES
from bcl_core.phantom.features import BONE_DENSITY_MEAN_HU, BONE_DENSITY_SD_HU, RiskFeatures

#: Intercepts of the per-type logistic models (set for the reported incidence).
INTERCEPTS: dict[str, float] = {"type1": -2.5, "type2": -3.4, "type3": -4.0, "type4": -4.8}


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def standardised_features(f: RiskFeatures) -> dict[str, float]:
    """The features on the scales the oracle's formulas use (roughly zero mean, unit SD).

    Returns
    -------
    dict
        ``severity``, ``oedema``, ``low_density``, ``veins``, ``wall_defect``, ``endplate``,
        ``cleft``, ``posterior_breach``, ``foramen``, ``crush``.
    """
    return {
        "severity": (f.height_loss - 0.32) / 0.12,
        "oedema": (f.oedema_extent - 0.6) / 0.18,
        "low_density": (BONE_DENSITY_MEAN_HU - f.bone_density_hu) / BONE_DENSITY_SD_HU,
        "veins": (f.vein_channels - 1.4) / 1.1 + (f.segmental_vein_mm - 4.0) / 1.2,
        "wall_defect": 0.0 if f.wall_defect_mm <= 0 else 1.0 + (f.wall_defect_mm - 6.5) / 3.5,
        "endplate": 0.0 if f.endplate_disruption_mm <= 0
        else 1.0 + (f.endplate_disruption_mm - 9.0) / 6.0,
        "cleft": 0.0 if f.cleft_mm <= 0 else 1.0 + (f.cleft_mm - 10.0) / 4.0,
        "posterior_breach": 0.0 if f.posterior_breach_mm <= 0
        else 1.0 + (f.posterior_breach_mm - 6.5) / 5.0,
        "foramen": (math.log(f.basivertebral_foramen_mm) - math.log(3.5)) / 0.3,
        "crush": 1.0 if f.fracture_type == "crush" else 0.0,
    }


#: Coefficients of each type's logistic model on :func:`standardised_features`.
COEFFICIENTS: dict[str, dict[str, float]] = {
    "type1": {"veins": 1.2, "low_density": 0.9, "oedema": 1.1, "severity": 0.3},
    "type2": {"wall_defect": 3.2, "severity": 0.5, "oedema": 1.0, "crush": 0.5},
    "type3": {"endplate": 2.6, "cleft": 2.2, "oedema": 0.5, "severity": 0.3},
    "type4": {"posterior_breach": 4.0, "foramen": 1.0, "severity": 0.4, "oedema": 0.9},
}


#: Which standardised features each modality shows clearly (a cleft's faint CT trace and the
#: lateral walls on 4 mm sagittal MRI are left out). Used to measure the single-modality ceiling.
VISIBLE_IN: dict[str, tuple[str, ...]] = {
    "ct": ("severity", "crush", "low_density", "veins", "wall_defect", "endplate",
           "posterior_breach", "foramen"),
    "mr": ("severity", "crush", "oedema", "cleft", "endplate", "posterior_breach"),
}


def oracle_probabilities(features: RiskFeatures) -> dict[str, float]:
    """Per-type leakage probability given the features.

    Examples
    --------
    >>> from bcl_core.phantom.features import sample_features
    >>> p = oracle_probabilities(sample_features(np.random.default_rng(0)))
    >>> sorted(p) == list(LEAKAGE_TYPES) and all(0 < v < 1 for v in p.values())
    True
    """
    return {name: _sigmoid(logit) for name, logit in oracle_logits(features).items()}


def oracle_logits(features: RiskFeatures) -> dict[str, float]:
    """Per-type log-odds of leakage given the features (the logistic models' linear parts)."""
    z = standardised_features(features)
    return {name: INTERCEPTS[name] + sum(c * z[k] for k, c in COEFFICIENTS[name].items())
            for name in LEAKAGE_TYPES}


def draw_labels(rng: np.random.Generator, probabilities: dict[str, float]) -> dict[str, int]:
    """Bernoulli labels (0/1) per type from the oracle probabilities, in type order."""
    draws = rng.random(len(LEAKAGE_TYPES))
    return {name: int(draws[i] < probabilities[name]) for i, name in enumerate(LEAKAGE_TYPES)}
