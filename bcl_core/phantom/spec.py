"""A synthetic case's complete description, drawn from its seed without rendering anything.

Randomness comes from independent named streams of one :class:`numpy.random.SeedSequence` per
case, keyed by ``(seed, site stream, case index)``: the labels depend only on the ``features``
and ``labels`` streams, so the label model can be studied without rendering, and case ``n`` of a
run is the same whatever ``--cases`` says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bcl_core.errors import PhantomError
from bcl_core.phantom.anatomy import (
    TARGET_LEVEL_P,
    TARGET_LEVELS,
    Anatomy,
    fracture_endplates,
    rotation_xyz,
    sample_anatomy,
)
from bcl_core.phantom.artefacts import sample_artefacts
from bcl_core.phantom.features import RiskFeatures, sample_features
from bcl_core.phantom.fracture import FractureGeometry, posterior_wall_w, sample_fracture_geometry
from bcl_core.phantom.generation import DEFAULT_GENERATION, GENERATIONS, Generation, get_generation
from bcl_core.phantom.oracle import draw_labels, oracle_probabilities
from bcl_core.phantom.organs import sample_organs
from bcl_core.phantom.shapes import ellipse_sdf
from bcl_core.phantom.sites import SiteProfile, get_site
from bcl_core.phantom.variants import add_normal_anatomy

STREAMS: dict[str, int] = {
    "features": 0, "labels": 1, "anatomy": 2, "frames": 3, "ct_noise": 4, "mr_noise": 5,
    "patient": 6, "variants": 7, "artefacts": 8, "stir_noise": 9, "t1_noise": 10, "organs": 11,
}
MAX_SEED = 2**63 - 1


def case_rng(site: SiteProfile, seed: int, index: int, stream: str) -> np.random.Generator:
    """The random generator of one named stream of one case.

    Examples
    --------
    >>> from bcl_core.phantom.sites import get_site
    >>> a = case_rng(get_site("internal"), 1, 0, "features").random()
    >>> b = case_rng(get_site("prospective"), 1, 0, "features").random()
    >>> a != b
    True
    """
    if not 0 <= seed <= MAX_SEED:
        raise PhantomError(f"seed must be between 0 and {MAX_SEED}, got {seed}.")
    sequence = np.random.SeedSequence(entropy=seed,
                                      spawn_key=(site.stream, index, STREAMS[stream]))
    return np.random.default_rng(sequence)


def case_id_for(site: SiteProfile, seed: int, index: int) -> str:
    """The case ID, e.g. ``INT-S7-0001`` (site code, seed, 1-based case number)."""
    return f"{site.code}-S{seed}-{index + 1:04d}"


@dataclass(frozen=True)
class CaseLabels:
    """What the label model alone needs and gives: features, oracle probabilities, labels."""

    features: RiskFeatures
    oracle: dict[str, float]
    labels: dict[str, int]


@dataclass(frozen=True)
class CaseSpec:
    """Everything about one case except its pixels.

    Attributes
    ----------
    mr_rotation, mr_translation:
        The MR frame of reference: ``p_mr = mr_rotation @ p_anatomy + mr_translation`` (the
        anatomy frame is the CT's).
    body_centroid_local:
        Centroid of the target's vertebral body in its local frame (what ``ct_point_mm`` and
        ``mr_point_mm`` mark).
    """

    case_id: str
    site: SiteProfile
    seed: int
    index: int
    level: str
    truth: CaseLabels
    anatomy: Anatomy
    fracture: FractureGeometry
    mr_rotation: NDArray[np.float64]
    mr_translation: NDArray[np.float64]
    mr_obliquity: NDArray[np.float64]
    fov_jitter: NDArray[np.float64]
    patient: dict[str, Any]
    body_centroid_local: NDArray[np.float64]
    generation: Generation = GENERATIONS[DEFAULT_GENERATION]
    artefacts: dict[str, Any] = field(default_factory=dict)

    @property
    def features(self) -> RiskFeatures:
        """The target's latent features."""
        return self.truth.features

    @property
    def target_center_ct(self) -> NDArray[np.float64]:
        """Body centroid of the target in the CT (anatomy) frame, mm."""
        return self.anatomy.target.to_anatomy(self.body_centroid_local[None, :])[0]

    @property
    def target_center_mr(self) -> NDArray[np.float64]:
        """Body centroid of the target in the MR frame, mm."""
        return self.mr_rotation @ self.target_center_ct + self.mr_translation


def sample_case_labels(site: SiteProfile, seed: int, index: int,
                       generation: int = DEFAULT_GENERATION) -> CaseLabels:
    """Features, oracle probabilities and labels of a case: no anatomy, no images.

    Generation 2 draws every fracture at Genant grade 1 or more (:mod:`features`); the oracle's
    formulas are the same in every generation.
    """
    features = sample_features(case_rng(site, seed, index, "features"), site.density_shift_hu,
                               genant_graded=get_generation(generation).realistic_fractures)
    oracle = oracle_probabilities(features)
    labels = draw_labels(case_rng(site, seed, index, "labels"), oracle)
    return CaseLabels(features, oracle, labels)


def body_centroid(anatomy: Anatomy, features: RiskFeatures, step_mm: float = 0.5,
                  generation: Generation = GENERATIONS[DEFAULT_GENERATION],
                  ) -> NDArray[np.float64]:
    """Centroid of the target's (fractured) body in its local frame, by dense sampling."""
    v = anatomy.target
    u, w = np.meshgrid(np.arange(-v.half_width, v.half_width + step_mm, step_mm),
                       np.arange(-v.half_depth, v.half_depth + step_mm, step_mm), indexing="ij")
    top, bottom = fracture_endplates(features, v.height, u, w, v.half_width, v.half_depth,
                                     v.wedge_ratio, generation)
    inside = (ellipse_sdf(u, w, v.half_width, v.half_depth) <= 0) & (
        w <= posterior_wall_w(u, v))
    thickness = np.where(inside, np.maximum(top - bottom, 0.0), 0.0)
    mid = (top + bottom) / 2
    total = thickness.sum()
    return np.array([(u * thickness).sum(), (w * thickness).sum(),
                     (mid * thickness).sum()]) / total


def sample_case_spec(site_name: str, seed: int, index: int,
                     generation: int = DEFAULT_GENERATION) -> CaseSpec:
    """Draw case ``index`` of ``(site, seed)``.

    Parameters
    ----------
    site_name:
        ``internal``, ``prospective`` or ``external``.
    seed:
        Run seed.
    index:
        0-based case number.
    generation:
        Generator generation (:mod:`bcl_core.phantom.generation`); 1 is the shipped models'.

    Returns
    -------
    CaseSpec
        The case without its pixels.

    Raises
    ------
    PhantomError
        For an unknown site or generation, a negative index or a seed out of range.
    """
    site = get_site(site_name)
    gen = get_generation(generation)
    if index < 0:
        raise PhantomError(f"case index must be >= 0, got {index}.")
    truth = sample_case_labels(site, seed, index, gen.number)
    rng = case_rng(site, seed, index, "anatomy")
    level = TARGET_LEVELS[int(rng.choice(len(TARGET_LEVELS), p=TARGET_LEVEL_P))]
    anatomy = sample_anatomy(rng, level, truth.features, gen)
    fracture = sample_fracture_geometry(rng, anatomy.target, truth.features, gen)
    artefacts: dict[str, Any] = {}
    if gen.normal_variants:
        variants_rng = case_rng(site, seed, index, "variants")
        anatomy = add_normal_anatomy(variants_rng, anatomy, truth.features, fracture)
    if gen.organs:
        anatomy = sample_organs(case_rng(site, seed, index, "organs"), anatomy)
    if gen.artefacts:
        artefacts = sample_artefacts(case_rng(site, seed, index, "artefacts"), site, anatomy)

    frames = case_rng(site, seed, index, "frames")
    mr_rotation = rotation_xyz(*frames.normal(0.0, [3.0, 2.0, 2.0]))
    target = np.asarray(anatomy.target.center)
    wanted = np.array([frames.normal(0, 8), frames.normal(10, 15), frames.uniform(-60, 60)])
    mr_translation = wanted - mr_rotation @ target
    mr_obliquity = rotation_xyz(*frames.normal(0.0, [2.0, 1.5, 1.5]))
    fov_jitter = frames.normal(0.0, [6.0, 6.0, 8.0])

    prng = case_rng(site, seed, index, "patient")
    number = index + 1
    patient = {
        "patient_id": f"SYN-{site.code}-{seed}-{number:04d}",
        "patient_name": f"SYNTHETIC^{site.code}{seed}CASE{number:04d}",
        "birth_date": f"{int(prng.integers(1935, 1965))}0101",
        "sex": "F" if prng.random() < 0.75 else "M",
        "study_date": f"2025{int(prng.integers(1, 13)):02d}{int(prng.integers(1, 29)):02d}",
    }
    return CaseSpec(
        case_id=case_id_for(site, seed, index), site=site, seed=seed, index=index, level=level,
        truth=truth, anatomy=anatomy, fracture=fracture, mr_rotation=mr_rotation,
        mr_translation=mr_translation, mr_obliquity=mr_obliquity, fov_jitter=fov_jitter,
        patient=patient,
        body_centroid_local=body_centroid(anatomy, truth.features, generation=gen),
        generation=gen, artefacts=artefacts,
    )
