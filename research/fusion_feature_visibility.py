"""How much of a small fracture feature survives into the fusion model's crops.

Usage (the figures in docs/research/fusion_features.md came from exactly this)::

    python research/fusion_feature_visibility.py --cases 8

The latent probe (``fusion_latent_probe.py``) shows the fusion encoders barely carry the wall
defect, the posterior-wall breach and the basivertebral foramen. This asks the prior question:
is the feature in the crop at all? For synthetic cases that have the feature, the generator
renders the case twice, with the feature and without it (the same anatomy, the same noise), and
both renders go through the classifier's crop step with the same mask. The difference of the
two crops is the feature's whole footprint in what the network sees:

* ``peak``: the largest absolute difference (normalised units; CT: 1 = 1,500 HU);
* ``voxels``: crop voxels whose difference exceeds twice the site's noise SD (in the same units);
* ``peak_pooled_2x`` / ``peak_pooled_4x``: the peak after 2x2x2 / 4x4x4 average pooling, the
  scale after the encoder's first / second stride-2 stage (what is left to detect once a
  feature is averaged with its surroundings).

Prints one JSON summary (medians over the cases per site, feature and modality).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator

import numpy as np

from bcl_core.phantom.ct import render_ct
from bcl_core.phantom.mr import render_mr
from bcl_core.phantom.sites import get_site
from bcl_core.phantom.spec import CaseSpec, sample_case_spec
from bcl_core.train.feature_maps import FEATURES, normalised_crop, without
from bcl_core.train.fusion_inputs import FUSION_INPUT_SETTINGS, settings_sidecar
from bcl_core.volume import Volume

__all__ = ["FEATURES", "cases_with", "crop", "noise_sd", "pooled_peak", "without"]


def cases_with(feature: str, site: str, seed: int, count: int) -> Iterator[CaseSpec]:
    """The first ``count`` cases of ``(site, seed)`` that have ``feature``."""
    has = FEATURES[feature][0]
    index, found = 0, 0
    while found < count and index < 200 * count:
        spec = sample_case_spec(site, seed, index)
        index += 1
        if has(spec.features):
            found += 1
            yield spec


def pooled_peak(difference: np.ndarray, factor: int) -> float:
    """Peak absolute value after ``factor``-cubed average pooling."""
    n = [s // factor * factor for s in difference.shape]
    d = difference[:n[0], :n[1], :n[2]]
    blocks = d.reshape(n[0] // factor, factor, n[1] // factor, factor, n[2] // factor, factor)
    return float(np.abs(blocks.mean(axis=(1, 3, 5))).max())


def crop(series: Volume, mask: Volume, name: str) -> np.ndarray:
    """The normalised classifier crop of a rendered series, boxed with ``mask``."""
    return normalised_crop(series, mask, name, FUSION_INPUT_SETTINGS)


def noise_sd(site: str, name: str) -> float:
    """The site's image noise SD in normalised crop units (CT: HU / window width)."""
    profile = get_site(site)
    if name == "ct":
        window = settings_sidecar().inputs["ct"].normalisation
        return profile.ct.noise_hu / (window.high - window.low)
    return float("nan")  # MRI normalisation is per case (percentiles): no fixed conversion


def median(values: list[float | None]) -> float | None:
    """Median to 4 decimals; None where the figure does not apply (MRI noise)."""
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return round(float(np.median(finite)), 4) if finite else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=8, help="cases per site and feature")
    parser.add_argument("--seed", type=int, default=8181)
    args = parser.parse_args(argv)
    summary: dict[str, dict[str, dict[str, dict[str, float | None]]]] = {}
    for site in ("internal", "external"):
        for feature in FEATURES:
            rows: dict[str, list[dict[str, float | None]]] = {"ct": [], "mr": []}
            for spec in cases_with(feature, site, args.seed, args.cases):
                for name, render in (("ct", render_ct), ("mr", render_mr)):
                    series, mask = render(spec, True)
                    difference = crop(series, mask, name) - crop(
                        render(without(spec, feature), True)[0], mask, name)
                    sd = noise_sd(site, name)
                    rows[name].append({
                        "peak": float(np.abs(difference).max()),
                        "voxels": float(np.count_nonzero(np.abs(difference) > 2 * sd))
                        if np.isfinite(sd) else None,
                        "peak_pooled_2x": pooled_peak(difference, 2),
                        "peak_pooled_4x": pooled_peak(difference, 4)})
            summary.setdefault(site, {})[feature] = {
                name: {key: median([r[key] for r in values]) for key in values[0]}
                | {"noise_sd": median([noise_sd(site, name)]), "cases": len(values)}
                for name, values in rows.items() if values}
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
