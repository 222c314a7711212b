"""Generations of the synthetic-case generator: which anatomy and scanner physics a case gets.

One switch (``bcl synth --generation``, the ``generation`` parameter of the spec / batch API)
selects a :class:`Generation`; the shared rendering code reads its settings instead of being
copied per generation.

* Generation 1 is the generator the shipped models and CI's regression floors were trained on.
  It is kept exactly: same seed, same bytes of pixel data.
* Generation 2 (issue 23) fixes what a model trained here could learn that real scans do not
  have: FBP-shaped CT noise whose strength follows the path length, vertical trabecular texture,
  supersampled endplates, bright cortex, curvature by level with normal wedging, realistic
  fracture morphology, the same basivertebral anatomy at every level with common variants at
  other levels, scanner artefacts, organs around the spine and STIR / T1 series
  (``docs/phantom.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

from bcl_core.errors import PhantomError


@dataclass(frozen=True)
class Generation:
    """The settings that differ between generations.

    Attributes
    ----------
    number:
        1 or 2 (written to ``truth.json`` as ``generator_generation``).
    ct_sub_slice_mm:
        Finest CT sub-slice spacing: each slice averages sub-slices this far apart (partial
        volume across the slice; 1.25 mm in generation 1, which samples labels once per thin
        slice).
    fbp_noise:
        CT noise with a ramp-shaped noise power spectrum rolled off by the kernel, fresh per
        slice, correlated with the adjacent slices only, scaled with the trunk's path length
        (generation 2); otherwise a bank of low-pass fields (generation 1).
    vertical_texture:
        Trabecular texture correlated along the body's long axis (vertical trabeculae) rather
        than in-plane.
    cortex_hu:
        CT value of compact cortical bone before blur and partial volume.
    curvature_by_level:
        Sagittal angles from a per-level table with normal wedging of intact bodies (generation
        2); otherwise per-distance from the target (generation 1, whose lumbosacral angle has
        the wrong sign).
    body_depth_as_table:
        Scale the body's depth so that the midsagittal depth (anterior wall to the flat
        posterior wall) equals the size table's.
    realistic_fractures:
        Biconcave fractures spare both margins, compaction makes the fractured body denser,
        every fracture is Genant grade >= 1, gas clefts and fracture lines occur.
    normal_variants:
        Every vertebra has basivertebral veins, foramen and intraosseous channels from one
        distribution; common variants (haemangioma, Schmorl nodes, Modic changes, disc vacuum,
        old cement, pedicle screws) at other levels.
    artefacts:
        Beam hardening, streaks from dense objects; MRI Gibbs ringing, ghosting, flow voids.
    organs:
        Lungs, diaphragm crura, liver and kidneys; a trunk outline that varies along ``z``.
    extra_mr_series:
        STIR and T1 sagittal series in ``stir/`` and ``t1/`` beside ``mr/``; plain-T2 oedema
        only slightly brighter than marrow.
    """

    number: int
    ct_sub_slice_mm: float
    fbp_noise: bool
    vertical_texture: bool
    cortex_hu: float
    curvature_by_level: bool
    body_depth_as_table: bool
    realistic_fractures: bool
    normal_variants: bool
    artefacts: bool
    organs: bool
    extra_mr_series: bool


GENERATIONS: dict[int, Generation] = {
    1: Generation(number=1, ct_sub_slice_mm=1.25, fbp_noise=False, vertical_texture=False,
                  cortex_hu=560.0, curvature_by_level=False, body_depth_as_table=False,
                  realistic_fractures=False, normal_variants=False, artefacts=False,
                  organs=False, extra_mr_series=False),
    2: Generation(number=2, ct_sub_slice_mm=1.25 / 3, fbp_noise=True, vertical_texture=True,
                  cortex_hu=1150.0, curvature_by_level=True, body_depth_as_table=True,
                  realistic_fractures=True, normal_variants=True, artefacts=True, organs=True,
                  extra_mr_series=True),
}
#: The generation ``bcl synth`` makes unless told otherwise: the shipped models' generation.
DEFAULT_GENERATION = 1


def get_generation(number: int) -> Generation:
    """The settings of generation ``number``.

    Raises
    ------
    PhantomError
        If there is no such generation.

    Examples
    --------
    >>> get_generation(2).fbp_noise
    True
    """
    try:
        return GENERATIONS[int(number)]
    except (KeyError, TypeError, ValueError):
        raise PhantomError(
            f"unknown generator generation {number!r}; choose one of "
            f"{', '.join(str(n) for n in GENERATIONS)}."
        ) from None
